//! Bounded state: identities, hosts and edges are held up to the caps of the rules' settings.
//!
//! When a table reaches its cap, one pass brings it down to three quarters of it, so that the
//! work is amortised over many events. Only identities and hosts with a thin record (fewer than
//! [`THIN`] events) may go: those seen fewest times first, the least recently seen among them
//! first. Names minted in a flood are each seen once, so the flood churns through itself while
//! anything seen twice outranks it. Those with a learned baseline go only once unseen for
//! `state_ttl`, so a flood cannot push real baselines out. When nothing more may go, an event
//! that needs a new identity or host is refused and counted. An evicted identity or host takes
//! its edges; edges beyond their own cap go least recently used first. Every eviction and
//! refusal is counted in [`super::Stats`].
//!
//! Reaching a cap makes the tables crowded until both are under half their caps again: while
//! crowded, an authentication that names nothing held (identity, source and destination all
//! without a profile) is passed over (counted, not learned) on the identity's first sighting
//! ([`crate::doorkeeper`]), so that a flood of minted names no longer churns through the tables.
//! Crowding also ends at a daily sweep that finds nothing passed over since the previous one.

use super::Engine;
use crate::graph::FxSet;
use reachwatch_model::classify::principal;
use reachwatch_model::{AuthEvent, Event, Interner, Sym, Ts};
use serde::{Deserialize, Serialize};

/// Events below which an identity's or host's record is thin: evicted first at a cap.
pub const THIN: u64 = 8;

/// Counts per kind of state entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Identity profiles.
    pub identities: u64,
    /// Host profiles.
    pub hosts: u64,
    /// Edges of every kind.
    pub edges: u64,
    /// Join entries: (source, destination) pairs remembered, flows waiting (evicted: decided
    /// early; refused: an authentication not remembered for the join).
    pub join: u64,
}

/// How full each bounded table is: entries held and cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateFill {
    /// Entries held.
    pub held: StateCounts,
    /// Caps.
    pub cap: StateCounts,
    /// A table reached its cap and identities or hosts are not yet under half of theirs: an
    /// unknown identity is learned from its second sighting on.
    pub crowded: bool,
}

/// Why state is forgotten, for the counters.
enum Cause {
    /// A table was at its cap.
    Cap,
    /// Unseen for `state_ttl` or `edge_ttl`.
    Unseen,
}

/// Edges one event adds at most: identity→destination, identity←source, host pair, service.
const EDGES_PER_EVENT: usize = 4;

/// The size a pass brings a table at its cap down to.
fn low_water(cap: usize) -> usize {
    cap - cap / 4
}

/// Eviction order of a thin entry: fewest events, then least recently seen, then by name (not
/// by symbol: numbering changes when the symbol table is compacted, and the choice must not).
type Rank = (u64, Ts, Sym);

/// The symbols of the `n` first candidates in eviction order.
fn first_in_order(mut candidates: Vec<Rank>, n: usize, syms: &Interner) -> FxSet<Sym> {
    let order = |a: &Rank, b: &Rank| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| syms.resolve(a.2).cmp(syms.resolve(b.2)))
    };
    if candidates.len() > n && n > 0 {
        candidates.select_nth_unstable_by(n - 1, order);
    }
    candidates.into_iter().take(n).map(|(_, _, s)| s).collect()
}

impl Engine {
    /// How full the bounded tables are.
    pub fn state_fill(&self) -> StateFill {
        let g = &self.st.graph;
        let l = self.rules.settings.limits;
        StateFill {
            held: StateCounts {
                identities: g.identities.len() as u64,
                hosts: g.hosts.len() as u64,
                edges: g.edge_count() as u64,
                join: self.st.join.len() as u64,
            },
            cap: StateCounts {
                identities: l.identities as u64,
                hosts: l.hosts as u64,
                edges: l.edges as u64,
                join: l.join_entries() as u64,
            },
            crowded: self.crowded(),
        }
    }

    /// Whether the tables are crowded: a first sighting that names nothing held is passed over.
    pub fn crowded(&self) -> bool {
        self.st.crowded
    }

    /// What `ev` would add: new identities and new hosts (upper bounds).
    fn additions(&self, ev: &Event) -> (usize, usize) {
        let g = &self.st.graph;
        let new_host = |h: &Sym| !g.hosts.contains_key(h);
        match ev {
            Event::Auth(a) => {
                let new_identity = !g.identities.contains_key(&a.identity);
                // A new computer account `HOST$` brings its host.
                let home = new_identity
                    && principal(self.st.syms.resolve(a.identity))
                        .strip_suffix('$')
                        .is_some_and(|h| {
                            self.st.syms.get(h.as_bytes()).is_none_or(|s| new_host(&s))
                        });
                let hosts = [Some(a.dst), a.src]
                    .iter()
                    .flatten()
                    .filter(|h| new_host(h))
                    .count();
                (usize::from(new_identity), hosts + usize::from(home))
            }
            Event::Flow(f) => {
                // The source's machine account, unless the host has one.
                let account = g
                    .hosts
                    .get(&f.src)
                    .and_then(|h| h.machine_account)
                    .is_none_or(|id| !g.identities.contains_key(&id));
                let hosts = [f.src, f.dst].iter().filter(|h| new_host(h)).count();
                (usize::from(account), hosts)
            }
        }
    }

    /// Makes room for what `ev` adds; false when it needs a new identity or host and none can
    /// be held (the event is then refused and counted).
    pub(super) fn admit(&mut self, ev: &Event) -> bool {
        let l = self.rules.settings.limits;
        let g = &self.st.graph;
        // Far from every cap (the common case): nothing to look up.
        if g.identities.len() < l.identities
            && g.hosts.len() + 3 <= l.hosts
            && g.edge_count() + EDGES_PER_EVENT <= l.edges
        {
            return true;
        }
        if self.st.graph.edge_count() + EDGES_PER_EVENT > l.edges {
            self.evict_edges(l.edges);
        }
        let (identities, hosts) = self.additions(ev);
        let fits = |g: &crate::graph::Graph| {
            g.identities.len() + identities <= l.identities && g.hosts.len() + hosts <= l.hosts
        };
        if fits(&self.st.graph) {
            return true;
        }
        self.st.crowded = true;
        if self.st.room_wait > 0 {
            self.st.room_wait -= 1;
        } else {
            self.evict_profiles(ev.time());
            if !fits(&self.st.graph) {
                // Nothing more may go now: let a share of the cap's events pass before the
                // next (linear) pass, so that refusals stay cheap.
                self.st.room_wait = (l.identities.min(l.hosts) / 16) as u64;
            }
        }
        let g = &self.st.graph;
        if g.identities.len() + identities > l.identities {
            self.st.stats.refused_full.identities += 1;
            return false;
        }
        if g.hosts.len() + hosts > l.hosts {
            self.st.stats.refused_full.hosts += 1;
            return false;
        }
        true
    }

    /// Whether `a` names nothing the engine holds: neither its identity nor its hosts have a
    /// profile (it relates to nothing learned).
    pub(super) fn holds_none_of(&self, a: &AuthEvent) -> bool {
        let g = &self.st.graph;
        !g.identities.contains_key(&a.identity)
            && !g.hosts.contains_key(&a.dst)
            && a.src.is_none_or(|s| !g.hosts.contains_key(&s))
    }

    /// Whether an authentication that names nothing the engine holds (the hash of its
    /// identity's name) is learned: always, unless the tables are crowded and this is the
    /// identity's first sighting.
    pub(super) fn learns_new_identity(&mut self, name_hash: u64) -> bool {
        !self.st.crowded || !self.st.doorkeeper.first_sight(name_hash)
    }

    /// Ends crowding once identities and hosts are both under half their caps, or (at the daily
    /// sweep, `day_passed`) when nothing was passed over since the previous sweep: the flood has
    /// stopped, and what it left is evicted first should a cap be reached again.
    pub(super) fn uncrowd(&mut self, day_passed: bool) {
        let l = self.rules.settings.limits;
        let g = &self.st.graph;
        let passed = self.st.stats.passed_over;
        let quiet = day_passed && passed == std::mem::replace(&mut self.st.passed_at_sweep, passed);
        if self.st.crowded
            && (quiet || (g.identities.len() < l.identities / 2 && g.hosts.len() < l.hosts / 2))
        {
            self.st.crowded = false;
            self.st.doorkeeper.clear();
        }
    }

    /// Brings identities and hosts at their caps down to three quarters of them, as far as the
    /// thin (or long unseen) ones go.
    fn evict_profiles(&mut self, now: Ts) {
        let l = self.rules.settings.limits;
        let unseen = now.saturating_sub(l.ttl);
        let g = &self.st.graph;
        let mut identities = FxSet::default();
        if g.identities.len() + 2 > l.identities {
            let (incidents, policy) = (&self.st.incidents, &self.st.policy_incidents);
            let candidates = g
                .identities
                .iter()
                .filter(|(id, p)| {
                    (p.observations < THIN || p.last_seen < unseen)
                        && !incidents.pending(id)
                        && !policy.pending(id)
                })
                .map(|(id, p)| (p.observations, p.last_seen, *id))
                .collect();
            let n = g.identities.len() - low_water(l.identities);
            identities = first_in_order(candidates, n, &self.st.syms);
        }
        let mut hosts = FxSet::default();
        if g.hosts.len() + 3 > l.hosts {
            let candidates = g
                .hosts
                .iter()
                .filter(|(_, h)| u64::from(h.uses) < THIN || h.last_seen < unseen)
                .map(|(s, h)| (u64::from(h.uses), h.last_seen, *s))
                .collect();
            let n = g.hosts.len() - low_water(l.hosts);
            hosts = first_in_order(candidates, n, &self.st.syms);
        }
        self.forget(&identities, &hosts, 0, Cause::Cap);
    }

    /// Forgets profiles and edges (see [`crate::graph::Graph::prune`]) with the chains that
    /// refer to them, and counts what went. (Group names nothing refers to any more go at the
    /// next compaction of the symbol table.)
    fn forget(&mut self, identities: &FxSet<Sym>, hosts: &FxSet<Sym>, cutoff: u32, cause: Cause) {
        let removed = self.st.graph.prune(identities, hosts, cutoff);
        if !hosts.is_empty() {
            self.st.chain_in.retain(|h, _| !hosts.contains(h));
        }
        let s = match cause {
            Cause::Cap => &mut self.st.stats.evicted_full,
            Cause::Unseen => &mut self.st.stats.evicted_ttl,
        };
        s.identities += identities.len() as u64;
        s.hosts += hosts.len() as u64;
        s.edges += removed as u64;
    }

    /// Brings the edges down to three quarters of their cap, least recently used first.
    fn evict_edges(&mut self, cap: usize) {
        let edges = self.st.graph.edge_count();
        let cutoff = self
            .st
            .graph
            .lru_cutoff(edges.saturating_sub(low_water(cap)));
        let removed = self
            .st
            .graph
            .prune(&FxSet::default(), &FxSet::default(), cutoff);
        self.st.stats.evicted_full.edges += removed as u64;
    }

    /// Forgets identities and hosts unseen for `state_ttl` (with their edges), and edges unseen
    /// for `edge_ttl`.
    pub(super) fn age_out(&mut self, now: Ts) {
        let l = self.rules.settings.limits;
        let unseen = now.saturating_sub(l.ttl);
        let g = &self.st.graph;
        let (incidents, policy) = (&self.st.incidents, &self.st.policy_incidents);
        let identities: FxSet<Sym> = g
            .identities
            .iter()
            .filter(|(id, p)| {
                p.last_seen < unseen
                    && !incidents.open.contains_key(*id)
                    && !policy.open.contains_key(*id)
            })
            .map(|(id, _)| *id)
            .collect();
        let hosts: FxSet<Sym> = g
            .hosts
            .iter()
            .filter(|(_, h)| h.last_seen < unseen)
            .map(|(s, _)| *s)
            .collect();
        let cutoff = g.rel(now.saturating_sub(self.rules.settings.edge_ttl));
        self.forget(&identities, &hosts, cutoff, Cause::Unseen);
        self.uncrowd(true);
    }
}
