//! End-to-end checks of the generated files.

mod common;

use common::{gen, lines, read};
use reachwatch_gen::{generate, read_labels, Campaign, GenConfig, CAMPAIGN_KINDS};
use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::Path;

const FILES: [&str; 5] = [
    "auth.txt",
    "flows.txt",
    "redteam.txt",
    "labels.jsonl",
    "scenario.json",
];

fn small(seed: u64) -> GenConfig {
    GenConfig {
        seed,
        days: 10,
        learn_days: 4,
        size: 0.2,
        ..GenConfig::default()
    }
}

#[test]
fn deterministic_and_seed_dependent() {
    let a = gen(&small(7));
    let b = gen(&small(7));
    for f in FILES {
        assert!(read(a.path(), f) == read(b.path(), f), "{f} differs");
    }
    let c = gen(&small(8));
    let victims = |d: &Path| -> Vec<(String, Vec<String>, Vec<String>)> {
        let mut v: Vec<_> = read_labels(&d.join("labels.jsonl"))
            .unwrap()
            .into_iter()
            .map(|c| (c.kind, c.identities, c.hosts))
            .collect();
        v.sort();
        v
    };
    assert_ne!(victims(a.path()), victims(c.path()));
    assert_ne!(read(a.path(), "auth.txt"), read(c.path(), "auth.txt"));
}

#[test]
fn files_are_sorted_and_well_formed() {
    let dir = gen(&small(3));
    let d = dir.path();
    let auth = lines(d, "auth.txt");
    let flows = lines(d, "flows.txt");
    let red = lines(d, "redteam.txt");
    assert!(!auth.is_empty() && !flows.is_empty() && !red.is_empty());
    for (name, rows, n) in [("auth", &auth, 9), ("flows", &flows, 9), ("red", &red, 4)] {
        let mut last = 0;
        for r in rows {
            assert_eq!(r.len(), n, "{name}: {r:?}");
            let t: i64 = r[0].parse().unwrap();
            assert!(t >= last && t >= 1, "{name} not sorted at {r:?}");
            last = t;
        }
    }
    for r in &auth {
        assert_eq!(r[1], r[2]);
        assert!(r[1].ends_with("@DOM1"), "{r:?}");
        assert!(["Kerberos", "NTLM", "Negotiate", "OAuth"].contains(&r[5].as_str()));
        assert!([
            "Network",
            "Interactive",
            "RemoteInteractive",
            "Service",
            "Batch"
        ]
        .contains(&r[6].as_str()));
        assert!(["LogOn", "LogOff", "TGS", "TGT"].contains(&r[7].as_str()));
        assert!(["Success", "Fail"].contains(&r[8].as_str()));
        assert!(r[3]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'));
    }
    for r in &flows {
        r[1].parse::<u32>().unwrap();
        assert!(r[3].starts_with('N'), "{r:?}");
        r[3][1..].parse::<u16>().unwrap();
        r[5].parse::<u16>().unwrap();
        assert!(r[6] == "6" || r[6] == "17", "{r:?}");
        r[7].parse::<u64>().unwrap();
        r[8].parse::<u64>().unwrap();
    }
    let fails = auth.iter().filter(|r| r[8] == "Fail").count();
    assert!(fails > 0 && fails * 100 < auth.len());
    let scenario: serde_json::Value = serde_json::from_str(&read(d, "scenario.json")).unwrap();
    assert_eq!(scenario["benign_changes"].as_array().unwrap().len(), 3);
    assert_eq!(
        scenario["summary"]["auth_events"].as_u64().unwrap(),
        auth.len() as u64
    );
}

#[test]
fn default_size_volume_per_weekday() {
    let cfg = GenConfig {
        days: 2,
        learn_days: 1,
        attacks: false,
        ..GenConfig::default()
    };
    let dir = gen(&cfg);
    let mut per_day = [0u64; 2];
    for f in ["auth.txt", "flows.txt"] {
        for l in read(dir.path(), f).lines() {
            let t: i64 = l[..l.find(',').unwrap()].parse().unwrap();
            per_day[((t - 1) / 86_400) as usize] += 1;
        }
    }
    for n in per_day {
        assert!((30_000..=60_000).contains(&n), "{per_day:?}");
    }
}

/// Every successful benign Network LogOn is followed by a flow src→dst within 0–30 s.
#[test]
fn logons_have_flows() {
    let dir = gen(&small(5));
    let d = dir.path();
    let scenario: serde_json::Value = serde_json::from_str(&read(d, "scenario.json")).unwrap();
    let gaps: Vec<(i64, i64)> = scenario["outages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["start"].as_i64().unwrap(), o["end"].as_i64().unwrap()))
        .collect();
    let mut flows: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for r in lines(d, "flows.txt") {
        flows
            .entry((r[2].clone(), r[4].clone()))
            .or_default()
            .push(r[0].parse().unwrap());
    }
    let mut checked = 0;
    for r in lines(d, "auth.txt") {
        if r[6] != "Network" || r[7] != "LogOn" || r[8] != "Success" {
            continue;
        }
        let t: i64 = r[0].parse().unwrap();
        if gaps.iter().any(|&(s, _)| t < s && t + 60 >= s) {
            continue;
        }
        let ts = flows.get(&(r[3].clone(), r[4].clone()));
        let ok = ts.is_some_and(|v| v.iter().any(|&f| f >= t && f <= t + 30));
        assert!(ok, "no flow for {r:?}");
        checked += 1;
    }
    assert!(checked > 1000);
}

fn check_labels(cfg: &GenConfig) {
    let dir = gen(cfg);
    let d = dir.path();
    let labels: Vec<Campaign> = read_labels(&d.join("labels.jsonl")).unwrap();
    assert_eq!(labels.len(), 8);
    let kinds: BTreeSet<&str> = labels.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, CAMPAIGN_KINDS.iter().copied().collect());
    let learn_end = 1 + cfg.learn_days as i64 * 86_400;
    let auth = lines(d, "auth.txt");
    let learned_flows: BTreeSet<(String, String)> = lines(d, "flows.txt")
        .into_iter()
        .filter(|r| r[0].parse::<i64>().unwrap() < learn_end)
        .map(|r| (r[2].clone(), r[4].clone()))
        .collect();
    let ids: BTreeSet<&str> = labels.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 8);
    let red_total = common::check_events(d, &labels, learn_end, &[]);
    for c in &labels {
        match c.kind.as_str() {
            "flow-only" => {
                let pairs: BTreeSet<(&str, &str)> = c
                    .events
                    .iter()
                    .map(|e| (e.src.as_str(), e.dst.as_str()))
                    .collect();
                assert!((4..=6).contains(&pairs.len()));
                assert!(c.events.iter().all(|e| e.kind == "flow"));
                assert_eq!(c.identities.len(), 1);
                assert!(c.identities[0].ends_with("$@DOM1"));
                for r in &auth {
                    assert!(!pairs.contains(&(r[3].as_str(), r[4].as_str())), "{r:?}");
                }
                for (s, t) in pairs {
                    assert!(!learned_flows.contains(&(s.to_string(), t.to_string())));
                }
            }
            "smb-fanout" => {
                let dsts: BTreeSet<&str> = c.events.iter().map(|e| e.dst.as_str()).collect();
                assert!((20..=30).contains(&dsts.len()));
                assert!(c.end - c.start <= 660);
            }
            "low-and-slow" => {
                let days: BTreeSet<i64> = c.events.iter().map(|e| (e.time - 1) / 86_400).collect();
                let n = (cfg.days - cfg.learn_days).min(4) as usize;
                assert!(days.len() >= n);
            }
            "failed-auth-spray" => {
                let rows: Vec<&Vec<String>> = auth
                    .iter()
                    .filter(|r| {
                        let t: i64 = r[0].parse().unwrap();
                        t >= c.start && t <= c.end && c.identities.contains(&r[1])
                    })
                    .filter(|r| c.hosts.contains(&r[3]) && r[3] == c.events[0].src)
                    .collect();
                let fails = rows.iter().filter(|r| r[8] == "Fail").count();
                assert!((10..=20).contains(&fails), "{fails}");
                assert_eq!(rows.last().unwrap()[8], "Success");
            }
            _ => {}
        }
    }
    assert_eq!(lines(d, "redteam.txt").len(), red_total);
}

#[test]
fn labels_small() {
    check_labels(&small(11));
}

#[test]
fn labels_default_days() {
    check_labels(&GenConfig {
        seed: 42,
        size: 0.3,
        ..GenConfig::default()
    });
}

#[test]
fn benign_changes_happen_after_learning() {
    let cfg = small(9);
    let dir = gen(&cfg);
    let d = dir.path();
    let learn_end = 1 + cfg.learn_days as i64 * 86_400;
    let auth = lines(d, "auth.txt");
    // size 0.2 has one PROD-APP host; the joining host is PROD-APP-02.
    let first = auth
        .iter()
        .find(|r| r[3] == "PROD-APP-02" || r[4] == "PROD-APP-02")
        .expect("the new host appears");
    assert!(first[0].parse::<i64>().unwrap() >= learn_end);
    let svc_to_new = auth
        .iter()
        .filter(|r| r[4] == "PROD-APP-02" && r[1] == "svc_monitor@DOM1")
        .count();
    assert!(svc_to_new > 10);
    // svc_deploy skips PROD-WEB-02 while learning, then reaches it.
    let deploy_web2: Vec<i64> = auth
        .iter()
        .filter(|r| r[1] == "svc_deploy@DOM1" && r[4] == "PROD-WEB-02")
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert!(deploy_web2.iter().all(|&t| t >= learn_end));
    let labels = read_labels(&d.join("labels.jsonl")).unwrap();
    let attacked: BTreeSet<String> = labels
        .iter()
        .flat_map(|c| c.hosts.iter().cloned())
        .collect();
    assert!(!attacked.contains("PROD-APP-02"));
}

#[test]
fn invalid_config_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        GenConfig {
            size: 0.0,
            ..GenConfig::default()
        },
        GenConfig {
            size: -1.0,
            ..GenConfig::default()
        },
        GenConfig {
            size: f64::NAN,
            ..GenConfig::default()
        },
        GenConfig {
            size: f64::INFINITY,
            ..GenConfig::default()
        },
        GenConfig {
            size: 1000.5,
            ..GenConfig::default()
        },
        GenConfig {
            days: 7,
            learn_days: 7,
            ..GenConfig::default()
        },
        GenConfig {
            learn_days: 0,
            ..GenConfig::default()
        },
        GenConfig {
            days: 0,
            attacks: false,
            ..GenConfig::default()
        },
    ];
    for cfg in bad {
        let err = generate(&cfg, dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{cfg:?}");
        assert!(!err.to_string().is_empty());
    }
    let ok = GenConfig {
        days: 1,
        learn_days: 1,
        size: 0.05,
        attacks: false,
        seed: 1,
        ..GenConfig::default()
    };
    let s = generate(&ok, dir.path()).unwrap();
    assert_eq!(s.campaigns, 0);
    assert!(s.auth_events > 0 && s.hosts > 0 && s.identities > 0);
}
