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
