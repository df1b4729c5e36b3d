//! The what-if replay's report for people: a summary, blocked events per day, the breakage list
//! (what would have broken, by identity and path) and the alerts and campaigns whose paths the
//! policy would have cut.

use crate::check::{CheckReport, PathCut};
use crate::time::{describe, describe_day};
use std::fmt::Write as _;

/// Blocked paths listed in the text report (all of them are in the JSON one).
pub const TEXT_PATHS: usize = 50;

fn cuts(t: &mut String, title: &str, items: &[PathCut]) {
    if items.is_empty() {
        return;
    }
    let cut = items.iter().filter(|c| c.cut).count();
    let _ = writeln!(t, "\n{title}: {cut} of {} cut", items.len());
    for c in items {
        let _ = writeln!(
            t,
            "  {:<4} {:<8} {:<28} {}/{} steps blocked  {}",
            if c.cut { "CUT" } else { "open" },
            c.id,
            c.what,
            c.blocked,
            c.steps,
            c.why
        );
    }
}

/// The report as text.
pub fn text(r: &CheckReport) -> String {
    let c = &r.counts;
    let mut t = format!(
        "policy check: {} events of identities in scope judged, {} allowed, {} blocked \
         ({} authentications, {} flows); {} events of identities out of scope\n",
        c.judged, c.allowed, c.blocked, c.blocked_auth, c.blocked_flows, c.out_of_scope
    );
    let labelled = !r.campaigns.is_empty();
    if !r.days.is_empty() {
        t.push_str("\nblocked events per day:\n");
        for d in &r.days {
            let _ = write!(
                t,
                "  {:<12} {:>8} judged {:>7} blocked",
                describe_day(d.day),
                d.judged,
                d.blocked
            );
            if labelled {
                let _ = write!(
                    t,
                    " ({} benign, {} labelled attack)",
                    d.benign_blocked, d.attack_blocked
                );
            }
            t.push('\n');
        }
    }
    let _ = writeln!(
        t,
        "\nbreakage to review before enforcing: {} blocked paths{}",
        r.blocked.len(),
        if r.blocked.len() > TEXT_PATHS {
            format!(" (the {TEXT_PATHS} with most events; all in --report-json)")
        } else {
            String::new()
        }
    );
    for p in r.blocked.iter().take(TEXT_PATHS) {
        let ports: Vec<String> = p
            .ports
            .iter()
            .map(|&x| {
                if x == 0 {
                    "auth".to_string()
                } else {
                    x.to_string()
                }
            })
            .collect();
        let _ = writeln!(
            t,
            "  {:>7} events  {} {} → {} [{}]  {}{}  first {}, last {}, on {} days",
            p.events,
            p.identity,
            if p.src.is_empty() { "?" } else { &p.src },
            p.dst,
            ports.join(","),
            p.reason,
            p.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
            describe(p.first),
            describe(p.last),
            p.days
        );
    }
    cuts(&mut t, "alert paths", &r.alerts);
    cuts(&mut t, "campaign paths", &r.campaigns);
    t
}
