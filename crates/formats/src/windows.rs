//! Windows Security events as JSON: Winlogbeat / Elastic Agent (ECS) documents and the flat
//! NXLog/Logstash shape where EventData fields sit at the top level.
//!
//! | event | identity | source | destination | orientation |
//! |---|---|---|---|---|
//! | 4624 / 4625 | `TargetUserName@TargetDomainName` (else `user.name@user.domain`) | `WorkstationName` / `source.domain`, else `IpAddress` / `source.ip` | logging host | logon (4625: failure) |
//! | 4634 / 4647 | same | — | logging host | logoff |
//! | 4648 | the explicit credentials (`Target*`) | logging host | `TargetServerName` | logon |
//! | 4768 | same | `IpAddress` | logging host (the DC) | TGT |
//! | 4769 | same (UPN realm stripped) | `IpAddress` | `ServiceName` without a trailing `$`; `ServiceName` is the service | TGS |
//! | 4776 | same | `Workstation` | logging host (the validating DC) | other (credential validation, not a reach) |
//!
//! Other event ids are skipped. Host names are reduced to their first DNS label so that
//! `WS01.corp.local` (logging host) and `WS01` (workstation name) are one host; `::ffff:` is
//! stripped from addresses; a loopback source is the logging host itself. A 4648 to `localhost`
//! or `-` is local use of credentials and is skipped. The logon type is `LogonType` (number) or
//! `winlog.logon.type` (name); the protocol is `AuthenticationPackageName` (4768/4769 Kerberos,
//! 4776 NTLM). Outcome: `event.outcome` when present, else the event id (4625 fails) or `Status`
//! (`0x0` succeeds).

use crate::json::{self, get};
use crate::norm::{self, present};
use crate::{name, DecodeError, LineDecoder};
use reachwatch_model::{AuthEvent, AuthProtocol, Event, Interner, LogonType, Orientation, Outcome};
use serde_json::Value;

/// Decoder for Windows Security events (auth stream).
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoder;

/// An EventData field in ECS (`winlog.event_data.X`) or flat (`X`) shape.
fn data<'a>(v: &'a Value, field: &str) -> Result<Option<std::borrow::Cow<'a, str>>, DecodeError> {
    json::text(
        v,
        &[
            &format!("winlog.event_data.{field}"),
            field,
            &format!("event_data.{field}"),
        ],
    )
}

impl LineDecoder for Decoder {
    fn decode(&mut self, line: &[u8], syms: &mut Interner) -> Result<Option<Event>, DecodeError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let v = json::object(line)?;
        let code = json::text(&v, &["event.code", "winlog.event_id", "EventID", "EventId"])?
            .ok_or_else(|| norm::missing("event.code"))?;
        let code: u32 = code
            .trim()
            .parse()
            .map_err(|_| norm::bad_number("event.code", &code, "an event id"))?;
        if !matches!(code, 4624 | 4625 | 4634 | 4647 | 4648 | 4768 | 4769 | 4776) {
            return Ok(None);
        }
        let time = json::time(&v, &["@timestamp", "TimeCreated", "EventTime", "timestamp"])?;
        let logging = json::text(
            &v,
            &[
                "winlog.computer_name",
                "host.name",
                "Hostname",
                "Computer",
                "agent.hostname",
            ],
        )?;
        let logging = present(logging.as_deref())
            .map(norm::short_host)
            .ok_or_else(|| norm::missing("host.name"))?;
        let user = match data(&v, "TargetUserName")? {
            Some(u) if present(Some(&u)).is_some() => u,
            _ => json::text(&v, &["user.name"])?.ok_or_else(|| norm::missing("TargetUserName"))?,
        };
        if present(Some(&user)).is_none() {
            return Err(norm::missing("TargetUserName"));
        }
        let domain = match data(&v, "TargetDomainName")? {
            Some(d) => Some(d),
            None => json::text(&v, &["user.domain"])?,
        };
        let identity = name(
            syms,
            "identity",
            norm::account(&user, domain.as_deref()).as_bytes(),
        )?;
        let ip = match data(&v, "IpAddress")? {
            Some(ip) => Some(ip),
            None => json::text(&v, &["source.ip"])?,
        };
        let workstation = match data(&v, "WorkstationName")? {
            Some(w) => Some(w),
            None => json::text(&v, &["source.domain"])?,
        };
        let logging_sym = name(syms, "logging host", logging.as_bytes())?;
        // The client side: a workstation name, else an address; loopback is the logging host.
        let mut client = |ws: Option<&str>, ip: Option<&str>| match present(ip) {
            Some(ip) if norm::is_loopback(ip) && present(ws).is_none() => Ok(Some(logging_sym)),
            _ => norm::host_or_ip(syms, "source", present(ws).map(norm::short_host), ip),
        };
        let status_ok = match data(&v, "Status")? {
            Some(s) => !matches!(present(Some(&s)), Some(x) if x != "0x0" && x != "0"),
            None => true,
        };
        let mut outcome = if code == 4625 || !status_ok {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        if let Some(o) = json::text(&v, &["event.outcome"])? {
            outcome = match o.as_ref() {
                "success" => Outcome::Success,
                "failure" => Outcome::Failure,
                _ => outcome,
            };
        }
        let logon_name = json::text(&v, &["winlog.logon.type"])?;
        let logon = match data(&v, "LogonType")? {
            Some(t) => norm::logon_type(Some(&t)),
            None => norm::logon_type(logon_name.as_deref()),
        };
        let package = data(&v, "AuthenticationPackageName")?;
        let mut ev = AuthEvent {
            time,
            identity,
            src: None,
            dst: logging_sym,
            service: None,
            protocol: norm::protocol(package.as_deref()),
            logon,
            orientation: Orientation::LogOn,
            outcome,
            credential: None,
        };
        match code {
            4624 | 4625 => ev.src = client(workstation.as_deref(), ip.as_deref())?,
            4634 | 4647 => ev.orientation = Orientation::LogOff,
            4648 => {
                let server = data(&v, "TargetServerName")?;
                let Some(server) =
                    present(server.as_deref()).filter(|s| !s.eq_ignore_ascii_case("localhost"))
                else {
                    return Ok(None);
                };
                ev.src = Some(logging_sym);
                ev.dst = name(
                    syms,
                    "TargetServerName",
                    norm::short_host(server).as_bytes(),
                )?;
            }
            4768 => {
                ev.orientation = Orientation::Tgt;
                ev.protocol = AuthProtocol::Kerberos;
                ev.logon = LogonType::Network;
                ev.src = client(None, ip.as_deref())?;
            }
            4769 => {
                ev.orientation = Orientation::Tgs;
                ev.protocol = AuthProtocol::Kerberos;
                ev.logon = LogonType::Network;
                ev.src = client(None, ip.as_deref())?;
                let svc = data(&v, "ServiceName")?;
                let svc = present(svc.as_deref()).ok_or_else(|| norm::missing("ServiceName"))?;
                ev.service = Some(name(syms, "ServiceName", svc.as_bytes())?);
                let host = svc.strip_suffix('$').unwrap_or(svc);
                ev.dst = name(syms, "ServiceName", norm::short_host(host).as_bytes())?;
            }
            _ => {
                // 4776: NTLM credential validation on a DC.
                ev.orientation = Orientation::Other;
                ev.protocol = AuthProtocol::Ntlm;
                let ws = data(&v, "Workstation")?;
                ev.src = client(ws.as_deref(), None)?;
            }
        }
        Ok(Some(Event::Auth(ev)))
    }
}

/// `true` when `v` looks like a Windows event (for format detection).
pub(crate) fn looks_like(v: &Value) -> bool {
    get(v, "winlog").is_some()
        || get(v, "EventID").is_some()
        || (get(v, "event.code").is_some() && get(v, "event.provider").is_some())
}
