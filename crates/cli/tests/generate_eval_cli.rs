//! `reachwatch generate` with its shape options and `reachwatch eval` with its ranking columns and
//! without the inventory, through the binary.

mod common;

use common::{assert_ok, reachwatch};
use std::path::Path;

fn generate(dir: &Path, extra: &[&str]) {
    let out = reachwatch()
        .args(["generate", "--seed", "2", "--size", "0.3", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&out);
}

fn eval(dir: &Path, extra: &[&str]) -> (String, Vec<serde_json::Value>) {
    let alerts = dir.join(format!("alerts{}.jsonl", extra.len()));
    let out = reachwatch()
        .args(["eval", "--scenario"])
        .arg(dir)
        .arg("--alerts")
        .arg(&alerts)
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&out);
    let alerts = std::fs::read_to_string(alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (String::from_utf8(out.stdout).unwrap(), alerts)
}

#[test]
fn generate_takes_names_topology_and_campaigns_and_eval_prints_the_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        d,
        &[
            "--names",
            "anonymized",
            "--topology",
            "flat",
            "--campaigns",
            "extended",
        ],
    );
    let scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("scenario.json")).unwrap()).unwrap();
    assert_eq!(scenario["config"]["names"], "anonymized");
    assert_eq!(scenario["config"]["topology"], "flat");
    assert_eq!(scenario["config"]["campaigns"], "extended");
    assert_eq!(scenario["campaigns"].as_array().unwrap().len(), 22);
    let auth = std::fs::read_to_string(d.join("auth.txt")).unwrap();
    for line in auth.lines().take(1000) {
        let f: Vec<&str> = line.split(',').collect();
        for host in [f[3], f[4]] {
            assert!(
                host.starts_with('C') && host[1..].parse::<u32>().is_ok(),
                "{line}"
            );
        }
    }

    let (table, _) = eval(d, &["--no-inventory"]);
    let header = table.lines().next().unwrap();
    for column in [
        "detected",
        "false/day",
        "AP",
        "false/day@100",
        "false/day@50",
    ] {
        assert!(header.split_whitespace().any(|c| c == column), "{header}");
    }
    for detector in ["reachwatch", "new-terms"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(detector))
            .unwrap_or_else(|| panic!("{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1], "22", "{row}");
        let ap: f64 = cells[6].parse().unwrap();
        assert!((0.0..=1.0).contains(&ap), "{row}");
    }
}

#[test]
fn eval_without_the_inventory_uses_none_of_its_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, &[]);
    let inventory_features = |alerts: &[serde_json::Value]| -> usize {
        alerts
            .iter()
            .flat_map(|a| a["evidence"]["features"].as_array().unwrap())
            .filter(|f| {
                ["env_crossing", "zone_crossing", "crown_jewel"]
                    .contains(&f["name"].as_str().unwrap())
            })
            .count()
    };
    let (_, with) = eval(d, &[]);
    let (_, without) = eval(d, &["--no-inventory"]);
    assert!(inventory_features(&with) > 0);
    assert_eq!(inventory_features(&without), 0);
    assert!(!without.is_empty());
}

#[test]
fn an_unknown_option_value_is_refused_with_the_choices() {
    let out = reachwatch()
        .args(["generate", "--out", "unused", "--names", "anonymised"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("descriptive, anonymized, anonymized-all"),
        "{err}"
    );
}
