//! Engine settings: windows, thresholds and feature weights. Every value has a default.

use reachwatch_model::time::{DAY, HOUR, MINUTE, SECOND};
use reachwatch_model::{IdentityKind, Ts};

/// Points each feature adds to an observation's score (negative values mitigate).
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// The identity never reached this destination (or not within the edge TTL).
    pub new_edge: i32,
    /// The identity never reached any host of the destination's group.
    pub dst_group_novel: i32,
    /// Few identities reach the destination (at most `rare_max_identities`).
    pub rare_dst: i32,
    /// Identities of the same peer group already reach the destination.
    pub peer_support: i32,
    /// Several other identities started reaching the destination in the last day (a rollout).
    pub rollout: i32,
    /// The destination itself appeared recently (a new asset).
    pub new_asset: i32,
    /// The identity was never used from this source.
    pub new_source: i32,
    /// The identity was never used from any host of the source's group.
    pub src_group_novel: i32,
    /// NTLM or cleartext where the identity's baseline is Kerberos only.
    pub auth_downgrade: i32,
    /// Interactive or remote-interactive logon by a machine identity that never did so.
    pub interactive: i32,
    /// Several novel destinations within the fan-out window.
    pub fan_out: i32,
    /// Failed authentications against many destinations within the failure window.
    pub failed_spray: i32,
    /// A novel login into the source host by another identity shortly before (credential switch).
    pub chain: i32,
    /// The identity was silent for longer than `dormant_after`.
    pub dormant: i32,
    /// An admin-port flow with no matching authentication to a destination new for the host.
    pub flow_only: i32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            new_edge: 20,
            dst_group_novel: 30,
            rare_dst: 10,
            peer_support: -30,
            rollout: -25,
            new_asset: -25,
            new_source: 25,
            src_group_novel: 35,
            auth_downgrade: 25,
            interactive: 70,
            fan_out: 30,
            failed_spray: 70,
            chain: 40,
            dormant: 20,
            flow_only: 30,
        }
    }
}

/// Engine settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Learning period from the first event: the baseline is built and nothing alerts.
    pub learn: Ts,
    /// How far behind the latest event time an event may arrive and still be processed.
    pub lateness: Ts,
    /// How far ahead of the latest event time an event may be before it is rejected as clock skew.
    pub max_skew: Ts,
    /// A flow may start this long before its authentication.
    pub join_before: Ts,
    /// A flow may start this long after its authentication.
    pub join_after: Ts,
    /// Most recent authentications remembered per (source, destination) for the join.
    pub join_cap: usize,
    /// An edge or source unseen for this long is forgotten (ageing).
    pub edge_ttl: Ts,
    /// An identity first seen after the learning period is learned for this long before scoring.
    pub identity_grace: Ts,
    /// A host first seen less than this long ago is a new asset.
    pub new_asset_age: Ts,
    /// Destinations reached by at most this many identities are rare.
    pub rare_max_identities: u32,
    /// Window for counting novel destinations (fan-out).
    pub fanout_window: Ts,
    /// Novel destinations within the window that make a fan-out.
    pub fanout_min: u32,
    /// Window for counting failed authentications.
    pub failure_window: Ts,
    /// Distinct destinations with failures within the window that make a spray.
    pub failure_min_dsts: u32,
    /// Window between a novel login into a host and a novel login out of it (credential switch).
    pub chain_window: Ts,
    /// Silence after which an identity counts as dormant.
    pub dormant_after: Ts,
    /// Baseline observations needed before a protocol downgrade is judged.
    pub downgrade_min_observations: u64,
    /// An incident is emitted this long after its first match, with every match until then.
    pub incident_hold: Ts,
    /// Matches for the same identity within this long of the incident's last match join it.
    pub incident_window: Ts,
    /// Minimum score for an observation to alert.
    pub alert_threshold: u32,
    /// Identity kinds that can alert.
    pub alert_kinds: Vec<IdentityKind>,
    /// Destination ports on which an unauthenticated flow counts as remote administration.
    pub admin_ports: Vec<u16>,
    /// Observations kept in an alert's evidence.
    pub max_evidence: usize,
    /// Feature weights.
    pub weights: Weights,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            learn: 7 * DAY,
            lateness: MINUTE,
            max_skew: 7 * DAY,
            join_before: 5 * SECOND,
            join_after: MINUTE,
            join_cap: 8,
            edge_ttl: 30 * DAY,
            identity_grace: DAY,
            new_asset_age: 7 * DAY,
            rare_max_identities: 3,
            fanout_window: 10 * MINUTE,
            fanout_min: 5,
            failure_window: 10 * MINUTE,
            failure_min_dsts: 5,
            chain_window: 30 * MINUTE,
            dormant_after: 30 * DAY,
            downgrade_min_observations: 20,
            incident_hold: 10 * MINUTE,
            incident_window: HOUR,
            alert_threshold: 50,
            alert_kinds: vec![IdentityKind::Machine],
            admin_ports: vec![22, 135, 139, 445, 3389, 5985, 5986],
            max_evidence: 50,
            weights: Weights::default(),
        }
    }
}
