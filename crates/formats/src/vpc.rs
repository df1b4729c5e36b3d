//! AWS VPC Flow Logs: the version 2 default format, or a custom field order given by a header line
//! (`version account-id … srcaddr dstaddr …`, as written to S3 and by the console export).
//!
//! Mapping: `start` (epoch s) → time, `end - start` → duration, `srcaddr:srcport` → source,
//! `dstaddr:dstport` → destination, `protocol`, `packets`, `bytes`. A header line (any line
//! whose first field is not a number) sets the field order for the lines that follow; it must name
//! `srcaddr`, `dstaddr` and `start`. VPC records carry no originator, so a record whose source port
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

/// Decoder for VPC Flow Logs (flows stream). Stateful: a header line sets the field order.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// For each column, the slot it fills.
    columns: Vec<Option<usize>>,
}

impl Default for Decoder {
    fn default() -> Self {
        let mut d = Decoder { columns: vec![] };
        d.header(DEFAULT_HEADER).expect("default header is valid");
        d
    }
}

impl Decoder {
    fn header(&mut self, line: &str) -> Result<(), DecodeError> {
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
        self.columns = cols;
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
                    Ok(t) if t.unsigned_abs() < 10_000_000_000_000 / 1000 => Ok(Some(t * 1000)),
                    _ => Err(DecodeError::new(
                        Reason::BadTime,
                        format!("`{s}` is not epoch seconds"),
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
