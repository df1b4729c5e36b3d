//! reachwatch's rule compiler.
//!
//! Rule files are YAML mappings with the sections `settings`, `weights`, `identities`, `inventory`,
//! `lists`, `macros`, `detections`, `exceptions` and `tests` (see `rules/README.md`). Files are
//! merged in file-name order; a later file can append to or replace lists, macros and detections
//! of an earlier one. Every problem is reported as `file:line:column: message`; unknown fields are
//! errors. Compiling never panics, whatever the input.

mod compile;
pub mod condition;
mod error;
mod ruleset;
pub mod vocab;
mod yaml;

pub use compile::{compile, load_dir, Reload, RuleReloader, Source, MAX_FILE};
pub use error::{Pos, Problem, Problems};
pub use ruleset::*;
pub use vocab::{Facts, Feature, NumField, TextField};

/// The default rule files shipped in `rules/`, embedded at build time (name, contents).
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    (
        "rules/00-settings.yaml",
        include_str!("../../../rules/00-settings.yaml"),
    ),
    (
        "rules/10-identities.yaml",
        include_str!("../../../rules/10-identities.yaml"),
    ),
    (
        "rules/20-inventory.yaml",
        include_str!("../../../rules/20-inventory.yaml"),
    ),
    (
        "rules/30-detections.yaml",
        include_str!("../../../rules/30-detections.yaml"),
    ),
];

/// The embedded default rule files as sources.
pub fn default_sources() -> Vec<Source> {
    DEFAULT_FILES
        .iter()
        .map(|(name, text)| Source {
            name: name.to_string(),
            text: text.to_string(),
        })
        .collect()
}

/// The default rule set (the embedded copy of `rules/`), compiled once.
pub fn builtin() -> RuleSet {
    static BUILTIN: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            compile(&default_sources())
                .unwrap_or_else(|p| panic!("the embedded default rules do not compile:\n{p}"))
        })
        .clone()
}
