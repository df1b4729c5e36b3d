//! The `exceptions` section, and the check that exceptions name existing detections.

use super::draft::Draft;
use crate::error::Problem;
use crate::ruleset::Exception;
use crate::yaml::{lower_globs, required, Doc};
use marked_yaml::Node;

pub(super) fn exceptions(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`exceptions`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "an exception") else {
            continue;
        };
        doc.keys(
            m,
            "an exception",
            &[
                "name",
                "rules",
                "identity",
                "source",
                "destination",
                "service",
                "from",
                "until",
                "expires",
                "reason",
            ],
        );
        let Some(name) =
            required(doc, m, "name", "an exception").and_then(|n| doc.nonempty(n, "`name`"))
        else {
            continue;
        };
        let pos = doc.node_pos(item);
        if let Some((first, _, _)) = d.exceptions.iter().find(|(_, e, _)| e.name == name) {
            let first = first.clone();
            doc.error_at(
                pos,
                format!("duplicate exception `{name}` (first defined at {first})"),
            );
            continue;
        }
        let globs = |doc: &mut Doc<'_>, k: &str| {
            m.get_node(k)
                .map_or(Some(vec![]), |n| lower_globs(doc, n, &format!("`{k}`")))
        };
        let identity = globs(doc, "identity");
        let source = globs(doc, "source");
        let destination = globs(doc, "destination");
        let service = globs(doc, "service");
        let mut rule_refs = vec![];
        let rules = match m.get_node("rules") {
            None => Some(vec![]),
            Some(n) => doc.strings(n, "`rules`").inspect(|v| {
                for r in v {
                    rule_refs.push((doc.pos(n.span()), r.clone()));
                }
            }),
        };
        let time =
            |doc: &mut Doc<'_>, k: &str| m.get_node(k).map(|n| doc.timestamp(n, &format!("`{k}`")));
        let from = time(doc, "from");
        let until = time(doc, "until");
        let expires = time(doc, "expires");
        let reason = m
            .get_node("reason")
            .and_then(|n| doc.string(n, "`reason`"))
            .unwrap_or_default();
        if [&from, &until, &expires]
            .iter()
            .any(|t| matches!(t, Some(None)))
        {
            continue;
        }
        let (Some(identity), Some(source), Some(destination), Some(service), Some(rules)) =
            (identity, source, destination, service, rules)
        else {
            continue;
        };
        if identity.is_empty() && source.is_empty() && destination.is_empty() && service.is_empty()
        {
            doc.error_node(item, format!("exception `{name}` needs at least one of `identity`, `source`, `destination`, `service` (it would silence everything)"));
            continue;
        }
        d.exceptions.push((
            pos,
            Exception {
                name,
                rules,
                identity,
                source,
                destination,
                service,
                from: from.flatten(),
                until: until.flatten(),
                expires: expires.flatten(),
                reason,
            },
            rule_refs,
        ));
    }
}

/// Reports every detection an exception names that no file defines.
pub(super) fn check_references(d: &Draft, problems: &mut Vec<Problem>) {
    for (_, e, refs) in &d.exceptions {
        for (pos, r) in refs {
            if !d.detections.iter().any(|x| &x.id == r) {
                problems.push(Problem {
                    pos: pos.clone(),
                    message: format!("exception `{}` names unknown detection `{r}`", e.name),
                });
            }
        }
    }
}
