//! Structure learned from behaviour, so that names need not carry meaning: host roles, host
//! communities, identity peer groups, and the peers' novelty rates that calibrate each identity.
//!
//! [`learn`] recomputes it from the reach graph (at the end of the learning period and at every
//! daily sweep after it, never per event); between two computations, new edges and sources add
//! to what each identity reaches. Name stems and rule-file groups are judged here too: they count
//! as evidence only when they group things meaningfully.

pub mod calibration;
pub mod cluster;
pub mod roles;

#[cfg(test)]
mod tests;

use crate::engine::THIN;
use crate::graph::{FxMap, Graph, Group};
use calibration::{RateMean, DEFAULT_PRIOR};
use cluster::{cluster, similarity, Params};
use reachwatch_model::{IdentityKind, Interner, Sym, Ts};
use roles::{hub_min_tickets, role_of, Role, RoleEvidence};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Identities reaching more hosts than this say nothing about which hosts belong together, and
/// hosts reached by more identities than this say nothing about which identities are alike.
pub const MAX_INFORMATIVE_DEGREE: usize = 64;
/// Most pair updates per clustering (bounds the cost on any graph).
const PAIR_BUDGET: usize = 2_000_000;
/// Weighted Jaccard similarity (of who reaches them) at which two hosts are in one community.
const COMMUNITY_SIMILARITY: f64 = RESEMBLANCE_SIMILARITY;
/// Weighted Jaccard similarity at which two identities are peers.
const PEER_SIMILARITY: f64 = 0.5;
/// Resemblance (weighted Jaccard of who reaches them, the identity left out) at which a new
/// destination counts as one more host of a kind the identity already reaches.
pub const RESEMBLANCE_SIMILARITY: f64 = 0.7;
/// Destinations kept per machine identity for the resemblance check.
const MAX_LISTED_REACH: usize = 64;
/// Peers checked for peer support.
const MAX_PEERS_CHECKED: usize = 64;
/// Letters a name stem needs to name a group of identities (fewer name a kind: `svc`, `c`, `u`).
const MIN_STEM_LETTERS: usize = 4;
/// Name groups of two or more hosts needed before host names count as evidence.
const MIN_NAME_GROUPS: usize = 3;
/// Example hosts named per community.
const COMMUNITY_EXAMPLES: usize = 3;

/// Where a host sits in the learned structure: the groups an identity's reach is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Place {
    /// A community of hosts reached by similar machine identities.
    Community(u32),
    /// Workstation-like hosts (each is reached by its own people only, so they share a place).
    Workstations,
    /// Authentication hubs.
    Hubs,
}

/// A community: its size and a few of its hosts, for explanations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Community {
    /// Hosts in it.
    pub size: u32,
    /// Its first hosts (in name order).
    pub examples: SmallVec<[Sym; COMMUNITY_EXAMPLES]>,
}

/// The learned structure.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Structure {
    /// Event time of the last computation (`None` before the first).
    pub computed_at: Option<Ts>,
    /// Role of every host whose behaviour shows one.
    pub roles: FxMap<Sym, Role>,
    /// Community of every host reached by informative machine identities.
    pub communities: FxMap<Sym, u32>,
    /// Communities by id.
    pub community_list: Vec<Community>,
    /// Per host, the informative machine identities that reach it (sorted).
    pub reachers: FxMap<Sym, Box<[Sym]>>,
    /// Per machine identity, its destinations (in name order, at most 64).
    pub reach: FxMap<Sym, Box<[Sym]>>,
    /// Per informative machine identity, its weight as a reacher: 1 / hosts it reaches.
    pub weight: FxMap<Sym, f32>,
    /// Peer group of every identity with an informative destination or source.
    pub peer_of: FxMap<Sym, u32>,
    /// Members of each peer group (in name order).
    pub peers: Vec<Box<[Sym]>>,
    /// Mean novelty rate of each peer group's members.
    pub peer_rates: Vec<RateMean>,
    /// Mean novelty rate per identity kind (machine, human, unknown).
    pub kind_rates: [RateMean; 3],
    /// Host name stems group hosts meaningfully (three or more groups of several hosts, covering
    /// half the hosts, none holding nine tenths of them): only then are they evidence.
    pub host_stems_informative: bool,
    /// Members (sorted) of the identity groups that can be evidence: rule-file groups, and name
    /// stems of four letters or more shared by a few identities (2 to max(8, identities / 50)).
    pub group_members: FxMap<Group, Box<[Sym]>>,
}

fn kind_index(kind: IdentityKind) -> usize {
    match kind {
        IdentityKind::Machine => 0,
        IdentityKind::Human => 1,
        IdentityKind::Unknown => 2,
    }
}

/// Runs of equal keys in a sorted list of pairs: (key, values).
fn runs<K: Copy + PartialEq, V: Copy>(pairs: &[(K, V)]) -> impl Iterator<Item = (K, Vec<V>)> + '_ {
    pairs
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|p| p.1).collect()))
}

/// A symbol with its place in name order, which it sorts by.
type Ranked = (u32, Sym);

/// What an identity is clustered on: a destination it reaches (`false`) or a source it is used
/// from (`true`).
type Feature = (bool, Ranked);

/// Each identity's and host's place in name order. What is learned is ordered by it, never by
/// symbol: symbols are numbered in the order names were first seen, which differs between a
/// replay and a stream of the same events read from several partitions.
struct Ranks(FxMap<Sym, u32>);

impl Ranks {
    fn new(g: &Graph, syms: &Interner) -> Ranks {
        let mut all: Vec<Sym> = g.identities.keys().chain(g.hosts.keys()).copied().collect();
        all.sort_unstable_by(|a, b| syms.resolve(*a).cmp(syms.resolve(*b)).then(a.cmp(b)));
        all.dedup();
        Ranks(all.into_iter().zip(0..).collect())
    }

    /// The symbol's place (names not held come last, in symbol order).
    fn of(&self, s: Sym) -> Ranked {
        (self.0.get(&s).copied().unwrap_or(u32::MAX), s)
    }
}

/// Learns the structure from the graph as it is at `now`. `rule_groups` are the identity
/// groups the rules name (always evidence).
pub fn learn(g: &Graph, syms: &Interner, rule_groups: &[String], now: Ts) -> Structure {
    let mut s = Structure {
        computed_at: Some(now),
        ..Structure::default()
    };
    let ranks = Ranks::new(g, syms);
    learn_communities(g, &ranks, &mut s);
    learn_roles(g, &mut s);
    learn_peers(g, &ranks, &mut s);
    learn_names(g, syms, &ranks, rule_groups, &mut s);
    s
}

/// Host communities from the machine identity → host graph.
fn learn_communities(g: &Graph, ranks: &Ranks, s: &mut Structure) {
    let is_machine = |id: &Sym| {
        g.identities
            .get(id)
            .is_some_and(|p| p.kind == IdentityKind::Machine)
    };
    let mut edges: Vec<(Sym, Sym)> = g
        .edges
        .keys()
        .copied()
        .filter(|&e| is_machine(&e.0) && g.is_established(e))
        .collect();
    edges.sort_unstable_by_key(|&(id, dst)| (ranks.of(id), ranks.of(dst)));
    let mut by_host: Vec<(Sym, Sym)> = vec![];
    for (id, dsts) in runs(&edges) {
        let listed: Vec<Sym> = dsts.iter().copied().take(MAX_LISTED_REACH).collect();
        s.reach.insert(id, listed.into_boxed_slice());
        if dsts.len() > MAX_INFORMATIVE_DEGREE {
            continue;
        }
        s.weight.insert(id, 1.0 / dsts.len() as f32);
        by_host.extend(dsts.iter().map(|&d| (d, id)));
    }
    by_host.sort_unstable_by_key(|&(host, id)| (ranks.of(host), ranks.of(id)));
    let hosts: Vec<(Sym, Vec<Sym>)> = runs(&by_host).collect();
    let items: Vec<Vec<Ranked>> = hosts
        .iter()
        .map(|(_, ids)| ids.iter().map(|&id| ranks.of(id)).collect())
        .collect();
    let ids = cluster(
        &items,
        Params {
            threshold: COMMUNITY_SIMILARITY,
            max_degree: MAX_INFORMATIVE_DEGREE,
            pair_budget: PAIR_BUDGET,
        },
    );
    for ((host, reachers), id) in hosts.into_iter().zip(ids) {
        if let Some(c) = id {
            if s.community_list.len() <= c as usize {
                s.community_list
                    .resize(c as usize + 1, Community::default());
            }
            let community = &mut s.community_list[c as usize];
            community.size += 1;
            if community.examples.len() < COMMUNITY_EXAMPLES {
                community.examples.push(host);
            }
            s.communities.insert(host, c);
        }
        // In symbol order: `similarity` merges two lists.
        let mut reachers = reachers;
        reachers.sort_unstable();
        s.reachers.insert(host, reachers.into_boxed_slice());
    }
}

/// Host roles from activity counters and degrees.
fn learn_roles(g: &Graph, s: &mut Structure) {
    let mut reaches: FxMap<Sym, u32> = FxMap::default();
    for &(src, dst) in g.host_edges.keys() {
        if src != dst {
            *reaches.entry(src).or_insert(0) += 1;
        }
    }
    let total: u64 = g
        .hosts
        .values()
        .map(|h| u64::from(h.activity.tickets))
        .sum();
    let hub_min = hub_min_tickets(total);
    for (&host, h) in &g.hosts {
        let evidence = RoleEvidence {
            activity: h.activity,
            identities_in: h.identities,
            reaches: reaches.get(&host).copied().unwrap_or(0),
        };
        if let Some(role) = role_of(&evidence, hub_min) {
            s.roles.insert(host, role);
        }
    }
}

/// Identity peer groups from what identities reach and where they are used from, and the
/// novelty rates their members give as priors.
fn learn_peers(g: &Graph, ranks: &Ranks, s: &mut Structure) {
    let mut features: Vec<(Ranked, Feature)> = g
        .edges
        .keys()
        .filter(|&&e| g.is_established(e))
        .map(|&(id, dst)| (ranks.of(id), (false, ranks.of(dst))))
        .chain(
            g.sources
                .keys()
                .map(|&(id, src)| (ranks.of(id), (true, ranks.of(src)))),
        )
        .collect();
    features.sort_unstable();
    let identities: Vec<(Ranked, Vec<Feature>)> = runs(&features).collect();
    let items: Vec<Vec<Feature>> = identities.iter().map(|(_, f)| f.clone()).collect();
    let ids = cluster(
        &items,
        Params {
            threshold: PEER_SIMILARITY,
            max_degree: MAX_INFORMATIVE_DEGREE,
            pair_budget: PAIR_BUDGET,
        },
    );
    for (((_, id), _), group) in identities.into_iter().zip(ids) {
        let Some(group) = group else { continue };
        if s.peers.len() <= group as usize {
            s.peers.resize(group as usize + 1, Box::default());
        }
        let members = &mut s.peers[group as usize];
        let mut list = std::mem::take(members).into_vec();
        list.push(id);
        *members = list.into_boxed_slice();
        s.peer_of.insert(id, group);
    }
    s.peer_rates = vec![RateMean::default(); s.peers.len()];
    let mut ids: Vec<&Sym> = g.identities.keys().collect();
    ids.sort_unstable_by_key(|&&id| ranks.of(id));
    for id in ids {
        let p = &g.identities[id];
        let Some(rate) = p.novelty.own_rate() else {
            continue;
        };
        s.kind_rates[kind_index(p.kind)].add(rate);
        if let Some(&group) = s.peer_of.get(id) {
            s.peer_rates[group as usize].add(rate);
        }
    }
}

/// Whether name stems and rule-file groups carry meaning.
fn learn_names(
    g: &Graph,
    syms: &Interner,
    ranks: &Ranks,
    rule_groups: &[String],
    s: &mut Structure,
) {
    // Hosts and identities seen only a few times (names minted in a flood, say) say nothing
    // about how the estate is named.
    let mut host_groups: FxMap<Group, u32> = FxMap::default();
    let mut hosts = 0u32;
    for h in g.hosts.values().filter(|h| u64::from(h.uses) >= THIN) {
        *host_groups.entry(h.group).or_insert(0) += 1;
        hosts += 1;
    }
    let largest = host_groups.values().copied().max().unwrap_or(0);
    let shared: Vec<u32> = host_groups.values().copied().filter(|&n| n >= 2).collect();
    s.host_stems_informative = shared.len() >= MIN_NAME_GROUPS
        && shared.iter().sum::<u32>() * 2 >= hosts
        && largest * 10 <= hosts * 9;
    let mut by_group: Vec<(Group, Sym)> =
        g.identities.iter().map(|(&id, p)| (p.group, id)).collect();
    by_group.sort_unstable_by_key(|&(group, id)| (group, ranks.of(id)));
    let established = g
        .identities
        .values()
        .filter(|p| p.observations >= THIN)
        .count();
    let cap = (established / 50).max(8);
    for (group, members) in runs(&by_group) {
        let name = syms.resolve(group);
        let named = rule_groups.iter().any(|r| r.eq_ignore_ascii_case(name));
        // A stem that is only a short prefix (`svc`, `c`, `u`) names a kind, not a group.
        let letters = name.chars().filter(char::is_ascii_alphabetic).count();
        if named || ((2..=cap).contains(&members.len()) && letters >= MIN_STEM_LETTERS) {
            s.group_members.insert(group, members.into_boxed_slice());
        }
    }
}

impl Structure {
    /// Whether the structure has been computed.
    pub fn is_learned(&self) -> bool {
        self.computed_at.is_some()
    }

    /// The host's learned role.
    pub fn role(&self, host: Sym) -> Option<Role> {
        self.roles.get(&host).copied()
    }

    /// The host's place: workstations and hubs by role, other hosts by community.
    pub fn place(&self, host: Sym) -> Option<Place> {
        match self.role(host) {
            Some(Role::Workstation) => Some(Place::Workstations),
            Some(Role::Hub) => Some(Place::Hubs),
            _ => self.communities.get(&host).map(|&c| Place::Community(c)),
        }
    }

    /// How much `dst` resembles a host `identity` already reaches, judged by who else reaches
    /// them (the identity itself left out): the best weighted Jaccard similarity, and that host.
    pub fn resemblance(&self, identity: Sym, dst: Sym) -> Option<(f64, Sym)> {
        let theirs = self.reachers.get(&dst)?;
        let weight = |id: Sym| f64::from(self.weight.get(&id).copied().unwrap_or(0.0));
        let mut best: Option<(f64, Sym)> = None;
        for &known in self.reach.get(&identity)?.iter() {
            if known == dst {
                continue;
            }
            let Some(others) = self.reachers.get(&known) else {
                continue;
            };
            let sim = similarity(theirs, others, identity, weight);
            if best.is_none_or(|(b, _)| sim > b) {
                best = Some((sim, known));
            }
        }
        best
    }

    /// Learned peers of `identity` (itself left out) for which `reaches` holds, counted among
    /// the first 64, with the first such peer.
    pub fn peers_where(&self, identity: Sym, reaches: impl Fn(Sym) -> bool) -> (u32, Option<Sym>) {
        let Some(&group) = self.peer_of.get(&identity) else {
            return (0, None);
        };
        let mut count = 0;
        let mut first = None;
        for &peer in self.peers[group as usize]
            .iter()
            .filter(|&&p| p != identity)
            .take(MAX_PEERS_CHECKED)
        {
            if reaches(peer) {
                count += 1;
                first.get_or_insert(peer);
            }
        }
        (count, first)
    }

    /// The prior novelty rate for an identity: its peer group's mean when the group has other
    /// members with a history, else its kind's mean, else a default.
    pub fn prior(&self, identity: Sym, kind: IdentityKind) -> f64 {
        self.peer_of
            .get(&identity)
            .map(|&g| self.peer_rates[g as usize])
            .filter(|m| m.count() >= 2)
            .and_then(|m| m.mean())
            .or_else(|| self.kind_rates[kind_index(kind)].mean())
            .unwrap_or(DEFAULT_PRIOR)
    }

    /// Members of the identity's name group (a group that can be evidence), itself left out,
    /// for which `holds` is true, counted among the first 64.
    pub fn group_members_where(
        &self,
        group: Group,
        identity: Sym,
        holds: impl Fn(Sym) -> bool,
    ) -> u32 {
        self.group_members.get(&group).map_or(0, |members| {
            members
                .iter()
                .filter(|&&m| m != identity)
                .take(MAX_PEERS_CHECKED)
                .filter(|&&m| holds(m))
                .count() as u32
        })
    }

    /// Estimated heap bytes.
    pub fn estimated_bytes(&self) -> usize {
        fn map<K, V>(m: &FxMap<K, V>) -> usize {
            m.capacity() * (std::mem::size_of::<(K, V)>() + 1)
        }
        fn lists<K>(m: &FxMap<K, Box<[Sym]>>) -> usize {
            m.values().map(|v| v.len() * 4).sum()
        }
        map(&self.roles)
            + map(&self.communities)
            + map(&self.reachers)
            + lists(&self.reachers)
            + map(&self.reach)
            + lists(&self.reach)
            + map(&self.weight)
            + map(&self.peer_of)
            + self.peers.iter().map(|p| p.len() * 4 + 16).sum::<usize>()
            + self.community_list.len() * std::mem::size_of::<Community>()
            + map(&self.group_members)
            + lists(&self.group_members)
    }
}
