//! A least-reach policy beside the reach it governs: an identity's grant next to what it
//! reaches, and the graph's edges the policy would remove (`serve --policy FILE`).

use crate::graph::{Edge, ReachGraph};
use crate::html::{url, Esc};
use reachwatch_model::policy::{Judge, Reach, Verdict};
use std::fmt::Write as _;

/// Rows listed in the table of removed paths.
const MAX_LISTED: usize = 1_000;

/// What the policy says of one edge of the graph (an identity reaching a host, from any of its
/// sources): `None` when the identity is out of the policy's scope.
pub fn verdict(judge: &Judge, g: &ReachGraph, e: &Edge) -> Option<Verdict> {
    let id = &g.identities[e.identity];
    let reach = Reach {
        identity: &id.name,
        kind: &id.kind,
        env: id.env.as_deref(),
        src: None,
        dst: &g.hosts[e.host].name,
        port: 0,
    };
    match judge.judge(&reach) {
        Verdict::OutOfScope => None,
        v => Some(v),
    }
}

/// The edge's cell in an identity's table of destinations.
pub fn cell(judge: &Judge, g: &ReachGraph, e: &Edge) -> String {
    match verdict(judge, g, e) {
        None => "<td class=\"muted\">out of scope</td>".to_string(),
        Some(Verdict::Allowed) => "<td class=\"allowed\">allowed</td>".to_string(),
        Some(Verdict::Blocked(b)) => format!(
            "<td class=\"outside\" title=\"the policy would remove this path\">outside ({})</td>",
            Esc(b.name())
        ),
        Some(Verdict::OutOfScope) => unreachable!("filtered above"),
    }
}

/// The identity's grant: its sources and allowed destinations with their ports.
pub fn grant_section(judge: &Judge, identity: &str, kind: &str, env: Option<&str>) -> String {
    let mut b = String::from("<h2 title=\"from the policy file given to serve\">Policy</h2>");
    if !judge.in_scope(identity, kind, env) {
        b.push_str("<p class=\"note\">Out of the policy's scope: it governs other identities.</p>");
        return b;
    }
    let Some(grant) = judge.grant_of(identity) else {
        b.push_str("<p class=\"note\">No grant: in a default-deny policy, everything it reaches is outside.</p>");
        return b;
    };
    let sources = grant
        .members
        .iter()
        .find(|m| m.identity.eq_ignore_ascii_case(identity))
        .map(|m| m.sources.join(", "))
        .unwrap_or_default();
    let _ = write!(
        b,
        "<dl class=\"facts\"><dt>grant</dt><dd>{}</dd><dt>allowed sources</dt><dd>{}</dd></dl>\
         <table class=\"policy\"><thead><tr><th>allowed destination</th><th>ports</th></tr></thead><tbody>",
        Esc(&grant.name),
        Esc(&sources)
    );
    for a in &grant.allow {
        let ports: Vec<String> = a.ports.iter().map(u16::to_string).collect();
        let _ = write!(
            b,
            "<tr data-allow=\"{}\"><td class=\"name\">{}</td><td>{}</td></tr>",
            Esc(&a.dst),
            Esc(&a.dst),
            Esc(&ports.join(", "))
        );
    }
    b.push_str("</tbody></table>");
    b
}

/// The table of the graph's edges the policy would remove, most used first.
pub fn removed_section(judge: &Judge, g: &ReachGraph, base: &str) -> String {
    let mut removed: Vec<(&Edge, &'static str)> = g
        .edges
        .iter()
        .filter_map(|e| match verdict(judge, g, e) {
            Some(Verdict::Blocked(b)) => Some((e, b.name())),
            _ => None,
        })
        .collect();
    removed.sort_by(|(a, _), (b, _)| {
        b.count
            .cmp(&a.count)
            .then_with(|| {
                g.identities[a.identity]
                    .name
                    .cmp(&g.identities[b.identity].name)
            })
            .then_with(|| g.hosts[a.host].name.cmp(&g.hosts[b.host].name))
    });
    let mut b = format!(
        "<h2 title=\"edges of the reach graph the policy given to serve does not allow\">Paths the policy would remove ({})</h2>",
        removed.len()
    );
    if removed.is_empty() {
        b.push_str(
            "<p class=\"muted\">None: every path of identities in its scope is allowed.</p>",
        );
        return b;
    }
    b.push_str("<table class=\"removed\"><thead><tr><th>identity</th><th>destination</th><th class=\"num\">uses</th><th>why</th></tr></thead><tbody>");
    for (e, why) in removed.iter().take(MAX_LISTED) {
        let (id, host) = (&g.identities[e.identity].name, &g.hosts[e.host].name);
        let _ = write!(
            b,
            "<tr data-removed=\"{}|{}\"><td class=\"name\"><a href=\"{base}/identities/{}\">{}</a></td><td class=\"name\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            Esc(id),
            Esc(host),
            url(id),
            Esc(id),
            Esc(host),
            e.count,
            why
        );
    }
    b.push_str("</tbody></table>");
    b
}
