//! The replay command with SIEM formats: `--format auto` says what it detected, `--hosts` maps
//! addresses, `--alert-format` selects the encoding, and undetectable input is a clear error.

use std::fs;
use std::process::Command;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/formats")
        .join(name)
}

#[test]
fn auto_detection_hosts_and_alert_formats() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("hosts.csv"),
        "# lab\n10.0.1.6,WORKSTATION6\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args([
            "replay",
            "--format",
            "auto",
            "--learn",
            "1s",
            "--alert-format",
            "ocsf",
        ])
        .arg("--auth")
        .arg(fixture("windows_otrf.jsonl"))
        .arg("--flows")
        .arg(fixture("zeek_conn_otrf.log"))
        .arg("--hosts")
        .arg(dir.path().join("hosts.csv"))
        .arg("--alerts")
        .arg(dir.path().join("a.jsonl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("windows_otrf.jsonl: detected format windows"),
        "{err}"
    );
    assert!(
        err.contains("zeek_conn_otrf.log: detected format zeek"),
        "{err}"
    );
    // The fixtures are months apart and out of order: the engine refuses most by event time,
    // after decoding (no decoding dead letters).
    assert!(!err.contains("malformed") && !err.contains("bad_"), "{err}");
    assert!(dir.path().join("a.jsonl").exists());

    fs::write(dir.path().join("junk.txt"), "hello world\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args([
            "replay",
            "--format",
            "auto",
            "--alert-format",
            "ecs",
            "--auth",
        ])
        .arg(dir.path().join("junk.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot detect the format of"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args(["replay", "--alert-format", "xml", "--auth", "x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown alert format"));

    fs::write(dir.path().join("bad_hosts.csv"), "10.0.0.1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args(["replay", "--format", "windows", "--auth"])
        .arg(fixture("windows_otrf.jsonl"))
        .arg("--hosts")
        .arg(dir.path().join("bad_hosts.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1: expected `ip,host`"), "{err}");
}
