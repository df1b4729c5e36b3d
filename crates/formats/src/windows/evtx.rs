//! EVTX files, read with the `evtx` crate chunk by chunk in record order (a log that wrapped
//! around starts at its oldest chunk). A record is read from its template instance's typed
//! values where [`super::evtx_direct`] can ([`Item::Direct`]); otherwise, or when the reader
//! asks, the crate renders it as JSON, which [`super::event_json`] reads. Checksums are checked: a chunk that cannot be read (bad magic,
//! CRC32 mismatch, damaged string table, a partial chunk at the end of the file) is reported with
//! its file offset and its records are not read; the other chunks are.

use super::evtx_direct::{self, Direct, Reuse, Values};
use super::evtx_template::Layouts;
use crate::{DecodeError, LineDecoder, Reason};
use evtx::err::EvtxError;
use evtx::{ChunkFlags, EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};
use reachwatch_model::{Event, Interner};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// The first bytes of an EVTX file.
pub const SIGNATURE: &[u8; 8] = b"ElfFile\0";
/// Size of the file header.
pub const HEADER_SIZE: u64 = 4096;
/// Size of a chunk.
pub const CHUNK_SIZE: u64 = 65536;

/// File offset of chunk `n`.
pub fn chunk_offset(n: u64) -> u64 {
    HEADER_SIZE + n * CHUNK_SIZE
}

/// What reading a chunk gave: its records, or what could not be read.
#[derive(Debug)]
pub enum Item<'a> {
    /// A record read without rendering it.
    Direct {
        /// `EventRecordID`.
        id: u64,
        /// What it holds.
        record: &'a Direct,
    },
    /// A record, rendered as event JSON.
    Record {
        /// `EventRecordID`.
        id: u64,
        /// The record as JSON.
        json: &'a [u8],
    },
    /// A record of a readable chunk that could not be rendered.
    BadRecord {
        /// File offset of its chunk.
        chunk: u64,
        /// What went wrong.
        detail: String,
    },
    /// A chunk that could not be read; none of its records are.
    BadChunk {
        /// File offset of the chunk.
        offset: u64,
        /// What went wrong.
        detail: String,
    },
}

impl Item<'_> {
    /// The dead letter's error for an item that is not a record.
    pub fn error(&self) -> Option<DecodeError> {
        match self {
            Item::Record { .. } | Item::Direct { .. } => None,
            Item::BadRecord { chunk, detail } => Some(DecodeError::new(
                Reason::Malformed,
                format!("record of the chunk at file offset {chunk:#x}: {detail}"),
            )),
            Item::BadChunk { offset, detail } => Some(DecodeError::new(
                Reason::Malformed,
                format!("unreadable chunk at file offset {offset:#x}: {detail}"),
            )),
        }
    }
}

/// One EVTX file being read.
pub struct EvtxFile {
    chunks: IntoIterChunks<File>,
    settings: Arc<ParserSettings>,
    /// The current chunk's templates.
    layouts: Layouts,
    /// Buffers of the direct reading, kept from record to record.
    reuse: Box<Reuse>,
    /// A partial chunk at the end of the file (offset, length), reported after the last chunk.
    trailing: Option<(u64, u64)>,
    /// Bytes of the file.
    pub len: u64,
    /// Chunks read so far (readable or not).
    pub chunks_read: u64,
    done: bool,
}

/// The full message of an `evtx` error, with its causes.
fn detail(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

impl EvtxFile {
    /// Opens `path`; an error when it is no EVTX file.
    pub fn open(path: &Path) -> io::Result<EvtxFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let settings = ParserSettings::new()
            .validate_checksums(true)
            .separate_json_attributes(false)
            .indent(false)
            .num_threads(1);
        let parser = EvtxParser::from_read_seek(file)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, detail(&e)))?
            .with_configuration(settings.clone());
        let partial = len.saturating_sub(HEADER_SIZE) % CHUNK_SIZE;
        Ok(EvtxFile {
            chunks: parser.into_chunks(),
            settings: Arc::new(settings),
            layouts: Layouts::default(),
            reuse: Box::default(),
            trailing: (partial > 0).then(|| (len - partial, partial)),
            len,
            chunks_read: 0,
            done: false,
        })
    }

    /// Reads the next chunk and calls `f` for each of its records (or for what could not be
    /// read); `false` once the file is done. When `f` returns `false` for an [`Item::Direct`],
    /// the record is rendered and `f` called again with its [`Item::Record`] (or
    /// [`Item::BadRecord`]); for other items its answer does not matter.
    pub fn next_chunk(&mut self, mut f: impl FnMut(Item<'_>) -> bool) -> bool {
        if self.done {
            return false;
        }
        let Some(chunk) = self.chunks.next() else {
            self.done = true;
            if let Some((offset, n)) = self.trailing.take() {
                f(Item::BadChunk {
                    offset,
                    detail: format!("the file ends {n} bytes into this chunk"),
                });
            }
            return true;
        };
        self.chunks_read += 1;
        let mut data = match chunk {
            Ok(data) => data,
            Err(e) => {
                let offset = match &e {
                    EvtxError::FailedToParseChunk { chunk_id, .. } => chunk_offset(*chunk_id),
                    _ => chunk_offset(self.chunks_read - 1),
                };
                f(Item::BadChunk {
                    offset,
                    detail: detail(&e),
                });
                return true;
            }
        };
        let offset = chunk_offset(data.number.unwrap_or(self.chunks_read - 1));
        if let Some(problem) = unchecked_crc(&data) {
            f(Item::BadChunk {
                offset,
                detail: problem,
            });
            return true;
        }
        let mut chunk = match data.parse(self.settings.clone()) {
            Ok(c) => c,
            Err(e) => {
                f(Item::BadChunk {
                    offset,
                    detail: detail(&e),
                });
                return true;
            }
        };
        self.layouts.clear();
        let mut values = Values::default();
        for record in chunk.iter() {
            let record = record.and_then(|r| {
                let id = r.event_record_id;
                let direct =
                    evtx_direct::decode(&r, &mut self.layouts, &mut values, &mut self.reuse);
                if let Some(record) = direct {
                    if f(Item::Direct { id, record }) {
                        return Ok(None);
                    }
                }
                r.into_json_bytes().map(|s| Some((id, s.data)))
            });
            match record {
                Ok(None) => {}
                Ok(Some((id, json))) => {
                    f(Item::Record { id, json: &json });
                }
                Err(e) => {
                    f(Item::BadRecord {
                        chunk: offset,
                        detail: detail(&e),
                    });
                }
            }
        }
        true
    }
}

/// The crate skips the CRC32 checks of a chunk whose header sets `NO_CRC32`; a damaged header
/// could set it. The checks are made here all the same, so that no damaged chunk is read.
fn unchecked_crc(data: &EvtxChunkData) -> Option<String> {
    if !data.header.flags.contains(ChunkFlags::NO_CRC32) {
        return None;
    }
    let bytes = &data.data;
    let mut header = Vec::with_capacity(504);
    header.extend_from_slice(bytes.get(..120)?);
    header.extend_from_slice(bytes.get(128..512)?);
    if evtx::checksum_ieee(&header) != data.header.header_chunk_checksum {
        return Some("chunk header CRC32 invalid (the chunk claims to have none)".into());
    }
    let records = bytes.get(512..data.header.free_space_offset as usize);
    match records {
        Some(r) if evtx::checksum_ieee(r) == data.header.events_checksum => None,
        _ => Some("chunk data CRC32 invalid (the chunk claims to have none)".into()),
    }
}

/// The "decoder" of EVTX as lines: EVTX is binary and read whole (see
/// [`super::collection`]); every line is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotLines;

impl LineDecoder for NotLines {
    fn decode(&mut self, _: &[u8], _: &mut Interner) -> Result<Option<Event>, DecodeError> {
        Err(DecodeError::new(
            Reason::Malformed,
            "EVTX is a binary file format: give the file or its directory, not a stream",
        ))
    }
}
