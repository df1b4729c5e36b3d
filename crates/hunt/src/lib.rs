//! Hunting over reachwatch data with SQL (DataFusion): historical authentication and flow logs
//! (any format `reachwatch-formats` decodes, Parquet, CSV), the alerts of a replay and the learned
//! reach graph become tables (`auth`, `flows`, `alerts`, `edges`, `identities`, `destinations`).
//! Also: logs to day-partitioned Parquet ([`convert`]), the graph saved as Parquet
//! ([`graph::GraphTables::save`]), its blast radius ([`blast`]) and exports ([`export`]).
//!
//! This is the only crate that links DataFusion and Arrow.

pub mod alerts;
pub mod blast;
pub mod convert;
pub mod events;
pub mod export;
pub mod graph;
pub mod output;
pub mod session;

pub use graph::{save_graph, GraphTables};
pub use output::OutputFormat;
pub use session::{Hunt, InputFormat, QueryError};
