//! Arguments shared by several commands.

use anyhow::Result;
use clap::Args;
use reachwatch_engine::RuleSet;
use reachwatch_model::Ts;
use std::path::{Path, PathBuf};
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

/// The logs a command replays: inputs, their formats and the IP-to-host map.
#[derive(Args, Clone)]
pub struct LogArgs {
    /// Input format of both inputs: `lanl` (CSV layout of the LANL data set), `native` (JSON
    /// lines), `windows` (Winlogbeat/ECS Security events), `evtx` (EVTX files), `evtx-json`
    /// (evtx_dump/Hayabusa/Chainsaw JSON), `evtx-xml` (rendered event XML), `zeek` (conn.log, TSV
    /// or JSON), `vpc` (VPC Flow Logs), `cloudtrail`, `k8s` (audit log), `ocsf` (3002/4001), or
    /// `auto` (detect from the first lines and say which on standard error). A directory of
    /// Windows logs is one input (with `auto` or a Windows format).
    #[arg(long, default_value = "lanl")]
    pub format: reachwatch_formats::Format,
    /// Format of the authentication input (overrides --format).
    #[arg(long)]
    pub auth_format: Option<reachwatch_formats::Format>,
    /// Format of the flow input (overrides --format).
    #[arg(long)]
    pub flows_format: Option<reachwatch_formats::Format>,
    /// IP-to-host map, CSV `ip,host` lines (`#` comments), so address-only inputs (VPC, Zeek,
    /// CloudTrail, Kubernetes) join with host-named ones.
    #[arg(long)]
    pub hosts: Option<PathBuf>,
    /// Authentication log (`-` for standard input).
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Network flow log (`-` for standard input).
    #[arg(long)]
    pub flows: Option<PathBuf>,
}

impl LogArgs {
    /// Refuses a replay with no input, or with both inputs on standard input.
    pub fn check(&self) -> Result<()> {
        if self.auth.is_none() && self.flows.is_none() {
            anyhow::bail!("nothing to replay: give --auth FILE and/or --flows FILE");
        }
        if self.auth.as_deref() == Some(Path::new("-"))
            && self.flows.as_deref() == Some(Path::new("-"))
        {
            anyhow::bail!("only one of --auth and --flows can read standard input");
        }
        Ok(())
    }
}

/// The IP-to-host map of a run: the rules' inventory addresses, then the `--hosts` file.
pub fn host_map(rules: &RuleSet, hosts: Option<&Path>) -> Result<reachwatch_formats::HostMap> {
    let file = hosts
        .map(reachwatch_formats::HostMap::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--hosts {e}"))?;
    Ok(reachwatch_runner::host_map(rules, file.as_ref()))
}
