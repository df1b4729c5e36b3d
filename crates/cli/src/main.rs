//! The `reachwatch` command.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use reachwatch::eval::{self, Flagged};
use reachwatch::replay::{replay, ReplayOptions};
use reachwatch_engine::EngineConfig;
use reachwatch_formats::Format;
use reachwatch_gen::{generate, read_labels, GenConfig};
use reachwatch_model::Ts;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Detects lateral movement by machine identities: learns each identity's reach graph from
/// authentication logs and network flows and flags, with explanations, where it reaches beyond it.
#[derive(Parser)]
#[command(name = "reachwatch", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay historical logs through the engine at full speed and write alerts.
    Replay(ReplayArgs),
    /// Write a synthetic enterprise scenario (LANL layout) with labelled attack campaigns.
    Generate(GenerateArgs),
    /// Replay a generated scenario and score the alerts against its labels, next to a
    /// "new terms" reference detector.
    Eval(EvalArgs),
    /// Generate a scenario, replay it, print its alerts and the evaluation (no setup needed).
    Demo(DemoArgs),
}

#[derive(Args, Clone)]
struct EngineArgs {
    /// Learning period from the first event (no alerts during it), e.g. `7d`, `36h`.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    learn: Ts,
    /// How late (event time) an event may arrive and still be processed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    lateness: Ts,
    /// Events further ahead of the latest event time than this are rejected as clock skew.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    max_skew: Ts,
}

impl EngineArgs {
    fn config(&self) -> EngineConfig {
        EngineConfig {
            learn: self.learn,
            lateness: self.lateness,
            max_skew: self.max_skew,
            ..EngineConfig::default()
        }
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Input format: `lanl` (CSV layout of the LANL data set) or `native` (JSON lines).
    #[arg(long, default_value = "lanl")]
    format: Format,
    /// Authentication log (`-` for standard input).
    #[arg(long)]
    auth: Option<PathBuf>,
    /// Network flow log (`-` for standard input).
    #[arg(long)]
    flows: Option<PathBuf>,
    /// Where to write alerts, one JSON object per line (`-` for standard output).
    #[arg(long, default_value = "-")]
    alerts: PathBuf,
    /// Where to write rejected input lines (JSON lines with file, line number and reason).
    #[arg(long)]
    dead_letter: Option<PathBuf>,
    /// Absolute time of relative time 0 (RFC 3339), adds `timestamp` to alerts of LANL input.
    #[arg(long)]
    base_time: Option<String>,
    /// Write the summary as JSON to this file too.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// No progress lines and no summary on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct GenerateArgs {
    /// Output directory (created if missing).
    #[arg(long, short)]
    out: PathBuf,
    /// Random seed: the same seed and settings give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated days.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Days of learning before any attack.
    #[arg(long, default_value_t = 7)]
    learn_days: u32,
    /// Size factor: hosts, identities and events scale with it (1 ≈ 40k events a day).
    #[arg(long, default_value_t = 1.0)]
    size: f64,
    /// Leave out the attack campaigns.
    #[arg(long)]
    no_attacks: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// Scenario directory written by `reachwatch generate`.
    #[arg(long)]
    scenario: PathBuf,
    /// Also write reachwatch's alerts here.
    #[arg(long)]
    alerts: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the generated scenario and the alerts.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Random seed of the scenario.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_duration(s: &str) -> Result<Ts, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_millis() as Ts)
        .map_err(|e| format!("`{s}` is not a duration like 7d, 36h, 90s ({e})"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reachwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay(a) => cmd_replay(a),
        Command::Generate(a) => cmd_generate(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Demo(a) => cmd_demo(a),
    }
}

fn cmd_replay(a: ReplayArgs) -> Result<()> {
    if a.auth.is_none() && a.flows.is_none() {
        bail!("nothing to replay: give --auth FILE and/or --flows FILE");
    }
    if a.auth.as_deref() == Some(Path::new("-")) && a.flows.as_deref() == Some(Path::new("-")) {
        bail!("only one of --auth and --flows can read standard input");
    }
    let base_time = a
        .base_time
        .as_deref()
        .map(reachwatch_formats::native::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--base-time: {}", e.detail))?;
    let opts = ReplayOptions {
        format: a.format,
        auth: a.auth,
        flows: a.flows,
        alerts: Some(a.alerts),
        dead_letter: a.dead_letter,
        base_time: base_time.or((a.format == Format::Native).then_some(0)),
        engine: a.engine.config(),
        progress: (!a.quiet).then_some(Duration::from_secs(2)),
    };
    let summary = replay(&opts, |_| {})?;
    if !a.quiet {
        eprintln!("{}", summary.render());
    }
    if let Some(p) = a.summary_json {
        std::fs::write(&p, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

fn cmd_generate(a: GenerateArgs) -> Result<()> {
    let cfg = GenConfig {
        seed: a.seed,
        days: a.days,
        learn_days: a.learn_days,
        size: a.size,
        attacks: !a.no_attacks,
    };
    let s =
        generate(&cfg, &a.out).with_context(|| format!("generating into {}", a.out.display()))?;
    eprintln!(
        "generated {} auth and {} flow events, {} hosts, {} identities, {} campaigns into {}",
        s.auth_events,
        s.flow_events,
        s.hosts,
        s.identities,
        s.campaigns,
        a.out.display()
    );
    Ok(())
}

/// Replays a scenario directory and evaluates both detectors; prints the table.
fn evaluate_scenario(
    dir: &Path,
    engine: EngineArgs,
    alerts: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let campaigns = read_labels(&dir.join("labels.jsonl"))
        .with_context(|| format!("reading {}", dir.join("labels.jsonl").display()))?;
    let opts = ReplayOptions {
        format: Format::Lanl,
        auth: Some(dir.join("auth.txt")),
        flows: Some(dir.join("flows.txt")),
        alerts,
        dead_letter: None,
        base_time: None,
        engine: engine.config(),
        progress: (!quiet).then_some(Duration::from_secs(2)),
    };
    let mut flagged = vec![];
    let summary = replay(&opts, |a| flagged.push(Flagged::from(a)))?;
    eprintln!("{}", summary.render());
    let learn_end = summary.learn_end.unwrap_or(0) as f64 / 1000.0;
    let end = summary.last_time.unwrap_or(0) as f64 / 1000.0;
    let nt = eval::new_terms(&dir.join("auth.txt"), Format::Lanl, engine.learn)?;
    let rows = [
        eval::evaluate("reachwatch", &flagged, &campaigns, learn_end, end),
        eval::evaluate("new-terms", &nt, &campaigns, learn_end, end),
    ];
    println!("{}", eval::render(&rows));
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> Result<()> {
    evaluate_scenario(&a.scenario, a.engine, a.alerts, false)
}

fn cmd_demo(a: DemoArgs) -> Result<()> {
    let scenario = a.out.join("scenario");
    let cfg = GenConfig {
        seed: a.seed,
        ..GenConfig::default()
    };
    eprintln!(
        "demo: generating a 14-day enterprise with 8 labelled attack campaigns into {}",
        scenario.display()
    );
    generate(&cfg, &scenario)?;
    let alerts = a.out.join("alerts.jsonl");
    let engine = EngineArgs {
        learn: 7 * reachwatch_model::time::DAY,
        lateness: 60_000,
        max_skew: 7 * reachwatch_model::time::DAY,
    };
    evaluate_scenario(&scenario, engine, Some(alerts.clone()), true)?;
    let text = std::fs::read_to_string(&alerts)?;
    println!("alerts ({}), one line each:", alerts.display());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        println!(
            "  t={:>8} {:<9} {:<28} {:<40} {}",
            v["time"],
            v["severity"].as_str().unwrap_or(""),
            v["rule"].as_str().unwrap_or(""),
            v["identity"].as_str().unwrap_or(""),
            v["summary"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
