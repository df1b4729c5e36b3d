//! `/identities/{name}`: what an identity reaches over time, its sources, its environments,
//! its blast radius (as `reachwatch graph blast-radius`) and its alerts.

use super::{input_warnings, Page};
use crate::html::{page, severity, time, time_cell, url, Esc};
use crate::{timeline, Snapshot};
use reachwatch_model::Alert;
use std::fmt::Write as _;

/// The identity page (the name is matched case-insensitively).
pub fn render(s: &Snapshot, base: &str, name: &str) -> Page {
    let alerts: Vec<&Alert> = s.alerts.of_identity(name).collect();
    let found = s
        .graph
        .as_ref()
        .and_then(|g| g.identity(name).map(|i| (g, i)));
    if found.is_none() && alerts.is_empty() {
        return Page::not_found(
            base,
            &format!("no identity {name} in the alerts or the reach graph"),
        );
    }
    let shown = found
        .map(|(g, i)| g.identities[i].name.clone())
        .or_else(|| alerts.first().map(|a| a.identity.clone()))
        .unwrap_or_else(|| name.to_string());
    let mut b = input_warnings(s);
    let _ = write!(b, "<h1>{}</h1>", Esc(&shown));
    match found {
        Some((g, i)) => {
            let id = &g.identities[i];
            let edges = g.edges_of(i);
            let cluster = g.identity_cluster(i);
            let _ = write!(
                b,
                "<dl class=\"facts\"><dt>kind</dt><dd>{}</dd><dt title=\"identities grouped by name stem or the rules' groups{}\">peer group</dt><dd><a href=\"{base}/map{}\" title=\"the group's members and what they reach\">{}</a></dd>\
                 <dt>environment</dt><dd>{}</dd><dt>home host</dt><dd>{}</dd><dt>first seen</dt><dd>{}</dd><dt>last seen</dt><dd>{}</dd>\
                 <dt>observations</dt><dd>{}</dd><dt title=\"hosts it was used from\">sources</dt><dd>{}</dd>\
                 <dt title=\"environments of the hosts it reaches\">reaches environments</dt><dd>{}</dd></dl>",
                Esc(&id.kind),
                if g.has_communities { ", or by behaviour (community)" } else { "" },
                Esc(&crate::html::query([("group", cluster)])),
                Esc(cluster),
                Esc(id.env.as_deref().unwrap_or("unknown")),
                Esc(id.home.as_deref().unwrap_or("unknown")),
                time(id.first_seen as f64),
                time(id.last_seen as f64),
                id.observations,
                Esc(&id.sources.join(", ")),
                Esc(&id.dst_envs.join(", ")),
            );
            let _ = write!(
                b,
                "<h2>Reach over time</h2><div class=\"figure\">{}</div><p class=\"legend\">A dot per destination at its first use, in the row of its environment (purple: crown jewel); red diamonds: alerts. Hover for details.</p>",
                timeline::draw(g, edges, &alerts, base, &shown)
            );
            b.push_str(&blast(g, i));
            if let Some(judge) = &s.policy {
                b.push_str(&crate::policy::grant_section(
                    judge,
                    &id.name,
                    &id.kind,
                    id.env.as_deref(),
                ));
            }
            let policy_head = if s.policy.is_some() {
                "<th title=\"what the policy given to serve says of the path\">policy</th>"
            } else {
                ""
            };
            let _ = write!(b, "<h2>Destinations</h2><table><thead><tr><th>first reached</th><th>destination</th><th>environment</th>\
                <th class=\"num\">uses</th><th>last used</th><th title=\"service ports seen in flows\">ports</th><th class=\"num\" title=\"identities that reach this host\">identities</th>{policy_head}</tr></thead><tbody>");
            let mut by_time: Vec<_> = edges.iter().collect();
            by_time.sort_by(|a, b| {
                a.first_seen
                    .cmp(&b.first_seen)
                    .then_with(|| g.hosts[a.host].name.cmp(&g.hosts[b.host].name))
            });
            for e in by_time {
                let h = &g.hosts[e.host];
                let policy_cell = s
                    .policy
                    .as_ref()
                    .map(|j| crate::policy::cell(j, g, e))
                    .unwrap_or_default();
                let _ = write!(
                    b,
                    "<tr data-dst=\"{}\"><td class=\"nowrap\">{}</td><td class=\"name\">{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td class=\"num\">{}</td>{policy_cell}</tr>",
                    Esc(&h.name),
                    time_cell(e.first_seen as f64),
                    Esc(&h.name),
                    if h.crown_jewel { " <span title=\"crown jewel in the inventory\">♛</span>" } else { "" },
                    Esc(h.env.as_deref().unwrap_or("")),
                    e.count,
                    time_cell(e.last_seen as f64),
                    Esc(&e.ports),
                    e.dst_identities
                );
            }
            b.push_str("</tbody></table>");
        }
        None => b.push_str(
            "<p class=\"note\">Not in the reach graph (none was loaded, or it does not know this identity): only its alerts are shown.</p>",
        ),
    }
    let _ = write!(b, "<h2>Alerts ({})</h2>", alerts.len());
    if !alerts.is_empty() {
        b.push_str("<table><thead><tr><th>time</th><th>rule</th><th>severity</th><th class=\"num\">score</th><th>summary</th></tr></thead><tbody>");
        for a in &alerts {
            let _ = write!(
                b,
                "<tr data-alert=\"{}\"><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"summary\"><a href=\"{base}/alerts/{}\">{}</a></td></tr>",
                Esc(&a.id),
                time_cell(a.time.0),
                Esc(&a.rule),
                severity(a.severity.name()),
                a.score,
                url(&a.id),
                Esc(&a.summary)
            );
        }
        b.push_str("</tbody></table>");
    }
    Page::html(page(base, &shown, &b))
}

fn blast(g: &crate::graph::ReachGraph, i: usize) -> String {
    let Some(r) = g.blast(i) else {
        return String::new();
    };
    let mut b = format!(
        "<h2 title=\"as reachwatch graph blast-radius computes it\">Blast radius</h2><dl class=\"facts\">\
         <dt>hosts</dt><dd>{}</dd><dt title=\"distinct destination ports\">services</dt><dd>{}</dd>\
         <dt>environments</dt><dd>{}</dd><dt>crown jewels</dt><dd>{}</dd>\
         <dt title=\"destinations no other identity reaches\">exclusive edges</dt><dd>{}</dd>\
         <dt title=\"edges not used in the last {} days of the graph: candidates to remove\">unused edges</dt><dd>{}</dd></dl>",
        r.hosts,
        r.services,
        r.environments,
        r.crown_jewels,
        r.exclusive_edges,
        g.blast_window / 86_400,
        r.unused_edges
    );
    if !r.details.is_empty() {
        b.push_str("<table><thead><tr><th>destination</th><th>exclusive</th><th>unused</th></tr></thead><tbody>");
        for (host, excl, unused) in &r.details {
            let _ = write!(
                b,
                "<tr><td class=\"name\">{}</td><td>{}</td><td>{}</td></tr>",
                Esc(host),
                if *excl { "only this identity" } else { "" },
                if *unused { "not used lately" } else { "" }
            );
        }
        b.push_str("</tbody></table>");
    }
    b
}
