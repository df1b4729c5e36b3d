//! Reading a topic's records between two points (no consumer group is joined): used to find the
//! alert ids already published, and by tests and tools to read what the pipeline wrote.

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use reachwatch_checkpoint::PartitionOffset;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Timeout of metadata and watermark requests.
pub(crate) const META_TIMEOUT: Duration = Duration::from_secs(10);

/// One record read from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Payload (empty when none).
    pub payload: Vec<u8>,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// End offsets (high watermarks) of every partition of `topic`.
pub fn end_offsets<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<Vec<PartitionOffset>> {
    let md = client
        .fetch_metadata(Some(topic), META_TIMEOUT)
        .with_context(|| format!("metadata of {topic}"))?;
    let mut out = vec![];
    for t in md.topics() {
        for p in t.partitions() {
            let (_, high) = client
                .fetch_watermarks(topic, p.id(), META_TIMEOUT)
                .with_context(|| format!("end offset of {topic}/{}", p.id()))?;
            out.push(PartitionOffset {
                topic: topic.to_string(),
                partition: p.id(),
                offset: high,
            });
        }
    }
    out.sort();
    Ok(out)
}

/// After the reported end offsets are reached, how long to keep reading for records beyond them:
/// Tansu 0.6 reports the end of a partition behind the last record of a multi-record batch.
const SETTLE: Duration = Duration::from_millis(500);

/// Reads `topic` from `from` (per partition; the beginning for partitions not listed) to its end:
/// the end offsets at the time of the call, then until nothing more arrives for a moment. Fails
/// when no progress is made for `timeout` before the end offsets are reached.
pub fn read_topic(
    client: &[(String, String)],
    topic: &str,
    from: &[PartitionOffset],
    timeout: Duration,
) -> Result<Vec<Record>> {
    read_topic_until(client, topic, from, timeout, |_| false)
}

/// [`read_topic`], stopping early once `enough` holds for the records read so far.
pub fn read_topic_until(
    client: &[(String, String)],
    topic: &str,
    from: &[PartitionOffset],
    timeout: Duration,
    enough: impl Fn(&[Record]) -> bool,
) -> Result<Vec<Record>> {
    let mut config = ClientConfig::new();
    for (k, v) in client {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config
        .set("enable.auto.commit", "false")
        .set("group.id", "reachwatch-reader")
        .create()
        .context("creating a topic reader")?;
    let ends = end_offsets(consumer.client(), topic)?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = HashMap::new();
    for e in &ends {
        let start = from
            .iter()
            .find(|p| p.partition == e.partition)
            .map_or(0, |p| p.offset);
        tpl.add_partition_offset(topic, e.partition, Offset::Offset(start))?;
        if start < e.offset {
            remaining.insert(e.partition, e.offset);
        }
    }
    let mut out = vec![];
    if ends.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl)?;
    let mut progress = Instant::now();
    loop {
        if remaining.is_empty() && progress.elapsed() >= SETTLE {
            break;
        }
        if !remaining.is_empty() && progress.elapsed() > timeout {
            bail!("reading {topic}: no progress for {timeout:?}");
        }
        let Some(m) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let m = m.with_context(|| format!("reading {topic}"))?;
        progress = Instant::now();
        out.push(Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().unwrap_or_default().to_vec(),
            headers: m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default(),
        });
        if remaining
            .get(&m.partition())
            .is_some_and(|&end| m.offset() + 1 >= end)
        {
            remaining.remove(&m.partition());
        }
        if enough(&out) {
            break;
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out.dedup_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// What [`consume_count`] measured, from the moment partitions were assigned.
#[derive(Clone, Copy, Debug)]
pub struct ConsumeTimes {
    /// Until a tenth of the records had arrived.
    pub tenth: Duration,
    /// Until nine tenths of the records had arrived.
    pub nine_tenths: Duration,
    /// Until the last record arrived.
    pub all: Duration,
}

/// When a tenth and nine tenths of `count` records had arrived, noted as they arrive.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    count: u64,
    tenth: Option<Instant>,
    nine_tenths: Option<Instant>,
}

impl Progress {
    /// Marks for `count` records.
    pub fn new(count: u64) -> Progress {
        Progress {
            count,
            tenth: None,
            nine_tenths: None,
        }
    }

    /// `n` records had arrived at `now`.
    pub fn note(&mut self, n: u64, now: Instant) {
        if n * 10 >= self.count {
            self.tenth.get_or_insert(now);
        }
        if n * 10 >= self.count * 9 {
            self.nine_tenths.get_or_insert(now);
        }
    }

    /// The times from `start` (a mark never reached counts as `last`).
    pub fn times(&self, start: Instant, last: Instant) -> ConsumeTimes {
        let since = |t: Option<Instant>| t.unwrap_or(last) - start;
        ConsumeTimes {
            tenth: since(self.tenth),
            nine_tenths: since(self.nine_tenths),
            all: last - start,
        }
    }
}

/// Remembers when the group first assigned partitions to the consumer.
#[derive(Default)]
struct AssignedAt(std::sync::OnceLock<Instant>);

impl rdkafka::ClientContext for AssignedAt {}

impl rdkafka::consumer::ConsumerContext for AssignedAt {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &rdkafka::consumer::Rebalance<'_>) {
        if matches!(rebalance, rdkafka::consumer::Rebalance::Assign(_)) {
            let _ = self.0.set(Instant::now());
        }
    }
}

/// A bare consumer (the reference of the throughput benchmark): joins `group`, reads `topics`
/// until `count` records arrived.
pub fn consume_count(
    client: &[(String, String)],
    group: &str,
    topics: &[&str],
    count: u64,
    timeout: Duration,
) -> Result<ConsumeTimes> {
    let mut config = ClientConfig::new();
    for (k, v) in client {
        config.set(k, v);
    }
    let consumer: BaseConsumer<AssignedAt> = config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(AssignedAt::default())
        .context("creating the consumer")?;
    consumer.subscribe(topics)?;
    let (mut marks, mut n) = (Progress::new(count), 0u64);
    let mut progress = Instant::now();
    while n < count {
        if progress.elapsed() > timeout {
            bail!("{n} of {count} records, then no progress for {timeout:?}");
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        m?;
        progress = Instant::now();
        n += 1;
        marks.note(n, progress);
    }
    let start = *consumer.context().0.get().context("no assignment")?;
    Ok(marks.times(start, progress))
}
