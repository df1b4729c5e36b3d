//! A source that lags loses nothing (against a real broker, Tansu): flows published after a
//! pause longer than the idle timeout, flows that start only after the pipeline did, and flows
//! that trail the authentications by ten minutes of event time are all merged in event time, as
//! their source's `max_delay` asks: nothing is dead-lettered and the alerts equal replay's.
//!
//! Event time is the generated scenario's own (relative LANL seconds), far faster than the wall
//! clock; so the tests publish it in rounds and let the next round go only once the pipeline has
//! received everything published so far (consumer lag 0 on every partition, scraped over HTTP).
//! No partition is then ever passed over while its records are on their way, and the declared
//! delay (fifteen minutes of wall clock) is far longer than any pause the tests make or than
//! publishing a round takes: the outcome does not depend on how fast the machine is.

mod common;
mod kafka_support;
mod scrape;

use kafka_support::{
    assert_same_alerts, by_id, config, free_port, produce, replay_alerts, Broker, Pipeline,
};
use reachwatch_checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Upper bound for the pipeline to publish a scenario's alerts.
const ALERTS_WITHIN: Duration = Duration::from_secs(180);

/// A pause longer than the pipeline's idle timeout (1 s).
const PAUSE: Duration = Duration::from_secs(3);

fn scenario() -> (PathBuf, PathBuf) {
    let s = common::small_scenario();
    (s.join("auth.txt"), s.join("flows.txt"))
}

fn time_of(line: &str) -> u64 {
    line.split(',').next().unwrap().parse().unwrap()
}

/// The lines of a LANL file with time in `[from, to)`, written to `dir/name`.
fn slice(src: &Path, from: u64, to: u64, dir: &Path, name: &str) -> PathBuf {
    let text: String = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .filter(|l| (from..to).contains(&time_of(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn last_time(src: &Path) -> u64 {
    std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .map(time_of)
        .max()
        .unwrap()
}

/// A pipeline configuration whose flows topic declares a delivery delay of fifteen minutes (far
/// longer than publishing a round takes on a slow machine), with metrics on `metrics`.
fn lagging_flows_config(dir: &Path, broker: &Broker, group: &str, metrics: &str) -> PathBuf {
    let cfg = config(
        dir,
        broker,
        group,
        "interval = \"1s\"",
        &format!(
            "[pipeline]\nidle_timeout = \"1s\"\nqueue_capacity = 500\n\n[metrics]\naddr = \"{metrics}\"\n"
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "topic = \"flows\"\nstream = \"flows\"\nformat = \"lanl\"\n",
        "topic = \"flows\"\nstream = \"flows\"\nformat = \"lanl\"\nmax_delay = \"15m\"\n",
    );
    assert!(text.contains("max_delay"), "{text}");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Waits until the pipeline has received the `published` records (counted as it receives them).
fn wait_received(metrics: &str, published: i64, p: &mut Pipeline) {
    let deadline = Instant::now() + ALERTS_WITHIN;
    loop {
        if let Some((200, body)) = scrape::try_get(metrics, "/metrics") {
            let m = scrape::parse(&body);
            let received: f64 = ["auth", "flows"]
                .iter()
                .map(|t| {
                    scrape::metric(
                        &m,
                        &format!("reachwatch_kafka_records_received_total{{topic=\"{t}\"}}"),
                    )
                })
                .sum();
            if received as i64 >= published {
                return;
            }
        }
        p.assert_running();
        assert!(
            Instant::now() < deadline,
            "records still on their way after {ALERTS_WITHIN:?}; log:\n{}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the pipeline's checkpoint covers `records` input records.
fn wait_covered(dir: &Path, records: i64, p: &mut Pipeline) {
    let deadline = Instant::now() + ALERTS_WITHIN;
    loop {
        let covered = Checkpoint::read(&dir.join("checkpoints"))
            .ok()
            .flatten()
            .map_or(0, |cp| cp.inputs.iter().map(|i| i.offset).sum::<i64>());
        if covered >= records {
            return;
        }
        p.assert_running();
        assert!(
            Instant::now() < deadline,
            "{covered} of {records} records covered; log:\n{}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn lines(p: &Path) -> i64 {
    std::fs::read_to_string(p).unwrap().lines().count() as i64
}

/// Publishes `(auth, flows)` rounds in order, then checks the run against replay of the whole.
fn run_rounds(name: &str, rounds: &[(PathBuf, PathBuf)], pause_before: &[bool]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Broker::start(d);
    let (auth, flows) = scenario();
    let expected = replay_alerts(d, &auth, &flows);
    assert!(expected.len() >= 8, "the scenario's attacks alert");
    let (first_auth, first_flows) = &rounds[0];
    produce(&broker, first_auth, first_flows, 3);
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut p = Pipeline::start(&lagging_flows_config(d, &broker, name, &metrics), "run");
    let mut published = lines(first_auth) + lines(first_flows);
    wait_received(&metrics, published, &mut p);
    for ((a, f), pause) in rounds[1..].iter().zip(&pause_before[1..]) {
        if *pause {
            std::thread::sleep(PAUSE);
        }
        produce(&broker, a, f, 3);
        published += lines(a) + lines(f);
        wait_received(&metrics, published, &mut p);
    }
    broker.wait_for("alerts", expected.len(), ALERTS_WITHIN, &mut p);
    wait_covered(d, published, &mut p);
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    let dead = broker.read("dead-letters");
    assert!(
        dead.is_empty(),
        "{} dead letters, the first: {}",
        dead.len(),
        String::from_utf8_lossy(&dead[0].payload)
    );
    let got = by_id(broker.read("alerts").iter().map(|r| r.payload.as_slice()));
    assert_same_alerts(&got, &expected, &log);
    assert!(
        log.contains("late_events=0"),
        "nothing should have been processed late:\n{log}"
    );
}

#[test]
fn kafka_a_flow_backlog_after_a_pause_is_merged_not_lost() {
    let (auth, flows) = scenario();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let end = last_time(&auth).max(last_time(&flows)) + 1;
    let cut = end - 6 * 3600;
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    // Everything up to six hours before the end first; then the last six hours of
    // authentications live; then, after a pause, the flow collector's backlog.
    let rounds = [
        (
            slice(&auth, 0, cut, d, "a0"),
            slice(&flows, 0, cut, d, "f0"),
        ),
        (slice(&auth, cut, end, d, "a1"), empty.clone()),
        (empty.clone(), slice(&flows, cut, end, d, "f1")),
    ];
    run_rounds("backlog", &rounds, &[false, false, true]);
}

#[test]
fn kafka_a_flow_source_silent_at_start_up_delivers_later() {
    let (auth, flows) = scenario();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let rounds = [(auth, empty.clone()), (empty, flows)];
    run_rounds("silent-start", &rounds, &[false, true]);
}

#[test]
fn kafka_flows_trailing_by_ten_minutes_of_event_time_are_merged_in_order() {
    let (auth, flows) = scenario();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let end = last_time(&auth).max(last_time(&flows)) + 1;
    // Rounds of a day: authentications up to the end of the day, flows up to ten minutes
    // before it (the rest of the day's flows come with the next round).
    let lag = 600;
    let day = 86_400;
    let mut rounds = vec![];
    let mut t = 0;
    while t < end {
        let next = (t + day).min(end);
        let flows_to = if next == end { end } else { next - lag };
        let flows_from = if t == 0 { 0 } else { t - lag };
        rounds.push((
            slice(&auth, t, next, d, &format!("a{t}")),
            slice(&flows, flows_from, flows_to, d, &format!("f{t}")),
        ));
        t = next;
    }
    let pauses: Vec<bool> = (0..rounds.len()).map(|i| i > 0).collect();
    run_rounds("trailing", &rounds, &pauses);
}
