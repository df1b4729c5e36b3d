//! Input decoders and output encoders. Decoders turn one line into one event or a precise error;
//! they never panic on any input and never allocate per field (names are interned).

pub mod alert_json;
pub mod dead_letter;
pub mod lanl;
pub mod lines;
pub mod native;

pub use dead_letter::{DeadLetter, DecodeError, Reason};

use reachwatch_model::{Event, Interner};

/// Longest accepted line, in bytes; longer lines are dead-lettered.
pub const MAX_LINE: usize = 64 * 1024;
/// Longest accepted name (identity, host, service), in bytes.
pub const MAX_NAME: usize = 512;

/// Which input format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// LANL comma-separated layout.
    Lanl,
    /// reachwatch native JSON lines.
    Native,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lanl" => Ok(Format::Lanl),
            "native" | "json" => Ok(Format::Native),
            other => Err(format!(
                "unknown format `{other}` (expected `lanl` or `native`)"
            )),
        }
    }
}

/// Whether a stream holds authentications or flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Authentication events.
    Auth,
    /// Network flows.
    Flows,
}

impl Stream {
    /// `auth` or `flows`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Auth => "auth",
            Stream::Flows => "flows",
        }
    }
}

/// Decodes one line of a given format and stream into an event.
pub trait LineDecoder: Send {
    /// `Ok(None)` for lines that carry no event (blank lines, comments, headers).
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError>;
}

/// The decoder for a format and stream.
pub fn decoder(format: Format, stream: Stream) -> Box<dyn LineDecoder> {
    match (format, stream) {
        (Format::Lanl, Stream::Auth) => Box::new(lanl::AuthDecoder),
        (Format::Lanl, Stream::Flows) => Box::new(lanl::FlowDecoder),
        (Format::Native, Stream::Auth) => Box::new(native::AuthDecoder),
        (Format::Native, Stream::Flows) => Box::new(native::FlowDecoder),
    }
}

/// Interns a name field after checking it is present and not oversized.
pub(crate) fn name(
    syms: &mut Interner,
    field: &'static str,
    value: &[u8],
) -> Result<reachwatch_model::Sym, DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::new(
            Reason::EmptyField,
            format!("empty {field}"),
        ));
    }
    if value.len() > MAX_NAME {
        return Err(DecodeError::new(
            Reason::TooLong,
            format!("{field} is {} bytes (limit {MAX_NAME})", value.len()),
        ));
    }
    Ok(syms.intern(value))
}
