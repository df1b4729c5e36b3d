//! AWS VPC Flow Logs: the version 2 default format, or a custom field order given by a header line
//! (`version account-id … srcaddr dstaddr …`, as written to S3 and by the console export).
//!
//! Mapping: `start` (epoch s) → time, `end - start` → duration, `srcaddr:srcport` → source,
//! `dstaddr:dstport` → destination, `protocol`, `packets`, `bytes`. A header line (any line
//! whose first field is not a number) before the first record sets the field order for the lines
//! that follow; it must name `srcaddr`, `dstaddr` and `start`. After the first record, a header
//! line that repeats the current order (files of one export concatenated) is skipped, and one
//! that differs is dead-lettered (`malformed`) and changes nothing, so that a line injected into
//! the stream cannot re-map the fields of the good records after it. VPC records carry no originator, so a record whose source port
//! is a well-known port (< 1024) and whose destination port is not, or whose destination port is
//! `-`/0, is a reply and is turned around. Records with `log-status` `NODATA`/`SKIPDATA` carry no
//! flow, and `REJECT`ed records reached nothing: both are skipped. Hosts are addresses; `--hosts`
//! maps them to names.

use crate::norm::{self, present};
use crate::{DecodeError, LineDecoder, Reason};
use reachwatch_model::{Event, FlowEvent, Interner};

const FIELDS: [&str; 11] = [
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The version 2 default format.
pub const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
     protocol packets bytes start end action log-status";

/// Decoder for VPC Flow Logs (flows stream). Stateful: a header line before the first record sets
/// the field order. State changes only by whole assignment of checked values.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// For each column, the slot it fills.
    columns: Vec<Option<usize>>,
    /// A record line was seen: a header may only repeat the current one from now on.
    records_seen: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            columns: columns(DEFAULT_HEADER).expect("default header is valid"),
            records_seen: false,
        }
    }
}

/// The slot each column of a header line fills.
fn columns(line: &str) -> Result<Vec<Option<usize>>, DecodeError> {
    let cols: Vec<Option<usize>> = line
        .split_ascii_whitespace()
        .map(|c| FIELDS.iter().position(|f| c.replace('_', "-") == *f))
        .collect();
    for needed in [0, 1, 7] {
        if !cols.contains(&Some(needed)) {
            return Err(DecodeError::new(
                Reason::Malformed,
                format!("header has no `{}` field", FIELDS[needed]),
            ));
        }
    }
    Ok(cols)
}

impl Decoder {
    fn header(&mut self, line: &str) -> Result<(), DecodeError> {
        let cols = columns(line)?;
        if !self.records_seen {
            self.columns = cols;
        } else if cols != self.columns {
            return Err(DecodeError::new(
                Reason::Malformed,
                "a header line after records that differs from the current header (the field \
                 order may only change before the first record); ignored",
            ));
        }
        Ok(())
    }
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| DecodeError::new(Reason::Malformed, "not UTF-8 text"))?
            .trim();
        if line.is_empty() {
            return Ok(None);
        }
        if !line.as_bytes()[0].is_ascii_digit() && line.as_bytes()[0] != b'-' {
            return self.header(line).map(|()| None);
        }
        self.records_seen = true;
        let mut slots: [Option<&str>; 11] = [None; 11];
        let mut n = 0;
        for (i, value) in line.split_ascii_whitespace().enumerate() {
            n = i + 1;
            if let Some(Some(slot)) = self.columns.get(i) {
                slots[*slot] = present(Some(value));
            }
        }
        if n != self.columns.len() {
            return Err(DecodeError::new(
                Reason::Malformed,
                format!("expected {} fields, found {n}", self.columns.len()),
            ));
        }
        if matches!(slots[10], Some("NODATA" | "SKIPDATA")) || slots[9] == Some("REJECT") {
            return Ok(None);
        }
        let secs = |i: usize| -> Result<Option<i64>, DecodeError> {
            match slots[i] {
                None => Ok(None),
                Some(s) => match s.parse::<i64>() {
                    Ok(t) => norm::time_ms(t.saturating_mul(1000), s).map(Some),
                    Err(_) => Err(DecodeError::new(
                        Reason::BadTime,
                        format!("`{}` is not epoch seconds", norm::excerpt(s, norm::EXCERPT)),
                    )),
                },
            }
        };
        let time = secs(7)?.ok_or_else(|| DecodeError::new(Reason::BadTime, "missing `start`"))?;
        let duration = secs(8)?.map_or(0, |end| (end - time).clamp(0, u32::MAX as i64) as u32);
        let mut src = norm::host_or_ip(syms, "srcaddr", None, slots[0])?
            .ok_or_else(|| norm::missing("srcaddr"))?;
        let mut dst = norm::host_or_ip(syms, "dstaddr", None, slots[1])?
            .ok_or_else(|| norm::missing("dstaddr"))?;
        let mut src_port = norm::port("srcport", slots[2])?;
        let mut dst_port = norm::port("dstport", slots[3])?;
        if norm::is_reply(src_port, dst_port, true) {
            std::mem::swap(&mut src, &mut dst);
            std::mem::swap(&mut src_port, &mut dst_port);
        }
        Ok(Some(Event::Flow(FlowEvent {
            time,
            duration,
            src,
            dst,
            src_port,
            dst_port,
            protocol: norm::ip_protocol(slots[4])?,
            packets: norm::count("packets", slots[5])?,
            bytes: norm::count("bytes", slots[6])?,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str =
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 50000 8080 6 20 4249 1418530010 1418530070 ACCEPT OK";

    fn ends(d: &mut Decoder, syms: &mut Interner, line: &str) -> (String, String, u16) {
        let Ok(Some(Event::Flow(f))) = d.decode(line.as_bytes(), syms) else {
            panic!("{line}")
        };
        (
            syms.resolve(f.src).into(),
            syms.resolve(f.dst).into(),
            f.dst_port,
        )
    }

    #[test]
    fn the_field_order_changes_only_before_the_first_record() {
        let mut d = Decoder::default();
        let mut syms = Interner::new();
        let expected = ("10.0.0.1".to_string(), "10.0.0.2".to_string(), 8080);
        assert_eq!(ends(&mut d, &mut syms, RECORD), expected);
        let swapped = DEFAULT_HEADER.replace(
            "srcaddr dstaddr srcport dstport",
            "dstaddr srcaddr dstport srcport",
        );
        let err = d.decode(swapped.as_bytes(), &mut syms).unwrap_err();
        assert_eq!(err.reason, Reason::Malformed);
        assert_eq!(ends(&mut d, &mut syms, RECORD), expected);
        // A repeat of the current order (concatenated exports) is skipped.
        assert_eq!(d.decode(DEFAULT_HEADER.as_bytes(), &mut syms), Ok(None));
        assert_eq!(ends(&mut d, &mut syms, RECORD), expected);

        // Before any record, a header sets the order.
        let mut fresh = Decoder::default();
        assert_eq!(fresh.decode(swapped.as_bytes(), &mut syms), Ok(None));
        let (src, dst, port) = ends(&mut fresh, &mut syms, RECORD);
        assert_eq!(
            (src.as_str(), dst.as_str(), port),
            ("10.0.0.2", "10.0.0.1", 50000)
        );
    }

    #[test]
    fn start_times_outside_1970_to_9999_are_bad_times() {
        let mut d = Decoder::default();
        let mut syms = Interner::new();
        for start in ["253402300800", "-5", "9223372036854775807", "1€€€"] {
            let line = RECORD.replace("1418530010", start);
            let err = d.decode(line.as_bytes(), &mut syms).unwrap_err();
            assert_eq!(err.reason, Reason::BadTime, "{start}: {err}");
        }
    }
}
