//! Features of one reach observation against the baseline, and the detection they make.

use crate::config::EngineConfig;
use crate::graph::{Graph, IdentityProfile};
use reachwatch_model::time::DAY;
use reachwatch_model::{AuthProtocol, FeatureHit, Interner, LogonType, Sym, Ts};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How an observation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// A successful authentication.
    Auth,
    /// Failed authentications (a spray).
    Failure,
    /// A flow with no authentication, attributed to the source host's machine account.
    Flow,
}

impl Via {
    /// Name used in evidence.
    pub fn name(self) -> &'static str {
        match self {
            Via::Auth => "auth",
            Via::Failure => "auth_failure",
            Via::Flow => "flow",
        }
    }
}

/// One reach observation: an identity reached a destination from a source.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Observation {
    /// Event time.
    pub time: Ts,
    /// Identity.
    pub identity: Sym,
    /// Source host.
    pub src: Option<Sym>,
    /// Destination host.
    pub dst: Sym,
    /// Service port (flows) or 0.
    pub port: u16,
    /// Service name (auth), if known.
    pub service: Option<Sym>,
    /// Protocol.
    pub protocol: AuthProtocol,
    /// Logon type.
    pub logon: LogonType,
    /// How it was observed.
    pub via: Via,
}

/// A detection: the rule name and its ATT&CK techniques.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// Rule id.
    pub rule: &'static str,
    /// ATT&CK technique ids.
    pub attack: &'static [&'static str],
}

/// Detections in priority order (earlier wins when two features weigh the same).
pub const INTERACTIVE: Detection = Detection {
    rule: "interactive-machine-identity",
    attack: &["T1078", "T1021.001"],
};
/// Failed authentications across many destinations.
pub const SPRAY: Detection = Detection {
    rule: "failed-auth-spray",
    attack: &["T1110.003", "T1078"],
};
/// Credential-switching chain through a host.
pub const CHAIN: Detection = Detection {
    rule: "credential-switch-chain",
    attack: &["T1550", "T1021", "T1078"],
};
/// Many novel destinations at once.
pub const FAN_OUT: Detection = Detection {
    rule: "fan-out",
    attack: &["T1021.002", "T1018"],
};
/// A credential used from a new place.
pub const NEW_SOURCE: Detection = Detection {
    rule: "new-source",
    attack: &["T1078", "T1550"],
};
/// Unauthenticated remote administration.
pub const FLOW_ONLY: Detection = Detection {
    rule: "flow-only-novelty",
    attack: &["T1021.002", "T1021.006"],
};
/// Reach outside the baseline.
pub const NOVEL_REACH: Detection = Detection {
    rule: "novel-reach",
    attack: &["T1021", "T1078"],
};
/// Weaker authentication than usual.
pub const DOWNGRADE: Detection = Detection {
    rule: "auth-downgrade",
    attack: &["T1550.002"],
};
/// A long-silent identity back with new reach.
pub const DORMANT: Detection = Detection {
    rule: "dormant-reactivated",
    attack: &["T1078"],
};

/// Every detection, in priority order.
pub const DETECTIONS: [Detection; 9] = [
    INTERACTIVE,
    SPRAY,
    CHAIN,
    FLOW_ONLY,
    FAN_OUT,
    NEW_SOURCE,
    NOVEL_REACH,
    DOWNGRADE,
    DORMANT,
];

/// Serialised as its rule id.
impl Serialize for Detection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.rule)
    }
}

impl<'de> Deserialize<'de> for Detection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rule = String::deserialize(d)?;
        DETECTIONS
            .iter()
            .find(|x| x.rule == rule)
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("unknown detection `{rule}`")))
    }
}

/// The features of an observation and what they add up to.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Scored {
    /// Features that fired, strongest first.
    pub hits: Vec<FeatureHit>,
    /// Sum of weights, clamped to 0–100.
    pub score: u32,
    /// The detection named by the strongest feature.
    pub detection: Option<Detection>,
    /// The edge is new for the identity.
    pub edge_new: bool,
    /// The destination's group is new for the identity.
    pub dst_group_new: bool,
}

struct Acc<'a> {
    hits: Vec<(FeatureHit, Option<Detection>)>,
    syms: &'a Interner,
}

impl Acc<'_> {
    fn add(&mut self, name: &str, weight: i32, det: Option<Detection>, detail: String) {
        if weight != 0 {
            self.hits.push((
                FeatureHit {
                    name: name.into(),
                    weight,
                    detail,
                },
                det,
            ));
        }
    }
}

fn group_name(g: &Graph, id: u32) -> &str {
    g.group_names.get(id as usize).map_or("?", String::as_str)
}

/// Scores an observation against the graph *before* the graph learns it.
pub fn score(
    g: &Graph,
    cfg: &EngineConfig,
    syms: &Interner,
    profile: &IdentityProfile,
    obs: &Observation,
    chain_from: Option<(Sym, Ts)>,
) -> Scored {
    let w = &cfg.weights;
    let mut acc = Acc { hits: vec![], syms };
    let name = |s: Sym| acc_name(syms, s);
    let t = obs.time;
    let edge_new = g.edge_is_new(obs.identity, obs.dst, t, cfg.edge_ttl);
    let dst = g.hosts.get(&obs.dst);
    let dst_group = dst.map(|h| h.group);
    let dst_group_new = dst_group.is_some_and(|dg| !profile.dst_groups.contains(&dg));

    if obs.via == Via::Failure {
        acc.add(
            "failed_spray",
            w.failed_spray,
            Some(SPRAY),
            format!(
                "failed authentications against {} destinations within {} min",
                profile
                    .recent_failures()
                    .map(|(_, d)| *d)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                cfg.failure_window / 60_000
            ),
        );
    }

    if obs.logon.is_interactive() && profile.logons & obs.logon.bit() == 0 {
        acc.add(
            "interactive",
            w.interactive,
            Some(INTERACTIVE),
            format!(
                "{} logon by a machine identity that never logged on this way",
                obs.logon.name()
            ),
        );
    }

    if edge_new && obs.via != Via::Failure {
        acc.add(
            "new_edge",
            w.new_edge,
            Some(NOVEL_REACH),
            format!(
                "first time reaching {} (baseline: {} destinations)",
                name(obs.dst),
                profile.destinations
            ),
        );
        if dst_group_new {
            let groups: Vec<&str> = profile
                .dst_groups
                .iter()
                .take(8)
                .map(|&gid| group_name(g, gid))
                .collect();
            acc.add(
                "dst_group_novel",
                w.dst_group_novel,
                Some(NOVEL_REACH),
                format!(
                    "never reached any `{}` host (reaches: {})",
                    group_name(g, dst_group.unwrap_or(0)),
                    groups.join(", ")
                ),
            );
        }
        if let Some(h) = dst {
            if h.identities <= cfg.rare_max_identities {
                acc.add(
                    "rare_dst",
                    w.rare_dst,
                    None,
                    format!(
                        "{} is reached by only {} identities",
                        name(obs.dst),
                        h.identities
                    ),
                );
            }
            let peers = g
                .group_reach
                .get(&(profile.group, obs.dst))
                .copied()
                .unwrap_or(0);
            if peers > 0 {
                acc.add(
                    "peer_support",
                    w.peer_support,
                    None,
                    format!(
                        "{peers} identities of peer group `{}` already reach it",
                        group_name(g, profile.group)
                    ),
                );
            }
            let recent = h.recent_new.iter().filter(|&&r| r >= t - DAY).count();
            if recent >= 2 {
                acc.add(
                    "rollout",
                    w.rollout,
                    None,
                    format!("{recent} other identities started reaching it in the last day"),
                );
            }
            if g.is_new_asset(h, t, cfg.new_asset_age) {
                acc.add(
                    "new_asset",
                    w.new_asset,
                    None,
                    format!("{} itself appeared recently", name(obs.dst)),
                );
            }
        }
        let window = cfg.fanout_window;
        let novel = profile
            .recent_novel()
            .filter(|(rt, d)| *rt >= t - window && *d != obs.dst)
            .count() as u32
            + 1;
        if novel >= cfg.fanout_min {
            acc.add(
                "fan_out",
                w.fan_out,
                Some(FAN_OUT),
                format!("{novel} novel destinations within {} min", window / 60_000),
            );
        }
    }

    let mut src_new = false;
    if let (Some(src), Via::Auth | Via::Failure) = (obs.src, obs.via) {
        if g.source_is_new(obs.identity, src, t, cfg.edge_ttl) {
            src_new = true;
            let src_host = g.hosts.get(&src);
            acc.add(
                "new_source",
                w.new_source,
                Some(NEW_SOURCE),
                format!("first use from {}", name(src)),
            );
            let sg = src_host.map(|h| h.group);
            if sg.is_some_and(|sg| !profile.src_groups.contains(&sg)) {
                let usual: Vec<&str> = profile
                    .src_groups
                    .iter()
                    .take(8)
                    .map(|&gid| group_name(g, gid))
                    .collect();
                acc.add(
                    "src_group_novel",
                    w.src_group_novel,
                    Some(NEW_SOURCE),
                    format!(
                        "never used from any `{}` host (usual sources: {})",
                        group_name(g, sg.unwrap_or(0)),
                        usual.join(", ")
                    ),
                );
            }
        }
    }

    if obs.via == Via::Flow && cfg.admin_ports.contains(&obs.port) && edge_new {
        acc.add(
            "flow_only",
            w.flow_only,
            Some(FLOW_ONLY),
            format!(
                "port {} traffic to {} with no authentication for it",
                obs.port,
                name(obs.dst)
            ),
        );
    }

    if matches!(obs.protocol, AuthProtocol::Ntlm | AuthProtocol::Cleartext)
        && profile.observations >= cfg.downgrade_min_observations
        && profile.protocols & AuthProtocol::Kerberos.bit() != 0
        && profile.protocols & obs.protocol.bit() == 0
    {
        acc.add(
            "auth_downgrade",
            w.auth_downgrade,
            Some(DOWNGRADE),
            format!("{} where the baseline is Kerberos", obs.protocol.name()),
        );
    }

    if let Some((from, at)) = chain_from {
        if from != obs.identity && (edge_new || src_new) {
            acc.add(
                "chain",
                w.chain,
                Some(CHAIN),
                format!(
                    "{} made a novel login into {} {} s earlier",
                    name(from),
                    obs.src.map_or("?", |s| syms.resolve(s)),
                    (t - at) / 1000
                ),
            );
        }
    }

    if (edge_new || src_new) && profile.last_seen < t - cfg.dormant_after {
        acc.add(
            "dormant",
            w.dormant,
            Some(DORMANT),
            format!("silent for {} days", (t - profile.last_seen) / DAY),
        );
    }

    let _ = acc.syms;
    let total: i32 = acc.hits.iter().map(|(h, _)| h.weight).sum();
    let mut hits = acc.hits;
    // Strongest first; the priority order of detections breaks ties.
    let prio = |d: Option<Detection>| {
        DETECTIONS
            .iter()
            .position(|x| Some(*x) == d)
            .unwrap_or(usize::MAX)
    };
    hits.sort_by(|a, b| b.0.weight.cmp(&a.0.weight).then(prio(a.1).cmp(&prio(b.1))));
    let detection = hits.iter().find_map(|(_, d)| *d);
    Scored {
        score: total.clamp(0, 100) as u32,
        detection,
        hits: hits.into_iter().map(|(h, _)| h).collect(),
        edge_new,
        dst_group_new,
    }
}

fn acc_name(syms: &Interner, s: Sym) -> &str {
    syms.resolve(s)
}
