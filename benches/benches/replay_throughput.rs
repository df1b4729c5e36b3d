//! Replay throughput and memory.
//!
//! Generates a synthetic enterprise (size 20 by default: ≈ 12 million auth and flow events over
//! 14 days), then in the same run measures:
//! - `wc -l` over the same two files (the reference: the cost of just reading the lines);
//! - a full replay: decode, join, baseline, scoring and alert output to a file;
//! - peak RSS of replays at two sizes in fresh child processes, per identity and per baseline edge,
//!   and the marginal bytes per edge between the two sizes (fixed buffers cancel out).
//!
//! `RW_BENCH_SIZE` overrides the size, `RW_BENCH_RUNS` the number of timed runs (best is kept).

use reachwatch_benches::{env_or, peak_rss_bytes, scenario, time_command};
use reachwatch_formats::Format;
use reachwatch_replay::{replay, ReplayOptions, ReplaySummary};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn options(dir: &Path, alerts: &Path) -> ReplayOptions {
    ReplayOptions {
        format: Format::Lanl,
        auth: Some(dir.join("auth.txt")),
        flows: Some(dir.join("flows.txt")),
        alerts: Some(alerts.to_path_buf()),
        dead_letter: None,
        base_time: None,
        rules: std::sync::Arc::new(reachwatch_rules::builtin()),
        progress: None,
    }
}

/// Child mode: replay one scenario and print `peak_rss identities edges state_bytes`.
fn child(dir: &Path) -> anyhow::Result<()> {
    let alerts = std::env::temp_dir().join(format!("rw-bench-alerts-{}.jsonl", std::process::id()));
    let s = replay(&options(dir, &alerts), |_| {})?;
    let _ = std::fs::remove_file(&alerts);
    println!(
        "{} {} {} {}",
        peak_rss_bytes().unwrap_or(0),
        s.identities,
        s.edges,
        s.state_bytes
    );
    Ok(())
}

struct Mem {
    peak: f64,
    identities: f64,
    edges: f64,
    state: f64,
}

fn measure_memory(dir: &Path) -> anyhow::Result<Mem> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe).env("RW_BENCH_CHILD", dir).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let v: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    anyhow::ensure!(v.len() == 4, "child printed {text}");
    Ok(Mem {
        peak: v[0],
        identities: v[1],
        edges: v[2],
        state: v[3],
    })
}

fn main() -> anyhow::Result<()> {
    if let Some(dir) = std::env::var_os("RW_BENCH_CHILD") {
        return child(Path::new(&dir));
    }
    // `cargo test --benches` runs benches with `--bench`-less args; only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let size: f64 = env_or("RW_BENCH_SIZE", 20.0);
    let runs: usize = env_or("RW_BENCH_RUNS", 2);
    let dir = scenario(size, 1)?;
    let alerts = dir.join("bench-alerts.jsonl");

    let wc = time_command(runs, || {
        let mut c = Command::new("wc");
        c.arg("-l")
            .arg(dir.join("auth.txt"))
            .arg(dir.join("flows.txt"));
        c.stdout(std::process::Stdio::null());
        c
    })?;
    let mut best: Option<(Duration, ReplaySummary)> = None;
    for _ in 0..runs {
        let s = replay(&options(&dir, &alerts), |_| {})?;
        let d = Duration::from_secs_f64(s.elapsed_seconds);
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, s));
        }
    }
    let (rt, s) = best.expect("at least one run");
    let lines: u64 = s.lines.values().sum();
    let wc_rate = lines as f64 / wc.as_secs_f64();
    let rate = s.events as f64 / rt.as_secs_f64();
    println!(
        "replay_throughput: size {size}, {} events ({} MiB), {} alerts",
        s.events,
        s.bytes >> 20,
        s.alerts
    );
    println!(
        "  wc -l          {:>8.3} s  {:>12.0} lines/s",
        wc.as_secs_f64(),
        wc_rate
    );
    println!(
        "  full replay    {:>8.3} s  {:>12.0} events/s",
        rt.as_secs_f64(),
        rate
    );
    println!("  ratio replay / wc -l: {:.3}", rate / wc_rate);

    let half = scenario(size / 2.0, 1)?;
    let small = measure_memory(&half)?;
    let big = measure_memory(&dir)?;
    println!(
        "  memory (size {size}): peak RSS {:.1} MiB, {} identities, {} edges, engine estimate {:.1} MiB",
        big.peak / 1048576.0,
        big.identities,
        big.edges,
        big.state / 1048576.0
    );
    println!(
        "  per identity {:.0} B, per edge {:.0} B (peak RSS / count; includes IO buffers)",
        big.peak / big.identities,
        big.peak / big.edges
    );
    println!(
        "  marginal per edge {:.0} B (peak RSS difference between size {} and size {size} over the edge difference); engine estimate {:.0} B/edge",
        (big.peak - small.peak) / (big.edges - small.edges),
        size / 2.0,
        big.state / big.edges
    );
    Ok(())
}
