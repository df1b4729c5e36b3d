//! Engine snapshots: stopping anywhere, snapshotting, restoring and continuing gives exactly the
//! alerts of an uninterrupted run.

mod common;

use reachwatch_engine::Engine;
use reachwatch_model::{Alert, Event};

fn run_through(engine: &mut Engine, events: &[Event], out: &mut Vec<Alert>) {
    for e in events {
        engine.push(*e, out).unwrap();
    }
}

#[test]
fn snapshot_and_restore_midway_changes_nothing() {
    let mut straight = Engine::with_rules(common::small_config());
    let evs = common::scenario_events(&mut straight);
    let mut expected = vec![];
    run_through(&mut straight, &evs, &mut expected);
    straight.finish(&mut expected);
    assert!(expected.len() >= 8);

    // Cut in the learning period, right after an alert, and near the end.
    for cut in [evs.len() / 3, evs.len() * 3 / 4, evs.len() - 10] {
        let mut first = Engine::with_rules(common::small_config());
        let _ = common::scenario_events(&mut first);
        let mut got = vec![];
        run_through(&mut first, &evs[..cut], &mut got);
        let bytes = first.snapshot();
        drop(first);
        let mut second = Engine::restore_with_rules(&bytes, common::small_config()).unwrap();
        run_through(&mut second, &evs[cut..], &mut got);
        second.finish(&mut got);
        assert_eq!(got, expected, "cut at {cut}");
        assert_eq!(
            second.stats().alerts_by_rule,
            straight.stats().alerts_by_rule
        );
    }
}

#[test]
fn a_damaged_snapshot_is_refused_with_a_reason() {
    let mut engine = Engine::with_rules(common::small_config());
    let evs = common::scenario_events(&mut engine);
    run_through(&mut engine, &evs[..1000], &mut vec![]);
    let bytes = engine.snapshot();
    let err = Engine::restore_with_rules(b"garbage", common::small_config())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("not a reachwatch engine snapshot"),
        "{err}"
    );
    let err = Engine::restore_with_rules(&bytes[..bytes.len() / 2], common::small_config())
        .err()
        .unwrap();
    assert!(err.to_string().contains("corrupt"), "{err}");
}
