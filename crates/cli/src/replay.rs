//! `reachwatch replay`: command-line arguments to a replay (wiring only; the replay itself is in
//! `reachwatch-replay`).

pub use reachwatch_replay::{
    replay, replay_prepared, replay_with, replay_with_end, ReplayFormats, ReplayOptions,
    ReplaySummary,
};

use crate::args::{host_map, parse_duration, EngineArgs, LogArgs};
use anyhow::{Context, Result};
use clap::Args;
use reachwatch_model::Ts;
use reachwatch_telemetry::{serve, unix_now, Health, Telemetry};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `reachwatch replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// Inputs, their formats and the IP-to-host map.
    #[command(flatten)]
    pub input: LogArgs,
    /// Alert encoding: `native` (reachwatch JSON), `ocsf` (Detection Finding 2004) or `ecs`.
    #[arg(long, default_value = "native")]
    pub alert_format: reachwatch_formats::AlertFormat,
    /// Where to write alerts, one JSON object per line (`-` for standard output).
    #[arg(long, default_value = "-")]
    pub alerts: PathBuf,
    /// Where to write rejected input lines (JSON lines with file, line number and reason).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Absolute time of relative time 0 (RFC 3339), adds `timestamp` to alerts of LANL input.
    #[arg(long)]
    pub base_time: Option<String>,
    /// Write the summary as JSON to this file too.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// No progress lines and no summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve /metrics, /healthz and /readyz on this address (host:port) while replaying.
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Keep serving metrics this long after the replay ends (for a last scrape), e.g. `30s`.
    #[arg(long, value_parser = parse_duration, requires = "metrics_addr")]
    pub metrics_hold: Option<Ts>,
    /// Save the learned reach graph at the end as Parquet tables in this directory (for
    /// `reachwatch hunt --graph` and `reachwatch graph`).
    #[arg(long)]
    pub graph_out: Option<PathBuf>,
    /// A least-reach policy (the YAML of `reachwatch policy generate`): reach of an identity in
    /// its scope that it does not allow is reported as `policy-violation` alerts, next to the
    /// behavioural ones (detect-only enforcement).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Rules and the settings the command line overrides.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs `reachwatch replay`.
pub fn run(a: ReplayArgs) -> Result<()> {
    a.input.check()?;
    let base_time = a
        .base_time
        .as_deref()
        .map(reachwatch_formats::native::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--base-time: {}", e.detail))?;
    let rules = crate::policy_cmd::with_policy(a.engine.rules()?, a.policy.as_deref())?;
    let hosts = host_map(&rules, a.input.hosts.as_deref())?;
    let hosts = (!hosts.is_empty()).then_some(hosts);
    let formats = ReplayFormats {
        auth: a.input.auth_format,
        flows: a.input.flows_format,
        hosts,
        alert_format: a.alert_format,
        absolute_timestamps: true,
        announce: true,
        telemetry: a.metrics_addr.as_ref().map(|_| Arc::new(Telemetry::new())),
    };
    let health = Arc::new(Health::default());
    let server = match (&a.metrics_addr, &formats.telemetry) {
        (Some(addr), Some(t)) => {
            let s = serve(addr, t.clone(), health.clone())?;
            t.rules_active(&rules.hash_hex(), unix_now());
            tracing::info!(addr = s.addr(), "serving /metrics, /healthz and /readyz");
            Some(s)
        }
        _ => None,
    };
    tracing::info!(rules = %rules.hash_hex(), files = rules.files.len(), "rules loaded");
    health.set_ready(true);
    let opts = ReplayOptions {
        format: a.input.format,
        auth: a.input.auth,
        flows: a.input.flows,
        alerts: Some(a.alerts),
        dead_letter: a.dead_letter,
        base_time,
        rules,
        progress: (!a.quiet).then_some(Duration::from_secs(2)),
    };
    let summary = replay_with_end(
        &opts,
        &formats,
        |_| {},
        |engine| match &a.graph_out {
            Some(dir) => reachwatch_hunt::save_graph(engine, dir),
            None => Ok(()),
        },
    )?;
    if !a.quiet {
        eprintln!("{}", summary.render("replay"));
    }
    if let Some(p) = a.summary_json {
        std::fs::write(&p, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let (Some(_), Some(hold)) = (&server, a.metrics_hold) {
        std::thread::sleep(Duration::from_millis(hold.max(0) as u64));
    }
    drop(server);
    Ok(())
}
