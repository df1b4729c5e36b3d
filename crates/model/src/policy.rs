//! A least-reach policy: per identity, the sources it may be used from and the (destination,
//! ports) it may reach, each with its evidence; identities with identical reach share one grant;
//! hard denies from the inventory, which win over any allow. [`Judge`] is the one answer to "is
//! this reach allowed", used by the what-if replay and by the engine's `policy-violation`
//! detection. No IO: the policy file is read by `reachwatch-policy`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Version of the policy file format.
pub const POLICY_VERSION: u32 = 1;

/// A least-reach policy (what `reachwatch policy generate` writes and `policy check` reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// File format version ([`POLICY_VERSION`]).
    pub reachwatch_policy: u32,
    /// Where the policy came from.
    pub generated: Generated,
    /// Which identities the policy governs: every identity in scope without a grant is denied.
    pub scope: Scope,
    /// Allows, one per set of identities with identical reach.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Hard denies (inventory environments and forbidden zones); they win over allows.
    #[serde(default)]
    pub denies: Vec<Deny>,
}

/// Where a policy came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    /// The reach graph directory.
    pub graph: String,
    /// Edges last used before `to − window_seconds` were left out.
    pub window_seconds: i64,
    /// Earliest first use of an allowed edge (seconds, the input's clock).
    pub from: i64,
    /// Latest use of any edge of the graph (seconds).
    pub to: i64,
}

/// Which identities a policy governs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Identity kind (`machine`, `human`, `unknown`); `None` for every kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only identities of these environments (empty: any).
    #[serde(default)]
    pub envs: Vec<String>,
    /// Only these identities (empty: any).
    #[serde(default)]
    pub identities: Vec<String>,
}

impl Scope {
    /// Whether an identity of `kind` in `env` is in scope: a listed identity is, whatever its
    /// kind and environment; when identities are listed, no other is; else one of the kind and
    /// of a listed environment is. Names compare without case.
    pub fn covers(&self, identity: &str, kind: &str, env: Option<&str>) -> bool {
        let listed = |list: &[String], v: &str| list.iter().any(|l| l.eq_ignore_ascii_case(v));
        if !self.identities.is_empty() {
            return listed(&self.identities, identity);
        }
        self.kind
            .as_deref()
            .is_none_or(|k| k.eq_ignore_ascii_case(kind))
            && (self.envs.is_empty() || env.is_some_and(|e| listed(&self.envs, e)))
    }
}

/// One grant: identities with identical reach, each with its own sources, and what they may
/// reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The identity's name, or `shared-N` for a grant several identities share.
    pub name: String,
    /// The identities.
    pub members: Vec<Member>,
    /// Allowed destinations.
    #[serde(default)]
    pub allow: Vec<Allow>,
}

/// One identity of a grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The identity.
    pub identity: String,
    /// Hosts it may be used from (empty: no source was ever known; any source is refused).
    #[serde(default)]
    pub sources: Vec<String>,
}

/// An allowed destination with its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Destination host.
    pub dst: String,
    /// Destination ports seen in the identity's flows; empty when only authentications were seen
    /// (then the authentication is allowed and no network port is).
    #[serde(default)]
    pub ports: Vec<u16>,
    /// First use (seconds, the input's clock).
    pub first_seen: i64,
    /// Last use (seconds).
    pub last_seen: i64,
    /// Observations (summed over the grant's members).
    pub count: i64,
}

/// A hard deny: a path seen in the reach graph that the inventory forbids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deny {
    /// The identity.
    pub identity: String,
    /// The source host, or `None` for every source.
    #[serde(default)]
    pub src: Option<String>,
    /// The destination host.
    pub dst: String,
    /// Why (`non-production identity … reaches production`, `zone nonprod → prod is forbidden`).
    pub reason: String,
    /// First use of the edge (seconds).
    pub first_seen: i64,
    /// Last use (seconds).
    pub last_seen: i64,
    /// Observations of the edge.
    pub count: i64,
}

/// What the policy says about one reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// The policy allows it.
    Allowed,
    /// The identity is outside the policy's scope (another kind, environment or identity).
    OutOfScope,
    /// The policy would have blocked it.
    Blocked(Block),
}

/// Why the policy blocks a reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Block {
    /// The identity is in scope and has no grant (default deny).
    NoGrant,
    /// The identity is not allowed from this source.
    Source,
    /// The destination is not allowed for the identity.
    Destination,
    /// The destination is allowed, this port is not.
    Port,
    /// A hard deny matches (its index in [`Policy::denies`]).
    Denied(usize),
}

impl Block {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Block::NoGrant => "no-grant",
            Block::Source => "source",
            Block::Destination => "destination",
            Block::Port => "port",
            Block::Denied(_) => "hard-deny",
        }
    }
}

/// One reach to judge.
#[derive(Clone, Copy, Debug)]
pub struct Reach<'a> {
    /// Identity.
    pub identity: &'a str,
    /// Its kind (`machine`, `human`, `unknown`).
    pub kind: &'a str,
    /// Its environment, if known.
    pub env: Option<&'a str>,
    /// Source host, if known.
    pub src: Option<&'a str>,
    /// Destination host.
    pub dst: &'a str,
    /// Destination port (0 for an authentication).
    pub port: u16,
}

/// A policy indexed for judging reach quickly. Names compare case-insensitively.
#[derive(Debug)]
pub struct Judge {
    policy: Policy,
    /// identity → (sources, grant index).
    members: HashMap<String, (BTreeSet<String>, usize)>,
    /// Per grant: destination → ports.
    allows: Vec<HashMap<String, BTreeSet<u16>>>,
    /// (identity, dst) → deny indexes.
    denies: HashMap<(String, String), Vec<usize>>,
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

impl PartialEq for Judge {
    fn eq(&self, other: &Judge) -> bool {
        self.policy == other.policy
    }
}

impl Judge {
    /// Indexes a policy (a copy of it).
    pub fn new(policy: &Policy) -> Judge {
        let mut members = HashMap::new();
        let mut allows = Vec::with_capacity(policy.grants.len());
        for (g, grant) in policy.grants.iter().enumerate() {
            for m in &grant.members {
                let sources = m.sources.iter().map(|s| key(s)).collect();
                members.insert(key(&m.identity), (sources, g));
            }
            allows.push(
                grant
                    .allow
                    .iter()
                    .map(|a| (key(&a.dst), a.ports.iter().copied().collect()))
                    .collect(),
            );
        }
        let mut denies: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, d) in policy.denies.iter().enumerate() {
            denies
                .entry((key(&d.identity), key(&d.dst)))
                .or_default()
                .push(i);
        }
        Judge {
            policy: policy.clone(),
            members,
            allows,
            denies,
        }
    }

    /// The policy judged against.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Is the identity governed by the policy?
    pub fn in_scope(&self, identity: &str, kind: &str, env: Option<&str>) -> bool {
        self.members.contains_key(&key(identity)) || self.policy.scope.covers(identity, kind, env)
    }

    /// The hard deny (its index in the policy) that forbids `identity` reaching `dst` from
    /// `src`, if any; with no source, only a deny of every source counts.
    pub fn denied(&self, identity: &str, src: Option<&str>, dst: &str) -> Option<usize> {
        let ds = self.denies.get(&(key(identity), key(dst)))?;
        ds.iter().copied().find(|&i| {
            self.policy.denies[i]
                .src
                .as_deref()
                .is_none_or(|s| src.is_some_and(|src| src.eq_ignore_ascii_case(s)))
        })
    }

    /// What the policy says about one reach.
    pub fn judge(&self, r: &Reach) -> Verdict {
        if !self.in_scope(r.identity, r.kind, r.env) {
            return Verdict::OutOfScope;
        }
        if let Some(i) = self.denied(r.identity, r.src, r.dst) {
            return Verdict::Blocked(Block::Denied(i));
        }
        let (id, dst) = (key(r.identity), key(r.dst));
        let Some((sources, g)) = self.members.get(&id) else {
            return Verdict::Blocked(Block::NoGrant);
        };
        if let Some(src) = r.src {
            if !sources.contains(&key(src)) {
                return Verdict::Blocked(Block::Source);
            }
        }
        match self.allows[*g].get(&dst) {
            None => Verdict::Blocked(Block::Destination),
            Some(ports) if r.port != 0 && !ports.contains(&r.port) => Verdict::Blocked(Block::Port),
            Some(_) => Verdict::Allowed,
        }
    }

    /// Says which part of a reach is outside the policy, for evidence.
    pub fn explain(&self, r: &Reach, block: Block) -> String {
        let listed = |items: Vec<String>| {
            let n = items.len();
            let mut shown: Vec<String> = items.into_iter().take(5).collect();
            if n > 5 {
                shown.push(format!("{} more", n - 5));
            }
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            }
        };
        let grant = self.grant_of(r.identity);
        match block {
            Block::NoGrant => format!(
                "{} is in the policy's scope and has no grant: all its reach is outside the policy",
                r.identity
            ),
            Block::Source => {
                let sources = grant
                    .and_then(|g| {
                        g.members
                            .iter()
                            .find(|m| m.identity.eq_ignore_ascii_case(r.identity))
                    })
                    .map_or(vec![], |m| m.sources.clone());
                format!(
                    "source {} is outside the policy of {} (allowed sources: {})",
                    r.src.unwrap_or("?"),
                    r.identity,
                    listed(sources)
                )
            }
            Block::Destination => format!(
                "destination {} is outside the policy of {} (it allows {} destinations)",
                r.dst,
                r.identity,
                grant.map_or(0, |g| g.allow.len())
            ),
            Block::Port => {
                let ports = grant
                    .and_then(|g| g.allow.iter().find(|a| a.dst.eq_ignore_ascii_case(r.dst)))
                    .map_or(vec![], |a| a.ports.iter().map(u16::to_string).collect());
                format!(
                    "port {} to {} is outside the policy of {} (allowed ports: {})",
                    r.port,
                    r.dst,
                    r.identity,
                    listed(ports)
                )
            }
            Block::Denied(i) => format!(
                "{} to {} is a hard deny of the policy: {}",
                r.identity,
                r.dst,
                self.policy.denies.get(i).map_or("", |d| d.reason.as_str())
            ),
        }
    }

    /// The grant of an identity, if it has one.
    pub fn grant_of(&self, identity: &str) -> Option<&Grant> {
        self.members
            .get(&key(identity))
            .map(|&(_, g)| &self.policy.grants[g])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            reachwatch_policy: POLICY_VERSION,
            generated: Generated::default(),
            scope: Scope {
                kind: Some("machine".into()),
                ..Scope::default()
            },
            grants: vec![Grant {
                name: "svc_app".into(),
                members: vec![Member {
                    identity: "svc_app".into(),
                    sources: vec!["APP-01".into()],
                }],
                allow: vec![Allow {
                    dst: "DB-01".into(),
                    ports: vec![1433],
                    first_seen: 0,
                    last_seen: 10,
                    count: 3,
                }],
            }],
            denies: vec![Deny {
                identity: "svc_app".into(),
                src: Some("APP-02".into()),
                dst: "DB-01".into(),
                reason: "zone".into(),
                first_seen: 0,
                last_seen: 1,
                count: 1,
            }],
        }
    }

    fn reach<'a>(
        identity: &'a str,
        kind: &'a str,
        src: &'a str,
        dst: &'a str,
        port: u16,
    ) -> Reach<'a> {
        Reach {
            identity,
            kind,
            env: None,
            src: Some(src),
            dst,
            port,
        }
    }

    #[test]
    fn each_part_of_a_reach_is_checked_and_denies_win() {
        let p = policy();
        let j = Judge::new(&p);
        let v = |r: Reach| j.judge(&r);
        assert_eq!(
            v(reach("svc_app", "machine", "APP-01", "DB-01", 0)),
            Verdict::Allowed
        );
        assert_eq!(
            v(reach("SVC_APP", "machine", "app-01", "db-01", 1433)),
            Verdict::Allowed
        );
        assert_eq!(
            v(reach("svc_app", "machine", "APP-01", "DB-01", 445)),
            Verdict::Blocked(Block::Port)
        );
        assert_eq!(
            v(reach("svc_app", "machine", "APP-01", "DB-02", 0)),
            Verdict::Blocked(Block::Destination)
        );
        assert_eq!(
            v(reach("svc_app", "machine", "WS-01", "DB-01", 0)),
            Verdict::Blocked(Block::Source)
        );
        assert_eq!(
            v(reach("svc_app", "machine", "APP-02", "DB-01", 0)),
            Verdict::Blocked(Block::Denied(0))
        );
        assert_eq!(
            v(reach("svc_new", "machine", "APP-01", "DB-01", 0)),
            Verdict::Blocked(Block::NoGrant)
        );
        assert_eq!(
            v(reach("alice", "human", "WS-01", "DB-01", 0)),
            Verdict::OutOfScope
        );
    }

    #[test]
    fn scope_by_identity_list_and_environment() {
        let mut p = policy();
        p.scope.envs = vec!["production".into()];
        let j = Judge::new(&p);
        assert!(
            j.in_scope("svc_app", "machine", None),
            "a member is always in scope"
        );
        assert!(j.in_scope("svc_x", "machine", Some("Production")));
        assert!(!j.in_scope("svc_x", "machine", Some("staging")));
        assert!(!j.in_scope("svc_x", "machine", None));
        p.scope.identities = vec!["svc_y".into()];
        let j = Judge::new(&p);
        assert!(j.in_scope("svc_y", "human", None));
        assert!(!j.in_scope("svc_x", "machine", Some("production")));
    }
}
