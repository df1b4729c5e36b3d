//! The one runner of the reachwatch engine, shared by replay and the streaming pipeline.
//!
//! Sources decode records on their own threads and hand the runner [`Batch`]es (events with
//! symbols of the decoding thread's table, the names first seen, the records that could not be
//! decoded). The runner hands the names over to the engine's table ([`symbols`]), merges the
//! inputs in event time ([`merge`]), refuses what the engine cannot take (clock skew at the head
//! of an input, late records) as dead letters, drives the engine, and delivers stamped, encoded,
//! de-duplicated alerts ([`alerts`]) and dead letters to a [`Sink`]. It counts everything in one
//! [`Summary`] and in typed metrics. Synchronous, no IO of its own: the caller passes the current
//! instant and the sink.

pub mod alerts;
pub mod merge;
pub mod raw;
mod runner;
pub mod sink;
pub mod skew;
mod summary;
pub mod symbols;

pub use merge::SourceKey;
pub use reachwatch_formats::lines::Batch;
pub use runner::{Options, Runner, Source};
pub use sink::Sink;
pub use summary::Summary;

/// The IP → host map the runner resolves names through: the rules' inventory addresses, with a
/// host file's (`--hosts`, `hosts_file`) over them.
pub fn host_map(
    rules: &reachwatch_engine::RuleSet,
    file: Option<&reachwatch_formats::HostMap>,
) -> reachwatch_formats::HostMap {
    reachwatch_formats::HostMap::layered(
        rules.inventory.addresses.iter().map(|(ip, h)| (ip, h)),
        file,
    )
}

/// Wall-clock Unix time in ms, for latency metrics only (the engine never reads the clock).
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
