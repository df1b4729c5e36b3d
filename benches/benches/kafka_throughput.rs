//! The streaming pipeline on a real Kafka-compatible broker (Tansu, started here on a free port).
//!
//! In the same run, on the same topics (3 partitions each):
//! - a bare rdkafka consumer with the pipeline's fetch settings reads every record (the
//!   reference: the cost of just consuming);
//! - the pipeline (decode, event-time merge, engine, alert and dead-letter sinks, checkpoints)
//!   consumes the same records in another group. Both are timed from the moment the group
//!   assigned them their partitions. The sustained rate runs from a tenth to nine tenths of the
//!   records; the whole input from assignment to the last record includes the start (the
//!   consumer looks up where each partition begins, one after another, and the event-time merge
//!   cannot release anything before every partition has records) and the end (the partition
//!   that ran out last holds the merge back until nothing arrived from it for `idle_timeout`,
//!   1 s here, as it must for a live stream), neither of which the bare consumer waits for;
//! - then a second pair of topics is fed at a steady rate (`RW_BENCH_RATE`, default 20 000
//!   records/s, both files interleaved in event-time order) while the pipeline runs: end-to-end
//!   latency from the production of the record that makes an alert due to the alert's hand-over
//!   to the sinks, p50/p99 from the hdrhistogram summary.
//!
//! `RW_BENCH_SIZE` sets the generated enterprise's size (default 2); `RW_BENCH_KAFKA_OPTIONS`
//! adds librdkafka settings to the pipeline's `kafka.options` (TOML inline-table entries, e.g.
//! `"fetch.wait.max.ms" = "10"`); `RW_BENCH_QUEUE` sets its `pipeline.queue_capacity`.

use anyhow::{ensure, Context, Result};
use reachwatch_benches::{cpu_seconds, env_or, scenario, start_broker};
use reachwatch_kafka::produce::{produce, ProduceOptions};
use reachwatch_kafka::read::{ConsumeTimes, Progress};
use reachwatch_kafka::{Attach, RunConfig, RunSummary, StopHandle};
use reachwatch_telemetry::{Health, Telemetry};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(addr: &str, group: &str, auth: &str, flows: &str, dir: &Path) -> Result<RunConfig> {
    RunConfig::parse(&format!(
        r#"
[kafka]
brokers = "{addr}"
group_id = "{group}"
options = {{ {options} }}
[[sources]]
topic = "{auth}"
stream = "auth"
format = "lanl"
[[sources]]
topic = "{flows}"
stream = "flows"
format = "lanl"
[sinks]
alerts_topic = "{group}-alerts"
dead_letter_topic = "{group}-dead-letters"
[checkpoint]
dir = "{dir}"
[pipeline]
idle_timeout = "1s"
{queue}
"#,
        queue = std::env::var("RW_BENCH_QUEUE")
            .map(|q| format!("queue_capacity = {q}"))
            .unwrap_or_default(),
        dir = dir.join(group).display(),
        options = std::env::var("RW_BENCH_KAFKA_OPTIONS").unwrap_or_default(),
    ))
}

/// Runs the pipeline on a thread until it has taken in `total` records from `topics`; returns its
/// telemetry, when (from its assignment) it had taken in a tenth, nine tenths and all of the
/// records, and its summary.
fn run_until(
    cfg: RunConfig,
    learn_days: i64,
    topics: &[&str],
    total: u64,
    timeout: Duration,
) -> Result<(Arc<Telemetry>, ConsumeTimes, RunSummary)> {
    let mut rules = reachwatch_rules::builtin();
    rules.settings.learn = learn_days * reachwatch_model::time::DAY;
    let settings = cfg.validate()?;
    let telemetry = Arc::new(Telemetry::new());
    let health = Arc::new(Health::default());
    let stop = StopHandle::default();
    let handle = {
        let (t, h, stop) = (telemetry.clone(), health.clone(), stop.clone());
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || {
                let attach = Attach {
                    telemetry: Some(t),
                    health: Some(h),
                    stop,
                    ..Attach::default()
                };
                reachwatch_kafka::run(settings, Arc::new(rules), attach)
            })?
    };
    let deadline = Instant::now() + timeout;
    let (mut assigned, mut marks) = (None, Progress::new(total));
    let last = loop {
        let taken = events(&telemetry, topics);
        if assigned.is_none() && health.is_ready() {
            assigned = Some(Instant::now());
        }
        marks.note(taken, Instant::now());
        if taken >= total {
            break Instant::now();
        }
        ensure!(!handle.is_finished(), "the pipeline stopped early");
        ensure!(
            Instant::now() < deadline,
            "the pipeline did not finish within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    stop.stop();
    let summary = handle.join().expect("pipeline thread")?;
    let times = marks.times(assigned.context("never ready")?, last);
    Ok((telemetry, times, summary))
}

/// Records the pipeline has taken in from `topics` (any result).
fn events(t: &Telemetry, topics: &[&str]) -> u64 {
    topics
        .iter()
        .flat_map(|s| ["ok", "decode_error", "late", "clock_skew"].map(|r| (*s, r)))
        .map(|(s, r)| t.events.with_label_values(&[s, r]).get())
        .sum()
}

fn lines(p: &Path) -> Result<u64> {
    Ok(std::fs::read(p)?.iter().filter(|&&b| b == b'\n').count() as u64)
}

fn main() -> Result<()> {
    // `cargo test --benches` runs benches without `--bench`; only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let size: f64 = env_or("RW_BENCH_SIZE", 2.0);
    let rate: u32 = env_or("RW_BENCH_RATE", 20_000);
    let dir = scenario(size, 1)?;
    let (auth, flows) = (dir.join("auth.txt"), dir.join("flows.txt"));
    let total = lines(&auth)? + lines(&flows)?;
    let (_broker, addr) = start_broker()?;
    let client = vec![("bootstrap.servers".to_string(), addr.clone())];
    let work = tempfile::tempdir()?;
    let t = Instant::now();
    produce(&ProduceOptions {
        client: client.clone(),
        format: reachwatch_formats::Format::Lanl,
        auth: Some((auth.clone(), "auth".into())),
        flows: Some((flows.clone(), "flows".into())),
        partitions: 3,
        rate: None,
    })?;
    eprintln!(
        "produced {total} records in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The reference gets the pipeline consumer's fetch settings: only the processing differs.
    let bare_client: Vec<(String, String)> = reachwatch_kafka::config::CONSUMER_DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(client.iter().cloned())
        .collect();
    let cpu = cpu_seconds().unwrap_or(0.0);
    let bare = reachwatch_kafka::read::consume_count(
        &bare_client,
        "bench-bare",
        &["auth", "flows"],
        total,
        Duration::from_secs(60),
    )?;
    let bare_cpu = cpu_seconds().unwrap_or(0.0) - cpu;
    let cpu = cpu_seconds().unwrap_or(0.0);
    let (pipe_telemetry, pipe, summary) = run_until(
        config(&addr, "bench-pipeline", "auth", "flows", work.path())?,
        7,
        &["auth", "flows"],
        total,
        Duration::from_secs(600),
    )?;
    let pipe_cpu = cpu_seconds().unwrap_or(0.0) - cpu;
    // Sustained: from a tenth to nine tenths of the records (the start, while the consumer looks
    // up where each partition begins, and the end are left out). Whole input: from assignment
    // to the last record.
    let rates = |t: &ConsumeTimes| {
        (
            total as f64 * 0.8 / (t.nine_tenths - t.tenth).as_secs_f64(),
            total as f64 / t.all.as_secs_f64(),
        )
    };
    let (bare_rate, pipe_rate) = (rates(&bare), rates(&pipe));

    // Steady rate: a feed at `rate` records/s into fresh topics, consumed live.
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/scenario-small");
    let live_total = lines(&small.join("auth.txt"))? + lines(&small.join("flows.txt"))?;
    let feeder = {
        let client = client.clone();
        let small = small.clone();
        std::thread::spawn(move || {
            produce(&ProduceOptions {
                client,
                format: reachwatch_formats::Format::Lanl,
                auth: Some((small.join("auth.txt"), "live-auth".into())),
                flows: Some((small.join("flows.txt"), "live-flows".into())),
                partitions: 3,
                rate: Some(rate),
            })
        })
    };
    // Topics exist once the feeder created them; the pipeline then follows the feed.
    std::thread::sleep(Duration::from_secs(2));
    let (live, _, _) = run_until(
        config(&addr, "bench-live", "live-auth", "live-flows", work.path())?,
        5,
        &["live-auth", "live-flows"],
        live_total,
        Duration::from_secs(600),
    )?;
    feeder.join().expect("feeder")?;
    let e2e = &live.end_to_end_latency;

    println!("kafka pipeline throughput, size {size}: {total} records, 3 partitions per topic, Tansu in memory");
    println!(
        "                          sustained (1/10 to 9/10)     whole input (from assignment)"
    );
    for (name, unit, (sustained, whole), t) in [
        ("bare rdkafka consumer", "records/s", bare_rate, bare),
        ("pipeline", "events/s ", pipe_rate, pipe),
    ] {
        println!(
            "  {name:<22}{sustained:>10.0} {unit}     {whole:>10.0} {unit} ({:.2} s; a tenth after {:.2} s)",
            t.all.as_secs_f64(),
            t.tenth.as_secs_f64()
        );
    }
    println!(
        "  pipeline / bare       {:>10.2}                  {:>10.2}",
        pipe_rate.0 / bare_rate.0,
        pipe_rate.1 / bare_rate.1
    );
    println!(
        "  pipeline waiting        {:>10.2} s with nothing ready",
        summary.waited_seconds
    );
    let c = &pipe_telemetry.checkpoint_duration;
    println!(
        "  checkpoints             {:>10} written, p50 {:.1} ms, max {:.1} ms (the runner waits for each)",
        c.count(),
        c.quantile(0.5) * 1e3,
        c.quantile(1.0) * 1e3
    );
    let micros = |cpu: f64| cpu * 1e6 / total as f64;
    println!(
        "CPU (this process; the broker apart): bare consumer {bare_cpu:.2} s ({:.2} µs per record), pipeline {pipe_cpu:.2} s ({:.2} µs per event, checkpoints and the idle end included); pipeline / bare {:.2}",
        micros(bare_cpu),
        micros(pipe_cpu),
        pipe_cpu / bare_cpu
    );
    println!(
        "end-to-end latency at {rate} records/s (scenario-small, {} alerts): p50 {:.1} ms, p99 {:.1} ms",
        e2e.count(),
        e2e.quantile(0.5) * 1000.0,
        e2e.quantile(0.99) * 1000.0
    );
    Ok(())
}
