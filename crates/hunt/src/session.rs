//! A hunting session: a DataFusion context with reachwatch's tables registered, and SQL queries
//! run to completion on a small Tokio runtime.

use crate::events::{decode_files, schema_of, DecodeStats};
use crate::graph::{GraphTables, GRAPH_TABLES};
use anyhow::{anyhow, bail, Context, Result};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use reachwatch_formats::{Format, Stream};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a log input is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// A log format decoded by `reachwatch-formats` (LANL, native JSON lines, …, or auto).
    Log(Format),
    /// Parquet files (a file, a glob, or a directory such as `convert`'s `day=N/` layout).
    Parquet,
    /// CSV with a header line (schema inferred), e.g. what `hunt --output csv` writes.
    Csv,
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(InputFormat::Parquet),
            "csv" => Ok(InputFormat::Csv),
            other => other
                .parse()
                .map(InputFormat::Log)
                .map_err(|e: String| format!("{e}; or parquet, or csv (with a header line)")),
        }
    }
}

/// An error worth its own exit code: the query itself is wrong (bad SQL, unknown table or
/// column), as opposed to an input that cannot be read.
#[derive(Debug)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

/// A hunting session.
pub struct Hunt {
    ctx: SessionContext,
    rt: tokio::runtime::Runtime,
    /// Registered tables and where they come from.
    tables: BTreeMap<String, String>,
}

/// Stack of a query thread: SQL planning recurses over the statement.
const QUERY_STACK: usize = 16 << 20;

impl Hunt {
    /// An empty session (two query threads, or as many cores as there are, if fewer).
    pub fn new() -> Result<Hunt> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hunt")
            .thread_stack_size(QUERY_STACK)
            .build()
            .context("starting the query runtime")?;
        let config = SessionConfig::new()
            .with_target_partitions(threads)
            .with_information_schema(true);
        Ok(Hunt {
            ctx: SessionContext::new_with_config(config),
            rt,
            tables: BTreeMap::new(),
        })
    }

    /// The DataFusion context (to register more tables or user functions).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Registered tables, by name, with where each comes from.
    pub fn tables(&self) -> &BTreeMap<String, String> {
        &self.tables
    }

    /// Registers in-memory batches as a table, split into partitions for parallel scans.
    pub fn register_batches(
        &mut self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        origin: &str,
    ) -> Result<()> {
        let n = self.ctx.copied_config().target_partitions().max(1);
        let mut parts: Vec<Vec<RecordBatch>> = vec![vec![]; n];
        for (i, b) in batches.into_iter().enumerate() {
            parts[i % n].push(b);
        }
        let table = MemTable::try_new(schema, parts)?;
        self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, Arc::new(table))?;
        self.tables.insert(name.to_string(), origin.to_string());
        Ok(())
    }

    /// Registers the `auth` and `flows` tables from log inputs: for each stream, files,
    /// directories or globs in `format`. Decoded logs give both tables (a file of the other
    /// stream's events fills that table); Parquet and CSV inputs give the stream's table.
    pub fn register_logs(
        &mut self,
        auth: &[PathBuf],
        flows: &[PathBuf],
        format: InputFormat,
    ) -> Result<DecodeStats> {
        let mut total = DecodeStats::default();
        let mut decoded: BTreeMap<&str, (Vec<RecordBatch>, String)> = BTreeMap::new();
        for (stream, inputs) in [(Stream::Auth, auth), (Stream::Flows, flows)] {
            if inputs.is_empty() {
                continue;
            }
            let origin = inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            match resolve_format(inputs, format)? {
                InputFormat::Log(f) => {
                    let files = expand(inputs)?;
                    let stats = decode_files(&files, f, stream, |s, batch| {
                        let e = decoded
                            .entry(s.name())
                            .or_insert_with(|| (vec![], origin.clone()));
                        e.0.push(batch);
                        Ok(())
                    })?;
                    decoded.entry(stream.name()).or_insert((vec![], origin));
                    total.files += stats.files;
                    total.lines += stats.lines;
                    total.auth += stats.auth;
                    total.flows += stats.flows;
                    for (k, v) in stats.rejected {
                        *total.rejected.entry(k).or_insert(0) += v;
                    }
                }
                InputFormat::Parquet => self.register_parquet(stream.name(), inputs)?,
                InputFormat::Csv => self.register_csv(stream.name(), inputs)?,
            }
        }
        for (name, (batches, origin)) in decoded {
            let stream = if name == "auth" {
                Stream::Auth
            } else {
                Stream::Flows
            };
            self.register_batches(name, schema_of(stream), batches, &origin)?;
        }
        Ok(total)
    }

    /// Registers Parquet inputs as a table. A directory is read recursively; `day=N`
    /// directories (as `convert` writes) become the `day` column.
    pub fn register_parquet(&mut self, name: &str, inputs: &[PathBuf]) -> Result<()> {
        let [input] = inputs else {
            bail!(
                "{name}: give one Parquet file, directory or glob (got {})",
                inputs.len()
            );
        };
        let partitioned = input.is_dir() && has_day_partitions(input)?;
        let mut opts = ParquetReadOptions::default();
        if partitioned {
            opts = opts.table_partition_cols(vec![("day".to_string(), DataType::Int64)]);
        }
        let url = table_url(input)?;
        self.ctx.deregister_table(name)?;
        self.rt
            .block_on(self.ctx.register_parquet(name, &url, opts))
            .with_context(|| format!("{name}: cannot read Parquet {}", input.display()))?;
        self.tables
            .insert(name.to_string(), input.display().to_string());
        Ok(())
    }

    /// Registers CSV inputs with a header line as a table (schema inferred).
    pub fn register_csv(&mut self, name: &str, inputs: &[PathBuf]) -> Result<()> {
        let [input] = inputs else {
            bail!(
                "{name}: give one CSV file, directory or glob (got {})",
                inputs.len()
            );
        };
        let url = table_url(input)?;
        self.ctx.deregister_table(name)?;
        let ext = input
            .extension()
            .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
        let opts = CsvReadOptions::new().has_header(true).file_extension(&ext);
        self.rt
            .block_on(self.ctx.register_csv(name, &url, opts))
            .with_context(|| format!("{name}: cannot read CSV {}", input.display()))?;
        self.tables
            .insert(name.to_string(), input.display().to_string());
        Ok(())
    }

    /// Registers the `alerts` table from native alert JSON lines (or a Parquet file of them).
    pub fn register_alerts(&mut self, path: &Path) -> Result<()> {
        if is_parquet_path(path) {
            return self.register_parquet("alerts", &[path.to_path_buf()]);
        }
        let batch = crate::alerts::read_alerts(path)?;
        self.register_batches(
            "alerts",
            crate::alerts::alerts_schema(),
            vec![batch],
            &path.display().to_string(),
        )
    }

    /// Registers the reach graph of `dir`: tables saved by `replay --graph-out`, or the engine
    /// state of a `run` checkpoint directory.
    pub fn register_graph_at(&mut self, dir: &Path) -> Result<()> {
        if !dir.join(reachwatch_checkpoint::FILE_NAME).is_file() {
            return self.register_graph_dir(dir);
        }
        let cp = reachwatch_checkpoint::Checkpoint::read(dir)?
            .with_context(|| format!("no checkpoint in {}", dir.display()))?;
        let rules = std::sync::Arc::new(reachwatch_rules::builtin());
        let engine = reachwatch_engine::Engine::restore_with_rules(&cp.engine, rules)
            .map_err(|e| anyhow::anyhow!("checkpoint in {}: {e}", dir.display()))?;
        let tables = crate::GraphTables::from_graph(engine.graph(), engine.symbols())?;
        self.register_graph(&tables)
    }

    /// Registers the graph tables (`edges`, `identities`, `destinations`) from a graph directory
    /// written by `replay --graph-out`.
    pub fn register_graph_dir(&mut self, dir: &Path) -> Result<()> {
        for table in GRAPH_TABLES {
            let file = dir.join(format!("{table}.parquet"));
            if !file.is_file() {
                bail!(
                    "{} is not a reach graph directory: {} is missing (write one with `reachwatch replay … --graph-out DIR`)",
                    dir.display(),
                    file.display()
                );
            }
            self.register_parquet(table, &[file])?;
        }
        Ok(())
    }

    /// Registers the graph tables from memory.
    pub fn register_graph(&mut self, tables: &GraphTables) -> Result<()> {
        for (name, batch) in tables.named() {
            self.register_batches(name, batch.schema(), vec![batch.clone()], "reach graph")?;
        }
        Ok(())
    }

    /// Runs a query and returns its result. A query that DataFusion rejects (syntax, unknown
    /// table or column, types) is a [`QueryError`] with DataFusion's message; an unknown table
    /// also lists the registered ones.
    pub fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        // Planning recurses over the statement: it runs on a query thread, whose stack is sized
        // for deep statements, not on the caller's.
        let (ctx, sql) = (self.ctx.clone(), sql.to_string());
        let planned = self.rt.block_on(self.rt.spawn(async move {
            let df = ctx.sql(&sql).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            Ok::<_, DataFusionError>((schema, df.collect().await?))
        }));
        planned
            .context("query thread failed")?
            .map_err(|e| self.query_error(e))
    }

    fn query_error(&self, e: DataFusionError) -> anyhow::Error {
        let msg = e.to_string();
        let planning = matches!(
            e.find_root(),
            DataFusionError::SQL(..)
                | DataFusionError::Plan(_)
                | DataFusionError::SchemaError(..)
                | DataFusionError::NotImplemented(_)
        );
        if !planning {
            return anyhow!(e).context("query failed");
        }
        let mut text = msg;
        if text.contains("not found") && text.to_ascii_lowercase().contains("table") {
            let names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
            text.push_str(&format!(
                "\ntables: {}",
                if names.is_empty() {
                    "none (give --auth, --flows, --data, --alerts or --graph)".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        anyhow!(QueryError(text))
    }

    /// Runs `f` on the session's runtime (for async DataFusion APIs).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// Decides how inputs are read: Parquet or CSV by extension or content, else the given format.
fn resolve_format(inputs: &[PathBuf], format: InputFormat) -> Result<InputFormat> {
    if format != InputFormat::Log(Format::Auto) {
        return Ok(format);
    }
    let first = &inputs[0];
    if is_parquet_path(first) || (first.is_dir() && contains_parquet(first)?) {
        return Ok(InputFormat::Parquet);
    }
    if first
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Ok(InputFormat::Csv);
    }
    Ok(format)
}

fn is_parquet_path(p: &Path) -> bool {
    p.to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(".parquet")
}

/// Does a directory hold Parquet files (at any depth)?
fn contains_parquet(dir: &Path) -> Result<bool> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e?.path();
        if (p.is_file() && is_parquet_path(&p)) || (p.is_dir() && contains_parquet(&p)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Does a directory hold `day=N` subdirectories?
fn has_day_partitions(dir: &Path) -> Result<bool> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        if e.path().is_dir() && e.file_name().to_string_lossy().starts_with("day=") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A local path as a DataFusion table path: absolute; directories end with `/`.
fn table_url(p: &Path) -> Result<String> {
    let s = p.to_string_lossy();
    let has_glob = s.contains(['*', '?', '[']);
    if !has_glob && !p.exists() {
        bail!("{} does not exist", p.display());
    }
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    let mut s = abs.to_string_lossy().into_owned();
    if abs.is_dir() && !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// Expands log inputs into files: a file as is, a directory's files (sorted, not hidden, not
/// recursive), a glob in the last path component (`logs/auth-*.txt`). A directory holding
/// Windows logs stays one input (read as a collection).
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for input in inputs {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(['*', '?']) {
            let dir = input
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut found: Vec<PathBuf> = list_dir(dir)?
                .into_iter()
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        reachwatch_model::classify::glob_match(&name, &n.to_string_lossy())
                    })
                })
                .collect();
            if found.is_empty() {
                bail!("{}: no file matches", input.display());
            }
            found.sort();
            out.extend(found);
        } else if input.is_dir()
            && reachwatch_formats::windows::collection::holds_windows_logs(input)
        {
            // A collection of Windows logs is one input: its files are merged in time.
            out.push(input.clone());
        } else if input.is_dir() {
            let files = list_dir(input)?;
            if files.is_empty() {
                bail!("{}: directory has no files", input.display());
            }
            out.extend(files);
        } else {
            if !input.exists() {
                bail!("{} does not exist", input.display());
            }
            out.push(input.clone());
        }
    }
    Ok(out)
}

/// The regular, non-hidden files of a directory, sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![];
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if !hidden && e.path().is_file() {
            files.push(e.path());
        }
    }
    files.sort();
    Ok(files)
}
