//! Format detection from the first non-empty lines of an input (`--format auto`).
//!
//! Rules, first match wins: the EVTX signature `ElfFile\0` → EVTX; a `{"Records"` document →
//! CloudTrail; `<?xml`, `<Events` or `<Event` → event XML; a JSON object with `Event.System` (or
//! `evtx_dump`'s `Record N` line before one) → event JSON; a `#separator`/`#fields` line →
//! Zeek; a JSON object with `class_uid` → OCSF, with `eventSource`/`userIdentity` → CloudTrail,
//! with `auditID`/`objectRef` → Kubernetes audit, with `winlog`/`EventID`/`event.code` → Windows,
//! with `conn_state` or `id.orig_h` → Zeek, with `identity`/`src_host`/`dst_host` → native; a
//! space-separated line starting `version … srcaddr` or a 14-field line of a VPC record → VPC;
//! nine comma-separated fields starting with a number → LANL.

use crate::json::get;
use crate::{decoder, DecodeError, Format, LineDecoder, Reason, Stream};
use reachwatch_model::{Event, Interner};
use serde_json::Value;

/// Lines of the head looked at.
pub const LINES: usize = 5;

fn sniff_line(line: &[u8]) -> Option<Format> {
    let text = std::str::from_utf8(line).ok()?.trim();
    if text.starts_with("#separator") || text.starts_with("#fields") {
        return Some(Format::Zeek);
    }
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).ok()?;
        let has = |k: &str| get(&v, k).is_some();
        return if crate::windows::event_json::looks_like(&v) {
            Some(Format::EventJson)
        } else if has("class_uid") {
            Some(Format::Ocsf)
        } else if has("eventSource") || has("userIdentity") {
            Some(Format::CloudTrail)
        } else if has("auditID") || has("objectRef") {
            Some(Format::K8s)
        } else if crate::windows::looks_like(&v) {
            Some(Format::Windows)
        } else if has("conn_state") || has("id.orig_h") || has("id_orig_h") {
            Some(Format::Zeek)
        } else if has("identity") || has("src_host") || has("dst_host") || has("src_ip") {
            Some(Format::Native)
        } else {
            None
        };
    }
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    if words.first() == Some(&"version") && words.contains(&"srcaddr") {
        return Some(Format::Vpc);
    }
    if words.len() == 14 && words[0] == "2" && matches!(words[12], "ACCEPT" | "REJECT" | "-") {
        return Some(Format::Vpc);
    }
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() == 9 && fields[0].bytes().all(|b| b.is_ascii_digit()) && !fields[0].is_empty() {
        return Some(Format::Lanl);
    }
    None
}

/// The format of an input from its first bytes, if recognised.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(crate::windows::evtx::SIGNATURE) {
        return Some(Format::Evtx);
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let body = &head[start..];
    if body.starts_with(b"<?xml")
        || body.starts_with(b"<Events")
        || body.starts_with(b"<Event ")
        || body.starts_with(b"<Event>")
    {
        return Some(Format::EventXml);
    }
    // `evtx_dump -o json`: `Record 1` and a pretty-printed object.
    if body.starts_with(b"Record ") {
        let text = String::from_utf8_lossy(body);
        if text
            .lines()
            .skip(1)
            .take(3)
            .any(|l| l.trim_start().starts_with("\"Event\""))
        {
            return Some(Format::EventJson);
        }
    }
    if body.starts_with(b"{") {
        let after = &body[1..];
        let after = &after[after
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0)..];
        if after.starts_with(b"\"Records\"") {
            return Some(Format::CloudTrail);
        }
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(LINES)
        .find_map(sniff_line)
}

/// A decoder that picks its format from the first non-empty line it sees.
pub struct AutoDecoder {
    stream: Stream,
    inner: Option<Box<dyn LineDecoder>>,
}

impl AutoDecoder {
    /// A decoder for `stream` that has not decided yet.
    pub fn new(stream: Stream) -> Self {
        AutoDecoder {
            stream,
            inner: None,
        }
    }
}

impl LineDecoder for AutoDecoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if self.inner.is_none() {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            match sniff_line(line) {
                Some(f) => self.inner = Some(decoder(f, self.stream)),
                None => {
                    return Err(DecodeError::new(
                        Reason::Malformed,
                        "the first record is in no known format",
                    ))
                }
            }
        }
        match &mut self.inner {
            Some(d) => d.decode(line, syms),
            None => Ok(None),
        }
    }

    fn take_skipped(&mut self) -> crate::Skipped {
        self.inner
            .as_mut()
            .map(|d| d.take_skipped())
            .unwrap_or_default()
    }
}
