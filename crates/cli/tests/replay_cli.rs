//! The replay command end to end: determinism, the alert schema, bad input, errors and help.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::reachwatch;

fn replay_to(
    dir: &Path,
    auth: &Path,
    flows: &Path,
    alerts: &str,
    extra: &[&str],
) -> std::process::Output {
    let out = reachwatch()
        .args(["replay", "--format", "lanl", "--learn", "5d"])
        .arg("--auth")
        .arg(auth)
        .arg("--flows")
        .arg(flows)
        .arg("--alerts")
        .arg(dir.join(alerts))
        .args(extra)
        .output()
        .unwrap();
    common::assert_ok(&out);
    out
}

#[test]
fn replay_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::small_scenario();
    let (auth, flows) = (s.join("auth.txt"), s.join("flows.txt"));
    replay_to(dir.path(), &auth, &flows, "a.jsonl", &["--quiet"]);
    replay_to(dir.path(), &auth, &flows, "b.jsonl", &["--quiet"]);
    let a = fs::read(dir.path().join("a.jsonl")).unwrap();
    let b = fs::read(dir.path().join("b.jsonl")).unwrap();
    assert!(a.len() > 100, "alerts expected");
    assert!(a == b, "two replays of the same input differ");
}

#[test]
fn alerts_follow_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::small_scenario();
    let out = replay_to(
        dir.path(),
        &s.join("auth.txt"),
        &s.join("flows.txt"),
        "a.jsonl",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("replay: "), "summary on stderr: {stderr}");
    assert!(stderr.contains("alerts "), "{stderr}");
    let text = fs::read_to_string(dir.path().join("a.jsonl")).unwrap();
    let mut ids = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "id", "time", "identity", "src", "dst", "rule", "severity", "score", "attack",
            "evidence", "summary",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {line}");
        }
        assert!(
            v["time"].is_i64(),
            "LANL time stays whole seconds: {}",
            v["time"]
        );
        assert!(v["attack"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().unwrap().starts_with('T')));
        let score = v["score"].as_u64().unwrap();
        assert!((50..=100).contains(&score));
        assert!(["low", "medium", "high", "critical"].contains(&v["severity"].as_str().unwrap()));
        assert!(!v["evidence"]["features"].as_array().unwrap().is_empty());
        assert!(
            ids.insert(v["id"].as_str().unwrap().to_string()),
            "duplicate id"
        );
    }
    assert!(ids.len() >= 8);
}

#[test]
fn base_time_adds_rfc3339_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::small_scenario();
    replay_to(
        dir.path(),
        &s.join("auth.txt"),
        &s.join("flows.txt"),
        "a.jsonl",
        &["--quiet", "--base-time", "2026-01-05T00:00:00Z"],
    );
    let text = fs::read_to_string(dir.path().join("a.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let secs = v["time"].as_i64().unwrap();
    let ts = v["timestamp"].as_str().unwrap();
    let day = 4 + secs / 86_400 + 1;
    assert!(
        ts.starts_with(&format!("2026-01-{day:02}T")),
        "{ts} for {secs}"
    );
}

/// Bad lines mixed into a good scenario: same alerts as the clean run, every bad line counted
/// and dead-lettered with its line number and reason.
#[test]
fn bad_input_is_dead_lettered_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::small_scenario();
    let clean_auth = fs::read_to_string(s.join("auth.txt")).unwrap();
    let clean_flows = fs::read_to_string(s.join("flows.txt")).unwrap();

    let huge = "H".repeat(100_000);
    let auth_bad: Vec<(String, &str)> = vec![
        ("not,enough,fields".into(), "malformed"),
        (
            "1,a@D,a@D,C1,C2,Kerberos,Network,LogOn,Success,extra".into(),
            "malformed",
        ),
        (
            "noon,svc_x@DOM1,svc_x@DOM1,C1,C2,Kerberos,Network,LogOn,Success".into(),
            "bad_time",
        ),
        (
            "12.5e3,svc_x@DOM1,svc_x@DOM1,C1,C2,Kerberos,Network,LogOn,Success".into(),
            "bad_time",
        ),
        (
            "500000,,U1@DOM1,C1,C2,Kerberos,Network,LogOn,Success".into(),
            "empty_field",
        ),
        (
            "500000,svc_x@DOM1,svc_x@DOM1,C1,C2,Kerberos,Network,LogOn,Maybe".into(),
            "unknown_value",
        ),
        (
            format!("500000,{huge}@DOM1,x,C1,C2,Kerberos,Network,LogOn,Success"),
            "too_long",
        ),
        (
            "1,svc_backup@DOM1,svc_backup@DOM1,WS-0001,FS-01,NTLM,Network,LogOn,Success".into(),
            "late",
        ),
        (
            "99999999,svc_backup@DOM1,svc_backup@DOM1,WS-0001,FS-01,NTLM,Network,LogOn,Success"
                .into(),
            "clock_skew",
        ),
        ("\u{0}\u{1}garbage\u{ff}".into(), "malformed"),
    ];
    let flow_bad: Vec<(String, &str)> = vec![
        ("1,2,3".into(), "malformed"),
        ("x,0,C1,N1,C2,445,6,1,1".into(), "bad_time"),
        ("400000,0,C1,N1,C2,70000,6,1,1".into(), "bad_number"),
        ("400000,0,C1,N1,C2,445,6,many,1".into(), "bad_number"),
        ("400000,0,,N1,C2,445,6,1,1".into(), "empty_field"),
        ("2,0,WS-0001,N1,PROD-DB-01,445,6,1,1".into(), "late"),
    ];
    // Insert each bad line at a spread of positions; remember the resulting line numbers.
    fn inject(clean: &str, bad: &[(String, &str)], dir: &Path, name: &str) -> Vec<(u64, String)> {
        let lines: Vec<&str> = clean.lines().collect();
        let step = lines.len() / (bad.len() + 1);
        let mut out = String::new();
        let mut expected = vec![];
        let mut n = 0u64;
        let mut next_bad = 0;
        for (i, l) in lines.iter().enumerate() {
            if next_bad < bad.len() && i == step * (next_bad + 1) {
                n += 1;
                out.push_str(&bad[next_bad].0);
                out.push('\n');
                expected.push((n, bad[next_bad].1.to_string()));
                next_bad += 1;
            }
            n += 1;
            out.push_str(l);
            out.push('\n');
        }
        fs::write(dir.join(name), out).unwrap();
        expected
    }
    let mut expected = inject(&clean_auth, &auth_bad, dir.path(), "auth.txt")
        .into_iter()
        .map(|(n, r)| ("auth.txt".to_string(), n, r))
        .collect::<Vec<_>>();
    expected.extend(
        inject(&clean_flows, &flow_bad, dir.path(), "flows.txt")
            .into_iter()
            .map(|(n, r)| ("flows.txt".to_string(), n, r)),
    );

    replay_to(
        dir.path(),
        &s.join("auth.txt"),
        &s.join("flows.txt"),
        "clean.jsonl",
        &["--quiet"],
    );
    let summary_path = dir.path().join("summary.json");
    replay_to(
        dir.path(),
        &dir.path().join("auth.txt"),
        &dir.path().join("flows.txt"),
        "dirty.jsonl",
        &[
            "--quiet",
            "--dead-letter",
            dir.path().join("dead.jsonl").to_str().unwrap(),
            "--summary-json",
            summary_path.to_str().unwrap(),
        ],
    );
    let clean = fs::read(dir.path().join("clean.jsonl")).unwrap();
    let dirty = fs::read(dir.path().join("dirty.jsonl")).unwrap();
    assert!(!clean.is_empty());
    assert!(clean == dirty, "bad lines changed the alerts");

    let dead = fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    let mut got: Vec<(String, u64, String)> = dead
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(!v["detail"].as_str().unwrap().is_empty());
            let file = Path::new(v["source"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                file,
                v["line"].as_u64().unwrap(),
                v["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(summary_path).unwrap()).unwrap();
    let counted: u64 = summary["dead_letters"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, expected.len());
}

#[test]
fn clear_errors_for_missing_files_and_bad_flags() {
    let out = reachwatch()
        .args(["replay", "--auth", "/nonexistent/auth.txt", "--alerts", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open /nonexistent/auth.txt"), "{err}");

    let out = reachwatch()
        .args(["replay", "--learn", "seven days"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a duration"));

    let out = reachwatch()
        .args(["replay", "--format", "yaml", "--auth", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format"));

    let out = reachwatch().args(["replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to replay"));
}

#[test]
fn every_command_has_help() {
    for cmd in ["replay", "generate", "eval", "demo"] {
        let out = reachwatch().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: reachwatch"), "{cmd}: {text}");
    }
}

#[test]
fn native_json_input_gives_the_same_alerts_as_lanl() {
    // Convert the small scenario to native JSON lines (absolute epoch seconds = LANL seconds).
    let dir = tempfile::tempdir().unwrap();
    let s = common::small_scenario();
    let auth = fs::read_to_string(s.join("auth.txt")).unwrap();
    let flows = fs::read_to_string(s.join("flows.txt")).unwrap();
    let mut na = String::new();
    for l in auth.lines() {
        let f: Vec<&str> = l.split(',').collect();
        let src = if f[3] == "?" {
            serde_json::Value::Null
        } else {
            f[3].into()
        };
        let v = serde_json::json!({"time": f[0].parse::<i64>().unwrap(), "identity": f[1], "src_host": src,
            "dst_host": f[4], "protocol": f[5].to_lowercase(), "logon_type": f[6].to_lowercase()
                .replace("remoteinteractive", "remote_interactive"),
            "orientation": f[7].to_lowercase(), "outcome": if f[8] == "Success" {"success"} else {"failure"}});
        na.push_str(&v.to_string());
        na.push('\n');
    }
    let mut nf = String::new();
    for l in flows.lines() {
        let f: Vec<&str> = l.split(',').collect();
        let port = |p: &str| p.parse::<u16>().ok();
        let v = serde_json::json!({"time": f[0].parse::<i64>().unwrap(), "duration": f[1].parse::<f64>().unwrap(),
            "src_host": f[2], "src_port": port(f[3]), "dst_host": f[4], "dst_port": port(f[5]),
            "protocol": f[6].parse::<u8>().unwrap(), "packets": f[7].parse::<u64>().unwrap(), "bytes": f[8].parse::<u64>().unwrap()});
        nf.push_str(&v.to_string());
        nf.push('\n');
    }
    fs::write(dir.path().join("auth.jsonl"), na).unwrap();
    fs::write(dir.path().join("flows.jsonl"), nf).unwrap();
    let (lanl_summary, lanl) = common::run(
        &s.join("auth.txt"),
        &s.join("flows.txt"),
        common::small_config(),
        None,
        None,
    );
    let opts = reachwatch::replay::ReplayOptions {
        format: reachwatch_formats::Format::Native,
        auth: Some(dir.path().join("auth.jsonl")),
        flows: Some(dir.path().join("flows.jsonl")),
        alerts: None,
        dead_letter: None,
        base_time: None,
        rules: common::small_config(),
        progress: None,
    };
    let mut native = vec![];
    let summary = reachwatch::replay::replay(&opts, |a| native.push(a.clone())).unwrap();
    assert_eq!(summary.dead_letter_total(), 0, "{:?}", summary.dead_letters);
    assert_eq!(summary.events, lanl_summary.events);
    assert!(!lanl.is_empty());
    assert_eq!(native, lanl);
}

#[test]
fn the_committed_scenario_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = reachwatch()
        .args([
            "generate",
            "--seed",
            "7",
            "--size",
            "0.1",
            "--days",
            "10",
            "--learn-days",
            "5",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    common::assert_ok(&out);
    for f in ["auth.txt", "flows.txt", "redteam.txt", "labels.jsonl"] {
        let a = fs::read(dir.path().join(f)).unwrap();
        let b = fs::read(common::small_scenario().join(f)).unwrap();
        assert!(
            a == b,
            "testdata/scenario-small/{f} differs from a fresh generation"
        );
    }
}

/// Logs are JSON lines; at `info` nothing is logged per event; at `debug` every alert is logged
/// inside the span of the batch of events that produced it, and each full batch says so.
#[test]
fn logs_are_structured_with_a_span_per_batch_and_nothing_per_event_at_info() {
    let s = common::small_scenario();
    let dir = tempfile::tempdir().unwrap();
    let run = |level: &str| -> Vec<serde_json::Value> {
        let out = reachwatch()
            .env("RUST_LOG", level)
            .args(["--log-format", "json", "replay", "-q", "--format", "lanl"])
            .args(["--learn", "5d", "--auth"])
            .arg(s.join("auth.txt"))
            .arg("--flows")
            .arg(s.join("flows.txt"))
            .arg("--alerts")
            .arg(dir.path().join("alerts.jsonl"))
            .output()
            .unwrap();
        common::assert_ok(&out);
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let events: usize = ["auth.txt", "flows.txt"]
        .iter()
        .map(|f| fs::read_to_string(s.join(f)).unwrap().lines().count())
        .sum();
    let info = run("info");
    assert!(
        info.len() <= 5,
        "{} info lines for {events} events",
        info.len()
    );
    let debug = run("reachwatch=debug");
    let alerts_after = fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    let alert_ids: BTreeSet<&str> = alerts_after
        .lines()
        .map(|l| {
            l.split("\"id\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert!(alert_ids.len() >= 8);
    let message = |v: &serde_json::Value| v["fields"]["message"].as_str().unwrap_or("").to_string();
    let alert_lines: Vec<&serde_json::Value> =
        debug.iter().filter(|v| message(v) == "alert").collect();
    let logged: BTreeSet<&str> = alert_lines
        .iter()
        .map(|v| v["fields"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(logged, alert_ids);
    // Alerts due while events flow are logged in their batch's span; those still open at the end
    // of input are emitted after the last batch, outside any.
    let in_batch = alert_lines
        .iter()
        .filter(|v| v["span"]["name"] == "batch")
        .count();
    assert!(
        in_batch * 2 >= alert_lines.len(),
        "{in_batch} of {}",
        alert_lines.len()
    );
    let batches: Vec<&serde_json::Value> = debug
        .iter()
        .filter(|v| message(v) == "batch processed")
        .collect();
    assert_eq!(batches.len(), events / 16_384, "one line per full batch");
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b["span"]["batch"], i as u64);
        assert_eq!(b["fields"]["events"], 16_384);
    }
}
