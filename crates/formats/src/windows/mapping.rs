//! The one Windows field mapping: a Security, Sysmon or WFP event (in any shape, through
//! [`EventFields`]) to an authentication or a flow. See the table in [`super`].

use super::fields::{EventFields, Field, Header, Provider};
use crate::norm::{self, present};
use crate::{name, DecodeError, SkipKey};
use reachwatch_model::{
    AuthEvent, AuthProtocol, Event, FlowEvent, Interner, LogonType, Orientation, Outcome, Sym,
};
use std::borrow::Cow;
use std::net::IpAddr;

/// The addresses and ports of a connection, initiator first, to recognise it when both of its
/// ends report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    /// Initiator address (interned) and port.
    pub from: (Sym, u16),
    /// Responder address (interned) and port.
    pub to: (Sym, u16),
    /// IP protocol number.
    pub protocol: u8,
}

impl Conn {
    /// Rewrites its addresses through `f`.
    pub fn map_syms(&mut self, mut f: impl FnMut(Sym) -> Sym) {
        self.from.0 = f(self.from.0);
        self.to.0 = f(self.to.0);
    }
}

/// What else a record tells, beside its event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Address → host name pairs the record reveals (interned address, interned short name).
    pub hints: [Option<(Sym, Sym)>; 2],
    /// The logon's GUID (4624/4625 `LogonGuid`; 4648 `TargetLogonGuid`), when not all zeros.
    pub logon_guid: Option<u128>,
    /// For flows: the connection.
    pub conn: Option<Conn>,
    /// For flows: true when the responding end reported it.
    pub responder: bool,
    /// For logons: true when the source is an address (no workstation name).
    pub src_is_address: bool,
}

/// A mapped record: its event id, the event and what else it tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// Windows event id.
    pub id: u32,
    /// The event.
    pub event: Event,
    /// Hints, GUID, connection.
    pub meta: Meta,
}

impl Mapped {
    /// Rewrites every symbol it holds through `f` (when the table they come from is compacted).
    pub fn map_syms(&mut self, mut f: impl FnMut(Sym) -> Sym) {
        self.event.map_syms(&mut f);
        for (ip, host) in self.meta.hints.iter_mut().flatten() {
            *ip = f(*ip);
            *host = f(*host);
        }
        if let Some(c) = &mut self.meta.conn {
            c.map_syms(&mut f);
        }
    }
}

/// The event of a record, or why it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// An authentication or a flow.
    Event(Mapped),
    /// No event.
    Skip(SkipKey),
}

/// Security event ids that are authentications.
const AUTH_IDS: [u32; 8] = [4624, 4625, 4634, 4647, 4648, 4768, 4769, 4776];

/// Why an event of this provider and id gives nothing, or `None` when the mapping reads it.
/// Shapes call it before reading anything else, so that skipped events are never errors.
pub fn skipped(provider: Provider, id: u32) -> Option<SkipKey> {
    match (provider, id) {
        (Provider::Sysmon, 3) | (Provider::Security, 5156) => None,
        (Provider::Security, id) if AUTH_IDS.contains(&id) => None,
        (Provider::Sysmon, id) => Some(SkipKey::Sysmon(id)),
        (_, id) => Some(SkipKey::Event(id)),
    }
}

/// Maps one event. Ids outside the table are skipped, not errors.
pub fn map(
    h: &Header<'_>,
    rec: &impl EventFields,
    syms: &mut Interner,
) -> Result<Mapping, DecodeError> {
    if let Some(key) = skipped(h.provider, h.id) {
        return Ok(Mapping::Skip(key));
    }
    match h.id {
        3 => sysmon_connection(h, rec, syms),
        5156 => wfp_connection(h, rec, syms),
        _ => authentication(h, rec, syms),
    }
}

/// An address in one spelling: IPv4-mapped IPv6 as IPv4, IPv6 compressed (Sysmon writes
/// `fe80:0:0:0:…`, the Security log `fe80::…`). Text that is no address is returned trimmed.
pub fn canonical_ip(ip: &str) -> Cow<'_, str> {
    let ip = norm::strip_mapped(ip);
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Cow::Owned(v4.to_string()),
            None => {
                let s = v6.to_string();
                if s == ip {
                    Cow::Borrowed(ip)
                } else {
                    Cow::Owned(s)
                }
            }
        },
        _ => Cow::Borrowed(ip),
    }
}

/// A GUID (`{e40b3c90-7415-9168-1f61-8f1fff8e4227}`) as a number; `None` for all zeros or text
/// that is no GUID.
fn guid(s: Option<&str>) -> Option<u128> {
    // As `u128::from_str_radix` reads the text without braces and dashes, when it is 32 bytes
    // long (a leading `+` included).
    let mut n: u128 = 0;
    let mut len = 0;
    for (i, c) in present(s)?
        .chars()
        .filter(|c| !matches!(c, '{' | '}' | '-'))
        .enumerate()
    {
        len += c.len_utf8();
        if len > 32 {
            return None;
        }
        if i == 0 && c == '+' {
            continue;
        }
        n = n << 4 | u128::from(c.to_digit(16)?);
    }
    (len == 32 && n != 0).then_some(n)
}

/// True unless `Status` is a non-zero NTSTATUS (`0x0`, `0x00000000`, `0` and unset succeed).
fn status_is_success(s: Option<&str>) -> bool {
    let Some(s) = present(s) else { return true };
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    n.map_or(true, |n| n == 0)
}

/// True for addresses that name no other host: loopback, unspecified, unset.
fn local_address(ip: &str) -> bool {
    match norm::strip_mapped(ip).parse::<IpAddr>() {
        Ok(a) => a.is_loopback() || a.is_unspecified(),
        Err(_) => true,
    }
}

fn text<'r>(rec: &'r impl EventFields, f: Field) -> Result<Option<Cow<'r, str>>, DecodeError> {
    rec.field(f)
}

/// A host name as the mapping keeps it: its first DNS label.
fn host(syms: &mut Interner, side: &'static str, h: &str) -> Result<Sym, DecodeError> {
    name(syms, side, norm::short_host(h).as_bytes())
}

/// An address as the mapping keeps it: one spelling ([`canonical_ip`]).
fn address(syms: &mut Interner, side: &'static str, ip: &str) -> Result<Sym, DecodeError> {
    name(syms, side, canonical_ip(ip).as_bytes())
}

/// A hint `address → host`, when both are usable.
fn hint(
    syms: &mut Interner,
    ip: Option<&str>,
    host_name: Option<&str>,
) -> Result<Option<(Sym, Sym)>, DecodeError> {
    let (Some(ip), Some(h)) = (present(ip), present(host_name)) else {
        return Ok(None);
    };
    if local_address(ip) || h.eq_ignore_ascii_case("localhost") || norm::is_ip(h) {
        return Ok(None);
    }
    Ok(Some((
        address(syms, "address", ip)?,
        host(syms, "host", h)?,
    )))
}

fn authentication(
    h: &Header<'_>,
    rec: &impl EventFields,
    syms: &mut Interner,
) -> Result<Mapping, DecodeError> {
    let code = h.id;
    let logging = present(Some(&h.computer)).ok_or_else(|| norm::missing("Computer"))?;
    let user = text(rec, Field::TargetUserName)?;
    let user = present(user.as_deref()).ok_or_else(|| norm::missing("TargetUserName"))?;
    let domain = text(rec, Field::TargetDomainName)?;
    let identity = name(
        syms,
        "identity",
        norm::account(user, domain.as_deref()).as_bytes(),
    )?;
    let logging_sym = host(syms, "logging host", logging)?;
    let ip = text(rec, Field::IpAddress)?;
    let ip = present(ip.as_deref());
    let workstation = text(rec, Field::WorkstationName)?;
    // The client side: a workstation name, else an address; loopback is the logging host.
    let client = |syms: &mut Interner, ws: Option<&str>, ip: Option<&str>| match (present(ws), ip) {
        (Some(ws), _) => host(syms, "source", ws).map(Some),
        (None, Some(ip)) if norm::is_loopback(ip) => Ok(Some(logging_sym)),
        (None, Some(ip)) => address(syms, "source", ip).map(Some),
        (None, None) => Ok(None),
    };
    let status = text(rec, Field::Status)?;
    let status_ok = status_is_success(status.as_deref());
    let mut outcome = if code == 4625 || !status_ok {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    if let Some(o) = text(rec, Field::Outcome)? {
        outcome = match o.as_ref() {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure,
            _ => outcome,
        };
    }
    let logon = match text(rec, Field::LogonType)? {
        Some(t) => norm::logon_type(Some(&t)),
        None => norm::logon_type(text(rec, Field::LogonTypeName)?.as_deref()),
    };
    let package = text(rec, Field::AuthenticationPackageName)?;
    let mut ev = AuthEvent {
        time: h.time,
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
    let mut meta = Meta::default();
    match code {
        4624 | 4625 => {
            ev.src = client(syms, workstation.as_deref(), ip)?;
            meta.src_is_address = present(workstation.as_deref()).is_none()
                && ip.is_some_and(|ip| !norm::is_loopback(ip));
            meta.hints[0] = hint(syms, ip, workstation.as_deref())?;
            meta.logon_guid = guid(text(rec, Field::LogonGuid)?.as_deref());
        }
        4634 | 4647 => ev.orientation = Orientation::LogOff,
        4648 => {
            let server = text(rec, Field::TargetServerName)?;
            let Some(server) =
                present(server.as_deref()).filter(|s| !s.eq_ignore_ascii_case("localhost"))
            else {
                return Ok(Mapping::Skip(SkipKey::LocalExplicit));
            };
            ev.src = Some(logging_sym);
            ev.dst = match norm::is_ip(server) {
                true => address(syms, "TargetServerName", server)?,
                false => host(syms, "TargetServerName", server)?,
            };
            if ev.dst == logging_sym {
                return Ok(Mapping::Skip(SkipKey::LocalExplicit));
            }
            meta.hints[0] = hint(syms, ip, Some(server))?;
            meta.logon_guid = guid(text(rec, Field::TargetLogonGuid)?.as_deref());
        }
        4768 => {
            ev.orientation = Orientation::Tgt;
            ev.protocol = AuthProtocol::Kerberos;
            ev.logon = LogonType::Network;
            ev.src = client(syms, None, ip)?;
        }
        4769 => {
            ev.orientation = Orientation::Tgs;
            ev.protocol = AuthProtocol::Kerberos;
            ev.logon = LogonType::Network;
            ev.src = client(syms, None, ip)?;
            let svc = text(rec, Field::ServiceName)?;
            let svc = present(svc.as_deref()).ok_or_else(|| norm::missing("ServiceName"))?;
            ev.service = Some(name(syms, "ServiceName", svc.as_bytes())?);
            let target = svc.strip_suffix('$').unwrap_or(svc);
            ev.dst = host(syms, "ServiceName", target)?;
        }
        _ => {
            // 4776: NTLM credential validation on a DC.
            ev.orientation = Orientation::Other;
            ev.protocol = AuthProtocol::Ntlm;
            let ws = text(rec, Field::Workstation)?;
            ev.src = client(syms, ws.as_deref(), None)?;
        }
    }
    Ok(Mapping::Event(Mapped {
        id: code,
        event: Event::Auth(ev),
        meta,
    }))
}

/// One end of a connection as a record names it.
struct End<'a> {
    ip: Option<Cow<'a, str>>,
    port: u16,
    /// The name the record gives this end (the logging host for its own end).
    name: Option<Cow<'a, str>>,
}

/// A flow between two ends; the local end named by the logging host.
fn flow(
    h: &Header<'_>,
    syms: &mut Interner,
    from: End<'_>,
    to: End<'_>,
    protocol: u8,
    responder: bool,
) -> Result<Mapping, DecodeError> {
    let mut meta = Meta {
        responder,
        ..Meta::default()
    };
    let side = |syms: &mut Interner, end: &End<'_>, which: &'static str| match (
        present(end.name.as_deref()),
        present(end.ip.as_deref()),
    ) {
        (Some(n), _) if !norm::is_ip(n) => host(syms, which, n),
        (_, Some(ip)) if local_address(ip) => host(syms, which, &h.computer),
        (_, Some(ip)) => address(syms, which, ip),
        (Some(n), None) => address(syms, which, n),
        (None, None) => Err(norm::missing(which)),
    };
    let src = side(syms, &from, "source")?;
    let dst = side(syms, &to, "destination")?;
    if src == dst {
        return Ok(Mapping::Skip(SkipKey::LocalFlow));
    }
    for (slot, end) in meta.hints.iter_mut().zip([&from, &to]) {
        *slot = hint(syms, end.ip.as_deref(), end.name.as_deref())?;
    }
    if let (Some(a), Some(b)) = (present(from.ip.as_deref()), present(to.ip.as_deref())) {
        meta.conn = Some(Conn {
            from: (address(syms, "source", a)?, from.port),
            to: (address(syms, "destination", b)?, to.port),
            protocol,
        });
    }
    Ok(Mapping::Event(Mapped {
        id: h.id,
        event: Event::Flow(FlowEvent {
            time: h.time,
            duration: 0,
            src,
            dst,
            src_port: from.port,
            dst_port: to.port,
            protocol,
            packets: 0,
            bytes: 0,
        }),
        meta,
    }))
}

fn port(rec: &impl EventFields, f: Field) -> Result<u16, DecodeError> {
    norm::port(f.name(), text(rec, f)?.as_deref())
}

/// A name Sysmon resolved, unless unset.
fn named_host(n: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    n.filter(|n| present(Some(n.as_ref())).is_some())
}

/// Sysmon 3: `Source*` is always the initiator; `Initiated` says whether that is this host.
fn sysmon_connection(
    h: &Header<'_>,
    rec: &impl EventFields,
    syms: &mut Interner,
) -> Result<Mapping, DecodeError> {
    let initiated = match text(rec, Field::Initiated)?.as_deref().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("true") => true,
        Some(t) if t.eq_ignore_ascii_case("false") => false,
        Some(t) => return Err(norm::unknown_value("Initiated", t, "true or false")),
        None => return Err(norm::missing("Initiated")),
    };
    let computer: Option<Cow<'_, str>> = Some(Cow::Borrowed(&h.computer));
    let from = End {
        ip: text(rec, Field::SourceIp)?,
        port: port(rec, Field::SourcePort)?,
        name: if initiated {
            computer.clone()
        } else {
            named_host(text(rec, Field::SourceHostname)?)
        },
    };
    let to = End {
        ip: text(rec, Field::DestinationIp)?,
        port: port(rec, Field::DestinationPort)?,
        name: if initiated {
            named_host(text(rec, Field::DestinationHostname)?)
        } else {
            computer
        },
    };
    let protocol = norm::ip_protocol(text(rec, Field::Protocol)?.as_deref())?;
    flow(h, syms, from, to, protocol, !initiated)
}

/// WFP 5156: `Source*` is always this host, `Dest*` the other; `Direction` says who initiated.
fn wfp_connection(
    h: &Header<'_>,
    rec: &impl EventFields,
    syms: &mut Interner,
) -> Result<Mapping, DecodeError> {
    let inbound = match text(rec, Field::Direction)?.as_deref().map(str::trim) {
        Some("%%14592") => true,
        Some("%%14593") => false,
        Some(d) if d.eq_ignore_ascii_case("inbound") => true,
        Some(d) if d.eq_ignore_ascii_case("outbound") => false,
        Some(d) => {
            return Err(norm::unknown_value(
                "Direction",
                d,
                "%%14592 (inbound) or %%14593 (outbound)",
            ))
        }
        None => return Err(norm::missing("Direction")),
    };
    let local = End {
        ip: text(rec, Field::SourceAddress)?,
        port: port(rec, Field::SourcePort)?,
        name: Some(Cow::Borrowed(&h.computer)),
    };
    let remote = End {
        ip: text(rec, Field::DestAddress)?,
        port: port(rec, Field::DestPort)?,
        name: None,
    };
    let protocol = norm::ip_protocol(text(rec, Field::Protocol)?.as_deref())?;
    if inbound {
        flow(h, syms, remote, local, protocol, true)
    } else {
        flow(h, syms, local, remote, protocol, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_have_one_spelling_and_guids_parse() {
        assert_eq!(
            canonical_ip("fe80:0:0:0:3816:b2ee:1b9b:324b"),
            "fe80::3816:b2ee:1b9b:324b"
        );
        assert_eq!(canonical_ip("::ffff:172.18.39.5"), "172.18.39.5");
        assert_eq!(canonical_ip(" 10.0.0.1 "), "10.0.0.1");
        assert_eq!(canonical_ip("WS01"), "WS01");
        assert_eq!(
            guid(Some("{e40b3c90-7415-9168-1f61-8f1fff8e4227}")),
            Some(0xe40b3c90_7415_9168_1f61_8f1fff8e4227)
        );
        assert_eq!(guid(Some("{00000000-0000-0000-0000-000000000000}")), None);
        assert_eq!(guid(Some("-")), None);
        assert!(local_address("127.0.0.1") && local_address("::") && local_address("-"));
        assert!(!local_address("fe80::1"));
        assert!(status_is_success(Some("0x00000000")) && status_is_success(Some("0")));
        assert!(status_is_success(None) && status_is_success(Some("-")));
        assert!(!status_is_success(Some("0xc000006d")) && !status_is_success(Some("0x20")));
    }
}
