//! Query results as a text table, CSV, JSON lines or Parquet.

use anyhow::{bail, Result};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use std::io::Write;
use std::path::Path;

/// How query results are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row (null columns left out).
    Jsonl,
    /// A Parquet file (needs an output file).
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "json" | "ndjson" => Ok(OutputFormat::Jsonl),
            "parquet" => Ok(OutputFormat::Parquet),
            _ => Err(format!(
                "unknown output format `{s}` (expected table, csv, jsonl or parquet)"
            )),
        }
    }
}

/// Writes results to `out` in a text format (not Parquet).
pub fn write_results(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<()> {
    // Writers print nothing, not even a header, without a batch: give them an empty one.
    let empty = [RecordBatch::new_empty(schema.clone())];
    let batches = if batches.is_empty() {
        &empty[..]
    } else {
        batches
    };
    match format {
        OutputFormat::Table => {
            writeln!(
                out,
                "{}",
                pretty_format_batches_with_schema(schema.clone(), batches)?
            )?;
        }
        OutputFormat::Csv => {
            let mut w = WriterBuilder::new().with_header(true).build(&mut *out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Jsonl => {
            let mut w = LineDelimitedWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => bail!("Parquet output needs a file: give --out FILE"),
    }
    out.flush()?;
    Ok(())
}

/// Writes results to a file in any format.
pub fn write_results_file(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    path: &Path,
) -> Result<()> {
    if format == OutputFormat::Parquet {
        return crate::graph::write_parquet(path, batches, schema);
    }
    let file = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    write_results(format, schema, batches, &mut out)
}

/// Rows in a result.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}
