//! Helpers shared by the integration tests.
#![allow(dead_code)]

use reachwatch::replay::{replay, ReplayOptions, ReplaySummary};
use reachwatch_engine::RuleSet;
use reachwatch_formats::Format;
use reachwatch_model::Alert;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The committed small scenario.
pub fn small_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small")
}

/// The default rules with the committed small scenario's 5 learning days.
pub fn small_config() -> Arc<RuleSet> {
    let mut rules = reachwatch_rules::builtin();
    rules.settings.learn = 5 * reachwatch_model::time::DAY;
    Arc::new(rules)
}

/// Replays a LANL scenario directory's auth.txt and flows.txt (or the given files).
pub fn run(
    auth: &Path,
    flows: &Path,
    rules: Arc<RuleSet>,
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
        rules,
        progress: None,
    };
    let mut out = vec![];
    let summary = replay(&opts, |a| out.push(a.clone())).expect("replay");
    (summary, out)
}
