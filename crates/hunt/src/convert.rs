//! `convert`: log files to Parquet, partitioned by day, so that later hunts read only the
//! columns and days they need. Layout: `OUT/auth/day=N/part-K.parquet` and
//! `OUT/flows/day=N/part-K.parquet`, N = floor(time / 86400); the `day` column lives in the
//! directory name. Rows are decoded by the same decoders as the `auth` and `flows` tables, so a
//! hunt over the copy gives the same answers as over the source.

use crate::events::{decode_files, schema_of, DecodeStats};
use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use reachwatch_formats::{Format, Stream};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a conversion wrote.
#[derive(Clone, Debug, Default)]
pub struct ConvertSummary {
    /// What decoding the inputs gave.
    pub decode: DecodeStats,
    /// Parquet files written.
    pub files: usize,
    /// Days (partitions) per table.
    pub days: BTreeMap<String, usize>,
}

/// One table's partitioned writers.
struct Partitioned {
    dir: PathBuf,
    schema: SchemaRef,
    /// Open writers by day.
    open: BTreeMap<i64, ArrowWriter<File>>,
    /// Next part number by day (a day closed and seen again gets a new part).
    parts: BTreeMap<i64, usize>,
    files: usize,
}

/// Days behind the latest day seen after which a day's file is closed (logs are nearly in time
/// order, so few files are open at once).
const KEEP_OPEN_DAYS: i64 = 2;

impl Partitioned {
    fn new(dir: PathBuf, stream: Stream) -> Partitioned {
        let full = schema_of(stream);
        let day = full.index_of("day").expect("day column");
        let schema = std::sync::Arc::new(
            full.project(&without(full.fields().len(), day))
                .expect("projection"),
        );
        Partitioned {
            dir,
            schema,
            open: BTreeMap::new(),
            parts: BTreeMap::new(),
            files: 0,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let day_idx = batch.schema().index_of("day")?;
        let days = batch
            .column(day_idx)
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("day column")?
            .clone();
        let data = batch.project(&without(batch.num_columns(), day_idx))?;
        let mut start = 0;
        while start < days.len() {
            let day = days.value(start);
            let mut end = start + 1;
            while end < days.len() && days.value(end) == day {
                end += 1;
            }
            self.writer(day)?.write(&data.slice(start, end - start))?;
            start = end;
        }
        let latest = days.iter().flatten().max().unwrap_or(i64::MIN);
        let stale: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|&d| d < latest.saturating_sub(KEEP_OPEN_DAYS))
            .collect();
        for d in stale {
            let w = self.open.remove(&d).expect("open writer");
            w.close()?;
        }
        Ok(())
    }

    fn writer(&mut self, day: i64) -> Result<&mut ArrowWriter<File>> {
        if !self.open.contains_key(&day) {
            let dir = self.dir.join(format!("day={day}"));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let part = self.parts.entry(day).or_insert(0);
            let path = dir.join(format!("part-{part}.parquet"));
            *part += 1;
            let file =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            self.open.insert(
                day,
                ArrowWriter::try_new(file, self.schema.clone(), Some(props))?,
            );
            self.files += 1;
        }
        Ok(self.open.get_mut(&day).expect("open writer"))
    }

    fn close(self) -> Result<(usize, usize)> {
        for (_, w) in self.open {
            w.close()?;
        }
        Ok((self.files, self.parts.len()))
    }
}

fn without(n: usize, skip: usize) -> Vec<usize> {
    (0..n).filter(|&i| i != skip).collect()
}

/// Converts authentication and flow logs (files, directories or globs in `format`) into
/// day-partitioned Parquet under `out`. The table directories (`out/auth`, `out/flows`) must not
/// exist yet.
pub fn convert(
    format: Format,
    auth: &[PathBuf],
    flows: &[PathBuf],
    out: &Path,
) -> Result<ConvertSummary> {
    let mut summary = ConvertSummary::default();
    for (name, inputs) in [("auth", auth), ("flows", flows)] {
        let dir = out.join(name);
        if !inputs.is_empty() && dir.exists() {
            anyhow::bail!(
                "{} already exists: remove it or give another --out",
                dir.display()
            );
        }
    }
    let mut tables: BTreeMap<&'static str, Partitioned> = BTreeMap::new();
    for (stream, inputs) in [(Stream::Auth, auth), (Stream::Flows, flows)] {
        if inputs.is_empty() {
            continue;
        }
        let files = crate::session::expand(inputs)?;
        let stats = decode_files(&files, format, stream, |s, batch| {
            tables
                .entry(s.name())
                .or_insert_with(|| Partitioned::new(out.join(s.name()), s))
                .write(&batch)
        })?;
        let d = &mut summary.decode;
        d.files += stats.files;
        d.lines += stats.lines;
        d.auth += stats.auth;
        d.flows += stats.flows;
        for (k, v) in stats.rejected {
            *d.rejected.entry(k).or_insert(0) += v;
        }
    }
    for (name, t) in tables {
        let (files, days) = t.close()?;
        summary.files += files;
        summary.days.insert(name.to_string(), days);
    }
    Ok(summary)
}
