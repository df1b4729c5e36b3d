//! EVTX decoding rate against the `evtx` crate's own record iteration.
//!
//! Over the same EVTX file (`RW_EVTX`, default `testdata/formats/evtx_security.evtx`: 636
//! Security records, 6 chunks), read `RW_BENCH_REPS` times (default 300), this measures in the
//! same run, each on one thread:
//! - the `evtx` crate rendering every record as JSON (`records_json`, what `evtx_dump -o jsonl`
//!   does) — the reference;
//! - the same crate giving every record as a `serde_json::Value` (`records_json_value`, what
//!   Hayabusa and Chainsaw iterate);
//! - reachwatch: the file read as a Windows collection (checksums checked, every record rendered
//!   and mapped to events or counted as skipped, the look-ahead window), to decoded batches.
//!
//! Best of `RW_BENCH_RUNS` (default 3) each; rates are records per second.

use reachwatch_benches::env_or;
use reachwatch_formats::windows::collection::{self, Options};
use reachwatch_formats::Format;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn settings() -> evtx::ParserSettings {
    evtx::ParserSettings::new().indent(false).num_threads(1)
}

/// Records rendered as JSON text by the `evtx` crate.
fn evtx_json(path: &Path) -> anyhow::Result<u64> {
    let mut parser = evtx::EvtxParser::from_path(path)?.with_configuration(settings());
    let mut n = 0;
    for r in parser.records_json() {
        black_box(r?.data.len());
        n += 1;
    }
    Ok(n)
}

/// Records as `serde_json::Value`s by the `evtx` crate.
fn evtx_value(path: &Path) -> anyhow::Result<u64> {
    let mut parser = evtx::EvtxParser::from_path(path)?.with_configuration(settings());
    let mut n = 0;
    for r in parser.records_json_value() {
        black_box(r?.data);
        n += 1;
    }
    Ok(n)
}

/// Records read by reachwatch, decoded to events (or skipped, or dead-lettered).
fn reachwatch(path: &Path) -> anyhow::Result<u64> {
    let (rx, _) = collection::open(path, Format::Evtx, &Options::default())?
        .ok_or_else(|| anyhow::anyhow!("not a Windows log"))?;
    let mut records = 0;
    for batch in rx {
        let batch = batch?;
        black_box(batch.events.len());
        records = batch.lines;
    }
    Ok(records)
}

fn best(
    runs: usize,
    reps: usize,
    path: &Path,
    f: fn(&Path) -> anyhow::Result<u64>,
) -> anyhow::Result<(Duration, u64)> {
    let mut best: Option<(Duration, u64)> = None;
    for _ in 0..runs {
        let start = Instant::now();
        let mut records = 0;
        for _ in 0..reps {
            records += f(path)?;
        }
        let d = start.elapsed();
        if best.is_none_or(|(b, _)| d < b) {
            best = Some((d, records));
        }
    }
    best.ok_or_else(|| anyhow::anyhow!("no run"))
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs benches without `--bench`; only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let path: PathBuf = std::env::var_os("RW_EVTX")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/formats/evtx_security.evtx")
        });
    let reps: usize = env_or("RW_BENCH_REPS", 300);
    let runs: usize = env_or("RW_BENCH_RUNS", 3);
    let bytes = std::fs::metadata(&path)?.len();
    let json = best(runs, reps, &path, evtx_json)?;
    let value = best(runs, reps, &path, evtx_value)?;
    let ours = best(runs, reps, &path, reachwatch)?;
    anyhow::ensure!(
        json.1 == ours.1 && value.1 == ours.1,
        "record counts differ: evtx {} / {}, reachwatch {}",
        json.1,
        value.1,
        ours.1
    );
    let rate = |(d, n): (Duration, u64)| n as f64 / d.as_secs_f64();
    println!(
        "evtx_decode: {} ({} KiB) × {reps}, {} records a pass",
        path.display(),
        bytes >> 10,
        json.1 / reps as u64
    );
    for (name, r) in [
        ("evtx records_json (reference)", json),
        ("evtx records_json_value", value),
        ("reachwatch collection", ours),
    ] {
        println!(
            "  {name:<30} {:>8.3} s  {:>10.0} records/s",
            r.0.as_secs_f64(),
            rate(r)
        );
    }
    println!(
        "  ratio reachwatch / records_json: {:.2}; reachwatch / records_json_value: {:.2}",
        rate(ours) / rate(json),
        rate(ours) / rate(value)
    );
    Ok(())
}
