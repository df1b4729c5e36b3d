//! The `reachwatch` command.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use reachwatch::eval::{self, Flagged};
use reachwatch::replay::{replay, ReplayOptions};
use reachwatch_engine::RuleSet;
use reachwatch_formats::Format;
use reachwatch_gen::{generate, read_labels, GenConfig};
use reachwatch_model::Ts;
use reachwatch_telemetry::{serve, unix_now, Health, Telemetry};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    Replay(ReplayArgs),
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

#[derive(Args, Clone, Default)]
struct EngineArgs {
    /// Rules directory: every *.yaml / *.yml file, merged in name order (default: the built-in
    /// copy of the shipped `rules/`).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Learning period from the first event, no alerts during it, e.g. `7d`, `36h`
    /// (default: the rules' `settings.learn`).
    #[arg(long, value_parser = parse_duration)]
    learn: Option<Ts>,
    /// How late (event time) an event may arrive and still be processed (default: `settings.lateness`).
    #[arg(long, value_parser = parse_duration)]
    lateness: Option<Ts>,
    /// Events further ahead of the latest event time than this are clock skew (default: `settings.max_skew`).
    #[arg(long, value_parser = parse_duration)]
    max_skew: Option<Ts>,
}

impl EngineArgs {
    /// The rule set, with the command-line overrides applied.
    fn rules(&self) -> Result<Arc<RuleSet>> {
        let mut rules = reachwatch::rules_cmd::load(self.rules.as_deref())?;
        let s = &mut rules.settings;
        s.learn = self.learn.unwrap_or(s.learn);
        s.lateness = self.lateness.unwrap_or(s.lateness);
        s.max_skew = self.max_skew.unwrap_or(s.max_skew);
        Ok(Arc::new(rules))
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Input format of both inputs: `lanl` (CSV layout of the LANL data set), `native` (JSON
    /// lines), `windows` (Winlogbeat/ECS Security events), `zeek` (conn.log, TSV or JSON), `vpc`
    /// (VPC Flow Logs), `cloudtrail`, `k8s` (audit log), `ocsf` (3002/4001), or `auto` (detect
    /// from the first lines and say which on standard error).
    #[arg(long, default_value = "lanl")]
    format: Format,
    /// Format of the authentication input (overrides --format).
    #[arg(long)]
    auth_format: Option<Format>,
    /// Format of the flow input (overrides --format).
    #[arg(long)]
    flows_format: Option<Format>,
    /// IP-to-host map, CSV `ip,host` lines (`#` comments), so address-only inputs (VPC, Zeek,
    /// CloudTrail, Kubernetes) join with host-named ones.
    #[arg(long)]
    hosts: Option<PathBuf>,
    /// Alert encoding: `native` (reachwatch JSON), `ocsf` (Detection Finding 2004) or `ecs`.
    #[arg(long, default_value = "native")]
    alert_format: reachwatch_formats::AlertFormat,
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
    /// Serve /metrics, /healthz and /readyz on this address (host:port) while replaying.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Keep serving metrics this long after the replay ends (for a last scrape), e.g. `30s`.
    #[arg(long, value_parser = parse_duration, requires = "metrics_addr")]
    metrics_hold: Option<Ts>,
    /// Save the learned reach graph at the end as Parquet tables in this directory (for
    /// `reachwatch hunt --graph` and `reachwatch graph`).
    #[arg(long)]
    graph_out: Option<PathBuf>,
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
        Command::Replay(a) => cmd_replay(a),
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
    let rules = a.engine.rules()?;
    let file_hosts = a
        .hosts
        .as_deref()
        .map(reachwatch_formats::HostMap::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--hosts {e}"))?;
    let hosts = reachwatch_formats::HostMap::layered(
        rules.inventory.addresses.iter().map(|(ip, h)| (ip, h)),
        file_hosts.as_ref(),
    );
    let hosts = (!hosts.is_empty()).then_some(hosts);
    let formats = reachwatch::replay::ReplayFormats {
        auth: a.auth_format,
        flows: a.flows_format,
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
        format: a.format,
        auth: a.auth,
        flows: a.flows,
        alerts: Some(a.alerts),
        dead_letter: a.dead_letter,
        base_time,
        rules,
        progress: (!a.quiet).then_some(Duration::from_secs(2)),
    };
    let summary = reachwatch::replay::replay_with_end(
        &opts,
        &formats,
        |_| {},
        |engine| match &a.graph_out {
            Some(dir) => reachwatch::hunt_cmd::save_graph(engine, dir),
            None => Ok(()),
        },
    )?;
    if !a.quiet {
        eprintln!("{}", summary.render());
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
    let rules = engine.rules()?;
    let campaigns = read_labels(&dir.join("labels.jsonl"))
        .with_context(|| format!("reading {}", dir.join("labels.jsonl").display()))?;
    let opts = ReplayOptions {
        format: Format::Lanl,
        auth: Some(dir.join("auth.txt")),
        flows: Some(dir.join("flows.txt")),
        alerts,
        dead_letter: None,
        base_time: None,
        rules: rules.clone(),
        progress: (!quiet).then_some(Duration::from_secs(2)),
    };
    let mut flagged = vec![];
    let summary = replay(&opts, |a| flagged.push(Flagged::from(a)))?;
    eprintln!("{}", summary.render());
    let learn_end = summary.learn_end.unwrap_or(0) as f64 / 1000.0;
    let end = summary.last_time.unwrap_or(0) as f64 / 1000.0;
    let nt = eval::new_terms(&dir.join("auth.txt"), Format::Lanl, rules.settings.learn)?;
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
    evaluate_scenario(&scenario, EngineArgs::default(), Some(alerts.clone()), true)?;
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
