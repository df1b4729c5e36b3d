//! The decoding thread of a collection: each file read a chunk (EVTX) or a block (JSON, XML) at
//! a time, its records mapped, the files' events merged by event time through the look-ahead
//! [`Window`], and batches handed over as [`crate::lines::spawn_decoder`] hands them. Its symbol
//! table is compacted, not started afresh, when full ([`Merge::compact_names_if_full`]): the
//! window and the files' pending events still hold symbols.

use super::correlate::Window;
use super::evtx::{EvtxFile, Item, CHUNK_SIZE};
use super::mapping::{Mapped, Mapping};
use super::split::{Blocks, Shape};
use super::{event_json, event_xml};
use crate::lines::{Batch, Batches, BATCH};
use crate::symbols::MAX_LOCAL_NAMES;
use crate::{DeadLetter, DecodeError, Format, Reason, Skipped, MAX_LINE};
use reachwatch_model::{Interner, Sym, Ts};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::{Duration, Instant};

/// How a file is read.
enum Reader {
    Evtx(EvtxFile),
    Text(Blocks<Box<dyn Read + Send>>),
}

/// One file of the collection and its events read but not merged yet.
pub(super) struct Source {
    name: String,
    reader: Reader,
    pending: VecDeque<(Mapped, u64)>,
    done: bool,
}

impl Source {
    /// Opens a file of the given shape.
    pub(super) fn open(path: &Path, shape: Format) -> io::Result<Source> {
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

    /// A stream of event JSON or XML.
    pub(super) fn text(name: String, reader: Box<dyn Read + Send>, shape: Shape) -> Source {
        Source {
            name,
            reader: Reader::Text(Blocks::new(reader, shape)),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Reads one chunk (EVTX) or block (text) into the pending events, unless the file is done.
    /// Records that give no event go to `skipped`, undecodable ones to `dead`. Returns the bytes
    /// and records read.
    fn read_some(
        &mut self,
        syms: &mut Interner,
        dead: &mut Vec<DeadLetter>,
        skipped: &mut Skipped,
    ) -> io::Result<(u64, u64)> {
        let (mut bytes, mut records) = (0u64, 0u64);
        if !self.done {
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
                        Item::Direct { id, record } => match record.map(syms) {
                            Ok(mapping) => {
                                take(id, b"", Ok(mapping));
                                true
                            }
                            // Rendered, so that the dead letter holds the record.
                            Err(_) => false,
                        },
                        Item::Record { id, json } => {
                            take(id, json, event_json::map_compact(json, syms));
                            true
                        }
                        Item::BadChunk { offset: line, .. }
                        | Item::BadRecord { chunk: line, .. } => {
                            if let Some(err) = item.error() {
                                take(line, b"", Err(err));
                            }
                            true
                        }
                    });
                    bytes += (f.chunks_read - before) * CHUNK_SIZE;
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
pub(super) fn spawn(sources: Vec<Source>, progress: Option<Duration>, total: u64) -> Batches {
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("decode-windows".into())
        .spawn(move || {
            let name = sources.first().map(|s| s.name.clone()).unwrap_or_default();
            let progress = Progress {
                every: progress,
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
    Batches::new(rx)
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

/// The merge of a collection's files on the decoding thread.
struct Merge<'a> {
    sources: Vec<Source>,
    syms: Interner,
    /// Names at which the table is compacted ([`Merge::compact_names_if_full`]).
    compact_at: usize,
    window: Window,
    out: Out<'a>,
    skipped: Skipped,
    progress: Progress,
    name: String,
    /// Sources with an event pending, by the time of their first.
    heads: BinaryHeap<Reverse<(Ts, usize)>>,
}

impl Merge<'_> {
    /// Reads source `i` until it has an event pending (or is done) and puts its head back. The
    /// table is compacted between chunks when full, even if they give no event.
    fn refill(&mut self, i: usize) -> io::Result<()> {
        while self.sources[i].pending.is_empty() && !self.sources[i].done {
            let dead = &mut self.out.batch.dead;
            let (bytes, records) =
                self.sources[i].read_some(&mut self.syms, dead, &mut self.skipped)?;
            self.out.batch.bytes += bytes;
            self.out.batch.lines += records;
            self.progress.bytes += bytes;
            self.progress.records += records;
            self.progress.tick(&self.name);
            self.compact_names_if_full();
        }
        if let Some(t) = self.sources[i].head_time() {
            self.heads.push(Reverse((t, i)));
        }
        Ok(())
    }

    fn run(mut self) -> io::Result<()> {
        for i in 0..self.sources.len() {
            self.refill(i)?;
        }
        while let Some(Reverse((_, i))) = self.heads.pop() {
            if self.out.closed {
                return Ok(());
            }
            let Some((mapped, line)) = self.sources[i].pending.pop_front() else {
                continue;
            };
            let events = &mut self.out.batch.events;
            self.window
                .push(mapped, line, &mut |e, l| events.push((e, l)));
            self.refill(i)?;
            if self.out.batch.events.len() >= BATCH {
                self.flush();
            }
        }
        let events = &mut self.out.batch.events;
        self.window.finish(&mut |e, l| events.push((e, l)));
        self.out.batch.end = true;
        self.flush();
        Ok(())
    }

    /// Once the table holds `compact_at` names (names are interned only as files are read),
    /// sends the batch so far and compacts the table to the names the merge still refers to
    /// (its files' pending events, the look-ahead window, the address names learned),
    /// rewriting them; the next batch says so and hands them over again. Names minted in the
    /// logs thus cannot grow the table without bound.
    fn compact_names_if_full(&mut self) {
        if self.syms.len() < self.compact_at {
            return;
        }
        self.flush();
        let mut keep = vec![false; self.syms.len()];
        self.map_held_syms(|s| {
            keep[s.index()] = true;
            s
        });
        let to = self.syms.compact(&keep);
        self.map_held_syms(|s| to[s.index()].expect("a held name is kept"));
        self.compact_at = MAX_LOCAL_NAMES.max(2 * self.syms.len());
        self.out.sent_names = 0;
        self.out.batch.names_reset = true;
    }

    /// Rewrites every symbol the merge holds through `f`.
    fn map_held_syms(&mut self, mut f: impl FnMut(Sym) -> Sym) {
        for source in &mut self.sources {
            for (m, _) in &mut source.pending {
                m.map_syms(&mut f);
            }
        }
        self.window.map_syms(&mut f);
    }

    /// Sends the batch with the skipped counts so far.
    fn flush(&mut self) {
        let mut skipped = std::mem::take(&mut self.skipped);
        skipped.merge(&std::mem::take(&mut self.window.skipped));
        self.out.batch.skipped = skipped;
        self.out.send(&self.syms);
    }
}

fn merge(
    sources: Vec<Source>,
    tx: &SyncSender<io::Result<Batch>>,
    progress: Progress,
    name: &str,
) -> io::Result<()> {
    Merge {
        sources,
        syms: Interner::new(),
        compact_at: MAX_LOCAL_NAMES,
        window: Window::default(),
        out: Out {
            tx,
            batch: Batch::default(),
            sent_names: 0,
            closed: false,
        },
        skipped: Skipped::default(),
        progress,
        name: name.to_string(),
        heads: BinaryHeap::new(),
    }
    .run()
}
