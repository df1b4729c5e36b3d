//! Forgetting part of the reach graph: identities and hosts evicted for a cap or unseen too
//! long, and edges aged out or least recently used, with every count that refers to them kept
//! consistent.

use crate::graph::{FxMap, FxSet, Graph, Group};
use reachwatch_model::Sym;

impl Graph {
    /// Removes the profiles of `identities` and `hosts`, every edge that refers to one of them,
    /// and every edge last used before `cutoff` (seconds since the first event); returns how
    /// many edges went. Hosts' identity counts, identities' destination counts and the peer
    /// groups' reach follow.
    pub fn prune(&mut self, identities: &FxSet<Sym>, hosts: &FxSet<Sym>, cutoff: u32) -> usize {
        let before = self.edge_count();
        let groups: FxMap<Sym, Group> = identities
            .iter()
            .filter_map(|id| self.identities.get(id).map(|p| (*id, p.group)))
            .collect();
        self.identities.retain(|id, _| !identities.contains(id));
        self.hosts.retain(|h, _| !hosts.contains(h));
        let mut dropped = vec![];
        self.edges.retain(|&(id, dst), u| {
            let keep = u.last >= cutoff && !groups.contains_key(&id) && !hosts.contains(&dst);
            if !keep {
                dropped.push((id, dst));
            }
            keep
        });
        for (id, dst) in dropped {
            let group = match self.identities.get_mut(&id) {
                Some(p) => {
                    p.destinations = p.destinations.saturating_sub(1);
                    Some(p.group)
                }
                None => groups.get(&id).copied(),
            };
            if let Some(c) = group.and_then(|g| self.group_reach.get_mut(&(g, dst))) {
                *c = c.saturating_sub(1);
            }
            if let Some(h) = self.hosts.get_mut(&dst) {
                h.identities = h.identities.saturating_sub(1);
            }
        }
        let gone = |id: &Sym, h: &Sym| groups.contains_key(id) || hosts.contains(h);
        self.group_reach
            .retain(|(_, dst), c| *c > 0 && !hosts.contains(dst));
        self.services.retain(|(id, dst, _), u| {
            let usage = u.usage;
            usage.last >= cutoff && !gone(id, dst)
        });
        let (edges, services) = (&self.edges, &self.services);
        self.alerted_edges.retain(|e| edges.contains_key(e));
        self.edge_ports.retain(|&(id, dst), ports| {
            ports.retain(|p| services.contains_key(&(id, dst, *p)));
            !ports.is_empty()
        });
        self.sources
            .retain(|(id, src), last| *last >= cutoff && !gone(id, src));
        self.host_edges.retain(|(src, dst), last| {
            *last >= cutoff && !hosts.contains(src) && !hosts.contains(dst)
        });
        before - self.edge_count()
    }

    /// The last-use time (seconds since the first event) below which about `drop` edges of
    /// every kind were last used: pruning at it frees at least that many (more on ties).
    pub fn lru_cutoff(&self, drop: usize) -> u32 {
        let mut lasts: Vec<u32> = Vec::with_capacity(self.edge_count());
        lasts.extend(self.edges.values().map(|u| u.last));
        lasts.extend(self.services.values().map(|u| {
            let usage = u.usage;
            usage.last
        }));
        lasts.extend(self.sources.values().copied());
        lasts.extend(self.host_edges.values().copied());
        if lasts.is_empty() || drop == 0 {
            return 0;
        }
        let k = drop.min(lasts.len()) - 1;
        let (_, nth, _) = lasts.select_nth_unstable(k);
        // Every edge last used at or before the k-th oldest time goes.
        nth.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::IdentityProfile;
    use reachwatch_model::{IdentityKind, Interner};

    /// A graph where `u1` and `u2` (one peer group) reach `db` from `ws`, `u1` also `web`.
    fn graph() -> (Graph, Interner) {
        let mut syms = Interner::new();
        let mut g = Graph::default();
        let [u1, u2, ws, db, web] =
            ["u1", "u2", "ws", "db", "web"].map(|n| syms.intern(n.as_bytes()));
        let group = syms.intern(b"svc");
        for id in [u1, u2] {
            g.identities
                .insert(id, IdentityProfile::new(IdentityKind::Machine, group, 0, 0));
        }
        let rules = reachwatch_rules::builtin();
        for h in [ws, db, web] {
            g.host(&mut syms, &rules, h, 0);
        }
        g.record_edge(u1, Some(ws), db, 1_000);
        g.record_edge(u2, Some(ws), db, 2_000);
        g.record_edge(u1, Some(ws), web, 9_000);
        g.record_service(u1, db, 445, 10, 1_000);
        g.record_host_edge(ws, db, 2_000, i64::MAX / 4);
        (g, syms)
    }

    fn sym(syms: &Interner, n: &str) -> Sym {
        syms.get(n.as_bytes()).unwrap()
    }

    #[test]
    fn an_evicted_identity_takes_its_edges_and_its_share_of_counts() {
        let (mut g, syms) = graph();
        let (u1, db, web) = (sym(&syms, "u1"), sym(&syms, "db"), sym(&syms, "web"));
        let group = g.identities[&u1].group;
        assert_eq!(g.group_reach[&(group, db)], 2);
        let removed = g.prune(&[u1].into_iter().collect(), &FxSet::default(), 0);
        // u1→db, u1→web, u1→db:445, u1←ws.
        assert_eq!(removed, 4);
        assert!(!g.identities.contains_key(&u1));
        assert_eq!(g.group_reach[&(group, db)], 1, "u2 still reaches db");
        assert!(!g.group_reach.contains_key(&(group, web)));
        assert_eq!(g.hosts[&db].identities, 1);
        assert_eq!(g.hosts[&web].identities, 0);
        assert_eq!(g.host_edges.len(), 1, "host pairs are not the identity's");
    }

    #[test]
    fn an_evicted_host_takes_every_edge_that_names_it() {
        let (mut g, syms) = graph();
        let (u1, u2, ws) = (sym(&syms, "u1"), sym(&syms, "u2"), sym(&syms, "ws"));
        g.prune(
            &FxSet::default(),
            &[sym(&syms, "db")].into_iter().collect(),
            0,
        );
        assert_eq!(g.identities[&u1].destinations, 1, "web is left");
        assert_eq!(g.identities[&u2].destinations, 0);
        assert!(g.services.is_empty() && g.host_edges.is_empty());
        assert!(g.group_reach.keys().all(|(_, d)| *d == sym(&syms, "web")));
        assert_eq!(g.sources.len(), 2, "ws is still a source of both");
        assert!(g.sources.keys().all(|(_, s)| *s == ws));
    }

    #[test]
    fn the_least_recently_used_edges_go_first() {
        let (mut g, syms) = graph();
        // Edges last used at 1 s (u1→db, u1→db:445), 2 s (u2→db, host pair, u2←ws), 9 s (u1→web,
        // u1←ws).
        let cutoff = g.lru_cutoff(2);
        assert_eq!(cutoff, 2);
        assert_eq!(g.prune(&FxSet::default(), &FxSet::default(), cutoff), 2);
        let (u1, db) = (sym(&syms, "u1"), sym(&syms, "db"));
        assert!(!g.edges.contains_key(&(u1, db)));
        assert_eq!(g.identities[&u1].destinations, 1);
        assert_eq!(g.hosts[&db].identities, 1);
        assert_eq!(g.edge_count(), 5);
    }
}
