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

/// The small scenario decoded into the engine's symbol table, merged by time (auth first on ties).
pub fn scenario_events(engine: &mut reachwatch_engine::Engine) -> Vec<reachwatch_model::Event> {
    use reachwatch_formats::{decoder, Stream};
    let dir = small_scenario();
    let mut all = vec![];
    for (file, stream) in [("auth.txt", Stream::Auth), ("flows.txt", Stream::Flows)] {
        let text = std::fs::read(dir.join(file)).unwrap();
        let mut dec = decoder(Format::Lanl, stream);
        for line in text.split(|b| *b == b'\n') {
            if let Some(ev) = dec.decode(line, engine.symbols_mut()).unwrap() {
                all.push((ev.time(), stream == Stream::Flows, all.len(), ev));
            }
        }
    }
    all.sort_by_key(|&(t, flow, i, _)| (t, flow, i));
    all.into_iter().map(|(_, _, _, e)| e).collect()
}

/// The `reachwatch` binary under test.
pub fn reachwatch() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_reachwatch"))
}

/// The shipped rules directory.
pub fn shipped_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// Copies the shipped rule files into `to`.
pub fn copy_rules(to: &Path) {
    for e in std::fs::read_dir(shipped_rules()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Asserts that a command succeeded, showing its standard error otherwise.
pub fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
