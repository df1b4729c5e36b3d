//! HTML building blocks: escaping of every value (names are attacker-controlled), URL
//! encoding, the page frame with its embedded style sheet, and time formatting.

use std::fmt::{self, Display, Write as _};
use std::time::{Duration, UNIX_EPOCH};

/// A value escaped for HTML text and attribute values (`& < > " '`).
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// Characters left as they are in a path segment or query value: the unreserved set.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A value percent-encoded as one URL path segment or query value (`/`, `?`, `#`, `%` and
/// everything else outside the unreserved set are encoded).
pub fn url(s: &str) -> impl Display + '_ {
    percent_encoding::utf8_percent_encode(s, SEGMENT)
}

/// A query string from key/value pairs, leaving out empty values (`?a=1&b=x%20y`, or empty).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut q = String::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        q.push(if q.is_empty() { '?' } else { '&' });
        let _ = write!(q, "{}={}", url(k), url(v));
    }
    q
}

/// The query string of `pairs` with `key` set to `value` (empty values left out), for links
/// that change one setting and keep the others.
pub fn query_with(pairs: &[(&str, &str)], key: &str, value: &str) -> String {
    query(
        pairs
            .iter()
            .map(|&(k, v)| (k, if k == key { value } else { v })),
    )
}

/// Texts longer than `max` characters, cut with an ellipsis (the full text goes in a title).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Times at or after this are seconds since the Unix epoch; earlier ones are relative to the
/// start of the data (LANL), shown as day and time of day.
const ABSOLUTE_FROM: f64 = 1.0e9;

/// A time in seconds for people: `2026-01-05 10:00:00Z` for absolute times, `d5 10:00:00` for
/// relative ones (day 5 of the data).
pub fn time(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    if secs >= ABSOLUTE_FROM {
        let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
        return humantime::format_rfc3339_seconds(t)
            .to_string()
            .replacen('T', " ", 1);
    }
    let s = secs.max(0.0) as u64;
    format!(
        "d{} {:02}:{:02}:{:02}",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// A time with its raw value on hover.
pub fn time_cell(secs: f64) -> String {
    format!(
        "<span class=\"time\" title=\"{} s{}\">{}</span>",
        secs,
        if secs >= ABSOLUTE_FROM {
            " since 1970-01-01 UTC"
        } else {
            " since the start of the data"
        },
        time(secs)
    )
}

/// The severity badge, explained on hover.
pub fn severity(name: &str) -> String {
    let why = match name {
        "critical" => "score 90 or more",
        "high" => "score 70–89",
        "medium" => "score 50–69",
        _ => "score below 50",
    };
    format!(
        "<span class=\"sev sev-{0}\" title=\"severity {0}: {1}\">{0}</span>",
        Esc(name),
        why
    )
}

/// A link to an identity's page.
pub fn identity_link(base: &str, name: &str) -> String {
    format!(
        "<a class=\"identity\" href=\"{base}/identities/{}\" title=\"what {} reaches, its blast radius and alerts\">{}</a>",
        url(name),
        Esc(name),
        Esc(name)
    )
}

/// The style sheet, embedded in every page so that a saved page looks the same offline.
pub const STYLE: &str = include_str!("style.css");

/// A whole page: the title, the navigation (with `base` as the site's root) and `body`.
pub fn page(base: &str, title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · reachwatch</title><style>{STYLE}</style></head><body>\
         <nav><a class=\"brand\" href=\"{base}/\" title=\"the alert list\">reachwatch</a>\
         <a href=\"{base}/\" title=\"every alert, newest first, with filters\">Alerts</a>\
         <a href=\"{base}/map\" title=\"which identity groups reach which hosts\">Reach map</a></nav>\
         <main>{body}</main></body></html>\n",
        Esc(title)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            Esc("<script>alert(\"x\")</script> & 'y'").to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn urls_encode_separators() {
        assert_eq!(
            url("spiffe://a/b?c#d%e f").to_string(),
            "spiffe%3A%2F%2Fa%2Fb%3Fc%23d%25e%20f"
        );
        assert_eq!(url("svc_a-1.x~").to_string(), "svc_a-1.x~");
        assert_eq!(
            query([("rule", "fan-out"), ("identity", ""), ("q", "a&b")]),
            "?rule=fan-out&q=a%26b"
        );
    }

    #[test]
    fn relative_and_absolute_times() {
        assert_eq!(time(490_471.0), "d5 16:14:31");
        assert_eq!(time(1_767_571_200.0), "2026-01-05 00:00:00Z");
        assert_eq!(time(f64::NAN), "?");
    }

    #[test]
    fn long_texts_are_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
