//! The reach graph for other tools: JSON (nodes and edges), GraphML and Graphviz DOT. Identity
//! nodes have ids `identity:NAME`, host nodes `host:NAME`, so the two never collide.

use crate::blast::{ints, sql_string, strings};
use crate::session::Hunt;
use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Export encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `{"nodes": [...], "edges": [...]}`.
    Json,
    /// GraphML (XML) with node and edge attributes.
    GraphMl,
    /// Graphviz DOT.
    Dot,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(ExportFormat::Json),
            "graphml" => Ok(ExportFormat::GraphMl),
            "dot" | "graphviz" => Ok(ExportFormat::Dot),
            _ => Err(format!(
                "unknown export format `{s}` (expected json, graphml or dot)"
            )),
        }
    }
}

/// Which edges to export.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// Only identities of this kind (`machine`, `human`, `unknown`).
    pub kind: Option<String>,
    /// Only edges into hosts of this environment (case-insensitive).
    pub env: Option<String>,
    /// Only edges used at least this often.
    pub min_count: i64,
}

/// One exported edge.
#[derive(Clone, Debug, PartialEq)]
struct Edge {
    identity: String,
    kind: String,
    dst: String,
    env: Option<String>,
    crown_jewel: bool,
    count: i64,
    first_seen: i64,
    last_seen: i64,
    ports: String,
    bytes: i64,
}

fn load(hunt: &Hunt, f: &ExportFilter) -> Result<Vec<Edge>> {
    let mut w = format!("count >= {}", f.min_count);
    if let Some(k) = &f.kind {
        let _ = write!(w, " AND identity_kind = {}", sql_string(k));
    }
    if let Some(e) = &f.env {
        let _ = write!(w, " AND lower(dst_env) = lower({})", sql_string(e));
    }
    let sql = format!(
        "SELECT identity, identity_kind, dst, dst_env, CAST(crown_jewel AS BIGINT), count,
                first_seen, last_seen, ports, bytes
         FROM edges WHERE {w} ORDER BY identity, dst"
    );
    let (_, batches) = hunt.query(&sql)?;
    let mut out = vec![];
    for b in &batches {
        let s: Vec<_> = [0, 1, 2, 3, 8]
            .iter()
            .map(|&c| strings(b, c))
            .collect::<Result<_>>()?;
        let n: Vec<_> = [4, 5, 6, 7, 9]
            .iter()
            .map(|&c| ints(b, c))
            .collect::<Result<_>>()?;
        for r in 0..b.num_rows() {
            let text = |c: usize| s[c][r].clone().unwrap_or_default();
            let num = |c: usize| n[c][r].unwrap_or(0);
            out.push(Edge {
                identity: text(0),
                kind: text(1),
                dst: text(2),
                env: s[3][r].clone(),
                crown_jewel: num(0) != 0,
                count: num(1),
                first_seen: num(2),
                last_seen: num(3),
                ports: text(4),
                bytes: num(4),
            });
        }
    }
    Ok(out)
}

/// Exports the filtered edges (with their identity and host nodes) in `format`.
pub fn export(hunt: &Hunt, filter: &ExportFilter, format: ExportFormat) -> Result<String> {
    let edges = load(hunt, filter)?;
    let mut identities: BTreeMap<&str, &str> = BTreeMap::new();
    let mut hosts: BTreeMap<&str, (Option<&str>, bool)> = BTreeMap::new();
    for e in &edges {
        identities.insert(&e.identity, &e.kind);
        hosts.insert(&e.dst, (e.env.as_deref(), e.crown_jewel));
    }
    Ok(match format {
        ExportFormat::Json => {
            let mut nodes: Vec<serde_json::Value> = identities
                .iter()
                .map(|(id, kind)| {
                    serde_json::json!({"id": format!("identity:{id}"), "type": "identity", "name": id, "kind": kind})
                })
                .collect();
            nodes.extend(hosts.iter().map(|(h, (env, cj))| {
                serde_json::json!({"id": format!("host:{h}"), "type": "host", "name": h, "env": env, "crown_jewel": cj})
            }));
            let links: Vec<serde_json::Value> = edges
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "source": format!("identity:{}", e.identity),
                        "target": format!("host:{}", e.dst),
                        "count": e.count,
                        "first_seen": e.first_seen,
                        "last_seen": e.last_seen,
                        "ports": e.ports,
                        "bytes": e.bytes,
                    })
                })
                .collect();
            let doc = serde_json::json!({"nodes": nodes, "edges": links});
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        ExportFormat::GraphMl => {
            let mut x = String::from(concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
                "  <key id=\"type\" for=\"node\" attr.name=\"type\" attr.type=\"string\"/>\n",
                "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n",
                "  <key id=\"env\" for=\"node\" attr.name=\"env\" attr.type=\"string\"/>\n",
                "  <key id=\"crown_jewel\" for=\"node\" attr.name=\"crown_jewel\" attr.type=\"boolean\"/>\n",
                "  <key id=\"count\" for=\"edge\" attr.name=\"count\" attr.type=\"long\"/>\n",
                "  <key id=\"first_seen\" for=\"edge\" attr.name=\"first_seen\" attr.type=\"long\"/>\n",
                "  <key id=\"last_seen\" for=\"edge\" attr.name=\"last_seen\" attr.type=\"long\"/>\n",
                "  <key id=\"ports\" for=\"edge\" attr.name=\"ports\" attr.type=\"string\"/>\n",
                "  <key id=\"bytes\" for=\"edge\" attr.name=\"bytes\" attr.type=\"long\"/>\n",
                "  <graph id=\"reach\" edgedefault=\"directed\">\n",
            ));
            for (id, kind) in &identities {
                let _ = writeln!(
                    x,
                    "    <node id=\"identity:{}\"><data key=\"type\">identity</data><data key=\"kind\">{}</data></node>",
                    xml(id),
                    xml(kind)
                );
            }
            for (h, (env, cj)) in &hosts {
                let _ = writeln!(
                    x,
                    "    <node id=\"host:{}\"><data key=\"type\">host</data><data key=\"env\">{}</data><data key=\"crown_jewel\">{cj}</data></node>",
                    xml(h),
                    xml(env.unwrap_or_default())
                );
            }
            for e in &edges {
                let _ = writeln!(
                    x,
                    "    <edge source=\"identity:{}\" target=\"host:{}\"><data key=\"count\">{}</data><data key=\"first_seen\">{}</data><data key=\"last_seen\">{}</data><data key=\"ports\">{}</data><data key=\"bytes\">{}</data></edge>",
                    xml(&e.identity),
                    xml(&e.dst),
                    e.count,
                    e.first_seen,
                    e.last_seen,
                    xml(&e.ports),
                    e.bytes
                );
            }
            x.push_str("  </graph>\n</graphml>\n");
            x
        }
        ExportFormat::Dot => {
            let mut d = String::from("digraph reach {\n  rankdir=LR;\n");
            for (id, kind) in &identities {
                let _ = writeln!(
                    d,
                    "  {} [label={}, shape=ellipse, kind={}];",
                    dot(&format!("identity:{id}")),
                    dot(id),
                    dot(kind)
                );
            }
            for (h, (env, cj)) in &hosts {
                let _ = writeln!(
                    d,
                    "  {} [label={}, shape=box, env={}{}];",
                    dot(&format!("host:{h}")),
                    dot(h),
                    dot(env.unwrap_or_default()),
                    if *cj {
                        ", color=red, crown_jewel=true"
                    } else {
                        ""
                    }
                );
            }
            for e in &edges {
                let _ = writeln!(
                    d,
                    "  {} -> {} [label=\"{}\", count={}, first_seen={}, last_seen={}, ports={}];",
                    dot(&format!("identity:{}", e.identity)),
                    dot(&format!("host:{}", e.dst)),
                    e.count,
                    e.count,
                    e.first_seen,
                    e.last_seen,
                    dot(&e.ports)
                );
            }
            d.push_str("}\n");
            d
        }
    })
}

/// XML text/attribute escaping.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A DOT quoted id.
fn dot(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
