//! `reachwatch serve` (the web view of alerts and the reach graph), `reachwatch alert render`
//! (one alert as an SVG or HTML file), the web view under `/ui/` of `reachwatch run`, and the
//! demo's closing hint. Wiring only: the pages are in `reachwatch-web`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reachwatch_web::{AlertStore, ReachGraph, Site, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the inputs are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Arguments of `reachwatch serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Alerts: native JSON lines, as `replay --alerts` or `run`'s `sinks.alerts_file` writes.
    #[arg(long)]
    pub alerts: PathBuf,
    /// Reach graph: a directory from `replay --graph-out`, or a `reachwatch run` checkpoint
    /// directory (baselines, peers, identities' pages and the map need it).
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// A least-reach policy (`policy generate --format yaml`): identities' pages show it beside
    /// their reach, and the map lists the paths it would remove.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Address to listen on; loopback by default (the pages show identities and hosts).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
}

/// `reachwatch alert` subcommands.
#[derive(Subcommand, Debug)]
pub enum AlertCommand {
    /// Write one alert as a picture of its neighbourhood (`.svg`) or a whole page (`.html`),
    /// for tickets and chat.
    Render(RenderArgs),
}

/// Arguments of `alert render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The alert id (`rw-…`).
    pub id: String,
    /// Alerts file (native JSON lines).
    #[arg(long)]
    pub alerts: PathBuf,
    /// Reach graph directory (from `replay --graph-out`, or a checkpoint directory).
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// Output file: `.svg` for the picture, `.html` for the page.
    #[arg(long)]
    pub out: PathBuf,
}

/// Loads what `serve` shows; an unreadable alert file, graph or policy is an error.
pub fn load(alerts: &Path, graph: Option<&Path>, policy: Option<&Path>) -> Result<Snapshot> {
    let store = AlertStore::load(alerts)?;
    for p in store.problems() {
        tracing::warn!("{p}");
    }
    Ok(Snapshot {
        alerts: store,
        graph: graph.map(ReachGraph::load).transpose()?,
        graph_error: None,
        origin: alerts.display().to_string(),
        policy: policy.map(crate::policy_cmd::load_judge).transpose()?,
    })
}

/// Loads what `run`'s web view shows: the alert file and the checkpoint may not exist yet, and
/// a graph that cannot be read leaves the alerts shown with the reason.
pub fn load_live(alerts: &Path, checkpoint_dir: &Path) -> Result<Snapshot> {
    let has_checkpoint = checkpoint_dir
        .join(reachwatch_checkpoint::FILE_NAME)
        .is_file();
    let (graph, graph_error) = match has_checkpoint.then(|| ReachGraph::load(checkpoint_dir)) {
        None => (None, None),
        Some(Ok(g)) => (Some(g), None),
        Some(Err(e)) => (None, Some(format!("{e:#}"))),
    };
    Ok(Snapshot {
        alerts: AlertStore::load_if_present(alerts)?,
        graph,
        graph_error,
        origin: alerts.display().to_string(),
        policy: None,
    })
}

/// The inputs whose changes trigger a reload.
fn inputs(alerts: &Path, graph: Option<&Path>) -> Vec<PathBuf> {
    let mut v = vec![alerts.to_path_buf()];
    v.extend(graph.map(Path::to_path_buf));
    v
}

/// Is the address a loopback one?
fn loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs `reachwatch serve` until interrupted.
pub fn serve(a: ServeArgs) -> Result<()> {
    let snapshot = load(&a.alerts, a.graph.as_deref(), a.policy.as_deref())?;
    let site = Arc::new(Site::new("", snapshot));
    let (alerts, graph, policy) = (a.alerts.clone(), a.graph.clone(), a.policy.clone());
    let mut watched = inputs(&a.alerts, a.graph.as_deref());
    watched.extend(a.policy.clone());
    reachwatch_web::watch(&site, watched, RELOAD_EVERY, move || {
        load(&alerts, graph.as_deref(), policy.as_deref())
    })?;
    let server = reachwatch_telemetry::serve_router(&a.addr, "web", reachwatch_web::router(site))
        .with_context(|| format!("serving on {}", a.addr))?;
    if !loopback(&a.addr) {
        eprintln!(
            "reachwatch: warning: {} is not a loopback address: anyone who can reach it sees the alerts",
            a.addr
        );
    }
    println!(
        "reachwatch: serving http://{}/ (Ctrl-C to stop)",
        server.addr()
    );
    loop {
        std::thread::park();
    }
}

/// The web view for `run`, under `/ui/`: the alert sink's file and the checkpoint directory,
/// reloaded as they change.
pub fn live_ui(alerts: &Path, checkpoint_dir: &Path) -> Result<reachwatch_web::Router> {
    let site = Arc::new(Site::new("/ui", load_live(alerts, checkpoint_dir)?));
    let (a, c) = (alerts.to_path_buf(), checkpoint_dir.to_path_buf());
    reachwatch_web::watch(
        &site,
        inputs(alerts, Some(checkpoint_dir)),
        RELOAD_EVERY,
        move || load_live(&a, &c),
    )?;
    Ok(reachwatch_web::router(site))
}

/// Runs `reachwatch alert render`.
pub fn alert(cmd: AlertCommand) -> Result<()> {
    let AlertCommand::Render(a) = cmd;
    let svg = match a.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => true,
        Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => false,
        _ => bail!(
            "--out {}: give a file ending in .svg (the picture) or .html (the page)",
            a.out.display()
        ),
    };
    let snapshot = load(&a.alerts, a.graph.as_deref(), None)?;
    let Some(doc) = reachwatch_web::render_alert(&snapshot, &a.id, svg) else {
        bail!("no alert {} in {}", a.id, a.alerts.display());
    };
    std::fs::write(&a.out, doc).with_context(|| format!("cannot write {}", a.out.display()))
}

/// The demo's last step: saves the scenario's reach graph next to its alerts and prints the
/// command that shows both in a browser.
pub fn demo_hint(out: &Path, scenario: &Path) -> Result<()> {
    let graph = out.join("graph");
    let opts = crate::replay::ReplayOptions {
        format: reachwatch_formats::Format::Lanl,
        auth: Some(scenario.join("auth.txt")),
        flows: Some(scenario.join("flows.txt")),
        alerts: None,
        dead_letter: None,
        base_time: None,
        rules: Arc::new(reachwatch_rules::builtin()),
        progress: None,
    };
    crate::replay::replay_with_end(
        &opts,
        &crate::replay::ReplayFormats::default(),
        |_| {},
        |engine| reachwatch_hunt::save_graph(engine, &graph),
    )?;
    println!(
        "\nsee it in a browser: reachwatch serve --alerts {} --graph {}",
        out.join("alerts.jsonl").display(),
        graph.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        assert!(loopback("127.0.0.1:8080"));
        assert!(loopback("localhost:80"));
        assert!(loopback("[::1]:8080"));
        assert!(!loopback("0.0.0.0:8080"));
        assert!(!loopback("10.0.0.1:8080"));
    }
}
