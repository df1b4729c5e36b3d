//! Dead letters: input that could not be used, kept with where it came from and why.

use serde::Serialize;

/// Why an input record was rejected. A small fixed set, usable as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Wrong number of fields or unparseable structure.
    Malformed,
    /// Time missing, not a number or not a valid timestamp.
    BadTime,
    /// A numeric field that is not a number in range.
    BadNumber,
    /// A required field is empty.
    EmptyField,
    /// A field or the whole line exceeds the size limit.
    TooLong,
    /// Not valid JSON.
    BadJson,
    /// A JSON field of the wrong type.
    WrongType,
    /// A value outside the documented enumeration.
    UnknownValue,
    /// Older than the watermark minus the allowed lateness.
    Late,
    /// Further ahead of the stream's time than the allowed clock skew.
    ClockSkew,
    /// The decoder failed on the record in a way it should not (a bug, caught and counted so that
    /// the records around it are still read); the message says what happened.
    Internal,
}

impl Reason {
    /// The name used in dead-letter records and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadTime => "bad_time",
            Reason::BadNumber => "bad_number",
            Reason::EmptyField => "empty_field",
            Reason::TooLong => "too_long",
            Reason::BadJson => "bad_json",
            Reason::WrongType => "wrong_type",
            Reason::UnknownValue => "unknown_value",
            Reason::Late => "late",
            Reason::ClockSkew => "clock_skew",
            Reason::Internal => "internal",
        }
    }
}

/// A decoding failure: the reason class and a precise message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Reason class.
    pub reason: Reason,
    /// What was wrong and what was expected.
    pub detail: String,
}

impl DecodeError {
    /// A new error.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.name(), self.detail)
    }
}

/// Longest excerpt of the original record kept in a dead letter's `raw` text.
pub const MAX_RAW: usize = 4096;

/// Longest part of the original record a dead-letter sink keeps as exact bytes ([`kept`]): 512 KiB,
/// so that records up to that size keep every byte while a dead letter of any record,
/// base64-encoded (4/3 of it), stays below a broker's message limit (1 MB by default) and never
/// stops a run.
pub const MAX_KEPT: usize = 512 * 1024;

/// The part of `raw` a dead-letter sink keeps as exact bytes: its first [`MAX_KEPT`] bytes.
/// [`DeadLetter::length`] tells whether that is all of it.
pub fn kept(raw: &[u8]) -> &[u8] {
    &raw[..raw.len().min(MAX_KEPT)]
}

/// One rejected record, as written to the dead-letter output (one JSON object per line).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Input name (file path, or `topic/partition`).
    pub source: String,
    /// 1-based line number (files) or offset (Kafka).
    pub line: u64,
    /// Reason class.
    pub reason: Reason,
    /// Precise message.
    pub detail: String,
    /// The original record (lossy UTF-8, truncated to [`MAX_RAW`] bytes).
    pub raw: String,
    /// True when `raw` was truncated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Length of the original record in bytes (of the part read, for a line over the line limit).
    pub length: u64,
    /// The original record's exact bytes as a dead-letter sink keeps them ([`kept`]), for sinks
    /// that carry them (the dead-letter topic).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl DeadLetter {
    /// A dead letter for `raw` at `source:line`.
    pub fn new(source: &str, line: u64, err: DecodeError, raw: &[u8]) -> Self {
        let truncated = raw.len() > MAX_RAW;
        let length = raw.len() as u64;
        DeadLetter {
            source: source.to_string(),
            line,
            reason: err.reason,
            detail: err.detail,
            raw: String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW)]).into_owned(),
            truncated,
            length,
            bytes: kept(raw).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_keeps_a_bounded_part_of_a_huge_record() {
        let huge = vec![b'x'; 3 << 20];
        let d = DeadLetter::new("t", 7, DecodeError::new(Reason::TooLong, "big"), &huge);
        assert_eq!(d.raw.len(), MAX_RAW);
        assert!(d.truncated);
        assert_eq!(d.length, 3 << 20);
        assert_eq!(kept(&huge).len(), MAX_KEPT);
        assert_eq!(d.bytes.len(), 512 * 1024);
        assert_eq!(kept(b"small"), b"small");
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.len() < 5000, "{}", json.len());
        assert!(
            json.contains(r#""truncated":true,"length":3145728"#),
            "{json}"
        );
    }
}
