//! One Windows event as read from a rendering (JSON, XML, EVTX): its `System` values as text and
//! the `EventData` fields the mapping reads. Every rendering fills this; it checks the header and
//! hands the event to the mapping.

use super::fields::{FieldValues, Header, Provider};
use super::mapping::{self, Mapping};
use crate::norm;
use crate::{DecodeError, Reason, SkipKey};
use reachwatch_model::Interner;
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
