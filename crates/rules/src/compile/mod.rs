//! Compiling rule files: read every file, merge them in order (later files override or append),
//! compile conditions, and report every problem with its `file:line:column`.
//!
//! One module per section of a rule file, each filling the shared [`draft::Draft`]: `settings`
//! (settings and weights), `identities`, `inventory`, `lists` (lists and macros), `detections`,
//! `exceptions` and `rule_tests`; `files` reads the files and checks and assembles the draft;
//! `reload` reads and watches a rules directory.

mod detections;
mod draft;
mod exceptions;
mod files;
mod identities;
mod inventory;
mod lists;
mod reload;
mod rule_tests;
mod settings;

pub use draft::Source;
pub use files::compile;
pub use reload::{load_dir, Reload, RuleReloader, MAX_FILE};
