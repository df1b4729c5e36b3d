//! The `identities` section: machine and unknown patterns, identity groups.

use super::draft::Draft;
use crate::ruleset::IdentityGroup;
use crate::yaml::{lower_globs, required, Doc};
use marked_yaml::Node;

pub(super) fn identities(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`identities`") else {
        return;
    };
    doc.keys(map, "`identities`", &["machine", "unknown", "groups"]);
    if let Some(v) = map
        .get_node("machine")
        .and_then(|n| lower_globs(doc, n, "`identities.machine`"))
    {
        d.machine.extend(v);
    }
    if let Some(v) = map
        .get_node("unknown")
        .and_then(|n| lower_globs(doc, n, "`identities.unknown`"))
    {
        d.unknown.extend(v);
    }
    if let Some(seq) = map
        .get_node("groups")
        .and_then(|n| doc.sequence(n, "`identities.groups`"))
    {
        for item in seq.iter() {
            let Some(g) = doc.mapping(item, "an identity group") else {
                continue;
            };
            doc.keys(g, "an identity group", &["name", "match", "environment"]);
            let name = required(doc, g, "name", "an identity group")
                .and_then(|n| doc.nonempty(n, "`name`"));
            let patterns = required(doc, g, "match", "an identity group")
                .and_then(|n| lower_globs(doc, n, "`match`"));
            let environment = g
                .get_node("environment")
                .and_then(|n| doc.nonempty(n, "`environment`"));
            if let (Some(name), Some(patterns)) = (name, patterns) {
                let pos = doc.node_pos(item);
                if let Some((first, _)) = d.groups.iter().find(|(_, x)| x.name == name) {
                    let first = first.clone();
                    doc.error_at(
                        pos,
                        format!("duplicate identity group `{name}` (first defined at {first})"),
                    );
                    continue;
                }
                d.groups.push((
                    pos,
                    IdentityGroup {
                        name,
                        patterns,
                        environment,
                    },
                ));
            }
        }
    }
}
