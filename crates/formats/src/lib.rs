//! Input decoders and output encoders. Decoders turn one line into one event or a precise error;
//! they never panic on any input and never allocate per field (names are interned).

pub mod alert_ecs;
pub mod alert_json;
pub mod alert_ocsf;
pub mod cloudtrail;
pub mod dead_letter;
pub mod hosts;
pub mod json;
pub mod k8s;
pub mod lanl;
pub mod lines;
pub mod native;
pub mod norm;
pub mod ocsf;
pub mod records;
pub mod skipped;
pub mod sniff;
pub mod symbols;
pub mod vpc;
pub mod windows;
pub mod zeek;

pub use dead_letter::{DeadLetter, DecodeError, Reason};
pub use hosts::HostMap;
pub use skipped::{SkipKey, Skipped};

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
    /// Windows Security events (Winlogbeat / Elastic Agent ECS, or flat NXLog) — auth.
    Windows,
    /// Windows EVTX files, or a directory of them (a triage collection) — auth and flows.
    Evtx,
    /// Windows events as `evtx_dump`, Hayabusa and Chainsaw write them: `{"Event":{"System":…,
    /// "EventData":…}}`, one per line or pretty-printed — auth and flows.
    EventJson,
    /// Rendered Windows event XML (Windows Event Forwarding, `wevtutil qe /f:xml`, Event Viewer's
    /// "Save as XML") — auth and flows.
    EventXml,
    /// Zeek conn.log, TSV with header or JSON — flows.
    Zeek,
    /// AWS VPC Flow Logs, default or header-defined field order — flows.
    Vpc,
    /// AWS CloudTrail records, one per line or `{"Records":[…]}` documents — auth.
    CloudTrail,
    /// Kubernetes audit events — auth.
    K8s,
    /// OCSF Authentication (3002, auth) and Network Activity (4001, flows).
    Ocsf,
    /// Detect from the first lines ([`sniff`]).
    Auto,
}

/// Every format name accepted by [`Format::from_str`](std::str::FromStr).
pub const FORMAT_NAMES: &str =
    "lanl, native, windows (ecs), evtx, evtx-json, evtx-xml, zeek, vpc, \
     cloudtrail, k8s, ocsf or auto";

impl Format {
    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Lanl => "lanl",
            Format::Native => "native",
            Format::Windows => "windows",
            Format::Evtx => "evtx",
            Format::EventJson => "evtx-json",
            Format::EventXml => "evtx-xml",
            Format::Zeek => "zeek",
            Format::Vpc => "vpc",
            Format::CloudTrail => "cloudtrail",
            Format::K8s => "k8s",
            Format::Ocsf => "ocsf",
            Format::Auto => "auto",
        }
    }

    /// True when times are absolute (Unix epoch), i.e. everything but LANL's relative seconds.
    pub fn absolute_time(self) -> bool {
        !matches!(self, Format::Lanl)
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "lanl" => Format::Lanl,
            "native" | "json" => Format::Native,
            "windows" | "ecs" | "winlogbeat" => Format::Windows,
            "evtx" => Format::Evtx,
            "evtx-json" | "evtx_dump" | "hayabusa" | "chainsaw" => Format::EventJson,
            "evtx-xml" | "event-xml" | "xml" | "wef" => Format::EventXml,
            "zeek" => Format::Zeek,
            "vpc" | "vpc-flow" => Format::Vpc,
            "cloudtrail" => Format::CloudTrail,
            "k8s" | "k8s-audit" | "kubernetes" => Format::K8s,
            "ocsf" => Format::Ocsf,
            "auto" => Format::Auto,
            _ => return Err(format!("unknown format `{s}` (expected {FORMAT_NAMES})")),
        })
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

/// Decodes one line of a given format and stream into an event. A decoder changes its own state
/// (headers) only by whole assignments of checked values, so that a panic caught by
/// [`lines::decode_guarded`] leaves it as it was before or after a line, never in between.
pub trait LineDecoder: Send {
    /// `Ok(None)` for lines that carry no event (blank lines, comments, headers).
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError>;

    /// The records counted as skipped since the last call (Windows events of ids reachwatch does
    /// not read, …); the decoding thread moves them into each batch.
    fn take_skipped(&mut self) -> Skipped {
        Skipped::default()
    }
}

/// The decoder for a format and stream. Formats of the other stream (e.g. Zeek on the auth stream)
/// decode what they can express: a flow format on the auth stream yields flows, and so on.
/// [`Format::Auto`] decides on the first non-empty line ([`sniff::AutoDecoder`]).
pub fn decoder(format: Format, stream: Stream) -> Box<dyn LineDecoder> {
    match (format, stream) {
        (Format::Lanl, Stream::Auth) => Box::new(lanl::AuthDecoder),
        (Format::Lanl, Stream::Flows) => Box::new(lanl::FlowDecoder),
        (Format::Native, Stream::Auth) => Box::new(native::AuthDecoder),
        (Format::Native, Stream::Flows) => Box::new(native::FlowDecoder),
        (Format::Windows, _) => Box::new(windows::Decoder::default()),
        (Format::Evtx, _) => Box::new(windows::evtx::NotLines),
        (Format::EventJson, _) => {
            Box::new(windows::rendered::Decoder::new(windows::event_json::parse))
        }
        (Format::EventXml, _) => {
            Box::new(windows::rendered::Decoder::new(windows::event_xml::parse))
        }
        (Format::Zeek, _) => Box::new(zeek::Decoder::default()),
        (Format::Vpc, _) => Box::new(vpc::Decoder::default()),
        (Format::CloudTrail, _) => Box::new(cloudtrail::Decoder),
        (Format::K8s, _) => Box::new(k8s::Decoder),
        (Format::Ocsf, s) => Box::new(ocsf::Decoder(s)),
        (Format::Auto, s) => Box::new(sniff::AutoDecoder::new(s)),
    }
}

/// Wraps a reader for formats that need whole-document handling before line splitting
/// (CloudTrail `Records` documents, pretty-printed event JSON, event XML: one record per line);
/// other formats read lines directly.
pub fn reader_for(
    format: Format,
    reader: Box<dyn std::io::Read + Send>,
) -> Box<dyn std::io::Read + Send> {
    match format {
        Format::CloudTrail => Box::new(records::RecordsReader::new(reader)),
        Format::EventJson => Box::new(windows::split::RecordLines::json(reader)),
        Format::EventXml => Box::new(windows::split::RecordLines::xml(reader)),
        _ => reader,
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

/// How alerts are encoded on a sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertFormat {
    /// reachwatch's native alert record ([`alert_json`]).
    #[default]
    Native,
    /// OCSF Detection Finding, class 2004 ([`alert_ocsf`]).
    Ocsf,
    /// ECS alert document ([`alert_ecs`]).
    Ecs,
}

impl std::str::FromStr for AlertFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "native" | "json" => Ok(AlertFormat::Native),
            "ocsf" => Ok(AlertFormat::Ocsf),
            "ecs" => Ok(AlertFormat::Ecs),
            _ => Err(format!(
                "unknown alert format `{s}` (expected native, ocsf or ecs)"
            )),
        }
    }
}

impl AlertFormat {
    /// Writes one alert as one line; `product_version` goes into the producer fields.
    pub fn write(
        self,
        out: &mut impl std::io::Write,
        alert: &reachwatch_model::Alert,
        product_version: &str,
    ) -> std::io::Result<()> {
        match self {
            AlertFormat::Native => alert_json::write_alert(out, alert),
            AlertFormat::Ocsf => alert_ocsf::write_alert(out, alert, product_version),
            AlertFormat::Ecs => alert_ecs::write_alert(out, alert, product_version),
        }
    }
}
