//! The reach graph as the pages need it: identities, hosts and identity → host edges in memory,
//! read from a hunting session that has the graph tables registered (`edges`, `identities`,
//! `destinations`: what `replay --graph-out` writes or a `run` checkpoint holds), with the blast
//! radius of every identity computed as `reachwatch graph blast-radius` computes it.
//!
//! Groupings: an identity's peer group (`group`) and a host's group, environment or community.
//! A `community` column, where the tables have one, is read; without it the pages fall back to
//! groups.

use anyhow::{Context, Result};
use reachwatch_hunt::blast::{self, ints, strings, BlastOptions};
use reachwatch_hunt::Hunt;
use reachwatch_rules::Inventory;
use std::collections::HashMap;

/// An identity of the graph.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// Name as first spelt.
    pub name: String,
    /// `machine`, `human` or `unknown`.
    pub kind: String,
    /// Peer group (name stem or rule-defined).
    pub group: String,
    /// Behaviour-learned community, when the graph has one.
    pub community: Option<String>,
    /// Environment (its group's, or inferred from what it reached).
    pub env: Option<String>,
    /// Home host, if known.
    pub home: Option<String>,
    /// First and last seen (seconds).
    pub first_seen: i64,
    /// Last seen (seconds).
    pub last_seen: i64,
    /// Observations of it.
    pub observations: i64,
    /// Hosts it was used from.
    pub sources: Vec<String>,
    /// Environments of the hosts it reaches.
    pub dst_envs: Vec<String>,
}

/// A host of the graph.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// Host name.
    pub name: String,
    /// Host group (name stem or rule-defined).
    pub group: String,
    /// Behaviour-learned community, when the graph has one.
    pub community: Option<String>,
    /// Inventory environment, zone and role.
    pub env: Option<String>,
    /// Inventory zone.
    pub zone: Option<String>,
    /// Inventory role.
    pub role: Option<String>,
    /// A crown jewel in the inventory.
    pub crown_jewel: bool,
    /// Identities reaching it.
    pub identities: i64,
}

/// An identity → host edge.
#[derive(Clone, Debug, Default)]
pub struct Edge {
    /// Index into [`ReachGraph::identities`].
    pub identity: usize,
    /// Index into [`ReachGraph::hosts`].
    pub host: usize,
    /// First and last use (seconds).
    pub first_seen: i64,
    /// Last use (seconds).
    pub last_seen: i64,
    /// Observations of the edge.
    pub count: i64,
    /// Service ports seen in its flows, comma-separated.
    pub ports: String,
    /// Bytes of its flows.
    pub bytes: i64,
    /// Identities that reach the host.
    pub dst_identities: i64,
}

/// One identity's blast radius (as `reachwatch graph blast-radius`).
#[derive(Clone, Debug, Default)]
pub struct Blast {
    /// Hosts reached.
    pub hosts: i64,
    /// Distinct destination ports.
    pub services: i64,
    /// Environments reached.
    pub environments: i64,
    /// Crown jewels reached.
    pub crown_jewels: i64,
    /// Destinations no other identity reaches.
    pub exclusive_edges: i64,
    /// Edges not used in the window.
    pub unused_edges: i64,
    /// The exclusive and unused edges: (host, exclusive, unused).
    pub details: Vec<(String, bool, bool)>,
}

/// An inventory in which only `production` is production (until the rules' is given).
fn production_only() -> Inventory {
    Inventory {
        production: vec!["production".into()],
        ..Inventory::default()
    }
}

/// The reach graph.
#[derive(Debug, Default)]
pub struct ReachGraph {
    /// Identities, by name.
    pub identities: Vec<Identity>,
    /// Hosts, by name.
    pub hosts: Vec<Host>,
    /// Edges, by identity then host.
    pub edges: Vec<Edge>,
    /// Whether identities carry a community column (else groups stand in).
    pub has_communities: bool,
    /// The blast-radius window (seconds before the graph's last activity).
    pub blast_window: i64,
    /// The rules' inventory (which environments count as production).
    pub inventory: Inventory,
    /// Destinations an identity must have reached before its environment is inferred (the
    /// rules' `settings.env_min_destinations`).
    pub env_min_destinations: usize,
    identity_index: HashMap<String, usize>,
    host_index: HashMap<String, usize>,
    edges_of: Vec<(usize, usize)>,
    edges_into: Vec<Vec<usize>>,
    blast: HashMap<usize, Blast>,
}

/// The blast-radius window of the pages: the default of `graph blast-radius`.
pub const BLAST_WINDOW_SECONDS: i64 = 7 * 86_400;

/// A whole table's rows as columns by name.
struct Table {
    names: Vec<String>,
    text: HashMap<String, Vec<Option<String>>>,
    rows: usize,
}

impl Table {
    fn read(hunt: &Hunt, sql: &str) -> Result<Table> {
        let (schema, batches) = hunt.query(sql)?;
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut text: HashMap<String, Vec<Option<String>>> = HashMap::new();
        let mut rows = 0;
        for b in &batches {
            rows += b.num_rows();
            for (i, n) in names.iter().enumerate() {
                text.entry(n.clone()).or_default().extend(strings(b, i)?);
            }
        }
        Ok(Table { names, text, rows })
    }

    fn has(&self, col: &str) -> bool {
        self.names.iter().any(|n| n == col)
    }

    fn opt(&self, col: &str, row: usize) -> Option<String> {
        self.text
            .get(col)
            .and_then(|c| c[row].clone())
            .filter(|s| !s.is_empty())
    }

    fn str(&self, col: &str, row: usize) -> String {
        self.opt(col, row).unwrap_or_default()
    }

    fn int(&self, col: &str, row: usize) -> i64 {
        self.opt(col, row).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn flag(&self, col: &str, row: usize) -> bool {
        self.opt(col, row).is_some_and(|s| s == "true")
    }

    fn list(&self, col: &str, row: usize) -> Vec<String> {
        self.str(col, row)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

impl ReachGraph {
    /// Reads the reach graph of `dir` (a saved graph or a checkpoint directory); production
    /// environments and environment inference are the built-in rules'.
    pub fn load(dir: &std::path::Path) -> Result<ReachGraph> {
        let mut hunt = Hunt::new()?;
        hunt.register_graph_at(dir)?;
        let mut graph = ReachGraph::from_hunt(&hunt)?;
        let rules = reachwatch_rules::builtin();
        graph.inventory = rules.inventory.clone();
        graph.env_min_destinations = rules.settings.env_min_destinations as usize;
        Ok(graph)
    }

    /// Reads the graph tables of a session (see [`reachwatch_hunt::Hunt::register_graph_dir`]).
    pub fn from_hunt(hunt: &Hunt) -> Result<ReachGraph> {
        let ids = Table::read(hunt, "SELECT * FROM identities ORDER BY identity")
            .context("reading the identities table")?;
        let hosts = Table::read(hunt, "SELECT * FROM destinations ORDER BY host")
            .context("reading the destinations table")?;
        let edges = Table::read(
            hunt,
            "SELECT identity, dst, first_seen, last_seen, count, ports, bytes, dst_identities \
             FROM edges ORDER BY identity, dst",
        )
        .context("reading the edges table")?;
        let mut g = ReachGraph {
            has_communities: ids.has("community"),
            blast_window: BLAST_WINDOW_SECONDS,
            inventory: production_only(),
            env_min_destinations: 2,
            ..ReachGraph::default()
        };
        for r in 0..ids.rows {
            g.add_identity(Identity {
                name: ids.str("identity", r),
                kind: ids.str("kind", r),
                group: ids.str("group", r),
                community: ids.opt("community", r),
                env: ids.opt("env", r),
                home: ids.opt("home", r),
                first_seen: ids.int("first_seen", r),
                last_seen: ids.int("last_seen", r),
                observations: ids.int("observations", r),
                sources: ids.list("source_list", r),
                dst_envs: ids.list("dst_envs", r),
            });
        }
        for r in 0..hosts.rows {
            g.add_host(Host {
                name: hosts.str("host", r),
                group: hosts.str("group", r),
                community: hosts.opt("community", r),
                env: hosts.opt("env", r),
                zone: hosts.opt("zone", r),
                role: hosts.opt("role", r),
                crown_jewel: hosts.flag("crown_jewel", r),
                identities: hosts.int("identities", r),
            });
        }
        for r in 0..edges.rows {
            let identity = g.identity_or_add(&edges.str("identity", r));
            let host = g.host_or_add(&edges.str("dst", r));
            g.edges.push(Edge {
                identity,
                host,
                first_seen: edges.int("first_seen", r),
                last_seen: edges.int("last_seen", r),
                count: edges.int("count", r),
                ports: edges.str("ports", r),
                bytes: edges.int("bytes", r),
                dst_identities: edges.int("dst_identities", r),
            });
        }
        g.read_blast(hunt)?;
        g.index_edges();
        Ok(g)
    }

    /// Builds a graph from rows in memory (edges name identities and hosts by index).
    pub fn from_parts(identities: Vec<Identity>, hosts: Vec<Host>, edges: Vec<Edge>) -> ReachGraph {
        let mut g = ReachGraph {
            has_communities: identities.iter().any(|i| i.community.is_some()),
            blast_window: BLAST_WINDOW_SECONDS,
            inventory: production_only(),
            env_min_destinations: 2,
            ..ReachGraph::default()
        };
        identities.into_iter().for_each(|i| g.add_identity(i));
        hosts.into_iter().for_each(|h| g.add_host(h));
        g.edges = edges;
        g.index_edges();
        g
    }

    fn add_identity(&mut self, i: Identity) {
        self.identity_index
            .entry(i.name.to_lowercase())
            .or_insert(self.identities.len());
        self.identities.push(i);
    }

    fn add_host(&mut self, h: Host) {
        self.host_index
            .entry(h.name.to_lowercase())
            .or_insert(self.hosts.len());
        self.hosts.push(h);
    }

    fn identity_or_add(&mut self, name: &str) -> usize {
        match self.identity(name) {
            Some(i) => i,
            None => {
                self.add_identity(Identity {
                    name: name.into(),
                    kind: "unknown".into(),
                    ..Identity::default()
                });
                self.identities.len() - 1
            }
        }
    }

    fn host_or_add(&mut self, name: &str) -> usize {
        match self.host(name) {
            Some(h) => h,
            None => {
                self.add_host(Host {
                    name: name.into(),
                    ..Host::default()
                });
                self.hosts.len() - 1
            }
        }
    }

    fn read_blast(&mut self, hunt: &Hunt) -> Result<()> {
        let opts = BlastOptions {
            window_seconds: self.blast_window,
            ..BlastOptions::default()
        };
        let (_, batches) = blast::summary(hunt, &opts).context("blast radius")?;
        for b in &batches {
            let names = strings(b, 0)?;
            let n: Vec<Vec<Option<i64>>> = (2..8).map(|c| ints(b, c)).collect::<Result<_>>()?;
            for (r, name) in names.iter().enumerate() {
                let Some(i) = name.as_deref().and_then(|n| self.identity(n)) else {
                    continue;
                };
                let v = |c: usize| n[c][r].unwrap_or(0);
                self.blast.insert(
                    i,
                    Blast {
                        hosts: v(0),
                        services: v(1),
                        environments: v(2),
                        crown_jewels: v(3),
                        exclusive_edges: v(4),
                        unused_edges: v(5),
                        details: vec![],
                    },
                );
            }
        }
        let (schema, batches) = blast::details(hunt, &opts).context("blast radius")?;
        let col = |n: &str| schema.index_of(n).context("blast radius details");
        let (c_id, c_dst, c_excl, c_unused) = (
            col("identity")?,
            col("dst")?,
            col("exclusive")?,
            col("unused")?,
        );
        for b in &batches {
            let (ids, dsts) = (strings(b, c_id)?, strings(b, c_dst)?);
            let (excl, unused) = (strings(b, c_excl)?, strings(b, c_unused)?);
            for r in 0..b.num_rows() {
                let Some(i) = ids[r].as_deref().and_then(|n| self.identity(n)) else {
                    continue;
                };
                let yes = |v: &Option<String>| v.as_deref() == Some("true");
                if let Some(entry) = self.blast.get_mut(&i) {
                    entry.details.push((
                        dsts[r].clone().unwrap_or_default(),
                        yes(&excl[r]),
                        yes(&unused[r]),
                    ));
                }
            }
        }
        Ok(())
    }

    fn index_edges(&mut self) {
        self.edges.sort_by_key(|e| (e.identity, e.host));
        self.edges_of = vec![(0, 0); self.identities.len()];
        self.edges_into = vec![vec![]; self.hosts.len()];
        let mut start = 0;
        for (i, e) in self.edges.iter().enumerate() {
            if i > 0 && self.edges[i - 1].identity != e.identity {
                start = i;
            }
            self.edges_of[e.identity] = (start, i + 1);
            self.edges_into[e.host].push(i);
        }
    }

    /// An identity's index by name (case-insensitive).
    pub fn identity(&self, name: &str) -> Option<usize> {
        self.identity_index.get(&name.to_lowercase()).copied()
    }

    /// A host's index by name (case-insensitive).
    pub fn host(&self, name: &str) -> Option<usize> {
        self.host_index.get(&name.to_lowercase()).copied()
    }

    /// The edges of an identity, by host.
    pub fn edges_of(&self, identity: usize) -> &[Edge] {
        let (a, b) = self.edges_of.get(identity).copied().unwrap_or((0, 0));
        &self.edges[a..b]
    }

    /// The edges into a host.
    pub fn edges_into(&self, host: usize) -> impl Iterator<Item = &Edge> {
        self.edges_into
            .get(host)
            .into_iter()
            .flatten()
            .map(|&i| &self.edges[i])
    }

    /// An identity's blast radius.
    pub fn blast(&self, identity: usize) -> Option<&Blast> {
        self.blast.get(&identity)
    }

    /// Per edge, the environment crossing it made, if any: `Some(identity environment)` when a
    /// non-production identity first reached a production host by it. The identity's
    /// environment is taken as the engine takes it when it scores: its fixed (or home host's)
    /// environment, else inferred from the environments it had reached before that edge
    /// (production if any was, the one if one was, else non-production; unknown before
    /// `env_min_destinations` destinations).
    pub fn crossing_edges(&self) -> Vec<Option<String>> {
        let mut out = vec![None; self.edges.len()];
        for (i, id) in self.identities.iter().enumerate() {
            let (a, b) = self.edges_of.get(i).copied().unwrap_or((0, 0));
            let mut order: Vec<usize> = (a..b).collect();
            order.sort_by_key(|&k| (self.edges[k].first_seen, k));
            let mut reached: std::collections::BTreeSet<&str> = Default::default();
            for (n, k) in order.into_iter().enumerate() {
                let host_env = self.hosts[self.edges[k].host].env.as_deref();
                let id_env: Option<&str> = match &id.env {
                    Some(e) => Some(e),
                    None if n >= self.env_min_destinations && !reached.is_empty() => {
                        Some(if reached.iter().any(|e| self.inventory.is_production(e)) {
                            "production"
                        } else if reached.len() == 1 {
                            reached.iter().next().copied().unwrap_or_default()
                        } else {
                            "non-production"
                        })
                    }
                    None => None,
                };
                if let (Some(ie), Some(he)) = (id_env, host_env) {
                    if self.inventory.crosses(ie, he) {
                        out[k] = Some(ie.to_string());
                    }
                }
                reached.extend(host_env);
            }
        }
        out
    }

    /// The grouping of an identity: its community where the graph has them, else its group.
    pub fn identity_cluster(&self, identity: usize) -> &str {
        let i = &self.identities[identity];
        i.community.as_deref().unwrap_or(&i.group)
    }
}
