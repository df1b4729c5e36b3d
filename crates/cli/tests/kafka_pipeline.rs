//! The pipeline against a real Kafka-compatible broker (Tansu, started by each test on a free
//! port): the alerts equal replay's, a kill -9 in the middle loses and duplicates nothing, and
//! bad records land on the dead-letter topic without changing the alerts.

mod common;
mod kafka_support;
mod scrape;

use base64::Engine as _;
use kafka_support::{
    assert_same_alerts, by_id, config, free_port, produce, replay_alerts, with_bad_lines, Broker,
    Pipeline,
};
use reachwatch_checkpoint::Checkpoint;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Upper bound for the pipeline to publish a scenario's alerts.
const ALERTS_WITHIN: Duration = Duration::from_secs(180);

fn scenario() -> (std::path::PathBuf, std::path::PathBuf) {
    let s = common::small_scenario();
    (s.join("auth.txt"), s.join("flows.txt"))
}

/// Checks the alerts topic's records (keyed by identity, id in the header) and returns them by id.
fn alerts_by_id(broker: &Broker) -> BTreeMap<String, serde_json::Value> {
    let records = broker.read("alerts");
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(
            r.key.as_deref(),
            Some(v["identity"].as_str().unwrap().as_bytes()),
            "alerts are keyed by identity"
        );
        assert_eq!(
            r.header(reachwatch_kafka::ALERT_ID_HEADER),
            Some(v["id"].as_str().unwrap().as_bytes())
        );
    }
    by_id(records.iter().map(|r| r.payload.as_slice()))
}

#[test]
fn kafka_alerts_equal_replay_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let (auth, flows) = scenario();
    let expected = replay_alerts(dir.path(), &auth, &flows);
    assert!(expected.len() >= 8, "the scenario's attacks alert");
    produce(&broker, &auth, &flows, 3);
    let cfg = config(
        dir.path(),
        &broker,
        "equivalence",
        "interval = \"2s\"",
        "[pipeline]\nidle_timeout = \"1s\"\nqueue_capacity = 500\n",
    );
    let mut p = Pipeline::start(&cfg, "run");
    broker.wait_for("alerts", expected.len(), ALERTS_WITHIN, &mut p);
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert_same_alerts(&alerts_by_id(&broker), &expected, &log);
    assert!(broker.read("dead-letters").is_empty());
    // The last checkpoint covers every record.
    let cp = Checkpoint::read(&dir.path().join("checkpoints"))
        .unwrap()
        .unwrap();
    let covered: i64 = cp.inputs.iter().map(|p| p.offset).sum();
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count() as i64;
    assert_eq!(covered, lines(&auth) + lines(&flows), "{:?}", cp.inputs);
}

/// Lines of a LANL file with time below (or at or above) `cut`.
fn split_at_time(src: &Path, cut: u64) -> (String, String) {
    let (mut before, mut after) = (String::new(), String::new());
    for l in std::fs::read_to_string(src).unwrap().lines() {
        let t: u64 = l.split(',').next().unwrap().parse().unwrap();
        let out = if t < cut { &mut before } else { &mut after };
        out.push_str(l);
        out.push('\n');
    }
    (before, after)
}

#[test]
fn kafka_crash_mid_stream_loses_and_duplicates_no_alert() {
    crash_and_restart(Volume::Kept);
}

#[test]
fn kafka_a_replica_on_a_fresh_volume_restores_from_the_checkpoint_topic() {
    crash_and_restart(Volume::Fresh);
}

#[test]
fn kafka_a_damaged_checkpoint_file_gives_way_to_the_checkpoint_topic() {
    crash_and_restart(Volume::Damaged);
}

/// What the restarted replica finds in its checkpoint directory.
#[derive(PartialEq)]
enum Volume {
    /// The directory of the replica that crashed.
    Kept,
    /// An empty directory: the checkpoint can only come from the checkpoint topic.
    Fresh,
    /// A directory whose checkpoint file is damaged: the same.
    Damaged,
}

/// Publishes the first part of the scenario, kills a replica with `kill -9` once some alerts are
/// out, publishes the rest and restarts it: every alert of replay comes out, none twice.
fn crash_and_restart(volume: Volume) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Broker::start(d);
    let (auth, flows) = scenario();
    let expected = replay_alerts(d, &auth, &flows);
    // The first part of the stream: its alerts, but not all, come out before the crash.
    let cut = 700_000;
    let (a1, a2) = split_at_time(&auth, cut);
    let (f1, f2) = split_at_time(&flows, cut);
    for (name, text) in [("a1", &a1), ("a2", &a2), ("f1", &f1), ("f2", &f2)] {
        std::fs::write(d.join(name), text).unwrap();
    }
    let before_cut = expected
        .values()
        .filter(|a| a["time"].as_f64().unwrap() + 600.0 < cut as f64 - 60.0)
        .count();
    assert!(before_cut >= 5 && before_cut < expected.len());
    produce(&broker, &d.join("a1"), &d.join("f1"), 3);
    // Checkpoints by count only, so that alerts are published after the last one.
    // Both name the checkpoint topic, which is named after the group by default: the restart
    // joins another group (below).
    let checkpoint = "interval = \"1h\"\nevery_events = 25000\ntopic = \"crash-checkpoints\"";
    let pipeline = "[pipeline]\nidle_timeout = \"1s\"\n";
    let cfg = config(d, &broker, "crash", checkpoint, pipeline);
    let mut first = Pipeline::start(&cfg, "first");
    broker.wait_for("alerts", before_cut, ALERTS_WITHIN, &mut first);
    let log1 = first.crash();
    let cp = Checkpoint::read(&d.join("checkpoints"))
        .unwrap()
        .unwrap_or_else(|| panic!("no checkpoint before the crash; log:\n{log1}"));
    assert!(cp.sequence >= 2, "checkpointed mid-stream: {}", cp.sequence);
    produce(&broker, &d.join("a2"), &d.join("f2"), 3);
    // Another group: Tansu 0.6 keeps the killed member's assignment (the new member gets no
    // partition) instead of expiring it after the session timeout, and fails static membership
    // (README, "Kafka-compatible brokers"). The restart does not depend on the group: it seeks
    // every partition to the checkpoint's offsets. The checkpoint directory is kept, or fresh.
    let second_dir = match volume {
        Volume::Kept => d.to_path_buf(),
        Volume::Fresh => d.join("fresh"),
        Volume::Damaged => d.join("damaged"),
    };
    std::fs::create_dir_all(second_dir.join("checkpoints")).unwrap();
    if volume == Volume::Damaged {
        let mut bytes = cp.encode();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(second_dir.join("checkpoints/checkpoint"), bytes).unwrap();
    }
    let metrics = format!("127.0.0.1:{}", free_port());
    let with_metrics = format!("{pipeline}\n[metrics]\naddr = \"{metrics}\"\n");
    let cfg = config(
        &second_dir,
        &broker,
        "crash-restart",
        checkpoint,
        &with_metrics,
    );
    let mut second = Pipeline::start(&cfg, "second");
    broker.wait_for("alerts", expected.len(), ALERTS_WITHIN, &mut second);
    let (code, body) = scrape::get(&metrics, "/metrics");
    assert_eq!(code, 200);
    let scraped = scrape::parse(&body);
    let (status, log2) = second.terminate();
    assert!(status.success(), "exit {status}; log:\n{log2}");
    let (from, label) = match volume {
        Volume::Kept => (
            format!("from={}", d.join("checkpoints").display()),
            "directory",
        ),
        Volume::Fresh | Volume::Damaged => ("from=crash-checkpoints".to_string(), "topic"),
    };
    let restored: u64 = log2
        .lines()
        .find(|l| l.contains("restoring checkpoint") && l.contains(&from))
        .and_then(|l| l.split("sequence=").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no checkpoint restored {from}:\n{log2}"));
    // The topic is written right after the directory: a kill between the two leaves it one
    // checkpoint behind.
    let behind = cp.sequence - restored;
    assert!(
        behind == 0 || (volume != Volume::Kept && behind == 1),
        "restored {restored}, the directory had {}",
        cp.sequence
    );
    let restored_bytes = scrape::metric(
        &scraped,
        &format!("reachwatch_checkpoint_restored_bytes{{from=\"{label}\"}}"),
    );
    let seconds = format!("reachwatch_checkpoint_restore_seconds{{from=\"{label}\"}}");
    assert!(scrape::metric(&scraped, &seconds) > 0.0, "{body}");
    if behind == 0 {
        assert_eq!(restored_bytes, cp.encode().len() as f64, "{body}");
    } else {
        assert!(restored_bytes > 0.0, "{body}");
    }
    // The checkpoint topic's manifests, across the crash: each write took the slot the previous
    // complete checkpoint did not use, so a write cut short never overwrites the last one.
    let manifests = manifests(&broker);
    assert!(manifests.len() >= 3, "{manifests:?}");
    for w in manifests.windows(2) {
        assert!(
            w[1]["sequence"].as_u64() > w[0]["sequence"].as_u64(),
            "{w:?}"
        );
        assert_ne!(w[0]["slot"], w[1]["slot"], "{w:?}");
    }
    if volume == Volume::Damaged {
        assert!(
            log2.contains("the directory's checkpoint cannot be read"),
            "{log2}"
        );
    }
    if volume != Volume::Kept {
        let cached = Checkpoint::read(&second_dir.join("checkpoints")).unwrap();
        assert!(
            cached.is_some_and(|c| c.sequence > cp.sequence),
            "the directory caches the restored checkpoint and the ones after it"
        );
    }
    // by_id fails on a duplicated id.
    assert_same_alerts(
        &alerts_by_id(&broker),
        &expected,
        &format!("first run:\n{log1}\nsecond run:\n{log2}"),
    );
    let suppressed: u64 = log2
        .lines()
        .find_map(|l| l.split(" alerts (").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in:\n{log2}"));
    assert!(
        suppressed > 0,
        "alerts published after the last checkpoint were re-derived and not re-emitted:\n{log2}"
    );
    if volume == Volume::Fresh {
        from_start_numbers_after(&broker, d, checkpoint, manifests.len());
    }
}

/// The manifests on the crash tests' checkpoint topic (partition 0), in order.
fn manifests(broker: &Broker) -> Vec<serde_json::Value> {
    broker
        .read("crash-checkpoints")
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

/// A `--from-start` run on another fresh volume and the same checkpoint topic numbers its
/// checkpoints after the topic's last: a later start restores the fresh run's state, not the
/// state it set out to discard.
fn from_start_numbers_after(broker: &Broker, d: &Path, checkpoint: &str, written: usize) {
    let last = |broker: &Broker| -> Vec<u64> {
        manifests(broker)
            .iter()
            .map(|m| m["sequence"].as_u64().unwrap())
            .collect()
    };
    let before = *last(broker).last().unwrap();
    let again = d.join("again");
    std::fs::create_dir_all(&again).unwrap();
    let pipeline = "[pipeline]\nidle_timeout = \"1s\"\nfrom_start = true\ncommit = false\n";
    let cfg = config(&again, broker, "crash-again", checkpoint, pipeline);
    let p = Pipeline::start(&cfg, "again");
    // Its first checkpoint is written before anything is consumed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while last(broker).len() <= written {
        assert!(std::time::Instant::now() < deadline, "{}", p.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, log) = p.terminate();
    assert!(status.success(), "{log}");
    let after = last(broker);
    assert!(
        after[written..].iter().all(|&s| s > before),
        "after {before}: {:?}",
        &after[written..]
    );
    let cached = Checkpoint::read(&again.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert!(
        cached.sequence > before,
        "{} after {before}",
        cached.sequence
    );
}

#[test]
fn kafka_bad_records_go_to_the_dead_letter_topic_and_change_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Broker::start(d);
    let (auth, flows) = scenario();
    let expected = replay_alerts(d, &auth, &flows);
    let long_name = "x".repeat(600);
    let auth_bad = with_bad_lines(
        &auth,
        &[
            (100, "not,a,valid,line".to_string()),
            (
                200,
                "abc,svc_a@DOM1,svc_a@DOM1,WS-0001,FS-01,Kerberos,Network,LogOn,Success".into(),
            ),
            (
                300,
                format!(
                    "9000,{long_name}@DOM1,x@DOM1,WS-0001,FS-01,Kerberos,Network,LogOn,Success"
                ),
            ),
            (
                400,
                format!(
                    "9000,svc_a@DOM1,svc_a@DOM1,WS-0001,FS-01,{}",
                    "K".repeat(70_000)
                ),
            ),
        ],
        // Far behind everything else in its partition by the time it is read: too late.
        &["10,svc_late@DOM1,svc_late@DOM1,WS-0001,FS-01,Kerberos,Network,LogOn,Success".into()],
    );
    let flows_bad = with_bad_lines(
        &flows,
        &[(500, "12,3,WS-0001,N1,FS-01,445,6,many,100".into())],
        &[],
    );
    std::fs::write(d.join("auth-bad.txt"), auth_bad).unwrap();
    std::fs::write(d.join("flows-bad.txt"), flows_bad).unwrap();
    produce(
        &broker,
        &d.join("auth-bad.txt"),
        &d.join("flows-bad.txt"),
        3,
    );
    // A native JSON topic carrying only bad records.
    let json_bad = [
        r#"{"time": 1,"#.to_string(),
        r#"{"time": 100, "identity": 42, "dst_host": "FS-01", "outcome": "success"}"#.into(),
        format!(
            r#"{{"time": 100, "identity": "{long_name}", "dst_host": "FS-01", "outcome": "success"}}"#
        ),
    ];
    std::fs::write(d.join("json-bad.txt"), json_bad.join("\n") + "\n").unwrap();
    let out = common::reachwatch()
        .args(["produce", "--brokers", &broker.addr, "--format", "native"])
        .args(["--auth-topic", "auth-json", "--partitions", "1"])
        .arg("--auth")
        .arg(d.join("json-bad.txt"))
        .output()
        .unwrap();
    common::assert_ok(&out);
    let cfg = config(
        d,
        &broker,
        "dead",
        "interval = \"2s\"",
        "[[sources]]\ntopic = \"auth-json\"\nstream = \"auth\"\nformat = \"native\"\n\n[pipeline]\nidle_timeout = \"1s\"\n",
    );
    let mut p = Pipeline::start(&cfg, "run");
    broker.wait_for("alerts", expected.len(), ALERTS_WITHIN, &mut p);
    let mut dead = broker.wait_for("dead-letters", 9, ALERTS_WITHIN, &mut p);
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert_same_alerts(&alerts_by_id(&broker), &expected, "alerts are unchanged");
    dead.sort_by_key(|r| r.offset);
    let mut reasons = vec![];
    for r in &dead {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let topic = v["topic"].as_str().unwrap();
        let (partition, offset) = (
            v["partition"].as_i64().unwrap() as i32,
            v["offset"].as_i64().unwrap(),
        );
        let original = broker
            .read(topic)
            .into_iter()
            .find(|m| m.partition == partition && m.offset == offset)
            .unwrap_or_else(|| panic!("no record at {topic}/{partition}@{offset}"));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["raw_base64"].as_str().unwrap())
            .unwrap();
        let reason = v["reason"].as_str().unwrap().to_string();
        assert_eq!(
            raw, original.payload,
            "the dead letter carries the original bytes: {v}"
        );
        if reason == "late" {
            assert!(original.payload.starts_with(b"10,svc_late@DOM1"), "{v}");
        }
        assert!(!v["detail"].as_str().unwrap().is_empty());
        reasons.push((topic.to_string(), reason));
    }
    reasons.sort();
    let want: Vec<(String, String)> = [
        ("auth", "bad_time"),
        ("auth", "late"),
        ("auth", "malformed"),
        ("auth", "too_long"),
        ("auth", "too_long"),
        ("auth-json", "bad_json"),
        ("auth-json", "too_long"),
        ("auth-json", "wrong_type"),
        ("flows", "bad_number"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(reasons, want);
}

/// A record over the broker's default message size (1.2 MB) is dead-lettered with its first
/// 512 KiB and its length, the dead-letter record stays under the producer's message limit, and
/// the records after it are processed.
#[test]
fn kafka_an_oversized_record_is_dead_lettered_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Broker::start(d);
    let huge = "x".repeat(1_200_000);
    let records = [
        r#"{"time": 100, "identity": "svc_a@CORP", "src_host": "APP-01", "dst_host": "DB-01", "outcome": "success"}"#.to_string(),
        format!(r#"{{"time": 101, "identity": "{huge}", "dst_host": "DB-01", "outcome": "success"}}"#),
        r#"{"time": 102, "identity": "svc_a@CORP", "src_host": "APP-01", "dst_host": "DB-02", "outcome": "success"}"#.to_string(),
    ];
    std::fs::write(d.join("big.jsonl"), records.join("\n") + "\n").unwrap();
    let out = common::reachwatch()
        .args(["produce", "--brokers", &broker.addr, "--format", "native"])
        .args(["--option", "message.max.bytes=4000000"])
        .args(["--auth-topic", "big", "--partitions", "1"])
        .arg("--auth")
        .arg(d.join("big.jsonl"))
        .output()
        .unwrap();
    common::assert_ok(&out);
    let published = broker.read("big");
    assert_eq!(published.len(), 3, "the broker holds the big record");
    assert!(published[1].payload.len() > 1_000_000);
    let cfg = d.join("big.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"big\"\n\n[[sources]]\ntopic = \"big\"\nstream = \"auth\"\nformat = \"native\"\n\n\
             [sinks]\nalerts_stdout = true\ndead_letter_topic = \"dead-letters\"\n\n\
             [checkpoint]\ndir = \"{}\"\ninterval = \"1s\"\n\n[pipeline]\nidle_timeout = \"1s\"\n",
            broker.addr,
            d.join("checkpoints").display()
        ),
    )
    .unwrap();
    let mut p = Pipeline::start(&cfg, "run");
    let dead = broker.wait_for("dead-letters", 1, ALERTS_WITHIN, &mut p);
    // The records around it are processed: the checkpoint comes to cover all three.
    let deadline = std::time::Instant::now() + ALERTS_WITHIN;
    loop {
        let covered = Checkpoint::read(&d.join("checkpoints"))
            .ok()
            .flatten()
            .and_then(|cp| cp.input_offset("big", 0));
        if covered == Some(3) {
            break;
        }
        p.assert_running();
        assert!(std::time::Instant::now() < deadline, "log:\n{}", p.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(
        log.contains("events=2"),
        "the two good records were processed:\n{log}"
    );
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].payload.len() < 1_000_000,
        "{} bytes",
        dead[0].payload.len()
    );
    let v: serde_json::Value = serde_json::from_slice(&dead[0].payload).unwrap();
    assert_eq!(v["reason"], "too_long");
    assert_eq!(v["offset"], 1);
    assert_eq!(
        v["length"].as_u64(),
        Some(published[1].payload.len() as u64)
    );
    let kept = base64::engine::general_purpose::STANDARD
        .decode(v["raw_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(kept.len(), 512 * 1024);
    assert_eq!(&kept[..], &published[1].payload[..kept.len()]);
}
