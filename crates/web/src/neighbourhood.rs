//! An alert's neighbourhood: the identity, where it is normally used from and what it
//! normally reaches (its baseline before the incident), the alert's new edges, the peers that
//! reach the alert's destination, and the hop in of a credential-switching chain.
//!
//! **The alert's new edges** are the distinct (source, destination) pairs of the observations
//! grouped into it, plus, for destinations of the incident that no listed observation names
//! (the list is capped), an edge from no particular source. Each is drawn as one red path
//! source → identity → destination.
//!
//! The baseline comes from the reach graph: edges first seen before the incident's first time
//! are baseline destinations; sources are the alert's baseline sources and the graph's sources
//! not used in the alert. Without a graph, only the alert's own baseline sources are known.

use crate::graph::ReachGraph;
use reachwatch_model::alert::Step;
use reachwatch_model::Alert;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Baseline sources shown (the others are counted).
pub const MAX_BASELINE_SOURCES: usize = 16;
/// Baseline destinations shown (the others are counted).
pub const MAX_BASELINE_DESTINATIONS: usize = 20;
/// Destinations of the alert shown (the others are counted).
pub const MAX_ALERT_DESTINATIONS: usize = 200;
/// Peers shown.
pub const MAX_PEERS: usize = 8;

/// A host in the picture.
#[derive(Clone, Debug, Default)]
pub struct HostNode {
    /// Host name.
    pub name: String,
    /// Part of the identity's baseline (grey).
    pub baseline: bool,
    /// Named by the alert (red outline).
    pub in_alert: bool,
    /// Inventory environment.
    pub env: Option<String>,
    /// Crown jewel.
    pub crown_jewel: bool,
    /// Baseline uses of the edge to it (destinations).
    pub uses: i64,
    /// First use of the edge to it (destinations from the graph).
    pub first_seen: Option<i64>,
}

/// One of the alert's new edges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewEdge {
    /// Source host, when known.
    pub src: Option<String>,
    /// Destination host.
    pub dst: String,
    /// Services or ports of its observations.
    pub services: BTreeSet<String>,
    /// How it was seen: `auth`, `auth_failure`, `flow` (none: only listed as a destination).
    pub vias: BTreeSet<String>,
    /// Observations behind it.
    pub observations: usize,
    /// First and last observation (seconds).
    pub first: f64,
    /// Last observation (seconds).
    pub last: f64,
}

impl NewEdge {
    /// Only failed authentications.
    pub fn failed_only(&self) -> bool {
        !self.vias.is_empty() && self.vias.iter().all(|v| v == "auth_failure")
    }
}

/// An identity that reaches the alert's destination.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    /// Identity name.
    pub name: String,
    /// In the alerted identity's peer group.
    pub same_group: bool,
    /// Uses of its edge to the destination.
    pub count: i64,
    /// First use of that edge.
    pub first_seen: i64,
}

/// Everything the neighbourhood picture shows.
#[derive(Clone, Debug, Default)]
pub struct Neighbourhood {
    /// The identity.
    pub identity: String,
    /// Its peer group.
    pub group: String,
    /// Sources: the alert's first, then the baseline.
    pub sources: Vec<HostNode>,
    /// Baseline sources left out.
    pub hidden_sources: usize,
    /// Destinations: the alert's first, then the baseline.
    pub destinations: Vec<HostNode>,
    /// Destinations left out.
    pub hidden_destinations: usize,
    /// The alert's new edges, in time order.
    pub new_edges: Vec<NewEdge>,
    /// The hop into the intermediate host of a chain.
    pub hop_in: Option<Step>,
    /// The hop out of it: (source, destination).
    pub hop_out: Option<(Option<String>, String)>,
    /// The destination the peers are about (the alert's).
    pub peer_target: String,
    /// Identities reaching it before the incident.
    pub peers: Vec<Peer>,
    /// Peers left out.
    pub hidden_peers: usize,
    /// Whether a reach graph was available.
    pub has_graph: bool,
}

/// The alert's new edges (see the module documentation).
pub fn new_edges(alert: &Alert) -> Vec<NewEdge> {
    let ev = &alert.evidence;
    let mut edges: Vec<NewEdge> = vec![];
    let mut index: BTreeMap<(Option<&str>, &str), usize> = BTreeMap::new();
    for s in &ev.observations {
        let key = (s.src.as_deref(), s.dst.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            edges.push(NewEdge {
                src: s.src.clone(),
                dst: s.dst.clone(),
                first: s.time.0,
                last: s.time.0,
                ..NewEdge::default()
            });
            edges.len() - 1
        });
        let e = &mut edges[i];
        e.services.extend(s.service.clone());
        e.vias.insert(s.via.clone());
        e.observations += 1;
        e.first = e.first.min(s.time.0);
        e.last = e.last.max(s.time.0);
    }
    let named: HashSet<&str> = ev.observations.iter().map(|s| s.dst.as_str()).collect();
    for d in &ev.destinations {
        if !named.contains(d.as_str()) && !edges.iter().any(|e| e.src.is_none() && &e.dst == d) {
            edges.push(NewEdge {
                dst: d.clone(),
                first: ev.first_time.0,
                last: ev.last_time.0,
                ..NewEdge::default()
            });
        }
    }
    if edges.is_empty() {
        edges.push(NewEdge {
            src: alert.src.clone(),
            dst: alert.dst.clone(),
            services: alert.service.iter().cloned().collect(),
            first: alert.time.0,
            last: alert.time.0,
            ..NewEdge::default()
        });
    }
    edges
}

impl Neighbourhood {
    /// The neighbourhood of an alert, with the baseline from `graph` when there is one.
    pub fn of(alert: &Alert, graph: Option<&ReachGraph>) -> Neighbourhood {
        let ev = &alert.evidence;
        let before = ev.first_time.0.floor();
        let new_edges = new_edges(alert);
        let me = graph.and_then(|g| g.identity(&alert.identity));
        let host_attrs = |name: &str, node: &mut HostNode| {
            if let Some(h) = graph.and_then(|g| g.host(name).map(|i| &g.hosts[i])) {
                node.env = h.env.clone();
                node.crown_jewel = h.crown_jewel;
            }
        };

        // Sources: those of the alert, then the baseline's.
        let used: Vec<&str> = dedup(new_edges.iter().filter_map(|e| e.src.as_deref()));
        let listed: HashSet<String> = ev
            .baseline
            .sources
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        let mut sources: Vec<HostNode> = used
            .iter()
            .map(|s| HostNode {
                name: s.to_string(),
                baseline: listed.contains(&s.to_lowercase()),
                in_alert: true,
                ..HostNode::default()
            })
            .collect();
        let used_lower: HashSet<String> = used.iter().map(|s| s.to_lowercase()).collect();
        let mut baseline_sources: BTreeSet<&str> =
            ev.baseline.sources.iter().map(String::as_str).collect();
        if let (Some(g), Some(i)) = (graph, me) {
            baseline_sources.extend(
                g.identities[i]
                    .sources
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !used_lower.contains(&s.to_lowercase())),
            );
        }
        let baseline_sources: Vec<&str> = baseline_sources
            .into_iter()
            .filter(|s| !used_lower.contains(&s.to_lowercase()))
            .collect();
        let hidden_sources = baseline_sources.len().saturating_sub(MAX_BASELINE_SOURCES);
        sources.extend(
            baseline_sources
                .iter()
                .take(MAX_BASELINE_SOURCES)
                .map(|s| HostNode {
                    name: s.to_string(),
                    baseline: true,
                    ..HostNode::default()
                }),
        );
        sources
            .iter_mut()
            .for_each(|n| host_attrs(&n.name.clone(), n));

        // Destinations: the alert's (its list, then any other its edges name), then the baseline's.
        let alert_dsts: Vec<&str> = dedup(
            ev.destinations
                .iter()
                .map(String::as_str)
                .chain(new_edges.iter().map(|e| e.dst.as_str())),
        );
        let hidden_alert = alert_dsts.len().saturating_sub(MAX_ALERT_DESTINATIONS);
        let mut destinations: Vec<HostNode> = alert_dsts
            .iter()
            .take(MAX_ALERT_DESTINATIONS)
            .map(|d| HostNode {
                name: d.to_string(),
                in_alert: true,
                ..HostNode::default()
            })
            .collect();
        let mut baseline_edges: Vec<(&str, i64, i64)> = vec![];
        if let (Some(g), Some(i)) = (graph, me) {
            for e in g.edges_of(i) {
                if (e.first_seen as f64) < before {
                    baseline_edges.push((&g.hosts[e.host].name, e.count, e.first_seen));
                }
            }
        }
        baseline_edges.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut extra = 0;
        for (name, count, first) in baseline_edges {
            match destinations
                .iter_mut()
                .find(|d| d.name.eq_ignore_ascii_case(name))
            {
                Some(d) => {
                    d.baseline = true;
                    d.uses = count;
                    d.first_seen = Some(first);
                }
                None if extra < MAX_BASELINE_DESTINATIONS => {
                    extra += 1;
                    destinations.push(HostNode {
                        name: name.to_string(),
                        baseline: true,
                        uses: count,
                        first_seen: Some(first),
                        ..HostNode::default()
                    });
                }
                None => extra += 1,
            }
        }
        let hidden_destinations = hidden_alert + extra.saturating_sub(MAX_BASELINE_DESTINATIONS);
        destinations
            .iter_mut()
            .for_each(|n| host_attrs(&n.name.clone(), n));

        let (peers, hidden_peers) = peers(alert, graph, me, before);
        let hop_in = (ev.path.len() >= 2).then(|| ev.path[0].clone());
        let hop_out = ev
            .path
            .last()
            .filter(|_| ev.path.len() >= 2)
            .map(|s| (s.src.clone(), s.dst.clone()));
        Neighbourhood {
            identity: alert.identity.clone(),
            group: ev.peers.group.clone(),
            sources,
            hidden_sources,
            destinations,
            hidden_destinations,
            new_edges,
            hop_in,
            hop_out,
            peer_target: alert.dst.clone(),
            peers,
            hidden_peers,
            has_graph: graph.is_some(),
        }
    }
}

/// Identities other than the alerted one that reached the alert's destination before the
/// incident: its peer group first, then by use.
fn peers(
    alert: &Alert,
    graph: Option<&ReachGraph>,
    me: Option<usize>,
    before: f64,
) -> (Vec<Peer>, usize) {
    let Some(g) = graph else {
        return (vec![], 0);
    };
    let Some(host) = g.host(&alert.dst) else {
        return (vec![], 0);
    };
    let group = alert.evidence.peers.group.to_lowercase();
    let mut peers: Vec<Peer> = g
        .edges_into(host)
        .filter(|e| Some(e.identity) != me && (e.first_seen as f64) < before)
        .map(|e| {
            let id = &g.identities[e.identity];
            Peer {
                name: id.name.clone(),
                same_group: !group.is_empty() && id.group.to_lowercase() == group,
                count: e.count,
                first_seen: e.first_seen,
            }
        })
        .collect();
    peers.sort_by(|a, b| {
        b.same_group
            .cmp(&a.same_group)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.name.cmp(&b.name))
    });
    let hidden = peers.len().saturating_sub(MAX_PEERS);
    peers.truncate(MAX_PEERS);
    (peers, hidden)
}

/// Items in first-seen order without repeats (case-insensitive).
fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|s| seen.insert(s.to_lowercase())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::tests::alert;
    use crate::graph::{Edge, Host, Identity};
    use reachwatch_model::alert::Seconds;

    fn step(t: f64, src: Option<&str>, dst: &str, service: Option<&str>, via: &str) -> Step {
        Step {
            time: Seconds(t),
            identity: "svc_x".into(),
            src: src.map(String::from),
            dst: dst.into(),
            service: service.map(String::from),
            via: via.into(),
        }
    }

    #[test]
    fn new_edges_are_the_distinct_pairs_of_the_observations() {
        let mut a = alert("a", 100.0, "svc_x", "fan-out");
        a.evidence.observations = vec![
            step(100.0, Some("WS-1"), "FS-1", None, "auth"),
            step(101.0, Some("WS-1"), "FS-2", Some("445"), "flow"),
            step(102.0, Some("WS-1"), "FS-1", Some("cifs"), "auth_failure"),
        ];
        a.evidence.destinations = vec!["FS-1".into(), "FS-2".into(), "FS-3".into()];
        let e = new_edges(&a);
        let pairs: Vec<(Option<&str>, &str)> = e
            .iter()
            .map(|e| (e.src.as_deref(), e.dst.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                (Some("WS-1"), "FS-1"),
                (Some("WS-1"), "FS-2"),
                (None, "FS-3")
            ]
        );
        assert_eq!(e[0].observations, 2);
        assert_eq!(e[0].vias.len(), 2);
        assert!(!e[0].failed_only());
        assert_eq!(e[0].services.iter().collect::<Vec<_>>(), ["cifs"]);
    }

    fn graph() -> ReachGraph {
        let id = |n: &str, g: &str, src: &[&str]| Identity {
            name: n.into(),
            kind: "machine".into(),
            group: g.into(),
            sources: src.iter().map(|s| s.to_string()).collect(),
            ..Identity::default()
        };
        let host = |n: &str| Host {
            name: n.into(),
            ..Host::default()
        };
        let edge = |identity, host, first_seen, count| Edge {
            identity,
            host,
            first_seen,
            count,
            ..Edge::default()
        };
        ReachGraph::from_parts(
            vec![
                id("svc_x", "svc_x", &["BATCH-1", "WS-9"]),
                id("svc_x2", "svc_x", &[]),
                id("other", "o", &[]),
            ],
            vec![host("FS-1"), host("DB-1"), host("LATER-1")],
            vec![
                edge(0, 0, 10, 5),
                edge(0, 1, 20, 50),
                edge(0, 2, 500, 1),
                edge(1, 0, 30, 3),
                edge(2, 0, 40, 9),
                edge(2, 1, 700, 9),
            ],
        )
    }

    #[test]
    fn baseline_is_what_was_there_before_the_incident() {
        let mut a = alert("a", 100.0, "SVC_X", "new-source");
        a.evidence.first_time = Seconds(100.0);
        a.evidence.observations = vec![step(100.0, Some("WS-9"), "FS-1", None, "auth")];
        a.evidence.destinations = vec!["FS-1".into()];
        a.evidence.baseline.sources = vec!["BATCH-1".into()];
        a.evidence.peers.group = "svc_x".into();
        a.dst = "FS-1".into();
        let g = graph();
        let n = Neighbourhood::of(&a, Some(&g));
        let dsts: Vec<(&str, bool, bool)> = n
            .destinations
            .iter()
            .map(|d| (d.name.as_str(), d.in_alert, d.baseline))
            .collect();
        // LATER-1 was first reached after the incident: not baseline, not shown.
        assert_eq!(dsts, [("FS-1", true, true), ("DB-1", false, true)]);
        let srcs: Vec<(&str, bool, bool)> = n
            .sources
            .iter()
            .map(|d| (d.name.as_str(), d.in_alert, d.baseline))
            .collect();
        // WS-9 is in the graph's sources only because of the alert: not baseline.
        assert_eq!(srcs, [("WS-9", true, false), ("BATCH-1", false, true)]);
        let peers: Vec<(&str, bool)> = n
            .peers
            .iter()
            .map(|p| (p.name.as_str(), p.same_group))
            .collect();
        assert_eq!(peers, [("svc_x2", true), ("other", false)]);
    }

    #[test]
    fn without_a_graph_only_the_alert_is_drawn() {
        let mut a = alert("a", 100.0, "svc_x", "new-source");
        a.evidence.observations = vec![step(100.0, None, "FS-1", None, "auth")];
        a.evidence.baseline.sources = vec!["BATCH-1".into()];
        let n = Neighbourhood::of(&a, None);
        assert_eq!(n.destinations.len(), 1);
        assert_eq!(n.sources.len(), 1);
        assert!(n.sources[0].baseline);
        assert!(n.peers.is_empty());
        assert!(!n.has_graph);
    }
}
