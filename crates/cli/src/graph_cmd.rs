//! `reachwatch graph export` and `reachwatch graph blast-radius`, over a reach graph saved by
//! `replay --graph-out` or held in a `reachwatch run` checkpoint. Wiring only: the work is in
//! `reachwatch-hunt`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reachwatch_hunt::blast::{self, BlastOptions};
use reachwatch_hunt::export::{self, ExportFilter, ExportFormat};
use reachwatch_hunt::output::write_results;
use reachwatch_hunt::{Hunt, OutputFormat};
use reachwatch_model::Ts;
use std::path::PathBuf;

/// `reachwatch graph` subcommands.
#[derive(Subcommand, Debug)]
pub enum GraphCommand {
    /// Export the reach graph (identity → host edges) as JSON, GraphML or DOT.
    Export(ExportArgs),
    /// Per identity: hosts, services, environments and crown jewels reached; edges only it uses;
    /// edges not used in the window (candidates to remove); optionally a least-reach allow-list.
    BlastRadius(BlastArgs),
}

/// Arguments of `graph export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Reach graph: a directory from `replay --graph-out`, or a `reachwatch run` checkpoint
    /// directory.
    #[arg(long)]
    pub graph: PathBuf,
    /// json, graphml or dot.
    #[arg(long, default_value = "json")]
    pub format: ExportFormat,
    /// Only identities of this kind: machine, human or unknown.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only edges into hosts of this environment (e.g. production).
    #[arg(long)]
    pub env: Option<String>,
    /// Only edges used at least this many times.
    #[arg(long, default_value_t = 1)]
    pub min_count: i64,
    /// Output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `graph blast-radius`.
#[derive(Args, Debug)]
pub struct BlastArgs {
    /// One identity (case-insensitive); all identities when left out.
    pub identity: Option<String>,
    /// Reach graph: a directory from `replay --graph-out`, or a `reachwatch run` checkpoint
    /// directory.
    #[arg(long)]
    pub graph: PathBuf,
    /// Only identities of this kind: machine, human or unknown.
    #[arg(long)]
    pub kind: Option<String>,
    /// An edge not used in this window before the graph's last activity is unused, e.g. `7d`.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub window: Ts,
    /// Result format: table, csv or jsonl.
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
    /// Also write a least-reach allow-list (what each identity used in the window) as YAML.
    #[arg(long)]
    pub allow_list: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Ts, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_millis() as Ts)
        .map_err(|e| format!("`{s}` is not a duration like 7d, 36h ({e})"))
}

/// Runs a `graph` subcommand.
pub fn run(cmd: GraphCommand) -> Result<()> {
    match cmd {
        GraphCommand::Export(a) => {
            let mut hunt = Hunt::new()?;
            hunt.register_graph_at(&a.graph)?;
            let filter = ExportFilter {
                kind: a.kind,
                env: a.env,
                min_count: a.min_count,
            };
            let text = export::export(&hunt, &filter, a.format)?;
            match a.out {
                Some(p) => std::fs::write(&p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        GraphCommand::BlastRadius(a) => {
            let mut hunt = Hunt::new()?;
            hunt.register_graph_at(&a.graph)?;
            let opts = BlastOptions {
                identity: a.identity.clone(),
                kind: a.kind.clone(),
                window_seconds: a.window / 1000,
            };
            let out = &mut std::io::stdout().lock();
            let (schema, batches) = blast::summary(&hunt, &opts)?;
            write_results(a.output, &schema, &batches, out)?;
            if a.identity.is_some() {
                let (schema, batches) = blast::details(&hunt, &opts)?;
                write_results(a.output, &schema, &batches, out)?;
            }
            if let Some(p) = &a.allow_list {
                let yaml = blast::allow_list(&hunt, &opts)?;
                std::fs::write(p, yaml).with_context(|| format!("cannot write {}", p.display()))?;
            }
            Ok(())
        }
    }
}
