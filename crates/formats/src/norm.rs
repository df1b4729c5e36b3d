//! Normalisation shared by every decoder: unset markers, IP addresses, host names, identities,
//! times, enumerations, and excerpts of bad values for messages.

use crate::{name, DecodeError, Reason};
use reachwatch_model::{AuthProtocol, Interner, LogonType, Sym};
use std::borrow::Cow;

/// Longest excerpt of a bad value quoted in a message, in bytes.
pub const EXCERPT: usize = 40;

/// The first `max` bytes of `s` at most, cut at a character boundary, with `…` when cut.
/// Every excerpt of input text in a message goes through here, so that no cut falls inside a
/// multi-byte character.
pub fn excerpt(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

/// [`excerpt`] of bytes, read as lossy UTF-8.
pub fn excerpt_bytes(b: &[u8], max: usize) -> String {
    // A character is at most 4 bytes, so any character that starts before `max` is whole in this
    // head, and a head longer than `max` is always cut (with `…`).
    let head = String::from_utf8_lossy(&b[..b.len().min(max + 4)]);
    excerpt(&head, max).into_owned()
}

/// True for the markers formats use for "no value": empty, `-`, `?`, `(empty)`.
pub fn unset(s: &str) -> bool {
    matches!(s.trim(), "" | "-" | "?" | "(empty)")
}

/// `Some(s)` unless `s` is an unset marker.
pub fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !unset(s))
}

/// An IP address without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.5` → `10.0.0.5`).
pub fn strip_mapped(ip: &str) -> &str {
    let ip = ip.trim();
    match ip.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("::ffff:") && ip[7..].contains('.') => &ip[7..],
        _ => ip,
    }
}

/// True for loopback addresses (`127.x`, `::1`): the event's own host.
pub fn is_loopback(ip: &str) -> bool {
    let ip = strip_mapped(ip);
    ip == "::1" || ip.starts_with("127.")
}

/// True when `s` parses as an IPv4 or IPv6 address.
pub fn is_ip(s: &str) -> bool {
    strip_mapped(s).parse::<std::net::IpAddr>().is_ok()
}

/// The first DNS label of a host name (`WS01.corp.local` → `WS01`); IP addresses are kept whole.
pub fn short_host(host: &str) -> &str {
    let host = host.trim();
    if is_ip(host) {
        return strip_mapped(host);
    }
    match host.split_once('.') {
        Some((first, _)) if !first.is_empty() => first,
        _ => host,
    }
}

/// Interns the host side of an event: the name when present, else the (normalised) IP address.
pub fn host_or_ip(
    syms: &mut Interner,
    side: &'static str,
    host: Option<&str>,
    ip: Option<&str>,
) -> Result<Option<Sym>, DecodeError> {
    if let Some(h) = present(host) {
        return name(syms, side, h.as_bytes()).map(Some);
    }
    match present(ip) {
        Some(ip) => name(syms, side, strip_mapped(ip).as_bytes()).map(Some),
        None => Ok(None),
    }
}

/// A Windows-style account as one identity: `name@DOMAIN`, with the domain reduced to its first
/// label so that DNS and NetBIOS spellings agree (`THESHIRE.LOCAL` and `THESHIRE` → `THESHIRE`).
/// A name already in UPN form (`host$@REALM`) keeps its own realm, reduced the same way.
pub fn account(user: &str, domain: Option<&str>) -> String {
    let user = user.trim();
    let (user, realm) = match user.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (u, Some(r)),
        _ => (user, None),
    };
    match realm.or(present(domain)) {
        Some(d) => format!("{user}@{}", short_host(d).to_ascii_uppercase()),
        None => user.to_string(),
    }
}

/// Latest accepted event time in milliseconds: 9999-12-31T23:59:59.999Z for absolute times, and
/// the same bound on LANL's relative seconds (about 8,000 years). Times of every format are checked
/// against `0..=MAX_TIME_MS` at decode ([`time_ms`]), so that the engine's arithmetic on times
/// (adding windows, learning periods, a base time) cannot overflow.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// `ms` when it is a time from 1970 to the end of year 9999 ([`MAX_TIME_MS`]); a `bad_time`
/// error naming `shown` (the value as given) otherwise.
pub fn time_ms(ms: i64, shown: &str) -> Result<i64, DecodeError> {
    if (0..=MAX_TIME_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(time_out_of_range(shown))
    }
}

#[cold]
fn time_out_of_range(shown: &str) -> DecodeError {
    DecodeError::new(
        Reason::BadTime,
        format!(
            "time `{}` is out of range (1970 to 9999 expected)",
            excerpt(shown, EXCERPT)
        ),
    )
}

/// Epoch seconds (possibly fractional) to milliseconds, range-checked ([`time_ms`]).
pub fn seconds_to_ms(s: f64) -> Result<i64, DecodeError> {
    let ms = (s * 1000.0).round();
    if ms.is_finite() && (0.0..=MAX_TIME_MS as f64).contains(&ms) {
        Ok(ms as i64)
    } else {
        Err(time_out_of_range(&s.to_string()))
    }
}

/// Epoch milliseconds, range-checked.
pub fn millis(ms: f64) -> Result<i64, DecodeError> {
    seconds_to_ms(ms / 1000.0)
}

/// A time given as epoch seconds (`1588316619.797806`) or RFC 3339 text.
pub fn time_text(s: &str) -> Result<i64, DecodeError> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(secs) => seconds_to_ms(secs),
        Err(_) => crate::native::parse_rfc3339(s),
    }
}

/// An authentication protocol as logs name it, `Other` for names outside the list.
pub fn protocol(s: Option<&str>) -> AuthProtocol {
    match present(s) {
        None => AuthProtocol::Unknown,
        Some(p) => AuthProtocol::parse(p.as_bytes()),
    }
}

/// A logon type by Windows number or name (trimmed).
pub fn logon_type(s: Option<&str>) -> LogonType {
    match present(s) {
        None => LogonType::Unknown,
        Some(t) => LogonType::parse(t.replace(' ', "").as_bytes()),
    }
}

/// An error for a value outside a documented enumeration.
pub fn unknown_value(field: &str, value: &str, expected: &str) -> DecodeError {
    DecodeError::new(
        Reason::UnknownValue,
        format!(
            "{field} `{}` is not one of {expected}",
            excerpt(value, EXCERPT)
        ),
    )
}

/// An error for a missing required field.
pub fn missing(field: &str) -> DecodeError {
    DecodeError::new(Reason::EmptyField, format!("missing `{field}`"))
}

/// Parses a port number (`-` and empty are 0).
pub fn port(field: &'static str, s: Option<&str>) -> Result<u16, DecodeError> {
    match present(s) {
        None => Ok(0),
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad_number(field, p, "a port number")),
    }
}

/// Parses a count (`-` and empty are 0).
pub fn count(field: &'static str, s: Option<&str>) -> Result<u64, DecodeError> {
    match present(s) {
        None => Ok(0),
        Some(n) => n
            .parse::<u64>()
            .map_err(|_| bad_number(field, n, "a non-negative integer")),
    }
}

/// An error for a number that does not parse.
pub fn bad_number(field: &str, value: &str, expected: &str) -> DecodeError {
    DecodeError::new(
        Reason::BadNumber,
        format!("{field} `{}` is not {expected}", excerpt(value, EXCERPT)),
    )
}

/// An IP protocol by name (`tcp`, `udp`, `icmp`) or number.
pub fn ip_protocol(s: Option<&str>) -> Result<u8, DecodeError> {
    match present(s) {
        None => Ok(0),
        Some(p) if p.eq_ignore_ascii_case("tcp") => Ok(6),
        Some(p) if p.eq_ignore_ascii_case("udp") => Ok(17),
        Some(p) if p.eq_ignore_ascii_case("icmp") => Ok(1),
        Some(p) => p
            .parse::<u8>()
            .map_err(|_| unknown_value("protocol", p, "tcp, udp, icmp or a number")),
    }
}

/// True when a flow record is the reply direction: only the source port is known, or the source
/// port is a well-known service port and the destination port is not.
pub fn is_reply(src_port: u16, dst_port: u16, well_known_rule: bool) -> bool {
    src_port != 0 && (dst_port == 0 || (well_known_rule && src_port < 1024 && dst_port >= 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_addresses_hosts_and_accounts() {
        assert_eq!(strip_mapped("::ffff:172.18.39.5"), "172.18.39.5");
        assert_eq!(strip_mapped("fe80::1"), "fe80::1");
        assert!(is_loopback("::1") && is_loopback("::ffff:127.0.0.1"));
        assert_eq!(short_host("MORDORDC.theshire.local"), "MORDORDC");
        assert_eq!(short_host("10.0.0.4"), "10.0.0.4");
        assert_eq!(
            account("svc_ADFS$", Some("COMPANY.COM")),
            "svc_ADFS$@COMPANY"
        );
        assert_eq!(
            account("pgustavo@THESHIRE.LOCAL", Some("x")),
            "pgustavo@THESHIRE"
        );
        assert_eq!(account("U1", Some("-")), "U1");
        assert_eq!(time_text("1.5").unwrap(), 1500);
        assert_eq!(time_text("1970-01-01T00:00:02Z").unwrap(), 2000);
        assert_eq!(time_text("soon").unwrap_err().reason, Reason::BadTime);
        assert!(is_reply(445, 0, false) && !is_reply(0, 445, true));
        assert!(is_reply(445, 50000, true) && !is_reply(445, 50000, false));
        assert_eq!(
            logon_type(Some("Remote Interactive")),
            LogonType::RemoteInteractive
        );
    }

    #[test]
    fn excerpts_cut_at_character_boundaries() {
        let euros = format!("x{}", "€".repeat(30));
        for max in 0..euros.len() + 2 {
            let e = excerpt(&euros, max);
            let body = e.strip_suffix('…').unwrap_or(&e);
            assert!(euros.starts_with(body) && body.len() <= max, "{max}: {e}");
            assert_eq!(e.ends_with('…'), body.len() < euros.len(), "{max}: {e}");
        }
        assert_eq!(excerpt("x€€", 3), "x…");
        assert_eq!(excerpt("x€€", 4), "x€…");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt_bytes(b"ab\xffcd", 40), "ab\u{fffd}cd");
        assert_eq!(excerpt_bytes("€€".as_bytes(), 4), "€…");
        assert_eq!(excerpt_bytes("€€".as_bytes(), 5), "€…");
        assert_eq!(excerpt_bytes("€€".as_bytes(), 6), "€€");
    }

    #[test]
    fn times_outside_1970_to_9999_are_bad_times() {
        assert_eq!(time_text("9999-12-31T23:59:59.999Z").unwrap(), MAX_TIME_MS);
        assert_eq!(time_text("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(time_text("253402300799.999").unwrap(), MAX_TIME_MS);
        for bad in [
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "-1",
            "253402300800",
            "9223372036854775.807",
            "1e300",
            "inf",
            "NaN",
        ] {
            let err = time_text(bad).unwrap_err();
            assert_eq!(err.reason, Reason::BadTime, "{bad}");
            assert!(err.detail.contains("out of range"), "{bad}: {err}");
        }
        assert_eq!(millis(MAX_TIME_MS as f64).unwrap(), MAX_TIME_MS);
        assert_eq!(millis(-1.0).unwrap_err().reason, Reason::BadTime);
        assert_eq!(
            time_ms(MAX_TIME_MS + 1, "x").unwrap_err().reason,
            Reason::BadTime
        );
        assert_eq!(time_ms(0, "x"), Ok(0));
    }
}
