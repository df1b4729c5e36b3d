//! The reach map: identities on the left, hosts on the right, aggregated so that it stays
//! readable at thousands of identities. By default identities are grouped by peer group (or
//! community, where the graph has one) and hosts by environment; drilling into an identity
//! group lists its identities, into a host cluster its hosts. Links are weighted by use (the
//! edges' observation counts); links with environment crossings (as the engine's
//! `environment-crossing`: a non-production identity reaching a production host) are
//! highlighted.
//!
//! Layout: hosts in name order; identity groups ordered by the use-weighted mean position of
//! what they reach (the barycentre heuristic for fewer crossing lines), ties by name. Nothing
//! random, so the same graph gives the same map.

use crate::graph::ReachGraph;
use crate::html::clip;
use crate::svg::{attr, curve, Svg, BOX_H};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Boxes per column; the rest are gathered into one "other" box.
pub const MAX_NODES: usize = 40;

/// How the map groups and filters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MapQuery {
    /// Identity grouping: `group` or `community`.
    pub by: String,
    /// Host grouping: `env`, `group` or `community`.
    pub hosts: String,
    /// Only identities of this kind (empty: all).
    pub kind: String,
    /// Drill into this identity group: its identities one by one.
    pub group: String,
    /// Drill into this host cluster: its hosts one by one.
    pub cluster: String,
}

impl MapQuery {
    /// Reads the query string; defaults: communities where the graph has them, else groups;
    /// hosts by environment.
    pub fn from_query(q: Option<&str>, g: &ReachGraph) -> MapQuery {
        let mut m = MapQuery {
            by: if g.has_communities {
                "community"
            } else {
                "group"
            }
            .into(),
            hosts: "env".into(),
            ..MapQuery::default()
        };
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            let v = v.to_string();
            match k.as_ref() {
                "by" if v == "group" || v == "community" => m.by = v,
                "hosts" if matches!(v.as_str(), "env" | "group" | "community") => m.hosts = v,
                "kind" => m.kind = v,
                "group" => m.group = v,
                "cluster" => m.cluster = v,
                _ => {}
            }
        }
        m
    }

    /// The query string with one key changed.
    pub fn with(&self, key: &str, value: &str) -> String {
        let pairs = [
            ("by", self.by.as_str()),
            ("hosts", &self.hosts),
            ("kind", &self.kind),
            ("group", &self.group),
            ("cluster", &self.cluster),
        ];
        crate::html::query_with(&pairs, key, value)
    }
}

/// A box of the map.
#[derive(Clone, Debug, Default)]
pub struct MapNode {
    /// Group, cluster, identity or host name.
    pub key: String,
    /// Identities (left) or hosts (right) in it.
    pub members: usize,
    /// Uses of its edges.
    pub uses: i64,
    /// Identities in it that have alerts (left).
    pub alerted: usize,
    /// Most common environment of its members.
    pub env: Option<String>,
    /// Gathers the boxes beyond [`MAX_NODES`].
    pub other: bool,
}

/// A line between a left and a right box.
#[derive(Clone, Debug, Default)]
pub struct MapLink {
    /// Left box.
    pub left: usize,
    /// Right box.
    pub right: usize,
    /// Identity → host edges behind it.
    pub edges: usize,
    /// Their uses.
    pub uses: i64,
    /// Distinct identities.
    pub identities: usize,
    /// Edges crossing environments.
    pub crossings: usize,
    /// The environment pairs crossed (identity env → host env).
    pub crossed: BTreeSet<(String, String)>,
}

/// The aggregated map.
#[derive(Clone, Debug, Default)]
pub struct ReachMap {
    /// Identity side, in layout order.
    pub left: Vec<MapNode>,
    /// Host side, in layout order.
    pub right: Vec<MapNode>,
    /// Links.
    pub links: Vec<MapLink>,
    /// Left boxes before gathering (for the tables under the map).
    pub all_left: Vec<MapNode>,
    /// Right boxes before gathering.
    pub all_right: Vec<MapNode>,
    /// Left boxes are single identities (drilled into a group).
    pub left_identities: bool,
    /// Right boxes are single hosts (drilled into a cluster).
    pub right_hosts: bool,
}

fn host_key(g: &ReachGraph, h: usize, how: &str) -> String {
    let host = &g.hosts[h];
    match how {
        "group" => host.group.clone(),
        "community" => host.community.clone().unwrap_or_else(|| host.group.clone()),
        _ => host.env.clone().unwrap_or_else(|| "no environment".into()),
    }
}

fn identity_key(g: &ReachGraph, i: usize, how: &str) -> String {
    let id = &g.identities[i];
    match how {
        "community" => g.identity_cluster(i).to_string(),
        _ => id.group.clone(),
    }
}

/// Names interned to indices.
#[derive(Default)]
struct Keys {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Keys {
    fn get(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// What the boxes of one side add up to.
#[derive(Clone, Default)]
struct Tally {
    members: usize,
    uses: i64,
    alerted: usize,
    envs: BTreeMap<String, usize>,
}

impl Tally {
    fn node(&self, key: &str) -> MapNode {
        let env = self
            .envs
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(e, _)| e.clone());
        MapNode {
            key: key.to_string(),
            members: self.members,
            uses: self.uses,
            alerted: self.alerted,
            env,
            other: false,
        }
    }
}

/// The boxes of a side, from the box of each member (`None`: left out) and the edges'
/// members and uses.
fn tally(
    keys: &Keys,
    box_of: &[Option<usize>],
    used: impl Iterator<Item = (usize, i64)>,
    env: impl Fn(usize) -> Option<String>,
    alerted: impl Fn(usize) -> bool,
) -> Vec<MapNode> {
    let mut t = vec![Tally::default(); keys.names.len()];
    let mut seen = vec![false; box_of.len()];
    for (m, uses) in used {
        let Some(b) = box_of[m] else { continue };
        t[b].uses += uses;
        if !std::mem::replace(&mut seen[m], true) {
            t[b].members += 1;
            t[b].alerted += usize::from(alerted(m));
            if let Some(e) = env(m) {
                *t[b].envs.entry(e).or_insert(0) += 1;
            }
        }
    }
    let mut nodes: Vec<MapNode> = t
        .iter()
        .enumerate()
        .filter(|(_, t)| t.members > 0)
        .map(|(i, t)| t.node(&keys.names[i]))
        .collect();
    nodes.sort_by(|a, b| a.key.cmp(&b.key));
    nodes
}

/// Aggregates the graph as `q` asks; `alerted` holds the (lowercase) identities with alerts.
pub fn aggregate(g: &ReachGraph, q: &MapQuery, alerted: &HashSet<String>) -> ReachMap {
    let left_identities = !q.group.is_empty();
    let right_hosts = !q.cluster.is_empty();
    // The box of every identity and host, once.
    let mut lkeys = Keys::default();
    let left_of: Vec<Option<usize>> = (0..g.identities.len())
        .map(|i| {
            let id = &g.identities[i];
            let group = identity_key(g, i, &q.by);
            let keep =
                (q.kind.is_empty() || id.kind == q.kind) && (!left_identities || group == q.group);
            keep.then(|| lkeys.get(if left_identities { &id.name } else { &group }))
        })
        .collect();
    let mut rkeys = Keys::default();
    let right_of: Vec<Option<usize>> = (0..g.hosts.len())
        .map(|h| {
            let cluster = host_key(g, h, &q.hosts);
            (!right_hosts || cluster == q.cluster).then(|| {
                rkeys.get(if right_hosts {
                    &g.hosts[h].name
                } else {
                    &cluster
                })
            })
        })
        .collect();
    let crossing = g.crossing_edges();
    let kept = |e: &crate::graph::Edge| left_of[e.identity].is_some() && right_of[e.host].is_some();
    type Key = (String, String);
    let mut links: BTreeMap<Key, MapLink> = BTreeMap::new();
    let mut acc: HashMap<(usize, usize), (MapLink, usize)> = HashMap::new();
    for (k, e) in g.edges.iter().enumerate().filter(|(_, e)| kept(e)) {
        let (Some(l), Some(r)) = (left_of[e.identity], right_of[e.host]) else {
            continue;
        };
        // Edges come by identity, so a new identity on a link is a change of identity.
        let (link, last) = acc
            .entry((l, r))
            .or_insert((MapLink::default(), usize::MAX));
        link.edges += 1;
        link.uses += e.count;
        if *last != e.identity {
            *last = e.identity;
            link.identities += 1;
        }
        if let (Some(a), Some(b)) = (&crossing[k], &g.hosts[e.host].env) {
            link.crossings += 1;
            link.crossed.insert((a.clone(), b.clone()));
        }
    }
    for ((l, r), (link, _)) in acc {
        links.insert((lkeys.names[l].clone(), rkeys.names[r].clone()), link);
    }
    let edges = || g.edges.iter().filter(|e| kept(e));
    let all_left = tally(
        &lkeys,
        &left_of,
        edges().map(|e| (e.identity, e.count)),
        |i| g.identities[i].env.clone(),
        |i| alerted.contains(&g.identities[i].name.to_lowercase()),
    );
    let all_right = tally(
        &rkeys,
        &right_of,
        edges().map(|e| (e.host, e.count)),
        |h| g.hosts[h].env.clone(),
        |_| false,
    );

    // Keep the most used boxes; gather the rest.
    let keep = |nodes: &[MapNode]| -> HashSet<String> {
        let mut by_use: Vec<&MapNode> = nodes.iter().collect();
        by_use.sort_by(|a, b| {
            (b.alerted > 0)
                .cmp(&(a.alerted > 0))
                .then(b.uses.cmp(&a.uses))
                .then_with(|| a.key.cmp(&b.key))
        });
        let cap = if nodes.len() > MAX_NODES {
            MAX_NODES - 1
        } else {
            MAX_NODES
        };
        by_use.iter().take(cap).map(|n| n.key.clone()).collect()
    };
    let (kept_left, kept_right) = (keep(&all_left), keep(&all_right));
    let gather = |nodes: &[MapNode], kept: &HashSet<String>| -> Vec<MapNode> {
        let mut out: Vec<MapNode> = nodes
            .iter()
            .filter(|n| kept.contains(&n.key))
            .cloned()
            .collect();
        let rest: Vec<&MapNode> = nodes.iter().filter(|n| !kept.contains(&n.key)).collect();
        if !rest.is_empty() {
            out.push(MapNode {
                key: format!("{} others", rest.len()),
                members: rest.iter().map(|n| n.members).sum(),
                uses: rest.iter().map(|n| n.uses).sum(),
                alerted: rest.iter().map(|n| n.alerted).sum(),
                env: None,
                other: true,
            });
        }
        out
    };
    let mut right_nodes = gather(&all_right, &kept_right);
    let mut left_nodes = gather(&all_left, &kept_left);
    let slot = |nodes: &[MapNode], kept: &HashSet<String>, key: &str| -> usize {
        if kept.contains(key) {
            nodes.iter().position(|n| n.key == key).unwrap_or(0)
        } else {
            nodes.len() - 1
        }
    };
    // Right in name order ("other" last); left by barycentre of what it reaches.
    right_nodes.sort_by(|a, b| a.other.cmp(&b.other).then_with(|| a.key.cmp(&b.key)));
    let mut bary: HashMap<String, (f64, f64)> = HashMap::new();
    for ((lk, rk), link) in &links {
        let r = slot(&right_nodes, &kept_right, rk) as f64;
        let lkey = if kept_left.contains(lk) {
            lk.clone()
        } else {
            left_nodes.last().map(|n| n.key.clone()).unwrap_or_default()
        };
        let w = (link.uses.max(1) as f64).ln() + 1.0;
        let e = bary.entry(lkey).or_insert((0.0, 0.0));
        e.0 += r * w;
        e.1 += w;
    }
    let pos = |n: &MapNode| bary.get(&n.key).map_or(0.0, |(s, w)| s / w);
    left_nodes.sort_by(|a, b| {
        a.other
            .cmp(&b.other)
            .then(pos(a).total_cmp(&pos(b)))
            .then_with(|| a.key.cmp(&b.key))
    });

    // Links between the boxes drawn (gathered ones merged).
    // (Identities are summed: one reaching two gathered boxes counts twice in "others".)
    let mut merged: BTreeMap<(usize, usize), MapLink> = BTreeMap::new();
    for ((lk, rk), link) in links {
        let l = slot(&left_nodes, &kept_left, &lk);
        let r = slot(&right_nodes, &kept_right, &rk);
        let m = merged.entry((l, r)).or_default();
        m.left = l;
        m.right = r;
        m.edges += link.edges;
        m.uses += link.uses;
        m.crossings += link.crossings;
        m.crossed.extend(link.crossed);
        m.identities += link.identities;
    }
    let links = merged.into_values().collect();
    ReachMap {
        left: left_nodes,
        right: right_nodes,
        links,
        all_left,
        all_right,
        left_identities,
        right_hosts,
    }
}

const COL_W: f64 = 240.0;
const GAP: f64 = 640.0;
const ROW: f64 = 30.0;
const TOP: f64 = 40.0;

/// Draws the map; boxes link to the drill-downs (`href` gives a box's link).
pub fn draw(
    m: &ReachMap,
    q: &MapQuery,
    left_href: &dyn Fn(&MapNode) -> Option<String>,
    right_href: &dyn Fn(&MapNode) -> Option<String>,
) -> String {
    let rows = m.left.len().max(m.right.len()).max(1);
    let height = TOP + rows as f64 * ROW + 20.0;
    let width = 20.0 + COL_W + GAP + COL_W + 20.0;
    let (lx, rx) = (20.0, 20.0 + COL_W + GAP);
    // Each column spreads over the whole height: a short one gets wider spacing.
    let y = |n: usize, i: usize| TOP + (i as f64 + 0.5) * rows as f64 * ROW / n.max(1) as f64;
    let mut svg = Svg::new(
        width,
        height,
        "Reach map: which identities reach which hosts",
    );
    let left_title = if m.left_identities {
        format!("identities of {}", q.group)
    } else {
        format!(
            "identities by {}",
            if q.by == "community" {
                "community"
            } else {
                "peer group"
            }
        )
    };
    let right_title = if m.right_hosts {
        format!("hosts of {}", q.cluster)
    } else {
        format!(
            "hosts by {}",
            match q.hosts.as_str() {
                "group" => "group",
                "community" => "community",
                _ => "environment",
            }
        )
    };
    svg.text(
        "col",
        lx + COL_W / 2.0,
        20.0,
        "middle",
        &clip(&left_title, 40),
    );
    svg.text(
        "col",
        rx + COL_W / 2.0,
        20.0,
        "middle",
        &clip(&right_title, 40),
    );
    let max_uses = m.links.iter().map(|l| l.uses).max().unwrap_or(1).max(1) as f64;
    let mut ordered: Vec<&MapLink> = m.links.iter().collect();
    ordered.sort_by_key(|l| (l.crossings > 0, l.uses));
    for l in ordered {
        let (a, b) = (&m.left[l.left], &m.right[l.right]);
        let width = 1.0 + 7.0 * (1.0 + l.uses as f64).ln() / (1.0 + max_uses).ln();
        let crossed: Vec<String> = l
            .crossed
            .iter()
            .map(|(x, y)| format!("{x} → {y}"))
            .collect();
        let tip = format!(
            "{} → {}: {} identit{}, {} edges, {} uses{}",
            a.key,
            b.key,
            l.identities,
            if l.identities == 1 { "y" } else { "ies" },
            l.edges,
            l.uses,
            if l.crossings > 0 {
                format!(
                    "; {} environment crossing{} ({})",
                    l.crossings,
                    if l.crossings == 1 { "" } else { "s" },
                    crossed.join(", ")
                )
            } else {
                String::new()
            }
        );
        svg.path(
            if l.crossings > 0 {
                "use crossing"
            } else {
                "use"
            },
            &format!(
                "{}{} style=\"stroke-width:{width:.1}\"",
                attr("data-left", &a.key),
                attr("data-right", &b.key)
            ),
            &curve(
                lx + COL_W,
                y(m.left.len(), l.left),
                rx,
                y(m.right.len(), l.right),
            ),
            &tip,
            None,
        );
    }
    for (i, n) in m.left.iter().enumerate() {
        let what = if m.left_identities {
            "identity"
        } else {
            "identities"
        };
        let tip = format!(
            "{}: {} {what}, {} uses{}{}{}",
            n.key,
            n.members,
            n.uses,
            n.env
                .as_deref()
                .map_or(String::new(), |e| format!(", mostly {e}")),
            if n.alerted > 0 {
                format!(", {} with alerts", n.alerted)
            } else {
                String::new()
            },
            if n.other {
                " (gathered: see the table below)"
            } else {
                ""
            }
        );
        let label = if m.left_identities {
            n.key.clone()
        } else {
            format!("{} ({})", n.key, n.members)
        };
        let class = format!(
            "group left{}{}",
            if n.alerted > 0 { " alerted" } else { "" },
            if n.other { " other" } else { "" }
        );
        svg.node(
            &class,
            &attr("data-key", &n.key),
            lx,
            y(m.left.len(), i) - BOX_H / 2.0,
            COL_W,
            &label,
            &tip,
            left_href(n).as_deref(),
        );
    }
    for (i, n) in m.right.iter().enumerate() {
        let tip = format!(
            "{}: {} host{}, {} uses{}{}",
            n.key,
            n.members,
            if n.members == 1 { "" } else { "s" },
            n.uses,
            n.env
                .as_deref()
                .map_or(String::new(), |e| format!(", environment {e}")),
            if n.other {
                " (gathered: see the table below)"
            } else {
                ""
            }
        );
        let label = if m.right_hosts {
            n.key.clone()
        } else {
            format!("{} ({})", n.key, n.members)
        };
        svg.node(
            &format!("group right{}", if n.other { " other" } else { "" }),
            &attr("data-key", &n.key),
            rx,
            y(m.right.len(), i) - BOX_H / 2.0,
            COL_W,
            &label,
            &tip,
            right_href(n).as_deref(),
        );
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Edge, Host, Identity};

    fn graph(n_groups: usize) -> ReachGraph {
        let mut ids = vec![];
        let mut edges = vec![];
        let hosts = vec![
            Host {
                name: "PROD-DB-01".into(),
                group: "prod-db".into(),
                env: Some("production".into()),
                ..Host::default()
            },
            Host {
                name: "STG-DB-01".into(),
                group: "stg-db".into(),
                env: Some("staging".into()),
                ..Host::default()
            },
        ];
        for g in 0..n_groups {
            for k in 0..3 {
                let env = if g == 0 { "staging" } else { "production" };
                ids.push(Identity {
                    name: format!("svc_g{g}_{k}"),
                    kind: "machine".into(),
                    group: format!("svc_g{g}"),
                    env: Some(env.into()),
                    ..Identity::default()
                });
                edges.push(Edge {
                    identity: ids.len() - 1,
                    host: 0,
                    count: 10 + g as i64,
                    ..Edge::default()
                });
            }
        }
        ReachGraph::from_parts(ids, hosts, edges)
    }

    #[test]
    fn groups_aggregate_and_crossings_are_counted() {
        let g = graph(2);
        let q = MapQuery::from_query(None, &g);
        let m = aggregate(&g, &q, &HashSet::from(["svc_g1_0".to_string()]));
        assert_eq!(m.left.len(), 2);
        assert_eq!(m.right.len(), 1, "only reached hosts are drawn");
        let g0 = m
            .links
            .iter()
            .find(|l| m.left[l.left].key == "svc_g0")
            .unwrap();
        assert_eq!(
            (g0.identities, g0.edges, g0.uses, g0.crossings),
            (3, 3, 30, 3)
        );
        assert!(g0
            .crossed
            .contains(&("staging".into(), "production".into())));
        let g1 = m
            .links
            .iter()
            .find(|l| m.left[l.left].key == "svc_g1")
            .unwrap();
        assert_eq!(g1.crossings, 0);
        assert_eq!(
            m.left.iter().find(|n| n.key == "svc_g1").unwrap().alerted,
            1
        );
    }

    #[test]
    fn an_inferred_environment_crosses_when_production_comes_later() {
        let host = |n: &str, env: &str| Host {
            name: n.into(),
            env: Some(env.into()),
            ..Host::default()
        };
        let edge = |host, first_seen| Edge {
            identity: 0,
            host,
            first_seen,
            count: 1,
            ..Edge::default()
        };
        let id = Identity {
            name: "svc_deploy_dev".into(),
            group: "svc_deploy_dev".into(),
            ..Identity::default()
        };
        let g = ReachGraph::from_parts(
            vec![id],
            vec![
                host("DEV-1", "development"),
                host("DEV-2", "development"),
                host("PROD-1", "production"),
            ],
            vec![edge(0, 10), edge(1, 20), edge(2, 30)],
        );
        let c = g.crossing_edges();
        assert_eq!(c, [None, None, Some("development".to_string())]);
        // Reached first, production makes the identity a production one: no crossing.
        let g2 = ReachGraph::from_parts(
            g.identities.clone(),
            g.hosts.clone(),
            vec![edge(2, 5), edge(0, 10), edge(1, 20)],
        );
        assert!(g2.crossing_edges().iter().all(Option::is_none));
    }

    #[test]
    fn thousands_of_groups_stay_within_the_box_limit() {
        let g = graph(500);
        let q = MapQuery::from_query(None, &g);
        let m = aggregate(&g, &q, &HashSet::new());
        assert_eq!(m.left.len(), MAX_NODES);
        assert_eq!(m.all_left.len(), 500);
        let other = m.left.last().unwrap();
        assert!(other.other);
        assert_eq!(other.members, (500 - MAX_NODES + 1) * 3);
        let uses: i64 = m.links.iter().map(|l| l.uses).sum();
        assert_eq!(
            uses,
            g.edges.iter().map(|e| e.count).sum::<i64>(),
            "nothing lost"
        );
    }

    #[test]
    fn drilling_into_a_group_lists_its_identities() {
        let g = graph(3);
        let q = MapQuery::from_query(Some("group=svc_g2"), &g);
        let m = aggregate(&g, &q, &HashSet::new());
        let keys: Vec<&str> = m.left.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, ["svc_g2_0", "svc_g2_1", "svc_g2_2"]);
        assert!(m.left_identities);
    }

    #[test]
    fn the_same_graph_gives_the_same_picture() {
        let g = graph(60);
        let q = MapQuery::from_query(Some("hosts=group"), &g);
        let draw_once = || {
            let m = aggregate(&g, &q, &HashSet::new());
            draw(&m, &q, &|_| None, &|_| None)
        };
        assert_eq!(draw_once(), draw_once());
    }
}
