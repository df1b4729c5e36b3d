//! `reachwatch produce`: publishes a file scenario into topics, one line per message, keyed by
//! the record's source host so that a host's events stay ordered in one partition. Topics are
//! created when missing. Lines that do not decode are published too (keyed by nothing): what
//! the pipeline does with bad records is part of what a scenario can show.

use crate::pipeline::ensure_topics;
use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use reachwatch_formats::lines::for_each_line;
use reachwatch_formats::{decoder, Format, Stream};
use reachwatch_model::{Event, Interner};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What to publish where.
#[derive(Clone, Debug)]
pub struct ProduceOptions {
    /// librdkafka settings (at least `bootstrap.servers`).
    pub client: Vec<(String, String)>,
    /// Format of the files (for the message keys).
    pub format: Format,
    /// Authentication file and its topic.
    pub auth: Option<(PathBuf, String)>,
    /// Flow file and its topic.
    pub flows: Option<(PathBuf, String)>,
    /// Partitions of topics that are created.
    pub partitions: i32,
    /// Publish at this many records per second, both files interleaved in event-time order
    /// (a live feed); `None`: as fast as possible, one file after the other.
    pub rate: Option<u32>,
}

/// Messages published per topic.
#[derive(Clone, Debug, Default)]
pub struct ProduceSummary {
    /// (topic, messages).
    pub topics: Vec<(String, u64)>,
}

#[derive(Default)]
struct Failures(AtomicU64);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The message key of a record (its source host, the identity's for records without one) and
/// its event time; no key and no time when it does not decode.
fn key_of(
    dec: &mut dyn reachwatch_formats::LineDecoder,
    syms: &mut Interner,
    line: &[u8],
) -> (Vec<u8>, Option<i64>) {
    match reachwatch_formats::lines::decode_guarded(dec, line, syms) {
        Ok(Some(Event::Auth(a))) => (
            syms.resolve(a.src.unwrap_or(a.identity))
                .as_bytes()
                .to_vec(),
            Some(a.time),
        ),
        Ok(Some(Event::Flow(f))) => (syms.resolve(f.src).as_bytes().to_vec(), Some(f.time)),
        _ => (vec![], None),
    }
}

/// Publishes the files; returns how many messages went to each topic once all are acknowledged.
pub fn produce(opts: &ProduceOptions) -> Result<ProduceSummary> {
    if opts.format == Format::Auto {
        bail!("give the files' format (auto is not supported here)");
    }
    let topics: Vec<&str> = [&opts.auth, &opts.flows]
        .into_iter()
        .flatten()
        .map(|(_, t)| t.as_str())
        .collect();
    if topics.is_empty() {
        bail!("nothing to publish: give --auth and/or --flows");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(ensure_topics(&opts.client, &topics, opts.partitions, &[]))?;
    let mut c = ClientConfig::new();
    for (k, v) in &opts.client {
        c.set(k, v);
    }
    c.set("linger.ms", "20").set("enable.idempotence", "false");
    let producer: ThreadedProducer<Failures> = c
        .create_with_context(Failures::default())
        .context("creating the producer")?;
    if let Some(rate) = opts.rate {
        return paced(opts, &producer, rate);
    }
    let mut summary = ProduceSummary::default();
    for (input, stream) in [(&opts.auth, Stream::Auth), (&opts.flows, Stream::Flows)] {
        let Some((path, topic)) = input else { continue };
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut dec = decoder(opts.format, stream);
        let mut syms = Interner::new();
        let mut sent = 0u64;
        let mut failed: Option<anyhow::Error> = None;
        for_each_line(file, |_, line, _| {
            if failed.is_some() || line.is_empty() {
                return;
            }
            let (key, _) = key_of(dec.as_mut(), &mut syms, line);
            match send(&producer, topic, &key, line) {
                Ok(()) => sent += 1,
                Err(e) => failed = Some(e),
            }
        })
        .with_context(|| format!("reading {}", path.display()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        summary.topics.push((topic.clone(), sent));
    }
    finish(&producer)?;
    Ok(summary)
}

fn finish(producer: &ThreadedProducer<Failures>) -> Result<()> {
    producer
        .flush(Duration::from_secs(60))
        .context("waiting for the broker to acknowledge")?;
    let failures = producer.context().0.load(Ordering::Relaxed);
    if failures > 0 {
        bail!("{failures} messages were not acknowledged by the broker");
    }
    Ok(())
}

fn send(producer: &ThreadedProducer<Failures>, topic: &str, key: &[u8], line: &[u8]) -> Result<()> {
    send_waiting(producer, BaseRecord::to(topic).payload(line).key(key))
}

/// Sends a record, waiting while the producer's queue is full.
pub(crate) fn send_waiting<C, K, P>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, K, P>,
) -> Result<()>
where
    C: ProducerContext<DeliveryOpaque = ()>,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, r)) => bail!("producing to {}: {e}", r.topic),
        }
    }
}

/// One line to publish: event time (the previous line's when it does not decode), key, bytes.
type Line = (i64, Vec<u8>, Vec<u8>);

fn read_lines(path: &std::path::Path, format: Format, stream: Stream) -> Result<Vec<Line>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut dec = decoder(format, stream);
    let mut syms = Interner::new();
    let mut out = vec![];
    let mut last = i64::MIN;
    for_each_line(file, |_, line, _| {
        if line.is_empty() {
            return;
        }
        let (key, time) = key_of(dec.as_mut(), &mut syms, line);
        last = time.unwrap_or(last);
        out.push((last, key, line.to_vec()));
    })
    .with_context(|| format!("reading {}", path.display()))?;
    Ok(out)
}

/// Publishes both files interleaved in event-time order at `rate` records per second.
fn paced(
    opts: &ProduceOptions,
    producer: &ThreadedProducer<Failures>,
    rate: u32,
) -> Result<ProduceSummary> {
    let mut inputs = vec![];
    for (input, stream) in [(&opts.auth, Stream::Auth), (&opts.flows, Stream::Flows)] {
        if let Some((path, topic)) = input {
            inputs.push((
                topic.clone(),
                read_lines(path, opts.format, stream)?,
                0usize,
            ));
        }
    }
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    loop {
        let next = inputs
            .iter()
            .enumerate()
            .filter_map(|(i, (_, lines, at))| lines.get(*at).map(|l| (l.0, i)))
            .min();
        let Some((_, i)) = next else { break };
        let (topic, lines, at) = &mut inputs[i];
        let (_, key, line) = &lines[*at];
        *at += 1;
        // Wall clock paces the feed: record n leaves at n / rate seconds.
        let due = started + Duration::from_secs_f64(sent as f64 / f64::from(rate.max(1)));
        if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
        send(producer, topic, key, line)?;
        sent += 1;
    }
    finish(producer)?;
    Ok(ProduceSummary {
        topics: inputs
            .into_iter()
            .map(|(t, lines, _)| (t, lines.len() as u64))
            .collect(),
    })
}
