//! `/map`: the reach map with its grouping controls, the picture, and tables of every group
//! and cluster (the picture gathers all but the largest).

use super::{input_warnings, Page};
use crate::html::{page, url, Esc};
use crate::mapview::{aggregate, draw, MapNode, MapQuery, ReachMap};
use crate::Snapshot;
use std::collections::HashSet;
use std::fmt::Write as _;

fn choice(
    base: &str,
    q: &MapQuery,
    key: &str,
    label: &str,
    options: &[(&str, &str)],
    current: &str,
) -> String {
    let mut s = format!("<span class=\"muted\">{label}:</span> ");
    for (value, name) in options {
        let _ = write!(
            s,
            "<a href=\"{base}/map{}\"{}>{name}</a> ",
            Esc(&q.with(key, value)),
            if *value == current {
                " class=\"on\""
            } else {
                ""
            }
        );
    }
    s
}

fn table(
    title: &str,
    nodes: &[MapNode],
    what: &str,
    href: &dyn Fn(&MapNode) -> Option<String>,
) -> String {
    let mut t = format!(
        "<h2>{}</h2><table><thead><tr><th>name</th><th class=\"num\">{what}</th><th class=\"num\" title=\"observations of their edges\">uses</th><th>environment</th><th class=\"num\" title=\"identities with alerts\">alerted</th></tr></thead><tbody>",
        Esc(title)
    );
    let mut rows: Vec<&MapNode> = nodes.iter().collect();
    rows.sort_by(|a, b| b.uses.cmp(&a.uses).then_with(|| a.key.cmp(&b.key)));
    let more = rows.len().saturating_sub(MAX_ROWS);
    for n in rows.into_iter().take(MAX_ROWS) {
        let name = match href(n) {
            Some(h) => format!("<a href=\"{}\">{}</a>", Esc(&h), Esc(&n.key)),
            None => Esc(&n.key).to_string(),
        };
        let _ = write!(
            t,
            "<tr><td class=\"name\">{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            n.members,
            n.uses,
            Esc(n.env.as_deref().unwrap_or("")),
            if n.alerted > 0 { n.alerted.to_string() } else { String::new() }
        );
    }
    t.push_str("</tbody></table>");
    if more > 0 {
        let _ = write!(
            t,
            "<p class=\"muted\">{more} more, less used, not listed: drill into a group or filter by kind.</p>"
        );
    }
    t
}

/// Rows of a table under the map (the most used first).
const MAX_ROWS: usize = 1000;

/// Renders the map for a query string.
pub fn render(s: &Snapshot, base: &str, query: Option<&str>) -> Page {
    let mut b = input_warnings(s);
    b.push_str("<h1>Reach map</h1>");
    let Some(g) = s.graph.as_ref() else {
        b.push_str("<p class=\"note\">No reach graph loaded: start with <code>--graph DIR</code> (what <code>replay --graph-out</code> writes, or a <code>run</code> checkpoint directory).</p>");
        return Page::html(page(base, "Reach map", &b));
    };
    let q = MapQuery::from_query(query, g);
    let alerted: HashSet<String> = s
        .alerts
        .all()
        .iter()
        .map(|a| a.identity.to_lowercase())
        .collect();
    let m: ReachMap = aggregate(g, &q, &alerted);
    let mut identity_groupings = vec![("group", "peer group")];
    if g.has_communities {
        identity_groupings.push(("community", "community"));
    }
    let mut host_groupings = vec![("env", "environment"), ("group", "host group")];
    if g.hosts.iter().any(|h| h.community.is_some()) {
        host_groupings.push(("community", "community"));
    }
    let _ = write!(
        b,
        "<div class=\"counts\">{}</div><div class=\"counts\">{}</div><div class=\"counts\">{}</div>",
        choice(base, &q, "by", "identities by", &identity_groupings, &q.by),
        choice(base, &q, "hosts", "hosts by", &host_groupings, &q.hosts),
        choice(
            base,
            &q,
            "kind",
            "identity kind",
            &[("", "all"), ("machine", "machine"), ("human", "human"), ("unknown", "unknown")],
            &q.kind
        ),
    );
    if !q.group.is_empty() || !q.cluster.is_empty() {
        let _ = write!(
            b,
            "<p>Showing {}{}. <a href=\"{base}/map{}\">Back to the whole map</a></p>",
            if q.group.is_empty() {
                String::new()
            } else {
                format!("the identities of <b>{}</b> ", Esc(&q.group))
            },
            if q.cluster.is_empty() {
                String::new()
            } else {
                format!("the hosts of <b>{}</b>", Esc(&q.cluster))
            },
            Esc(&MapQuery {
                group: String::new(),
                cluster: String::new(),
                ..q.clone()
            }
            .with("", ""))
        );
    }
    let left_href = |n: &MapNode| -> Option<String> {
        if n.other {
            None
        } else if m.left_identities {
            Some(format!("{base}/identities/{}", url(&n.key)))
        } else {
            Some(format!("{base}/map{}", q.with("group", &n.key)))
        }
    };
    let right_href = |n: &MapNode| -> Option<String> {
        (!n.other && !m.right_hosts).then(|| format!("{base}/map{}", q.with("cluster", &n.key)))
    };
    let _ = write!(
        b,
        "<div class=\"figure\">{}</div><div class=\"legend\"><span><i class=\"swatch\" style=\"background:#94a3b8\"></i>reach (thicker: more use)</span>\
         <span><i class=\"swatch\" style=\"background:#ea580c\"></i>environment crossing: non-production identities reaching production hosts</span>\
         <span>red box: identities with alerts · click a box to drill down · hover for counts</span></div>",
        draw(&m, &q, &left_href, &right_href)
    );
    let crossings: usize = m.links.iter().map(|l| l.crossings).sum();
    let _ = write!(
        b,
        "<p class=\"muted\">{} identity → host edges, {} of them across environments.</p>",
        m.links.iter().map(|l| l.edges).sum::<usize>(),
        crossings
    );
    let (lt, what_l) = if m.left_identities {
        ("Identities", "identities")
    } else {
        ("Identity groups", "identities")
    };
    b.push_str(&table(lt, &m.all_left, what_l, &left_href));
    b.push_str(&table(
        if m.right_hosts {
            "Hosts"
        } else {
            "Host clusters"
        },
        &m.all_right,
        "hosts",
        &right_href,
    ));
    if let (Some(judge), Some(g)) = (&s.policy, &s.graph) {
        b.push_str(&crate::policy::removed_section(judge, g, base));
    }
    Page::html(page(base, "Reach map", &b))
}
