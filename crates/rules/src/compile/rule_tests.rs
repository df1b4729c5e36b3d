//! The `tests` section (rule tests: events in, expected alerts out), and the check that tests
//! expect existing detections.

use super::draft::Draft;
use crate::error::{Pos, Problem};
use crate::ruleset::{Expect, RuleTest, TestEvent, TestRecord};
use crate::yaml::{required, Doc};
use marked_yaml::Node;

pub(super) fn tests(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`tests`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "a rule test") else {
            continue;
        };
        doc.keys(m, "a rule test", &["name", "learn", "events", "expect"]);
        let name = required(doc, m, "name", "a rule test").and_then(|n| doc.nonempty(n, "`name`"));
        let learn =
            required(doc, m, "learn", "a rule test").and_then(|n| doc.duration(n, "`learn`"));
        let mut events = vec![];
        let mut ok = true;
        if let Some(seq) =
            required(doc, m, "events", "a rule test").and_then(|n| doc.sequence(n, "`events`"))
        {
            for ev in seq.iter() {
                match test_event(doc, ev) {
                    Some(e) => events.push(e),
                    None => ok = false,
                }
            }
        }
        let mut expect = vec![];
        if let Some(seq) = required(doc, m, "expect", "a rule test")
            .and_then(|n| doc.sequence(n, "`expect` (a list, empty for no alerts)"))
        {
            for e in seq.iter() {
                let Some(em) = doc.mapping(e, "an expected alert") else {
                    ok = false;
                    continue;
                };
                doc.keys(em, "an expected alert", &["rule", "identity", "dst"]);
                let rule = required(doc, em, "rule", "an expected alert")
                    .and_then(|n| doc.nonempty(n, "`rule`"));
                let identity = required(doc, em, "identity", "an expected alert")
                    .and_then(|n| doc.nonempty(n, "`identity`"));
                let dst = em.get_node("dst").and_then(|n| doc.nonempty(n, "`dst`"));
                match (rule, identity) {
                    (Some(rule), Some(identity)) => expect.push(Expect {
                        rule,
                        identity,
                        dst,
                    }),
                    _ => ok = false,
                }
            }
        }
        if let (Some(name), Some(learn), true) = (name, learn, ok) {
            d.tests.push(RuleTest {
                name,
                origin: doc.node_pos(item).to_string(),
                learn,
                events,
                expect,
            });
        }
    }
}

fn test_event(doc: &mut Doc<'_>, node: &Node) -> Option<TestEvent> {
    let m = doc.mapping(node, "a test event")?;
    doc.keys(
        m,
        "a test event",
        &["at", "repeat", "every", "auth", "flow"],
    );
    let at = required(doc, m, "at", "a test event").and_then(|n| doc.duration(n, "`at`"))?;
    let repeat = m
        .get_node("repeat")
        .map_or(Some(1), |n| doc.integer(n, "`repeat`", 1, 100_000))? as u32;
    let every = match m.get_node("every") {
        Some(n) => doc.duration(n, "`every`")?,
        None if repeat > 1 => {
            let pos = doc.map_pos(m);
            doc.error_at(pos, "a test event with `repeat` needs `every`");
            return None;
        }
        None => 0,
    };
    let record = match (m.get_node("auth"), m.get_node("flow")) {
        (Some(a), None) => {
            let am = doc.mapping(a, "`auth`")?;
            doc.keys(
                am,
                "`auth`",
                &[
                    "identity",
                    "src",
                    "dst",
                    "protocol",
                    "logon_type",
                    "outcome",
                ],
            );
            let identity = required(doc, am, "identity", "`auth`")
                .and_then(|n| doc.nonempty(n, "`identity`"))?;
            let dst = required(doc, am, "dst", "`auth`").and_then(|n| doc.nonempty(n, "`dst`"))?;
            let src = am.get_node("src").and_then(|n| doc.nonempty(n, "`src`"));
            let text = |doc: &mut Doc<'_>,
                        k: &str,
                        default: &str,
                        valid: &dyn Fn(&str) -> bool,
                        expected: &str| match am.get_node(k) {
                None => Some(default.to_string()),
                Some(n) => {
                    let v = doc.nonempty(n, &format!("`{k}`"))?;
                    if valid(&v) {
                        Some(v)
                    } else {
                        doc.error(n.span(), format!("`{k}` `{v}` is not one of {expected}"));
                        None
                    }
                }
            };
            use reachwatch_model::{AuthProtocol, LogonType, Outcome};
            TestRecord::Auth {
                identity,
                src,
                dst,
                protocol: text(doc, "protocol", "kerberos", &|v| AuthProtocol::parse(v.as_bytes()) != AuthProtocol::Other || v == "other", "kerberos, ntlm, negotiate, oauth, mtls, cleartext, other, unknown")?,
                logon_type: text(doc, "logon_type", "network", &|v| LogonType::parse(v.as_bytes()) != LogonType::Other || v == "other", "network, interactive, remote_interactive, cached_interactive, batch, service, network_cleartext, new_credentials, unlock, other, unknown")?,
                outcome: text(doc, "outcome", "success", &|v| Outcome::parse(v.as_bytes()).is_some(), "success, failure")?,
            }
        }
        (None, Some(f)) => {
            let fm = doc.mapping(f, "`flow`")?;
            doc.keys(fm, "`flow`", &["src", "dst", "port", "bytes"]);
            TestRecord::Flow {
                src: required(doc, fm, "src", "`flow`").and_then(|n| doc.nonempty(n, "`src`"))?,
                dst: required(doc, fm, "dst", "`flow`").and_then(|n| doc.nonempty(n, "`dst`"))?,
                port: required(doc, fm, "port", "`flow`")
                    .and_then(|n| doc.integer(n, "`port`", 0, 65535))? as u16,
                bytes: fm
                    .get_node("bytes")
                    .map_or(Some(100), |n| doc.integer(n, "`bytes`", 0, i64::MAX))?
                    as u64,
            }
        }
        _ => {
            doc.error_at(
                doc.map_pos(m),
                "a test event needs exactly one of `auth` or `flow`",
            );
            return None;
        }
    };
    Some(TestEvent {
        at,
        repeat,
        every,
        record,
    })
}

/// Reports every detection a rule test expects that no file defines.
pub(super) fn check_expectations(d: &Draft, whole: &Pos, problems: &mut Vec<Problem>) {
    for t in &d.tests {
        for e in &t.expect {
            if !d.detections.iter().any(|x| x.id == e.rule) {
                problems.push(Problem {
                    pos: whole.clone(),
                    message: format!(
                        "test `{}` ({}) expects unknown detection `{}`",
                        t.name, t.origin, e.rule
                    ),
                });
            }
        }
    }
}
