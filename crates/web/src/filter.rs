//! The alert list's filters, read from the query string: rule, minimum severity, identity
//! kind, identity (a case-insensitive part of the name), a time range and the page.

use reachwatch_model::alert::Severity;
use reachwatch_model::Alert;

/// Alerts on one page of the list.
pub const PAGE_SIZE: usize = 500;

/// The filters of the alert list (empty strings: not filtered).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Exact rule name.
    pub rule: String,
    /// Minimum severity (`low`, `medium`, `high`, `critical`).
    pub severity: String,
    /// Identity kind.
    pub kind: String,
    /// Part of the identity name.
    pub identity: String,
    /// Earliest alert time, as typed.
    pub from: String,
    /// Latest alert time, as typed.
    pub to: String,
    /// Page number, from 1.
    pub page: usize,
}

/// Filters whose values could be read.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    min_severity: Option<Severity>,
    from: Option<f64>,
    to: Option<f64>,
    identity: String,
}

fn severity(s: &str) -> Option<Severity> {
    match s {
        "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// Reads a time bound: seconds (`490471`), the list's own form (`d5`, `d5 16:14`, `d5 16:14:31`),
/// a duration from the start of the data (`5d 12h`), or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if v.is_finite() {
            return Ok(v);
        }
    }
    if let Some(rest) = s.strip_prefix('d') {
        let (day, clock) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(day) = day.parse::<u64>() {
            let mut secs = day * 86_400;
            if !clock.is_empty() {
                let parts: Vec<&str> = clock.split(':').collect();
                let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
                match nums.as_deref() {
                    Some([h, m]) if *h < 24 && *m < 60 => secs += h * 3600 + m * 60,
                    Some([h, m, x]) if *h < 24 && *m < 60 && *x < 60 => {
                        secs += h * 3600 + m * 60 + x
                    }
                    _ => return Err(format!("`{s}`: expected dDAY HH:MM[:SS]")),
                }
            }
            return Ok(secs as f64);
        }
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(d.as_secs_f64());
    }
    let rfc = s.replacen(' ', "T", 1);
    if let Ok(t) = humantime::parse_rfc3339_weak(rfc.trim_end_matches('Z')) {
        if let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) {
            return Ok(d.as_secs_f64());
        }
    }
    Err(format!(
        "`{s}` is not a time: give seconds, d5 16:00, 5d 12h or 2026-01-05T10:00:00Z"
    ))
}

impl Filters {
    /// Reads the filters from a query string (unknown keys are ignored).
    pub fn from_query(q: Option<&str>) -> Filters {
        let mut f = Filters {
            page: 1,
            ..Filters::default()
        };
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            let v = v.trim().to_string();
            match k.as_ref() {
                "rule" => f.rule = v,
                "severity" => f.severity = v,
                "kind" => f.kind = v,
                "identity" => f.identity = v,
                "from" => f.from = v,
                "to" => f.to = v,
                "page" => f.page = v.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        f
    }

    /// Checks the values; the errors say which filter is wrong and why.
    pub fn parse(&self) -> Result<Parsed, Vec<String>> {
        let mut errors = vec![];
        let min_severity = match self.severity.as_str() {
            "" => None,
            s => match severity(s) {
                Some(v) => Some(v),
                None => {
                    errors.push(format!(
                        "severity `{s}`: expected low, medium, high or critical"
                    ));
                    None
                }
            },
        };
        let mut time = |name: &str, v: &str| match v {
            "" => None,
            v => parse_time(v)
                .map_err(|e| errors.push(format!("{name}: {e}")))
                .ok(),
        };
        let from = time("from", &self.from);
        let to = time("to", &self.to);
        if errors.is_empty() {
            Ok(Parsed {
                min_severity,
                from,
                to,
                identity: self.identity.to_lowercase(),
            })
        } else {
            Err(errors)
        }
    }

    /// The query string of these filters with one key changed (`page` resets unless it is the
    /// key), for links.
    pub fn with(&self, key: &str, value: &str) -> String {
        let pairs = [
            ("rule", self.rule.as_str()),
            ("severity", &self.severity),
            ("kind", &self.kind),
            ("identity", &self.identity),
            ("from", &self.from),
            ("to", &self.to),
            ("page", ""),
        ];
        crate::html::query_with(&pairs, key, value)
    }
}

impl Parsed {
    /// Does the alert pass every filter but the rule?
    pub fn matches_but_rule(&self, f: &Filters, a: &Alert) -> bool {
        self.min_severity.is_none_or(|s| a.severity >= s)
            && (f.kind.is_empty() || a.identity_kind == f.kind)
            && (self.identity.is_empty() || a.identity.to_lowercase().contains(&self.identity))
            && self.from.is_none_or(|t| a.time.0 >= t)
            && self.to.is_none_or(|t| a.time.0 <= t)
    }

    /// Does the alert pass every filter?
    pub fn matches(&self, f: &Filters, a: &Alert) -> bool {
        (f.rule.is_empty() || a.rule == f.rule) && self.matches_but_rule(f, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::tests::alert;

    #[test]
    fn times_in_every_accepted_form() {
        assert_eq!(parse_time("490471"), Ok(490_471.0));
        assert_eq!(parse_time("d5"), Ok(432_000.0));
        assert_eq!(parse_time("d5 16:14:31"), Ok(490_471.0));
        assert_eq!(parse_time("d5 16:14"), Ok(490_440.0));
        assert_eq!(parse_time("5d 12h"), Ok(475_200.0));
        assert_eq!(parse_time("2026-01-05T00:00:00Z"), Ok(1_767_571_200.0));
        assert_eq!(parse_time("2026-01-05 00:00:00Z"), Ok(1_767_571_200.0));
        assert!(parse_time("d5 25:00").is_err());
        assert!(parse_time("soon").unwrap_err().contains("`soon`"));
    }

    #[test]
    fn filters_combine() {
        let f = Filters::from_query(Some(
            "rule=fan-out&severity=high&identity=SVC&from=d0&to=100&page=x",
        ));
        assert_eq!(f.page, 1);
        let p = f.parse().unwrap();
        let mut a = alert("a", 50.0, "svc_x", "fan-out");
        assert!(p.matches(&f, &a));
        a.severity = Severity::Medium;
        assert!(!p.matches(&f, &a));
        a.severity = Severity::Critical;
        a.time.0 = 101.0;
        assert!(!p.matches(&f, &a));
        a.time.0 = 100.0;
        a.rule = "new-source".into();
        assert!(!p.matches(&f, &a));
        assert!(p.matches_but_rule(&f, &a));
    }

    #[test]
    fn bad_values_are_named() {
        let f = Filters::from_query(Some("severity=huge&from=later"));
        let e = f.parse().unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with("severity `huge`"));
        assert!(e[1].starts_with("from: `later`"));
    }

    #[test]
    fn links_keep_the_other_filters() {
        let f = Filters::from_query(Some("rule=a&identity=x%20y&page=3"));
        assert_eq!(f.with("rule", "b"), "?rule=b&identity=x%20y");
        assert_eq!(f.with("page", "4"), "?rule=a&identity=x%20y&page=4");
    }
}
