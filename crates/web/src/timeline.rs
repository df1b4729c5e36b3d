//! An identity's timeline: one dot per edge at the time it was first used, in a row per
//! destination environment, and its alerts in a row of their own. Time runs left to right
//! from the first edge or alert to the last use or alert.

use crate::graph::{Edge, ReachGraph};
use crate::html::{time, url, Esc};
use crate::svg::Svg;
use reachwatch_model::Alert;
use std::collections::BTreeSet;
use std::fmt::Write as _;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 30.0;
const ROW: f64 = 28.0;
const TOP: f64 = 16.0;

/// Tick spacings tried, in seconds.
const STEPS: [f64; 7] = [
    3600.0,
    6.0 * 3600.0,
    86_400.0,
    2.0 * 86_400.0,
    7.0 * 86_400.0,
    30.0 * 86_400.0,
    365.0 * 86_400.0,
];

/// The timeline of `edges` (of one identity in `g`) and `alerts` as an SVG.
pub fn draw(g: &ReachGraph, edges: &[Edge], alerts: &[&Alert], base: &str, who: &str) -> String {
    let env_of = |e: &Edge| {
        g.hosts[e.host]
            .env
            .clone()
            .unwrap_or_else(|| "no environment".into())
    };
    let rows: Vec<String> = edges
        .iter()
        .map(env_of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let times = edges
        .iter()
        .flat_map(|e| [e.first_seen as f64, e.last_seen as f64])
        .chain(alerts.iter().map(|a| a.time.0));
    let (mut t0, mut t1) = times.fold((f64::MAX, f64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    if t0 > t1 {
        (t0, t1) = (0.0, 86_400.0);
    }
    if t1 - t0 < 3600.0 {
        t1 = t0 + 3600.0;
    }
    let n_rows = rows.len() + 1;
    let height = TOP + n_rows as f64 * ROW + 30.0;
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT);
    let mut svg = Svg::new(
        WIDTH,
        height,
        &format!("When {who} first reached each destination, and its alerts"),
    );
    let axis_y = TOP + n_rows as f64 * ROW;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| (t1 - t0) / s <= 14.0)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let mut tick = (t0 / step).ceil() * step;
    while tick <= t1 {
        svg.raw(&format!(
            "<line class=\"axis\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{axis_y:.1}\" stroke-dasharray=\"2 4\"/>",
            x(tick)
        ));
        let label = time(tick);
        let label = if step >= 86_400.0 {
            label.split(' ').next().unwrap_or("").to_string()
        } else {
            label
        };
        svg.text("tick", x(tick), axis_y + 14.0, "middle", &label);
        tick += step;
    }
    svg.raw(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\"/>",
        WIDTH - RIGHT
    ));
    let row_y = |i: usize| TOP + i as f64 * ROW + ROW / 2.0;
    for (i, env) in rows.iter().enumerate() {
        svg.text("col", LEFT - 10.0, row_y(i) + 4.0, "end", env);
    }
    // Dots closer than a dot's width go to the lanes above and below, in time order.
    let mut by_time: Vec<&Edge> = edges.iter().collect();
    by_time.sort_by_key(|e| (e.first_seen, e.host));
    let mut lanes: Vec<[f64; 3]> = vec![[f64::MIN; 3]; rows.len()];
    for e in by_time {
        let h = &g.hosts[e.host];
        let i = rows.iter().position(|r| *r == env_of(e)).unwrap_or(0);
        let cx = x(e.first_seen as f64);
        let lane = (0..3).find(|&l| cx - lanes[i][l] >= 11.0).unwrap_or(0);
        lanes[i][lane] = cx;
        let cy = row_y(i) + [0.0, -8.0, 8.0][lane];
        let tip = format!(
            "{} first reached {} at {}{}; last {}; {} uses{}{}",
            who,
            h.name,
            time(e.first_seen as f64),
            h.env
                .as_deref()
                .map_or(String::new(), |v| format!(" ({v})")),
            time(e.last_seen as f64),
            e.count,
            if e.ports.is_empty() {
                String::new()
            } else {
                format!("; ports {}", e.ports)
            },
            if h.crown_jewel { "; crown jewel" } else { "" }
        );
        let mut dot = String::new();
        let _ = write!(
            dot,
            "<circle class=\"dot{}\" data-host=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4.5\"><title>{}</title></circle>",
            if h.crown_jewel { " jewel" } else { "" },
            Esc(&h.name),
            cx,
            cy,
            Esc(&tip)
        );
        svg.raw(&dot);
    }
    let ay = row_y(rows.len());
    svg.text("col", LEFT - 10.0, ay + 4.0, "end", "alerts");
    for a in alerts {
        let tip = format!("{} at {}: {}", a.rule, time(a.time.0), a.summary);
        svg.raw(&format!(
            "<a href=\"{base}/alerts/{}\"><rect class=\"dot alert\" data-alert=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" transform=\"rotate(45 {:.1} {:.1})\"><title>{}</title></rect></a>",
            url(&a.id),
            Esc(&a.id),
            x(a.time.0) - 5.0,
            ay - 5.0,
            x(a.time.0),
            ay,
            Esc(&tip)
        ));
    }
    svg.finish()
}
