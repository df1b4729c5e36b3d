//! Zeek `conn.log`, as TSV with its `#fields` header or as JSON lines.
//!
//! TSV: the `#separator`, `#unset_field` and `#fields` header lines set how the records that follow
//! are read; a record before any `#fields` line is malformed. Header state is set by the header
//! block before the first record only: a later `#separator`, `#unset_field` or `#fields` line
//! that repeats the current one (as in logs of one writer concatenated) is skipped, and one that
//! differs is dead-lettered (`malformed`) and changes nothing, so that a line injected into the
//! stream cannot re-map the fields of the good records after it. Other `#` lines (`#path`,
//! `#open`, `#close`, `#types`, …) are skipped anywhere. JSON: keys `id.orig_h` (flattened),
//! `id: {orig_h}` (nested) or `id_orig_h` (underscored, as some pipelines rename them) are all
//! accepted.
//!
//! Mapping: `ts` → time (epoch seconds or RFC 3339), `id.orig_h:orig_p` → source (the originator;
//! Zeek already turned around flows whose `history` has `^`), `id.resp_h:resp_p` → destination,
//! `proto` → protocol, `duration` (s) → duration, `orig_pkts + resp_pkts` → packets,
//! `orig_bytes + resp_bytes` (payload) → bytes. Hosts are addresses; `--hosts` maps them to names.
//! TCP connections that never completed a handshake (`conn_state` `S0`, `REJ`, `RSTOS0`,
//! `RSTRH`, `SH`, `SHR`) reached nothing and are skipped.

use crate::json;
use crate::norm::{self, present};
use crate::{DecodeError, LineDecoder, Reason};
use reachwatch_model::{Event, FlowEvent, Interner};
use std::borrow::Cow;

/// The conn.log fields reachwatch reads, in slot order.
const FIELDS: [&str; 12] = [
    "ts",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_pkts",
    "resp_pkts",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
];

/// One record's fields, whichever encoding they came from.
type Slots<'a> = [Option<Cow<'a, str>>; 12];

/// Decoder for Zeek conn.log (flows stream). Stateful: TSV headers before the first record set
/// the column layout. State changes only by whole assignment of checked values.
#[derive(Clone, Debug)]
pub struct Decoder {
    separator: Vec<u8>,
    unset: Vec<u8>,
    /// For each TSV column, the slot it fills.
    columns: Option<Vec<Option<usize>>>,
    /// A record line was seen: headers may only repeat the current ones from now on.
    records_seen: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            separator: b"\t".to_vec(),
            unset: b"-".to_vec(),
            columns: None,
            records_seen: false,
        }
    }
}

/// Decodes the `\x09` escapes Zeek writes in `#separator`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') && i + 3 < s.len() {
            if let Some(b) = std::str::from_utf8(&s[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Fields of a line separated by a (possibly multi-byte) separator.
struct Split<'a, 's> {
    rest: Option<&'a [u8]>,
    sep: &'s [u8],
}

impl<'a> Iterator for Split<'a, '_> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let r = self.rest?;
        match memchr::memmem::find(r, self.sep) {
            Some(i) if !self.sep.is_empty() => {
                self.rest = Some(&r[i + self.sep.len()..]);
                Some(&r[..i])
            }
            _ => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

fn split<'a, 's>(line: &'a [u8], sep: &'s [u8]) -> Split<'a, 's> {
    Split {
        rest: Some(line),
        sep,
    }
}

/// One header line's setting.
#[derive(PartialEq)]
enum Header {
    Separator(Vec<u8>),
    Unset(Vec<u8>),
    Columns(Vec<Option<usize>>),
}

impl Decoder {
    /// Reads a header line; `None` for `#` lines that set nothing.
    fn parse_header(&self, line: &[u8]) -> Result<Option<Header>, DecodeError> {
        if let Some(rest) = line.strip_prefix(b"#separator ") {
            let separator = unescape(rest);
            if separator.is_empty() {
                return Err(DecodeError::new(Reason::Malformed, "empty #separator"));
            }
            Ok(Some(Header::Separator(separator)))
        } else if let Some(rest) = line.strip_prefix(b"#unset_field") {
            let rest = rest.strip_prefix(&self.separator[..]).unwrap_or(rest);
            Ok(Some(Header::Unset(rest.to_vec())))
        } else if let Some(rest) = line.strip_prefix(b"#fields") {
            let rest = rest.strip_prefix(&self.separator[..]).unwrap_or(rest);
            let cols: Vec<Option<usize>> = split(rest, &self.separator)
                .map(|c| FIELDS.iter().position(|f| f.as_bytes() == c))
                .collect();
            for needed in [0, 1, 3] {
                if !cols.contains(&Some(needed)) {
                    return Err(DecodeError::new(
                        Reason::Malformed,
                        format!("#fields has no `{}` column", FIELDS[needed]),
                    ));
                }
            }
            Ok(Some(Header::Columns(cols)))
        } else {
            Ok(None)
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        let Some(header) = self.parse_header(line)? else {
            return Ok(());
        };
        if self.records_seen {
            let current = match &header {
                Header::Separator(_) => Header::Separator(self.separator.clone()),
                Header::Unset(_) => Header::Unset(self.unset.clone()),
                Header::Columns(_) => Header::Columns(self.columns.clone().unwrap_or_default()),
            };
            if header != current {
                return Err(DecodeError::new(
                    Reason::Malformed,
                    "a header line after records that differs from the current header (headers \
                     may only change before the first record); ignored",
                ));
            }
            return Ok(());
        }
        match header {
            Header::Separator(s) => self.separator = s,
            Header::Unset(u) => self.unset = u,
            Header::Columns(c) => self.columns = Some(c),
        }
        Ok(())
    }

    fn tsv<'a>(&self, line: &'a [u8]) -> Result<Slots<'a>, DecodeError> {
        let Some(cols) = &self.columns else {
            return Err(DecodeError::new(
                Reason::Malformed,
                "TSV record before any #fields header",
            ));
        };
        let mut slots: Slots<'a> = Default::default();
        let mut n = 0;
        for (i, value) in split(line, &self.separator).enumerate() {
            n = i + 1;
            if let Some(Some(slot)) = cols.get(i) {
                if value != &self.unset[..] {
                    slots[*slot] = Some(String::from_utf8_lossy(value));
                }
            }
        }
        if n != cols.len() {
            return Err(DecodeError::new(
                Reason::Malformed,
                format!("expected {} fields, found {n}", cols.len()),
            ));
        }
        Ok(slots)
    }
}

fn from_json(line: &[u8]) -> Result<Slots<'static>, DecodeError> {
    let v = json::object(line)?;
    let mut slots: Slots<'static> = Default::default();
    for (slot, f) in FIELDS.iter().enumerate() {
        let nested = f.replace('.', "_");
        let paths = [*f, nested.as_str()];
        slots[slot] = json::text(&v, &paths)?.map(|c| Cow::Owned(c.into_owned()));
    }
    Ok(slots)
}

fn flow(s: &Slots<'_>, syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
    let text = |i: usize| s[i].as_deref();
    let time = norm::time_text(text(0).ok_or_else(|| norm::missing("ts"))?)?;
    let protocol = norm::ip_protocol(text(5))?;
    if protocol == 6
        && matches!(
            present(text(11)),
            Some("S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR")
        )
    {
        return Ok(None);
    }
    let src = norm::host_or_ip(syms, "id.orig_h", None, text(1))?
        .ok_or_else(|| norm::missing("id.orig_h"))?;
    let dst = norm::host_or_ip(syms, "id.resp_h", None, text(3))?
        .ok_or_else(|| norm::missing("id.resp_h"))?;
    let duration = match present(text(6)) {
        None => 0,
        Some(d) => match d.parse::<f64>() {
            Ok(d) if d.is_finite() && d >= 0.0 => (d * 1000.0).round().min(u32::MAX as f64) as u32,
            _ => return Err(norm::bad_number("duration", d, "non-negative seconds")),
        },
    };
    let sum = |a: usize, b: usize, name| -> Result<u64, DecodeError> {
        Ok(norm::count(name, text(a))?.saturating_add(norm::count(name, text(b))?))
    };
    Ok(Some(Event::Flow(FlowEvent {
        time,
        duration,
        src,
        dst,
        src_port: norm::port("id.orig_p", text(2))?,
        dst_port: norm::port("id.resp_p", text(4))?,
        protocol,
        packets: sum(7, 8, "orig_pkts")?,
        bytes: sum(9, 10, "orig_bytes")?,
    })))
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match line[0] {
            b'#' => self.header(line).map(|()| None),
            b'{' => {
                self.records_seen = true;
                flow(&from_json(line)?, syms)
            }
            _ => {
                self.records_seen = true;
                let slots = self.tsv(line)?;
                flow(&slots, syms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(d: &mut Decoder, syms: &mut Interner, line: &str) -> (String, String) {
        let Ok(Some(Event::Flow(f))) = d.decode(line.as_bytes(), syms) else {
            panic!("{line}")
        };
        (syms.resolve(f.src).into(), syms.resolve(f.dst).into())
    }

    #[test]
    fn headers_change_only_before_the_first_record() {
        let mut d = Decoder::default();
        let mut syms = Interner::new();
        let fields = "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p";
        for h in ["#separator \\x09", "#path\tconn", fields] {
            assert_eq!(d.decode(h.as_bytes(), &mut syms), Ok(None), "{h}");
        }
        let record = "1.5\t10.0.0.1\t50000\t10.0.0.2\t445";
        let expected = ("10.0.0.1".to_string(), "10.0.0.2".to_string());
        assert_eq!(ends(&mut d, &mut syms, record), expected);
        // An injected header that swaps the ends, or changes the separator or unset marker.
        for injected in [
            "#fields\tts\tid.resp_h\tid.resp_p\tid.orig_h\tid.orig_p",
            "#separator ,",
            "#unset_field\t10.0.0.1",
        ] {
            let err = d.decode(injected.as_bytes(), &mut syms).unwrap_err();
            assert_eq!(err.reason, Reason::Malformed, "{injected}");
            assert_eq!(
                ends(&mut d, &mut syms, record),
                expected,
                "after {injected}"
            );
        }
        // The header block of a concatenated log of the same writer, and comments, are skipped.
        for h in [
            "#close\t2020-05-01",
            "#separator \\x09",
            "#unset_field\t-",
            fields,
            "#types\ttime",
        ] {
            assert_eq!(d.decode(h.as_bytes(), &mut syms), Ok(None), "{h}");
        }
        assert_eq!(ends(&mut d, &mut syms, record), expected);
    }

    #[test]
    fn a_bad_header_before_records_changes_nothing() {
        let mut d = Decoder::default();
        let mut syms = Interner::new();
        let err = d.decode(b"#separator ", &mut syms).unwrap_err();
        assert_eq!(err.reason, Reason::Malformed);
        let fields = b"#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p";
        assert_eq!(d.decode(fields, &mut syms), Ok(None));
        let (src, dst) = ends(&mut d, &mut syms, "1\t10.0.0.1\t1\t10.0.0.2\t2");
        assert_eq!((src.as_str(), dst.as_str()), ("10.0.0.1", "10.0.0.2"));
    }
}
