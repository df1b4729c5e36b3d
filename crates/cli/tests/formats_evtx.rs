//! Windows logs as responders hand them over, through the commands: `replay`, `hunt` and
//! `convert` read an EVTX file, event JSON and XML, and a directory of them as one input;
//! Sysmon 3 flows join the 4624 of the same connection; skipped records are counted by event id.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/formats")
        .join(name)
}

fn reachwatch(args: &[&str], paths: &[(&str, &Path)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reachwatch"));
    cmd.args(args);
    for (flag, p) in paths {
        cmd.arg(flag).arg(p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A collection: one host's forwarded XML, another's Security and Sysmon EVTX, OTRF event JSON.
fn collection(dir: &Path) {
    std::fs::create_dir_all(dir.join("hostA")).unwrap();
    std::fs::create_dir_all(dir.join("hostB")).unwrap();
    for (from, to) in [
        ("evtx_security_chunk4.evtx", "hostA/Security.evtx"),
        ("evtx_security_short.evtx", "hostB/Security.evtx"),
        (
            "evtx_sysmon_chunk0.evtx",
            "hostB/Microsoft-Windows-Sysmon%4Operational.evtx",
        ),
        ("sysmon3_otrf.jsonl", "otrf.json"),
    ] {
        std::fs::copy(fixture(from), dir.join(to)).unwrap();
    }
}

/// `reachwatch hunt` with one log input, as CSV.
fn hunt_csv(sql: &str, flag: &str, input: &Path) -> String {
    let (ok, out, err) = reachwatch(
        &["hunt", "-q", "--output", "csv", "--sql", sql],
        &[(flag, input)],
    );
    assert!(ok, "{err}");
    out
}

fn summary(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn sysmon_flows_join_the_logon_of_the_same_connection_in_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("summary.json");
    let (ok, _, err) = reachwatch(
        &["replay", "--format", "auto", "--learn", "1s"],
        &[
            ("--auth", &fixture("sysmon3_otrf.jsonl")),
            ("--summary-json", &s),
        ],
    );
    assert!(ok, "{err}");
    let s = summary(&s);
    // The 4624 (pgustavo from WORKSTATION5) and its 4634; four connections, two of them seen
    // from both ends; both connections of the logon join it, the two to 172.18.38.5 do not.
    assert_eq!(s["auth_events"], 2, "{s}");
    assert_eq!(s["flow_events"], 4, "{s}");
    assert_eq!(s["join_hits"], 2, "{s}");
    assert_eq!(s["join_misses"], 2, "{s}");
    assert_eq!(s["skipped"]["connection seen from both ends"], 2, "{s}");
    assert_eq!(s["skipped"]["sysmon 1"], 10, "{s}");
    assert_eq!(s["skipped"]["4672"], 1, "{s}");
    assert!(s["dead_letters"].as_object().unwrap().is_empty(), "{s}");
}

#[test]
fn a_directory_of_windows_logs_is_one_input_for_replay_hunt_and_convert() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("collected");
    collection(&logs);
    let s = dir.path().join("summary.json");
    // The logs are years apart: a wide skew lets every one through.
    let (ok, _, err) = reachwatch(
        &[
            "replay",
            "--format",
            "auto",
            "--learn",
            "1s",
            "--max-skew",
            "4000d",
        ],
        &[("--auth", &logs), ("--summary-json", &s)],
    );
    assert!(ok, "{err}");
    // What was found is said; the Sysmon log is read, its process events skipped by id.
    assert!(err.contains("reading 4 Windows logs"), "{err}");
    assert!(err.contains("skipped"), "{err}");
    let s = summary(&s);
    // chunk 4: 56 authentications; Security_short_selected: 2 (4776, 4625); OTRF: 2 and 4 flows.
    assert_eq!(s["auth_events"], 60, "{s}");
    assert!(s["dead_letters"].as_object().unwrap().is_empty(), "{s}");
    assert_eq!(s["flow_events"], 4, "{s}");
    assert_eq!(s["skipped"]["4672"], 26, "{s}");
    assert_eq!(s["skipped"]["sysmon 1"], 41, "{s}");

    // hunt reads the directory as one input too, and agrees with replay's decoding.
    let out = hunt_csv(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT dst) AS hosts FROM auth",
        "--auth",
        &logs,
    );
    assert_eq!(out.lines().nth(1), Some("60,3"), "{out}");
    let out = hunt_csv(
        "SELECT src, dst, dst_port FROM flows ORDER BY time, dst_port",
        "--auth",
        &logs,
    );
    assert!(out.contains("WORKSTATION5,WORKSTATION6,49671"), "{out}");

    // convert writes the same events as Parquet.
    let pq = dir.path().join("pq");
    let (ok, _, err) = reachwatch(
        &["convert", "--format", "auto"],
        &[("--auth", &logs), ("--out", &pq)],
    );
    assert!(ok, "{err}");
    let out = hunt_csv("SELECT COUNT(*) FROM auth", "--data", &pq);
    assert_eq!(out.lines().nth(1), Some("60"), "{out}");
}

#[test]
fn an_evtx_file_is_detected_and_a_stream_of_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("summary.json");
    let (ok, _, err) = reachwatch(
        &["replay", "--format", "auto", "--learn", "1s"],
        &[
            ("--auth", &fixture("evtx_security_short.evtx")),
            ("--summary-json", &s),
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("detected format evtx"), "{err}");
    let s = summary(&s);
    assert_eq!(s["auth_events"], 2, "{s}");
    assert_eq!(s["skipped"]["5152"], 2, "{s}");
    // EVTX needs the file: standard input is refused with a reason.
    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args(["replay", "--format", "evtx", "--auth", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard input"));
}
