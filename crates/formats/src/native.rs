//! reachwatch's native JSON-lines schema (one object per line; unknown keys are ignored).
//!
//! Auth: `{"time": 1700000000.25 | "2023-11-14T22:13:20.25Z", "identity": "svc_backup@CORP",
//! "src_host": "BACKUP-01", "src_ip": "10.0.0.5", "dst_host": "DB-01", "dst_ip": "10.0.1.7",
//! "service": "cifs/DB-01", "protocol": "kerberos", "logon_type": "network",
//! "orientation": "logon", "outcome": "success", "credential_id": "AKIA…"}`.
//! Required: `time`, `identity`, one of `dst_host`/`dst_ip`, `outcome`.
//!
//! Flow: `{"time": …, "duration": 1.5, "src_host"|"src_ip": …, "src_port": 51234,
//! "dst_host"|"dst_ip": …, "dst_port": 445, "protocol": "tcp" | 6, "packets": 10, "bytes": 5323}`.
//! Required: `time`, a source, a destination.
//!
//! Hosts are named by `*_host` when present, else by `*_ip`. Numeric times are Unix epoch seconds.

use crate::{name, norm, DecodeError, LineDecoder, Reason};
use reachwatch_model::{
    AuthEvent, AuthProtocol, Event, FlowEvent, Interner, LogonType, Orientation, Outcome, Sym,
};
use serde::Deserialize;
use std::borrow::Cow;

/// A time field: epoch seconds or RFC 3339.
#[derive(Deserialize)]
#[serde(untagged)]
enum Time<'a> {
    Seconds(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

/// A protocol field: name or IP protocol number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Proto<'a> {
    Number(u8),
    #[serde(borrow)]
    Name(Cow<'a, str>),
}

#[derive(Deserialize)]
struct AuthRecord<'a> {
    time: Option<Time<'a>>,
    #[serde(borrow)]
    identity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service: Option<Cow<'a, str>>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    logon_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    orientation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow)]
    credential_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FlowRecord<'a> {
    time: Option<Time<'a>>,
    duration: Option<f64>,
    #[serde(borrow)]
    src_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    #[serde(borrow)]
    dst_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst_ip: Option<Cow<'a, str>>,
    dst_port: Option<u16>,
    #[serde(borrow)]
    protocol: Option<Proto<'a>>,
    packets: Option<u64>,
    bytes: Option<u64>,
}

fn parse_json<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(line).map_err(|e| {
        let reason = if e.is_data() {
            Reason::WrongType
        } else {
            Reason::BadJson
        };
        DecodeError::new(reason, e.to_string())
    })
}

/// Converts a native time field to milliseconds since the Unix epoch.
fn time(t: Option<Time<'_>>) -> Result<i64, DecodeError> {
    match t {
        None => Err(DecodeError::new(Reason::BadTime, "missing `time`")),
        Some(Time::Seconds(s)) => norm::seconds_to_ms(s),
        Some(Time::Text(s)) => parse_rfc3339(&s),
    }
}

/// Parses an RFC 3339 timestamp to epoch milliseconds (1970 to 9999, [`norm::time_ms`]).
pub fn parse_rfc3339(s: &str) -> Result<i64, DecodeError> {
    match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        Ok(t) => norm::time_ms((t.unix_timestamp_nanos() / 1_000_000) as i64, s),
        Err(e) => Err(DecodeError::new(
            Reason::BadTime,
            format!(
                "time `{}` is not RFC 3339 ({e})",
                norm::excerpt(s, 2 * norm::EXCERPT)
            ),
        )),
    }
}

/// Sets an alert's RFC 3339 `timestamp` from its event time and the absolute time (epoch ms) of
/// event time 0.
pub fn stamp_alert(alert: &mut reachwatch_model::Alert, base_ms: i64) {
    alert.timestamp = Some(format_rfc3339(
        base_ms + (alert.time.0 * 1000.0).round() as i64,
    ));
}

/// Formats epoch milliseconds as RFC 3339 (UTC, millisecond precision when needed).
pub fn format_rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn host(
    syms: &mut Interner,
    side: &'static str,
    host: Option<Cow<'_, str>>,
    ip: Option<Cow<'_, str>>,
) -> Result<Option<Sym>, DecodeError> {
    match host
        .filter(|h| !h.is_empty())
        .or(ip.filter(|i| !i.is_empty()))
    {
        Some(h) => Ok(Some(name(syms, side, h.as_bytes())?)),
        None => Ok(None),
    }
}

fn enumerated<T>(
    field: &'static str,
    value: Option<Cow<'_, str>>,
    default: T,
    parse: impl Fn(&[u8]) -> Option<T>,
    expected: &'static str,
) -> Result<T, DecodeError> {
    match value {
        None => Ok(default),
        Some(v) => parse(v.as_bytes()).ok_or_else(|| norm::unknown_value(field, &v, expected)),
    }
}

/// Decoder for native auth lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthDecoder;

impl LineDecoder for AuthDecoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let r: AuthRecord = parse_json(line)?;
        let time = time(r.time)?;
        let identity = match r.identity {
            Some(i) => name(syms, "identity", i.as_bytes())?,
            None => return Err(DecodeError::new(Reason::EmptyField, "missing `identity`")),
        };
        let dst = host(syms, "destination", r.dst_host, r.dst_ip)?.ok_or_else(|| {
            DecodeError::new(Reason::EmptyField, "missing `dst_host` and `dst_ip`")
        })?;
        let src = host(syms, "source", r.src_host, r.src_ip)?;
        let service = match r.service {
            Some(s) if !s.is_empty() => Some(name(syms, "service", s.as_bytes())?),
            _ => None,
        };
        let credential = match r.credential_id {
            Some(s) if !s.is_empty() => Some(name(syms, "credential_id", s.as_bytes())?),
            _ => None,
        };
        let outcome = match r.outcome {
            None => return Err(DecodeError::new(Reason::EmptyField, "missing `outcome`")),
            o => enumerated(
                "outcome",
                o,
                Outcome::Success,
                Outcome::parse,
                "success, failure",
            )?,
        };
        let protocol = enumerated(
            "protocol",
            r.protocol,
            AuthProtocol::Unknown,
            |s| match AuthProtocol::parse(s) {
                AuthProtocol::Other if !s.eq_ignore_ascii_case(b"other") => None,
                p => Some(p),
            },
            "kerberos, ntlm, negotiate, oauth, mtls, cleartext, other, unknown",
        )?;
        let logon = enumerated(
            "logon_type",
            r.logon_type,
            LogonType::Unknown,
            |s| match LogonType::parse(s) {
                LogonType::Other if !s.eq_ignore_ascii_case(b"other") => None,
                l => Some(l),
            },
            "network, interactive, remote_interactive, cached_interactive, batch, service, \
             network_cleartext, new_credentials, unlock, other, unknown",
        )?;
        let orientation = enumerated(
            "orientation",
            r.orientation,
            Orientation::LogOn,
            |s| match Orientation::parse(s) {
                Orientation::Other if !s.eq_ignore_ascii_case(b"other") => None,
                o => Some(o),
            },
            "logon, logoff, tgs, tgt, other",
        )?;
        Ok(Some(Event::Auth(AuthEvent {
            time,
            identity,
            src,
            dst,
            service,
            protocol,
            logon,
            orientation,
            outcome,
            credential,
        })))
    }
}

/// Decoder for native flow lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowDecoder;

impl LineDecoder for FlowDecoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let r: FlowRecord = parse_json(line)?;
        let time = time(r.time)?;
        let src = host(syms, "source", r.src_host, r.src_ip)?.ok_or_else(|| {
            DecodeError::new(Reason::EmptyField, "missing `src_host` and `src_ip`")
        })?;
        let dst = host(syms, "destination", r.dst_host, r.dst_ip)?.ok_or_else(|| {
            DecodeError::new(Reason::EmptyField, "missing `dst_host` and `dst_ip`")
        })?;
        let protocol = match r.protocol {
            None => 0,
            Some(Proto::Number(n)) => n,
            Some(Proto::Name(n)) => match n.to_ascii_lowercase().as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                _ => {
                    return Err(norm::unknown_value(
                        "protocol",
                        &n,
                        "tcp, udp, icmp or a number",
                    ))
                }
            },
        };
        let duration = match r.duration {
            None => 0,
            Some(d) if d.is_finite() && d >= 0.0 => (d * 1000.0).min(u32::MAX as f64) as u32,
            Some(d) => {
                return Err(DecodeError::new(
                    Reason::BadNumber,
                    format!("duration {d} is not a non-negative number of seconds"),
                ))
            }
        };
        Ok(Some(Event::Flow(FlowEvent {
            time,
            duration,
            src,
            dst,
            src_port: r.src_port.unwrap_or(0),
            dst_port: r.dst_port.unwrap_or(0),
            protocol,
            packets: r.packets.unwrap_or(0),
            bytes: r.bytes.unwrap_or(0),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_auth_with_rfc3339_and_ip_fallback() {
        let mut syms = Interner::new();
        let line = br#"{"time":"2023-11-14T22:13:20.250Z","identity":"svc_backup@CORP","src_ip":"10.0.0.5","dst_host":"DB-01","protocol":"ntlm","logon_type":"network","outcome":"success","extra":1}"#;
        let Event::Auth(a) = AuthDecoder.decode(line, &mut syms).unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(a.time, 1_700_000_000_250);
        assert_eq!(syms.resolve(a.src.unwrap()), "10.0.0.5");
        assert_eq!(syms.resolve(a.dst), "DB-01");
        assert_eq!(a.protocol, AuthProtocol::Ntlm);
        assert_eq!(a.outcome, Outcome::Success);
        assert_eq!(format_rfc3339(a.time), "2023-11-14T22:13:20.25Z");
    }

    #[test]
    fn rejects_bad_auth_records() {
        let cases: [(&[u8], Reason); 7] = [
            (b"{not json", Reason::BadJson),
            (br#"{"time":"yesterday","identity":"a","dst_host":"b","outcome":"success"}"#, Reason::BadTime),
            (br#"{"time":1,"identity":5,"dst_host":"b","outcome":"success"}"#, Reason::WrongType),
            (br#"{"time":1,"identity":"a","outcome":"success"}"#, Reason::EmptyField),
            (br#"{"time":1,"identity":"","dst_host":"b","outcome":"success"}"#, Reason::EmptyField),
            (br#"{"time":1,"identity":"a","dst_host":"b","outcome":"meh"}"#, Reason::UnknownValue),
            (br#"{"time":1,"identity":"a","dst_host":"b","outcome":"success","logon_type":"telepathy"}"#, Reason::UnknownValue),
        ];
        for (line, reason) in cases {
            let err = AuthDecoder.decode(line, &mut Interner::new()).unwrap_err();
            assert_eq!(
                err.reason,
                reason,
                "{}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn decodes_flows() {
        let mut syms = Interner::new();
        let line = br#"{"time":10,"duration":1.5,"src_host":"A","dst_ip":"10.1.1.1","dst_port":445,"protocol":"tcp","packets":3,"bytes":900}"#;
        let Event::Flow(f) = FlowDecoder.decode(line, &mut syms).unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.time, f.duration, f.dst_port, f.protocol, f.bytes),
            (10_000, 1500, 445, 6, 900)
        );
        let err = FlowDecoder
            .decode(
                br#"{"time":10,"src_host":"A","dst_host":"B","dst_port":70000}"#,
                &mut syms,
            )
            .unwrap_err();
        assert_eq!(err.reason, Reason::WrongType);
    }

    #[test]
    fn multi_byte_values_are_errors_with_reasons() {
        let euros = "€".repeat(30);
        let record = |key: &str, value: &str| {
            let mut v = serde_json::json!({"time": 1_700_000_000, "identity": "svc_a@CORP",
                "dst_host": "DB-01", "outcome": "success", "protocol": "kerberos",
                "logon_type": "network"});
            v[key] = serde_json::Value::String(value.to_string());
            v.to_string()
        };
        let cases = [
            ("time", format!("x{euros}"), Reason::BadTime),
            ("identity", "€".repeat(200), Reason::TooLong),
            ("outcome", euros.clone(), Reason::UnknownValue),
            ("logon_type", euros.clone(), Reason::UnknownValue),
            ("protocol", euros.clone(), Reason::UnknownValue),
        ];
        for (key, value, reason) in cases {
            let line = record(key, &value);
            let err = AuthDecoder
                .decode(line.as_bytes(), &mut Interner::new())
                .unwrap_err();
            assert_eq!(err.reason, reason, "{key}: {err}");
        }
        let flow = format!(r#"{{"time":1,"src_host":"A","dst_host":"B","protocol":"{euros}"}}"#);
        let err = FlowDecoder
            .decode(flow.as_bytes(), &mut Interner::new())
            .unwrap_err();
        assert_eq!(err.reason, Reason::UnknownValue);
        assert!(
            err.detail.contains(&format!("`{}…`", "€".repeat(13))),
            "{err}"
        );
    }
}
