//! What every feature may ask about one observation, worked out once before the features run.

use crate::graph::{Graph, HostProfile, IdentityProfile};
use crate::observation::{Observation, Via};
use reachwatch_model::{Interner, Sym, Ts};
use reachwatch_rules::RuleSet;

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
    /// The latest unusual login into the observation's source by another identity, within the
    /// chain window: (identity, time).
    pub chain_from: Option<(Sym, Ts)>,
    /// The (identity, destination) edge is unknown or aged out.
    pub edge_new: bool,
    /// The identity was never (or not lately) used from the observation's source.
    pub src_new: bool,
    /// The destination's profile.
    pub dst: Option<&'a HostProfile>,
    /// The source's profile.
    pub src: Option<&'a HostProfile>,
    /// The destination's group is new for the identity.
    pub dst_group_new: bool,
    /// Distinct destinations of the identity's recent failures.
    pub failed: usize,
    /// Novel destinations of the identity within the fan-out window (this one included).
    pub novel: u32,
    /// Identities of the identity's peer group reaching the destination.
    pub peers: u32,
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
        chain_from: Option<(Sym, Ts)>,
    ) -> Context<'a> {
        let cfg = &rules.settings;
        let t = obs.time;
        let edge_new = g.edge_is_new(obs.identity, obs.dst, t, cfg.edge_ttl);
        let dst = g.hosts.get(&obs.dst);
        let src = obs.src.and_then(|s| g.hosts.get(&s));
        let dst_group_new = dst.is_some_and(|h| !profile.dst_groups.contains(&h.group));
        let mut failed: Vec<Sym> = profile.recent_failures().map(|(_, d)| *d).collect();
        failed.sort_unstable();
        failed.dedup();
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
        let (src_env, src_zone, _, _) = host_attrs(g, src);
        let (dst_env, dst_zone, dst_role, crown) = host_attrs(g, dst);
        Context {
            g,
            rules,
            syms,
            profile,
            obs,
            chain_from,
            edge_new,
            src_new,
            dst,
            src,
            dst_group_new,
            failed: failed.len(),
            novel,
            peers: g
                .group_reach
                .get(&(profile.group, obs.dst))
                .copied()
                .unwrap_or(0),
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
    pub fn group_name(&self, id: u32) -> &'a str {
        group_name(self.g, id)
    }
}

/// A group's name ("?" for an unknown id).
pub fn group_name(g: &Graph, id: u32) -> &str {
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
