//! `reachwatch rules check|test DIR`: validate rule files and run the tests they carry.

use anyhow::Result;
use reachwatch_engine::ruletest::run_tests;
use reachwatch_rules::{load_dir, RuleSet};
use reachwatch_telemetry::unix_now;
use std::path::Path;

/// Loads a rules directory, or the embedded defaults when none is given.
pub fn load(dir: Option<&Path>) -> Result<RuleSet> {
    match dir {
        None => Ok(reachwatch_rules::builtin()),
        Some(d) => {
            load_dir(d).map_err(|p| anyhow::anyhow!("rules in {} are invalid:\n{p}", d.display()))
        }
    }
}

/// Validates a directory; prints every problem as `file:line:column: message`. Returns whether
/// the rules are valid.
pub fn check(dir: &Path) -> bool {
    match load_dir(dir) {
        Ok(r) => {
            let enabled = r.detections.iter().filter(|d| d.enabled).count();
            println!(
                "{}: OK — {} files, {} detections ({} enabled), {} exceptions, {} inventory entries, {} tests; rule set {}",
                dir.display(),
                r.files.len(),
                r.detections.len(),
                enabled,
                r.exceptions.len(),
                r.inventory.hosts.len(),
                r.tests.len(),
                r.hash_hex()
            );
            true
        }
        Err(problems) => {
            for p in &problems.0 {
                eprintln!("{p}");
            }
            eprintln!("{}: {} problem(s)", dir.display(), problems.0.len());
            false
        }
    }
}

/// Runs the tests of a directory's rules; prints one line per test. Returns whether all passed.
pub fn test(dir: &Path) -> Result<bool> {
    let rules = load(Some(dir))?;
    let outcomes = run_tests(&rules);
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for o in &outcomes {
        if o.passed {
            println!("ok      {}", o.name);
        } else {
            println!("FAILED  {} ({})\n        {}", o.name, o.origin, o.detail);
        }
    }
    println!("{} passed, {} failed", outcomes.len() - failed, failed);
    Ok(failed == 0)
}

/// A rules directory kept live in a running pipeline: [`LiveRules::poll`] reloads it when its
/// content changed (or when asked, on SIGHUP), logs and counts the outcome, and hands back a new
/// rule set only when it compiled — a broken change leaves the running rules in force.
pub struct LiveRules {
    reloader: reachwatch_rules::RuleReloader,
    overrides: Box<dyn Fn(&mut RuleSet) + Send>,
    telemetry: Option<std::sync::Arc<reachwatch_telemetry::Telemetry>>,
}

impl LiveRules {
    /// Loads `dir`; `overrides` (command-line settings) are applied to every version.
    pub fn new(
        dir: &Path,
        overrides: impl Fn(&mut RuleSet) + Send + 'static,
        telemetry: Option<std::sync::Arc<reachwatch_telemetry::Telemetry>>,
    ) -> Result<(LiveRules, RuleSet)> {
        let (reloader, mut rules) = reachwatch_rules::RuleReloader::new(dir)
            .map_err(|p| anyhow::anyhow!("rules in {} are invalid:\n{p}", dir.display()))?;
        overrides(&mut rules);
        if let Some(t) = &telemetry {
            t.rules_active(&rules.hash_hex(), unix_now());
        }
        tracing::info!(rules = %rules.hash_hex(), files = rules.files.len(), dir = %dir.display(), "rules loaded");
        Ok((
            LiveRules {
                reloader,
                overrides: Box::new(overrides),
                telemetry,
            },
            rules,
        ))
    }

    /// Checks the directory; returns the new rule set if it changed and compiles.
    pub fn poll(&mut self) -> Option<RuleSet> {
        match self.reloader.check() {
            reachwatch_rules::Reload::Unchanged => None,
            reachwatch_rules::Reload::Changed(r) => {
                let mut rules = *r;
                (self.overrides)(&mut rules);
                if let Some(t) = &self.telemetry {
                    t.rule_reload(reachwatch_telemetry::ReloadResult::Ok);
                    t.rules_active(&rules.hash_hex(), unix_now());
                }
                tracing::info!(rules = %rules.hash_hex(), files = rules.files.len(), "rules reloaded");
                Some(rules)
            }
            reachwatch_rules::Reload::Failed(problems) => {
                if let Some(t) = &self.telemetry {
                    t.rule_reload(reachwatch_telemetry::ReloadResult::Error);
                }
                for p in &problems.0 {
                    tracing::error!(problem = %p, "rule change rejected; the running rules stay in force");
                }
                None
            }
        }
    }
}
