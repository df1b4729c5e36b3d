//! Web view speed: the server time of each page for an alert file of `RW_BENCH_ALERTS` (default
//! 10,000) alerts and the reach graph of a size-`RW_BENCH_SIZE` (default 20) enterprise, served
//! over a real socket and read from the `Server-Timing` header; in the same run, as the
//! reference, the time to parse the alert file.
//!
//! The alerts are the replay's own, repeated with new ids, later times and identities taken in
//! turn from the graph, so that list, identity and alert pages meet the graph's real spread.
//! `RW_BENCH_RUNS` (default 5) timed requests per page; the best and the worst are printed.

use reachwatch_benches::{data_dir, env_or, scenario};
use reachwatch_model::Alert;
use reachwatch_web::{AlertStore, ReachGraph, Site, Snapshot};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Replays the scenario once, saving its graph and alerts (cached in the bench data directory).
fn graph_and_alerts(size: f64) -> anyhow::Result<(std::path::PathBuf, Vec<Alert>)> {
    let dir = scenario(size, 1)?;
    let out = data_dir().join(format!("web-size{size}-seed1"));
    let (graph, alerts) = (out.join("graph"), out.join("alerts.jsonl"));
    if !graph.join("edges.parquet").exists() || !alerts.exists() {
        std::fs::create_dir_all(&out)?;
        eprintln!("replaying the size {size} scenario for its graph");
        let opts = reachwatch_replay::ReplayOptions {
            format: reachwatch_formats::Format::Lanl,
            auth: Some(dir.join("auth.txt")),
            flows: Some(dir.join("flows.txt")),
            alerts: Some(alerts.clone()),
            dead_letter: None,
            base_time: None,
            rules: Arc::new(reachwatch_rules::builtin()),
            progress: None,
        };
        reachwatch_replay::replay_with_end(
            &opts,
            &reachwatch_replay::ReplayFormats::default(),
            |_| {},
            |engine| reachwatch_hunt::save_graph(engine, &graph),
        )?;
    }
    let store = AlertStore::load(&alerts)?;
    Ok((graph, store.all().to_vec()))
}

/// `n` alerts made from the replay's: new ids, spread times, identities of the graph in turn.
fn many_alerts(real: &[Alert], g: &ReachGraph, n: usize) -> String {
    let machines: Vec<&str> = g
        .identities
        .iter()
        .filter(|i| i.kind == "machine")
        .map(|i| i.name.as_str())
        .collect();
    let mut out = String::new();
    for k in 0..n {
        let mut a = real[k % real.len()].clone();
        a.id = format!("{}-{k}", a.id);
        a.time.0 += k as f64 * 60.0;
        if k % 2 == 1 && !machines.is_empty() {
            let who = machines[k % machines.len()].to_string();
            for s in &mut a.evidence.observations {
                s.identity = who.clone();
            }
            a.summary = a.summary.replacen(&a.identity, &who, 1);
            a.identity = who;
        }
        out.push_str(&serde_json::to_string(&a).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// GETs a page; returns (status, server time in ms from `Server-Timing`, round trip).
fn get(addr: &str, path: &str) -> anyhow::Result<(u16, f64, Duration, usize)> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = vec![];
    s.read_to_end(&mut raw)?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("0").parse()?;
    let server = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("server-timing: render;dur=")
                .map(String::from)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    Ok((status, server, took, body.len()))
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let size: f64 = env_or("RW_BENCH_SIZE", 20.0);
    let n: usize = env_or("RW_BENCH_ALERTS", 10_000);
    let runs: usize = env_or("RW_BENCH_RUNS", 5);
    let (graph_dir, real) = graph_and_alerts(size)?;
    anyhow::ensure!(!real.is_empty(), "the replay raised no alert to copy");
    let started = Instant::now();
    let graph = ReachGraph::load(&graph_dir)?;
    let graph_load = started.elapsed();
    let file = data_dir().join(format!("web-size{size}-seed1/alerts-{n}.jsonl"));
    std::fs::write(&file, many_alerts(&real, &graph, n))?;
    let bytes = std::fs::metadata(&file)?.len();

    // Reference: parsing the alert file.
    let mut parse = Duration::MAX;
    let mut store = AlertStore::default();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        store = AlertStore::load(&file)?;
        parse = parse.min(t.elapsed());
    }
    anyhow::ensure!(store.all().len() == n, "{} alerts read", store.all().len());

    // Pages worth timing: the list, filtered lists, the largest alerts, the busiest identity,
    // the map and a drill-down into its largest group.
    let widest = store
        .all()
        .iter()
        .max_by_key(|a| a.evidence.destinations.len())
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let chain = store
        .all()
        .iter()
        .find(|a| !a.evidence.path.is_empty())
        .map(|a| a.id.clone());
    let busiest = (0..graph.identities.len())
        .max_by_key(|&i| graph.edges_of(i).len())
        .map(|i| graph.identities[i].name.clone())
        .unwrap_or_default();
    let alerted_busy = store
        .all()
        .iter()
        .max_by_key(|a| {
            graph
                .identity(&a.identity)
                .map_or(0, |i| graph.edges_of(i).len())
        })
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let mut group_sizes: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in &graph.identities {
        *group_sizes.entry(i.group.as_str()).or_insert(0) += 1;
    }
    let largest_group = group_sizes
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let enc = |s: &str| reachwatch_web::html::url(s).to_string();
    let mut pages = vec![
        ("list (first 500 of all)".to_string(), "/".to_string()),
        (
            "list, filtered (identity part, severity)".into(),
            "/?identity=svc&severity=high".into(),
        ),
        (
            "alert, most destinations".into(),
            format!("/alerts/{}", enc(&widest)),
        ),
        (
            "alert, identity with most edges".into(),
            format!("/alerts/{}", enc(&alerted_busy)),
        ),
        (
            "identity with most edges".into(),
            format!("/identities/{}", enc(&busiest)),
        ),
        ("map".into(), "/map".into()),
        ("map, hosts by group".into(), "/map?hosts=group".into()),
        (
            "map, largest identity group".into(),
            format!("/map?group={}", enc(&largest_group)),
        ),
    ];
    if let Some(c) = chain {
        pages.push(("alert, chain".into(), format!("/alerts/{}", enc(&c))));
    }

    let identities = graph.identities.len();
    let edges = graph.edges.len();
    let site = Arc::new(Site::new(
        "",
        Snapshot {
            alerts: store,
            graph: Some(graph),
            graph_error: None,
            origin: file.display().to_string(),
            policy: None,
        },
    ));
    let server =
        reachwatch_telemetry::serve_router("127.0.0.1:0", "web", reachwatch_web::router(site))?;
    let addr = server.addr().to_string();
    println!(
        "web_render: {n} alerts ({:.1} MiB), size {size} graph: {identities} identities, {edges} edges (loaded in {:.2} s)",
        bytes as f64 / (1 << 20) as f64,
        graph_load.as_secs_f64()
    );
    println!(
        "reference: parsing the alert file {:.1} ms ({:.0} alerts/s)",
        parse.as_secs_f64() * 1000.0,
        n as f64 / parse.as_secs_f64()
    );
    println!(
        "{:<42} {:>10} {:>10} {:>12} {:>10} {:>9}",
        "page", "best ms", "worst ms", "round trip", "/ parse", "KiB"
    );
    let mut worst_all: f64 = 0.0;
    for (name, path) in &pages {
        let (mut best, mut worst, mut trip, mut size_b) = (f64::MAX, 0.0f64, Duration::MAX, 0);
        get(&addr, path)?; // warm up
        for _ in 0..runs.max(1) {
            let (status, server_ms, rt, len) = get(&addr, path)?;
            anyhow::ensure!(status == 200, "{path}: status {status}");
            best = best.min(server_ms);
            worst = worst.max(server_ms);
            trip = trip.min(rt);
            size_b = len;
        }
        worst_all = worst_all.max(worst);
        println!(
            "{:<42} {:>10.1} {:>10.1} {:>9.1} ms {:>10.3} {:>9.0}",
            name,
            best,
            worst,
            trip.as_secs_f64() * 1000.0,
            worst / (parse.as_secs_f64() * 1000.0),
            size_b as f64 / 1024.0
        );
    }
    println!(
        "slowest page: {worst_all:.1} ms server time (target < 200 ms); {:.3} of the parse time",
        worst_all / (parse.as_secs_f64() * 1000.0)
    );
    drop(server);
    Ok(())
}
