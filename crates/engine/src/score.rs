//! Features of one reach observation against the baseline, and the detection the rules make of
//! them.

use crate::graph::{Graph, HostProfile, IdentityProfile};
use reachwatch_model::time::DAY;
use reachwatch_model::{AuthProtocol, FeatureHit, Interner, LogonType, Severity, Sym, Ts};
use reachwatch_rules::{Facts, Feature, NumField, RuleSet, SeverityRule, TextField};
use serde::{Deserialize, Serialize};

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
    /// Name used in evidence and conditions.
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

/// The detection an observation made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    /// Rule id.
    pub rule: String,
    /// Position of the detection in the rule set (lower is higher priority).
    pub priority: usize,
    /// ATT&CK technique ids.
    pub attack: Vec<String>,
    /// Severity.
    pub severity: Severity,
}

/// The features of an observation and what they add up to.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Scored {
    /// Features that fired, strongest first.
    pub hits: Vec<FeatureHit>,
    /// Sum of weights (plus the detection's own weight), clamped to 0–100.
    pub score: u32,
    /// The detection, when one matched.
    pub matched: Option<Matched>,
    /// The edge is new for the identity.
    pub edge_new: bool,
    /// The destination's group is new for the identity.
    pub dst_group_new: bool,
}

/// Everything a condition can ask about one observation.
struct ObsFacts<'a> {
    fired: [bool; Feature::ALL.len()],
    score: f64,
    port: f64,
    novel: f64,
    failed: f64,
    dst_identities: f64,
    peers: f64,
    observations: f64,
    texts: [&'a str; 15],
}

impl Facts for ObsFacts<'_> {
    fn feature(&self, f: Feature) -> bool {
        self.fired[f.index()]
    }

    fn number(&self, f: NumField) -> f64 {
        match f {
            NumField::Score => self.score,
            NumField::Port => self.port,
            NumField::NovelDestinations => self.novel,
            NumField::FailedDestinations => self.failed,
            NumField::DstIdentities => self.dst_identities,
            NumField::PeersReachingDst => self.peers,
            NumField::Observations => self.observations,
        }
    }

    fn text(&self, f: TextField) -> &str {
        self.texts[f as usize]
    }
}

struct Acc {
    hits: Vec<FeatureHit>,
    fired: [bool; Feature::ALL.len()],
}

impl Acc {
    fn add(&mut self, rules: &RuleSet, f: Feature, detail: impl FnOnce() -> String) {
        self.fired[f.index()] = true;
        self.hits.push(FeatureHit {
            name: f.name().into(),
            weight: rules.weight(f),
            detail: detail(),
        });
    }
}

fn group_name(g: &Graph, id: u32) -> &str {
    g.group_names.get(id as usize).map_or("?", String::as_str)
}

/// The environment of an identity: its fixed one, else inferred from the environments of what
/// it reached ("" when unknown, "non-production" when several non-production ones).
pub fn identity_env<'g>(g: &'g Graph, rules: &RuleSet, p: &IdentityProfile) -> &'g str {
    if p.env != 0 {
        return g.attr(p.env);
    }
    if let Some(env) = p
        .home
        .and_then(|h| g.hosts.get(&h))
        .map(|h| h.env)
        .filter(|&e| e != 0)
    {
        return g.attr(env);
    }
    if p.destinations < rules.settings.env_min_destinations || p.dst_envs == 0 {
        return "";
    }
    let envs: Vec<&str> = (0..64)
        .filter(|i| p.dst_envs & (1u64 << i) != 0)
        .map(|i| g.attr(i as u16 + 1))
        .collect();
    if envs.iter().any(|e| rules.inventory.is_production(e)) {
        "production"
    } else if envs.len() == 1 {
        envs[0]
    } else {
        "non-production"
    }
}

fn host_attrs<'g>(g: &'g Graph, h: Option<&HostProfile>) -> (&'g str, &'g str, &'g str, bool) {
    h.map_or(("", "", "", false), |h| {
        (g.attr(h.env), g.attr(h.zone), g.attr(h.role), h.crown_jewel)
    })
}

/// Puts the features a detection's condition names first (strongest first), so that the alert's
/// summary explains the detection that fired.
fn headline_first(hits: &mut [FeatureHit], condition: &reachwatch_rules::condition::Expr) {
    let named = condition.features();
    hits.sort_by_key(|h| {
        let in_condition = Feature::from_name(&h.name).is_some_and(|f| named.contains(&f));
        (std::cmp::Reverse(in_condition), std::cmp::Reverse(h.weight))
    });
}

/// Scores an observation against the graph *before* the graph learns it, and finds the first
/// detection of the rule set that it makes. `chain_from` is the latest unusual login into the
/// observation's source by another identity, within the chain window.
pub fn score(
    g: &Graph,
    rules: &RuleSet,
    syms: &Interner,
    profile: &IdentityProfile,
    obs: &Observation,
    chain_from: Option<(Sym, Ts)>,
) -> Scored {
    let cfg = &rules.settings;
    let name = |s: Sym| syms.resolve(s);
    let mut acc = Acc {
        hits: vec![],
        fired: [false; Feature::ALL.len()],
    };
    let t = obs.time;
    let edge_new = g.edge_is_new(obs.identity, obs.dst, t, cfg.edge_ttl);
    let dst = g.hosts.get(&obs.dst);
    let src = obs.src.and_then(|s| g.hosts.get(&s));
    let dst_group = dst.map(|h| h.group);
    let dst_group_new = dst_group.is_some_and(|dg| !profile.dst_groups.contains(&dg));
    let failed: std::collections::BTreeSet<Sym> =
        profile.recent_failures().map(|(_, d)| *d).collect();
    let novel = profile
        .recent_novel()
        .filter(|(rt, d)| *rt >= t - cfg.fanout_window && *d != obs.dst)
        .count() as u32
        + u32::from(edge_new);
    let peers = g
        .group_reach
        .get(&(profile.group, obs.dst))
        .copied()
        .unwrap_or(0);
    let (src_env, src_zone, _, _) = host_attrs(g, src);
    let (dst_env, dst_zone, dst_role, crown) = host_attrs(g, dst);
    let id_env = identity_env(g, rules, profile);

    if obs.via == Via::Failure {
        acc.add(rules, Feature::FailedSpray, || {
            format!(
                "failed authentications against {} destinations within {} min",
                failed.len(),
                cfg.failure_window / 60_000
            )
        });
    }
    if obs.logon.is_interactive() && profile.logons & obs.logon.bit() == 0 {
        acc.add(rules, Feature::Interactive, || {
            format!(
                "{} logon by an identity that never logged on this way",
                obs.logon.name()
            )
        });
    }
    if edge_new && obs.via != Via::Failure {
        acc.add(rules, Feature::NewEdge, || {
            format!(
                "first time reaching {} (baseline: {} destinations)",
                name(obs.dst),
                profile.destinations
            )
        });
        if dst_group_new {
            acc.add(rules, Feature::DstGroupNovel, || {
                let groups: Vec<&str> = profile
                    .dst_groups
                    .iter()
                    .take(8)
                    .map(|&gid| group_name(g, gid))
                    .collect();
                format!(
                    "never reached any `{}` host (reaches: {})",
                    group_name(g, dst_group.unwrap_or(0)),
                    groups.join(", ")
                )
            });
        }
        if let Some(h) = dst {
            if h.identities <= cfg.rare_max_identities {
                acc.add(rules, Feature::RareDst, || {
                    format!(
                        "{} is reached by only {} identities",
                        name(obs.dst),
                        h.identities
                    )
                });
            }
            if peers > 0 {
                acc.add(rules, Feature::PeerSupport, || {
                    format!(
                        "{peers} identities of peer group `{}` already reach it",
                        group_name(g, profile.group)
                    )
                });
            }
            let recent = h.recent_new.iter().filter(|&&r| r >= t - DAY).count();
            if recent >= 2 {
                acc.add(rules, Feature::Rollout, || {
                    format!("{recent} other identities started reaching it in the last day")
                });
            }
            if g.is_new_asset(h, t, cfg.new_asset_age) {
                acc.add(rules, Feature::NewAsset, || {
                    format!("{} itself appeared recently", name(obs.dst))
                });
            }
        }
        if novel >= cfg.fanout_min {
            acc.add(rules, Feature::FanOut, || {
                format!(
                    "{novel} novel destinations within {} min",
                    cfg.fanout_window / 60_000
                )
            });
        }
        if crown {
            acc.add(rules, Feature::CrownJewel, || {
                format!("{} is a crown jewel", name(obs.dst))
            });
        }
        if !dst_env.is_empty()
            && rules.inventory.is_production(dst_env)
            && !id_env.is_empty()
            && !rules.inventory.is_production(id_env)
        {
            acc.add(rules, Feature::EnvCrossing, || {
                format!("{id_env} identity reached {} in {dst_env}", name(obs.dst))
            });
        }
    }
    let mut src_new = false;
    if let (Some(s), Via::Auth | Via::Failure) = (obs.src, obs.via) {
        if g.source_is_new(obs.identity, s, t, cfg.edge_ttl) {
            src_new = true;
            acc.add(rules, Feature::NewSource, || {
                format!("first use from {}", name(s))
            });
            let sg = src.map(|h| h.group);
            if sg.is_some_and(|sg| !profile.src_groups.contains(&sg)) {
                acc.add(rules, Feature::SrcGroupNovel, || {
                    let usual: Vec<&str> = profile
                        .src_groups
                        .iter()
                        .take(8)
                        .map(|&gid| group_name(g, gid))
                        .collect();
                    format!(
                        "never used from any `{}` host (usual sources: {})",
                        group_name(g, sg.unwrap_or(0)),
                        usual.join(", ")
                    )
                });
            }
        }
    }
    if !src_zone.is_empty()
        && !dst_zone.is_empty()
        && rules.inventory.zone_forbidden(src_zone, dst_zone)
    {
        acc.add(rules, Feature::ZoneCrossing, || {
            format!("zone {src_zone} → {dst_zone} is forbidden by the inventory")
        });
    }
    if obs.via == Via::Flow && cfg.admin_ports.contains(&obs.port) && edge_new {
        acc.add(rules, Feature::FlowOnly, || {
            format!(
                "port {} traffic to {} with no authentication for it",
                obs.port,
                name(obs.dst)
            )
        });
    }
    if matches!(obs.protocol, AuthProtocol::Ntlm | AuthProtocol::Cleartext)
        && profile.observations >= cfg.downgrade_min_observations
        && profile.protocols & AuthProtocol::Kerberos.bit() != 0
        && profile.protocols & obs.protocol.bit() == 0
    {
        acc.add(rules, Feature::AuthDowngrade, || {
            format!("{} where the baseline is Kerberos", obs.protocol.name())
        });
    }
    if let Some((from, at)) = chain_from {
        if from != obs.identity && (edge_new || src_new) {
            acc.add(rules, Feature::Chain, || {
                format!(
                    "{} made a novel login into {} {} s earlier",
                    name(from),
                    obs.src.map_or("?", |s| syms.resolve(s)),
                    (t - at) / 1000
                )
            });
        }
    }
    if (edge_new || src_new) && profile.last_seen < t - cfg.dormant_after {
        acc.add(rules, Feature::Dormant, || {
            format!("silent for {} days", (t - profile.last_seen) / DAY)
        });
    }

    let total: i32 = acc.hits.iter().map(|h| h.weight).sum();
    let mut hits = acc.hits;
    hits.sort_by_key(|h| std::cmp::Reverse(h.weight));
    let service = match (obs.service, obs.port) {
        (Some(s), _) => syms.resolve(s).to_string(),
        (None, 0) => String::new(),
        (None, p) => p.to_string(),
    };
    let facts = ObsFacts {
        fired: acc.fired,
        score: f64::from(total.clamp(0, 100)),
        port: f64::from(obs.port),
        novel: f64::from(novel),
        failed: failed.len() as f64,
        dst_identities: f64::from(dst.map_or(0, |h| h.identities)),
        peers: f64::from(peers),
        observations: profile.observations as f64,
        texts: [
            name(obs.identity),
            profile.kind.name(),
            group_name(g, profile.group),
            id_env,
            obs.src.map_or("", name),
            name(obs.dst),
            src_env,
            dst_env,
            src_zone,
            dst_zone,
            dst_role,
            &service,
            obs.protocol.name(),
            obs.logon.name(),
            obs.via.name(),
        ],
    };
    let mut score = total.clamp(0, 100) as u32;
    let mut matched = None;
    if hits.iter().any(|h| h.weight > 0) {
        for (priority, det) in rules.detections.iter().enumerate() {
            if !det.enabled || !det.condition.eval(&facts) {
                continue;
            }
            let s = (total + det.weight).clamp(0, 100) as u32;
            if s >= det.min_score {
                score = s;
                headline_first(&mut hits, &det.condition);
                matched = Some(Matched {
                    rule: det.id.clone(),
                    priority,
                    attack: det.attack.clone(),
                    severity: match det.severity {
                        SeverityRule::Auto => Severity::from_score(s),
                        SeverityRule::Fixed(sev) => sev,
                    },
                });
                break;
            }
        }
    }
    Scored {
        hits,
        score,
        matched,
        edge_new,
        dst_group_new,
    }
}
