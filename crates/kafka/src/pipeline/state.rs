//! Checkpoints kept in Kafka, so that a replica on a fresh volume restores from the brokers and
//! the checkpoint directory is a cache.
//!
//! The topic has two partitions. Partition 1 holds each checkpoint's bytes in chunks (at most
//! [`CHUNK`] bytes each, keyed `engine/<slot>/<index>`, where each write takes the slot the last
//! complete checkpoint does not use, so that compaction never removes that checkpoint's chunks).
//! Partition 0 holds one small manifest per checkpoint, written once all its chunks are
//! acknowledged: its sequence, slot, length and the chunks' offsets. Restoring reads the last
//! manifest and exactly its chunks; a checkpoint whose manifest was never written (a crash
//! mid-write) is not seen.

use super::sinks::client_config;
use crate::read::{end_offsets, read_topic, read_topic_until, Record};
use anyhow::{anyhow, bail, Context, Result};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};
use reachwatch_checkpoint::{Checkpoint, PartitionOffset};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest chunk of a checkpoint (below the brokers' default largest message, 1 MB).
pub const CHUNK: usize = 512 * 1024;
/// Partition of the manifests.
const MANIFESTS: i32 = 0;
/// Partition of the chunks.
const CHUNKS: i32 = 1;
/// How long writing a checkpoint may take (below the driver's stall limit, with the sinks' flush),
/// and how long a read may go without progress.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Reader settings for checkpoints: a checkpoint is read whole, so fetch its chunks in large
/// pieces and do not hold a fetch at the broker for long. The user's `kafka.options` come later
/// and win.
const READER: &[(&str, &str)] = &[
    ("max.partition.fetch.bytes", "16777216"),
    ("fetch.max.bytes", "67108864"),
    ("fetch.wait.max.ms", "50"),
];
/// Names the manifest format.
const MANIFEST_FORMAT: &str = "reachwatch-checkpoint-manifest/1";

/// The manifest of one checkpoint written to the topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    format: String,
    /// The checkpoint's sequence number.
    pub sequence: u64,
    /// The slot its chunks are keyed under (0 or 1).
    pub slot: u8,
    /// Its length in bytes.
    pub bytes: u64,
    /// Offsets of its chunks on partition 1, in order.
    pub chunks: Vec<i64>,
}

/// Key of chunk `index` of a checkpoint written to `slot`.
fn chunk_key(slot: u8, index: usize) -> String {
    format!("engine/{slot}/{index}")
}

/// Checkpoint bytes from the chunks `manifest` names, found among `records` (partition 1).
pub fn assemble(manifest: &Manifest, records: &[Record]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(manifest.bytes as usize);
    for (i, offset) in manifest.chunks.iter().enumerate() {
        let r = records
            .iter()
            .find(|r| r.partition == CHUNKS && r.offset == *offset)
            .ok_or_else(|| format!("chunk {i} (offset {offset}) is missing"))?;
        let key = chunk_key(manifest.slot, i);
        if r.key.as_deref() != Some(key.as_bytes()) {
            return Err(format!("offset {offset} is not chunk {key}"));
        }
        out.extend_from_slice(&r.payload);
    }
    if out.len() as u64 != manifest.bytes {
        return Err(format!(
            "{} bytes in the chunks, {} in the manifest",
            out.len(),
            manifest.bytes
        ));
    }
    Ok(out)
}

/// The last manifest among `records` (partition 0), if any. A record that is not a manifest of
/// this format is an error: the topic is not reachwatch's.
pub fn last_manifest(records: &[Record]) -> Result<Option<Manifest>, String> {
    let Some(r) = records.iter().rfind(|r| r.partition == MANIFESTS) else {
        return Ok(None);
    };
    let m: Manifest = serde_json::from_slice(&r.payload)
        .map_err(|e| format!("offset {} is not a checkpoint manifest: {e}", r.offset))?;
    if m.format != MANIFEST_FORMAT {
        return Err(format!(
            "offset {}: manifest format `{}` (expected {MANIFEST_FORMAT})",
            r.offset, m.format
        ));
    }
    Ok(Some(m))
}

/// Offsets of a checkpoint's chunks as they are acknowledged, and the first failure.
#[derive(Default)]
pub(super) struct Acks {
    offsets: Mutex<Vec<(usize, i64)>>,
    failed: Mutex<Option<String>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        match result {
            Ok(m) => self
                .offsets
                .lock()
                .expect("acks lock")
                .push((index, m.offset())),
            Err((e, _)) => {
                let mut f = self.failed.lock().expect("acks lock");
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Writes checkpoints to their topic and reads the last one back.
pub struct StateTopic {
    topic: String,
    client: Vec<(String, String)>,
    producer: rdkafka::producer::BaseProducer<Acks>,
    /// The slot of the last complete checkpoint written or read.
    last_slot: Cell<u8>,
}

impl StateTopic {
    /// A writer to `topic` with these client settings.
    pub fn new(client: &[(String, String)], topic: &str) -> Result<StateTopic> {
        let producer = client_config(client)
            .set("linger.ms", "0")
            .create_with_context(Acks::default())
            .context("creating the checkpoint producer")?;
        let reader = READER.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Ok(StateTopic {
            topic: topic.to_string(),
            client: reader.chain(client.iter().cloned()).collect(),
            producer,
            last_slot: Cell::new(1),
        })
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes checkpoint `sequence`, encoded as `bytes` ([`Checkpoint::encode`]), and returns
    /// once its manifest is acknowledged.
    pub fn write(&self, sequence: u64, bytes: &[u8]) -> Result<()> {
        let ctx = self.producer.context();
        ctx.offsets.lock().expect("acks lock").clear();
        let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
        // Not the slot of the last complete checkpoint: a write cut short leaves that one whole.
        let slot = 1 - self.last_slot.get();
        for (i, chunk) in chunks.iter().enumerate() {
            let key = chunk_key(slot, i);
            self.send(
                BaseRecord::with_opaque_to(&self.topic, i)
                    .partition(CHUNKS)
                    .key(&key)
                    .payload(chunk),
            )?;
        }
        let deadline = Instant::now() + TIMEOUT;
        self.settle("chunks", deadline)?;
        let mut acked = std::mem::take(&mut *ctx.offsets.lock().expect("acks lock"));
        acked.sort_unstable();
        if acked.len() != chunks.len() || acked.iter().enumerate().any(|(i, (j, _))| i != *j) {
            bail!(
                "checkpoint topic {}: {} of {} chunks acknowledged",
                self.topic,
                acked.len(),
                chunks.len()
            );
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            sequence,
            slot,
            bytes: bytes.len() as u64,
            chunks: acked.into_iter().map(|(_, o)| o).collect(),
        };
        let body = serde_json::to_vec(&manifest).expect("manifest serialises");
        self.send(
            BaseRecord::with_opaque_to(&self.topic, 0)
                .partition(MANIFESTS)
                .key("engine/manifest")
                .payload(body.as_slice()),
        )?;
        self.settle("manifest", deadline)?;
        self.last_slot.set(slot);
        Ok(())
    }

    fn send<K: ToBytes + ?Sized>(&self, record: BaseRecord<'_, K, [u8], usize>) -> Result<()> {
        let mut record = record;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((e, r))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    self.producer.poll(Duration::from_millis(50));
                    record = r;
                }
                Err((e, _)) => bail!("checkpoint topic {}: {e}", self.topic),
            }
        }
    }

    /// Waits until `deadline` for every record sent to be acknowledged; fails on the first
    /// refusal.
    fn settle(&self, what: &str, deadline: Instant) -> Result<()> {
        // Polls in short steps: the client's flush waits up to 100 ms per round for delivery
        // reports, which the runner's thread would spend idle at every checkpoint.
        while self.producer.in_flight_count() > 0 {
            if Instant::now() > deadline {
                bail!(
                    "checkpoint topic {}: the {what} were not acknowledged within {TIMEOUT:?}",
                    self.topic
                );
            }
            self.producer.poll(Duration::from_millis(1));
        }
        if let Some(e) = self
            .producer
            .context()
            .failed
            .lock()
            .expect("acks lock")
            .take()
        {
            bail!("checkpoint topic {}: writing the {what}: {e}", self.topic);
        }
        Ok(())
    }

    /// The last checkpoint written to the topic (`None` when there is none) and its bytes.
    pub fn read_last(&self) -> Result<Option<(Checkpoint, Vec<u8>)>> {
        self.last_manifest()?.map(|m| self.read(&m)).transpose()
    }

    /// The manifest of the last checkpoint written to the topic (`None` when there is none).
    /// Later writes take the other slot.
    pub fn last_manifest(&self) -> Result<Option<Manifest>> {
        let topic = &self.topic;
        let ends = self.ends()?;
        let end = ends[MANIFESTS as usize];
        if end == 0 {
            return Ok(None);
        }
        // Only the last manifest: the one before the end (later ones, if the reported end lags,
        // are read too).
        let from = [
            self.at(MANIFESTS, end - 1),
            self.at(CHUNKS, ends[CHUNKS as usize]),
        ];
        let manifests = read_topic(&self.client, topic, &from, TIMEOUT)?;
        let Some(manifest) =
            last_manifest(&manifests).map_err(|e| anyhow!("checkpoint topic {topic}: {e}"))?
        else {
            return Ok(None);
        };
        if manifest.slot > 1 || manifest.chunks.is_empty() {
            bail!(
                "checkpoint topic {topic}: checkpoint {} names slot {} and {} chunks",
                manifest.sequence,
                manifest.slot,
                manifest.chunks.len()
            );
        }
        self.last_slot.set(manifest.slot);
        Ok(Some(manifest))
    }

    /// The checkpoint `manifest` names, and its bytes ([`Checkpoint::encode`]).
    pub fn read(&self, manifest: &Manifest) -> Result<(Checkpoint, Vec<u8>)> {
        let topic = &self.topic;
        let ends = self.ends()?;
        // A partition is read in offset order: every chunk is read once the highest is.
        let chunks = manifest.chunks.iter();
        let (first, last) = (chunks.clone().min(), chunks.max());
        let from = [
            self.at(MANIFESTS, ends[MANIFESTS as usize]),
            self.at(CHUNKS, first.copied().unwrap_or(ends[CHUNKS as usize])),
        ];
        let all_read = |r: &[Record]| {
            r.last()
                .is_some_and(|r| r.partition == CHUNKS && last.is_some_and(|&l| r.offset >= l))
        };
        let chunks = read_topic_until(&self.client, topic, &from, TIMEOUT, all_read)?;
        let what = |e: String| {
            anyhow!(
                "checkpoint topic {topic}: checkpoint {}: {e}",
                manifest.sequence
            )
        };
        let bytes = assemble(manifest, &chunks).map_err(what)?;
        drop(chunks);
        let cp = Checkpoint::decode(&bytes).map_err(what)?;
        Ok((cp, bytes))
    }

    /// End offsets of the manifests' and the chunks' partitions.
    fn ends(&self) -> Result<[i64; 2]> {
        let topic = &self.topic;
        let consumer: rdkafka::consumer::BaseConsumer = client_config(&self.client)
            .set("group.id", "reachwatch-reader")
            .create()
            .context("creating a checkpoint reader")?;
        let ends = end_offsets(consumer.client(), topic)?;
        if ends.len() != 2 {
            bail!(
                "checkpoint topic {topic} has {} partitions (expected 2: manifests and chunks); \
                 delete it or name another with checkpoint.topic",
                ends.len()
            );
        }
        let end = |p: i32| ends.iter().find(|e| e.partition == p).map(|e| e.offset);
        match (end(MANIFESTS), end(CHUNKS)) {
            (Some(m), Some(c)) => Ok([m, c]),
            _ => bail!("checkpoint topic {topic} lacks partition 0 or 1"),
        }
    }

    fn at(&self, partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset {
            topic: self.topic.clone(),
            partition,
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, key: &str, payload: &[u8]) -> Record {
        Record {
            partition,
            offset,
            key: Some(key.as_bytes().to_vec()),
            payload: payload.to_vec(),
            headers: vec![],
        }
    }

    /// The records a write of `bytes` as checkpoint `sequence` leaves, chunks from `offset`, in
    /// slot `sequence % 2`.
    fn written(sequence: u64, bytes: &[u8], chunk: usize, offset: i64) -> (Manifest, Vec<Record>) {
        let slot = (sequence % 2) as u8;
        let records: Vec<Record> = bytes
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| record(CHUNKS, offset + i as i64, &chunk_key(slot, i), c))
            .collect();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            sequence,
            slot,
            bytes: bytes.len() as u64,
            chunks: records.iter().map(|r| r.offset).collect(),
        };
        (manifest, records)
    }

    #[test]
    fn the_last_manifest_is_assembled_from_exactly_its_chunks() {
        let first: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let (m1, mut chunks) = written(1, &first, 1000, 0);
        let second: Vec<u8> = (0..1800u32).map(|i| (i * 7) as u8).collect();
        let (m2, more) = written(2, &second, 1000, 3);
        chunks.extend(more);
        // A third write that never got its manifest: its first chunk reuses checkpoint 1's key.
        let (_, partial) = written(3, &[9; 1000], 1000, 5);
        chunks.extend(partial);
        let manifests: Vec<Record> = [&m1, &m2]
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let body = serde_json::to_vec(m).unwrap();
                record(MANIFESTS, i as i64, "engine/manifest", &body)
            })
            .collect();
        let last = last_manifest(&manifests).unwrap().unwrap();
        assert_eq!(last, m2);
        assert_eq!(assemble(&last, &chunks).unwrap(), second);
        assert_eq!(assemble(&m1, &chunks).unwrap(), first);
        assert_eq!(last_manifest(&[]).unwrap(), None);
    }

    #[test]
    fn a_missing_or_foreign_chunk_and_a_foreign_manifest_are_refused() {
        let bytes = vec![1u8; 2500];
        let (m, chunks) = written(4, &bytes, 1000, 10);
        let e = assemble(&m, &chunks[..2]).unwrap_err();
        assert!(e.contains("chunk 2 (offset 12) is missing"), "{e}");
        let mut wrong = chunks.clone();
        wrong[1].key = Some(chunk_key(1, 1).into_bytes());
        let e = assemble(&m, &wrong).unwrap_err();
        assert!(e.contains("offset 11 is not chunk engine/0/1"), "{e}");
        let mut short = chunks;
        short[2].payload.pop();
        assert!(assemble(&m, &short).unwrap_err().contains("2499 bytes"));
        let e = last_manifest(&[record(MANIFESTS, 7, "x", b"{\"a\":1}")]).unwrap_err();
        assert!(e.contains("offset 7 is not a checkpoint manifest"), "{e}");
    }
}
