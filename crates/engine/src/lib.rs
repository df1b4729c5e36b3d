//! The reachwatch detection engine.
//!
//! Events go in ([`Engine::push`]), alerts come out. Everything is driven by event time: a reorder
//! buffer releases events in time order once the watermark (latest time seen minus the allowed
//! lateness) has passed them; authentications and flows are joined per (source, destination)
//! within a window around the authentication; each reach observation is scored against the
//! identity's baseline reach graph and its peers; matches are grouped per identity into incidents
//! and emitted as explained alerts. No IO, no wall clock: the same input gives the same alerts.

mod config;
mod doorkeeper;
mod engine;
mod graph;
mod incident;
mod join;
pub mod newterms;
mod observation;
mod prune;
mod reach_log;
mod reorder;
pub mod ruletest;
mod score;
mod score_log;
pub mod structure;

pub use config::EngineConfig;
pub use engine::{Accepted, Engine, Rejection, SnapshotError, StateCounts, StateFill, Stats, THIN};
pub use graph::Graph;
pub use reach_log::{ReachKey, ReachLog, ReachUse};
pub use reachwatch_rules::RuleSet;
pub use score_log::ScoredObservation;
