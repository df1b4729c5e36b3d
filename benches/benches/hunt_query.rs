//! Hunting speed: a group-by over every event (auth and flows, ≥ 10 million at the default size
//! 20) from day-partitioned Parquet, against the same query in the same run over the LANL text
//! source (decoded by the same decoders into memory, as `reachwatch hunt --auth F --flows F` does).
//!
//! The scenario and its Parquet copy are generated once and cached in the bench data directory.
//! `RW_BENCH_SIZE` overrides the size, `RW_BENCH_RUNS` the number of timed runs (best is kept).

use reachwatch_benches::{data_dir, env_or, scenario};
use reachwatch_formats::Format;
use reachwatch_hunt::output::{write_results, OutputFormat};
use reachwatch_hunt::{Hunt, InputFormat};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every event's destination, counted: a full scan and a hash aggregation over both tables.
const QUERY: &str = "SELECT dst, COUNT(*) AS events, COUNT(DISTINCT src) AS sources
    FROM (SELECT dst, src FROM auth UNION ALL SELECT dst, src FROM flows)
    GROUP BY dst ORDER BY events DESC, dst LIMIT 10";

/// Runs the query on a session made by `open`; returns (total time, query-only time, CSV result).
fn timed(open: impl Fn() -> anyhow::Result<Hunt>) -> anyhow::Result<(Duration, Duration, String)> {
    let start = Instant::now();
    let hunt = open()?;
    let q = Instant::now();
    let (schema, batches) = hunt.query(QUERY)?;
    let query = q.elapsed();
    let total = start.elapsed();
    let mut out = vec![];
    write_results(OutputFormat::Csv, &schema, &batches, &mut out)?;
    Ok((total, query, String::from_utf8(out)?))
}

fn best(
    runs: usize,
    open: impl Fn() -> anyhow::Result<Hunt>,
) -> anyhow::Result<(Duration, Duration, String)> {
    let mut best: Option<(Duration, Duration, String)> = None;
    for _ in 0..runs {
        let r = timed(&open)?;
        if best.as_ref().is_none_or(|b| r.0 < b.0) {
            best = Some(r);
        }
    }
    Ok(best.expect("at least one run"))
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs benches without `--bench`; only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let size: f64 = env_or("RW_BENCH_SIZE", 20.0);
    let runs: usize = env_or("RW_BENCH_RUNS", 2);
    let dir = scenario(size, 1)?;
    let (auth, flows) = (dir.join("auth.txt"), dir.join("flows.txt"));
    let pq = data_dir().join(format!("hunt-parquet-size{size}-seed1"));
    if !pq.join("flows").exists() {
        let _ = std::fs::remove_dir_all(&pq);
        let start = Instant::now();
        let s = reachwatch_hunt::convert::convert(
            Format::Lanl,
            std::slice::from_ref(&auth),
            std::slice::from_ref(&flows),
            &pq,
        )?;
        eprintln!(
            "convert: {} events into {} Parquet files in {:.1} s",
            s.decode.auth + s.decode.flows,
            s.files,
            start.elapsed().as_secs_f64()
        );
    }
    let text_bytes = file_size(&auth) + file_size(&flows);
    let pq_bytes = dir_size(&pq);

    let (text_total, text_query, text_result) = best(runs, || {
        let mut h = Hunt::new()?;
        let stats = h.register_logs(
            std::slice::from_ref(&auth),
            std::slice::from_ref(&flows),
            InputFormat::Log(Format::Lanl),
        )?;
        anyhow::ensure!(stats.auth + stats.flows >= 10_000_000 || size < 17.0);
        Ok(h)
    })?;
    let (pq_total, pq_query, pq_result) = best(runs, || {
        let mut h = Hunt::new()?;
        h.register_parquet("auth", &[pq.join("auth")])?;
        h.register_parquet("flows", &[pq.join("flows")])?;
        Ok(h)
    })?;
    anyhow::ensure!(
        text_result == pq_result,
        "Parquet and text answers differ:\n{text_result}\n{pq_result}"
    );
    let events = {
        let h = {
            let mut h = Hunt::new()?;
            h.register_parquet("auth", &[pq.join("auth")])?;
            h.register_parquet("flows", &[pq.join("flows")])?;
            h
        };
        let (_, b) =
            h.query("SELECT (SELECT COUNT(*) FROM auth) + (SELECT COUNT(*) FROM flows)")?;
        reachwatch_hunt::blast::ints(&b[0], 0)?[0].unwrap_or(0)
    };
    println!("hunt_query: size {size}, {events} events, best of {runs}");
    println!(
        "  LANL text ({:.0} MiB): {:.2} s (decode + load {:.2} s, query {:.2} s)",
        text_bytes as f64 / 1048576.0,
        text_total.as_secs_f64(),
        (text_total - text_query).as_secs_f64(),
        text_query.as_secs_f64()
    );
    println!(
        "  Parquet   ({:.0} MiB): {:.2} s (register {:.2} s, query {:.2} s)",
        pq_bytes as f64 / 1048576.0,
        pq_total.as_secs_f64(),
        (pq_total - pq_query).as_secs_f64(),
        pq_query.as_secs_f64()
    );
    println!(
        "  Parquet is {:.1}x faster end to end ({:.1} M events/s vs {:.1} M events/s)",
        text_total.as_secs_f64() / pq_total.as_secs_f64(),
        events as f64 / pq_total.as_secs_f64() / 1e6,
        events as f64 / text_total.as_secs_f64() / 1e6
    );
    print!("{pq_result}");
    Ok(())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    dir_size(&p)
                } else {
                    file_size(&p)
                }
            })
            .sum()
    })
}
