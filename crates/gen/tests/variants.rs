//! The generator's options: anonymised names change only the names, the flat topology carries no
//! environment in its names, and the extended campaign set has the variants, newer kinds and
//! benign changes it promises.

mod common;

use common::{gen, lines, read};
use reachwatch_gen::{
    read_labels, Campaign, CampaignSet, GenConfig, NameStyle, Topology, CAMPAIGN_KINDS,
    EXTENDED_CAMPAIGN_KINDS,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const DAY: i64 = 86_400;

fn config(seed: u64, names: NameStyle, topology: Topology, campaigns: CampaignSet) -> GenConfig {
    GenConfig {
        seed,
        size: 0.3,
        names,
        topology,
        campaigns,
        ..GenConfig::default()
    }
}

fn extended(seed: u64) -> GenConfig {
    config(
        seed,
        NameStyle::Descriptive,
        Topology::Tiered,
        CampaignSet::Extended,
    )
}

fn learn_end(cfg: &GenConfig) -> i64 {
    1 + cfg.learn_days as i64 * DAY
}

fn day_of(t: i64) -> i64 {
    (t - 1) / DAY
}

/// `s` is `prefix`, one or more digits, then `suffix`.
fn numbered(s: &str, prefix: &str, suffix: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Records `from → to` in a name mapping, failing if either side was already mapped elsewhere.
fn map_name(
    fwd: &mut BTreeMap<String, String>,
    back: &mut BTreeMap<String, String>,
    from: &str,
    to: &str,
) {
    let f = fwd
        .entry(from.to_string())
        .or_insert_with(|| to.to_string());
    assert_eq!(f, to, "{from} is written both as {f} and as {to}");
    let b = back
        .entry(to.to_string())
        .or_insert_with(|| from.to_string());
    assert_eq!(b, from, "{to} stands for both {b} and {from}");
}

/// Aligns two scenarios line by line: every field that is not a name must be equal, and names
/// must correspond one to one. Returns the mapping from `a`'s names to `b`'s.
fn aligned_names(a: &Path, b: &Path) -> BTreeMap<String, String> {
    let (mut fwd, mut back) = (BTreeMap::new(), BTreeMap::new());
    for (file, name_fields) in [
        ("auth.txt", &[1usize, 2, 3, 4][..]),
        ("flows.txt", &[2, 4][..]),
        ("redteam.txt", &[1, 2, 3][..]),
    ] {
        let (la, lb) = (lines(a, file), lines(b, file));
        assert_eq!(la.len(), lb.len(), "{file}: line counts differ");
        assert!(!la.is_empty(), "{file} is empty");
        for (ra, rb) in la.iter().zip(&lb) {
            assert_eq!(ra.len(), rb.len());
            for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
                if name_fields.contains(&i) {
                    map_name(&mut fwd, &mut back, x, y);
                } else {
                    assert_eq!(x, y, "{file}: field {i} differs in {ra:?} / {rb:?}");
                }
            }
        }
    }
    fwd
}

/// A campaign with every name passed through `map`.
fn renamed(c: &Campaign, map: &BTreeMap<String, String>) -> Campaign {
    let m = |s: &String| {
        map.get(s)
            .cloned()
            .unwrap_or_else(|| panic!("{s} never appears"))
    };
    let mut c = c.clone();
    c.identities = c.identities.iter().map(m).collect();
    c.hosts = c.hosts.iter().map(m).collect();
    for e in &mut c.events {
        e.identity = m(&e.identity);
        e.src = m(&e.src);
        e.dst = m(&e.dst);
    }
    c
}

fn is_service(name: &str) -> bool {
    name.starts_with("svc_")
        || name.starts_with("sa-")
        || name.starts_with("system:serviceaccount:")
}

/// The same seed and options with descriptive and with `style` names: same events, names one to
/// one, labels that say the same under the new names, and names of the promised shape.
fn names_only_differ(topology: Topology, campaigns: CampaignSet, style: NameStyle) {
    let desc = gen(&config(5, NameStyle::Descriptive, topology, campaigns));
    let anon = gen(&config(5, style, topology, campaigns));
    let map = aligned_names(desc.path(), anon.path());

    let la = read_labels(&desc.path().join("labels.jsonl")).unwrap();
    let lb = read_labels(&anon.path().join("labels.jsonl")).unwrap();
    assert_eq!(la.len(), lb.len());
    for (a, b) in la.iter().zip(&lb) {
        assert_eq!(&renamed(a, &map), b, "{} differs beyond its names", a.id);
    }
    let summary = |d: &Path| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&read(d, "scenario.json")).unwrap()["summary"]
            .clone()
    };
    assert_eq!(summary(desc.path()), summary(anon.path()));

    let mut host_stems: Vec<(u64, String)> = vec![];
    for (from, to) in &map {
        if let Some(principal) = from.strip_suffix("@DOM1") {
            if is_service(principal) {
                if style == NameStyle::AnonymizedAll {
                    let p = to.strip_suffix("@DOM1").unwrap();
                    assert!(is_service(p), "{from} → {to}: no longer a machine identity");
                    let generic = ["svc", "sa", "system", "serviceaccount"];
                    for word in principal.split(|c: char| !c.is_ascii_alphabetic()) {
                        if word.len() >= 3 && !generic.contains(&word) {
                            assert!(!p.contains(word), "{from} → {to}: `{word}` shows");
                        }
                    }
                } else {
                    assert_eq!(from, to, "service accounts keep their names");
                }
            } else if principal.ends_with('$') {
                assert!(numbered(to, "C", "$@DOM1"), "{from} → {to}");
            } else {
                assert!(numbered(to, "U", "@DOM1"), "{from} → {to}");
            }
        } else {
            assert!(numbered(to, "C", ""), "{from} → {to}");
            let stem = from.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
            host_stems.push((to[1..].parse().unwrap(), stem.to_string()));
        }
    }
    // Host numbers say nothing of the role: sorted by number, roles interleave (numbered by role,
    // the role would change `roles - 1` times).
    host_stems.sort();
    let roles: BTreeSet<&str> = host_stems.iter().map(|(_, s)| s.as_str()).collect();
    let changes = host_stems.windows(2).filter(|w| w[0].1 != w[1].1).count();
    assert!(
        2 * changes > 3 * roles.len(),
        "{changes} role changes over {} hosts of {} roles",
        host_stems.len(),
        roles.len()
    );
}

#[test]
fn anonymized_names_change_only_the_names() {
    names_only_differ(
        Topology::Tiered,
        CampaignSet::Classic,
        NameStyle::Anonymized,
    );
    names_only_differ(
        Topology::Tiered,
        CampaignSet::Extended,
        NameStyle::Anonymized,
    );
}

#[test]
fn fully_anonymized_names_change_only_the_names_also_of_service_accounts() {
    names_only_differ(
        Topology::Flat,
        CampaignSet::Extended,
        NameStyle::AnonymizedAll,
    );
}

#[test]
fn default_options_are_left_out_of_the_scenario_description() {
    let dir = gen(&GenConfig {
        seed: 3,
        days: 3,
        learn_days: 1,
        size: 0.1,
        ..GenConfig::default()
    });
    let v: serde_json::Value = serde_json::from_str(&read(dir.path(), "scenario.json")).unwrap();
    let mut keys: Vec<&String> = v["config"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["attacks", "days", "learn_days", "seed", "size"]);
    let labels = read(dir.path(), "labels.jsonl");
    assert!(!labels.contains("variant"), "{labels}");

    let other = gen(&config(
        3,
        NameStyle::Anonymized,
        Topology::Flat,
        CampaignSet::Extended,
    ));
    let v: serde_json::Value = serde_json::from_str(&read(other.path(), "scenario.json")).unwrap();
    assert_eq!(v["config"]["names"], "anonymized");
    assert_eq!(v["config"]["topology"], "flat");
    assert_eq!(v["config"]["campaigns"], "extended");
}

#[test]
fn flat_topology_has_no_environment_in_its_names_and_other_proportions() {
    let flat = gen(&config(
        2,
        NameStyle::Descriptive,
        Topology::Flat,
        CampaignSet::Extended,
    ));
    let tiered = gen(&extended(2));
    let hosts = |d: &Path| -> BTreeSet<String> {
        lines(d, "auth.txt")
            .into_iter()
            .flat_map(|r| [r[3].clone(), r[4].clone()])
            .collect()
    };
    let identities = |d: &Path| -> BTreeSet<String> {
        lines(d, "auth.txt")
            .into_iter()
            .map(|r| r[1].clone())
            .collect()
    };
    let (fh, th) = (hosts(flat.path()), hosts(tiered.path()));
    for h in &fh {
        for env in ["PROD", "STG", "DEV", "CI-"] {
            assert!(!h.contains(env), "{h}");
        }
    }
    assert!(th.iter().any(|h| h.starts_with("PROD-")) && th.iter().any(|h| h.starts_with("STG-")));
    for i in identities(flat.path()) {
        assert!(!i.contains("_dev") && !i.contains("prod"), "{i}");
        assert!(!i.starts_with("system:serviceaccount:"), "{i}");
    }
    assert!(identities(flat.path()).iter().any(|i| i.starts_with("sa-")));
    // Test servers are numbered with production ones: more APP hosts than production needs.
    let count =
        |set: &BTreeSet<String>, prefix: &str| set.iter().filter(|h| h.starts_with(prefix)).count();
    let (apps, dbs) = (count(&fh, "APP-"), count(&fh, "DB-"));
    assert!(
        apps > 2 * dbs,
        "{apps} application servers, {dbs} databases"
    );
    assert!(count(&fh, "PC-") > count(&th, "WS-"));
    // Both shapes carry the whole extended campaign set.
    for d in [flat.path(), tiered.path()] {
        let kinds: BTreeSet<String> = read_labels(&d.join("labels.jsonl"))
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(kinds.len(), EXTENDED_CAMPAIGN_KINDS.len());
    }
}

/// Days each identity spends in a campaign.
fn campaign_days(labels: &[Campaign]) -> BTreeMap<&str, Vec<(&str, BTreeSet<i64>)>> {
    let mut out: BTreeMap<&str, Vec<(&str, BTreeSet<i64>)>> = BTreeMap::new();
    for c in labels {
        for i in &c.identities {
            let days = c
                .events
                .iter()
                .filter(|e| &e.identity == i)
                .map(|e| day_of(e.time))
                .collect();
            out.entry(i.as_str())
                .or_default()
                .push((c.id.as_str(), days));
        }
    }
    out
}

fn check_extended_labels(cfg: &GenConfig) {
    let dir = gen(cfg);
    let d = dir.path();
    let labels = read_labels(&d.join("labels.jsonl")).unwrap();
    let kinds: BTreeSet<&str> = labels.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, EXTENDED_CAMPAIGN_KINDS.iter().copied().collect());
    for kind in CAMPAIGN_KINDS {
        let variants: BTreeSet<&str> = labels
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| {
                c.variant
                    .as_deref()
                    .expect("extended campaigns name their variant")
            })
            .collect();
        assert!(variants.len() >= 2, "{kind}: {variants:?}");
    }
    let red = common::check_events(d, &labels, learn_end(cfg), &["new-service-on-known-edge"]);
    assert_eq!(lines(d, "redteam.txt").len(), red);
    // No identity is in two campaigns on the same day: an alert cannot be credited to the wrong one.
    for (identity, spans) in campaign_days(&labels) {
        for (i, (a, da)) in spans.iter().enumerate() {
            for (b, db) in &spans[i + 1..] {
                assert!(da.is_disjoint(db), "{identity}: {a} and {b} share a day");
            }
        }
    }
}

#[test]
fn extended_labels_hold_on_both_topologies() {
    check_extended_labels(&extended(11));
    check_extended_labels(&config(
        12,
        NameStyle::Anonymized,
        Topology::Flat,
        CampaignSet::Extended,
    ));
}

/// An extended scenario with its labels and files, read once per test.
struct Scenario {
    _dir: tempfile::TempDir,
    cfg: GenConfig,
    labels: Vec<Campaign>,
    auth: Vec<Vec<String>>,
    flows: Vec<Vec<String>>,
}

impl Scenario {
    fn new(cfg: GenConfig) -> Scenario {
        let dir = gen(&cfg);
        let d = dir.path();
        Scenario {
            labels: read_labels(&d.join("labels.jsonl")).unwrap(),
            auth: lines(d, "auth.txt"),
            flows: lines(d, "flows.txt"),
            cfg,
            _dir: dir,
        }
    }

    fn of_kind(&self, kind: &str) -> Vec<&Campaign> {
        let v: Vec<&Campaign> = self.labels.iter().filter(|c| c.kind == kind).collect();
        assert!(!v.is_empty(), "no {kind} campaign");
        v
    }

    fn learning(&self, r: &[String]) -> bool {
        r[0].parse::<i64>().unwrap() < learn_end(&self.cfg)
    }

    /// The auth.txt row of a labelled authentication.
    fn auth_row(&self, e: &reachwatch_gen::CampaignEvent) -> &Vec<String> {
        self.auth
            .iter()
            .find(|r| {
                r[0] == e.time.to_string() && r[1] == e.identity && r[3] == e.src && r[4] == e.dst
            })
            .expect("labelled authentication in auth.txt")
    }
}

#[test]
fn a_computer_account_hash_is_used_from_a_workstation() {
    let s = Scenario::new(extended(21));
    for c in s.of_kind("machine-account-hash") {
        let id = &c.identities[0];
        let own = id.strip_suffix("$@DOM1").expect("a computer account");
        assert_eq!(c.identities.len(), 1);
        for e in &c.events {
            assert!(e.src.starts_with("WS-") && e.src != own, "{e:?}");
            assert_ne!(e.dst, own);
        }
        // While learning, the account only ever logged on from its own host.
        let sources: BTreeSet<&str> = s
            .auth
            .iter()
            .filter(|r| s.learning(r) && &r[1] == id)
            .map(|r| r[3].as_str())
            .collect();
        assert_eq!(sources, BTreeSet::from([own]));
        let rows: Vec<_> = c
            .events
            .iter()
            .filter(|e| e.kind == "auth")
            .map(|e| s.auth_row(e))
            .collect();
        assert!(rows.iter().all(|r| r[5] == "NTLM" && r[8] == "Success"));
    }
}

#[test]
fn a_kubernetes_token_is_used_off_cluster_towards_its_usual_databases() {
    let s = Scenario::new(extended(22));
    for c in s.of_kind("kubernetes-token-off-cluster") {
        let id = &c.identities[0];
        assert!(id.starts_with("system:serviceaccount:"), "{id}");
        let learned: Vec<&Vec<String>> = s
            .auth
            .iter()
            .filter(|r| s.learning(r) && &r[1] == id && r[7] == "LogOn")
            .collect();
        assert!(!learned.is_empty());
        assert!(learned.iter().all(|r| r[3].starts_with("PROD-K8S-")));
        let usual: BTreeSet<&str> = learned.iter().map(|r| r[4].as_str()).collect();
        for e in c.events.iter().filter(|e| e.kind == "auth") {
            assert!(e.src.starts_with("WS-"), "{e:?}");
            assert!(usual.contains(e.dst.as_str()), "{e:?}");
            assert_eq!(s.auth_row(e)[5], "OAuth");
        }
    }
}

#[test]
fn a_daily_edge_carries_a_service_it_never_carried() {
    let s = Scenario::new(extended(23));
    let campaigns = s.of_kind("new-service-on-known-edge");
    assert_eq!(campaigns.len(), 2);
    for c in campaigns {
        let auths: Vec<_> = c.events.iter().filter(|e| e.kind == "auth").collect();
        let flows: Vec<_> = c.events.iter().filter(|e| e.kind == "flow").collect();
        assert_eq!(auths.len(), 1);
        assert!(!flows.is_empty());
        let a = auths[0];
        // The authentication itself is routine: same identity, source and destination on every
        // learning day, same protocol and logon type.
        let row = s.auth_row(a);
        let days: BTreeSet<i64> = s
            .auth
            .iter()
            .filter(|r| s.learning(r) && r[1] == a.identity && r[3] == a.src && r[4] == a.dst)
            .filter(|r| r[5] == row[5] && r[6] == row[6] && r[7] == "LogOn")
            .map(|r| day_of(r[0].parse().unwrap()))
            .collect();
        assert_eq!(
            days.len() as u32,
            s.cfg.learn_days,
            "{}: {days:?}",
            a.identity
        );
        for f in flows {
            let port = f.port.unwrap();
            assert_eq!(
                (f.src.as_str(), f.dst.as_str()),
                (a.src.as_str(), a.dst.as_str())
            );
            assert!(
                (1..=10).contains(&(f.time - a.time)),
                "the join can pair them"
            );
            // The port never appeared on this edge while learning; other ports did.
            let learned_ports: BTreeSet<&str> = s
                .flows
                .iter()
                .filter(|r| s.learning(r) && r[2] == f.src && r[4] == f.dst)
                .map(|r| r[5].as_str())
                .collect();
            assert!(!learned_ports.is_empty());
            assert!(
                !learned_ports.contains(port.to_string().as_str()),
                "{learned_ports:?}"
            );
            let row = s
                .flows
                .iter()
                .find(|r| r[0] == f.time.to_string() && r[2] == f.src && r[4] == f.dst)
                .unwrap();
            assert!(
                row[8].parse::<u64>().unwrap() > 10_000_000,
                "a large transfer: {row:?}"
            );
        }
    }
}

#[test]
fn a_slow_spray_fails_at_most_once_in_any_twenty_minutes() {
    let s = Scenario::new(extended(24));
    let campaigns = s.of_kind("slow-spray");
    assert_eq!(campaigns.len(), 2);
    for c in campaigns {
        let times: Vec<i64> = c
            .events
            .iter()
            .filter(|e| e.kind == "auth")
            .map(|e| e.time)
            .collect();
        assert!(times.len() >= 10, "{} failures", times.len());
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= 20 * 60, "failures {} s apart", w[1] - w[0]);
        }
        assert!(c.end - c.start >= 4 * 3600, "spread over hours");
        let dsts: BTreeSet<&str> = c
            .events
            .iter()
            .filter(|e| e.kind == "auth")
            .map(|e| e.dst.as_str())
            .collect();
        assert_eq!(dsts.len(), times.len(), "a different server each time");
        for e in c.events.iter().filter(|e| e.kind == "auth") {
            assert_eq!(s.auth_row(e)[8], "Fail");
        }
        // Nothing else of the identity fails around it.
        let others = s
            .auth
            .iter()
            .filter(|r| r[1] == c.identities[0] && r[8] == "Fail")
            .filter(|r| {
                let t: i64 = r[0].parse().unwrap();
                t >= c.start - 3600 && t <= c.end + 3600 && !times.contains(&t)
            })
            .count();
        assert_eq!(others, 0);
    }
}

#[test]
fn extended_benign_changes_happen_and_look_like_attacks_to_a_naive_eye() {
    let s = Scenario::new(extended(25));
    let end = learn_end(&s.cfg);
    let after = |r: &Vec<String>| r[0].parse::<i64>().unwrap() >= end;
    // Benign activity: every authentication that is not part of a campaign.
    let labelled: BTreeSet<(String, &str, &str, &str)> = s
        .labels
        .iter()
        .flat_map(|c| &c.events)
        .map(|e| {
            (
                e.time.to_string(),
                e.identity.as_str(),
                e.src.as_str(),
                e.dst.as_str(),
            )
        })
        .collect();
    let benign: Vec<&Vec<String>> = s
        .auth
        .iter()
        .filter(|r| {
            !labelled.contains(&(r[0].clone(), r[1].as_str(), r[3].as_str(), r[4].as_str()))
        })
        .collect();
    let campaign_days = campaign_days(&s.labels);
    let no_campaign = |identity: &str, day: i64| {
        campaign_days
            .get(identity)
            .is_none_or(|v| v.iter().all(|(_, days)| !days.contains(&day)))
    };

    // The monitoring account moves from 5985 to 5986 on every edge on one day after learning.
    let monitor_days = |port: &str| -> BTreeSet<i64> {
        s.flows
            .iter()
            .filter(|r| r[2] == "MONITOR-01" && r[5] == port)
            .map(|r| day_of(r[0].parse().unwrap()))
            .collect()
    };
    let (old, new) = (monitor_days("5985"), monitor_days("5986"));
    let switch = *new.first().expect("5986 is used");
    assert!(switch >= s.cfg.learn_days as i64);
    assert!(old.iter().all(|&d| d < switch) && old.contains(&(switch - 1)));
    assert!(no_campaign("svc_monitor@DOM1", switch));

    // The backup account's password expires for one night: every logon that night fails.
    let backup: Vec<&Vec<String>> = benign
        .iter()
        .copied()
        .filter(|r| r[1] == "svc_backup@DOM1")
        .collect();
    let fail_days: BTreeSet<i64> = backup
        .iter()
        .filter(|r| r[8] == "Fail" && r[3] == "BACKUP-01")
        .map(|r| day_of(r[0].parse().unwrap()))
        .collect();
    assert_eq!(fail_days.len(), 1);
    let night = *fail_days.first().unwrap();
    let that_night = backup
        .iter()
        .filter(|r| day_of(r[0].parse().unwrap()) == night && r[3] == "BACKUP-01");
    assert!(that_night.clone().count() >= 5 && that_night.clone().all(|r| r[8] == "Fail"));
    assert!(backup
        .iter()
        .any(|r| day_of(r[0].parse().unwrap()) == night + 1 && r[8] == "Success"));
    assert!(no_campaign("svc_backup@DOM1", night));

    // The backup account reaches two more hosts every night from some day on (besides the new
    // server that joins).
    let learned_dsts: BTreeSet<&str> = backup
        .iter()
        .filter(|r| !after(r))
        .map(|r| r[4].as_str())
        .collect();
    let new_dsts: BTreeSet<&str> = backup
        .iter()
        .filter(|r| after(r) && r[3] == "BACKUP-01" && r[8] == "Success")
        .map(|r| r[4].as_str())
        .filter(|h| !learned_dsts.contains(h) && !h.starts_with("PROD-APP-"))
        .collect();
    assert_eq!(new_dsts.len(), 2, "{new_dsts:?}");

    // The batch account's nightly job moves to an application server.
    let batch_srcs: BTreeMap<i64, BTreeSet<&str>> = benign
        .iter()
        .filter(|r| r[1] == "svc_batch@DOM1" && r[6] == "Network" && r[7] == "LogOn")
        .fold(BTreeMap::new(), |mut m, r| {
            m.entry(day_of(r[0].parse().unwrap()))
                .or_default()
                .insert(r[3].as_str());
            m
        });
    let moved = *batch_srcs
        .iter()
        .find(|(_, srcs)| srcs.iter().any(|h| h.starts_with("PROD-APP-")))
        .expect("the job moves")
        .0;
    assert!(moved >= s.cfg.learn_days as i64);
    for (day, srcs) in &batch_srcs {
        let from_batch = srcs.iter().all(|h| h.starts_with("BATCH-"));
        let from_app = srcs.iter().all(|h| h.starts_with("PROD-APP-"));
        assert!(
            if *day < moved { from_batch } else { from_app },
            "day {day}: {srcs:?}"
        );
    }
    assert!(no_campaign("svc_batch@DOM1", moved));

    // A rotated Kubernetes token fails every 15 minutes from one node to one database.
    let k8s_fails: Vec<&Vec<String>> = benign
        .iter()
        .copied()
        .filter(|r| r[1].starts_with("system:serviceaccount:") && r[8] == "Fail")
        .collect();
    assert!(k8s_fails.len() >= 16);
    let pairs: BTreeSet<(&str, &str)> = k8s_fails
        .iter()
        .map(|r| (r[3].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(pairs.len(), 1);
    let ts: Vec<i64> = k8s_fails.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(ts
        .windows(2)
        .all(|w| (15 * 60 - 120..=15 * 60 + 120).contains(&(w[1] - w[0]))));
    assert!(no_campaign(&k8s_fails[0][1], day_of(ts[0])));

    let v: serde_json::Value = serde_json::from_str(&read(s._dir.path(), "scenario.json")).unwrap();
    assert_eq!(v["benign_changes"].as_array().unwrap().len(), 8);
}
