//! Blast radius of identities, computed in SQL over the graph tables: per identity, how many
//! hosts, services, environments and crown jewels it reaches, which of its edges no other identity
//! uses, and which it has but did not use in the last window (candidates to remove); and a
//! least-reach allow-list (what each identity used in the window) as YAML.

use crate::session::Hunt;
use anyhow::{bail, Result};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use std::fmt::Write as _;

/// Which identities, and the window that counts as "used".
#[derive(Clone, Debug, Default)]
pub struct BlastOptions {
    /// One identity (case-insensitive), or all.
    pub identity: Option<String>,
    /// Only identities of this kind (`machine`, `human`, `unknown`).
    pub kind: Option<String>,
    /// Edges last used more than this many seconds before the graph's last edge time are unused.
    pub window_seconds: i64,
}

/// A SQL string literal.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn filter(opts: &BlastOptions) -> String {
    let mut w = String::from("TRUE");
    if let Some(id) = &opts.identity {
        let _ = write!(w, " AND lower(e.identity) = lower({})", sql_string(id));
    }
    if let Some(k) = &opts.kind {
        let _ = write!(w, " AND e.identity_kind = {}", sql_string(k));
    }
    w
}

/// The window's start: the latest `last_seen` of any edge minus the window.
fn cutoff(opts: &BlastOptions) -> String {
    format!(
        "(SELECT MAX(last_seen) - {} FROM edges)",
        opts.window_seconds.max(0)
    )
}

/// The per-identity blast-radius summary, largest reach first. Columns: `identity`, `kind`,
/// `hosts`, `services` (distinct destination ports), `environments`, `crown_jewels`,
/// `exclusive_edges` (destinations no other identity reaches), `unused_edges` (not used in the
/// window).
pub fn summary(hunt: &Hunt, opts: &BlastOptions) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let sql = format!(
        "SELECT e.identity, e.identity_kind AS kind,
                COUNT(*) AS hosts,
                CAST(SUM(e.services) AS BIGINT) AS services,
                COUNT(DISTINCT e.dst_env) AS environments,
                CAST(SUM(CASE WHEN e.crown_jewel THEN 1 ELSE 0 END) AS BIGINT) AS crown_jewels,
                CAST(SUM(CASE WHEN e.dst_identities = 1 THEN 1 ELSE 0 END) AS BIGINT) AS exclusive_edges,
                CAST(SUM(CASE WHEN e.last_seen < {cut} THEN 1 ELSE 0 END) AS BIGINT) AS unused_edges
         FROM edges e WHERE {f}
         GROUP BY e.identity, e.identity_kind
         ORDER BY hosts DESC, e.identity",
        cut = cutoff(opts),
        f = filter(opts)
    );
    let out = hunt.query(&sql)?;
    if opts.identity.is_some() && crate::output::row_count(&out.1) == 0 {
        bail!(
            "identity {} has no edges in the reach graph",
            opts.identity.as_deref().unwrap_or_default()
        );
    }
    Ok(out)
}

/// The edges behind the summary that matter for least privilege: the exclusive ones and the
/// unused ones, by identity and destination.
pub fn details(hunt: &Hunt, opts: &BlastOptions) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let sql = format!(
        "SELECT e.identity, e.dst, e.dst_env, e.crown_jewel, e.count, e.first_seen, e.last_seen,
                e.ports, e.dst_identities = 1 AS exclusive, e.last_seen < {cut} AS unused
         FROM edges e WHERE {f} AND (e.dst_identities = 1 OR e.last_seen < {cut})
         ORDER BY e.identity, e.dst",
        cut = cutoff(opts),
        f = filter(opts)
    );
    hunt.query(&sql)
}

/// The least-reach allow-list: per identity, the destinations (with service ports) it used in
/// the window, as YAML.
pub fn allow_list(hunt: &Hunt, opts: &BlastOptions) -> Result<String> {
    let sql = format!(
        "SELECT e.identity, e.dst, e.ports FROM edges e
         WHERE {f} AND e.last_seen >= {cut}
         ORDER BY e.identity, e.dst",
        cut = cutoff(opts),
        f = filter(opts)
    );
    let (_, batches) = hunt.query(&sql)?;
    let mut y = format!(
        "# Least-reach allow-list: what each identity used in the last {} s of the reach graph.\n\
         # Everything else it can reach is a candidate to remove.\nidentities:\n",
        opts.window_seconds
    );
    let mut current: Option<String> = None;
    for b in &batches {
        let id = strings(b, 0)?;
        let dst = strings(b, 1)?;
        let ports = strings(b, 2)?;
        for r in 0..b.num_rows() {
            let identity = id[r].clone().unwrap_or_default();
            if current.as_deref() != Some(&identity) {
                let _ = writeln!(y, "  {}:", yaml_str(&identity));
                current = Some(identity);
            }
            let ports = ports[r].clone().unwrap_or_default();
            let _ = writeln!(
                y,
                "    - {{dst: {}, ports: [{}]}}",
                yaml_str(dst[r].as_deref().unwrap_or_default()),
                ports
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if current.is_none() {
        y.push_str("  {}\n");
    }
    Ok(y)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
pub fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A column as strings (any string type), nulls as `None`.
pub fn strings(batch: &RecordBatch, col: usize) -> Result<Vec<Option<String>>> {
    let a = cast(batch.column(col), &DataType::Utf8)?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect())
}

/// A column as 64-bit integers, nulls as `None`.
pub fn ints(batch: &RecordBatch, col: usize) -> Result<Vec<Option<i64>>> {
    let a = cast(batch.column(col), &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect())
}
