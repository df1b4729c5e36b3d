//! The reach graph saved by `replay --graph-out`, its tables in `hunt`, `graph blast-radius` and
//! `graph export`. Expected numbers come from plain counting over the raw auth.txt lines and from
//! the generator's topology (its host naming, which the shipped inventory describes), not from
//! the code under test.

mod common;

use common::{reachwatch, small_scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Environment of a generated host, from the generator's naming of tiers.
fn env_of(host: &str) -> Option<&'static str> {
    let h = host.to_ascii_lowercase();
    if h.starts_with("prod-") || h.starts_with("ci-runner-") {
        Some("production")
    } else if h.starts_with("stg-") {
        Some("staging")
    } else if h.starts_with("dev-") || h.starts_with("ci-dev-") {
        Some("development")
    } else if h.starts_with("ws-") {
        Some("corporate")
    } else if h.starts_with("dc-") || h.starts_with("backup-") || h.starts_with("jump-") {
        Some("infrastructure")
    } else {
        None
    }
}

/// Domain controllers, backup servers and production databases are the crown jewels.
fn crown_jewel(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h.starts_with("dc-") || h.starts_with("backup-") || h.starts_with("prod-db-")
}

/// Per service account: destination → (last successful logon time), from auth.txt.
fn service_account_edges() -> BTreeMap<String, BTreeMap<String, i64>> {
    let text = std::fs::read_to_string(small_scenario().join("auth.txt")).unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(',').collect();
        if f[1].starts_with("svc_") && f[7] == "LogOn" && f[8] == "Success" {
            let t: i64 = f[0].parse().unwrap();
            let last = out
                .entry(f[1].to_string())
                .or_default()
                .entry(f[4].to_string())
                .or_insert(t);
            *last = (*last).max(t);
        }
    }
    out
}

/// Identities with a successful logon into each destination, from auth.txt.
fn logons_into() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(small_scenario().join("auth.txt")).unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(',').collect();
        if f[7] == "LogOn" && f[8] == "Success" {
            out.entry(f[4].to_string())
                .or_default()
                .insert(f[1].to_string());
        }
    }
    out
}

/// Replays the small scenario, saving alerts and the graph; returns (alerts file, graph dir).
fn replay(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = small_scenario();
    let alerts = tmp.join("alerts.jsonl");
    let graph = tmp.join("graph");
    let out = reachwatch()
        .args(["replay", "--format", "lanl", "--learn", "5d", "-q"])
        .arg("--auth")
        .arg(dir.join("auth.txt"))
        .arg("--flows")
        .arg(dir.join("flows.txt"))
        .arg("--alerts")
        .arg(&alerts)
        .arg("--graph-out")
        .arg(&graph)
        .output()
        .unwrap();
    common::assert_ok(&out);
    (alerts, graph)
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = reachwatch().args(args).output().unwrap();
    common::assert_ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// CSV text → rows of fields (no quoted commas in these outputs).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn graph_tables_alerts_and_blast_radius_match_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let (alerts, graph) = replay(tmp.path());
    for t in ["edges", "identities", "destinations"] {
        assert!(graph.join(format!("{t}.parquet")).is_file(), "{t}");
    }

    // Alerts table: one row per alert line.
    let alert_lines = std::fs::read_to_string(&alerts).unwrap().lines().count();
    assert!(alert_lines > 0);
    let n = run(&[
        &"hunt",
        &"-q",
        &"--output",
        &"csv",
        &"--alerts",
        &alerts,
        &"--sql",
        &"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM alerts",
    ]);
    assert_eq!(n, format!("n,ids\n{alert_lines},{alert_lines}\n"));

    let truth = service_account_edges();
    let into = logons_into();
    assert!(truth.len() >= 5, "{:?}", truth.keys());

    // Graph tables: the service accounts' edges are exactly their successful logons.
    let edges = run(&[
        &"hunt",
        &"-q",
        &"--output",
        &"csv",
        &"--graph",
        &graph,
        &"--sql",
        &"SELECT identity, dst, last_seen, dst_identities FROM edges
          WHERE starts_with(identity, 'svc_') ORDER BY identity, dst",
    ]);
    let mut got: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in csv_rows(&edges) {
        got.entry(r[0].clone())
            .or_default()
            .insert(r[1].clone(), r[2].parse().unwrap());
    }
    assert_eq!(got, truth);
    // destinations.identities agrees with edges.
    let d = run(&[
        &"hunt",
        &"-q",
        &"--output",
        &"csv",
        &"--graph",
        &graph,
        &"--sql",
        &"SELECT COUNT(*) FROM destinations d JOIN
            (SELECT dst, COUNT(*) AS n FROM edges GROUP BY dst) e ON d.host = e.dst
          WHERE d.identities <> e.n",
    ]);
    assert_eq!(csv_rows(&d), vec![vec!["0".to_string()]]);

    // Blast radius of every machine identity, 2-day window.
    let end: i64 = csv_rows(&run(&[
        &"hunt",
        &"-q",
        &"--output",
        &"csv",
        &"--graph",
        &graph,
        &"--sql",
        &"SELECT MAX(last_seen) FROM edges",
    ]))[0][0]
        .parse()
        .unwrap();
    let window = 2 * 86_400;
    let allow = tmp.path().join("allow.yaml");
    let report = run(&[
        &"graph",
        &"blast-radius",
        &"--graph",
        &graph,
        &"--kind",
        &"machine",
        &"--window",
        &"2d",
        &"--output",
        &"csv",
        &"--allow-list",
        &allow,
    ]);
    let header = report.lines().next().unwrap();
    assert_eq!(
        header,
        "identity,kind,hosts,services,environments,crown_jewels,exclusive_edges,unused_edges"
    );
    let rows: BTreeMap<String, Vec<String>> = csv_rows(&report)
        .into_iter()
        .map(|r| (r[0].clone(), r))
        .collect();
    for (id, dsts) in &truth {
        let r = rows.get(id).unwrap_or_else(|| panic!("{id} missing"));
        let hosts = dsts.len();
        let envs: BTreeSet<&str> = dsts.keys().filter_map(|h| env_of(h)).collect();
        let jewels = dsts.keys().filter(|h| crown_jewel(h)).count();
        let unused = dsts.values().filter(|&&t| t < end - window).count();
        let only_logon = dsts.keys().filter(|h| into[*h].len() == 1).count();
        assert_eq!(r[2], hosts.to_string(), "{id} hosts");
        assert_eq!(r[4], envs.len().to_string(), "{id} environments");
        assert_eq!(r[5], jewels.to_string(), "{id} crown jewels");
        assert_eq!(r[7], unused.to_string(), "{id} unused edges");
        // Exclusive: no other identity logged on there; flows of other hosts' machine accounts
        // can only make fewer edges exclusive.
        let exclusive: usize = r[6].parse().unwrap();
        assert!(exclusive <= only_logon, "{id}: {exclusive} > {only_logon}");
    }
    // Not a vacuous comparison: service accounts reach crown jewels and leave edges unused.
    let total = |col: usize| -> i64 {
        truth
            .keys()
            .map(|id| rows[id][col].parse::<i64>().unwrap())
            .sum()
    };
    assert!(total(5) > 0 && total(7) > 0, "{report}");

    // The allow-list keeps exactly the edges used in the window.
    let yaml = std::fs::read_to_string(&allow).unwrap();
    for (id, dsts) in &truth {
        let used: Vec<&String> = dsts
            .iter()
            .filter(|&(_, &t)| t >= end - window)
            .map(|(d, _)| d)
            .collect();
        let section = yaml
            .split(&format!("  \"{id}\":\n"))
            .nth(1)
            .map(|s| s.split("\n  \"").next().unwrap_or(s))
            .unwrap_or("");
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.split("dst: \"").nth(1))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        let used: Vec<&str> = used.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed, used, "{id}");
    }

    // One identity: the summary and its exclusive/unused edges.
    let one = run(&[
        &"graph",
        &"blast-radius",
        &"svc_sql_app@dom1",
        &"--graph",
        &graph,
        &"--output",
        &"csv",
    ]);
    assert!(one.starts_with("identity,kind,hosts"), "{one}");
    assert!(one.contains("svc_sql_app@DOM1,machine,"), "{one}");
    let unknown = reachwatch()
        .args(["graph", "blast-radius", "nobody@DOM1", "--graph"])
        .arg(&graph)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn graph_exports_json_graphml_and_dot_with_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, graph) = replay(tmp.path());
    let truth = service_account_edges();
    // Production edges of service accounts with at least 5 uses... from auth.txt: every
    // successful logon of svc_sql_app goes to a production database.
    let json = run(&[
        &"graph",
        &"export",
        &"--graph",
        &graph,
        &"--format",
        &"json",
        &"--kind",
        &"machine",
        &"--env",
        &"production",
        &"--min-count",
        &"1",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edges = v["edges"].as_array().unwrap();
    let sql_edges: BTreeSet<String> = edges
        .iter()
        .filter(|e| e["source"] == "identity:svc_sql_app@DOM1")
        .map(|e| {
            e["target"]
                .as_str()
                .unwrap()
                .trim_start_matches("host:")
                .to_string()
        })
        .collect();
    let want: BTreeSet<String> = truth["svc_sql_app@DOM1"]
        .keys()
        .filter(|h| env_of(h) == Some("production"))
        .cloned()
        .collect();
    assert_eq!(sql_edges, want);
    for e in edges {
        let target = e["target"].as_str().unwrap().trim_start_matches("host:");
        assert_eq!(env_of(target), Some("production"), "{e}");
    }
    let nodes = v["nodes"].as_array().unwrap();
    assert!(nodes
        .iter()
        .all(|n| n["type"] != "identity" || n["kind"] == "machine"));

    let graphml = run(&[
        &"graph",
        &"export",
        &"--graph",
        &graph,
        &"--format",
        &"graphml",
        &"--kind",
        &"machine",
        &"--env",
        &"production",
    ]);
    assert!(graphml.starts_with("<?xml"));
    assert_eq!(graphml.matches("<edge ").count(), edges.len());
    assert_eq!(graphml.matches("<node ").count(), nodes.len());

    let dot = run(&[
        &"graph",
        &"export",
        &"--graph",
        &graph,
        &"--format",
        &"dot",
        &"--kind",
        &"machine",
        &"--env",
        &"production",
    ]);
    assert!(dot.starts_with("digraph reach {"));
    assert_eq!(dot.matches(" -> ").count(), edges.len());

    // A higher minimum count keeps fewer edges, each used at least that often.
    let busy = run(&[
        &"graph",
        &"export",
        &"--graph",
        &graph,
        &"--min-count",
        &"50",
    ]);
    let v: serde_json::Value = serde_json::from_str(&busy).unwrap();
    let busy_edges = v["edges"].as_array().unwrap();
    assert!(!busy_edges.is_empty());
    assert!(busy_edges
        .iter()
        .all(|e| e["count"].as_i64().unwrap() >= 50));
}

/// A `reachwatch run` checkpoint directory serves as the reach graph: `hunt` and `graph` give
/// the same answers from it as from the graph directory saved for the same engine state.
#[test]
fn a_run_checkpoint_directory_is_a_reach_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let (graph, ckpt) = (tmp.path().join("graph"), tmp.path().join("ckpt"));
    std::fs::create_dir(&ckpt).unwrap();
    let s = small_scenario();
    let opts = reachwatch::replay::ReplayOptions {
        format: reachwatch_formats::Format::Lanl,
        auth: Some(s.join("auth.txt")),
        flows: Some(s.join("flows.txt")),
        alerts: None,
        dead_letter: None,
        base_time: None,
        rules: common::small_config(),
        progress: None,
    };
    reachwatch::replay::replay_with_end(
        &opts,
        &reachwatch::replay::ReplayFormats::default(),
        |_| {},
        |engine| {
            reachwatch_hunt::save_graph(engine, &graph)?;
            let cp = reachwatch_checkpoint::Checkpoint {
                sequence: 1,
                created_unix_ms: 0,
                engine: engine.snapshot(),
                inputs: vec![],
                alerts: vec![],
            };
            cp.write(&ckpt)?;
            Ok(())
        },
    )
    .unwrap();
    let queries = [
        "select count(*) as edges, sum(count) as uses from edges",
        "select * from identities order by 1",
        "select * from destinations order by 1",
    ];
    for sql in queries {
        let hunt = |dir: &Path| {
            run(&[
                &"hunt",
                &"-q",
                &"--output",
                &"csv",
                &"--graph",
                &dir,
                &"--sql",
                &sql,
            ])
        };
        let from_graph = hunt(&graph);
        assert!(from_graph.lines().count() > 1, "{sql}: {from_graph}");
        assert_eq!(hunt(&ckpt), from_graph, "{sql}");
    }
    let blast = |dir: &Path| {
        run(&[
            &"graph",
            &"blast-radius",
            &"--graph",
            &dir,
            &"--output",
            &"csv",
        ])
    };
    assert_eq!(blast(&ckpt), blast(&graph));
    // Anything else is refused with a hint.
    let out = reachwatch()
        .args(["hunt", "--sql", "select 1", "--graph"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--graph-out"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
