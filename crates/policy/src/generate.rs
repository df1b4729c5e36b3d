//! From the reach graph to a least-reach policy: per identity in scope, the sources it was used
//! from and the (destination, ports) it used in the window, with evidence; identities with
//! identical reach share a grant. The inventory's environments and forbidden zones are hard
//! denies: a seen non-production → production path becomes a [`Deny`], never an allow.

use crate::graph::{Edge, Identity, ReachMap};
use crate::model::{Allow, Deny, Generated, Grant, Member, Policy, Scope, POLICY_VERSION};
use reachwatch_rules::Inventory;
use std::collections::BTreeMap;

/// What to generate a policy for.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Only edges used within this many seconds before the graph's last activity.
    pub window_seconds: i64,
    /// Identity kind (`None`: every kind).
    pub kind: Option<String>,
    /// Only identities of these environments (empty: any).
    pub envs: Vec<String>,
    /// Only these identities (empty: any). A listed identity is in scope whatever its kind and
    /// environment, as the policy's judge sees it.
    pub identities: Vec<String>,
    /// The graph's location, recorded in the policy.
    pub graph: String,
}

/// Builds the policy.
pub fn generate(map: &ReachMap, inventory: &Inventory, opts: &GenerateOptions) -> Policy {
    let cutoff = map.last_time() - opts.window_seconds.max(0);
    let mut edges_of: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
    for e in map.edges.iter().filter(|e| e.last_seen >= cutoff) {
        edges_of.entry(&e.identity).or_default().push(e);
    }
    let mut denies = vec![];
    // Identity → (its allows, its sources), for identities in scope.
    let mut reach: Vec<(&str, Vec<Allow>, Vec<String>)> = vec![];
    // The judge's own notion of scope, so that whoever the policy covers has a grant.
    let scope = Scope {
        kind: opts.kind.clone(),
        envs: opts.envs.clone(),
        identities: opts.identities.clone(),
    };
    for (name, id) in &map.identities {
        if !scope.covers(name, &id.kind, id.env.as_deref()) {
            continue;
        }
        let mut allows = vec![];
        for e in edges_of.get(name.as_str()).into_iter().flatten() {
            let found = hard_denies(map, inventory, id, e);
            let whole = found.iter().any(|d| d.src.is_none());
            let sources_left = id
                .sources
                .iter()
                .any(|s| !found.iter().any(|d| d.src.as_deref() == Some(s)));
            denies.extend(found);
            if whole || (!id.sources.is_empty() && !sources_left) {
                continue;
            }
            allows.push(Allow {
                dst: e.dst.clone(),
                ports: e.ports.clone(),
                first_seen: e.first_seen,
                last_seen: e.last_seen,
                count: e.count,
            });
        }
        reach.push((name, allows, id.sources.clone()));
    }
    let from = reach
        .iter()
        .flat_map(|(_, a, _)| a.iter().map(|a| a.first_seen))
        .min()
        .unwrap_or(cutoff.max(0));
    Policy {
        reachwatch_policy: POLICY_VERSION,
        generated: Generated {
            graph: opts.graph.clone(),
            window_seconds: opts.window_seconds,
            from,
            to: map.last_time(),
        },
        grants: group(reach),
        scope,
        denies,
    }
}

/// Identities with the same destinations and ports share a grant; its evidence is summed.
fn group(reach: Vec<(&str, Vec<Allow>, Vec<String>)>) -> Vec<Grant> {
    let mut by_reach: BTreeMap<Vec<(String, Vec<u16>)>, Grant> = BTreeMap::new();
    for (name, allows, sources) in reach {
        let key: Vec<(String, Vec<u16>)> = allows
            .iter()
            .map(|a| (a.dst.clone(), a.ports.clone()))
            .collect();
        let grant = by_reach.entry(key).or_insert_with(|| Grant {
            name: String::new(),
            members: vec![],
            allow: allows
                .iter()
                .map(|a| Allow {
                    count: 0,
                    ..a.clone()
                })
                .collect(),
        });
        for (g, a) in grant.allow.iter_mut().zip(&allows) {
            g.first_seen = g.first_seen.min(a.first_seen);
            g.last_seen = g.last_seen.max(a.last_seen);
            g.count += a.count;
        }
        grant.members.push(Member {
            identity: name.to_string(),
            sources,
        });
    }
    let mut grants: Vec<Grant> = by_reach.into_values().collect();
    grants.sort_by(|a, b| a.members[0].identity.cmp(&b.members[0].identity));
    let mut shared = 0;
    for g in &mut grants {
        g.name = if g.members.len() == 1 {
            g.members[0].identity.clone()
        } else {
            shared += 1;
            format!("shared-{shared}")
        };
    }
    grants
}

/// The inventory's hard denies on one edge: a non-production identity reaching production (the
/// engine's environment crossing), or a source whose zone may not reach the destination's (its
/// zone crossing).
fn hard_denies(map: &ReachMap, inventory: &Inventory, id: &Identity, e: &Edge) -> Vec<Deny> {
    let dst = map.hosts.get(&e.dst).cloned().unwrap_or_default();
    let deny = |src: Option<&str>, reason: String| Deny {
        identity: e.identity.clone(),
        src: src.map(String::from),
        dst: e.dst.clone(),
        reason,
        first_seen: e.first_seen,
        last_seen: e.last_seen,
        count: e.count,
    };
    let host_env = dst.env.as_deref().unwrap_or_default();
    if let Some(env) = id.env.as_deref().filter(|e| inventory.crosses(e, host_env)) {
        return vec![deny(
            None,
            format!("non-production identity (environment {env}) reaches production"),
        )];
    }
    let mut out = vec![];
    for s in &id.sources {
        let src = map.hosts.get(s).cloned().unwrap_or_default();
        if let (Some(from), Some(to)) = (&src.zone, &dst.zone) {
            if inventory.zone_forbidden(from, to) {
                out.push(deny(Some(s), format!("zone {from} → {to} is forbidden")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Host;
    use crate::model::{Judge, Reach, Verdict};

    fn edge(identity: &str, dst: &str, ports: &[u16]) -> Edge {
        Edge {
            identity: identity.into(),
            dst: dst.into(),
            ports: ports.to_vec(),
            first_seen: 10,
            last_seen: 5000,
            count: 5,
        }
    }

    fn host(env: &str, zone: &str) -> Host {
        Host {
            env: Some(env.into()),
            zone: Some(zone.into()),
        }
    }

    fn identity(env: Option<&str>, sources: &[&str]) -> Identity {
        Identity {
            kind: "machine".into(),
            env: env.map(String::from),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_listed_identity_gets_its_grant_whatever_its_kind() {
        let human = Identity {
            kind: "human".into(),
            ..identity(None, &["WS-1"])
        };
        let map = ReachMap {
            edges: vec![edge("alice", "DC", &[88]), edge("a$", "DC", &[88])],
            identities: [("alice", human), ("a$", identity(None, &["A"]))]
                .into_iter()
                .map(|(n, i)| (n.to_string(), i))
                .collect(),
            hosts: Default::default(),
        };
        let opts = GenerateOptions {
            window_seconds: 1000,
            kind: Some("machine".into()),
            identities: vec!["ALICE".into()],
            ..GenerateOptions::default()
        };
        let p = generate(&map, &reachwatch_rules::builtin().inventory, &opts);
        let members: Vec<&str> = p
            .grants
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.identity.as_str()))
            .collect();
        assert_eq!(members, ["alice"]);
        // What the judge makes of the generated policy: alice's own reach is allowed.
        let judge = Judge::new(&p);
        let reach = |identity, kind| Reach {
            identity,
            kind,
            env: None,
            src: Some("WS-1"),
            dst: "DC",
            port: 88,
        };
        assert_eq!(judge.judge(&reach("alice", "human")), Verdict::Allowed);
        assert_eq!(judge.judge(&reach("a$", "machine")), Verdict::OutOfScope);
    }

    #[test]
    fn inventory_denies_win_and_identical_reach_is_shared() {
        let map = ReachMap {
            edges: vec![
                edge("a$", "DC", &[88]),
                edge("b$", "DC", &[88]),
                edge("svc_dev", "DEV-DB", &[5432]),
                edge("svc_dev", "PROD-DB", &[5432]),
                edge("svc_app", "PROD-DB", &[5432]),
                edge("old", "DC", &[88]),
                edge("alice", "DC", &[88]),
            ],
            identities: [
                ("a$", identity(None, &["A"])),
                ("b$", identity(None, &["B"])),
                ("svc_dev", identity(Some("development"), &["DEV-APP"])),
                (
                    "svc_app",
                    identity(Some("production"), &["PROD-APP", "WS-1"]),
                ),
                ("old", identity(None, &["A"])),
                (
                    "alice",
                    Identity {
                        kind: "human".into(),
                        ..identity(None, &["WS-1"])
                    },
                ),
            ]
            .into_iter()
            .map(|(n, i)| (n.to_string(), i))
            .collect(),
            hosts: [
                ("PROD-DB", host("production", "prod")),
                ("PROD-APP", host("production", "prod")),
                ("DEV-DB", host("development", "nonprod")),
                ("WS-1", host("corporate", "workstations")),
            ]
            .into_iter()
            .map(|(n, h)| (n.to_string(), h))
            .collect(),
        };
        let mut map = map;
        // `old` last used DC long before the others: outside a 1000 s window.
        map.edges[5].last_seen = 100;
        let mut inventory = reachwatch_rules::builtin().inventory;
        inventory.forbidden_zones = vec![("workstations".into(), "prod".into())];
        let opts = GenerateOptions {
            window_seconds: 1000,
            kind: Some("machine".into()),
            ..GenerateOptions::default()
        };
        let p = generate(&map, &inventory, &opts);
        let grant = |id: &str| {
            p.grants
                .iter()
                .find(|g| g.members.iter().any(|m| m.identity == id))
                .unwrap_or_else(|| panic!("{id} has no grant"))
        };
        assert!(p
            .grants
            .iter()
            .all(|g| g.members.iter().all(|m| m.identity != "alice")));
        let shared = grant("a$");
        assert_eq!(shared.name, "shared-1");
        assert_eq!(shared.members.len(), 2);
        assert_eq!(shared.allow[0].count, 10, "evidence summed over members");
        assert_eq!(shared.allow[0].last_seen, 5000);
        assert!(grant("old").allow.is_empty(), "outside the window");
        let dev: Vec<&str> = grant("svc_dev")
            .allow
            .iter()
            .map(|a| a.dst.as_str())
            .collect();
        assert_eq!(
            dev,
            ["DEV-DB"],
            "non-production → production is not allowed"
        );
        let app = grant("svc_app");
        assert_eq!(
            app.allow.len(),
            1,
            "one forbidden source leaves the destination to the others"
        );
        let denies: Vec<(&str, Option<&str>, &str)> = p
            .denies
            .iter()
            .map(|d| (d.identity.as_str(), d.src.as_deref(), d.dst.as_str()))
            .collect();
        assert_eq!(
            denies,
            [
                ("svc_app", Some("WS-1"), "PROD-DB"),
                ("svc_dev", None, "PROD-DB")
            ]
        );
    }
}
