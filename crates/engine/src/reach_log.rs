//! An optional record of everything the engine saw reached, after the join and before any
//! scoring: per (identity, source, destination, port, how, day), the first and last time and a
//! count. A what-if replay checks it against a proposed policy.

use crate::observation::{Observation, Via};
use reachwatch_model::time::DAY;
use reachwatch_model::{Sym, Ts};

/// One kind of reach: an identity reached a destination (and port) from a source, on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReachKey {
    /// Identity (a flow nobody claimed belongs to its source host's machine account).
    pub identity: Sym,
    /// Source host, if known.
    pub src: Option<Sym>,
    /// Destination host.
    pub dst: Sym,
    /// Destination port of a flow; 0 for an authentication.
    pub port: u16,
    /// A flow (joined to an authentication or not) rather than an authentication.
    pub flow: bool,
    /// Event-time day (time divided by 24 h, from time 0).
    pub day: i64,
}

/// How often and when one [`ReachKey`] was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReachUse {
    /// First event time (ms).
    pub first: Ts,
    /// Last event time (ms).
    pub last: Ts,
    /// Events.
    pub count: u64,
}

/// The record: reach aggregated by [`ReachKey`].
pub type ReachLog = crate::graph::FxMap<ReachKey, ReachUse>;

/// Adds one observation to the record.
pub(crate) fn record(log: &mut ReachLog, obs: &Observation) {
    let t = obs.time;
    let key = ReachKey {
        identity: obs.identity,
        src: obs.src,
        dst: obs.dst,
        port: obs.port,
        flow: obs.via != Via::Auth,
        day: t.div_euclid(DAY),
    };
    let u = log.entry(key).or_insert(ReachUse {
        first: t,
        last: t,
        count: 0,
    });
    u.first = u.first.min(t);
    u.last = u.last.max(t);
    u.count += 1;
}
