//! What the Windows mapping reads from an event, whatever shape it arrived in: the header
//! (`System`) and the `EventData` fields by name.

use crate::DecodeError;
use std::borrow::Cow;

/// The `EventData` fields the mapping reads (Security auditing, Sysmon 3, WFP 5156), plus two
/// that only the ECS shape has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    /// The account that logged on (4624/4625/4634), the explicit credentials (4648), the
    /// requesting account (4768/4769/4776).
    TargetUserName,
    /// Its domain.
    TargetDomainName,
    /// The client address (4624/4625/4768/4769), the target's address (4648).
    IpAddress,
    /// The client's NetBIOS name (4624/4625).
    WorkstationName,
    /// The client's name (4776).
    Workstation,
    /// The logon type number (2, 3, 10, …).
    LogonType,
    /// `Kerberos`, `NTLM`, `Negotiate`.
    AuthenticationPackageName,
    /// Result code (`0x0` succeeds).
    Status,
    /// The server the explicit credentials were used for (4648).
    TargetServerName,
    /// The service account of a ticket (4769).
    ServiceName,
    /// The logon's GUID (4624), correlating it with 4648 and 4769.
    LogonGuid,
    /// The GUID of the logon the explicit credentials made (4648).
    TargetLogonGuid,
    /// Sysmon 3: `true` when the logging host opened the connection.
    Initiated,
    /// Sysmon 3 (`tcp`, `udp`), WFP 5156 (a protocol number).
    Protocol,
    /// Sysmon 3: the initiator's address.
    SourceIp,
    /// Sysmon 3: the initiator's port; WFP 5156: the local port.
    SourcePort,
    /// Sysmon 3: the initiator's name, when Sysmon resolved it.
    SourceHostname,
    /// Sysmon 3: the responder's address.
    DestinationIp,
    /// Sysmon 3: the responder's port.
    DestinationPort,
    /// Sysmon 3: the responder's name, when Sysmon resolved it.
    DestinationHostname,
    /// WFP 5156: `%%14592` inbound, `%%14593` outbound.
    Direction,
    /// WFP 5156: the local address.
    SourceAddress,
    /// WFP 5156: the remote address.
    DestAddress,
    /// WFP 5156: the remote port.
    DestPort,
    /// ECS `event.outcome` (`success`, `failure`).
    Outcome,
    /// ECS `winlog.logon.type` (a logon type's name).
    LogonTypeName,
}

impl Field {
    /// Number of fields.
    pub const COUNT: usize = Field::LogonTypeName as usize + 1;

    /// The field of an `EventData` name (ECS-only fields have none).
    pub fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "TargetUserName" => Field::TargetUserName,
            "TargetDomainName" => Field::TargetDomainName,
            "IpAddress" => Field::IpAddress,
            "WorkstationName" => Field::WorkstationName,
            "Workstation" => Field::Workstation,
            "LogonType" => Field::LogonType,
            "AuthenticationPackageName" => Field::AuthenticationPackageName,
            "Status" => Field::Status,
            "TargetServerName" => Field::TargetServerName,
            "ServiceName" => Field::ServiceName,
            "LogonGuid" => Field::LogonGuid,
            "TargetLogonGuid" => Field::TargetLogonGuid,
            "Initiated" => Field::Initiated,
            "Protocol" => Field::Protocol,
            "SourceIp" => Field::SourceIp,
            "SourcePort" => Field::SourcePort,
            "SourceHostname" => Field::SourceHostname,
            "DestinationIp" => Field::DestinationIp,
            "DestinationPort" => Field::DestinationPort,
            "DestinationHostname" => Field::DestinationHostname,
            "Direction" => Field::Direction,
            "SourceAddress" => Field::SourceAddress,
            "DestAddress" => Field::DestAddress,
            "DestPort" => Field::DestPort,
            _ => return None,
        })
    }

    /// The `EventData` name.
    pub fn name(self) -> &'static str {
        match self {
            Field::TargetUserName => "TargetUserName",
            Field::TargetDomainName => "TargetDomainName",
            Field::IpAddress => "IpAddress",
            Field::WorkstationName => "WorkstationName",
            Field::Workstation => "Workstation",
            Field::LogonType => "LogonType",
            Field::AuthenticationPackageName => "AuthenticationPackageName",
            Field::Status => "Status",
            Field::TargetServerName => "TargetServerName",
            Field::ServiceName => "ServiceName",
            Field::LogonGuid => "LogonGuid",
            Field::TargetLogonGuid => "TargetLogonGuid",
            Field::Initiated => "Initiated",
            Field::Protocol => "Protocol",
            Field::SourceIp => "SourceIp",
            Field::SourcePort => "SourcePort",
            Field::SourceHostname => "SourceHostname",
            Field::DestinationIp => "DestinationIp",
            Field::DestinationPort => "DestinationPort",
            Field::DestinationHostname => "DestinationHostname",
            Field::Direction => "Direction",
            Field::SourceAddress => "SourceAddress",
            Field::DestAddress => "DestAddress",
            Field::DestPort => "DestPort",
            Field::Outcome => "event.outcome",
            Field::LogonTypeName => "winlog.logon.type",
        }
    }
}

/// Who wrote an event, as far as the mapping cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `Microsoft-Windows-Security-Auditing` (or a shape that does not say: the Security ids are
    /// read as Security events).
    Security,
    /// `Microsoft-Windows-Sysmon`.
    Sysmon,
    /// Any other provider: its events are skipped.
    Other,
}

impl Provider {
    /// The provider from its name and/or the channel; `None` for both means [`Provider::Security`].
    pub fn from_names(provider: Option<&str>, channel: Option<&str>) -> Provider {
        let any = |f: fn(&str) -> bool| provider.is_some_and(f) || channel.is_some_and(f);
        if any(|s| s.contains("Sysmon")) {
            Provider::Sysmon
        } else if provider.is_none_or(|p| p.contains("Security-Auditing") || p.is_empty())
            || channel.is_some_and(|c| c.eq_ignore_ascii_case("Security"))
        {
            Provider::Security
        } else {
            Provider::Other
        }
    }
}

/// The `System` part of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Event id.
    pub id: u32,
    /// Provider.
    pub provider: Provider,
    /// `TimeCreated`, epoch milliseconds.
    pub time: i64,
    /// The logging host (`Computer`), as written.
    pub computer: Cow<'a, str>,
}

/// A source of `EventData` values.
pub trait EventFields {
    /// The value of `field`, as text, when the event has it.
    fn field(&self, field: Field) -> Result<Option<Cow<'_, str>>, DecodeError>;
}

/// `EventData` values in an array by field: what the EVTX, JSON and XML shapes fill.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldValues<'a> {
    values: [Option<Cow<'a, str>>; Field::COUNT],
}

impl<'a> FieldValues<'a> {
    /// Sets `field` unless it is already set (the first of repeated names wins).
    pub fn set(&mut self, field: Field, value: Cow<'a, str>) {
        let slot = &mut self.values[field as usize];
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    /// Sets the field named `name`, when the mapping reads it.
    pub fn set_named(&mut self, name: &str, value: Cow<'a, str>) {
        if let Some(f) = Field::from_name(name) {
            self.set(f, value);
        }
    }

    /// Empties every field, keeping the strings it owned, emptied, in `spare`.
    pub fn clear_into(&mut self, spare: &mut Vec<String>) {
        for slot in &mut self.values {
            if let Some(Cow::Owned(mut s)) = slot.take() {
                s.clear();
                spare.push(s);
            }
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values[field as usize].as_deref()
    }
}

impl EventFields for FieldValues<'_> {
    fn field(&self, field: Field) -> Result<Option<Cow<'_, str>>, DecodeError> {
        Ok(self.get(field).map(Cow::Borrowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_providers_are_recognised() {
        for i in 0..Field::COUNT - 2 {
            let f = Field::from_name(
                [
                    "TargetUserName",
                    "TargetDomainName",
                    "IpAddress",
                    "WorkstationName",
                    "Workstation",
                    "LogonType",
                    "AuthenticationPackageName",
                    "Status",
                    "TargetServerName",
                    "ServiceName",
                    "LogonGuid",
                    "TargetLogonGuid",
                    "Initiated",
                    "Protocol",
                    "SourceIp",
                    "SourcePort",
                    "SourceHostname",
                    "DestinationIp",
                    "DestinationPort",
                    "DestinationHostname",
                    "Direction",
                    "SourceAddress",
                    "DestAddress",
                    "DestPort",
                ][i],
            )
            .unwrap();
            assert_eq!(f as usize, i);
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(
            Provider::from_names(Some("Microsoft-Windows-Sysmon"), None),
            Provider::Sysmon
        );
        assert_eq!(
            Provider::from_names(None, Some("Microsoft-Windows-Sysmon/Operational")),
            Provider::Sysmon
        );
        assert_eq!(
            Provider::from_names(
                Some("Microsoft-Windows-Security-Auditing"),
                Some("Security")
            ),
            Provider::Security
        );
        assert_eq!(Provider::from_names(None, None), Provider::Security);
        assert_eq!(
            Provider::from_names(Some("Service Control Manager"), Some("System")),
            Provider::Other
        );
        let mut v = FieldValues::default();
        v.set_named("LogonGuid", "{1}".into());
        v.set_named("LogonGuid", "{2}".into());
        v.set_named("Unrelated", "x".into());
        assert_eq!(v.get(Field::LogonGuid), Some("{1}"));
    }
}
