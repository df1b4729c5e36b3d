//! Windows logs as one input: an EVTX file, a file of event JSON or XML, or a directory of them
//! (a triage collection, read recursively). Every file is read in record order, the events of
//! all files are merged in event time, and the collection's [`Window`] names addresses, pairs
//! 4648s with their logons and counts connections once. Each host's name comes from its events'
//! `Computer`.
//!
//! In a directory, EVTX files are recognised by their signature and kept when their first
//! record's channel holds events reachwatch reads (`Security`, Sysmon, `ForwardedEvents`); the
//! others (System, Application, …) are listed, not read. Event JSON and XML files are recognised
//! by their first record; other files are ignored. A file's records must be in time order, as
//! the logs and their exports are; the merge holds one open file per log.

use super::correlate::Window;
use super::evtx::{EvtxFile, Item, SIGNATURE};
use super::mapping::{Mapped, Mapping};
use super::split::{Blocks, Shape};
use super::{event_json, event_xml};
use crate::lines::{Batch, BATCH};
use crate::{DeadLetter, DecodeError, Format, Reason, Skipped, MAX_LINE};
use reachwatch_model::{Interner, Ts};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

/// How a collection reports while it is read.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Progress lines on standard error this often (wall clock).
    pub progress: Option<Duration>,
    /// Say on standard error what was found (files, channels, skipped files).
    pub announce: bool,
}

/// Channels whose events reachwatch reads.
fn wanted_channel(channel: &str) -> bool {
    channel.eq_ignore_ascii_case("Security")
        || channel.eq_ignore_ascii_case("ForwardedEvents")
        || channel.contains("Sysmon")
}

/// The shape of a file from its first bytes, if it is a Windows log.
fn shape_of(head: &[u8]) -> Option<Format> {
    if head.starts_with(SIGNATURE) {
        return Some(Format::Evtx);
    }
    match crate::sniff::sniff(head) {
        Some(f @ (Format::EventJson | Format::EventXml)) => Some(f),
        _ => None,
    }
}

fn head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64 * 1024);
    File::open(path)?.take(64 * 1024).read_to_end(&mut head)?;
    Ok(head)
}

/// Every regular, non-hidden file under `dir`, sorted.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// True when `dir` holds Windows logs (EVTX files, event JSON or XML) anywhere below it.
pub fn holds_windows_logs(dir: &Path) -> bool {
    let mut files = vec![];
    files_under(dir, &mut files).is_ok()
        && files
            .iter()
            .any(|f| head(f).ok().and_then(|h| shape_of(&h)).is_some())
}

/// The channel of an EVTX file's first record, when it has one.
fn first_channel(path: &Path) -> Option<String> {
    let mut f = EvtxFile::open(path).ok()?;
    let mut channel = None;
    while channel.is_none() {
        let more = f.next_chunk(|item| {
            if let (None, Item::Record { json, .. }) = (&channel, item) {
                channel = Some(
                    event_json::parse(json)
                        .ok()
                        .and_then(|r| r.system.channel.map(|c| c.into_owned()))
                        .unwrap_or_default(),
                );
            }
        });
        if !more {
            break;
        }
    }
    channel
}

/// Opens `path` as a Windows collection when it is one: a directory (with `format` `auto`,
/// `evtx`, `evtx-json` or `evtx-xml`), a file in one of those formats (given, or detected from
/// its first bytes with `auto`), or standard input (`-`) as event JSON or XML. `None` for
/// anything else, which the caller reads as lines. The events of both streams come out whatever
/// `stream` is: a collection holds authentications and flows.
pub fn open(
    path: &Path,
    format: Format,
    opts: &Options,
) -> io::Result<Option<(Receiver<io::Result<Batch>>, Format)>> {
    let windows = matches!(
        format,
        Format::Evtx | Format::EventJson | Format::EventXml | Format::Auto
    );
    if !windows {
        return Ok(None);
    }
    let name = path.display().to_string();
    if path == Path::new("-") {
        let shape = match format {
            Format::EventJson => Shape::Json,
            Format::EventXml => Shape::Xml,
            Format::Evtx => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "EVTX cannot be read from standard input: give the file or its directory",
                ))
            }
            _ => return Ok(None),
        };
        let source = Source::text(name, Box::new(io::stdin()), shape);
        return Ok(Some((spawn(vec![source], opts.clone(), 0), format)));
    }
    let mut sources = vec![];
    let mut total = 0;
    let found = if path.is_dir() {
        let mut files = vec![];
        files_under(path, &mut files)?;
        let mut kept: BTreeMap<String, usize> = BTreeMap::new();
        let mut other: BTreeMap<String, usize> = BTreeMap::new();
        let mut shapes = vec![];
        for f in files {
            let Some(shape) = head(&f).ok().and_then(|h| shape_of(&h)) else {
                continue;
            };
            if shape == Format::Evtx {
                match first_channel(&f) {
                    None => continue,
                    Some(c) if !wanted_channel(&c) => {
                        *other.entry(c).or_insert(0) += 1;
                        continue;
                    }
                    Some(c) => *kept.entry(c).or_insert(0) += 1,
                }
            } else {
                *kept.entry(shape.name().to_string()).or_insert(0) += 1;
            }
            total += std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            sources.push(Source::open(&f, shape)?);
            shapes.push(shape);
        }
        if sources.is_empty() && other.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} holds no Windows event logs (EVTX, event JSON or event XML)"),
            ));
        }
        if opts.announce {
            let list = |m: &BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            eprintln!(
                "{name}: reading {} Windows logs ({}){}",
                sources.len(),
                list(&kept),
                if other.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; not reading {} of other channels ({})",
                        other.values().sum::<usize>(),
                        list(&other)
                    )
                }
            );
        }
        let all_same = shapes.windows(2).all(|w| w[0] == w[1]);
        match shapes.first() {
            Some(f) if all_same => *f,
            _ => Format::Evtx,
        }
    } else {
        let detected = shape_of(&head(path)?);
        let shape = match (format, detected) {
            (Format::Auto, None) => return Ok(None),
            (Format::Auto, Some(s)) => {
                if opts.announce {
                    eprintln!("{name}: detected format {}", s.name());
                }
                s
            }
            (given, Some(Format::Evtx)) if given != Format::Evtx => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{name} is an EVTX file, not {}: give --format evtx or auto",
                        given.name()
                    ),
                ))
            }
            (given, _) => given,
        };
        total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        sources.push(Source::open(path, shape)?);
        shape
    };
    Ok(Some((spawn(sources, opts.clone(), total), found)))
}

enum Reader {
    Evtx(EvtxFile),
    Text(Blocks<Box<dyn Read + Send>>),
}

/// One file of the collection and its events read but not merged yet.
struct Source {
    name: String,
    reader: Reader,
    pending: VecDeque<(Mapped, u64)>,
    done: bool,
}

impl Source {
    fn open(path: &Path, shape: Format) -> io::Result<Source> {
        let name = path.display().to_string();
        Ok(match shape {
            Format::Evtx => Source {
                reader: Reader::Evtx(EvtxFile::open(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("{name}: not a readable EVTX file: {e}"))
                })?),
                name,
                pending: VecDeque::new(),
                done: false,
            },
            Format::EventXml => Source::text(name, Box::new(File::open(path)?), Shape::Xml),
            _ => Source::text(name, Box::new(File::open(path)?), Shape::Json),
        })
    }

    fn text(name: String, reader: Box<dyn Read + Send>, shape: Shape) -> Source {
        Source {
            name,
            reader: Reader::Text(Blocks::new(reader, shape)),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Reads until an event is pending or the file is done. Records that give no event go to
    /// `skipped`, undecodable ones to `dead`. Returns the bytes and records read.
    fn fill(
        &mut self,
        syms: &mut Interner,
        dead: &mut Vec<DeadLetter>,
        skipped: &mut Skipped,
    ) -> io::Result<(u64, u64)> {
        let (mut bytes, mut records) = (0u64, 0u64);
        while self.pending.is_empty() && !self.done {
            let name = &self.name;
            let pending = &mut self.pending;
            let mut take = |line: u64, raw: &[u8], res: Result<Mapping, DecodeError>| {
                records += 1;
                match res {
                    Ok(Mapping::Event(m)) => pending.push_back((m, line)),
                    Ok(Mapping::Skip(key)) => skipped.add(key),
                    Err(e) => dead.push(DeadLetter::new(name, line, e, raw)),
                }
            };
            let more = match &mut self.reader {
                Reader::Evtx(f) => {
                    let before = f.chunks_read;
                    let more = f.next_chunk(|item| match item {
                        Item::Record { id, json } => {
                            take(id, json, event_json::parse(json).and_then(|r| r.map(syms)))
                        }
                        other => {
                            let line = match &other {
                                Item::BadChunk { offset, .. } => *offset,
                                Item::BadRecord { chunk, .. } => *chunk,
                                Item::Record { id, .. } => *id,
                            };
                            if let Some(err) = other.error() {
                                take(line, b"", Err(err));
                            }
                        }
                    });
                    bytes += (f.chunks_read - before) * super::evtx::CHUNK_SIZE;
                    more
                }
                Reader::Text(blocks) => blocks.next_block(|line, raw, too_long| {
                    if too_long {
                        let err = DecodeError::new(
                            Reason::TooLong,
                            format!("record is longer than {MAX_LINE} bytes"),
                        );
                        take(line, raw, Err(err));
                        return;
                    }
                    bytes += raw.len() as u64;
                    let res = match blocks_shape(raw) {
                        Shape::Json => event_json::parse(raw).and_then(|r| r.map(syms)),
                        Shape::Xml => event_xml::parse(raw).and_then(|r| r.map(syms)),
                    };
                    take(line, raw, res);
                })?,
            };
            self.done = !more;
        }
        Ok((bytes, records))
    }

    fn head_time(&self) -> Option<Ts> {
        self.pending.front().map(|(m, _)| m.event.time())
    }
}

/// A record's shape from its first byte (the splitter gives `{…}` or `<Event…>`).
fn blocks_shape(raw: &[u8]) -> Shape {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Shape::Xml,
        _ => Shape::Json,
    }
}

/// What the decoding thread has read so far, for progress lines.
struct Progress {
    every: Option<Duration>,
    last: Instant,
    total: u64,
    bytes: u64,
    records: u64,
}

impl Progress {
    fn tick(&mut self, name: &str) {
        let Some(every) = self.every else { return };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        eprintln!(
            "progress: {name}: {} records, {:.0} of {:.0} MiB ({:.0} %)",
            self.records,
            mib(self.bytes),
            mib(self.total),
            100.0 * self.bytes as f64 / self.total.max(1) as f64
        );
    }
}

/// Reads and merges `sources` on a background thread.
fn spawn(sources: Vec<Source>, opts: Options, total: u64) -> Receiver<io::Result<Batch>> {
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("decode-windows".into())
        .spawn(move || {
            let name = sources.first().map(|s| s.name.clone()).unwrap_or_default();
            let progress = Progress {
                every: opts.progress,
                last: Instant::now(),
                total,
                bytes: 0,
                records: 0,
            };
            if let Err(e) = merge(sources, &tx, progress, &name) {
                let _ = tx.send(Err(e));
            }
        })
        .expect("spawn decoder thread");
    rx
}

struct Out<'a> {
    tx: &'a SyncSender<io::Result<Batch>>,
    batch: Batch,
    sent_names: usize,
    closed: bool,
}

impl Out<'_> {
    fn send(&mut self, syms: &Interner) {
        let mut out = std::mem::take(&mut self.batch);
        out.new_names = crate::symbols::take_new_names(syms, &mut self.sent_names);
        self.batch.lines = out.lines;
        self.closed |= self.tx.send(Ok(out)).is_err();
    }
}

fn merge(
    mut sources: Vec<Source>,
    tx: &SyncSender<io::Result<Batch>>,
    mut progress: Progress,
    name: &str,
) -> io::Result<()> {
    let mut syms = Interner::new();
    let mut window = Window::default();
    let mut out = Out {
        tx,
        batch: Batch::default(),
        sent_names: 0,
        closed: false,
    };
    let mut skipped = Skipped::default();
    let mut heap = BinaryHeap::new();
    let refill = |i: usize,
                  sources: &mut [Source],
                  syms: &mut Interner,
                  out: &mut Out<'_>,
                  skipped: &mut Skipped,
                  progress: &mut Progress,
                  heap: &mut BinaryHeap<Reverse<(Ts, usize)>>|
     -> io::Result<()> {
        let (bytes, records) = sources[i].fill(syms, &mut out.batch.dead, skipped)?;
        out.batch.bytes += bytes;
        out.batch.lines += records;
        progress.bytes += bytes;
        progress.records += records;
        progress.tick(name);
        if let Some(t) = sources[i].head_time() {
            heap.push(Reverse((t, i)));
        }
        Ok(())
    };
    for i in 0..sources.len() {
        refill(
            i,
            &mut sources,
            &mut syms,
            &mut out,
            &mut skipped,
            &mut progress,
            &mut heap,
        )?;
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        if out.closed {
            return Ok(());
        }
        let Some((mapped, line)) = sources[i].pending.pop_front() else {
            continue;
        };
        let events = &mut out.batch.events;
        window.push(mapped, line, &mut |e, l| events.push((e, l)));
        if sources[i].pending.is_empty() {
            refill(
                i,
                &mut sources,
                &mut syms,
                &mut out,
                &mut skipped,
                &mut progress,
                &mut heap,
            )?;
        } else if let Some(t) = sources[i].head_time() {
            heap.push(Reverse((t, i)));
        }
        if out.batch.events.len() >= BATCH {
            out.batch.skipped = std::mem::take(&mut skipped);
            out.batch
                .skipped
                .merge(&std::mem::take(&mut window.skipped));
            out.send(&syms);
        }
    }
    let events = &mut out.batch.events;
    window.finish(&mut |e, l| events.push((e, l)));
    skipped.merge(&window.skipped);
    out.batch.skipped = skipped;
    out.send(&syms);
    Ok(())
}
