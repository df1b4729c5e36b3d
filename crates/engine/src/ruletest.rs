//! Running the tests that rule files carry: events in, the expected alerts (and only those) out.

use crate::Engine;
use reachwatch_model::{
    Alert, AuthEvent, AuthProtocol, Event, FlowEvent, LogonType, Orientation, Outcome, Ts,
};
use reachwatch_rules::{Expect, RuleSet, RuleTest, TestRecord};
use std::sync::Arc;

/// The result of one rule test.
#[derive(Clone, Debug, PartialEq)]
pub struct TestOutcome {
    /// Test name.
    pub name: String,
    /// Where it is defined.
    pub origin: String,
    /// Whether the alerts were exactly the expected ones.
    pub passed: bool,
    /// Expected alerts that did not come, and alerts that were not expected.
    pub detail: String,
}

fn expected_matches(e: &Expect, a: &Alert) -> bool {
    e.rule == a.rule
        && e.identity.eq_ignore_ascii_case(&a.identity)
        && e.dst
            .as_ref()
            .is_none_or(|d| d.eq_ignore_ascii_case(&a.dst))
}

/// Runs one test against the rule set (with the test's learning period).
pub fn run_test(rules: &RuleSet, test: &RuleTest) -> TestOutcome {
    let mut rs = rules.clone();
    rs.settings.learn = test.learn;
    let mut engine = Engine::with_rules(Arc::new(rs));
    let mut events: Vec<(Ts, usize, Event)> = vec![];
    for (i, te) in test.events.iter().enumerate() {
        for k in 0..te.repeat {
            let time = te.at + Ts::from(k) * te.every;
            let syms = engine.symbols_mut();
            let ev = match &te.record {
                TestRecord::Auth {
                    identity,
                    src,
                    dst,
                    protocol,
                    logon_type,
                    outcome,
                } => Event::Auth(AuthEvent {
                    time,
                    identity: syms.intern(identity.as_bytes()),
                    src: src.as_ref().map(|s| syms.intern(s.as_bytes())),
                    dst: syms.intern(dst.as_bytes()),
                    service: None,
                    protocol: AuthProtocol::parse(protocol.as_bytes()),
                    logon: LogonType::parse(logon_type.as_bytes()),
                    orientation: Orientation::LogOn,
                    outcome: Outcome::parse(outcome.as_bytes()).unwrap_or(Outcome::Success),
                    credential: None,
                }),
                TestRecord::Flow {
                    src,
                    dst,
                    port,
                    bytes,
                } => Event::Flow(FlowEvent {
                    time,
                    duration: 0,
                    src: syms.intern(src.as_bytes()),
                    dst: syms.intern(dst.as_bytes()),
                    src_port: 0,
                    dst_port: *port,
                    protocol: 6,
                    packets: 1,
                    bytes: *bytes,
                }),
            };
            events.push((time, i, ev));
        }
    }
    events.sort_by_key(|&(t, i, _)| (t, i));
    let mut alerts = vec![];
    for (_, _, ev) in events {
        // Test events are in order; nothing can be late.
        let _ = engine.push(ev, &mut alerts);
    }
    engine.finish(&mut alerts);
    let mut unmatched: Vec<&Alert> = alerts.iter().collect();
    let mut missing = vec![];
    for e in &test.expect {
        match unmatched.iter().position(|a| expected_matches(e, a)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => missing.push(format!(
                "expected {} for {}{}",
                e.rule,
                e.identity,
                e.dst.as_ref().map_or(String::new(), |d| format!(" → {d}"))
            )),
        }
    }
    let extra: Vec<String> = unmatched
        .iter()
        .map(|a| {
            format!(
                "unexpected {} for {} → {} (score {}: {})",
                a.rule, a.identity, a.dst, a.score, a.summary
            )
        })
        .collect();
    let passed = missing.is_empty() && extra.is_empty();
    TestOutcome {
        name: test.name.clone(),
        origin: test.origin.clone(),
        passed,
        detail: missing
            .into_iter()
            .chain(extra)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Runs every test of the rule set.
pub fn run_tests(rules: &RuleSet) -> Vec<TestOutcome> {
    rules.tests.iter().map(|t| run_test(rules, t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_pass_their_own_tests() {
        let rules = reachwatch_rules::builtin();
        assert!(rules.tests.len() >= 9);
        let outcomes = run_tests(&rules);
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| format!("{} ({}): {}", o.name, o.origin, o.detail))
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn a_wrong_expectation_fails_with_a_reason() {
        let mut rules = reachwatch_rules::builtin();
        let test = rules
            .tests
            .iter_mut()
            .find(|t| t.name.contains("interactively"))
            .unwrap();
        test.expect[0].rule = "new-source".into();
        let test = test.clone();
        let o = run_test(&rules, &test);
        assert!(!o.passed);
        assert!(
            o.detail.contains("expected new-source for svc_backup@CORP"),
            "{}",
            o.detail
        );
        assert!(
            o.detail.contains("unexpected interactive-machine-identity"),
            "{}",
            o.detail
        );
    }
}
