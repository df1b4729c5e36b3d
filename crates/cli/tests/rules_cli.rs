//! The `rules` commands and `--rules` end to end through the binary.

mod common;

use std::fs;
use std::path::Path;

use common::{copy_rules, reachwatch, shipped_rules as shipped};

#[test]
fn check_accepts_the_shipped_rules_and_rejects_broken_ones_with_positions() {
    let out = reachwatch()
        .args(["rules", "check"])
        .arg(shipped())
        .output()
        .unwrap();
    common::assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK — 4 files, 15 detections"));

    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    fs::write(
        dir.path().join("90-local.yaml"),
        "weights:\n  new_edge: lots\ndetections:\n  - id: mine\n    condition: new_edge or\n    severty: high\n",
    )
    .unwrap();
    let out = reachwatch()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = dir.path().join("90-local.yaml").display().to_string();
    for expected in [
        format!("{file}:2:13: weight of `new_edge` must be an integer, found `lots`"),
        format!("{file}:6:5: unknown field `severty` in a detection"),
        format!("{file}:5:27: in detection `mine`: condition ends where a feature"),
    ] {
        assert!(err.contains(&expected), "missing {expected}\n{err}");
    }
    assert!(err.contains("3 problem(s)"), "{err}");
}

#[test]
fn rule_tests_run_and_a_failing_one_fails_the_command() {
    let out = reachwatch()
        .args(["rules", "test"])
        .arg(shipped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("9 passed, 0 failed"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    fs::write(
        dir.path().join("90-local.yaml"),
        "tests:\n  - name: wrong on purpose\n    learn: 1d\n    events:\n      - {at: 0s, auth: {identity: svc_a@X, src: A, dst: B}}\n    expect:\n      - {rule: novel-reach, identity: svc_a@X}\n",
    )
    .unwrap();
    let out = reachwatch()
        .args(["rules", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAILED  wrong on purpose"), "{text}");
    assert!(text.contains("expected novel-reach for svc_a@X"), "{text}");
    assert!(text.contains("9 passed, 1 failed"), "{text}");
}

#[test]
fn replay_uses_the_rules_directory() {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small");
    let run = |rules: Option<&Path>, name: &str, dir: &Path| {
        let mut c = reachwatch();
        c.args(["replay", "--quiet", "--learn", "5d", "--auth"])
            .arg(s.join("auth.txt"))
            .arg("--flows")
            .arg(s.join("flows.txt"))
            .arg("--alerts")
            .arg(dir.join(name));
        if let Some(r) = rules {
            c.arg("--rules").arg(r);
        }
        let out = c.output().unwrap();
        common::assert_ok(&out);
        fs::read_to_string(dir.join(name)).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let default = run(None, "default.jsonl", dir.path());
    assert_eq!(
        default,
        run(Some(&shipped()), "shipped.jsonl", dir.path()),
        "the embedded rules are rules/"
    );

    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    copy_rules(&rules);
    fs::write(
        rules.join("90-local.yaml"),
        "detections:\n  - id: fan-out\n    enabled: false\n    override: {enabled: replace}\n",
    )
    .unwrap();
    let tuned = run(Some(&rules), "tuned.jsonl", dir.path());
    assert!(default.contains("\"rule\":\"fan-out\""));
    assert!(
        !tuned.contains("\"rule\":\"fan-out\""),
        "a disabled detection does not alert"
    );

    fs::write(rules.join("91-broken.yaml"), "settings: [\n").unwrap();
    let out = reachwatch()
        .args(["replay", "--auth"])
        .arg(s.join("auth.txt"))
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("91-broken.yaml:"));
}

#[test]
fn inventory_addresses_resolve_ip_only_inputs() {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small");
    let dir = tempfile::tempdir().unwrap();
    // The same scenario where two hosts are known only by address.
    for f in ["auth.txt", "flows.txt"] {
        let text = fs::read_to_string(s.join(f)).unwrap();
        let text = text
            .replace(",BACKUP-01,", ",10.9.0.1,")
            .replace(",WS-0015,", ",10.9.0.2,");
        fs::write(dir.path().join(f), text).unwrap();
    }
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    copy_rules(&rules);
    let run = |auth: &Path, flows: &Path, rules: Option<&Path>, out: &str| {
        let mut c = reachwatch();
        c.args(["replay", "--quiet", "--learn", "5d", "--auth"])
            .arg(auth)
            .arg("--flows")
            .arg(flows)
            .arg("--alerts")
            .arg(dir.path().join(out));
        if let Some(r) = rules {
            c.arg("--rules").arg(r);
        }
        assert!(c.status().unwrap().success());
        fs::read_to_string(dir.path().join(out)).unwrap()
    };
    let original = run(
        &s.join("auth.txt"),
        &s.join("flows.txt"),
        None,
        "original.jsonl",
    );
    let (auth, flows) = (dir.path().join("auth.txt"), dir.path().join("flows.txt"));
    let unresolved = run(&auth, &flows, Some(&rules), "unresolved.jsonl");
    assert!(
        unresolved.contains("10.9.0.2"),
        "without the inventory the address shows"
    );
    fs::write(
        rules.join("90-addresses.yaml"),
        "inventory:\n  addresses:\n    - {ip: 10.9.0.1, host: BACKUP-01}\n    - {ip: 10.9.0.2, host: WS-0015}\n",
    )
    .unwrap();
    let resolved = run(&auth, &flows, Some(&rules), "resolved.jsonl");
    assert_eq!(
        resolved, original,
        "with the inventory's addresses the alerts are the original ones"
    );

    fs::write(
        rules.join("91-bad.yaml"),
        "inventory:\n  addresses:\n    - {ip: 10.9.0.300, host: X}\n",
    )
    .unwrap();
    let out = reachwatch()
        .args(["rules", "check"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("91-bad.yaml:3:12: `10.9.0.300` is not an IP address"));
}
