//! What one replica costs, for sizing: measured in one run on a generated enterprise
//! (`RW_BENCH_SIZE`, default 2; seed 3).
//!
//! - CPU per event: an in-process replay (decoding, merge, engine), against `wc -l` of the same
//!   files timed in the same run (the reference).
//! - State: the engine snapshot's bytes, per identity and per edge of the learned graph.
//! - Restore: that checkpoint restored into an engine (seconds per GiB of checkpoint).
//! - The checkpoint topic: a checkpoint of `RW_BENCH_CHECKPOINT_MIB` MiB (default 256; the
//!   engine's bytes are incompressible filler, the topic does not look inside) written to and read
//!   back from the topic on a real broker (Tansu, started here on a free port), against the same
//!   through the checkpoint directory (the reference); three rounds. Seconds per GiB follow.

use anyhow::{ensure, Result};
use reachwatch_benches::{cpu_seconds, env_or, scenario, start_broker, time_command};
use reachwatch_checkpoint::Checkpoint;
use reachwatch_engine::Engine;
use reachwatch_formats::Format;
use reachwatch_kafka::pipeline::{ensure_topics, StateTopic};
use reachwatch_replay::{replay_with_end, ReplayFormats, ReplayOptions};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: usize = 3;
const GIB: f64 = (1u64 << 30) as f64;

fn main() -> Result<()> {
    // `cargo test --benches` runs benches without `--bench`; only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let size: f64 = env_or("RW_BENCH_SIZE", 2.0);
    let dir = scenario(size, 3)?;
    let (auth, flows) = (dir.join("auth.txt"), dir.join("flows.txt"));
    let wc = time_command(ROUNDS, || {
        let mut c = Command::new("wc");
        c.arg("-l").arg(&auth).arg(&flows).stdout(Stdio::null());
        c
    })?;
    let rules = Arc::new(reachwatch_rules::builtin());
    let opts = ReplayOptions {
        format: Format::Lanl,
        auth: Some(auth.clone()),
        flows: Some(flows.clone()),
        alerts: None,
        dead_letter: None,
        base_time: None,
        rules: rules.clone(),
        progress: None,
    };
    let mut snapshot = vec![];
    let (mut identities, mut hosts, mut edges) = (0, 0, 0);
    let cpu = cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let summary = replay_with_end(
        &opts,
        &ReplayFormats::default(),
        |_| {},
        |engine| {
            let g = engine.graph();
            (identities, hosts, edges) = (g.identities.len(), g.hosts.len(), g.edges.len());
            snapshot = engine.snapshot();
            Ok(())
        },
    )?;
    let wall = started.elapsed();
    let cpu = cpu_seconds().unwrap_or(0.0) - cpu;
    let events = summary.events as f64;
    println!(
        "enterprise size {size}: {} events; replay {:.2} s wall, {cpu:.2} CPU s: {:.2} µs CPU per event, {:.0} k events per CPU second; wc -l {:.3} s (ratio wc/replay {:.3})",
        summary.events,
        wall.as_secs_f64(),
        cpu * 1e6 / events,
        events / cpu / 1e3,
        wc.as_secs_f64(),
        wc.as_secs_f64() / wall.as_secs_f64()
    );
    let cp = Checkpoint {
        sequence: 1,
        created_unix_ms: 0,
        engine: snapshot,
        inputs: vec![],
        alerts: vec![],
    };
    let bytes = cp.encode().len() as f64;
    println!(
        "state: {identities} identities, {hosts} hosts, {edges} edges; checkpoint {:.1} MiB: {:.0} bytes per identity, {:.0} per edge",
        bytes / (1 << 20) as f64,
        bytes / identities.max(1) as f64,
        bytes / edges.max(1) as f64
    );

    let t = Instant::now();
    Engine::restore_with_rules(&cp.engine, rules.clone())?;
    let restore = t.elapsed();
    println!(
        "engine restore from the snapshot: {:.4} s ({:.1} s/GiB of checkpoint)",
        restore.as_secs_f64(),
        restore.as_secs_f64() * GIB / bytes
    );

    let mib: usize = env_or("RW_BENCH_CHECKPOINT_MIB", 256);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let filler: Vec<u8> = (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let big = Checkpoint {
        engine: filler,
        ..cp
    };
    let bytes = big.encode().len() as f64;
    let cache = tempfile::tempdir()?;
    let (_broker, addr) = start_broker()?;
    let client = vec![("bootstrap.servers".to_string(), addr)];
    let topic = "bench-checkpoints";
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(ensure_topics(
            &client,
            &[topic],
            2,
            &[("cleanup.policy", "compact")],
        ))?;
    let state = StateTopic::new(&client, topic)?;
    let per_gib = |d: Duration| d.as_secs_f64() * GIB / bytes;
    for round in 1..=ROUNDS {
        let mut cp = big.clone();
        cp.sequence = round as u64;
        let t = Instant::now();
        cp.write(cache.path())?;
        let dir_write = t.elapsed();
        let t = Instant::now();
        let from_dir = Checkpoint::read(cache.path())?.expect("just written");
        let dir_read = t.elapsed();
        ensure!(from_dir.sequence == cp.sequence);
        let t = Instant::now();
        state.write(cp.sequence, &cp.encode())?;
        let topic_write = t.elapsed();
        let t = Instant::now();
        let (from_topic, read) = state.read_last()?.expect("just written");
        let topic_read = t.elapsed();
        ensure!(
            from_topic.sequence == cp.sequence && from_topic.engine == cp.engine,
            "the topic gave back another checkpoint"
        );
        ensure!(
            read.len() as f64 == bytes,
            "the topic gave back {} bytes",
            read.len()
        );
        println!(
            "round {round}, {mib} MiB: directory write {:.2} s, read {:.2} s; topic write {:.2} s ({:.1} s/GiB), read {:.2} s ({:.1} s/GiB); topic/directory: write {:.1}, read {:.1}",
            dir_write.as_secs_f64(),
            dir_read.as_secs_f64(),
            topic_write.as_secs_f64(),
            per_gib(topic_write),
            topic_read.as_secs_f64(),
            per_gib(topic_read),
            topic_write.as_secs_f64() / dir_write.as_secs_f64(),
            topic_read.as_secs_f64() / dir_read.as_secs_f64()
        );
    }
    Ok(())
}
