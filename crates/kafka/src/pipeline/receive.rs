//! The driver's book of assigned partitions: each partition's queue, next offset, records handed
//! to the runner's thread, and decoder. Records are decoded here, with the driver's own symbol
//! table, into batches that carry the names first seen (they cross to the runner once).

use crate::config::Settings;
use reachwatch_formats::lines::{decode_guarded, Batch};
use reachwatch_formats::symbols::NameTable;
use reachwatch_formats::{decoder, DeadLetter, DecodeError, LineDecoder, Reason, MAX_LINE};
use reachwatch_runner::SourceKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One assigned partition (`Q`: its queue in the consumer).
struct Part<Q> {
    queue: Option<Arc<Q>>,
    /// Next offset expected (records before it were received already).
    position: Option<i64>,
    /// Records handed to the runner's thread so far.
    sent: u64,
    decoder: Box<dyn LineDecoder>,
}

/// Assigned partitions and the driver's decoding state (`Q`: a partition's queue).
pub(super) struct Book<Q> {
    settings: Arc<Settings>,
    parts: BTreeMap<SourceKey, Part<Q>>,
    names: NameTable,
    /// Last offset committed per partition.
    pub(super) committed: BTreeMap<(String, i32), i64>,
}

impl<Q> Book<Q> {
    pub(super) fn new(settings: Arc<Settings>) -> Book<Q> {
        Book {
            settings,
            parts: BTreeMap::new(),
            names: NameTable::default(),
            committed: BTreeMap::new(),
        }
    }

    /// A partition assigned, starting at `start` when known.
    pub(super) fn assign(&mut self, key: SourceKey, start: Option<i64>) {
        let source = &self.settings.sources[key.0];
        self.parts.insert(
            key,
            Part {
                queue: None,
                position: start,
                sent: 0,
                decoder: decoder(source.format, source.stream),
            },
        );
    }

    pub(super) fn set_queue(&mut self, key: SourceKey, queue: Arc<Q>) {
        if let Some(p) = self.parts.get_mut(&key) {
            p.queue = Some(queue);
        }
    }

    pub(super) fn revoke(&mut self, key: SourceKey) {
        self.parts.remove(&key);
    }

    /// Drops every partition queue (they hold the consumer).
    pub(super) fn clear(&mut self) {
        self.parts.clear();
    }

    /// How many partitions of source `source` are assigned now.
    pub(super) fn owned_of(&self, source: usize) -> usize {
        self.parts.keys().filter(|k| k.0 == source).count()
    }

    /// The (topic, partition) pairs assigned now.
    pub(super) fn owned(&self, settings: &Settings) -> BTreeSet<(String, i32)> {
        self.parts
            .keys()
            .map(|k| (settings.sources[k.0].topic.clone(), k.1))
            .collect()
    }

    /// Assigned partitions with their next offset.
    pub(super) fn positions(&self) -> Vec<(SourceKey, Option<i64>)> {
        self.parts.iter().map(|(&k, p)| (k, p.position)).collect()
    }

    /// Partitions with room in the runner's merge queue (of `capacity` records, given what it
    /// has `taken` off them), with their queue and room.
    pub(super) fn fetchable(
        &self,
        capacity: usize,
        taken: &HashMap<SourceKey, u64>,
    ) -> Vec<(SourceKey, Arc<Q>, usize)> {
        self.parts
            .iter()
            .filter_map(|(&k, p)| {
                let in_flight = p.sent.saturating_sub(taken.get(&k).copied().unwrap_or(0));
                let room = capacity.saturating_sub(in_flight as usize);
                Some((k, p.queue.clone()?, room)).filter(|_| room > 0)
            })
            .collect()
    }

    /// Decodes one record of `key` into `batch` (or dead-letters it there); a record received
    /// before (fetched again after a seek) is passed over. Returns whether it was new.
    pub(super) fn decode(
        &mut self,
        key: SourceKey,
        offset: i64,
        created: Option<i64>,
        payload: &[u8],
        batch: &mut Batch,
    ) -> bool {
        let Some(p) = self.parts.get_mut(&key) else {
            return false;
        };
        if p.position.is_some_and(|next| offset < next) {
            return false;
        }
        p.position = Some(offset + 1);
        batch.lines = (offset + 1) as u64;
        batch.bytes += payload.len() as u64;
        let line = payload.strip_suffix(b"\n").unwrap_or(payload);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let decoded = if line.len() > MAX_LINE {
            Err(DecodeError::new(
                Reason::TooLong,
                format!("record is {} bytes (limit {MAX_LINE})", line.len()),
            ))
        } else {
            decode_guarded(p.decoder.as_mut(), line, self.names.syms_mut())
        };
        match decoded {
            Ok(Some(event)) => {
                p.sent += 1;
                batch.push_event(event, offset as u64, payload);
                batch.created.push(created.unwrap_or(i64::MIN));
            }
            Ok(None) => {}
            Err(e) => {
                let topic = &self.settings.sources[key.0].topic;
                batch
                    .dead
                    .push(DeadLetter::new(topic, offset as u64, e, payload));
            }
        }
        true
    }

    /// Puts the names first seen since the last batch into `batch`.
    pub(super) fn seal(&mut self, batch: &mut Batch) {
        self.names.seal(batch);
    }
}
