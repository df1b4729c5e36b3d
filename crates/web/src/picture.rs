//! The neighbourhood picture of an alert, laid out in fixed columns: (hop in) · sources ·
//! identity · destinations · peers. Rows are ordered by the neighbourhood (the alert's hosts
//! first, then the baseline by use and name), so the same alert always gives the same picture.
//!
//! Elements carry their meaning for tools and tests: host boxes `g.node.host.src|dst` with
//! `data-host`, the identity `g.node.identity` with `data-identity`, red paths
//! `path.edge.new` with `data-src`/`data-dst`, baseline lines `path.edge.baseline`, the chain's
//! `path.edge.hop-in`, peers `path.edge.peer`.

use crate::html::{time, url};
use crate::neighbourhood::{HostNode, Neighbourhood, NewEdge};
use crate::svg::{attr, curve, curve_on, Svg, BOX_H};
use reachwatch_model::Alert;
use std::collections::BTreeSet;

const W: f64 = 150.0;
const ID_W: f64 = 200.0;
const PITCH: f64 = 200.0;
const ROW: f64 = 30.0;
const TOP: f64 = 44.0;
const MARGIN: f64 = 20.0;

/// Column positions (left edges) of a picture.
struct Columns {
    hop_src: f64,
    hop_identity: f64,
    sources: f64,
    identity: f64,
    destinations: f64,
    peers: f64,
    width: f64,
}

impl Columns {
    fn of(n: &Neighbourhood) -> Columns {
        let hop = if n.hop_in.is_some() { 2.0 * PITCH } else { 0.0 };
        let sources = MARGIN + hop;
        let identity = sources + PITCH;
        let destinations = identity + ID_W + PITCH - W;
        let peers = destinations + PITCH;
        let right = if n.peers.is_empty() && n.hidden_peers == 0 {
            destinations + W
        } else {
            peers + W
        };
        Columns {
            hop_src: MARGIN,
            hop_identity: MARGIN + PITCH,
            sources,
            identity,
            destinations,
            peers,
            width: right + MARGIN,
        }
    }
}

/// Vertical centre of row `i` of a column of `n` rows, the columns centred on `mid`.
fn row_y(mid: f64, n: usize, i: usize) -> f64 {
    mid - (n.saturating_sub(1)) as f64 * ROW / 2.0 + i as f64 * ROW
}

fn find(nodes: &[HostNode], name: &str) -> Option<usize> {
    nodes.iter().position(|n| n.name.eq_ignore_ascii_case(name))
}

fn host_tip(n: &HostNode, role: &str, identity: &str) -> String {
    let mut tip = n.name.clone();
    if let Some(e) = &n.env {
        tip.push_str(&format!(" (environment {e})"));
    }
    if n.crown_jewel {
        tip.push_str(" — crown jewel");
    }
    let what = match (role, n.in_alert, n.baseline) {
        ("src", true, true) => format!("\nusual source of {identity}, used in this alert"),
        ("src", true, false) => {
            format!("\nsource of this alert, not among {identity}'s usual sources")
        }
        ("src", false, _) => format!("\nusual source of {identity} (baseline)"),
        (_, true, true) => format!(
            "\nreached in this alert; {identity} already reached it ({} uses)",
            n.uses
        ),
        (_, true, false) => format!("\nreached in this alert; new for {identity}"),
        _ => format!(
            "\nbaseline destination of {identity}: {} uses{}",
            n.uses,
            n.first_seen
                .map_or(String::new(), |t| format!(", first {}", time(t as f64)))
        ),
    };
    tip + &what
}

fn edge_label(e: &NewEdge) -> String {
    let mut parts: Vec<String> = vec![];
    for v in &e.vias {
        parts.push(match v.as_str() {
            "auth_failure" => "failed auth".to_string(),
            other => other.to_string(),
        });
    }
    if !e.services.is_empty() {
        parts.push(
            e.services
                .iter()
                .map(|s| {
                    if s.chars().all(|c| c.is_ascii_digit()) {
                        format!(":{s}")
                    } else {
                        s.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if e.observations > 1 {
        parts.push(format!("×{}", e.observations));
    }
    parts.join(" ")
}

/// The picture of an alert's neighbourhood as a standalone SVG; host boxes link to identity
/// and map pages under `base`.
pub fn draw(alert: &Alert, n: &Neighbourhood, base: &str) -> String {
    let c = Columns::of(n);
    let src_rows = n.sources.len() + usize::from(n.hidden_sources > 0);
    let dst_rows = n.destinations.len() + usize::from(n.hidden_destinations > 0);
    let peer_rows = n.peers.len() + usize::from(n.hidden_peers > 0);
    let rows = src_rows.max(dst_rows).max(peer_rows).max(3);
    let height = TOP + rows as f64 * ROW + MARGIN;
    let mid = TOP + (rows as f64 * ROW) / 2.0;
    let mut svg = Svg::new(
        c.width,
        height,
        &format!(
            "Neighbourhood of {} in alert {} ({})",
            alert.identity, alert.id, alert.rule
        ),
    );
    let sy = |i: usize| row_y(mid, src_rows, i);
    let dy = |i: usize| row_y(mid, dst_rows, i);

    svg.text("col", c.sources + W / 2.0, 20.0, "middle", "used from");
    svg.text("col", c.identity + ID_W / 2.0, 20.0, "middle", "identity");
    svg.text("col", c.destinations + W / 2.0, 20.0, "middle", "reaches");

    // Baseline lines first, so that the alert's paths are drawn over them.
    let (ix, iy) = (c.identity, mid);
    for (i, s) in n.sources.iter().enumerate().filter(|(_, s)| s.baseline) {
        svg.path(
            "baseline src-edge",
            &attr("data-src", &s.name),
            &curve(c.sources + W, sy(i), ix, iy),
            &format!("{} is usually used from {}", n.identity, s.name),
            None,
        );
    }
    for (i, d) in n
        .destinations
        .iter()
        .enumerate()
        .filter(|(_, d)| d.baseline)
    {
        let width = 1.0 + (d.uses.max(1) as f64).log10().min(3.0);
        svg.path(
            "baseline dst-edge",
            &format!(
                "{} style=\"stroke-width:{width:.1}\"",
                attr("data-dst", &d.name)
            ),
            &curve(ix + ID_W, iy, c.destinations, dy(i)),
            &format!(
                "{} reached {} before this alert ({} uses)",
                n.identity, d.name, d.uses
            ),
            Some("rw-arrow-grey"),
        );
    }

    // Peers reaching the alert's destination.
    if let Some(t) = find(&n.destinations, &n.peer_target) {
        let ty = dy(t);
        svg.text(
            "col",
            c.peers + W / 2.0,
            20.0,
            "middle",
            &format!("also reach {}", crate::html::clip(&n.peer_target, 16)),
        );
        let top = (ty - (peer_rows.saturating_sub(1)) as f64 * ROW / 2.0)
            .max(TOP + BOX_H / 2.0)
            .min(height - MARGIN - peer_rows as f64 * ROW + ROW / 2.0);
        for (i, p) in n.peers.iter().enumerate() {
            let py = top + i as f64 * ROW;
            let tip = format!(
                "{} reached {} before this alert ({} uses, first {}){}",
                p.name,
                n.peer_target,
                p.count,
                time(p.first_seen as f64),
                if p.same_group {
                    format!("; same peer group ({})", n.group)
                } else {
                    String::new()
                }
            );
            svg.path(
                "peer",
                &attr("data-peer", &p.name),
                &curve(c.peers, py, c.destinations + W, ty),
                &tip,
                None,
            );
            let class = if p.same_group {
                "peer same-group"
            } else {
                "peer"
            };
            svg.node(
                class,
                &attr("data-identity", &p.name),
                c.peers,
                py - BOX_H / 2.0,
                W,
                &p.name,
                &tip,
                Some(&format!("{base}/identities/{}", url(&p.name))),
            );
        }
        if n.hidden_peers > 0 {
            let py = top + n.peers.len() as f64 * ROW;
            svg.node(
                "more",
                "",
                c.peers,
                py - BOX_H / 2.0,
                W,
                &format!("+{} more", n.hidden_peers),
                &format!(
                    "{} more identities reached {}",
                    n.hidden_peers, n.peer_target
                ),
                None,
            );
        }
    }

    // The chain's hop in: source → other identity → intermediate host (a source here).
    if let Some(h) = &n.hop_in {
        svg.text("col", c.hop_src + W / 2.0, 20.0, "middle", "hop in from");
        svg.text(
            "col",
            c.hop_identity + W / 2.0,
            20.0,
            "middle",
            "with identity",
        );
        let target = find(&n.sources, &h.dst).map_or(mid, sy);
        let tip = format!(
            "hop in: {} logged on to {} from {} at {}, before {} was used from there",
            h.identity,
            h.dst,
            h.src.as_deref().unwrap_or("an unknown source"),
            time(h.time.0),
            n.identity
        );
        let mut d = curve(c.hop_src + W, target, c.hop_identity, target);
        d.push_str(&format!(" L{:.1},{target:.1}", c.hop_identity + W));
        d.push_str(&curve_on(c.hop_identity + W, target, c.sources, target));
        svg.path(
            "hop-in",
            &format!(
                "{}{}{}",
                attr("data-src", h.src.as_deref().unwrap_or("")),
                attr("data-identity", &h.identity),
                attr("data-dst", &h.dst)
            ),
            &d,
            &tip,
            Some("rw-arrow-orange"),
        );
        let src = h.src.as_deref().unwrap_or("?");
        svg.node(
            "host hop-src",
            &attr("data-host", src),
            c.hop_src,
            target - BOX_H / 2.0,
            W,
            src,
            &tip,
            None,
        );
        svg.node(
            "hop-identity",
            &attr("data-identity", &h.identity),
            c.hop_identity,
            target - BOX_H / 2.0,
            W,
            &h.identity,
            &tip,
            Some(&format!("{base}/identities/{}", url(&h.identity))),
        );
    }

    // The alert's new edges: source → identity → destination, in red.
    let labelled: &mut BTreeSet<String> = &mut BTreeSet::new();
    for e in &n.new_edges {
        let Some(t) = find(&n.destinations, &e.dst) else {
            continue;
        };
        let (tx, ty) = (c.destinations, dy(t));
        let mut d = match e.src.as_deref().and_then(|s| find(&n.sources, s)) {
            Some(s) => {
                let mut d = curve(c.sources + W, sy(s), ix, iy);
                d.push_str(&format!(" L{:.1},{iy:.1}", ix + ID_W));
                d
            }
            None => format!("M{:.1},{iy:.1}", ix + ID_W),
        };
        d.push_str(&curve_on(ix + ID_W, iy, tx, ty));
        let hop_out = n
            .hop_out
            .as_ref()
            .is_some_and(|(s, dst)| s == &e.src && dst.eq_ignore_ascii_case(&e.dst));
        let class = format!(
            "new{}{}",
            if e.failed_only() { " failed" } else { "" },
            if hop_out { " hop-out" } else { "" }
        );
        let label = edge_label(e);
        let tip = format!(
            "new in this alert: {} {} {}{}{}{}",
            n.identity,
            if e.failed_only() {
                "failed to reach"
            } else {
                "reached"
            },
            e.dst,
            e.src
                .as_deref()
                .map_or(String::new(), |s| format!(" from {s}")),
            if e.observations > 0 {
                format!(
                    " — {} observation{} from {} to {}",
                    e.observations,
                    if e.observations == 1 { "" } else { "s" },
                    time(e.first),
                    time(e.last)
                )
            } else {
                " — a destination of the incident".to_string()
            },
            if label.is_empty() {
                String::new()
            } else {
                format!(" ({label})")
            }
        );
        svg.path(
            &class,
            &format!(
                "{}{}",
                attr("data-src", e.src.as_deref().unwrap_or("")),
                attr("data-dst", &e.dst)
            ),
            &d,
            &tip,
            Some("rw-arrow-red"),
        );
        if !label.is_empty() && labelled.insert(format!("{}\n{label}", e.dst)) {
            svg.text("label", tx - 10.0, ty - 6.0, "end", &label);
        }
    }

    // Boxes on top of the lines.
    let columns = [
        (
            "src",
            &n.sources,
            n.hidden_sources,
            c.sources,
            src_rows,
            "more usual sources",
        ),
        (
            "dst",
            &n.destinations,
            n.hidden_destinations,
            c.destinations,
            dst_rows,
            "more destinations not drawn",
        ),
    ];
    for (role, nodes, hidden, x, rows_n, more) in columns {
        let y = |i: usize| row_y(mid, rows_n, i) - BOX_H / 2.0;
        for (i, h) in nodes.iter().enumerate() {
            let class = format!(
                "host {role}{}{}{}",
                if h.in_alert { " alert" } else { "" },
                if h.baseline { " baseline" } else { "" },
                if h.crown_jewel { " jewel" } else { "" }
            );
            let tip = host_tip(h, role, &n.identity);
            svg.node(
                &class,
                &attr("data-host", &h.name),
                x,
                y(i),
                W,
                &h.name,
                &tip,
                None,
            );
        }
        if hidden > 0 {
            let (label, tip) = (format!("+{hidden} more"), format!("{hidden} {more}"));
            svg.node("more", "", x, y(nodes.len()), W, &label, &tip, None);
        }
    }
    svg.node(
        "identity",
        &attr("data-identity", &n.identity),
        ix,
        iy - BOX_H / 2.0,
        ID_W,
        &n.identity,
        &format!(
            "{} ({} identity, peer group {})\nbaseline before this alert: {} observations, {} destinations, sources {}, protocols {}",
            n.identity,
            alert.identity_kind,
            if n.group.is_empty() { "?" } else { &n.group },
            alert.evidence.baseline.observations,
            alert.evidence.baseline.destinations,
            alert.evidence.baseline.sources.join(", "),
            alert.evidence.baseline.protocols.join(", ")
        ),
        Some(&format!("{base}/identities/{}", url(&n.identity))),
    );
    svg.finish()
}
