//! The learned reach graph as three tables — `edges`, `identities`, `destinations` — built from
//! the engine's [`Graph`] and saved as one Parquet file per table in a directory.
//!
//! Times are whole seconds on the input's clock (relative for LANL, like alerts): the engine keeps
//! edge times as seconds since its first event, and they are shifted back by that start here.

use anyhow::{Context, Result};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use reachwatch_engine::Graph;
use reachwatch_model::{Interner, Sym};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Names of the graph tables, as registered in SQL and as files (`NAME.parquet`).
pub const GRAPH_TABLES: [&str; 3] = ["edges", "identities", "destinations"];

/// The reach graph's tables.
#[derive(Clone, Debug)]
pub struct GraphTables {
    /// One row per (identity, destination) edge.
    pub edges: RecordBatch,
    /// One row per identity.
    pub identities: RecordBatch,
    /// One row per host.
    pub destinations: RecordBatch,
}

/// Schema of `edges`: the edge with its usage, the flows' service ports and bytes, the
/// destination's inventory attributes and how many identities reach the destination.
pub fn edges_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("identity", false),
        s("identity_kind", false),
        s("identity_group", false),
        s("dst", false),
        s("dst_group", false),
        s("dst_env", true),
        s("dst_zone", true),
        s("dst_role", true),
        Field::new("crown_jewel", DataType::Boolean, false),
        i("first_seen"),
        i("last_seen"),
        i("count"),
        s("ports", false),
        i("services"),
        i("bytes"),
        i("dst_identities"),
    ]))
}

/// Schema of `identities`.
pub fn identities_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("identity", false),
        s("kind", false),
        s("group", false),
        s("env", true),
        s("home", true),
        i("first_seen"),
        i("last_seen"),
        i("observations"),
        i("destinations"),
        i("sources"),
        s("source_list", false),
        s("dst_envs", false),
    ]))
}

/// Schema of `destinations` (every host the graph knows).
pub fn destinations_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("host", false),
        s("group", false),
        s("env", true),
        s("zone", true),
        s("role", true),
        Field::new("crown_jewel", DataType::Boolean, false),
        i("first_seen"),
        Field::new("last_seen", DataType::Int64, true),
        i("identities"),
        i("sources"),
        s("machine_account", true),
    ]))
}

fn text<T>(rows: &[T], f: impl Fn(&T) -> Option<String>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn int<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

fn opt_int<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

fn boolean<T>(rows: &[T], f: impl Fn(&T) -> bool) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>())
}

const ENV: usize = 0;
const ZONE: usize = 1;
const ROLE: usize = 2;

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Saves an engine's reach graph as Parquet tables in `dir` (what `replay --graph-out` does).
pub fn save_graph(engine: &reachwatch_engine::Engine, dir: &Path) -> Result<()> {
    GraphTables::from_graph(engine.graph(), engine.symbols())?
        .save(dir)
        .with_context(|| format!("saving the reach graph to {}", dir.display()))
}

impl GraphTables {
    /// Builds the tables from an engine's graph and symbol table (rows sorted by name).
    pub fn from_graph(g: &Graph, syms: &Interner) -> Result<GraphTables> {
        let name = |s: Sym| syms.resolve(s);
        let secs = |rel: u32| g.data_start.div_euclid(1000) + i64::from(rel);
        let ms = |t: i64| t.div_euclid(1000);
        let group = |g: Sym| name(g).to_string();

        // Service ports and bytes per (identity, destination).
        let mut ports: BTreeMap<(Sym, Sym), (BTreeSet<u16>, u64)> = BTreeMap::new();
        for (&(id, dst, port), u) in &g.services {
            let e = ports.entry((id, dst)).or_default();
            e.0.insert(port);
            let bytes = u.bytes;
            e.1 = e.1.saturating_add(bytes);
        }
        let mut reach: BTreeMap<Sym, (i64, i64)> = BTreeMap::new();
        let mut sources_of: BTreeMap<Sym, BTreeSet<&str>> = BTreeMap::new();
        for &(id, src) in g.sources.keys() {
            sources_of.entry(id).or_default().insert(name(src));
        }
        let mut per_identity: BTreeMap<Sym, i64> = BTreeMap::new();
        for (&(id, dst), u) in &g.edges {
            let r = reach.entry(dst).or_insert((0, i64::MIN));
            r.0 += 1;
            r.1 = r.1.max(secs(u.last));
            *per_identity.entry(id).or_insert(0) += 1;
        }
        let mut host_sources: BTreeMap<Sym, i64> = BTreeMap::new();
        for &(_, dst) in g.host_edges.keys() {
            *host_sources.entry(dst).or_insert(0) += 1;
        }

        struct Edge<'a> {
            identity: Sym,
            dst: Sym,
            first: u32,
            last: u32,
            count: u32,
            ports: Option<&'a (BTreeSet<u16>, u64)>,
        }
        let mut edges: Vec<Edge> = g
            .edges
            .iter()
            .map(|(&(identity, dst), u)| Edge {
                identity,
                dst,
                first: u.first,
                last: u.last,
                count: u.count,
                ports: ports.get(&(identity, dst)),
            })
            .collect();
        edges.sort_by(|a, b| (name(a.identity), name(a.dst)).cmp(&(name(b.identity), name(b.dst))));
        let host = |s: Sym| g.hosts.get(&s);
        // Inventory attribute `which` (0 environment, 1 zone, 2 role) of a host.
        let attr = |s: Sym, which: usize| {
            host(s).and_then(|h| non_empty(g.attr([h.env, h.zone, h.role][which])))
        };
        let kind_of = |id: Sym| {
            g.identities
                .get(&id)
                .map_or("unknown", |p| p.kind.name())
                .to_string()
        };
        let group_of_id = |id: Sym| {
            g.identities
                .get(&id)
                .map_or(String::new(), |p| group(p.group))
        };
        let edges = RecordBatch::try_new(
            edges_schema(),
            vec![
                text(&edges, |e| Some(name(e.identity).to_string())),
                text(&edges, |e| Some(kind_of(e.identity))),
                text(&edges, |e| Some(group_of_id(e.identity))),
                text(&edges, |e| Some(name(e.dst).to_string())),
                text(&edges, |e| {
                    Some(host(e.dst).map_or(String::new(), |h| group(h.group)))
                }),
                text(&edges, |e| attr(e.dst, ENV)),
                text(&edges, |e| attr(e.dst, ZONE)),
                text(&edges, |e| attr(e.dst, ROLE)),
                boolean(&edges, |e| host(e.dst).is_some_and(|h| h.crown_jewel)),
                int(&edges, |e| secs(e.first)),
                int(&edges, |e| secs(e.last)),
                int(&edges, |e| i64::from(e.count)),
                text(&edges, |e| {
                    Some(e.ports.map_or(String::new(), |(p, _)| join(p.iter())))
                }),
                int(&edges, |e| e.ports.map_or(0, |(p, _)| p.len() as i64)),
                int(&edges, |e| {
                    e.ports.map_or(0, |&(_, b)| b.min(i64::MAX as u64) as i64)
                }),
                int(&edges, |e| reach.get(&e.dst).map_or(0, |r| r.0)),
            ],
        )?;

        let mut ids: Vec<Sym> = g.identities.keys().copied().collect();
        ids.sort_by_key(|&s| name(s));
        let identity_env = |id: Sym| {
            let p = &g.identities[&id];
            if p.env != 0 {
                return non_empty(g.attr(p.env));
            }
            p.home.and_then(|h| attr(h, ENV))
        };
        let dst_envs = |id: Sym| {
            let mask = g.identities[&id].dst_envs;
            let mut envs: Vec<&str> = (0..64)
                .filter(|b| mask & (1u64 << b) != 0)
                .map(|b| g.attr(b as u16 + 1))
                .collect();
            envs.sort_unstable();
            envs.join(",")
        };
        let identities = RecordBatch::try_new(
            identities_schema(),
            vec![
                text(&ids, |&s| Some(name(s).to_string())),
                text(&ids, |&s| Some(kind_of(s))),
                text(&ids, |&s| Some(group_of_id(s))),
                text(&ids, |&s| identity_env(s)),
                text(&ids, |&s| {
                    g.identities[&s].home.map(|h| name(h).to_string())
                }),
                int(&ids, |&s| ms(g.identities[&s].first_seen)),
                int(&ids, |&s| ms(g.identities[&s].last_seen)),
                int(&ids, |&s| {
                    g.identities[&s].observations.min(i64::MAX as u64) as i64
                }),
                int(&ids, |&s| per_identity.get(&s).copied().unwrap_or(0)),
                int(&ids, |&s| sources_of.get(&s).map_or(0, |v| v.len() as i64)),
                text(&ids, |&s| {
                    Some(sources_of.get(&s).map_or(String::new(), |v| join(v.iter())))
                }),
                text(&ids, |&s| Some(dst_envs(s))),
            ],
        )?;

        let mut hosts: Vec<Sym> = g.hosts.keys().copied().collect();
        hosts.sort_by_key(|&s| name(s));
        let destinations = RecordBatch::try_new(
            destinations_schema(),
            vec![
                text(&hosts, |&s| Some(name(s).to_string())),
                text(&hosts, |&s| Some(group(g.hosts[&s].group))),
                text(&hosts, |&s| attr(s, ENV)),
                text(&hosts, |&s| attr(s, ZONE)),
                text(&hosts, |&s| attr(s, ROLE)),
                boolean(&hosts, |&s| g.hosts[&s].crown_jewel),
                int(&hosts, |&s| ms(g.hosts[&s].first_seen)),
                opt_int(&hosts, |&s| reach.get(&s).map(|r| r.1)),
                int(&hosts, |&s| reach.get(&s).map_or(0, |r| r.0)),
                int(&hosts, |&s| host_sources.get(&s).copied().unwrap_or(0)),
                text(&hosts, |&s| {
                    g.hosts[&s].machine_account.map(|m| name(m).to_string())
                }),
            ],
        )?;
        Ok(GraphTables {
            edges,
            identities,
            destinations,
        })
    }

    /// The tables with their names, in [`GRAPH_TABLES`] order.
    pub fn named(&self) -> [(&'static str, &RecordBatch); 3] {
        [
            ("edges", &self.edges),
            ("identities", &self.identities),
            ("destinations", &self.destinations),
        ]
    }

    /// Saves the tables as `DIR/edges.parquet`, `DIR/identities.parquet` and
    /// `DIR/destinations.parquet` (the directory is created if missing).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (table, batch) in self.named() {
            let path = dir.join(format!("{table}.parquet"));
            write_parquet(&path, std::slice::from_ref(batch), &batch.schema())?;
        }
        Ok(())
    }
}

/// Writes record batches to one Parquet file (Snappy).
pub fn write_parquet(path: &Path, batches: &[RecordBatch], schema: &SchemaRef) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}
