//! The Grafana dashboard and the Prometheus alerting rules in deploy/ parse, and reference only
//! metrics the exporter actually exposes.

use reachwatch_telemetry::Telemetry;
use std::path::Path;

fn deploy() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every `reachwatch_*` metric name in an expression, without summary/histogram suffixes.
fn names(expr: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = expr;
    while let Some(i) = rest.find("reachwatch_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let mut name = &tail[..end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                name = base;
            }
        }
        out.push(name.to_string());
        rest = &tail[end..];
    }
    out
}

fn exposed() -> Vec<String> {
    Telemetry::new().metric_names()
}

#[test]
fn the_dashboard_uses_only_exposed_metrics() {
    let text = std::fs::read_to_string(deploy().join("grafana/reachwatch-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exposed = exposed();
    let mut seen = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let found = names(expr);
            assert!(
                !found.is_empty(),
                "panel {} has an expression with no reachwatch metric: {expr}",
                panel["title"]
            );
            for n in found {
                assert!(
                    exposed.contains(&n),
                    "dashboard panel {} uses `{n}`, which is not exposed",
                    panel["title"]
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 20);
}

#[test]
fn the_alert_rules_use_only_exposed_metrics() {
    let text = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let doc = marked_yaml::parse_yaml(0, &text).unwrap();
    let groups = doc.as_mapping().unwrap().get_sequence("groups").unwrap();
    let exposed = exposed();
    let mut alerts = 0;
    for g in groups.iter() {
        for rule in g
            .as_mapping()
            .unwrap()
            .get_sequence("rules")
            .unwrap()
            .iter()
        {
            let rule = rule.as_mapping().unwrap();
            let expr = rule.get_scalar("expr").unwrap().as_str();
            for n in names(expr) {
                assert!(
                    exposed.contains(&n),
                    "alert {} uses `{n}`, which is not exposed",
                    rule.get_scalar("alert").unwrap().as_str()
                );
            }
            alerts += 1;
        }
    }
    // Lag growing, decode errors, no events, checkpoint stale at least.
    assert!(alerts >= 4);
    for needed in [
        "ReachwatchConsumerLagGrowing",
        "ReachwatchDecodeErrors",
        "ReachwatchNoEvents",
        "ReachwatchCheckpointStale",
    ] {
        assert!(text.contains(needed), "{needed}");
    }
}

#[test]
fn the_reference_check_catches_a_wrong_name() {
    assert_eq!(
        names("rate(reachwatch_events_total[5m]) + reachwatch_x_sum"),
        vec!["reachwatch_events_total", "reachwatch_x"]
    );
    assert!(!exposed().contains(&"reachwatch_x".to_string()));
}
