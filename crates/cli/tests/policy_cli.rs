//! `reachwatch policy generate|check` on generated enterprises: a policy from the learning
//! period allows everything the learning period did (but the inventory's hard denies), blocks
//! the campaigns' new edges and sources, and the what-if replay's counts match a count made
//! straight from the log files. Kubernetes manifests pass the Kubernetes OpenAPI schema
//! (`kubernetes-validate`), AWS rules botocore's `AuthorizeSecurityGroupIngress` input shape,
//! nftables rules `nft -c`.

mod common;
mod policy_support;

use common::{assert_ok, reachwatch};
use policy_support::{logons, run, scenario, Scenario, DAY, LEARN_DAYS};
use reachwatch_model::IdentityKind;
use reachwatch_policy::model::{Judge, Reach, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The policy's verdict on one logon or flow, the identity classified by the built-in rules.
fn verdict(judge: &Judge, identity: &str, src: &str, dst: &str, port: u16) -> Verdict {
    let kind = reachwatch_rules::builtin().classifier().classify(identity);
    judge.judge(&Reach {
        identity,
        kind: kind.name(),
        env: None,
        src: Some(src),
        dst,
        port,
    })
}

/// Everything the learning period's logons did is allowed, or is a hard deny the inventory
/// makes; every campaign logon over a new (identity, source) or (identity, destination) of a
/// machine identity is blocked.
fn baseline_allowed_and_attack_edges_blocked(s: &Scenario) {
    let judge = Judge::new(&s.policy);
    let classifier = reachwatch_rules::builtin().classifier();
    let learning = logons(&s.learn.join("auth.txt"));
    let mut sources: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dsts: BTreeSet<(String, String)> = BTreeSet::new();
    let mut judged = 0;
    for (_, id, src, dst) in &learning {
        sources.insert((id.clone(), src.clone()));
        dsts.insert((id.clone(), dst.clone()));
        if classifier.classify(id) != IdentityKind::Machine {
            continue;
        }
        judged += 1;
        match verdict(&judge, id, src, dst, 0) {
            Verdict::Allowed => {}
            Verdict::Blocked(reachwatch_policy::model::Block::Denied(_)) => {}
            v => panic!("learning-period logon {id} {src} → {dst} is {v:?}"),
        }
    }
    assert!(
        judged > 1000,
        "only {judged} machine logons in the learning period"
    );

    let campaigns = reachwatch_gen::read_labels(&s.dir.join("labels.jsonl")).unwrap();
    let mut new_edges = 0;
    for c in &campaigns {
        for e in c.events.iter().filter(|e| e.kind == "auth") {
            if classifier.classify(&e.identity) != IdentityKind::Machine {
                continue;
            }
            // A host's own account is also used from it by its flows: not a new source.
            let own = e.identity.strip_prefix(&format!("{}$", e.src)).is_some();
            let new_source = !own && !sources.contains(&(e.identity.clone(), e.src.clone()));
            let new_dst = !dsts.contains(&(e.identity.clone(), e.dst.clone()));
            if !(new_source || (new_dst && !own)) {
                continue;
            }
            new_edges += 1;
            let v = verdict(&judge, &e.identity, &e.src, &e.dst, 0);
            assert!(
                matches!(v, Verdict::Blocked(_)),
                "campaign {} ({}) logon {} {} → {} over a new {} is {v:?}",
                c.id,
                c.kind,
                e.identity,
                e.src,
                e.dst,
                if new_source { "source" } else { "destination" }
            );
        }
    }
    assert!(
        new_edges >= 10,
        "only {new_edges} campaign logons over new edges"
    );
}

#[test]
fn descriptive_names_policy_allows_the_baseline_and_blocks_attack_edges() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), 1, "descriptive");
    baseline_allowed_and_attack_edges_blocked(&s);
    // Each identity is in exactly one grant.
    let mut seen = BTreeSet::new();
    for g in &s.policy.grants {
        for m in &g.members {
            assert!(seen.insert(m.identity.clone()), "{} twice", m.identity);
        }
    }
    assert!(
        seen.iter().any(|i| i.starts_with("svc_sql_app")),
        "{seen:?}"
    );
}

#[test]
fn anonymized_names_policy_allows_the_baseline_and_blocks_attack_edges() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), 2, "anonymized");
    // Nothing in the names: the built-in inventory matches no host, so there is no hard deny.
    assert!(s.policy.denies.is_empty(), "{:?}", s.policy.denies);
    baseline_allowed_and_attack_edges_blocked(&s);
}

/// `policy check` over the learning period itself blocks nothing but hard denies; over the
/// detection period its counts of blocked logons match a count straight from auth.txt, its days
/// add up, and it cuts most campaigns, saying why it does not cut the others.
#[test]
fn what_if_replay_counts_match_the_logs_and_campaigns_are_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), 3, "anonymized");
    let json = tmp.path().join("learn-report.json");
    run(&[
        &"policy",
        &"check",
        &"--policy",
        &s.policy_file,
        &"--auth",
        &s.learn.join("auth.txt"),
        &"--flows",
        &s.learn.join("flows.txt"),
        &"--from",
        &"0",
        &"--report-json",
        &json,
    ]);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        r["counts"]["blocked"], 0,
        "learning period: {:#}",
        r["blocked"]
    );
    assert!(r["counts"]["judged"].as_u64().unwrap() > 10_000);

    let alerts = tmp.path().join("alerts.jsonl");
    run(&[
        &"replay",
        &"-q",
        &"--learn",
        &"7d",
        &"--auth",
        &s.dir.join("auth.txt"),
        &"--flows",
        &s.dir.join("flows.txt"),
        &"--alerts",
        &alerts,
    ]);
    let json = tmp.path().join("report.json");
    let text = run(&[
        &"policy",
        &"check",
        &"--policy",
        &s.policy_file,
        &"--auth",
        &s.dir.join("auth.txt"),
        &"--flows",
        &s.dir.join("flows.txt"),
        &"--labels",
        &s.dir.join("labels.jsonl"),
        &"--alerts",
        &alerts,
        &"--report-json",
        &json,
    ]);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();

    // Every alert is judged; one that reports a first use from a new source is cut.
    let alert_lines = std::fs::read_to_string(&alerts).unwrap();
    let judged = r["alerts"].as_array().unwrap();
    assert_eq!(judged.len(), alert_lines.lines().count());
    for (a, line) in judged.iter().zip(alert_lines.lines()) {
        let alert: serde_json::Value = serde_json::from_str(line).unwrap();
        if alert["rule"] == "new-source" {
            assert_eq!(a["cut"], true, "{a:#}");
        }
    }

    // Blocked logons, counted straight from the log: machine identities' successful logons
    // after the policy's evidence ends.
    let judge = Judge::new(&s.policy);
    let from = s.policy.generated.to + 1;
    let mut blocked_auth = 0u64;
    let mut blocked_per_day: BTreeMap<i64, u64> = BTreeMap::new();
    for (t, id, src, dst) in logons(&s.dir.join("auth.txt")) {
        if t < from {
            continue;
        }
        if let Verdict::Blocked(_) = verdict(&judge, &id, &src, &dst, 0) {
            blocked_auth += 1;
            *blocked_per_day.entry(t / DAY).or_default() += 1;
        }
    }
    assert!(blocked_auth > 0);
    assert_eq!(r["counts"]["blocked_auth"].as_u64().unwrap(), blocked_auth);
    let c = &r["counts"];
    assert_eq!(
        c["blocked"].as_u64().unwrap(),
        c["blocked_auth"].as_u64().unwrap() + c["blocked_flows"].as_u64().unwrap()
    );
    assert_eq!(
        c["judged"].as_u64().unwrap(),
        c["allowed"].as_u64().unwrap() + c["blocked"].as_u64().unwrap()
    );
    let days = r["days"].as_array().unwrap();
    let sum: u64 = days.iter().map(|d| d["blocked"].as_u64().unwrap()).sum();
    assert_eq!(sum, c["blocked"].as_u64().unwrap());
    for d in days {
        let day = d["day"].as_i64().unwrap();
        assert!(
            day >= LEARN_DAYS,
            "day {day} judged before the policy's end"
        );
        let logons = blocked_per_day.get(&day).copied().unwrap_or(0);
        assert!(
            d["blocked"].as_u64().unwrap() >= logons,
            "day {day}: fewer blocked events than blocked logons"
        );
    }
    let paths_events: u64 = r["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["events"].as_u64().unwrap())
        .sum();
    assert_eq!(paths_events, c["blocked"].as_u64().unwrap());

    // Campaigns: most cut; every one not cut says why.
    let campaigns = r["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 8);
    let cut: Vec<&str> = campaigns
        .iter()
        .filter(|c| c["cut"] == true)
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert!(cut.len() >= 5, "cut only {cut:?}\n{text}");
    for k in [
        "stolen-service-credential",
        "smb-fanout",
        "credential-switch-chain",
    ] {
        assert!(cut.contains(&k), "{k} not cut: {cut:?}\n{text}");
    }
    for c in campaigns.iter().filter(|c| c["cut"] == false) {
        assert!(!c["why"].as_str().unwrap().is_empty());
    }
    assert!(text.contains("blocked events per day"), "{text}");
    assert!(text.contains("campaign paths:"), "{text}");
}

fn hosts_file(s: &Scenario, path: &Path) -> BTreeMap<String, String> {
    let mut hosts = BTreeSet::new();
    for (_, _, src, dst) in logons(&s.dir.join("auth.txt")) {
        hosts.insert(src);
        hosts.insert(dst);
    }
    let map: BTreeMap<String, String> = hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| (h, format!("10.20.{}.{}", i / 200, i % 200 + 1)))
        .collect();
    let text: String = map.iter().map(|(h, ip)| format!("{ip},{h}\n")).collect();
    std::fs::write(path, text).unwrap();
    map
}

/// The Kubernetes manifests pass `kubernetes-validate --strict` (the Kubernetes OpenAPI schema;
/// scripts/test installs it), the AWS rules botocore's input shape of
/// AuthorizeSecurityGroupIngress, the nftables rulesets `nft -c`.
#[test]
fn network_formats_pass_their_validators() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(tmp.path(), 1, "descriptive");
    let hosts = tmp.path().join("hosts.csv");
    let addresses = hosts_file(&s, &hosts);
    let gen = |format: &str, out: &Path| {
        run(&[
            &"policy",
            &"generate",
            &"--graph",
            &s.graph,
            &"--format",
            &format,
            &"--hosts",
            &hosts,
            &"--out",
            &out,
        ]);
    };

    let np = tmp.path().join("networkpolicy.yaml");
    gen("kubernetes", &np);
    let text = std::fs::read_to_string(&np).unwrap();
    assert!(
        text.contains("kind: NetworkPolicy") && text.contains("ipBlock"),
        "{text}"
    );
    assert!(text.contains("namespace: \"payments\""), "{text}");
    let out = std::process::Command::new("kubernetes-validate")
        .args(["--strict"])
        .arg(&np)
        .output()
        .expect("kubernetes-validate (pip install kubernetes-validate; scripts/test installs it)");
    assert_ok(&out);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("passed for resource networkpolicy/"), "{log}");

    let cilium = tmp.path().join("cilium.yaml");
    gen("cilium", &cilium);
    let text = std::fs::read_to_string(&cilium).unwrap();
    assert!(
        text.contains("kind: CiliumNetworkPolicy") && text.contains("toCIDR"),
        "{text}"
    );
    assert!(
        text.contains("io.cilium.k8s.policy.serviceaccount"),
        "{text}"
    );

    let aws = tmp.path().join("aws.json");
    gen("aws", &aws);
    let rules: serde_json::Value = serde_json::from_slice(&std::fs::read(&aws).unwrap()).unwrap();
    let dc = rules
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("DC-"))
        .cloned();
    let dc = dc.expect("a rule set for the domain controller");
    let ip_of_a_source = rules[&dc]["IpPermissions"][0]["IpRanges"][0]["CidrIp"]
        .as_str()
        .unwrap()
        .trim_end_matches("/32")
        .to_string();
    assert!(addresses.values().any(|ip| *ip == ip_of_a_source));
    let script = r#"
import json, sys
import botocore.session, botocore.validate
model = botocore.session.get_session().get_service_model("ec2")
shape = model.operation_model("AuthorizeSecurityGroupIngress").input_shape
rules = json.load(open(sys.argv[1]))
for host, params in rules.items():
    botocore.validate.validate_parameters(params, shape)
print("validated", len(rules))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&aws)
        .output()
        .expect("python3 with botocore (scripts/test installs it)");
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("validated"));

    let nft = tmp.path().join("nft");
    gen("nftables", &nft);
    let mut files = 0;
    for e in std::fs::read_dir(&nft).unwrap() {
        let p = e.unwrap().path();
        let out = std::process::Command::new("nft")
            .arg("-c")
            .arg("-f")
            .arg(&p)
            .output()
            .expect("nft (Debian's nftables; scripts/test installs it)");
        assert_ok(&out);
        files += 1;
    }
    assert!(files > 5, "{files} nftables rulesets");
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let out = reachwatch().args(args).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let missing = tmp.path().join("no-such-graph");
    let e = fail(&[&"policy", &"generate", &"--graph", &missing]);
    assert!(e.contains("is not a reach graph directory"), "{e}");
    let e = fail(&[
        &"policy",
        &"generate",
        &"--graph",
        &missing,
        &"--format",
        &"iptables",
    ]);
    assert!(
        e.contains("invalid value 'iptables'") && e.contains("nftables"),
        "{e}"
    );
    let e = fail(&[&"policy", &"generate"]);
    assert!(e.contains("--graph"), "{e}");

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "reachwatch_policy: 1\ngenerated: {graph: g, window_seconds: 1, from: 0, to: 1}\nscope: {kind: machine}\ngrants:\n  - name: x\n    members: [{identity: a, sources: []}]\n    allow: [{dst: b, ports: [70000], first_seen: 0, last_seen: 0, count: 1}]\n",
    )
    .unwrap();
    let e = fail(&[&"policy", &"check", &"--policy", &bad, &"--auth", &bad]);
    assert!(
        e.contains("bad.yaml is not a valid reachwatch policy") && e.contains("line 7"),
        "{e}"
    );
    let e = fail(&[&"policy", &"check", &"--policy", &missing, &"--auth", &bad]);
    assert!(e.contains("cannot read the policy file"), "{e}");
    let e = fail(&[&"policy", &"check", &"--policy", &bad]);
    assert!(e.contains("nothing to replay"), "{e}");
}
