//! Reach observations: an identity reached a destination from a source, as an authentication,
//! a flow nobody claimed, failed attempts, or a flow on a new service of a known edge.

use reachwatch_model::{AuthProtocol, LogonType, Sym, Ts};
use serde::{Deserialize, Serialize};

/// How an observation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// A successful authentication.
    Auth,
    /// Failed authentications (a spray).
    Failure,
    /// A flow with no authentication, attributed to the source host's machine account.
    Flow,
    /// A flow on a port the identity never used on an edge it already had.
    Service,
    /// A flow joined to the authentication that preceded it (judged against a policy only).
    Joined,
}

impl Via {
    /// Name used in evidence and conditions.
    pub fn name(self) -> &'static str {
        match self {
            Via::Auth => "auth",
            Via::Failure => "auth_failure",
            Via::Flow => "flow",
            Via::Service => "service",
            Via::Joined => "joined_flow",
        }
    }
}

/// One reach observation: an identity reached a destination from a source.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Observation {
    /// Event time.
    pub time: Ts,
    /// Identity.
    pub identity: Sym,
    /// Source host.
    pub src: Option<Sym>,
    /// Destination host.
    pub dst: Sym,
    /// Service port (flows) or 0.
    pub port: u16,
    /// Service name (auth), if known.
    pub service: Option<Sym>,
    /// Protocol.
    pub protocol: AuthProtocol,
    /// Logon type.
    pub logon: LogonType,
    /// How it was observed.
    pub via: Via,
    /// Bytes of the flow (flow and service observations), else 0.
    pub bytes: u64,
}

impl Observation {
    /// An authentication observed as `via` (a logon, or a failure in a spray).
    pub fn of_auth(a: &reachwatch_model::AuthEvent, via: Via) -> Observation {
        Observation {
            time: a.time,
            identity: a.identity,
            src: a.src,
            dst: a.dst,
            port: 0,
            service: a.service,
            protocol: a.protocol,
            logon: a.logon,
            via,
            bytes: 0,
        }
    }

    /// A flow observed as `via` (a flow, or a new service) by `identity`.
    pub fn of_flow(f: &reachwatch_model::FlowEvent, identity: Sym, via: Via) -> Observation {
        Observation {
            time: f.time,
            identity,
            src: Some(f.src),
            dst: f.dst,
            port: f.dst_port,
            service: None,
            protocol: AuthProtocol::Unknown,
            logon: LogonType::Unknown,
            via,
            bytes: f.bytes,
        }
    }
}

/// How an observation is linked, through a host, to another identity's novel login: a
/// credential-switching chain.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum ChainLink {
    /// Another identity's novel login into this observation's source came shortly before: this
    /// is the hop out.
    After(Observation),
    /// This novel login into a host was followed, shortly after, by another identity's novel
    /// login out of it: this is the hop in.
    Before(Observation),
}
