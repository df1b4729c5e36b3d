//! File sources: an input file (or standard input) opened, its format detected when asked, and
//! decoded on a thread of its own into batches for the runner.

use anyhow::{Context, Result};
use reachwatch_formats::lines::{spawn_decoder, Batch, Batches};
use reachwatch_formats::windows::collection;
use reachwatch_formats::{sniff, Format, Stream};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

/// Bytes read ahead to detect an input's format.
const SNIFF_BYTES: usize = 64 * 1024;

/// One input file being decoded on its own thread.
pub struct FileSource {
    /// The file's name (its path as given, `-` for standard input).
    pub name: String,
    /// The format it is read as (detected when `auto` was asked for).
    pub format: Format,
    batches: Batches,
}

impl FileSource {
    /// Opens `path` and starts decoding it as `format` on the `stream`; `announce` says on
    /// standard error which format `auto` detected. Windows logs (EVTX, event JSON or XML, and
    /// directories of them) are read as one collection merged in time, with progress on standard
    /// error every `progress`.
    pub fn open(
        path: &Path,
        format: Format,
        stream: Stream,
        announce: bool,
        progress: Option<Duration>,
    ) -> Result<FileSource> {
        let name = path.display().to_string();
        let opts = collection::Options { progress, announce };
        let opened =
            collection::open(path, format, &opts).with_context(|| format!("cannot read {name}"))?;
        let (batches, format) = match opened {
            Some(opened) => opened,
            None => {
                let (reader, format) = resolve_format(open_input(path)?, format, &name, announce)?;
                (spawn_decoder(reader, format, stream, name.clone()), format)
            }
        };
        Ok(FileSource {
            name,
            format,
            batches,
        })
    }

    /// The next batch, waiting for it; `None` after the last one. A decoding thread that
    /// stopped before the end of its input is an error, never an end.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.batches
            .next()
            .transpose()
            .with_context(|| format!("reading {}", self.name))
    }
}

fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin()))
    } else {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(f))
    }
}

/// Resolves [`Format::Auto`] by reading the head of `reader`; returns the reader with the head put
/// back.
fn resolve_format(
    reader: Box<dyn Read + Send>,
    format: Format,
    name: &str,
    announce: bool,
) -> Result<(Box<dyn Read + Send>, Format)> {
    if format != Format::Auto {
        return Ok((reader, format));
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut reader = reader;
    (&mut reader)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    let found = sniff::sniff(&head).with_context(|| {
        format!(
            "cannot detect the format of {name}: its first lines match none of {}; give --format",
            reachwatch_formats::FORMAT_NAMES
        )
    })?;
    if announce {
        eprintln!("replay: {name}: detected format {}", found.name());
    }
    Ok((Box::new(io::Cursor::new(head).chain(reader)), found))
}
