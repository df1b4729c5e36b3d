//! Helpers of the Kafka tests: a real Tansu broker on a free port (started by the test, killed
//! when dropped), the pipeline as a child process, and readers of what it wrote.
#![allow(dead_code)]

use reachwatch_kafka::read::{read_topic, Record};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a broker may take to accept connections.
const BROKER_START: Duration = Duration::from_secs(30);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Tansu broker with in-memory storage on 127.0.0.1, killed on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
}

fn assert_tansu_installed() {
    let out = Command::new(root().join("scripts/tansu"))
        .arg("path")
        .output()
        .expect("running scripts/tansu path");
    assert!(
        out.status.success(),
        "the Kafka-compatible broker Tansu is not installed: run `scripts/tansu install` \
         (scripts/test does it when it is missing)"
    );
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start(dir: &Path) -> Broker {
        assert_tansu_installed();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.join(format!("tansu-{port}.log"));
        let child = Command::new(root().join("scripts/tansu"))
            .args(["start", &port.to_string()])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("starting tansu");
        let broker = Broker { child, addr, log };
        let deadline = Instant::now() + BROKER_START;
        while TcpStream::connect(&broker.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not accept connections on {} within {BROKER_START:?}; log: {}",
                broker.addr,
                std::fs::read_to_string(&broker.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// librdkafka settings to reach it.
    pub fn client(&self) -> Vec<(String, String)> {
        vec![("bootstrap.servers".to_string(), self.addr.clone())]
    }

    /// Every record of a topic, from the beginning to its current end.
    pub fn read(&self, topic: &str) -> Vec<Record> {
        read_topic(&self.client(), topic, &[], Duration::from_secs(30)).expect("reading topic")
    }

    /// Waits until `topic` holds at least `n` records (bounded); returns them.
    pub fn wait_for(
        &self,
        topic: &str,
        n: usize,
        timeout: Duration,
        what: &mut Pipeline,
    ) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        loop {
            let got =
                read_topic(&self.client(), topic, &[], Duration::from_secs(30)).unwrap_or_default();
            if got.len() >= n {
                return got;
            }
            if let Some(status) = what.child.try_wait().unwrap() {
                panic!(
                    "the pipeline exited ({status}) with {} of {n} records on {topic}; log:\n{}",
                    got.len(),
                    what.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} records on {topic} after {timeout:?}; pipeline log:\n{}",
                got.len(),
                what.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes LANL files with `reachwatch produce`, one record per batch: Tansu 0.6 answers a
/// fetch from an offset inside a multi-record batch with the next batch, so a restart at a
/// checkpointed offset would skip the rest of that batch (Kafka returns the whole batch and the
/// client skips the records before the offset).
pub fn produce(broker: &Broker, auth: &Path, flows: &Path, partitions: u32) {
    let out = crate::common::reachwatch()
        .args(["produce", "--brokers", &broker.addr, "--format", "lanl"])
        .args(["--option", "batch.num.messages=1"])
        .args(["--auth-topic", "auth", "--flows-topic", "flows"])
        .arg("--auth")
        .arg(auth)
        .arg("--flows")
        .arg(flows)
        .args(["--partitions", &partitions.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A pipeline configuration for LANL topics `auth` and `flows`, alerts to `alerts`, dead
/// letters to `dead-letters`; `extra` is appended (more sources, `[pipeline]` settings).
pub fn config(dir: &Path, broker: &Broker, group: &str, checkpoint: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[kafka]
brokers = "{brokers}"
group_id = "{group}"
options = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

[[sources]]
topic = "auth"
stream = "auth"
format = "lanl"

[[sources]]
topic = "flows"
stream = "flows"
format = "lanl"

[sinks]
alerts_topic = "alerts"
dead_letter_topic = "dead-letters"

[checkpoint]
dir = "{ckpt}"
{checkpoint}

[engine]
learn = "5d"
{extra}
"#,
        brokers = broker.addr,
        ckpt = dir.join("checkpoints").display(),
    );
    let p = dir.join(format!("{group}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// `reachwatch run` as a child process; killed on drop if still running.
pub struct Pipeline {
    child: Child,
    log: PathBuf,
}

impl Pipeline {
    /// Starts `reachwatch run --config FILE`, logging to a file next to it.
    pub fn start(config: &Path, tag: &str) -> Pipeline {
        let log = config.with_extension(format!("{tag}.log"));
        let child = crate::common::reachwatch()
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info,reachwatch_kafka=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Pipeline { child, log }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let status = self.wait(Duration::from_secs(60));
        (status, self.log())
    }

    /// Waits (bounded) until the log contains `text`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "`{text}` not logged within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Panics with the log if the pipeline has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the pipeline exited ({status}); log:\n{}", self.log());
        }
    }

    /// Sends a signal by name (`HUP`, …) without waiting.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name}");
    }

    /// Kills it with SIGKILL (a crash) and reaps it.
    pub fn crash(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log()
    }

    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the pipeline did not exit within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `reachwatch replay --learn 5d` of LANL files: alert id → alert JSON.
pub fn replay_alerts(dir: &Path, auth: &Path, flows: &Path) -> BTreeMap<String, serde_json::Value> {
    let out_file = dir.join("replay-alerts.jsonl");
    let out = crate::common::reachwatch()
        .args(["replay", "--format", "lanl", "--learn", "5d", "-q"])
        .arg("--auth")
        .arg(auth)
        .arg("--flows")
        .arg(flows)
        .arg("--alerts")
        .arg(&out_file)
        .output()
        .unwrap();
    crate::common::assert_ok(&out);
    by_id(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .lines()
            .map(str::as_bytes),
    )
}

/// Alerts keyed by id; panics on a duplicate id.
pub fn by_id<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        assert!(
            out.insert(id.clone(), v).is_none(),
            "alert {id} is duplicated"
        );
    }
    out
}

/// Asserts that two alert sets are equal: the same ids, and the same alert for each id.
pub fn assert_same_alerts(
    got: &BTreeMap<String, serde_json::Value>,
    want: &BTreeMap<String, serde_json::Value>,
    context: &str,
) {
    let (g, w): (Vec<&String>, Vec<&String>) = (got.keys().collect(), want.keys().collect());
    assert_eq!(g, w, "alert ids differ; {context}");
    for (id, a) in want {
        assert_eq!(&got[id], a, "alert {id} differs; {context}");
    }
}

/// Inserts `bad` lines into `src` at the given line indices; appends `tail` lines.
pub fn with_bad_lines(src: &Path, bad: &[(usize, String)], tail: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in std::fs::read_to_string(src).unwrap().lines().enumerate() {
        for (_, b) in bad.iter().filter(|(at, _)| *at == i) {
            out.push_str(b);
            out.push('\n');
        }
        out.push_str(l);
        out.push('\n');
    }
    for t in tail {
        out.push_str(t);
        out.push('\n');
    }
    out
}
