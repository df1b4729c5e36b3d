//! Normalised input events: authentications and network flows.

use crate::{Sym, Ts};
use serde::{Deserialize, Serialize};

/// How an identity proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AuthProtocol {
    /// Kerberos (AES or unknown etype).
    Kerberos,
    /// NTLM (any version).
    Ntlm,
    /// SPNEGO negotiate (Kerberos or NTLM, not told).
    Negotiate,
    /// OAuth / bearer tokens (cloud, Kubernetes).
    Oauth,
    /// Mutual TLS / X.509.
    Mtls,
    /// Cleartext password.
    Cleartext,
    /// A named protocol outside this list.
    Other,
    /// Not recorded (`?`).
    Unknown,
}

impl AuthProtocol {
    /// Every variant, in bit order for masks.
    pub const ALL: [AuthProtocol; 8] = [
        Self::Kerberos,
        Self::Ntlm,
        Self::Negotiate,
        Self::Oauth,
        Self::Mtls,
        Self::Cleartext,
        Self::Other,
        Self::Unknown,
    ];

    /// Parses a protocol name as logs spell it (case-insensitive). Unknown names are `Other`.
    pub fn parse(s: &[u8]) -> AuthProtocol {
        match s {
            b"?" | b"" => Self::Unknown,
            _ if s.eq_ignore_ascii_case(b"kerberos") => Self::Kerberos,
            _ if s.eq_ignore_ascii_case(b"ntlm") => Self::Ntlm,
            _ if s.eq_ignore_ascii_case(b"negotiate") => Self::Negotiate,
            _ if s.eq_ignore_ascii_case(b"oauth") => Self::Oauth,
            _ if s.eq_ignore_ascii_case(b"mtls") => Self::Mtls,
            _ if s.eq_ignore_ascii_case(b"cleartext") => Self::Cleartext,
            _ if s.eq_ignore_ascii_case(b"MICROSOFT_AUTHENTICATION_PACKAGE_V1_0") => Self::Ntlm,
            _ => Self::Other,
        }
    }

    /// Bit for protocol masks.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kerberos => "kerberos",
            Self::Ntlm => "ntlm",
            Self::Negotiate => "negotiate",
            Self::Oauth => "oauth",
            Self::Mtls => "mtls",
            Self::Cleartext => "cleartext",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }
}

/// Windows-style logon type, the way an identity was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum LogonType {
    /// Network logon (type 3): SMB, WinRM, RPC, API calls.
    Network,
    /// Interactive logon at the console (type 2).
    Interactive,
    /// Remote desktop (type 10).
    RemoteInteractive,
    /// Cached credentials (type 11).
    CachedInteractive,
    /// Batch job / scheduled task (type 4).
    Batch,
    /// Service start (type 5).
    Service,
    /// Network logon with cleartext password (type 8).
    NetworkCleartext,
    /// RunAs /netonly (type 9).
    NewCredentials,
    /// Workstation unlock (type 7).
    Unlock,
    /// A named type outside this list.
    Other,
    /// Not recorded.
    Unknown,
}

impl LogonType {
    /// Parses a LANL / Windows logon type name or number (case-insensitive); unknown names are `Other`.
    pub fn parse(s: &[u8]) -> LogonType {
        let eq = |n: &[u8]| s.eq_ignore_ascii_case(n);
        match s {
            b"?" | b"" => Self::Unknown,
            b"3" => Self::Network,
            b"2" => Self::Interactive,
            b"10" => Self::RemoteInteractive,
            b"11" => Self::CachedInteractive,
            b"4" => Self::Batch,
            b"5" => Self::Service,
            b"8" => Self::NetworkCleartext,
            b"9" => Self::NewCredentials,
            b"7" => Self::Unlock,
            _ if eq(b"network") => Self::Network,
            _ if eq(b"interactive") => Self::Interactive,
            _ if eq(b"remoteinteractive") || eq(b"remote_interactive") => Self::RemoteInteractive,
            _ if eq(b"cachedinteractive") || eq(b"cached_interactive") => Self::CachedInteractive,
            _ if eq(b"batch") => Self::Batch,
            _ if eq(b"service") => Self::Service,
            _ if eq(b"networkcleartext") || eq(b"network_cleartext") => Self::NetworkCleartext,
            _ if eq(b"newcredentials") || eq(b"new_credentials") => Self::NewCredentials,
            _ if eq(b"unlock") => Self::Unlock,
            _ => Self::Other,
        }
    }

    /// True for logons where a person sits at a keyboard (console, RDP, cached).
    pub fn is_interactive(self) -> bool {
        matches!(
            self,
            Self::Interactive | Self::RemoteInteractive | Self::CachedInteractive
        )
    }

    /// Bit for logon-type masks.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Interactive => "interactive",
            Self::RemoteInteractive => "remote_interactive",
            Self::CachedInteractive => "cached_interactive",
            Self::Batch => "batch",
            Self::Service => "service",
            Self::NetworkCleartext => "network_cleartext",
            Self::NewCredentials => "new_credentials",
            Self::Unlock => "unlock",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }
}

/// What an authentication record describes (LANL's orientation column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// A logon: the identity reached the destination. The only kind that makes a reach observation.
    LogOn,
    /// End of a session.
    LogOff,
    /// Kerberos service-ticket request.
    Tgs,
    /// Kerberos ticket-granting-ticket request.
    Tgt,
    /// Anything else (AuthMap, ScreenLock, …).
    Other,
}

impl Orientation {
    /// Parses LANL's orientation column (case-insensitive); `?` counts as a logon.
    pub fn parse(s: &[u8]) -> Orientation {
        let eq = |n: &[u8]| s.eq_ignore_ascii_case(n);
        if eq(b"logon") || s == b"?" || s.is_empty() {
            Self::LogOn
        } else if eq(b"logoff") {
            Self::LogOff
        } else if eq(b"tgs") {
            Self::Tgs
        } else if eq(b"tgt") {
            Self::Tgt
        } else {
            Self::Other
        }
    }
}

/// Result of an authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted.
    Success,
    /// Rejected.
    Failure,
}

impl Outcome {
    /// Parses `Success`/`Fail`/`failure` (case-insensitive); anything else is `None`.
    pub fn parse(s: &[u8]) -> Option<Outcome> {
        let eq = |n: &[u8]| s.eq_ignore_ascii_case(n);
        if eq(b"success") {
            Some(Self::Success)
        } else if eq(b"fail") || eq(b"failure") || eq(b"failed") {
            Some(Self::Failure)
        } else {
            None
        }
    }
}

/// One authentication of an identity from a source to a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEvent {
    /// Event time.
    pub time: Ts,
    /// The principal that authenticated.
    pub identity: Sym,
    /// Where it came from (host name, else IP), when known.
    pub src: Option<Sym>,
    /// What it reached (host name, else IP).
    pub dst: Sym,
    /// Target service (SPN, API, port name), when known.
    pub service: Option<Sym>,
    /// Authentication protocol.
    pub protocol: AuthProtocol,
    /// Logon type.
    pub logon: LogonType,
    /// What the record describes.
    pub orientation: Orientation,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// The specific secret used (access key id, ticket id), when known.
    pub credential: Option<Sym>,
}

/// One network flow between two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEvent {
    /// Start time.
    pub time: Ts,
    /// Duration in milliseconds.
    pub duration: u32,
    /// Initiating host.
    pub src: Sym,
    /// Responding host.
    pub dst: Sym,
    /// Source port, 0 when unknown or anonymised.
    pub src_port: u16,
    /// Service (destination) port, 0 when unknown or anonymised.
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP).
    pub protocol: u8,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// An input event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// An authentication.
    Auth(AuthEvent),
    /// A network flow.
    Flow(FlowEvent),
}

impl Event {
    /// Event time.
    #[inline]
    pub fn time(&self) -> Ts {
        match self {
            Event::Auth(a) => a.time,
            Event::Flow(f) => f.time,
        }
    }

    /// Rewrites every symbol through `f` (used to move events between interners).
    #[inline]
    pub fn map_syms(&mut self, mut f: impl FnMut(Sym) -> Sym) {
        match self {
            Event::Auth(a) => {
                a.identity = f(a.identity);
                a.src = a.src.map(&mut f);
                a.dst = f(a.dst);
                a.service = a.service.map(&mut f);
                a.credential = a.credential.map(&mut f);
            }
            Event::Flow(fl) => {
                fl.src = f(fl.src);
                fl.dst = f(fl.dst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lanl_enumerations() {
        assert_eq!(AuthProtocol::parse(b"Kerberos"), AuthProtocol::Kerberos);
        assert_eq!(AuthProtocol::parse(b"?"), AuthProtocol::Unknown);
        assert_eq!(AuthProtocol::parse(b"Wibble"), AuthProtocol::Other);
        assert_eq!(
            LogonType::parse(b"RemoteInteractive"),
            LogonType::RemoteInteractive
        );
        assert!(LogonType::parse(b"10").is_interactive());
        assert!(!LogonType::parse(b"Network").is_interactive());
        assert_eq!(Orientation::parse(b"LogOn"), Orientation::LogOn);
        assert_eq!(Orientation::parse(b"TGS"), Orientation::Tgs);
        assert_eq!(Outcome::parse(b"Fail"), Some(Outcome::Failure));
        assert_eq!(Outcome::parse(b"maybe"), None);
    }
}
