//! `/`: the alert list, newest first, with filters (a plain GET form) and counts by rule.

use super::{input_warnings, Page};
use crate::filter::{Filters, PAGE_SIZE};
use crate::html::{identity_link, page, severity, time_cell, url, Esc};
use crate::Snapshot;
use std::collections::BTreeSet;
use std::fmt::Write as _;

fn select(name: &str, label: &str, tip: &str, current: &str, options: &[&str]) -> String {
    let mut s = format!(
        "<label title=\"{}\">{label}<select name=\"{name}\"><option value=\"\">any</option>",
        Esc(tip)
    );
    for o in options {
        let _ = write!(
            s,
            "<option value=\"{0}\"{1}>{0}</option>",
            Esc(o),
            if *o == current { " selected" } else { "" }
        );
    }
    s.push_str("</select></label>");
    s
}

fn input(name: &str, label: &str, tip: &str, value: &str, placeholder: &str) -> String {
    format!(
        "<label title=\"{}\">{label}<input name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label>",
        Esc(tip),
        Esc(value),
        Esc(placeholder)
    )
}

/// Renders the list for a query string.
pub fn render(s: &Snapshot, base: &str, query: Option<&str>) -> Page {
    let f = Filters::from_query(query);
    let all = s.alerts.all();
    let rules: BTreeSet<&str> = all.iter().map(|a| a.rule.as_str()).collect();
    let kinds: BTreeSet<&str> = all.iter().map(|a| a.identity_kind.as_str()).collect();
    let mut body = String::with_capacity(64 * 1024);
    body.push_str(&input_warnings(s));
    let _ = write!(
        body,
        "<h1>Alerts</h1><form class=\"filters\" method=\"get\" action=\"{base}/\">{}{}{}{}{}{}\
         <button type=\"submit\">Filter</button> <a href=\"{base}/\">clear</a></form>",
        select(
            "rule",
            "rule",
            "the detection that fired",
            &f.rule,
            &rules.iter().copied().collect::<Vec<_>>()
        ),
        select(
            "severity",
            "severity at least",
            "alerts of this severity or higher",
            &f.severity,
            &["low", "medium", "high", "critical"]
        ),
        select(
            "kind",
            "identity kind",
            "machine, human or unknown",
            &f.kind,
            &kinds.iter().copied().collect::<Vec<_>>()
        ),
        input(
            "identity",
            "identity",
            "part of the identity's name, any case",
            &f.identity,
            "svc_backup"
        ),
        input(
            "from",
            "from",
            "earliest alert time: seconds, d5 16:00, 5d 12h or an RFC 3339 time",
            &f.from,
            "d5"
        ),
        input(
            "to",
            "to",
            "latest alert time, in the same forms",
            &f.to,
            "d7 12:00"
        ),
    );
    let parsed = match f.parse() {
        Ok(p) => p,
        Err(errors) => {
            let _ = write!(
                body,
                "<p class=\"error\">{}</p>",
                errors
                    .iter()
                    .map(|e| Esc(e).to_string())
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
            return Page {
                status: 400,
                ..Page::html(page(base, "Alerts", &body))
            };
        }
    };

    // Counts by rule among the alerts that pass the other filters.
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut others = 0;
    for a in all.iter().filter(|a| parsed.matches_but_rule(&f, a)) {
        *by_rule.entry(a.rule.as_str()).or_insert(0) += 1;
        others += 1;
    }
    let _ = write!(
        body,
        "<div class=\"counts\" title=\"alerts by rule, with the other filters applied\"><a href=\"{base}/{}\"{}>all rules: {others}</a>",
        Esc(&f.with("rule", "")),
        if f.rule.is_empty() { " class=\"on\"" } else { "" }
    );
    for (rule, n) in &by_rule {
        let _ = write!(
            body,
            "<a href=\"{base}/{}\"{} title=\"show only {2} alerts\">{}: {n}</a>",
            Esc(&f.with("rule", rule)),
            if *rule == f.rule { " class=\"on\"" } else { "" },
            Esc(rule)
        );
    }
    body.push_str("</div>");

    let shown: Vec<_> = all.iter().filter(|a| parsed.matches(&f, a)).collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page_no = f.page.min(pages);
    let start = (page_no - 1) * PAGE_SIZE;
    let end = (start + PAGE_SIZE).min(shown.len());
    let _ = write!(
        body,
        "<p class=\"muted\">{} alert{} match{}{}.</p>",
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        if shown.len() == 1 { "es" } else { "" },
        if pages > 1 {
            format!(", showing {}–{}", start + 1, end)
        } else {
            String::new()
        }
    );
    body.push_str(
        "<table class=\"alerts\"><thead><tr><th title=\"event time of the incident's first match\">time</th>\
         <th>identity</th><th title=\"the detection that fired\">rule</th><th>severity</th>\
         <th class=\"num\" title=\"0–100, from the features' weights\">score</th><th>summary</th></tr></thead><tbody>",
    );
    for a in &shown[start..end] {
        let _ = write!(
            body,
            "<tr data-alert=\"{id}\"><td class=\"nowrap\">{}</td><td class=\"name\">{}</td><td class=\"nowrap\">{}</td>\
             <td>{}</td><td class=\"num\">{}</td><td class=\"summary\"><a href=\"{base}/alerts/{}\" title=\"alert {id}: its neighbourhood, features and observations\">{}</a></td></tr>",
            time_cell(a.time.0),
            identity_link(base, &a.identity),
            Esc(&a.rule),
            severity(a.severity.name()),
            a.score,
            url(&a.id),
            Esc(&a.summary),
            id = Esc(&a.id),
        );
    }
    body.push_str("</tbody></table>");
    if pages > 1 {
        body.push_str("<div class=\"pager\">");
        if page_no > 1 {
            let _ = write!(
                body,
                "<a href=\"{base}/{}\">← newer</a>",
                Esc(&f.with("page", &(page_no - 1).to_string()))
            );
        }
        let _ = write!(body, "<span>page {page_no} of {pages}</span>");
        if page_no < pages {
            let _ = write!(
                body,
                "<a href=\"{base}/{}\">older →</a>",
                Esc(&f.with("page", &(page_no + 1).to_string()))
            );
        }
        body.push_str("</div>");
    }
    if all.is_empty() {
        body.push_str(&format!(
            "<p class=\"note\">No alerts in {} yet.</p>",
            Esc(&s.origin)
        ));
    }
    Page::html(page(base, "Alerts", &body))
}
