//! What every feature may ask about one observation, worked out once before the features run.

use crate::graph::{EdgeFlows, Graph, Group, HostProfile, IdentityProfile};
use crate::observation::{ChainLink, Observation, Via};
use crate::structure::{Place, RESEMBLANCE_SIMILARITY};
use reachwatch_model::{Interner, Sym};
use reachwatch_rules::RuleSet;

/// Why a new destination is unlike the hosts an identity reaches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unlike {
    /// Its learned place (community, workstations, hubs) is new to the identity, and it resembles
    /// none of the identity's hosts by who reaches them.
    Place {
        /// Its place.
        place: Place,
        /// The most alike host the identity reaches, with the similarity.
        closest: Option<(f64, Sym)>,
        /// Its name group is new to the identity too (names carry meaning).
        stem_too: bool,
    },
    /// The structure has no place for it, and its name group (names carry meaning) is new.
    Name,
}

/// One observation against the graph as it was before the graph learns it.
pub struct Context<'a> {
    /// The graph.
    pub g: &'a Graph,
    /// The rules (settings, inventory).
    pub rules: &'a RuleSet,
    /// The symbol table.
    pub syms: &'a Interner,
    /// The identity's profile.
    pub profile: &'a IdentityProfile,
    /// The observation.
    pub obs: &'a Observation,
    /// The credential-switching chain the observation is part of, if any.
    pub chain: Option<&'a ChainLink>,
    /// The (identity, destination) edge is unknown or aged out.
    pub edge_new: bool,
    /// The identity was never (or not lately) used from the observation's source.
    pub src_new: bool,
    /// The destination's profile.
    pub dst: Option<&'a HostProfile>,
    /// The source's profile.
    pub src: Option<&'a HostProfile>,
    /// The source's name group is new for the identity.
    pub src_stem_new: bool,
    /// For novel reach: why the destination is unlike what the identity reaches, if it is.
    pub dst_unlike: Option<Unlike>,
    /// Distinct destinations of the identity's failures within the failure window.
    pub failed: usize,
    /// Distinct destinations of the identity's failures within the slow-spray window.
    pub failed_slow: usize,
    /// Novel destinations of the identity within the fan-out window (this one included).
    pub novel: u32,
    /// Peers reaching the destination: learned peers, plus members of its name group when that
    /// group carries meaning.
    pub peers: u32,
    /// Learned peers reaching the destination, and the first of them.
    pub learned_peers: (u32, Option<Sym>),
    /// Members of its name group (rule-file group, or a stem that groups a few identities)
    /// reaching the destination, counted only when they also reach a place the identity reaches:
    /// names are evidence only where behaviour agrees.
    pub named_peers: u32,
    /// The identity's calibrated share of days with new reach.
    pub novelty_rate: f64,
    /// The prior that rate was calibrated with (its peers', else its kind's).
    pub novelty_prior: f64,
    /// For a flow on a new service: the edge's flows on its other ports.
    pub edge_flows: Option<EdgeFlows>,
    /// Inventory environment, zone of the source.
    pub src_env: &'a str,
    /// Inventory zone of the source.
    pub src_zone: &'a str,
    /// Inventory environment of the destination.
    pub dst_env: &'a str,
    /// Inventory zone of the destination.
    pub dst_zone: &'a str,
    /// Inventory role of the destination.
    pub dst_role: &'a str,
    /// The destination is a crown jewel.
    pub crown: bool,
    /// The identity's environment (fixed or inferred; "" when unknown).
    pub id_env: &'a str,
}

impl<'a> Context<'a> {
    /// Works out the context of `obs`.
    pub fn new(
        g: &'a Graph,
        rules: &'a RuleSet,
        syms: &'a Interner,
        profile: &'a IdentityProfile,
        obs: &'a Observation,
        chain: Option<&'a ChainLink>,
    ) -> Context<'a> {
        let cfg = &rules.settings;
        let t = obs.time;
        // The hop into a chain is learned by now: it was novel if it made its edge.
        let edge_new = match chain {
            Some(ChainLink::Before(_)) => g
                .edges
                .get(&(obs.identity, obs.dst))
                .is_some_and(|u| u.first == g.rel(t)),
            _ => g.edge_is_new(obs.identity, obs.dst, t, cfg.edge_ttl),
        };
        let dst = g.hosts.get(&obs.dst);
        let src = obs.src.and_then(|s| g.hosts.get(&s));
        let dst_stem_new = dst.is_some_and(|h| !profile.dst_groups.contains(&h.group));
        let src_stem_new = src.is_some_and(|h| !profile.src_groups.contains(&h.group));
        let failed = profile.distinct_failures(t - cfg.failure_window);
        let failed_slow = profile.distinct_failures(t - cfg.spray_window);
        let novel = profile
            .recent_novel()
            .filter(|(rt, d)| *rt >= t - cfg.fanout_window && *d != obs.dst)
            .count() as u32
            + u32::from(edge_new);
        let src_new = match (obs.src, obs.via) {
            (Some(s), Via::Auth | Via::Failure) => {
                g.source_is_new(obs.identity, s, t, cfg.edge_ttl)
            }
            _ => false,
        };
        let st = &g.structure;
        // Peers and calibration matter only for novel reach: worked out only then.
        let learned_peers = if edge_new {
            st.peers_where(obs.identity, |peer| {
                !g.edge_is_new(peer, obs.dst, t, cfg.edge_ttl)
            })
        } else {
            (0, None)
        };
        let named_peers = if edge_new {
            st.group_members_where(profile.group, obs.identity, |m| {
                !g.edge_is_new(m, obs.dst, t, cfg.edge_ttl)
                    && g.identities
                        .get(&m)
                        .is_some_and(|mp| mp.places.iter().any(|p| profile.places.contains(p)))
            })
        } else {
            0
        };
        let (novelty_rate, novelty_prior) = if edge_new || src_new {
            let prior = st.prior(obs.identity, profile.kind);
            let rate = profile
                .novelty
                .rate(prior, f64::from(cfg.novelty_prior_days));
            (rate, prior)
        } else {
            (f64::NAN, f64::NAN)
        };
        let edge_flows =
            (obs.via == Via::Service).then(|| g.edge_flows(obs.identity, obs.dst, obs.port));
        // A logon at the host itself (source = destination) says where the identity now runs:
        // judged as a new source, not as reach.
        let local = obs.src == Some(obs.dst);
        let dst_unlike = (edge_new && obs.via != Via::Failure && !local)
            .then(|| unlike(g, profile, obs, dst.is_some() && dst_stem_new))
            .flatten();
        let (src_env, src_zone, _, _) = host_attrs(g, src);
        let (dst_env, dst_zone, dst_role, crown) = host_attrs(g, dst);
        Context {
            g,
            rules,
            syms,
            profile,
            obs,
            chain,
            edge_new,
            src_new,
            dst,
            src,
            src_stem_new,
            dst_unlike,
            failed,
            failed_slow,
            novel,
            peers: learned_peers.0 + named_peers,
            learned_peers,
            named_peers,
            novelty_rate,
            novelty_prior,
            edge_flows,
            src_env,
            src_zone,
            dst_env,
            dst_zone,
            dst_role,
            crown,
            id_env: identity_env(g, rules, profile),
        }
    }

    /// A name.
    pub fn name(&self, s: Sym) -> &'a str {
        self.syms.resolve(s)
    }

    /// A group's name.
    pub fn group_name(&self, group: Group) -> &'a str {
        self.syms.resolve(group)
    }

    /// A learned place, for explanations: a community with its size and first hosts, or a role.
    pub fn place_name(&self, place: Place) -> String {
        match place {
            Place::Community(c) => {
                let Some(info) = self.g.structure.community_list.get(c as usize) else {
                    return format!("community {c}");
                };
                let examples: Vec<&str> = info.examples.iter().map(|&h| self.name(h)).collect();
                format!(
                    "community {c} ({} hosts: {}{})",
                    info.size,
                    examples.join(", "),
                    if info.size as usize > examples.len() {
                        ", …"
                    } else {
                        ""
                    }
                )
            }
            Place::Workstations => "a workstation-like host".into(),
            Place::Hubs => "an authentication hub".into(),
        }
    }
}

/// Whether (and why) the observation's destination is unlike every host the identity reaches:
/// by learned place; names, when they carry meaning, decide only where the structure has no
/// place for the destination, and otherwise add to the explanation.
fn unlike(
    g: &Graph,
    profile: &IdentityProfile,
    obs: &Observation,
    stem_new: bool,
) -> Option<Unlike> {
    let st = &g.structure;
    let stems = st.host_stems_informative;
    let known = &profile.places;
    match st.place(obs.dst) {
        Some(place) if !known.is_empty() => {
            if known.contains(&place) {
                return None;
            }
            let closest = st.resemblance(obs.identity, obs.dst);
            if closest.is_some_and(|(sim, _)| sim >= RESEMBLANCE_SIMILARITY) {
                return None;
            }
            Some(Unlike::Place {
                place,
                closest,
                stem_too: stems && stem_new,
            })
        }
        _ => (stems && stem_new).then_some(Unlike::Name),
    }
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
