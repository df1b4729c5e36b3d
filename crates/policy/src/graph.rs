//! The reach graph as policy generation needs it, read from the graph tables (`replay
//! --graph-out` or a `run` checkpoint): edges with ports and evidence, identities with their
//! kind, environment and sources, hosts with their environment and zone.

use anyhow::{Context, Result};
use reachwatch_hunt::blast::{ints, strings};
use reachwatch_hunt::Hunt;
use std::collections::BTreeMap;
use std::path::Path;

/// An identity → destination edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Identity.
    pub identity: String,
    /// Destination host.
    pub dst: String,
    /// Service ports seen in the identity's flows to it.
    pub ports: Vec<u16>,
    /// First use (seconds).
    pub first_seen: i64,
    /// Last use (seconds).
    pub last_seen: i64,
    /// Observations.
    pub count: i64,
}

/// An identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `machine`, `human` or `unknown`.
    pub kind: String,
    /// Environment (its group's, or its home host's).
    pub env: Option<String>,
    /// Hosts it was used from.
    pub sources: Vec<String>,
}

/// A host's inventory attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// Environment.
    pub env: Option<String>,
    /// Zone.
    pub zone: Option<String>,
}

/// The reach graph.
#[derive(Clone, Debug, Default)]
pub struct ReachMap {
    /// Edges, by identity then destination.
    pub edges: Vec<Edge>,
    /// Identities by name.
    pub identities: BTreeMap<String, Identity>,
    /// Hosts by name.
    pub hosts: BTreeMap<String, Host>,
}

fn rows(hunt: &Hunt, sql: &str, what: &str) -> Result<Vec<Vec<Option<String>>>> {
    let (schema, batches) = hunt.query(sql).with_context(|| format!("reading {what}"))?;
    let mut out = vec![];
    for b in &batches {
        let cols = (0..schema.fields().len())
            .map(|c| strings(b, c))
            .collect::<Result<Vec<_>>>()?;
        for r in 0..b.num_rows() {
            out.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(out)
}

fn list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|v| !v.is_empty())
}

impl ReachMap {
    /// Reads the reach graph of `dir` (a saved graph or a checkpoint directory).
    pub fn load(dir: &Path) -> Result<ReachMap> {
        let mut hunt = Hunt::new()?;
        hunt.register_graph_at(dir)?;
        ReachMap::from_hunt(&hunt)
    }

    /// Reads the graph tables registered in a session.
    pub fn from_hunt(hunt: &Hunt) -> Result<ReachMap> {
        let mut g = ReachMap::default();
        let (_, batches) = hunt
            .query(
                "SELECT identity, dst, ports, first_seen, last_seen, count FROM edges \
                 ORDER BY identity, dst",
            )
            .context("reading the edges table")?;
        for b in &batches {
            let (id, dst, ports) = (strings(b, 0)?, strings(b, 1)?, strings(b, 2)?);
            let (first, last, count) = (ints(b, 3)?, ints(b, 4)?, ints(b, 5)?);
            for r in 0..b.num_rows() {
                let ports = list(&ports[r])
                    .iter()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                g.edges.push(Edge {
                    identity: id[r].clone().unwrap_or_default(),
                    dst: dst[r].clone().unwrap_or_default(),
                    ports,
                    first_seen: first[r].unwrap_or(0),
                    last_seen: last[r].unwrap_or(0),
                    count: count[r].unwrap_or(0),
                });
            }
        }
        for r in rows(
            hunt,
            "SELECT identity, kind, env, source_list FROM identities",
            "the identities table",
        )? {
            g.identities.insert(
                r[0].clone().unwrap_or_default(),
                Identity {
                    kind: r[1].clone().unwrap_or_default(),
                    env: non_empty(&r[2]),
                    sources: list(&r[3]),
                },
            );
        }
        for r in rows(
            hunt,
            "SELECT host, env, zone FROM destinations",
            "the destinations table",
        )? {
            g.hosts.insert(
                r[0].clone().unwrap_or_default(),
                Host {
                    env: non_empty(&r[1]),
                    zone: non_empty(&r[2]),
                },
            );
        }
        Ok(g)
    }

    /// Latest use of any edge (seconds), or 0 for an empty graph.
    pub fn last_time(&self) -> i64 {
        self.edges.iter().map(|e| e.last_seen).max().unwrap_or(0)
    }
}
