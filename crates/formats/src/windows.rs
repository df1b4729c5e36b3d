//! Windows events in every shape responders have them: Winlogbeat / Elastic Agent (ECS) documents
//! and the flat NXLog/Logstash shape (this module's [`Decoder`]), EVTX files ([`evtx`]),
//! `evtx_dump`/Hayabusa/Chainsaw JSON ([`event_json`]) and rendered event XML ([`event_xml`]).
//! Every shape fills the same [`fields::Header`] and [`fields::EventFields`], and one mapping
//! ([`mapping::map`]) turns them into events:
//!
//! | event | identity | source | destination | orientation |
//! |---|---|---|---|---|
//! | 4624 / 4625 | `TargetUserName@TargetDomainName` (else `user.name@user.domain`) | `WorkstationName` / `source.domain`, else `IpAddress` / `source.ip` | logging host | logon (4625: failure) |
//! | 4634 / 4647 | same | — | logging host | logoff |
//! | 4648 | the explicit credentials (`Target*`) | logging host | `TargetServerName` | logon |
//! | 4768 | same | `IpAddress` | logging host (the DC) | TGT |
//! | 4769 | same (UPN realm stripped) | `IpAddress` | `ServiceName` without a trailing `$`; `ServiceName` is the service | TGS |
//! | 4776 | same | `Workstation` | logging host (the validating DC) | other (credential validation, not a reach) |
//! | Sysmon 3 | — (a flow) | `SourceIp`/`SourcePort` (the initiator; the logging host when `Initiated` is true) | `DestinationIp`/`DestinationPort` (the logging host when `Initiated` is false) | flow |
//! | WFP 5156 | — (a flow) | the logging host (`SourceAddress`/`SourcePort`) when `Direction` is outbound (`%%14593`), else `DestAddress`/`DestPort` | the other side | flow |
//!
//! Other event ids (and other providers) are skipped and counted by id. Host names are reduced
//! to their first DNS label so that `WS01.corp.local` (logging host) and `WS01` (workstation name)
//! are one host; addresses get one spelling (`::ffff:` stripped, IPv6 compressed); a loopback
//! address is the logging host itself. A 4648 to `localhost`, `-` or the logging host is local use
//! of credentials and is skipped. The logon type is `LogonType` (number) or `winlog.logon.type`
//! (name); the protocol is `AuthenticationPackageName` (4768/4769 Kerberos, 4776 NTLM). Outcome:
//! `event.outcome` when present, else the event id (4625 fails) or `Status` (`0x0` succeeds).
//! Sysmon and WFP give no bytes or packets; a flow whose ends are one host is skipped.
//!
//! Collections ([`collection`]) also pair a 4648 with the 4624 of the same logon, learn the
//! names of addresses from the logs, and count a connection reported by both ends once.

pub mod collection;
pub mod correlate;
pub mod event_json;
pub mod event_xml;
pub mod evtx;
pub mod evtx_direct;
pub mod evtx_template;
pub mod fields;
pub mod mapping;
mod merge;
pub mod rendered;
pub mod split;

use crate::json::{self, get};
use crate::norm::{self, present};
use crate::{DecodeError, LineDecoder, Skipped};
use fields::{EventFields, Field, Header, Provider};
use reachwatch_model::{Event, Interner};
use serde_json::Value;
use std::borrow::Cow;

/// Decoder for Windows events in ECS or flat shape (auth and flows).
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    skipped: Skipped,
}

/// An ECS or flat document as [`EventFields`].
struct Ecs<'a>(&'a Value);

impl Ecs<'_> {
    /// An EventData field in ECS (`winlog.event_data.X`) or flat (`X`) shape.
    fn data(&self, field: &str) -> Result<Option<Cow<'_, str>>, DecodeError> {
        json::text(
            self.0,
            &[
                &format!("winlog.event_data.{field}"),
                field,
                &format!("event_data.{field}"),
            ],
        )
    }
}

impl EventFields for Ecs<'_> {
    fn field(&self, field: Field) -> Result<Option<Cow<'_, str>>, DecodeError> {
        // Where Winlogbeat moves a field out of `event_data`, the ECS name is the fallback.
        let ecs = match field {
            Field::Outcome => return json::text(self.0, &["event.outcome"]),
            Field::LogonTypeName => return json::text(self.0, &["winlog.logon.type"]),
            Field::TargetUserName => "user.name",
            Field::TargetDomainName => "user.domain",
            Field::IpAddress => "source.ip",
            Field::WorkstationName => "source.domain",
            _ => return self.data(field.name()),
        };
        match self.data(field.name())? {
            Some(v) if present(Some(&v)).is_some() || field != Field::TargetUserName => Ok(Some(v)),
            _ => json::text(self.0, &[ecs]),
        }
    }
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let v = json::object(line)?;
        let code = json::text(&v, &["event.code", "winlog.event_id", "EventID", "EventId"])?
            .ok_or_else(|| norm::missing("event.code"))?;
        let id: u32 = code
            .trim()
            .parse()
            .map_err(|_| norm::bad_number("event.code", &code, "an event id"))?;
        let provider = json::text(
            &v,
            &[
                "event.provider",
                "winlog.provider_name",
                "SourceName",
                "ProviderName",
            ],
        )?;
        let channel = json::text(&v, &["winlog.channel", "Channel"])?;
        let provider = Provider::from_names(provider.as_deref(), channel.as_deref());
        if let Some(key) = mapping::skipped(provider, id) {
            self.skipped.add(key);
            return Ok(None);
        }
        let time = json::time(&v, &["@timestamp", "TimeCreated", "EventTime", "timestamp"])?;
        let computer = json::text(
            &v,
            &[
                "winlog.computer_name",
                "host.name",
                "Hostname",
                "Computer",
                "agent.hostname",
            ],
        )?;
        let computer = present(computer.as_deref()).ok_or_else(|| norm::missing("host.name"))?;
        let header = Header {
            id,
            provider,
            time,
            computer: Cow::Borrowed(computer),
        };
        let mapping = mapping::map(&header, &Ecs(&v), syms)?;
        Ok(rendered::event_of(mapping, &mut self.skipped))
    }

    fn take_skipped(&mut self) -> Skipped {
        std::mem::take(&mut self.skipped)
    }
}

/// `true` when `v` looks like a Windows event in ECS or flat shape (for format detection).
pub(crate) fn looks_like(v: &Value) -> bool {
    get(v, "winlog").is_some()
        || get(v, "EventID").is_some()
        || (get(v, "event.code").is_some() && get(v, "event.provider").is_some())
}
