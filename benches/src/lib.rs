//! Shared helpers for the benchmarks: scenario caching, reference timings and memory readings.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A benchmark setting from the environment (`RW_BENCH_*`), or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Directory for generated benchmark inputs (kept between runs, outside the source tree).
pub fn data_dir() -> PathBuf {
    // The bench binary lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-data")
}

/// Generates (once) a scenario of the given size and returns its directory.
pub fn scenario(size: f64, seed: u64) -> anyhow::Result<PathBuf> {
    let dir = data_dir().join(format!("scenario-size{size}-seed{seed}"));
    if !dir.join("scenario.json").exists() {
        let cfg = reachwatch_gen::GenConfig {
            seed,
            size,
            ..Default::default()
        };
        eprintln!("generating size {size} scenario into {}", dir.display());
        reachwatch_gen::generate(&cfg, &dir)?;
    }
    Ok(dir)
}

/// Best wall time of `runs` runs of a command.
pub fn time_command(runs: usize, mut cmd: impl FnMut() -> Command) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let status = cmd().status()?;
        anyhow::ensure!(status.success(), "reference command failed");
        best = best.min(start.elapsed());
    }
    Ok(best)
}

/// Peak resident set size of this process, from /proc (bytes), if available.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user and system, every thread) this process used so far, from /proc.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (user, system): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // Clock ticks; 100 per second on Linux.
    Some((user + system) / 100.0)
}

/// A Tansu broker started by a benchmark; killed on drop.
pub struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Tansu (`scripts/tansu start`) on a free port with in-memory storage; returns it and its
/// address.
pub fn start_broker() -> anyhow::Result<(Broker, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let installed = Command::new(root.join("scripts/tansu"))
        .arg("path")
        .output()?;
    anyhow::ensure!(
        installed.status.success(),
        "Tansu is missing: run scripts/tansu install"
    );
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(root.join("scripts/tansu"))
        .args(["start", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let broker = Broker(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "tansu did not start on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((broker, addr))
}
