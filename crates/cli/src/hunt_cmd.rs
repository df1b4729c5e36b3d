//! `reachwatch hunt`: SQL over historical logs, alerts and the reach graph, one query or an
//! interactive prompt; `reachwatch convert`: logs to day-partitioned Parquet. Wiring only: the
//! work is in `reachwatch-hunt`.

use anyhow::Result;
use clap::Args;
use reachwatch_formats::Format;
use reachwatch_hunt::output::{row_count, write_results, write_results_file};
use reachwatch_hunt::{Hunt, InputFormat, OutputFormat};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// Arguments of `reachwatch hunt`.
#[derive(Args, Debug)]
pub struct HuntArgs {
    /// The query (tables: auth, flows, alerts, edges, identities, destinations). Without it,
    /// queries are read from standard input, each ending with `;` (`.tables`, `.schema TABLE`,
    /// `.quit`).
    #[arg(long)]
    pub sql: Option<String>,
    /// Authentication logs: a file, a directory or a glob (repeatable).
    #[arg(long)]
    pub auth: Vec<PathBuf>,
    /// Network flow logs: a file, a directory or a glob (repeatable).
    #[arg(long)]
    pub flows: Vec<PathBuf>,
    /// Format of the log inputs: a log format (lanl, native, windows, zeek, vpc, cloudtrail,
    /// k8s, ocsf), `parquet`, `csv` (with a header), or `auto` (Parquet and CSV by name, log
    /// formats sniffed from the first lines).
    #[arg(long, default_value = "auto")]
    pub format: InputFormat,
    /// A directory written by `reachwatch convert` (its `auth/` and `flows/`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Alerts of a replay (native JSON lines, or Parquet) as the `alerts` table.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// The reach graph (tables edges, identities, destinations): a directory written by
    /// `replay --graph-out`, or a `reachwatch run` checkpoint directory.
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// Result format: table, csv, jsonl or parquet (parquet needs --out).
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
    /// Write results to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No load summary and row counts on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Builds a session with every table the arguments name.
pub fn session(a: &HuntArgs) -> Result<Hunt> {
    let mut hunt = Hunt::new()?;
    if !a.auth.is_empty() || !a.flows.is_empty() {
        let stats = hunt.register_logs(&a.auth, &a.flows, a.format)?;
        if !a.quiet && stats.files > 0 {
            eprintln!(
                "hunt: decoded {} files, {} lines: {} auth, {} flow events, {} lines rejected",
                stats.files,
                stats.lines,
                stats.auth,
                stats.flows,
                stats.rejected_total()
            );
        }
    }
    if let Some(dir) = &a.data {
        for table in ["auth", "flows"] {
            let d = dir.join(table);
            if d.is_dir() {
                hunt.register_parquet(table, &[d])?;
            }
        }
        anyhow::ensure!(
            hunt.tables().contains_key("auth") || hunt.tables().contains_key("flows"),
            "{} has neither auth/ nor flows/ (write it with `reachwatch convert`)",
            dir.display()
        );
    }
    if let Some(p) = &a.alerts {
        hunt.register_alerts(p)?;
    }
    if let Some(dir) = &a.graph {
        hunt.register_graph_at(dir)?;
    }
    Ok(hunt)
}

/// Runs `reachwatch hunt`.
pub fn run(a: HuntArgs) -> Result<()> {
    let hunt = session(&a)?;
    match &a.sql {
        Some(sql) => run_query(&hunt, sql, &a),
        None => prompt(&hunt, &a),
    }
}

fn run_query(hunt: &Hunt, sql: &str, a: &HuntArgs) -> Result<()> {
    let (schema, batches) = hunt.query(sql)?;
    match &a.out {
        Some(p) => write_results_file(a.output, &schema, &batches, p)?,
        None => write_results(a.output, &schema, &batches, &mut std::io::stdout().lock())?,
    }
    if !a.quiet {
        eprintln!("{} rows", row_count(&batches));
    }
    Ok(())
}

/// The interactive prompt: statements end with `;`; errors are printed and the session goes on.
fn prompt(hunt: &Hunt, a: &HuntArgs) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        let names: Vec<&str> = hunt.tables().keys().map(String::as_str).collect();
        eprintln!(
            "reachwatch hunt: tables {}; end queries with `;`, `.tables`, `.schema TABLE`, `.quit`",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    let mut pending = String::new();
    let show = |text: &str| {
        if interactive {
            eprint!("{text}");
            let _ = std::io::stderr().flush();
        }
    };
    show("hunt> ");
    let stdin = std::io::stdin();
    let mut failed = false;
    for line in stdin.lock().lines() {
        let line = line?;
        let trimmed = line.trim();
        if pending.is_empty() && trimmed.starts_with('.') {
            let mut words = trimmed.split_whitespace();
            match (words.next(), words.next()) {
                (Some(".quit" | ".exit"), _) => return Ok(()),
                (Some(".tables"), _) => {
                    for (name, origin) in hunt.tables() {
                        println!("{name}\t{origin}");
                    }
                }
                (Some(".schema"), Some(t)) => {
                    let sql = format!(
                        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                         WHERE table_name = {} ORDER BY ordinal_position",
                        reachwatch_hunt::blast::sql_string(t)
                    );
                    failed |= report(run_query(hunt, &sql, a));
                }
                _ => eprintln!("commands: .tables, .schema TABLE, .quit"),
            }
            show("hunt> ");
            continue;
        }
        pending.push_str(&line);
        pending.push('\n');
        if trimmed.ends_with(';') {
            let sql = std::mem::take(&mut pending);
            failed |= report(run_query(hunt, sql.trim().trim_end_matches(';'), a));
            show("hunt> ");
        } else {
            show("  ..> ");
        }
    }
    if !pending.trim().is_empty() {
        failed |= report(run_query(hunt, pending.trim().trim_end_matches(';'), a));
    }
    if failed && !interactive {
        anyhow::bail!("a query failed");
    }
    Ok(())
}

fn report(r: Result<()>) -> bool {
    match r {
        Ok(()) => false,
        Err(e) => {
            eprintln!("error: {e:#}");
            true
        }
    }
}

/// Arguments of `reachwatch convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input log format (lanl, native, windows, zeek, vpc, cloudtrail, k8s, ocsf, auto).
    #[arg(long, default_value = "lanl")]
    pub format: Format,
    /// Authentication logs: a file, a directory or a glob (repeatable).
    #[arg(long)]
    pub auth: Vec<PathBuf>,
    /// Network flow logs: a file, a directory or a glob (repeatable).
    #[arg(long)]
    pub flows: Vec<PathBuf>,
    /// Output directory: `auth/day=N/part-K.parquet`, `flows/day=N/part-K.parquet`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `reachwatch convert`.
pub fn convert(a: ConvertArgs) -> Result<()> {
    anyhow::ensure!(
        !a.auth.is_empty() || !a.flows.is_empty(),
        "nothing to convert: give --auth and/or --flows"
    );
    let started = std::time::Instant::now();
    let s = reachwatch_hunt::convert::convert(a.format, &a.auth, &a.flows, &a.out)?;
    let days: Vec<String> = s
        .days
        .iter()
        .map(|(t, d)| format!("{t} {d} days"))
        .collect();
    eprintln!(
        "convert: {} lines → {} auth, {} flow rows ({} lines rejected) in {} Parquet files ({}) under {} in {:.1} s",
        s.decode.lines,
        s.decode.auth,
        s.decode.flows,
        s.decode.rejected_total(),
        s.files,
        days.join(", "),
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
