//! Reach observations: an identity reached a destination from a source, as an authentication,
//! a flow nobody claimed, or failed attempts.

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
}

impl Via {
    /// Name used in evidence and conditions.
    pub fn name(self) -> &'static str {
        match self {
            Via::Auth => "auth",
            Via::Failure => "auth_failure",
            Via::Flow => "flow",
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
}
