//! `reachwatch rules check|test DIR`: validate rule files and run the tests they carry.

use anyhow::Result;
use reachwatch_engine::ruletest::run_tests;
use reachwatch_rules::{load_dir, RuleSet};
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
