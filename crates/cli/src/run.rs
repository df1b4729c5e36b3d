//! `reachwatch run --config FILE`: the streaming pipeline on Kafka (wiring only; the pipeline is
//! in `reachwatch-kafka`).

use crate::rules_cmd::LiveRules;
use anyhow::{Context, Result};
use reachwatch_kafka::config::RunConfig;
use reachwatch_telemetry::{serve_with, Health, Telemetry};
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `reachwatch run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML; every key is documented in the README). `REACHWATCH_BROKERS`,
    /// `REACHWATCH_KAFKA_USERNAME` and `REACHWATCH_KAFKA_PASSWORD` override it.
    #[arg(long)]
    pub config: PathBuf,
    /// Validate the configuration and the rules, print the effective settings and exit; connects
    /// to no broker and never joins the consumer group.
    #[arg(long)]
    pub check_config: bool,
    /// Read every partition from its beginning, ignoring the checkpoint and committed offsets
    /// (`pipeline.from_start = true`).
    #[arg(long)]
    pub from_start: bool,
    /// Commit no offsets to Kafka (`pipeline.commit = false`).
    #[arg(long)]
    pub no_commit: bool,
}

/// Runs `reachwatch run`.
pub fn run(a: RunArgs) -> Result<()> {
    let mut config = RunConfig::load(&a.config)?;
    config.apply_env(|k| std::env::var(k).ok());
    config.pipeline.from_start |= a.from_start;
    config.pipeline.commit &= !a.no_commit;
    let settings = config
        .validate()
        .with_context(|| format!("{}", a.config.display()))?;
    let (learn, lateness, max_skew) = (settings.learn, settings.lateness, settings.max_skew);
    let policy = match &settings.raw.engine.policy {
        Some(p) => Some(std::sync::Arc::new(
            crate::policy_cmd::load_judge(p).context("engine.policy")?,
        )),
        None => None,
    };
    let judge = policy.clone();
    let overrides = move |r: &mut reachwatch_rules::RuleSet| {
        let s = &mut r.settings;
        s.learn = learn.unwrap_or(s.learn);
        s.lateness = lateness.unwrap_or(s.lateness);
        s.max_skew = max_skew.unwrap_or(s.max_skew);
        r.policy = judge.clone();
    };
    let telemetry = settings
        .raw
        .metrics
        .addr
        .as_ref()
        .map(|_| Arc::new(Telemetry::new()));
    let (live, rules) = match settings.raw.engine.rules.as_deref() {
        Some(dir) if !a.check_config => {
            let (live, rules) = LiveRules::new(dir, overrides, telemetry.clone())?;
            (Some(live), rules)
        }
        dir => {
            let mut rules = crate::rules_cmd::load(dir)?;
            overrides(&mut rules);
            (None, rules)
        }
    };
    let rules = Arc::new(rules);
    if let (None, Some(t)) = (&live, &telemetry) {
        t.rules_active(&rules.hash_hex(), reachwatch_telemetry::unix_now());
    }
    if a.check_config {
        if let Some(h) = &settings.raw.engine.hosts {
            let map = reachwatch_formats::HostMap::load(h)
                .map_err(|e| anyhow::anyhow!("engine.hosts: {e}"))?;
            println!("hosts: {} addresses from {}", map.len(), h.display());
        }
        if let (Some(j), Some(path)) = (&policy, &settings.raw.engine.policy) {
            let p = j.policy();
            println!(
                "policy: {} grants for {} identities, {} hard denies from {}; reach outside it is reported as policy-violation",
                p.grants.len(),
                p.grants.iter().map(|g| g.members.len()).sum::<usize>(),
                p.denies.len(),
                path.display()
            );
        }
        let sources: Vec<String> = settings
            .sources
            .iter()
            .map(|s| format!("{} ({}, {})", s.topic, s.stream.name(), s.format.name()))
            .collect();
        let kept = match &settings.checkpoint_topic {
            Some(t) => format!(" and in topic {t} (created if missing: 2 partitions, compacted)"),
            None => String::new(),
        };
        println!(
            "config ok: sources {}; group {}; checkpoints in {}{kept} every {:?}; rules {}",
            sources.join(", "),
            settings.raw.kafka.group_id,
            settings.raw.checkpoint.dir.display(),
            settings.checkpoint_interval,
            rules.hash_hex()
        );
        return Ok(());
    }
    let health = Arc::new(Health::default());
    let _server = match (&settings.raw.metrics.addr, &telemetry) {
        (Some(addr), Some(t)) => {
            let ui = match (settings.raw.metrics.ui, &settings.raw.sinks.alerts_file) {
                (true, Some(alerts)) => {
                    crate::serve_cmd::live_ui(alerts, &settings.raw.checkpoint.dir)?
                }
                _ => reachwatch_web::Router::new(),
            };
            let s = serve_with(addr, t.clone(), health.clone(), ui)
                .with_context(|| format!("serving metrics on {addr}"))?;
            tracing::info!(addr = s.addr(), "serving /metrics, /healthz and /readyz");
            if settings.raw.metrics.ui {
                tracing::info!(url = %format!("http://{}/ui/", s.addr()), "serving the web view");
            }
            Some(s)
        }
        _ => None,
    };
    let attach = reachwatch_kafka::Attach {
        telemetry,
        health: Some(health),
        stop: reachwatch_kafka::StopHandle::default(),
        rules: live.map(|mut l| Box::new(move || l.poll()) as reachwatch_kafka::RuleSource),
    };
    let summary = reachwatch_kafka::run(settings, rules, attach)?;
    eprintln!(
        "run: {} records, {} events, {} alerts ({} already published), {} checkpoints",
        summary.records,
        summary.events,
        summary.alerts,
        summary.alerts_suppressed,
        summary.checkpoints
    );
    Ok(())
}
