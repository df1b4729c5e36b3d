//! Identity explosion: memory and speed when every record names a fresh identity and fresh
//! hosts, as an attacker (or a broken host) can mint at will.
//!
//! In the same run:
//! - `wc -l` over the explosion file (the reference: the cost of just reading the lines);
//! - a replay of the explosion alone (2 M LANL authentications, each from a fresh random machine
//!   identity between two fresh random hosts) with the shipped rules and their default caps, in a
//!   fresh child process: events/s, peak RSS, and how many identities, hosts and edges were
//!   evicted or refused;
//! - a generated enterprise replayed alone and with the explosion mixed into its authentications
//!   (in time order): its alerts must be the same.
//!
//! `RW_BENCH_EVENTS` overrides the explosion's size, `RW_BENCH_SIZE` the enterprise's;
//! `RW_BENCH_DESTINATIONS=N` draws each record's destination from N hosts instead of minting it
//! (a flood that names hosts the engine holds, which the doorkeeper does not pass over).

use reachwatch_benches::{cpu_seconds, data_dir, env_or, peak_rss_bytes, scenario, time_command};
use reachwatch_formats::Format;
use reachwatch_replay::{replay, ReplayOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The allocator of the `reachwatch` binary, so that the replay measured is the one it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn options(auth: &Path, flows: &Path, alerts: &Path) -> ReplayOptions {
    ReplayOptions {
        format: Format::Lanl,
        auth: Some(auth.to_path_buf()),
        flows: Some(flows.to_path_buf()),
        alerts: Some(alerts.to_path_buf()),
        dead_letter: None,
        base_time: None,
        rules: std::sync::Arc::new(reachwatch_rules::builtin()),
        progress: None,
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `n` authentications spread over `[0, span)` seconds, in time order, each by a fresh random
/// machine identity from a fresh random host to another (or to one of `destinations` hosts).
fn explosion(n: u64, span: u64, destinations: Option<u64>, path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut rng = Rng(7);
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        let t = i * span / n;
        let (id, src, mut dst) = (rng.next(), rng.next(), rng.next());
        if let Some(d) = destinations {
            dst %= d.max(1);
        }
        writeln!(
            w,
            "{t},M{id:016x}$@DOM1,M{id:016x}$@DOM1,H{src:016x},H{dst:016x},Kerberos,Network,LogOn,Success"
        )?;
    }
    w.flush()?;
    Ok(())
}

fn time_of(line: &str) -> u64 {
    line.split(',')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// The lines of two time-ordered LANL files merged in time order.
fn merge(a: &Path, b: &Path, out: &Path) -> anyhow::Result<()> {
    let (a, b) = (std::fs::read_to_string(a)?, std::fs::read_to_string(b)?);
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    let (mut x, mut y) = (a.lines().peekable(), b.lines().peekable());
    loop {
        let line = match (x.peek(), y.peek()) {
            (Some(l), Some(r)) if time_of(l) <= time_of(r) => x.next(),
            (Some(_), Some(_)) => y.next(),
            (Some(_), None) => x.next(),
            (None, Some(_)) => y.next(),
            (None, None) => break,
        };
        writeln!(w, "{}", line.expect("peeked"))?;
    }
    w.flush()?;
    Ok(())
}

/// Child mode: replay and print one line of figures.
fn child(auth: &Path, flows: &Path) -> anyhow::Result<()> {
    let alerts = std::env::temp_dir().join(format!("rw-bench-{}.jsonl", std::process::id()));
    let s = replay(&options(auth, flows, &alerts), |_| {})?;
    let _ = std::fs::remove_file(&alerts);
    let (e, r) = (s.evicted_at_cap, s.refused_full);
    println!(
        "{} {} {} {} {} {} {} {} {} {} {} {}",
        cpu_seconds().unwrap_or(0.0),
        peak_rss_bytes().unwrap_or(0),
        s.events,
        s.elapsed_seconds,
        e.identities,
        e.hosts,
        e.edges,
        r.identities,
        r.hosts,
        s.identities,
        s.symbol_compactions,
        s.passed_over
    );
    Ok(())
}

fn run_child(auth: &Path, flows: &Path) -> anyhow::Result<Vec<f64>> {
    let out = Command::new(std::env::current_exe()?)
        .env("RW_BENCH_CHILD_AUTH", auth)
        .env("RW_BENCH_CHILD_FLOWS", flows)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect())
}

/// A replay's alerts by id.
fn alerts(
    auth: &Path,
    flows: &Path,
    out: &Path,
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    replay(&options(auth, flows, out), |_| {})?;
    std::fs::read_to_string(out)?
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((v["id"].as_str().unwrap_or_default().to_string(), v))
        })
        .collect()
}

/// The fields in which two alerts of one id differ, by JSON path.
fn differences(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = serde_json::Value::Null;
                let (u, v) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                differences(u, v, &format!("{path}.{k}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
}

fn main() -> anyhow::Result<()> {
    if let (Some(a), Some(f)) = (
        std::env::var_os("RW_BENCH_CHILD_AUTH"),
        std::env::var_os("RW_BENCH_CHILD_FLOWS"),
    ) {
        return child(Path::new(&a), Path::new(&f));
    }
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let n: u64 = env_or("RW_BENCH_EVENTS", 2_000_000);
    let size: f64 = env_or("RW_BENCH_SIZE", 2.0);
    let dir: PathBuf = data_dir().join("identity-explosion");
    std::fs::create_dir_all(&dir)?;
    let enterprise = scenario(size, 3)?;
    let (auth, flows) = (enterprise.join("auth.txt"), enterprise.join("flows.txt"));
    let span = std::fs::read_to_string(&auth)?
        .lines()
        .map(time_of)
        .max()
        .unwrap_or(0)
        + 1;
    let destinations: Option<u64> = std::env::var("RW_BENCH_DESTINATIONS")
        .ok()
        .and_then(|v| v.parse().ok());
    let flood = match destinations {
        Some(d) => dir.join(format!("explosion-{n}-to-{d}.txt")),
        None => dir.join(format!("explosion-{n}.txt")),
    };
    explosion(n, span, destinations, &flood)?;
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "")?;

    let wc = time_command(2, || {
        let mut c = Command::new("wc");
        c.arg("-l").arg(&flood).stdout(std::process::Stdio::null());
        c
    })?;
    let v = run_child(&flood, &empty)?;
    anyhow::ensure!(v.len() == 12, "child printed {v:?}");
    let (cpu, v) = (v[0], &v[1..]);
    let rate = v[1] / v[2];
    let wc_rate = n as f64 / wc.as_secs_f64();
    match destinations {
        Some(d) => println!(
            "identity_explosion: {n} authentications, each by a fresh identity from a fresh host to one of {d} hosts"
        ),
        None => println!(
            "identity_explosion: {n} authentications, each by a fresh identity between fresh hosts"
        ),
    }
    println!(
        "  wc -l        {:>8.3} s  {:>12.0} lines/s",
        wc.as_secs_f64(),
        wc_rate
    );
    println!(
        "  replay       {:>8.3} s  {:>12.0} events/s  (ratio to wc -l {:.3})",
        v[2],
        rate,
        rate / wc_rate
    );
    println!(
        "  replay CPU   {cpu:>8.3} s  {:>12.0} events per CPU second (all threads; the wall-clock rate depends on what else runs)",
        v[1] / cpu
    );
    println!(
        "  peak RSS {:.1} MiB; evicted at caps: {} identities, {} hosts, {} edges; refused: {} identities, {} hosts; {} identities held at the end; {} symbol compactions; {} first sightings passed over while crowded",
        v[0] / 1048576.0,
        v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]
    );

    let mixed = dir.join(format!(
        "mixed-{}-size{size}.txt",
        flood.file_stem().unwrap_or_default().to_string_lossy()
    ));
    merge(&auth, &flood, &mixed)?;
    let plain = alerts(&auth, &flows, &dir.join("alerts-plain.jsonl"))?;
    let with_flood = alerts(&mixed, &flows, &dir.join("alerts-mixed.jsonl"))?;
    anyhow::ensure!(
        plain.keys().eq(with_flood.keys()),
        "the explosion changed which alerts the enterprise gets"
    );
    let mut changed = vec![];
    for (id, a) in &plain {
        differences(a, &with_flood[id], id, &mut changed);
    }
    // Context counts of who else reaches a destination may drop where thin identities (seen
    // fewer than 8 times) were evicted; anything else that changes is a failure.
    let (context, other): (Vec<&String>, Vec<&String>) = changed
        .iter()
        .partition(|d| d.contains(".evidence.peers.") && d.contains("reaching_dst"));
    println!(
        "  enterprise (size {size}, seed 3): {} alerts alone, {} with the explosion mixed in: {}",
        plain.len(),
        with_flood.len(),
        if changed.is_empty() {
            "identical".to_string()
        } else {
            format!("identical but for {} peer counts", context.len())
        }
    );
    for d in &changed {
        println!("    {d}");
    }
    anyhow::ensure!(
        other.is_empty(),
        "the explosion changed the enterprise's alerts"
    );
    Ok(())
}
