//! Historical logs as Arrow: every supported log format is decoded by the `reachwatch-formats`
//! decoders (the same ones replay uses) and turned into `auth` and `flows` record batches.

use anyhow::{Context, Result};
use datafusion::arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use reachwatch_formats::lines::spawn_decoder;
use reachwatch_formats::{sniff, Format, Stream};
use reachwatch_model::classify::Classifier;
use reachwatch_model::{AuthEvent, Event, FlowEvent, Orientation, Outcome, Sym};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Seconds in a day: the `day` column is `floor(time / 86400)`.
pub const DAY_SECONDS: i64 = 86_400;

/// Rows per record batch built from decoded events.
pub const ROWS_PER_BATCH: usize = 65_536;

/// Schema of the `auth` table. `time` is whole seconds (relative for LANL, Unix epoch for
/// absolute formats); `day` is `floor(time / 86400)`.
pub fn auth_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("time", DataType::Int64, false),
            Field::new("identity", DataType::Utf8, false),
            Field::new("identity_kind", DataType::Utf8, false),
            Field::new("src", DataType::Utf8, true),
            Field::new("dst", DataType::Utf8, false),
            Field::new("service", DataType::Utf8, true),
            Field::new("protocol", DataType::Utf8, false),
            Field::new("logon_type", DataType::Utf8, false),
            Field::new("orientation", DataType::Utf8, false),
            Field::new("outcome", DataType::Utf8, false),
            Field::new("day", DataType::Int64, false),
        ]))
    })
    .clone()
}

/// Schema of the `flows` table (ports as decoded: the service port is always `dst_port`, 0 when
/// unknown or anonymised).
pub fn flows_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("time", DataType::Int64, false),
            Field::new("duration_ms", DataType::Int64, false),
            Field::new("src", DataType::Utf8, false),
            Field::new("dst", DataType::Utf8, false),
            Field::new("src_port", DataType::Int32, false),
            Field::new("dst_port", DataType::Int32, false),
            Field::new("protocol", DataType::Int32, false),
            Field::new("packets", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("day", DataType::Int64, false),
        ]))
    })
    .clone()
}

/// Whole seconds of an event time in milliseconds.
fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Builds `auth` batches.
struct AuthBuilder {
    time: Int64Builder,
    identity: StringBuilder,
    kind: StringBuilder,
    src: StringBuilder,
    dst: StringBuilder,
    service: StringBuilder,
    protocol: StringBuilder,
    logon: StringBuilder,
    orientation: StringBuilder,
    outcome: StringBuilder,
    day: Int64Builder,
    rows: usize,
}

impl AuthBuilder {
    fn new() -> Self {
        AuthBuilder {
            time: Int64Builder::new(),
            identity: StringBuilder::new(),
            kind: StringBuilder::new(),
            src: StringBuilder::new(),
            dst: StringBuilder::new(),
            service: StringBuilder::new(),
            protocol: StringBuilder::new(),
            logon: StringBuilder::new(),
            orientation: StringBuilder::new(),
            outcome: StringBuilder::new(),
            day: Int64Builder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, a: &AuthEvent, names: &[Box<str>], kinds: &mut Kinds) {
        let name = |s: Sym| -> &str { &names[s.index()] };
        let t = seconds(a.time);
        self.time.append_value(t);
        self.identity.append_value(name(a.identity));
        self.kind.append_value(kinds.of(a.identity, names));
        self.src.append_option(a.src.map(name));
        self.dst.append_value(name(a.dst));
        self.service.append_option(a.service.map(name));
        self.protocol.append_value(a.protocol.name());
        self.logon.append_value(a.logon.name());
        self.orientation
            .append_value(orientation_name(a.orientation));
        self.outcome.append_value(match a.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        });
        self.day.append_value(t.div_euclid(DAY_SECONDS));
        self.rows += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.identity.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.logon.finish()),
            Arc::new(self.orientation.finish()),
            Arc::new(self.outcome.finish()),
            Arc::new(self.day.finish()),
        ];
        Ok(RecordBatch::try_new(auth_schema(), cols)?)
    }
}

/// Builds `flows` batches.
struct FlowBuilder {
    time: Int64Builder,
    duration: Int64Builder,
    src: StringBuilder,
    dst: StringBuilder,
    src_port: Int32Builder,
    dst_port: Int32Builder,
    protocol: Int32Builder,
    packets: Int64Builder,
    bytes: Int64Builder,
    day: Int64Builder,
    rows: usize,
}

impl FlowBuilder {
    fn new() -> Self {
        FlowBuilder {
            time: Int64Builder::new(),
            duration: Int64Builder::new(),
            src: StringBuilder::new(),
            dst: StringBuilder::new(),
            src_port: Int32Builder::new(),
            dst_port: Int32Builder::new(),
            protocol: Int32Builder::new(),
            packets: Int64Builder::new(),
            bytes: Int64Builder::new(),
            day: Int64Builder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, f: &FlowEvent, names: &[Box<str>]) {
        let name = |s: Sym| -> &str { &names[s.index()] };
        let t = seconds(f.time);
        self.time.append_value(t);
        self.duration.append_value(i64::from(f.duration));
        self.src.append_value(name(f.src));
        self.dst.append_value(name(f.dst));
        self.src_port.append_value(i32::from(f.src_port));
        self.dst_port.append_value(i32::from(f.dst_port));
        self.protocol.append_value(i32::from(f.protocol));
        self.packets
            .append_value(f.packets.min(i64::MAX as u64) as i64);
        self.bytes.append_value(f.bytes.min(i64::MAX as u64) as i64);
        self.day.append_value(t.div_euclid(DAY_SECONDS));
        self.rows += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.day.finish()),
        ];
        Ok(RecordBatch::try_new(flows_schema(), cols)?)
    }
}

/// The `orientation` column's value.
pub fn orientation_name(o: Orientation) -> &'static str {
    match o {
        Orientation::LogOn => "logon",
        Orientation::LogOff => "logoff",
        Orientation::Tgs => "tgs",
        Orientation::Tgt => "tgt",
        Orientation::Other => "other",
    }
}

/// Identity kinds by the default classification (the `identity_kind` column), cached per
/// symbol of the file being decoded.
struct Kinds {
    classifier: Classifier,
    cache: Vec<Option<&'static str>>,
}

impl Kinds {
    fn of(&mut self, identity: Sym, names: &[Box<str>]) -> &'static str {
        let i = identity.index();
        if self.cache.len() <= i {
            self.cache.resize(i + 1, None);
        }
        self.cache[i].get_or_insert_with(|| self.classifier.classify(&names[i]).name())
    }
}

/// What decoding some log files gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Files read.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Authentication events decoded.
    pub auth: u64,
    /// Flow events decoded.
    pub flows: u64,
    /// Lines that could not be decoded, by reason.
    pub rejected: BTreeMap<String, u64>,
}

impl DecodeStats {
    /// Rejected lines in total.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Opens a log file, resolving [`Format::Auto`] from its first lines.
fn open(path: &Path, format: Format) -> Result<(Box<dyn Read + Send>, Format)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader: Box<dyn Read + Send> = Box::new(file);
    if format != Format::Auto {
        return Ok((reader, format));
    }
    let mut head = Vec::with_capacity(64 * 1024);
    (&mut reader)
        .take(64 * 1024)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {}", path.display()))?;
    let found = sniff::sniff(&head).with_context(|| {
        format!(
            "cannot detect the format of {}: give --format ({})",
            path.display(),
            reachwatch_formats::FORMAT_NAMES
        )
    })?;
    Ok((Box::new(io::Cursor::new(head).chain(reader)), found))
}

/// Decodes log files of one stream and calls `sink` with every full `auth` or `flows` batch
/// (at most [`ROWS_PER_BATCH`] rows), in file order and then input order. Events of the other
/// kind (e.g. flows in a file given as auth) go to their own table. Undecodable lines are counted,
/// never fatal.
pub fn decode_files(
    paths: &[PathBuf],
    format: Format,
    stream: Stream,
    mut sink: impl FnMut(Stream, RecordBatch) -> Result<()>,
) -> Result<DecodeStats> {
    let mut stats = DecodeStats::default();
    let mut kinds = Kinds {
        classifier: Classifier::default(),
        cache: vec![],
    };
    let mut auth = AuthBuilder::new();
    let mut flows = FlowBuilder::new();
    for path in paths {
        // Windows logs (EVTX, event JSON/XML, directories of them) are read as one collection.
        let opts = reachwatch_formats::windows::collection::Options::default();
        let rx = match reachwatch_formats::windows::collection::open(path, format, &opts)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            Some((rx, _)) => rx,
            None => {
                let (reader, format) = open(path, format)?;
                spawn_decoder(reader, format, stream, path.display().to_string())
            }
        };
        let mut names: Vec<Box<str>> = vec![];
        let mut lines = 0;
        kinds.cache.clear();
        for batch in rx {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            names.extend(batch.new_names);
            lines = batch.lines;
            for d in &batch.dead {
                *stats
                    .rejected
                    .entry(d.reason.name().to_string())
                    .or_insert(0) += 1;
            }
            for (event, _) in &batch.events {
                match event {
                    Event::Auth(a) => {
                        stats.auth += 1;
                        auth.push(a, &names, &mut kinds);
                        if auth.rows >= ROWS_PER_BATCH {
                            sink(Stream::Auth, auth.finish()?)?;
                        }
                    }
                    Event::Flow(f) => {
                        stats.flows += 1;
                        flows.push(f, &names);
                        if flows.rows >= ROWS_PER_BATCH {
                            sink(Stream::Flows, flows.finish()?)?;
                        }
                    }
                }
            }
        }
        stats.files += 1;
        stats.lines += lines;
    }
    if auth.rows > 0 {
        sink(Stream::Auth, auth.finish()?)?;
    }
    if flows.rows > 0 {
        sink(Stream::Flows, flows.finish()?)?;
    }
    Ok(stats)
}

/// The schema of a stream's table.
pub fn schema_of(stream: Stream) -> SchemaRef {
    match stream {
        Stream::Auth => auth_schema(),
        Stream::Flows => flows_schema(),
    }
}
