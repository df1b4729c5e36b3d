//! Arguments shared by several commands.

use anyhow::Result;
use clap::Args;
use reachwatch_engine::RuleSet;
use reachwatch_model::Ts;
use std::path::PathBuf;
use std::sync::Arc;

/// Rules and the settings the command line can override.
#[derive(Args, Clone, Default)]
pub struct EngineArgs {
    /// Rules directory: every *.yaml / *.yml file, merged in name order (default: the built-in
    /// copy of the shipped `rules/`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Learning period from the first event, no alerts during it, e.g. `7d`, `36h`
    /// (default: the rules' `settings.learn`).
    #[arg(long, value_parser = parse_duration)]
    pub learn: Option<Ts>,
    /// How late (event time) an event may arrive and still be processed (default: `settings.lateness`).
    #[arg(long, value_parser = parse_duration)]
    pub lateness: Option<Ts>,
    /// Events further ahead of the latest event time than this are clock skew (default: `settings.max_skew`).
    #[arg(long, value_parser = parse_duration)]
    pub max_skew: Option<Ts>,
}

impl EngineArgs {
    /// The rule set, with the command-line overrides applied.
    pub fn rules(&self) -> Result<Arc<RuleSet>> {
        let mut rules = crate::rules_cmd::load(self.rules.as_deref())?;
        let s = &mut rules.settings;
        s.learn = self.learn.unwrap_or(s.learn);
        s.lateness = self.lateness.unwrap_or(s.lateness);
        s.max_skew = self.max_skew.unwrap_or(s.max_skew);
        Ok(Arc::new(rules))
    }
}

/// Parses a duration such as `7d`, `36h` or `90s` into milliseconds.
pub fn parse_duration(s: &str) -> Result<Ts, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_millis() as Ts)
        .map_err(|e| format!("`{s}` is not a duration like 7d, 36h, 90s ({e})"))
}
