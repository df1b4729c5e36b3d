//! Features of one reach observation against the baseline, and the detection the rules make of
//! them.

mod context;
mod features;

use crate::graph::{Graph, IdentityProfile};
use crate::observation::{ChainLink, Observation};
use context::Context;
use features::FEATURES;
use reachwatch_model::{FeatureHit, Interner, Severity, Sym};
use reachwatch_rules::{Facts, Feature, NumField, RuleSet, SeverityRule, TextField};
use serde::{Deserialize, Serialize};

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
/// detection of the rule set that it makes. `chain` links it to another identity's novel login
/// through a host (a credential-switching chain). With `outside_policy` (what the policy does
/// not allow), the feature of that name fires and only detections naming it are tried; without,
/// only the others (policy violations are judged apart from behaviour).
pub fn score(
    g: &Graph,
    rules: &RuleSet,
    syms: &Interner,
    profile: &IdentityProfile,
    obs: &Observation,
    chain: Option<&ChainLink>,
    outside_policy: Option<String>,
) -> Scored {
    let cx = Context::new(g, rules, syms, profile, obs, chain);
    let mut fired = [false; Feature::ALL.len()];
    let mut hits = vec![];
    let judging_policy = outside_policy.is_some();
    if let Some(detail) = outside_policy {
        fired[Feature::OutsidePolicy.index()] = true;
        hits.push(FeatureHit {
            name: Feature::OutsidePolicy.name().into(),
            weight: rules.weight(Feature::OutsidePolicy),
            detail,
        });
    }
    for &(feature, test) in FEATURES {
        if let Some(detail) = test(&cx) {
            fired[feature.index()] = true;
            hits.push(FeatureHit {
                name: feature.name().into(),
                weight: rules.weight(feature),
                detail,
            });
        }
    }
    let total: i32 = hits.iter().map(|h| h.weight).sum();
    hits.sort_by_key(|h| std::cmp::Reverse(h.weight));
    let service = match (obs.service, obs.port) {
        (Some(s), _) => syms.resolve(s).to_string(),
        (None, 0) => String::new(),
        (None, p) => p.to_string(),
    };
    let name = |s: Sym| syms.resolve(s);
    let facts = ObsFacts {
        fired,
        score: f64::from(total.clamp(0, 100)),
        port: f64::from(obs.port),
        novel: f64::from(cx.novel),
        failed: cx.failed as f64,
        dst_identities: f64::from(cx.dst.map_or(0, |h| h.identities)),
        peers: f64::from(cx.peers),
        observations: profile.observations as f64,
        texts: [
            name(obs.identity),
            profile.kind.name(),
            name(profile.group),
            cx.id_env,
            obs.src.map_or("", name),
            name(obs.dst),
            cx.src_env,
            cx.dst_env,
            cx.src_zone,
            cx.dst_zone,
            cx.dst_role,
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
            if !det.enabled
                || det.condition.mentions(Feature::OutsidePolicy) != judging_policy
                || !det.condition.eval(&facts)
            {
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
        edge_new: cx.edge_new,
    }
}
