//! reachwatch on Kafka: `reachwatch run` (a consumer group over authentication and flow topics,
//! event-time merge across partitions, the engine, alert and dead-letter sinks, checkpoints) and
//! `reachwatch produce` (publish a file scenario). The only crate that links rdkafka.

pub mod config;
pub mod pipeline;
pub mod produce;
pub mod read;

pub use config::{RunConfig, Settings};
pub use pipeline::{run, Attach, RuleSource, RunSummary, StopHandle, ALERT_ID_HEADER};
