//! What the engine counts, and why it refuses an event.

use super::limits::StateCounts;
use crate::reorder::Refusal;
use reachwatch_model::Ts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the engine took an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// In event-time order (within the allowed lateness).
    InOrder,
    /// Behind the watermark but within the late window: processed at once, out of order.
    Late {
        /// How far behind the watermark it was (ms).
        by: Ts,
    },
}

/// Why the engine refused an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the watermark minus the late window: too late to be processed.
    Late {
        /// Watermark at arrival (ms).
        watermark: Ts,
    },
    /// Too far ahead of the stream's time.
    ClockSkew {
        /// Latest event time seen (ms).
        max_seen: Ts,
    },
}

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Late { watermark } => Rejection::Late { watermark },
            Refusal::Skew { max_seen } => Rejection::ClockSkew { max_seen },
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Late { watermark } => write!(
                f,
                "event is older than the watermark ({} s) by more than the late window",
                watermark / 1000
            ),
            Rejection::ClockSkew { max_seen } => write!(
                f,
                "event is too far ahead of the latest event time ({} s)",
                max_seen / 1000
            ),
        }
    }
}

/// Counters of what the engine did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Authentication events accepted.
    pub auth_events: u64,
    /// Flow events accepted.
    pub flow_events: u64,
    /// Events refused as too late.
    pub late: u64,
    /// Events behind the watermark but within the late window, processed out of order.
    #[serde(default)]
    pub late_processed: u64,
    /// Events refused as clock skew.
    pub skewed: u64,
    /// Authentications that are not logons (logoff, ticket requests, …): counted, not observed.
    pub auth_not_logon: u64,
    /// Failed authentications.
    pub auth_failures: u64,
    /// Flows joined to an authentication.
    pub join_hits: u64,
    /// Flows with no authentication, attributed to the source host's machine account.
    pub join_misses: u64,
    /// Reach observations scored or learned.
    pub observations: u64,
    /// Observations that made a new edge after the learning period.
    pub novel_edges: u64,
    /// Observations that scored at or above the threshold.
    pub matches: u64,
    /// Matches absorbed by an incident already emitted.
    pub absorbed: u64,
    /// Authentications and flows outside the rules' policy (with one).
    pub policy_violations: u64,
    /// State entries evicted because a table was at its cap.
    pub evicted_full: StateCounts,
    /// State entries forgotten because unseen too long (`state_ttl`, `edge_ttl`).
    pub evicted_ttl: StateCounts,
    /// Events refused because they needed a new identity or host and the table was full of
    /// entries that may not be evicted (edges are never refused).
    pub refused_full: StateCounts,
    /// Authentications passed over: by an identity with no profile, seen for the first time
    /// while the tables were crowded (learned from its next sighting on).
    #[serde(default)]
    pub passed_over: u64,
    /// Compactions of the symbol table.
    pub compactions: u64,
    /// Alerts emitted, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Matches suppressed, by exception name.
    pub suppressed: BTreeMap<String, u64>,
}
