//! Helpers shared by the generator's integration tests.
#![allow(dead_code)]

use reachwatch_gen::{generate, GenConfig};
use std::path::Path;

/// A file of a generated scenario.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// A generated CSV file, split into fields.
pub fn lines(dir: &Path, name: &str) -> Vec<Vec<String>> {
    read(dir, name)
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Generates `cfg` into a fresh temporary directory.
pub fn gen(cfg: &GenConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate(cfg, dir.path()).unwrap();
    dir
}

/// Checks that every labelled event is in the files (authentications in `auth.txt` and
/// `redteam.txt`, flows with their port in `flows.txt`), after learning, inside its campaign's
/// identities and hosts; and that every attack authentication is something its identity never
/// did while learning (same source, destination and logon type), except for campaigns of the
/// kinds in `routine_auth`. Returns the number of labelled authentications.
pub fn check_events(
    d: &Path,
    labels: &[reachwatch_gen::Campaign],
    learn_end: i64,
    routine_auth: &[&str],
) -> usize {
    use std::collections::{BTreeMap, BTreeSet};
    let auth = lines(d, "auth.txt");
    let by_key: BTreeMap<(String, String, String, String), &Vec<String>> = auth
        .iter()
        .map(|r| ((r[0].clone(), r[1].clone(), r[3].clone(), r[4].clone()), r))
        .collect();
    let red: BTreeSet<Vec<String>> = lines(d, "redteam.txt").into_iter().collect();
    let flow_keys: BTreeSet<(String, String, String, String)> = lines(d, "flows.txt")
        .into_iter()
        .map(|r| (r[0].clone(), r[2].clone(), r[4].clone(), r[5].clone()))
        .collect();
    // What each identity did during the learning period (LogOn, any logon type).
    let learned: BTreeSet<(&str, &str, &str, &str)> = auth
        .iter()
        .filter(|r| r[0].parse::<i64>().unwrap() < learn_end && r[7] == "LogOn")
        .map(|r| (r[1].as_str(), r[3].as_str(), r[4].as_str(), r[6].as_str()))
        .collect();
    let mut red_total = 0;
    for c in labels {
        assert!(c.start >= learn_end, "{} starts while learning", c.kind);
        assert!(c.start <= c.end && !c.events.is_empty());
        assert_eq!(c.start, c.events[0].time);
        for e in &c.events {
            assert!(e.time >= learn_end);
            assert!(c.identities.contains(&e.identity), "{}: {e:?}", c.kind);
            assert!(c.hosts.contains(&e.src) && c.hosts.contains(&e.dst));
            let t = e.time.to_string();
            if e.kind == "auth" {
                red_total += 1;
                let key = (t.clone(), e.identity.clone(), e.src.clone(), e.dst.clone());
                let row = by_key
                    .get(&key)
                    .unwrap_or_else(|| panic!("{}: missing auth {key:?}", c.kind));
                let red_row = vec![t, e.identity.clone(), e.src.clone(), e.dst.clone()];
                assert!(
                    red.contains(&red_row),
                    "{}: missing redteam {red_row:?}",
                    c.kind
                );
                if !routine_auth.contains(&c.kind.as_str()) {
                    let what = (
                        row[1].as_str(),
                        row[3].as_str(),
                        row[4].as_str(),
                        row[6].as_str(),
                    );
                    assert!(!learned.contains(&what), "{}: not novel {what:?}", c.kind);
                }
            } else {
                assert_eq!(e.kind, "flow");
                let port = e.port.expect("flow port").to_string();
                let key = (t, e.src.clone(), e.dst.clone(), port);
                assert!(flow_keys.contains(&key), "{}: missing flow {key:?}", c.kind);
            }
        }
    }
    red_total
}
