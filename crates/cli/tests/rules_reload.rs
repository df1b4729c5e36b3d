//! Rules reloaded into a running engine: alerts change from that point on, learned state is kept,
//! and a broken rule file leaves the running rules in force.

mod common;

use reachwatch_engine::Engine;
use reachwatch_model::{Alert, Event};
use reachwatch_rules::{Reload, RuleReloader};
use std::fs;
use std::path::Path;
use std::sync::Arc;

fn rules_dir(dir: &Path) {
    common::copy_rules(dir);
    // The committed scenario learns for 5 days.
    fs::write(dir.join("50-scenario.yaml"), "settings:\n  learn: 5d\n").unwrap();
}

fn push_all(engine: &mut Engine, events: &[Event], out: &mut Vec<Alert>) {
    for e in events {
        engine.push(*e, out).unwrap();
    }
}

#[test]
fn reload_changes_alerts_from_that_point_and_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    rules_dir(dir.path());
    let (mut reloader, rules_a) = RuleReloader::new(dir.path()).unwrap();
    let rules_a = Arc::new(rules_a);

    // Reference: rules A all the way.
    let mut straight = Engine::with_rules(rules_a.clone());
    let events = common::scenario_events(&mut straight);
    let mut expected = vec![];
    push_all(&mut straight, &events, &mut expected);
    straight.finish(&mut expected);

    // Cut where at least two alerts are still to come; silence the first identity alerting later.
    let cut = events.len() * 3 / 4;
    let cut_time = events[cut].time() as f64 / 1000.0;
    let later: Vec<&Alert> = expected
        .iter()
        .filter(|a| a.time.0 > cut_time + 3600.0)
        .collect();
    assert!(later.len() >= 2, "the scenario has alerts after the cut");
    let quiet = later[0].identity.clone();

    let mut engine = Engine::with_rules(rules_a.clone());
    let _ = common::scenario_events(&mut engine);
    let mut got = vec![];
    push_all(&mut engine, &events[..cut], &mut got);
    assert!(matches!(reloader.check(), Reload::Unchanged));

    // A broken file is reported with its position and changes nothing.
    fs::write(
        dir.path().join("70-broken.yaml"),
        "detections:\n  - id: x\n    condition: new_edge and nonsense\n",
    )
    .unwrap();
    match reloader.check() {
        Reload::Failed(p) => {
            let text = p.to_string();
            assert!(text.contains("70-broken.yaml:3:29: in detection `x`: unknown feature, field or macro `nonsense`"), "{text}");
        }
        other => panic!("a broken file must fail to load, got {other:?}"),
    }
    assert_eq!(
        engine.rules().hash,
        rules_a.hash,
        "the running rules stay in force"
    );
    fs::remove_file(dir.path().join("70-broken.yaml")).unwrap();

    // A valid change: an exception for one identity.
    fs::write(
        dir.path().join("60-quiet.yaml"),
        format!(
            "exceptions:\n  - name: quiet-one\n    identity: \"{}\"\n    reason: test\n",
            quiet.to_lowercase()
        ),
    )
    .unwrap();
    let rules_b = match reloader.check() {
        Reload::Changed(r) => Arc::new(*r),
        other => panic!("expected new rules, got {other:?}"),
    };
    assert_ne!(rules_b.hash, rules_a.hash);
    engine.set_rules(rules_b);
    push_all(&mut engine, &events[cut..], &mut got);
    engine.finish(&mut got);

    let before = |v: &[Alert]| {
        v.iter()
            .filter(|a| a.time.0 < cut_time)
            .cloned()
            .collect::<Vec<_>>()
    };
    let after = |v: &[Alert]| {
        v.iter()
            .filter(|a| a.time.0 >= cut_time)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        before(&got),
        before(&expected),
        "alerts before the reload are unchanged"
    );
    let expected_after: Vec<Alert> = after(&expected)
        .into_iter()
        .filter(|a| a.identity != quiet)
        .collect();
    assert!(
        !expected_after.is_empty(),
        "other alerts still fire: the baseline was kept"
    );
    assert_eq!(
        after(&got),
        expected_after,
        "after the reload only the silenced identity's alerts are gone"
    );
    assert!(
        engine
            .stats()
            .suppressed
            .get("quiet-one")
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

#[test]
fn live_rules_log_count_and_keep_the_running_set_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    rules_dir(dir.path());
    let telemetry = Arc::new(reachwatch_telemetry::Telemetry::new());
    let (mut live, first) = reachwatch::rules_cmd::LiveRules::new(
        dir.path(),
        |r| r.settings.learn = 3 * reachwatch_model::time::DAY,
        Some(telemetry.clone()),
    )
    .unwrap();
    assert_eq!(
        first.settings.learn,
        3 * reachwatch_model::time::DAY,
        "overrides apply"
    );
    let info = |t: &reachwatch_telemetry::Telemetry| {
        t.render()
            .lines()
            .find(|l| l.starts_with("reachwatch_rules_info{"))
            .unwrap()
            .to_string()
    };
    assert!(info(&telemetry).contains(&first.hash_hex()));
    assert!(live.poll().is_none());

    fs::write(dir.path().join("80-broken.yaml"), "weights: [\n").unwrap();
    assert!(live.poll().is_none(), "a broken change is not applied");
    assert_eq!(
        telemetry.rule_reloads.with_label_values(&["error"]).get(),
        1
    );
    assert!(
        info(&telemetry).contains(&first.hash_hex()),
        "the running set is still reported"
    );

    fs::write(
        dir.path().join("80-broken.yaml"),
        "settings:\n  fanout_min: 9\n",
    )
    .unwrap();
    let next = live.poll().expect("a valid change is applied");
    assert_eq!(next.settings.fanout_min, 9);
    assert_eq!(
        next.settings.learn,
        3 * reachwatch_model::time::DAY,
        "overrides apply again"
    );
    assert_eq!(telemetry.rule_reloads.with_label_values(&["ok"]).get(), 1);
    assert!(info(&telemetry).contains(&next.hash_hex()));
    assert!(
        !telemetry.render().contains(&first.hash_hex()),
        "only the active set is reported"
    );
}
