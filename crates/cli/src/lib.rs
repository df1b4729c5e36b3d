//! reachwatch's command-line drivers: replay of historical logs, the scenario generator, and the
//! evaluation of detections against labels. Wiring only: decoding lives in `reachwatch-formats`,
//! detection in `reachwatch-engine`.

pub mod args;
pub mod eval;
pub mod graph_cmd;
pub mod hunt_cmd;
pub mod policy_cmd;
pub mod produce;
pub mod replay;
pub mod rules_cmd;
pub mod run;
pub mod serve_cmd;
