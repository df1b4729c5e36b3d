//! Helpers shared by the integration tests.
#![allow(dead_code)]

use reachwatch::replay::{replay, ReplayOptions, ReplaySummary};
use reachwatch_engine::EngineConfig;
use reachwatch_formats::Format;
use reachwatch_model::Alert;
use std::path::{Path, PathBuf};

/// The committed small scenario.
pub fn small_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small")
}

/// Engine settings for the committed small scenario (5 learning days).
pub fn small_config() -> EngineConfig {
    EngineConfig {
        learn: 5 * reachwatch_model::time::DAY,
        ..EngineConfig::default()
    }
}

/// Replays a LANL scenario directory's auth.txt and flows.txt (or the given files).
pub fn run(
    auth: &Path,
    flows: &Path,
    cfg: EngineConfig,
    alerts: Option<PathBuf>,
    dead: Option<PathBuf>,
) -> (ReplaySummary, Vec<Alert>) {
    let opts = ReplayOptions {
        format: Format::Lanl,
        auth: Some(auth.to_path_buf()),
        flows: Some(flows.to_path_buf()),
        alerts,
        dead_letter: dead,
        base_time: None,
        engine: cfg,
        progress: None,
    };
    let mut out = vec![];
    let summary = replay(&opts, |a| out.push(a.clone())).expect("replay");
    (summary, out)
}
