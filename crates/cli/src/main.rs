//! The `reachwatch` command.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use reachwatch::args::EngineArgs;
use reachwatch::eval;
use reachwatch::replay::ReplayOptions;
use reachwatch_formats::Format;
use reachwatch_gen::{generate, read_labels, CampaignSet, GenConfig, NameStyle, Topology};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Names and batches cross threads by the million under a flood; mimalloc frees them without
/// the contention of the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Detects lateral movement by machine identities: learns each identity's reach graph from
/// authentication logs and network flows and flags, with explanations, where it reaches beyond it.
#[derive(Parser)]
#[command(name = "reachwatch", version, propagate_version = true)]
struct Cli {
    /// Log format on standard error (levels from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value = "pretty")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Compact human-readable lines.
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Replay historical logs through the engine at full speed and write alerts.
    Replay(reachwatch::replay::ReplayArgs),
    /// Write a synthetic enterprise scenario (LANL layout) with labelled attack campaigns.
    Generate(GenerateArgs),
    /// Replay a generated scenario and score the alerts against its labels, next to a
    /// "new terms" reference detector.
    Eval(EvalArgs),
    /// Generate a scenario, replay it, print its alerts and the evaluation (no setup needed).
    Demo(DemoArgs),
    /// Validate rule files, or run the tests they carry.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run the streaming pipeline on Kafka topics (consumer group, checkpoints, alert sinks).
    Run(reachwatch::run::RunArgs),
    /// Publish a file scenario into Kafka topics, one message per line, keyed by source host.
    Produce(reachwatch::produce::ProduceArgs),
    /// Ask questions in SQL of historical logs, alerts and the learned reach graph.
    Hunt(reachwatch::hunt_cmd::HuntArgs),
    /// Convert logs to Parquet partitioned by day, for fast hunts.
    Convert(reachwatch::hunt_cmd::ConvertArgs),
    /// Export the learned reach graph, or report identities' blast radius.
    #[command(subcommand)]
    Graph(reachwatch::graph_cmd::GraphCommand),
    /// Least-reach policy from the reach graph (YAML, Kubernetes, Cilium, AWS security groups,
    /// nftables), and a what-if replay of history against a proposed policy.
    #[command(subcommand)]
    Policy(reachwatch::policy_cmd::PolicyCommand),
    /// Serve the web view: the alert list, each alert's neighbourhood, identities, the reach map.
    Serve(reachwatch::serve_cmd::ServeArgs),
    /// Render one alert as a picture or a page, for tickets and chat.
    #[command(subcommand)]
    Alert(reachwatch::serve_cmd::AlertCommand),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rules directory; every problem is printed as file:line:column: message.
    Check {
        /// Rules directory (every *.yaml and *.yml file, merged in name order).
        dir: PathBuf,
    },
    /// Run the tests in a rules directory's files (events in, expected alerts out).
    Test {
        /// Rules directory.
        dir: PathBuf,
    },
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
    /// Names: `descriptive` (PROD-DB-02, svc_sql_app, WS-0031), `anonymized` (LANL style: hosts
    /// C<n>, computer accounts C<n>$, people U<n>; service accounts keep their names) or
    /// `anonymized-all` (service accounts too). Only the names differ between styles.
    #[arg(long, default_value_t = NameStyle::Descriptive)]
    names: NameStyle,
    /// Shape: `tiered` (prod/staging/dev in the names) or `flat` (no environment in any name,
    /// no staging tier, other counts and fan-in).
    #[arg(long, default_value_t = Topology::Tiered)]
    topology: Topology,
    /// Campaigns: `classic` (the eight original kinds) or `extended` (two variants of each,
    /// four newer kinds, and benign changes that naive detectors flag).
    #[arg(long, default_value_t = CampaignSet::Classic)]
    campaigns: CampaignSet,
}

#[derive(Args)]
struct EvalArgs {
    /// Scenario directory written by `reachwatch generate`.
    #[arg(long)]
    scenario: PathBuf,
    /// Also write reachwatch's alerts here.
    #[arg(long)]
    alerts: Option<PathBuf>,
    /// Run without the rules' inventory (environments, zones, roles, crown jewels), as on data
    /// whose hosts the inventory does not describe.
    #[arg(long)]
    no_inventory: bool,
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

/// Structured logs on standard error: `RUST_LOG` sets levels (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reachwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay(a) => reachwatch::replay::run(a),
        Command::Generate(a) => cmd_generate(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Demo(a) => cmd_demo(a),
        Command::Run(a) => reachwatch::run::run(a),
        Command::Produce(a) => reachwatch::produce::run(a),
        Command::Rules(RulesCommand::Check { dir }) => {
            if reachwatch::rules_cmd::check(&dir) {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Hunt(a) => reachwatch::hunt_cmd::run(a),
        Command::Convert(a) => reachwatch::hunt_cmd::convert(a),
        Command::Graph(c) => reachwatch::graph_cmd::run(c),
        Command::Policy(c) => reachwatch::policy_cmd::run(c),
        Command::Serve(a) => reachwatch::serve_cmd::serve(a),
        Command::Alert(c) => reachwatch::serve_cmd::alert(c),
        Command::Rules(RulesCommand::Test { dir }) => {
            if reachwatch::rules_cmd::test(&dir)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}

fn cmd_generate(a: GenerateArgs) -> Result<()> {
    let cfg = GenConfig {
        seed: a.seed,
        days: a.days,
        learn_days: a.learn_days,
        size: a.size,
        attacks: !a.no_attacks,
        names: a.names,
        topology: a.topology,
        campaigns: a.campaigns,
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
    no_inventory: bool,
    alerts: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let mut rules = engine.rules()?;
    if no_inventory {
        Arc::make_mut(&mut rules).inventory = Default::default();
    }
    let campaigns = read_labels(&dir.join("labels.jsonl"))
        .with_context(|| format!("reading {}", dir.join("labels.jsonl").display()))?;
    let opts = ReplayOptions {
        format: Format::Lanl,
        auth: Some(dir.join("auth.txt")),
        flows: Some(dir.join("flows.txt")),
        alerts,
        dead_letter: None,
        base_time: None,
        rules,
        progress: (!quiet).then_some(Duration::from_secs(2)),
    };
    let run = eval::replay_scored(&opts)?;
    eprintln!("{}", run.summary.render("replay"));
    let rows = eval::compare(&run, &campaigns, &dir.join("auth.txt"))?;
    println!("{}", eval::render(&rows));
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> Result<()> {
    evaluate_scenario(&a.scenario, a.engine, a.no_inventory, a.alerts, false)
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
    evaluate_scenario(
        &scenario,
        EngineArgs::default(),
        false,
        Some(alerts.clone()),
        true,
    )?;
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
    reachwatch::serve_cmd::demo_hint(&a.out, &scenario)
}
