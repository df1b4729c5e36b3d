//! The LANL "Comprehensive, Multi-Source Cyber-Security Events" layout.
//!
//! - auth: `time,src_user@domain,dst_user@domain,src_comp,dst_comp,auth_type,logon_type,orientation,result`
//! - flows: `time,duration,src_comp,src_port,dst_comp,dst_port,protocol,packets,bytes`
//! - redteam: `time,user@domain,src_comp,dst_comp`
//!
//! Times are whole seconds since the start of the data set and are kept as such (milliseconds
//! internally). `?` means missing. The identity is the source user. Anonymised ports (`N123`) are
//! 0; when only the source port is a real port, the flow is a reply and is turned around so that
//! the service port is always the destination port.

use crate::norm::{excerpt_bytes, EXCERPT, MAX_TIME_MS};
use crate::{name, DecodeError, LineDecoder, Reason};
use memchr::memchr_iter;
use reachwatch_model::{
    AuthEvent, AuthProtocol, Event, FlowEvent, Interner, LogonType, Orientation, Outcome,
};

/// Splits a line into exactly `N` comma-separated fields.
fn fields<const N: usize>(line: &[u8]) -> Result<[&[u8]; N], DecodeError> {
    let mut out = [&line[..0]; N];
    let mut start = 0;
    let mut n = 0;
    for comma in memchr_iter(b',', line) {
        if n + 1 >= N {
            return Err(field_count::<N>(line));
        }
        out[n] = &line[start..comma];
        n += 1;
        start = comma + 1;
    }
    if n + 1 != N {
        return Err(field_count::<N>(line));
    }
    out[n] = &line[start..];
    Ok(out)
}

#[cold]
fn field_count<const N: usize>(line: &[u8]) -> DecodeError {
    let got = memchr_iter(b',', line).count() + 1;
    DecodeError::new(
        Reason::Malformed,
        format!("expected {N} comma-separated fields, found {got}"),
    )
}

/// Parses a non-negative integer.
fn uint(field: &'static str, s: &[u8]) -> Result<u64, DecodeError> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return Err(bad_number(field, s));
    }
    Ok(s.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}

#[cold]
fn bad_number(field: &'static str, s: &[u8]) -> DecodeError {
    DecodeError::new(
        Reason::BadNumber,
        format!(
            "{field} `{}` is not a non-negative integer",
            excerpt_bytes(s, EXCERPT)
        ),
    )
}

/// Parses LANL time (whole seconds) into milliseconds, at most [`MAX_TIME_MS`].
pub fn time(s: &[u8]) -> Result<i64, DecodeError> {
    match uint("time", s) {
        Ok(t) if t <= (MAX_TIME_MS / 1000) as u64 => Ok(t as i64 * 1000),
        Ok(_) => Err(DecodeError::new(
            Reason::BadTime,
            format!(
                "time `{}` is out of range (at most {} seconds since the start of the data set)",
                excerpt_bytes(s, EXCERPT),
                MAX_TIME_MS / 1000
            ),
        )),
        Err(_) => Err(DecodeError::new(
            Reason::BadTime,
            format!(
                "time `{}` is not whole seconds since the start of the data set",
                excerpt_bytes(s, EXCERPT)
            ),
        )),
    }
}

/// Parses a LANL port: a number, or an anonymised `N…` (0).
fn port(field: &'static str, s: &[u8]) -> Result<u16, DecodeError> {
    if s.first() == Some(&b'N') || s == b"?" {
        return Ok(0);
    }
    match uint(field, s) {
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(bad_number(field, s)),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Decoder for LANL auth.txt lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthDecoder;

impl LineDecoder for AuthDecoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        let line = trim_cr(line);
        if line.is_empty() {
            return Ok(None);
        }
        let [t, src_user, _dst_user, src, dst, auth_type, logon, orient, result] =
            fields::<9>(line)?;
        let time = time(t)?;
        let identity = name(syms, "identity", src_user)?;
        if dst == b"?" {
            return Err(DecodeError::new(
                Reason::EmptyField,
                "destination computer is `?`",
            ));
        }
        let dst = name(syms, "destination computer", dst)?;
        let src = match src {
            b"?" => None,
            s => Some(name(syms, "source computer", s)?),
        };
        let outcome = Outcome::parse(result).ok_or_else(|| {
            DecodeError::new(
                Reason::UnknownValue,
                format!(
                    "result `{}` is not Success or Fail",
                    excerpt_bytes(result, EXCERPT)
                ),
            )
        })?;
        Ok(Some(Event::Auth(AuthEvent {
            time,
            identity,
            src,
            dst,
            service: None,
            protocol: AuthProtocol::parse(auth_type),
            logon: LogonType::parse(logon),
            orientation: Orientation::parse(orient),
            outcome,
            credential: None,
        })))
    }
}

/// Decoder for LANL flows.txt lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowDecoder;

impl LineDecoder for FlowDecoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        let line = trim_cr(line);
        if line.is_empty() {
            return Ok(None);
        }
        let [t, dur, src, sport, dst, dport, proto, packets, bytes] = fields::<9>(line)?;
        let time = time(t)?;
        let duration = uint("duration", dur)?
            .saturating_mul(1000)
            .min(u32::MAX as u64) as u32;
        let mut src = name(syms, "source computer", src)?;
        let mut dst = name(syms, "destination computer", dst)?;
        let mut src_port = port("source port", sport)?;
        let mut dst_port = port("destination port", dport)?;
        if crate::norm::is_reply(src_port, dst_port, false) {
            std::mem::swap(&mut src, &mut dst);
            std::mem::swap(&mut src_port, &mut dst_port);
        }
        let protocol = match uint("protocol", proto)? {
            p if p <= 255 => p as u8,
            _ => return Err(bad_number("protocol", proto)),
        };
        Ok(Some(Event::Flow(FlowEvent {
            time,
            duration,
            src,
            dst,
            src_port,
            dst_port,
            protocol,
            packets: uint("packets", packets)?,
            bytes: uint("bytes", bytes)?,
        })))
    }
}

/// One red-team label line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedTeam {
    /// Time in milliseconds.
    pub time: i64,
    /// `user@domain`.
    pub identity: String,
    /// Source computer.
    pub src: String,
    /// Destination computer.
    pub dst: String,
}

/// Parses one redteam.txt line.
pub fn parse_redteam(line: &[u8]) -> Result<RedTeam, DecodeError> {
    let [t, user, src, dst] = fields::<4>(trim_cr(line))?;
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(RedTeam {
        time: time(t)?,
        identity: s(user),
        src: s(src),
        dst: s(dst),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(line: &str) -> Result<Option<Event>, DecodeError> {
        AuthDecoder.decode(line.as_bytes(), &mut Interner::new())
    }

    #[test]
    fn decodes_a_real_auth_line() {
        let mut syms = Interner::new();
        let ev = AuthDecoder
            .decode(
                b"1,U10@DOM1,U10@DOM1,C62,C528,Kerberos,Network,LogOn,Success",
                &mut syms,
            )
            .unwrap()
            .unwrap();
        let Event::Auth(a) = ev else { panic!() };
        assert_eq!(a.time, 1000);
        assert_eq!(syms.resolve(a.identity), "U10@DOM1");
        assert_eq!(syms.resolve(a.src.unwrap()), "C62");
        assert_eq!(syms.resolve(a.dst), "C528");
        assert_eq!(a.protocol, AuthProtocol::Kerberos);
        assert_eq!(a.logon, LogonType::Network);
        assert_eq!(a.orientation, Orientation::LogOn);
        assert_eq!(a.outcome, Outcome::Success);
    }

    #[test]
    fn unknown_source_is_none() {
        let Ok(Some(Event::Auth(a))) = auth("5,C1$@DOM1,C1$@DOM1,?,C2,?,?,TGS,Success") else {
            panic!()
        };
        assert_eq!(a.src, None);
        assert_eq!(a.protocol, AuthProtocol::Unknown);
    }

    #[test]
    fn rejects_bad_auth_lines_with_reasons() {
        let cases = [
            (
                "1,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn",
                Reason::Malformed,
            ),
            (
                "1,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success,x",
                Reason::Malformed,
            ),
            (
                "x1,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success",
                Reason::BadTime,
            ),
            (
                "-5,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success",
                Reason::BadTime,
            ),
            (
                ",U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success",
                Reason::BadTime,
            ),
            (
                "1,,U1@D,C1,C2,Kerberos,Network,LogOn,Success",
                Reason::EmptyField,
            ),
            (
                "1,U1@D,U1@D,C1,?,Kerberos,Network,LogOn,Success",
                Reason::EmptyField,
            ),
            (
                "1,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Perhaps",
                Reason::UnknownValue,
            ),
        ];
        for (line, reason) in cases {
            assert_eq!(auth(line).unwrap_err().reason, reason, "{line}");
        }
        let long = format!(
            "1,{}@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success",
            "A".repeat(600)
        );
        assert_eq!(auth(&long).unwrap_err().reason, Reason::TooLong);
        assert_eq!(auth("").unwrap(), None);
    }

    #[test]
    fn times_beyond_the_bound_are_bad_times() {
        let line = |t: &str| format!("{t},U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success");
        let Ok(Some(Event::Auth(a))) = auth(&line("253402300799")) else {
            panic!()
        };
        assert_eq!(a.time, crate::norm::MAX_TIME_MS - 999);
        // Near i64::MAX / 1000: milliseconds would fit, but engine arithmetic on them would not.
        for t in ["253402300800", "9223372036854775", "99999999999999999999"] {
            let err = auth(&line(t)).unwrap_err();
            assert_eq!(err.reason, Reason::BadTime, "{t}: {err}");
        }
        let err = auth(&line("1€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€")).unwrap_err();
        assert_eq!(err.reason, Reason::BadTime);
        assert!(err.detail.contains("`1€€€€€€€€€€€€€…`"), "{err}");
        let err = auth(&line("1").replace("Success", &"€".repeat(30))).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownValue);
    }

    #[test]
    fn flows_turn_replies_around() {
        let mut syms = Interner::new();
        let Event::Flow(f) = FlowDecoder
            .decode(b"1,0,C1065,389,C3799,N10451,6,10,5323", &mut syms)
            .unwrap()
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(syms.resolve(f.src), "C3799");
        assert_eq!(syms.resolve(f.dst), "C1065");
        assert_eq!(f.dst_port, 389);
        assert_eq!(f.src_port, 0);
        assert_eq!((f.protocol, f.packets, f.bytes), (6, 10, 5323));
        let err = FlowDecoder
            .decode(b"1,0,C1,N1,C2,99999,6,10,5", &mut syms)
            .unwrap_err();
        assert_eq!(err.reason, Reason::BadNumber);
        let err = FlowDecoder
            .decode(b"1,0,C1,N1,C2,445,6,ten,5", &mut syms)
            .unwrap_err();
        assert_eq!(err.reason, Reason::BadNumber);
    }

    #[test]
    fn redteam_lines() {
        let r = parse_redteam(b"150885,U620@DOM1,C17693,C1003").unwrap();
        assert_eq!(r.time, 150_885_000);
        assert_eq!(r.identity, "U620@DOM1");
        assert_eq!(r.dst, "C1003");
    }

    #[test]
    fn every_line_of_the_real_lanl_sample_decodes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/lanl/auth_sample.txt"
        );
        let data = std::fs::read(path).expect("testdata/lanl/auth_sample.txt");
        let mut syms = Interner::new();
        let mut n = 0;
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            AuthDecoder.decode(line, &mut syms).unwrap().unwrap();
            n += 1;
        }
        assert!(n >= 1000, "{n}");
    }
}
