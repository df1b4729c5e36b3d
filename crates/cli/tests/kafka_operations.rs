//! Operating the streaming pipeline against a real broker: metrics scraped over HTTP during and
//! after a run match what was fed; `/readyz` waits for the consumer's assignment; rules reload
//! live, from a change to the rules directory and on SIGHUP, and a broken change leaves the
//! running rules in force.

mod common;
mod kafka_support;
mod scrape;

use kafka_support::{config, free_port, produce, replay_alerts, with_bad_lines, Broker, Pipeline};
use scrape::{metric, parse, try_get};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Scrapes `/metrics` until `done` holds (bounded); returns the last scrape.
fn scrape_until(
    addr: &str,
    what: &str,
    timeout: Duration,
    p: &mut Pipeline,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((200, body)) = try_get(addr, "/metrics") {
            let m = parse(&body);
            if done(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within {timeout:?}; metrics:\n{body}\nlog:\n{}",
                p.log()
            );
        } else {
            assert!(
                Instant::now() < deadline,
                "{what}: no metrics endpoint; log:\n{}",
                p.log()
            );
        }
        p.assert_running();
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The active rule set's hash as `reachwatch rules check DIR` reports it.
fn rules_hash(dir: &Path) -> String {
    let out = common::reachwatch()
        .args(["rules", "check"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit(' ').next().unwrap().to_string()
}

/// Samples of one metric family, without the family name: `{labels}` → value.
fn family(m: &BTreeMap<String, f64>, name: &str) -> BTreeMap<String, f64> {
    m.iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('{')).then(|| (rest.to_string(), *v))
        })
        .collect()
}

fn rules_info(m: &BTreeMap<String, f64>) -> Vec<String> {
    family(m, "reachwatch_rules_info").into_keys().collect()
}

fn lines(p: &Path) -> f64 {
    std::fs::read_to_string(p).unwrap().lines().count() as f64
}

const DISABLE_SPRAY: &str = "detections:\n  - id: failed-auth-spray\n    enabled: false\n    override: {enabled: replace}\n";
const DISABLE_CHAIN: &str = "detections:\n  - id: credential-switch-chain\n    enabled: false\n    override: {enabled: replace}\n";

#[test]
fn readyz_is_not_ready_until_partitions_are_assigned() {
    let dir = tempfile::tempdir().unwrap();
    // A broker address nothing listens on: the group is never joined.
    let dead = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let cfg = dir.path().join("unreachable.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka]\nbrokers = \"{dead}\"\n\n[[sources]]\ntopic = \"auth\"\nstream = \"auth\"\nformat = \"lanl\"\n\n\
             [sinks]\nalerts_stdout = true\n\n[checkpoint]\ndir = \"{}\"\n\n[metrics]\naddr = \"127.0.0.1:{port}\"\n",
            dir.path().join("ckpt").display()
        ),
    )
    .unwrap();
    let p = Pipeline::start(&cfg, "unreachable");
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_get(&addr, "/healthz").is_none() {
        assert!(Instant::now() < deadline, "no endpoint; log:\n{}", p.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(try_get(&addr, "/healthz").unwrap().0, 200);
    let mut answers = 0;
    for _ in 0..10 {
        if let Some((status, _)) = try_get(&addr, "/readyz") {
            assert_eq!(status, 503, "ready without a broker; log:\n{}", p.log());
            answers += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answers > 0, "/readyz never answered; log:\n{}", p.log());
}

#[test]
fn run_metrics_match_the_input_and_rules_reload_live() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let s = common::small_scenario();
    // Three bad records among the good ones: two authentications, one flow.
    let (auth, flows) = (dir.path().join("auth.txt"), dir.path().join("flows.txt"));
    let bad_auth = [
        (100, "not,a,valid,line".to_string()),
        (
            200,
            "abc,svc_a@DOM1,svc_a@DOM1,WS-0001,FS-01,Kerberos,Network,LogOn,Success".into(),
        ),
    ];
    std::fs::write(&auth, with_bad_lines(&s.join("auth.txt"), &bad_auth, &[])).unwrap();
    let bad_flow = [(500, "12,3,WS-0001,N1,FS-01,445,6,many,100".to_string())];
    std::fs::write(&flows, with_bad_lines(&s.join("flows.txt"), &bad_flow, &[])).unwrap();
    let expected = replay_alerts(dir.path(), &auth, &flows);
    produce(&broker, &auth, &flows, 3);
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    common::copy_rules(&rules);
    let shipped = rules_hash(&rules);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = |reload: &str| {
        config(
            dir.path(),
            &broker,
            "ops",
            "interval = \"1s\"",
            &format!(
                "rules = \"{}\"\nreload_interval = \"{reload}\"\n\n[metrics]\naddr = \"{addr}\"\n\n\
                 [pipeline]\nidle_timeout = \"1s\"\nqueue_capacity = 500\n",
                rules.display()
            ),
        )
    };
    let mut p = Pipeline::start(&cfg("1s"), "run");

    // During: events are counted as they are consumed, never more than were fed.
    let fed = lines(&auth) + lines(&flows) - 3.0;
    let ok = |m: &BTreeMap<String, f64>| {
        metric(m, "reachwatch_events_total{input=\"auth\",result=\"ok\"}")
            + metric(m, "reachwatch_events_total{input=\"flows\",result=\"ok\"}")
    };
    let during = scrape_until(
        &addr,
        "events counted",
        Duration::from_secs(120),
        &mut p,
        |m| ok(m) > 0.0,
    );
    assert!(ok(&during) <= fed);
    assert_eq!(
        try_get(&addr, "/readyz").unwrap().0,
        200,
        "consuming but not ready"
    );
    assert_eq!(rules_info(&during), [format!("{{hash=\"{shipped}\"}}")]);

    // After: every record counted, the alerts by rule equal replay's, lag 0 on all 6 partitions.
    broker.wait_for("alerts", expected.len(), Duration::from_secs(180), &mut p);
    let mut by_rule: BTreeMap<String, f64> = BTreeMap::new();
    for a in expected.values() {
        *by_rule
            .entry(a["rule"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    let after = scrape_until(
        &addr,
        "all consumed, lag 0",
        Duration::from_secs(60),
        &mut p,
        |m| {
            let lag = family(m, "reachwatch_kafka_consumer_lag_records");
            ok(m) == fed
                && lag.len() == 6
                && lag.values().all(|&v| v == 0.0)
                && family(m, "reachwatch_dead_letters_total").len() == 3
        },
    );
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for (labels, v) in family(&after, "reachwatch_alerts_total") {
        let rule = labels
            .split("rule=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        *got.entry(rule.to_string()).or_default() += v;
    }
    assert_eq!(got, by_rule, "alerts by rule");
    let dead = family(&after, "reachwatch_dead_letters_total");
    let want: BTreeMap<String, f64> = [("bad_number", 1.0), ("bad_time", 1.0), ("malformed", 1.0)]
        .iter()
        .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), *n))
        .collect();
    assert_eq!(dead, want);
    let errors = |input: &str| {
        metric(
            &after,
            &format!("reachwatch_events_total{{input=\"{input}\",result=\"decode_error\"}}"),
        )
    };
    assert_eq!((errors("auth"), errors("flows")), (2.0, 1.0));
    assert!(metric(&after, "reachwatch_checkpoint_duration_seconds_count") >= 1.0);
    assert!(metric(&after, "reachwatch_state_identities") > 0.0);
    // The lone replica owns every partition of both topics (3 each).
    assert_eq!(
        family(&after, "reachwatch_kafka_partitions_assigned"),
        [
            ("{topic=\"auth\"}".to_string(), 3.0),
            ("{topic=\"flows\"}".to_string(), 3.0)
        ]
        .into()
    );
    // LANL time is relative: the watermark has no wall-clock meaning, so the lag is absent.
    assert!(family(&after, "reachwatch_watermark_lag_seconds").is_empty());

    // A broken rule file is rejected on the next directory check; the running rules stay.
    std::fs::write(
        rules.join("90-broken.yaml"),
        "detections:\n  - id: [unclosed\n",
    )
    .unwrap();
    let m = scrape_until(
        &addr,
        "reload error",
        Duration::from_secs(30),
        &mut p,
        |m| metric(m, "reachwatch_rules_reloads_total{result=\"error\"}") == 1.0,
    );
    assert_eq!(rules_info(&m), [format!("{{hash=\"{shipped}\"}}")]);
    assert!(
        p.log().contains("running rules stay in force"),
        "{}",
        p.log()
    );

    // A valid change replaces the broken one and becomes the active rule set.
    std::fs::remove_file(rules.join("90-broken.yaml")).unwrap();
    std::fs::write(rules.join("90-local.yaml"), DISABLE_SPRAY).unwrap();
    let changed = rules_hash(&rules);
    assert_ne!(changed, shipped);
    let m = scrape_until(&addr, "reload ok", Duration::from_secs(30), &mut p, |m| {
        metric(m, "reachwatch_rules_reloads_total{result=\"ok\"}") == 1.0
    });
    assert_eq!(rules_info(&m), [format!("{{hash=\"{changed}\"}}")]);
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");

    // Restarted from its checkpoint with directory checks off: SIGHUP alone reloads.
    let mut p = Pipeline::start(&cfg("0s"), "restart");
    let m = scrape_until(
        &addr,
        "restart ready",
        Duration::from_secs(60),
        &mut p,
        |_| try_get(&addr, "/readyz").is_some_and(|r| r.0 == 200),
    );
    assert_eq!(rules_info(&m), [format!("{{hash=\"{changed}\"}}")]);
    std::fs::write(rules.join("91-local.yaml"), DISABLE_CHAIN).unwrap();
    let again = rules_hash(&rules);
    std::thread::sleep(Duration::from_secs(2));
    let m = parse(&try_get(&addr, "/metrics").unwrap().1);
    assert_eq!(
        rules_info(&m),
        [format!("{{hash=\"{changed}\"}}")],
        "reloaded without a SIGHUP"
    );
    p.signal("HUP");
    let m = scrape_until(
        &addr,
        "reload on SIGHUP",
        Duration::from_secs(30),
        &mut p,
        |m| metric(m, "reachwatch_rules_reloads_total{result=\"ok\"}") == 1.0,
    );
    assert_eq!(rules_info(&m), [format!("{{hash=\"{again}\"}}")]);
    // Nothing new was consumed: the restored state emits no alert again.
    assert!(family(&m, "reachwatch_alerts_total").is_empty());
    let (status, log) = p.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("restoring checkpoint"), "{log}");
}

#[test]
fn a_second_replica_in_the_group_is_reported_as_splitting_the_identities() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let s = common::small_scenario();
    produce(&broker, &s.join("auth.txt"), &s.join("flows.txt"), 3);
    let replica = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let extra = format!("[metrics]\naddr = \"{addr}\"\n\n[pipeline]\nidle_timeout = \"1s\"\n");
        let cfg = config(&d, &broker, "shared", "interval = \"2s\"", &extra);
        (Pipeline::start(&cfg, name), addr)
    };
    let owned = |m: &BTreeMap<String, f64>, topic: &str| {
        let key = format!("{{topic=\"{topic}\"}}");
        let n = |name| family(m, name).get(&key).copied();
        n("reachwatch_kafka_partitions_assigned").zip(n("reachwatch_kafka_partitions"))
    };
    let (mut first, first_addr) = replica("first");
    scrape_until(&first_addr, "alone: all 3 + 3", PARTS, &mut first, |m| {
        owned(m, "auth") == Some((3.0, 3.0)) && owned(m, "flows") == Some((3.0, 3.0))
    });
    let warning = "another replica in the group holds some partitions";
    assert!(!first.log().contains(warning), "{}", first.log());

    let (mut second, second_addr) = replica("second");
    // Both topics known (the partition counts are looked up every 5 s), one of them shared.
    let split = |m: &BTreeMap<String, f64>| {
        let topics = ["auth", "flows"].map(|t| owned(m, t));
        topics.iter().all(Option::is_some)
            && topics
                .iter()
                .flatten()
                .any(|&(mine, all)| mine > 0.0 && mine < all)
    };
    let a = scrape_until(&first_addr, "first: a share", PARTS, &mut first, split);
    let b = scrape_until(&second_addr, "second: a share", PARTS, &mut second, split);
    for t in ["auth", "flows"] {
        let (x, y) = (owned(&a, t).unwrap(), owned(&b, t).unwrap());
        assert_eq!(
            x.0 + y.0,
            3.0,
            "{t}: the two replicas share its 3 partitions"
        );
    }
    first.wait_for_log(warning, PARTS);
    second.wait_for_log(warning, PARTS);

    // The second leaves: the first owns everything again, and says so.
    let (status, log) = second.terminate();
    assert!(status.success(), "{log}");
    scrape_until(&first_addr, "alone again", PARTS, &mut first, |m| {
        owned(m, "auth") == Some((3.0, 3.0)) && owned(m, "flows") == Some((3.0, 3.0))
    });
    first.wait_for_log("owns every partition of its input topics again", PARTS);
}

/// Upper bound for a rebalance to settle and the next partition check (every 5 s) to see it.
const PARTS: Duration = Duration::from_secs(60);
