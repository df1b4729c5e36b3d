//! Hostile input through the binary: multi-byte values in records and rule files are reported
//! with their reasons and positions, never a panic, and the good records around them all count.

mod common;

use common::{copy_rules, reachwatch};
use std::collections::BTreeMap;
use std::fs;

#[test]
fn multi_byte_values_in_native_records_are_dead_lettered_and_the_good_ones_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let euros = "€".repeat(30);
    let bad = [
        (
            format!(
                r#"{{"time":"x{euros}","identity":"svc_x@CORP","dst_host":"DB-01","outcome":"success"}}"#
            ),
            "bad_time",
        ),
        (
            format!(
                r#"{{"time":1700000000,"identity":"{}","dst_host":"DB-01","outcome":"success"}}"#,
                "€".repeat(200)
            ),
            "too_long",
        ),
        (
            format!(
                r#"{{"time":1700000000,"identity":"svc_x@CORP","dst_host":"DB-01","outcome":"{euros}"}}"#
            ),
            "unknown_value",
        ),
        (
            format!(
                r#"{{"time":1700000000,"identity":"svc_x@CORP","dst_host":"DB-01","outcome":"success","logon_type":"{euros}"}}"#
            ),
            "unknown_value",
        ),
        (
            format!(
                r#"{{"time":1700000000,"identity":"svc_x@CORP","dst_host":"DB-01","outcome":"success","protocol":"{euros}"}}"#
            ),
            "unknown_value",
        ),
    ];
    let mut text = String::new();
    let mut expected = vec![];
    let mut line = 0u64;
    for i in 0..20u64 {
        if i % 4 == 1 {
            let (record, reason) = &bad[(i / 4) as usize];
            line += 1;
            text.push_str(record);
            text.push('\n');
            expected.push((line, reason.to_string()));
        }
        line += 1;
        text.push_str(&format!(
            r#"{{"time":{},"identity":"svc_{}@CORP","src_host":"APP-0{}","dst_host":"DB-01","protocol":"kerberos","logon_type":"network","outcome":"success"}}"#,
            1_700_000_000 + 60 * i,
            i % 3,
            i % 2
        ));
        text.push('\n');
    }
    let auth = dir.path().join("auth.jsonl");
    fs::write(&auth, text).unwrap();
    let (dead, summary) = (
        dir.path().join("dead.jsonl"),
        dir.path().join("summary.json"),
    );
    let out = reachwatch()
        .args(["replay", "--format", "native", "--quiet", "--auth"])
        .arg(&auth)
        .arg("--alerts")
        .arg(dir.path().join("alerts.jsonl"))
        .arg("--dead-letter")
        .arg(&dead)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let got: Vec<(u64, String)> = fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["raw"].as_str().unwrap().contains('€'), "{l}");
            (
                v["line"].as_u64().unwrap(),
                v["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    let s: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["events"], 20, "{s}");
    assert_eq!(s["auth_events"], 20, "{s}");
    let counted: BTreeMap<String, u64> = serde_json::from_value(s["dead_letters"].clone()).unwrap();
    assert_eq!(
        counted,
        BTreeMap::from([
            ("bad_time".to_string(), 1),
            ("too_long".to_string(), 1),
            ("unknown_value".to_string(), 3)
        ])
    );
}

#[test]
fn a_multi_byte_attack_id_is_a_positioned_problem_of_rules_check() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let file = dir.path().join("90-local.yaml");
    fs::write(
        &file,
        "detections:\n  - id: mine\n    condition: new_edge\n    attack: [T1021, \"Tab€x\"]\n",
    )
    .unwrap();
    let out = reachwatch()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let expected = format!(
        "{}:4:13: `Tab€x` is not an ATT&CK technique id like T1021 or T1021.002",
        file.display()
    );
    assert!(stderr.contains(&expected), "missing {expected}\n{stderr}");
}

/// A native authentication line at Unix time `t` from `src`.
fn native_auth(t: i64, src: &str) -> String {
    format!(
        r#"{{"time":{t},"identity":"svc_batch@CORP","src_host":"{src}","dst_host":"DB-01","protocol":"kerberos","logon_type":"network","outcome":"success"}}"#
    )
}

/// Replays native authentications; returns the dead letters (as JSON) and the summary.
fn replay_native(lines: &[String]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.jsonl");
    fs::write(&auth, lines.join("\n") + "\n").unwrap();
    let (dead, summary) = (
        dir.path().join("dead.jsonl"),
        dir.path().join("summary.json"),
    );
    let out = reachwatch()
        .args([
            "replay", "--format", "native", "--quiet", "--learn", "1h", "--auth",
        ])
        .arg(&auth)
        .arg("--alerts")
        .arg(dir.path().join("alerts.jsonl"))
        .arg("--dead-letter")
        .arg(&dead)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    common::assert_ok(&out);
    let dead = fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    (dead, summary)
}

#[test]
fn one_forward_dated_record_is_the_only_one_refused() {
    // 180 good events a minute apart; at minute 30 one record dated two days ahead.
    let t0 = 1_700_000_000;
    let forged = native_auth(t0 + 30 * 60 + 2 * 86_400, "APP-01");
    let mut lines: Vec<String> = (0..180)
        .map(|m| native_auth(t0 + m * 60, "APP-01"))
        .collect();
    lines.insert(30, forged.clone());
    let (dead, summary) = replay_native(&lines);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "clock_skew");
    assert_eq!(dead[0]["line"], 31);
    assert_eq!(
        dead[0]["raw"],
        forged.as_str(),
        "the original record is kept"
    );
    assert_eq!(summary["events"], 180);
    assert_eq!(summary["late_events"], 0);
}

#[test]
fn late_records_within_the_late_window_are_processed_and_older_ones_refused_whole() {
    // Two days of events an hour apart, then two stragglers: one 23 hours behind the
    // watermark (inside the 24 h late window), one 25 hours behind (outside).
    let t0 = 1_700_000_000;
    let mut lines: Vec<String> = (0..48)
        .map(|h| native_auth(t0 + h * 3600, "APP-01"))
        .collect();
    let last = t0 + 47 * 3600;
    let inside = native_auth(last - 23 * 3600, "APP-02");
    let outside = native_auth(last - 25 * 3600, "APP-03");
    lines.push(inside);
    lines.push(outside.clone());
    let (dead, summary) = replay_native(&lines);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "late");
    assert_eq!(dead[0]["line"], 50);
    assert_eq!(
        dead[0]["raw"],
        outside.as_str(),
        "the original record is kept"
    );
    assert_eq!(summary["events"], 49);
    assert_eq!(summary["late_events"], 1);
}
