//! Reading a rules directory, and watching it for changes.

use super::draft::Source;
use super::files::compile;
use crate::error::{Pos, Problem, Problems};
use crate::ruleset::RuleSet;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// Largest rule file accepted, in bytes.
pub const MAX_FILE: usize = 4 << 20;

/// Reads every `*.yaml` / `*.yml` file of `dir` (sorted by file name) and compiles them.
pub fn load_dir(dir: &Path) -> Result<RuleSet, Problems> {
    let whole = |message: String| {
        Problems(vec![Problem {
            pos: Pos {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
            },
            message,
        }])
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| whole(format!("cannot read rules directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(whole(
            "no rule files (*.yaml, *.yml) in the rules directory".into(),
        ));
    }
    let mut sources = vec![];
    for p in paths {
        let name = p.display().to_string();
        let bytes = std::fs::read(&p).map_err(|e| whole(format!("cannot read {name}: {e}")))?;
        if bytes.len() > MAX_FILE {
            return Err(whole(format!("{name} is larger than {MAX_FILE} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            whole(format!(
                "{name} is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        sources.push(Source { name, text });
    }
    compile(&sources)
}

/// What a reload check found.
#[derive(Debug)]
pub enum Reload {
    /// The files did not change.
    Unchanged,
    /// The files changed and compile: the new rule set.
    Changed(Box<RuleSet>),
    /// The files changed but do not compile: keep the running rules.
    Failed(Problems),
}

/// Watches a rules directory by content (so that renames and swapped symlinks, as Kubernetes
/// ConfigMaps do, are seen): [`RuleReloader::check`] recompiles when anything changed.
#[derive(Debug)]
pub struct RuleReloader {
    dir: std::path::PathBuf,
    fingerprint: u64,
}

fn fingerprint(dir: &Path) -> u64 {
    let mut h = Xxh3::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        match std::fs::read(&p) {
            Ok(b) => h.update(&b),
            Err(_) => h.update(b"\0unreadable"),
        }
    }
    h.digest()
}

impl RuleReloader {
    /// Compiles the directory and starts watching it.
    pub fn new(dir: &Path) -> Result<(RuleReloader, RuleSet), Problems> {
        let fp = fingerprint(dir);
        let rules = load_dir(dir)?;
        Ok((
            RuleReloader {
                dir: dir.to_path_buf(),
                fingerprint: fp,
            },
            rules,
        ))
    }

    /// Recompiles if the directory changed since the last check.
    pub fn check(&mut self) -> Reload {
        let fp = fingerprint(&self.dir);
        if fp == self.fingerprint {
            return Reload::Unchanged;
        }
        self.fingerprint = fp;
        match load_dir(&self.dir) {
            Ok(r) => Reload::Changed(Box::new(r)),
            Err(p) => Reload::Failed(p),
        }
    }
}
