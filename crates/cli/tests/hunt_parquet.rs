//! `reachwatch convert` writes day-partitioned Parquet, and hunting over the Parquet copy (or a CSV
//! export) gives the same answers as hunting over the LANL source.

mod common;

use common::{reachwatch, small_scenario};
use std::collections::BTreeSet;
use std::path::Path;

/// Runs `reachwatch hunt` with `inputs` and returns the CSV result.
fn hunt_csv(inputs: &[&dyn AsRef<std::ffi::OsStr>], sql: &str) -> String {
    let out = reachwatch()
        .args(["hunt", "-q", "--output", "csv", "--sql", sql])
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const QUERIES: &[&str] = &[
    "SELECT COUNT(*) AS n, SUM(bytes) AS bytes, MIN(time) AS first, MAX(time) AS last FROM flows",
    "SELECT day, COUNT(*) AS n, COUNT(DISTINCT identity) AS ids FROM auth GROUP BY day ORDER BY day",
    "SELECT identity, COUNT(DISTINCT dst) AS hosts FROM auth WHERE outcome = 'success' AND orientation = 'logon'
     GROUP BY identity ORDER BY hosts DESC, identity LIMIT 10",
    "SELECT dst_port, COUNT(*) AS n, SUM(bytes) AS bytes FROM flows WHERE dst_port <> 0
     GROUP BY dst_port ORDER BY n DESC, dst_port LIMIT 10",
    "SELECT a.identity, COUNT(*) AS n FROM auth a JOIN flows f
       ON a.src = f.src AND a.dst = f.dst AND f.time BETWEEN a.time AND a.time + 5
     WHERE a.day >= 7 GROUP BY a.identity ORDER BY n DESC, a.identity LIMIT 5",
    "SELECT time, identity, src, dst, protocol, logon_type FROM auth
     WHERE identity LIKE 'svc_deploy%' AND day = 6 ORDER BY time, identity, src, dst LIMIT 20",
];

#[test]
fn convert_writes_day_partitions_and_hunts_agree() {
    let dir = small_scenario();
    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("pq");
    let out = reachwatch()
        .args(["convert", "--format", "lanl"])
        .arg("--auth")
        .arg(dir.join("auth.txt"))
        .arg("--flows")
        .arg(dir.join("flows.txt"))
        .arg("--out")
        .arg(&pq)
        .output()
        .unwrap();
    common::assert_ok(&out);

    // One directory per day of data, day = floor(time / 86400), counted from the raw lines.
    for (table, file) in [("auth", "auth.txt"), ("flows", "flows.txt")] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let days: BTreeSet<String> = text
            .lines()
            .map(|l| {
                let t: i64 = l.split(',').next().unwrap().parse().unwrap();
                format!("day={}", t / 86_400)
            })
            .collect();
        let found: BTreeSet<String> = std::fs::read_dir(pq.join(table))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, days, "{table}");
        assert!(pq.join(table).join("day=0/part-0.parquet").is_file());
    }

    // A second conversion into the same place is refused rather than mixed in.
    let again = reachwatch()
        .args(["convert", "--format", "lanl"])
        .arg("--auth")
        .arg(dir.join("auth.txt"))
        .arg("--out")
        .arg(&pq)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));

    let lanl: [&dyn AsRef<std::ffi::OsStr>; 6] = [
        &"--format",
        &"lanl",
        &"--auth",
        &dir.join("auth.txt"),
        &"--flows",
        &dir.join("flows.txt"),
    ];
    let parquet: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--data", &pq];
    let parquet_dirs: [&dyn AsRef<std::ffi::OsStr>; 4] =
        [&"--auth", &pq.join("auth"), &"--flows", &pq.join("flows")];
    for sql in QUERIES {
        let want = hunt_csv(&lanl, sql);
        assert!(want.lines().count() > 1, "{sql} gave no rows");
        assert_eq!(hunt_csv(&parquet, sql), want, "{sql}");
        assert_eq!(hunt_csv(&parquet_dirs, sql), want, "{sql}");
    }
    // Known values, from the raw lines.
    let flows = std::fs::read_to_string(dir.join("flows.txt")).unwrap();
    let bytes: i64 = flows
        .lines()
        .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap())
        .sum();
    let first = hunt_csv(&parquet, QUERIES[0]);
    let row: Vec<&str> = first.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], flows.lines().count().to_string());
    assert_eq!(row[1], bytes.to_string());
}

#[test]
fn csv_exports_hunt_like_the_source() {
    let dir = small_scenario();
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("flows.csv");
    let lanl: [&dyn AsRef<std::ffi::OsStr>; 4] =
        [&"--format", &"lanl", &"--flows", &dir.join("flows.txt")];
    let out = reachwatch()
        .args([
            "hunt",
            "-q",
            "--output",
            "csv",
            "--sql",
            "SELECT * FROM flows",
        ])
        .args(lanl)
        .arg("--out")
        .arg(&csv)
        .output()
        .unwrap();
    common::assert_ok(&out);
    let from_csv: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--flows", &csv];
    for sql in [QUERIES[0], QUERIES[3]] {
        assert_eq!(hunt_csv(&from_csv, sql), hunt_csv(&lanl, sql), "{sql}");
    }
    // And a Parquet result file reads back too.
    let pq = tmp.path().join("ports.parquet");
    let out = reachwatch()
        .args(["hunt", "-q", "--output", "parquet", "--sql", QUERIES[3]])
        .args(lanl)
        .arg("--out")
        .arg(&pq)
        .output()
        .unwrap();
    common::assert_ok(&out);
    assert!(Path::new(&pq).is_file());
    let back: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--flows", &pq];
    assert_eq!(
        hunt_csv(&back, "SELECT * FROM flows ORDER BY n DESC, dst_port"),
        hunt_csv(&lanl, QUERIES[3])
    );
}
