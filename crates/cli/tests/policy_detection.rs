//! The least-reach policy as a detection: `replay --policy` with a policy generated from a
//! generated enterprise's learning period reports `policy-violation` alerts whose every step is
//! outside the policy, one covering every campaign logon that leaves it, and leaves the
//! behavioural alerts as they are without a policy. `run --check-config` reads `engine.policy`.
//! What is outside the policy is computed here from the policy file's grants and denies and the
//! log lines, not by the policy crate's judge.

mod common;
mod policy_support;

use common::{assert_ok, reachwatch};
use policy_support::{logons, scenario, DAY, LEARN_DAYS};
use reachwatch_model::{Alert, IdentityKind};
use reachwatch_policy::Policy;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Longest an incident keeps absorbing matches after it opened (the engine's `MAX_INCIDENT`).
const MAX_INCIDENT: i64 = 6 * 3600;

/// Replays a scenario, with a policy or without; the alerts.
fn replay(tmp: &Path, dir: &Path, policy: Option<&Path>, name: &str) -> Vec<Alert> {
    let alerts = tmp.join(format!("{name}.jsonl"));
    let mut cmd = reachwatch();
    cmd.args(["replay", "-q", "--auth"])
        .arg(dir.join("auth.txt"))
        .arg("--flows")
        .arg(dir.join("flows.txt"))
        .arg("--alerts")
        .arg(&alerts);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    assert_ok(&cmd.output().unwrap());
    std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Destination → allowed ports.
type Destinations = HashMap<String, BTreeSet<u16>>;

/// The policy file's allows and denies, lowercased, as plain sets.
struct Allowed {
    kind: Option<String>,
    /// identity → (sources, destination → ports).
    grants: HashMap<String, (BTreeSet<String>, Destinations)>,
    /// (identity, source or every source, destination).
    denies: Vec<(String, Option<String>, String)>,
}

impl Allowed {
    fn of(p: &Policy) -> Allowed {
        assert!(
            p.scope.envs.is_empty() && p.scope.identities.is_empty(),
            "the generated policy's scope is by kind only"
        );
        let lc = |s: &String| s.to_lowercase();
        let mut grants = HashMap::new();
        for g in &p.grants {
            let allows: Destinations = g
                .allow
                .iter()
                .map(|a| (lc(&a.dst), a.ports.iter().copied().collect()))
                .collect();
            for m in &g.members {
                let sources = m.sources.iter().map(lc).collect();
                grants.insert(lc(&m.identity), (sources, allows.clone()));
            }
        }
        Allowed {
            kind: p.scope.kind.clone(),
            grants,
            denies: p
                .denies
                .iter()
                .map(|d| (lc(&d.identity), d.src.as_ref().map(lc), lc(&d.dst)))
                .collect(),
        }
    }

    /// `None` when the identity is outside the policy's scope; else whether the reach (port 0
    /// for a logon) is outside the policy.
    fn outside(&self, identity: &str, src: &str, dst: &str, port: u16) -> Option<bool> {
        let (id, src, dst) = (
            identity.to_lowercase(),
            src.to_lowercase(),
            dst.to_lowercase(),
        );
        let kind = reachwatch_rules::builtin().classifier().classify(identity);
        let kind_in = self.kind.as_deref().is_none_or(|k| kind.name() == k);
        if !kind_in && !self.grants.contains_key(&id) {
            return None;
        }
        let denied = self
            .denies
            .iter()
            .any(|(i, s, d)| *i == id && *d == dst && s.as_ref().is_none_or(|s| *s == src));
        let allowed = self.grants.get(&id).is_some_and(|(sources, allows)| {
            sources.contains(&src)
                && allows
                    .get(&dst)
                    .is_some_and(|ports| port == 0 || ports.contains(&port))
        });
        Some(denied || !allowed)
    }
}

fn policy_alerts_match_the_policy(seed: u64, names: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), seed, names);
    let (dir, policy_file) = (&s.dir, &s.policy_file);
    let allowed = Allowed::of(&s.policy);
    let with = replay(tmp.path(), dir, Some(policy_file), "with-policy");
    let without = replay(tmp.path(), dir, None, "without-policy");

    // Behavioural alerts are untouched by the policy.
    let behavioural = |alerts: &[Alert]| -> Vec<String> {
        let mut ids: Vec<String> = alerts
            .iter()
            .filter(|a| a.rule != "policy-violation")
            .map(|a| format!("{} {} {}", a.id, a.rule, a.score))
            .collect();
        ids.sort();
        ids
    };
    assert!(!behavioural(&without).is_empty());
    assert_eq!(behavioural(&with), behavioural(&without));
    assert!(without.iter().all(|a| a.rule != "policy-violation"));

    // Every step of every policy alert is outside the policy.
    let violations: Vec<&Alert> = with
        .iter()
        .filter(|a| a.rule == "policy-violation")
        .collect();
    assert!(!violations.is_empty(), "no policy-violation alert");
    for a in &violations {
        assert!(
            a.evidence
                .features
                .iter()
                .any(|f| f.name == "outside_policy"),
            "{a:?}"
        );
        assert!(
            a.time.0 >= (LEARN_DAYS * DAY) as f64,
            "alert in learning: {a:?}"
        );
        for s in &a.evidence.observations {
            let port = match s.via.as_str() {
                "auth" => 0,
                _ => s.service.as_deref().unwrap().parse().unwrap(),
            };
            let src = s.src.as_deref().unwrap_or("");
            assert_eq!(
                allowed.outside(&s.identity, src, &s.dst, port),
                Some(true),
                "alert {} step {} {src} → {} port {port} is inside the policy or out of its scope",
                a.id,
                s.identity,
                s.dst
            );
        }
    }

    // Every campaign logon that leaves the policy is covered by a policy alert of its identity
    // opened at most an incident's span before it.
    let logged: BTreeSet<_> = logons(&dir.join("auth.txt")).into_iter().collect();
    let campaigns = reachwatch_gen::read_labels(&dir.join("labels.jsonl")).unwrap();
    let (mut outside, mut inside) = (0, 0);
    for c in &campaigns {
        for e in c.events.iter().filter(|e| e.kind == "auth") {
            let key = (e.time, e.identity.clone(), e.src.clone(), e.dst.clone());
            if e.time < LEARN_DAYS * DAY + 3600 || !logged.contains(&key) {
                continue;
            }
            match allowed.outside(&e.identity, &e.src, &e.dst, 0) {
                Some(true) => outside += 1,
                Some(false) => {
                    inside += 1;
                    continue;
                }
                None => continue,
            }
            let covered = violations.iter().any(|a| {
                a.identity.eq_ignore_ascii_case(&e.identity)
                    && a.time.0 <= e.time as f64
                    && e.time as f64 <= a.time.0 + MAX_INCIDENT as f64
            });
            assert!(
                covered,
                "campaign {} ({}) logon {} {} → {} at {} leaves the policy and no policy alert covers it",
                c.id, c.kind, e.identity, e.src, e.dst, e.time
            );
        }
    }
    assert!(
        outside >= 5,
        "only {outside} campaign logons leave the policy"
    );
    eprintln!(
        "seed {seed} {names}: {} policy alerts; campaign logons outside the policy {outside}, inside {inside}",
        violations.len()
    );
    let machine = reachwatch_rules::builtin()
        .classifier()
        .classify(&violations[0].identity);
    assert_ne!(machine, IdentityKind::Human);
}

#[test]
fn descriptive_names_policy_violations_are_reach_outside_the_policy() {
    policy_alerts_match_the_policy(11, "descriptive");
}

#[test]
fn anonymized_names_policy_violations_are_reach_outside_the_policy() {
    policy_alerts_match_the_policy(12, "anonymized");
}

/// `run --check-config` loads `engine.policy` and refuses a broken one, naming the key.
#[test]
fn run_reads_engine_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "reachwatch_policy: 1\n\
         generated: {graph: g, window_seconds: 86400, from: 0, to: 86400}\n\
         scope: {kind: machine, envs: [], identities: []}\n\
         grants:\n\
         \x20 - name: svc_a\n\
         \x20   members:\n\
         \x20     - {identity: svc_a, sources: [A]}\n\
         \x20     - {identity: svc_b, sources: [B]}\n\
         \x20   allow:\n\
         \x20     - {dst: DB, ports: [1433], first_seen: 0, last_seen: 9, count: 3}\n\
         denies: []\n",
    )
    .unwrap();
    let config = |policy: &Path| {
        let path = tmp.path().join("reachwatch.toml");
        std::fs::write(
            &path,
            format!(
                "[kafka]\nbrokers = \"127.0.0.1:9\"\ngroup_id = \"g\"\n\
                 [[sources]]\ntopic = \"auth\"\nstream = \"auth\"\nformat = \"lanl\"\n\
                 [sinks]\nalerts_stdout = true\n[checkpoint]\ndir = \"{}\"\n\
                 [engine]\npolicy = \"{}\"\n",
                tmp.path().join("ck").display(),
                policy.display()
            ),
        )
        .unwrap();
        reachwatch()
            .args(["run", "--check-config", "--config"])
            .arg(&path)
            .env_remove("REACHWATCH_BROKERS")
            .output()
            .unwrap()
    };
    let out = config(&policy);
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("policy: 1 grants for 2 identities, 0 hard denies"),
        "{stdout}"
    );
    std::fs::write(&policy, "reachwatch_policy: 1\nbogus: 2\n").unwrap();
    let out = config(&policy);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("engine.policy") && stderr.contains("bogus"),
        "{stderr}"
    );
}
