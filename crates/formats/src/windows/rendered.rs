//! One Windows event as read from a rendering (JSON, XML, EVTX): its `System` values as text and
//! the `EventData` fields the mapping reads. Every rendering fills this; it checks the header and
//! hands the event to the mapping.

use super::fields::{FieldValues, Header, Provider};
use super::mapping::{self, Mapping};
use crate::norm;
use crate::{DecodeError, LineDecoder, Reason, SkipKey, Skipped};
use reachwatch_model::{Event, Interner};
use std::borrow::Cow;

/// The `System` values of an event, as text.
#[derive(Debug, Default)]
pub struct System<'a> {
    /// `EventID`.
    pub id: Option<Cow<'a, str>>,
    /// `Provider/@Name`.
    pub provider: Option<Cow<'a, str>>,
    /// `Channel`.
    pub channel: Option<Cow<'a, str>>,
    /// `TimeCreated/@SystemTime`.
    pub time: Option<Cow<'a, str>>,
    /// `Computer`.
    pub computer: Option<Cow<'a, str>>,
}

/// One event as read from any rendering: its `System` values and the `EventData` fields the
/// mapping reads.
#[derive(Debug, Default)]
pub struct Rendered<'a> {
    /// The `System` values.
    pub system: System<'a>,
    /// The `EventData` values.
    pub fields: FieldValues<'a>,
}

/// A `TimeCreated` value (`2019-03-19T23:34:27.1718340Z`; a space instead of the `T` is
/// accepted) in epoch milliseconds.
pub fn system_time(s: &str) -> Result<i64, DecodeError> {
    let s = s.trim();
    if s.as_bytes().get(10) == Some(&b' ') {
        let mut t = s.to_string();
        t.replace_range(10..11, "T");
        return norm::time_text(&t);
    }
    norm::time_text(s)
}

impl<'a> Rendered<'a> {
    /// The event's header, or why it gives nothing: `Ok(Err(key))` for events the mapping skips
    /// (decided from the id and provider alone, before anything else is required).
    pub fn header(&self) -> Result<Result<Header<'_>, SkipKey>, DecodeError> {
        let s = &self.system;
        let id =
            s.id.as_deref()
                .ok_or_else(|| norm::missing("EventID"))?
                .trim();
        let id: u32 = id
            .parse()
            .map_err(|_| norm::bad_number("EventID", id, "an event id"))?;
        let provider = Provider::from_names(s.provider.as_deref(), s.channel.as_deref());
        if let Some(key) = mapping::skipped(provider, id) {
            return Ok(Err(key));
        }
        let time = system_time(
            s.time
                .as_deref()
                .ok_or_else(|| DecodeError::new(Reason::BadTime, "missing TimeCreated"))?,
        )?;
        let computer = s
            .computer
            .as_deref()
            .ok_or_else(|| norm::missing("Computer"))?;
        Ok(Ok(Header {
            id,
            provider,
            time,
            computer: Cow::Borrowed(computer),
        }))
    }

    /// Maps the event ([`mapping::map`]).
    pub fn map(&self, syms: &mut Interner) -> Result<Mapping, DecodeError> {
        match self.header()? {
            Ok(h) => mapping::map(&h, &self.fields, syms),
            Err(key) => Ok(Mapping::Skip(key)),
        }
    }
}

/// The event of a mapping; a skip is counted in `skipped`.
pub fn event_of(mapping: Mapping, skipped: &mut Skipped) -> Option<Event> {
    match mapping {
        Mapping::Event(m) => Some(m.event),
        Mapping::Skip(key) => {
            skipped.add(key);
            None
        }
    }
}

/// How a rendering reads one record.
pub type Parse = for<'a> fn(&'a [u8]) -> Result<Rendered<'a>, DecodeError>;

/// A line decoder for a rendering: one record per line (auth and flows).
#[derive(Clone, Debug)]
pub struct Decoder {
    parse: Parse,
    skipped: Skipped,
}

impl Decoder {
    /// A decoder reading records with `parse` ([`super::event_json::parse`],
    /// [`super::event_xml::parse`]).
    pub fn new(parse: Parse) -> Self {
        Decoder {
            parse,
            skipped: Skipped::default(),
        }
    }
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let mapping = (self.parse)(line)?.map(syms)?;
        Ok(event_of(mapping, &mut self.skipped))
    }

    fn take_skipped(&mut self) -> Skipped {
        std::mem::take(&mut self.skipped)
    }
}
