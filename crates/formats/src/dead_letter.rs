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

/// Longest excerpt of the original record kept in a dead letter.
pub const MAX_RAW: usize = 4096;

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
    /// The original record's exact bytes (for outputs that keep them, such as the dead-letter
    /// topic), at most [`MAX_BYTES`].
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Most original bytes kept in a dead letter: records up to this size keep every byte; the
/// dead-letter record (base64, about 4/3 of this) stays under a producer's 1 MB message limit.
pub const MAX_BYTES: usize = 512 * 1024;

impl DeadLetter {
    /// A dead letter for `raw` at `source:line`.
    pub fn new(source: &str, line: u64, err: DecodeError, raw: &[u8]) -> Self {
        let truncated = raw.len() > MAX_RAW;
        DeadLetter {
            source: source.to_string(),
            line,
            reason: err.reason,
            detail: err.detail,
            raw: String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW)]).into_owned(),
            truncated,
            bytes: raw[..raw.len().min(MAX_BYTES)].to_vec(),
        }
    }
}
