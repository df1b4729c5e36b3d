//! Metrics scraped over HTTP during and after a replay match what was fed.

mod scrape;

use scrape::{get, metric, parse};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn metrics_during_and_after_a_replay_match_the_input() {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small");
    let dir = tempfile::tempdir().unwrap();
    let auth = std::fs::read_to_string(s.join("auth.txt")).unwrap();
    let lines: Vec<&str> = auth.lines().collect();
    let flow_lines = std::fs::read_to_string(s.join("flows.txt"))
        .unwrap()
        .lines()
        .count();
    let bad = [
        "garbage",
        "1,2,3",
        "x,svc_a@D,svc_a@D,A,B,Kerberos,Network,LogOn,Success",
    ];

    let mut child = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args([
            "--log-format",
            "json",
            "replay",
            "--quiet",
            "--learn",
            "5d",
            "--auth",
            "-",
            "--flows",
        ])
        .arg(s.join("flows.txt"))
        .arg("--alerts")
        .arg(dir.path().join("alerts.jsonl"))
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-hold", "60s"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address is in the first log line.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "replay exited before serving metrics"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(a) = v["fields"]["addr"].as_str() {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/nope").0, 404);

    // Feed the first half plus the bad lines, then scrape while the replay waits for more.
    let mut stdin = child.stdin.take().unwrap();
    let half = lines.len() / 2;
    for l in &lines[..half] {
        writeln!(stdin, "{l}").unwrap();
    }
    for b in bad {
        writeln!(stdin, "{b}").unwrap();
    }
    stdin.flush().unwrap();
    let started = Instant::now();
    let during = loop {
        let m = parse(&get(&addr, "/metrics").1);
        if metric(&m, "reachwatch_events_total{input=\"auth\",result=\"ok\"}") > 0.0 {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no events counted while replaying"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(get(&addr, "/readyz").0, 200);
    let auth_ok_during = metric(
        &during,
        "reachwatch_events_total{input=\"auth\",result=\"ok\"}",
    );
    assert!(
        auth_ok_during <= half as f64,
        "{auth_ok_during} counted of {half} fed"
    );

    // Feed the rest and close: the replay finishes and keeps serving for the final scrape.
    for l in &lines[half..] {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let after = loop {
        let m = parse(&get(&addr, "/metrics").1);
        if metric(&m, "reachwatch_events_total{input=\"auth\",result=\"ok\"}") == lines.len() as f64
        {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the replay did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Give the final flush (alerts of the end of input) a moment to land, then read again.
    std::thread::sleep(Duration::from_millis(500));
    let after = {
        let m = parse(&get(&addr, "/metrics").1);
        assert!(
            metric(&m, "reachwatch_observations_total")
                >= metric(&after, "reachwatch_observations_total")
        );
        m
    };
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(
        metric(
            &after,
            "reachwatch_events_total{input=\"flows\",result=\"ok\"}"
        ),
        flow_lines as f64
    );
    assert_eq!(
        metric(
            &after,
            "reachwatch_events_total{input=\"auth\",result=\"decode_error\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &after,
            "reachwatch_dead_letters_total{reason=\"malformed\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(&after, "reachwatch_dead_letters_total{reason=\"bad_time\"}"),
        1.0
    );
    assert!(
        metric(&after, "reachwatch_observations_total")
            >= metric(&during, "reachwatch_observations_total")
    );
    let joined = metric(&after, "reachwatch_join_flows_total{result=\"joined\"}");
    let unattributed = metric(
        &after,
        "reachwatch_join_flows_total{result=\"unattributed\"}",
    );
    assert_eq!(
        joined + unattributed,
        flow_lines as f64,
        "every flow is joined or attributed"
    );

    // Alerts by rule and severity equal the alerts written.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.path().join("alerts.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let key = format!(
            "reachwatch_alerts_total{{rule=\"{}\",severity=\"{}\"}}",
            v["rule"].as_str().unwrap(),
            v["severity"].as_str().unwrap()
        );
        *expected.entry(key).or_insert(0.0) += 1.0;
    }
    assert!(expected.len() >= 5);
    let got: BTreeMap<String, f64> = after
        .iter()
        .filter(|(k, _)| k.starts_with("reachwatch_alerts_total{"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(got, expected);
    assert!(after
        .keys()
        .any(|k| k.starts_with("reachwatch_rules_info{hash=")));
    assert!(metric(&after, "reachwatch_state_edges") > 0.0);
    assert!(metric(&after, "reachwatch_processing_latency_seconds_count") > 0.0);
}
