//! `reachwatch hunt`: SQL over the committed small scenario, every answer checked against plain
//! Rust counting over the raw LANL lines (not against the decoders or DataFusion).

mod common;

use common::{reachwatch, small_scenario};
use reachwatch_formats::Format;
use reachwatch_hunt::blast::{ints, strings};
use reachwatch_hunt::{Hunt, InputFormat};
use std::collections::{BTreeMap, BTreeSet};

/// auth.txt lines split into their 9 fields.
fn auth_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(small_scenario().join("auth.txt")).unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn flow_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(small_scenario().join("flows.txt")).unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn session() -> Hunt {
    let dir = small_scenario();
    let mut hunt = Hunt::new().unwrap();
    let stats = hunt
        .register_logs(
            &[dir.join("auth.txt")],
            &[dir.join("flows.txt")],
            InputFormat::Log(Format::Lanl),
        )
        .unwrap();
    assert_eq!(stats.rejected_total(), 0, "{:?}", stats.rejected);
    hunt
}

/// Runs a query; every column as text (integers printed), row by row.
fn rows(hunt: &Hunt, sql: &str) -> Vec<Vec<String>> {
    let (_, batches) = hunt.query(sql).unwrap();
    let mut out = vec![];
    for b in &batches {
        let cols: Vec<Vec<Option<String>>> = (0..b.num_columns())
            .map(|c| strings(b, c).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| c[r].clone().unwrap_or_else(|| "NULL".into()))
                    .collect(),
            );
        }
    }
    out
}

fn one_int(hunt: &Hunt, sql: &str) -> i64 {
    let (_, batches) = hunt.query(sql).unwrap();
    ints(&batches[0], 0).unwrap()[0].unwrap()
}

#[test]
fn row_counts_and_sums_match_the_raw_lines() {
    let hunt = session();
    let auth = auth_rows();
    let flows = flow_rows();
    assert_eq!(auth.len(), 26_711);
    assert_eq!(
        one_int(&hunt, "SELECT COUNT(*) FROM auth"),
        auth.len() as i64
    );
    assert_eq!(
        one_int(&hunt, "SELECT COUNT(*) FROM flows"),
        flows.len() as i64
    );
    let bytes: i64 = flows.iter().map(|f| f[8].parse::<i64>().unwrap()).sum();
    assert_eq!(one_int(&hunt, "SELECT SUM(bytes) FROM flows"), bytes);
    let failures = auth.iter().filter(|a| a[8] == "Fail").count() as i64;
    assert_eq!(failures, 15);
    assert_eq!(
        one_int(&hunt, "SELECT COUNT(*) FROM auth WHERE outcome = 'failure'"),
        failures
    );
    let udp = flows.iter().filter(|f| f[6] == "17").count() as i64;
    assert_eq!(
        one_int(&hunt, "SELECT COUNT(*) FROM flows WHERE protocol = 17"),
        udp
    );
}

#[test]
fn group_by_answers_match_plain_counting() {
    let hunt = session();
    let auth = auth_rows();
    // Distinct destinations of successful logons per identity, top 5.
    let mut reach: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in &auth {
        if a[7] == "LogOn" && a[8] == "Success" {
            reach.entry(&a[1]).or_default().insert(&a[4]);
        }
    }
    let mut expected: Vec<(usize, &str)> = reach.iter().map(|(id, d)| (d.len(), *id)).collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let expected: Vec<Vec<String>> = expected[..5]
        .iter()
        .map(|(n, id)| vec![id.to_string(), n.to_string()])
        .collect();
    let got = rows(
        &hunt,
        "SELECT identity, COUNT(DISTINCT dst) AS n FROM auth
         WHERE orientation = 'logon' AND outcome = 'success'
         GROUP BY identity ORDER BY n DESC, identity LIMIT 5",
    );
    assert_eq!(got, expected);

    // Events per day.
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for a in &auth {
        *per_day
            .entry(a[0].parse::<i64>().unwrap() / 86_400)
            .or_default() += 1;
    }
    let expected: Vec<Vec<String>> = per_day
        .iter()
        .map(|(d, n)| vec![d.to_string(), n.to_string()])
        .collect();
    assert_eq!(expected.len(), 10);
    let got = rows(
        &hunt,
        "SELECT day, COUNT(*) FROM auth GROUP BY day ORDER BY day",
    );
    assert_eq!(got, expected);

    // A specific value: svc_batch's successful logons and its sources.
    let batch: Vec<&Vec<String>> = auth
        .iter()
        .filter(|a| a[1] == "svc_batch@DOM1" && a[7] == "LogOn" && a[8] == "Success")
        .collect();
    let sources: BTreeSet<&str> = batch.iter().map(|a| a[3].as_str()).collect();
    let got = rows(
        &hunt,
        "SELECT COUNT(*), COUNT(DISTINCT src), MIN(time), MAX(time) FROM auth
         WHERE identity = 'svc_batch@DOM1' AND orientation = 'logon' AND outcome = 'success'",
    );
    let times: Vec<i64> = batch.iter().map(|a| a[0].parse().unwrap()).collect();
    assert_eq!(
        got,
        vec![vec![
            batch.len().to_string(),
            sources.len().to_string(),
            times.iter().min().unwrap().to_string(),
            times.iter().max().unwrap().to_string(),
        ]]
    );

    // Machine identities by the default classification: `HOST$`, `svc_*`, Kubernetes service accounts.
    let machines: BTreeSet<&str> = auth
        .iter()
        .map(|a| a[1].as_str())
        .filter(|id| {
            let p = id.rsplit_once('@').map_or(*id, |(p, _)| p);
            p.ends_with('$') || p.starts_with("svc_") || p.starts_with("system:serviceaccount:")
        })
        .collect();
    assert_eq!(
        one_int(
            &hunt,
            "SELECT COUNT(DISTINCT identity) FROM auth WHERE identity_kind = 'machine'"
        ),
        machines.len() as i64
    );
}

#[test]
fn cli_writes_csv_and_json_lines() {
    let dir = small_scenario();
    let base = |sql: &str, output: &str| {
        let out = reachwatch()
            .args([
                "hunt", "--format", "lanl", "--output", output, "-q", "--sql", sql,
            ])
            .arg("--auth")
            .arg(dir.join("auth.txt"))
            .output()
            .unwrap();
        common::assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let sql = "SELECT outcome, COUNT(*) AS n FROM auth GROUP BY outcome ORDER BY outcome";
    assert_eq!(base(sql, "csv"), "outcome,n\nfailure,15\nsuccess,26696\n");
    assert_eq!(
        base(sql, "jsonl"),
        "{\"outcome\":\"failure\",\"n\":15}\n{\"outcome\":\"success\",\"n\":26696}\n"
    );
    let table = base(sql, "table");
    assert!(table.contains("| success | 26696 |"), "{table}");
}

#[test]
fn bad_sql_and_unknown_tables_exit_2_with_datafusion_message() {
    let dir = small_scenario();
    let run = |sql: &str| {
        reachwatch()
            .args(["hunt", "--format", "lanl", "-q", "--sql", sql])
            .arg("--auth")
            .arg(dir.join("auth.txt"))
            .arg("--flows")
            .arg(dir.join("flows.txt"))
            .output()
            .unwrap()
    };
    let out = run("SELEC identity FROM auth");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SQL error"), "{err}");

    let out = run("SELECT * FROM logons");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("logons"), "{err}");
    assert!(err.contains("tables: auth, flows"), "{err}");

    let out = run("SELECT nosuchcolumn FROM auth");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchcolumn"));
}

#[test]
fn prompt_runs_statements_from_standard_input() {
    use std::io::Write;
    let dir = small_scenario();
    let mut child = reachwatch()
        .args(["hunt", "--format", "lanl", "-q", "--output", "csv"])
        .arg("--auth")
        .arg(dir.join("auth.txt"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b".tables\nSELECT COUNT(*) AS n\n  FROM auth\n  WHERE outcome = 'failure';\n.quit\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    common::assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("auth\t"), "{text}");
    assert!(text.ends_with("n\n15\n"), "{text}");
}
