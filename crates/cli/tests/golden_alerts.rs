//! Golden alerts: replays of fixed inputs must keep giving exactly the alerts in
//! `testdata/golden/`, byte for byte. The files pin what the engine and its drivers produce, so
//! a change of structure (how replay or the pipeline drive the engine) cannot change an alert
//! unnoticed. A deliberate change of detection updates them with `RW_BLESS=1` and says why.

mod common;

use common::{assert_ok, reachwatch, small_scenario};
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/golden")
        .join(name)
}

/// Replays LANL `auth.txt` and `flows.txt` of `scenario` and returns the alerts file's bytes.
fn replay(scenario: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let alerts = out.join("alerts.jsonl");
    let run = reachwatch()
        .args(["replay", "--format", "lanl", "--quiet"])
        .arg("--auth")
        .arg(scenario.join("auth.txt"))
        .arg("--flows")
        .arg(scenario.join("flows.txt"))
        .arg("--alerts")
        .arg(&alerts)
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&run);
    std::fs::read(alerts).unwrap()
}

/// Compares `got` with the golden file `name` (or writes it when `RW_BLESS=1`).
fn check(name: &str, got: &[u8]) {
    let path = golden(name);
    if std::env::var_os("RW_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (RW_BLESS=1 writes it)", path.display()));
    if got == want {
        return;
    }
    let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(&want));
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let at = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{name}: alerts differ from the golden file ({} lines, golden {}); first difference at \
         line {}:\n  got:    {}\n  golden: {}",
        g.len(),
        w.len(),
        at + 1,
        g.get(at).unwrap_or(&"(none)"),
        w.get(at).unwrap_or(&"(none)"),
    );
}

#[test]
fn the_small_scenario_gives_the_golden_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let got = replay(&small_scenario(), dir.path(), &["--learn", "5d"]);
    assert!(got.len() > 1000, "the small scenario has alerts");
    check("scenario-small.alerts.jsonl", &got);
}

#[test]
fn generated_enterprises_give_the_golden_alerts() {
    for seed in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("s");
        let gen = reachwatch()
            .args(["generate", "--seed", &seed.to_string(), "--out"])
            .arg(&scenario)
            .output()
            .unwrap();
        assert_ok(&gen);
        let got = replay(&scenario, dir.path(), &[]);
        assert!(got.len() > 1000, "seed {seed} has alerts");
        check(&format!("seed-{seed}.alerts.jsonl"), &got);
    }
}
