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

use super::event_json;
use super::evtx::{EvtxFile, Item, SIGNATURE};
use super::merge::{spawn, Source};
use super::split::Shape;
use crate::lines::Batches;
use crate::Format;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            if let (None, Item::Record { json, .. }) = (&channel, &item) {
                channel = Some(
                    event_json::parse(json)
                        .ok()
                        .and_then(|r| r.system.channel.map(|c| c.into_owned()))
                        .unwrap_or_default(),
                );
            }
            // Rendered: the channel is read from the JSON.
            !matches!(item, Item::Direct { .. })
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
/// anything else, which the caller reads as lines. A collection gives authentications and flows
/// alike, whichever stream it is given as.
pub fn open(path: &Path, format: Format, opts: &Options) -> io::Result<Option<(Batches, Format)>> {
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
        return Ok(Some((spawn(vec![source], opts.progress, 0), format)));
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
    Ok(Some((spawn(sources, opts.progress, total), found)))
}
