//! Learned structure on small hand-built graphs with known answers.

use super::roles::Role;
use super::{learn, Place};
use crate::graph::{Graph, IdentityProfile};
use crate::observation::{Observation, Via};
use reachwatch_model::time::DAY;
use reachwatch_model::{AuthProtocol, IdentityKind, Interner, LogonType, Sym};
use reachwatch_rules::RuleSet;

struct World {
    g: Graph,
    rules: RuleSet,
    syms: Interner,
}

impl World {
    fn new() -> World {
        World {
            g: Graph::default(),
            rules: reachwatch_rules::builtin(),
            syms: Interner::new(),
        }
    }

    fn host(&mut self, name: &str) -> Sym {
        let h = self.syms.intern(name.as_bytes());
        self.g.host(&mut self.syms, &self.rules, h, 0);
        h
    }

    /// `id` (a machine identity) logs on from `src` to each of `dsts` on three days.
    fn reach(&mut self, id: &str, src: &str, dsts: &[&str]) {
        let identity = self.syms.intern(id.as_bytes());
        if !self.g.identities.contains_key(&identity) {
            let group = crate::graph::group_of(&mut self.syms, identity);
            let p = IdentityProfile::new(IdentityKind::Machine, group, 0, 0);
            self.g.identities.insert(identity, p);
        }
        let src = self.host(src);
        for dst in dsts {
            let dst = self.host(dst);
            for day in 0..3 {
                self.g.learn(&Observation {
                    time: day * DAY,
                    identity,
                    src: Some(src),
                    dst,
                    port: 0,
                    service: None,
                    protocol: AuthProtocol::Kerberos,
                    logon: LogonType::Network,
                    via: Via::Auth,
                    bytes: 0,
                });
            }
        }
    }

    fn sym(&mut self, name: &str) -> Sym {
        self.syms.intern(name.as_bytes())
    }
}

#[test]
fn hosts_reached_by_the_same_identities_form_one_community() {
    // Names say nothing: C1-C3 are reached by S1-S3, C4-C5 by S4-S5.
    let mut w = World::new();
    for id in ["S1", "S2", "S3"] {
        w.reach(id, "C9", &["C1", "C2", "C3"]);
    }
    for id in ["S4", "S5"] {
        w.reach(id, "C8", &["C4", "C5"]);
    }
    let s = learn(&w.g, &w.syms, &[], 3 * DAY);
    let c: Vec<Option<u32>> = ["C1", "C2", "C3", "C4", "C5"]
        .iter()
        .map(|h| {
            let h = w.sym(h);
            s.communities.get(&h).copied()
        })
        .collect();
    assert!(c.iter().all(Option::is_some), "{c:?}");
    assert!(c[0] == c[1] && c[1] == c[2], "{c:?}");
    assert_eq!(c[3], c[4]);
    assert_ne!(c[0], c[3]);
    assert_eq!(s.community_list[c[0].unwrap() as usize].size, 3);
}

#[test]
fn roles_follow_how_hosts_are_used() {
    let mut w = World::new();
    // C10: network logons from several identities (a server).
    w.reach("S1", "C30", &["C10"]);
    w.reach("S2", "C31", &["C10"]);
    // C20: people log on at its console, and it reaches more than reaches it (a workstation).
    let ws = w.host("C20");
    w.g.hosts.get_mut(&ws).unwrap().activity.console = 5;
    // C40: receives most ticket requests (a hub).
    let dc = w.host("C40");
    w.g.hosts.get_mut(&dc).unwrap().activity.tickets = 500;
    // C50: remote-interactive logons in, logons out to several hosts (a jump host).
    w.reach("S3", "C50", &["C10", "C60"]);
    let jump = w.host("C50");
    w.g.hosts.get_mut(&jump).unwrap().activity.remote_in = 3;
    for dst in ["C10", "C60"] {
        let dst = w.sym(dst);
        w.g.record_host_edge(jump, dst, DAY, 30 * DAY);
    }
    let s = learn(&w.g, &w.syms, &[], 3 * DAY);
    let role = |w: &mut World, h: &str| {
        let h = w.sym(h);
        s.role(h)
    };
    assert_eq!(role(&mut w, "C10"), Some(Role::Server));
    assert_eq!(role(&mut w, "C20"), Some(Role::Workstation));
    assert_eq!(role(&mut w, "C40"), Some(Role::Hub));
    assert_eq!(role(&mut w, "C50"), Some(Role::JumpHost));
    assert_eq!(
        role(&mut w, "C60"),
        None,
        "one identity reaches it: nothing shown"
    );
    assert_eq!(s.place(ws), Some(Place::Workstations));
    assert_eq!(s.place(dc), Some(Place::Hubs));
}

#[test]
fn identities_with_similar_reach_and_sources_are_peers() {
    let mut w = World::new();
    w.reach("U1", "C9", &["C1", "C2", "C3"]);
    w.reach("U2", "C9", &["C1", "C2", "C3", "C4"]);
    w.reach("U3", "C7", &["C5", "C6"]);
    w.reach("U4", "C7", &["C5", "C6"]);
    let s = learn(&w.g, &w.syms, &[], 3 * DAY);
    let peer = |w: &mut World, id: &str| {
        let id = w.sym(id);
        s.peer_of.get(&id).copied()
    };
    let (u1, u2, u3, u4) = (
        peer(&mut w, "U1"),
        peer(&mut w, "U2"),
        peer(&mut w, "U3"),
        peer(&mut w, "U4"),
    );
    assert!(u1.is_some() && u3.is_some());
    assert_eq!(u1, u2);
    assert_eq!(u3, u4);
    assert_ne!(u1, u3);
    let u1s = w.sym("U1");
    let u2s = w.sym("U2");
    let c4 = w.sym("C4");
    let reaches_c4 = |id: Sym| w.g.edges.contains_key(&(id, c4));
    assert_eq!(s.peers_where(u1s, reaches_c4), (1, Some(u2s)));
}

#[test]
fn what_is_learned_does_not_depend_on_the_order_names_were_first_seen() {
    // The same graph, its names first seen in opposite orders (a replay, and a stream read
    // from several partitions): communities, their examples and peer groups are the same.
    let names = [
        "C1", "C2", "C3", "C4", "C5", "C8", "C9", "S1", "S2", "S3", "S4", "S5",
    ];
    let learned = |order: &[&str]| {
        let mut w = World::new();
        for n in order {
            w.sym(n);
        }
        for id in ["S1", "S2", "S3"] {
            w.reach(id, "C9", &["C1", "C2", "C3"]);
        }
        for id in ["S4", "S5"] {
            w.reach(id, "C8", &["C4", "C5"]);
        }
        let s = learn(&w.g, &w.syms, &[], 3 * DAY);
        let name = |x: &Sym| w.syms.resolve(*x).to_string();
        let communities: Vec<(String, u32)> = ["C1", "C4"]
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    s.communities[&w.syms.get(h.as_bytes()).unwrap()],
                )
            })
            .collect();
        let examples: Vec<Vec<String>> = s
            .community_list
            .iter()
            .map(|c| c.examples.iter().map(name).collect())
            .collect();
        let peers: Vec<Vec<String>> = s
            .peers
            .iter()
            .map(|p| p.iter().map(name).collect())
            .collect();
        (communities, examples, peers)
    };
    let mut reversed = names;
    reversed.reverse();
    let (a, b) = (learned(&names), learned(&reversed));
    assert_eq!(a, b);
    assert_eq!(a.1[0], vec!["C1", "C2", "C3"], "examples in name order");
}
