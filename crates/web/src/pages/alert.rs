//! `/alerts/{id}`: the alert's neighbourhood picture, its features with their weights as bars,
//! the baseline, the peers, the chain's path and every grouped observation.

use super::{input_warnings, Page, SVG};
use crate::html::{identity_link, page, severity, time, time_cell, Esc};
use crate::neighbourhood::Neighbourhood;
use crate::picture;
use crate::Snapshot;
use reachwatch_model::alert::Step;
use reachwatch_model::Alert;
use std::fmt::Write as _;

/// The picture alone, as a standalone SVG document.
pub fn svg(s: &Snapshot, base: &str, id: &str) -> Page {
    match s.alerts.get(id) {
        Some(a) => Page {
            status: 200,
            content_type: SVG,
            body: picture::draw(a, &Neighbourhood::of(a, s.graph.as_ref()), base),
        },
        None => Page::not_found(base, &format!("no alert {id}")),
    }
}

/// The alert page.
pub fn render(s: &Snapshot, base: &str, id: &str) -> Page {
    match s.alerts.get(id) {
        Some(a) => Page::html(page(
            base,
            &format!("{} · {}", a.rule, a.identity),
            &(input_warnings(s) + &body(a, s, base)),
        )),
        None => Page::not_found(base, &format!("no alert {id} in {}", s.origin)),
    }
}

fn steps_table(steps: &[Step], base: &str) -> String {
    let mut t = String::from(
        "<table><thead><tr><th>time</th><th>identity</th><th>source</th><th>destination</th>\
         <th title=\"service or port\">service</th><th title=\"auth: a logon; auth_failure: a failed one; flow: traffic with no authentication\">via</th></tr></thead><tbody>",
    );
    for st in steps {
        let _ = write!(
            t,
            "<tr><td class=\"nowrap\">{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td></tr>",
            time_cell(st.time.0),
            identity_link(base, &st.identity),
            Esc(st.src.as_deref().unwrap_or("?")),
            Esc(&st.dst),
            Esc(st.service.as_deref().unwrap_or("")),
            Esc(&st.via)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn legend(n: &Neighbourhood) -> String {
    let mut l = String::from(
        "<div class=\"legend\"><span><i class=\"swatch\" style=\"background:#9ca3af\"></i>baseline (before this alert; thicker: more use)</span>\
         <span><i class=\"swatch\" style=\"background:#dc2626\"></i>new in this alert (dashed: failed only)</span>",
    );
    if n.hop_in.is_some() {
        l.push_str(
            "<span><i class=\"swatch\" style=\"background:#ea580c\"></i>hop in of the chain</span>",
        );
    }
    if !n.peers.is_empty() {
        l.push_str("<span><i class=\"swatch\" style=\"background:#818cf8\"></i>other identities reaching the destination</span>");
    }
    l.push_str("<span>red box: named by the alert · purple outline: crown jewel · hover anything for details</span></div>");
    if !n.has_graph {
        l.push_str("<p class=\"note\">No reach graph loaded (<code>--graph</code>): the baseline destinations and peers are not drawn; the alert's own baseline is below.</p>");
    }
    l
}

fn body(a: &Alert, s: &Snapshot, base: &str) -> String {
    let ev = &a.evidence;
    let n = Neighbourhood::of(a, s.graph.as_ref());
    let mut b = String::with_capacity(32 * 1024);
    let _ = write!(
        b,
        "<h1>{} <span class=\"muted\">·</span> {}</h1><p class=\"summary\">{}</p><dl class=\"facts\">\
         <dt>identity</dt><dd>{} ({} identity)</dd><dt>time</dt><dd>{}{}</dd>\
         <dt>severity</dt><dd>{} score {}</dd><dt>source → destination</dt><dd>{} → {}{}</dd>\
         <dt title=\"MITRE ATT&amp;CK techniques\">ATT&amp;CK</dt><dd>{}</dd><dt>alert id</dt><dd>{}</dd></dl>",
        Esc(&a.rule),
        Esc(&a.identity),
        Esc(&a.summary),
        identity_link(base, &a.identity),
        Esc(&a.identity_kind),
        time_cell(a.time.0),
        a.timestamp
            .as_deref()
            .map_or(String::new(), |t| format!(" ({})", Esc(t))),
        severity(a.severity.name()),
        a.score,
        Esc(a.src.as_deref().unwrap_or("?")),
        Esc(&a.dst),
        a.service
            .as_deref()
            .map_or(String::new(), |s| format!(" service {}", Esc(s))),
        Esc(&a.attack.join(", ")),
        Esc(&a.id),
    );
    let _ = write!(
        b,
        "<h2>Neighbourhood</h2><div class=\"figure\">{}</div>{}",
        picture::draw(a, &n, base),
        legend(&n)
    );

    b.push_str("<h2>Features</h2><table><thead><tr><th>feature</th><th class=\"num\">weight</th><th title=\"points added to the score (green: points taken off)\">contribution</th><th>why</th></tr></thead><tbody>");
    let max = ev
        .features
        .iter()
        .map(|f| f.weight.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1);
    for f in &ev.features {
        let width = 160 * f.weight.unsigned_abs() / max;
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"num\">{:+}</td><td><span class=\"bar {}\" style=\"width:{width}px\" title=\"{:+} points\"></span></td><td>{}</td></tr>",
            Esc(&f.name),
            f.weight,
            if f.weight < 0 { "neg" } else { "pos" },
            f.weight,
            Esc(&f.detail)
        );
    }
    b.push_str("</tbody></table>");

    let bl = &ev.baseline;
    let _ = write!(
        b,
        "<h2>Baseline before the alert</h2><dl class=\"facts\"><dt>first seen</dt><dd>{}</dd>\
         <dt>observations</dt><dd>{}</dd><dt>destinations</dt><dd>{}</dd><dt>sources</dt><dd>{}</dd>\
         <dt>destination groups</dt><dd>{}</dd><dt>protocols</dt><dd>{}</dd></dl>",
        time(bl.first_seen.0),
        bl.observations,
        bl.destinations,
        Esc(&bl.sources.join(", ")),
        Esc(&bl.destination_groups.join(", ")),
        Esc(&bl.protocols.join(", "))
    );
    let _ = write!(
        b,
        "<h2>Peers</h2><p>Peer group <b>{}</b>: {} of its identities reach {}; {} identities of any kind reach it.</p>",
        Esc(&ev.peers.group),
        ev.peers.group_reaching_dst,
        Esc(&a.dst),
        ev.peers.identities_reaching_dst
    );
    if !ev.path.is_empty() {
        b.push_str("<h2>Chain</h2><p>The hop into the intermediate host, then the hop out of it with another identity:</p>");
        b.push_str(&steps_table(&ev.path, base));
    }
    let _ = write!(
        b,
        "<h2>Observations</h2><p class=\"muted\">{} grouped into this alert from {} to {}{}; destinations: {}.</p>",
        ev.observation_count,
        time(ev.first_time.0),
        time(ev.last_time.0),
        if (ev.observation_count as usize) > ev.observations.len() {
            format!(" (the first {} are listed)", ev.observations.len())
        } else {
            String::new()
        },
        Esc(&ev.destinations.join(", "))
    );
    b.push_str(&steps_table(&ev.observations, base));
    b
}
