//! The driver loop: receive from the consumer, decode each partition's records into batches for
//! the runner's thread, commit what checkpoints covered, report consumer lag.

use super::group::{Ctx, PartitionQueue};
use super::stage::{Shared, ToStage};
use anyhow::{anyhow, Result};
use futures_util::{FutureExt, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use reachwatch_formats::lines::{Batch, RAW_BATCH};
use reachwatch_runner::SourceKey;
use reachwatch_telemetry::Telemetry;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records taken from a partition per fetch.
const RECV_BATCH: usize = 4096;

/// Longest sleep of the driver loop when nothing happens (wall clock).
const TICK: Duration = Duration::from_millis(200);

/// How often end offsets are asked for (consumer lag; ends the consumer did not report).
const WATERMARK_INTERVAL: Duration = Duration::from_secs(5);

/// A signal or a caller asking the pipeline to stop (SIGTERM/SIGINT set it too).
#[derive(Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the pipeline to stop gracefully.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(super) fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The driver: the consumer, and what it hands the runner's thread.
pub(super) struct Driver<'a> {
    pub(super) consumer: &'a Arc<StreamConsumer<Ctx>>,
    pub(super) shared: &'a Arc<Shared>,
    pub(super) capacity: usize,
    pub(super) telemetry: Option<Arc<Telemetry>>,
    pub(super) waited: Duration,
    /// Topics of which this replica was last found to own some partitions but not all.
    pub(super) shared_topics: BTreeSet<String>,
}

impl Driver<'_> {
    fn ctx(&self) -> &Ctx {
        self.consumer.context()
    }

    /// Fails with the runner's or a rebalance's failure, if there was one.
    fn check_failed(&self) -> Result<()> {
        if let Some(e) = self.shared.failed.lock().expect("failure lock").take() {
            return Err(e);
        }
        if let Some(e) = self.ctx().failed.lock().expect("failure lock").take() {
            return Err(e);
        }
        Ok(())
    }

    /// The driver loop: fetch from partitions with room, commit what checkpoints covered; until
    /// a signal or stop.
    pub(super) async fn drive(&mut self, stop: &StopHandle) -> Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let mut last_watermarks = Instant::now();
        while !stop.stopped() {
            if let Some(h) = &self.ctx().health {
                h.beat();
            }
            self.check_failed()?;
            // Whatever is ready now, without waiting: the main queue (rebalances, errors, records
            // of partitions not split yet), then each partition with room in its merge queue.
            let mut got = 0usize;
            {
                let mut main = self.consumer.stream();
                while let Some(Some(res)) = main.next().now_or_never() {
                    self.handle(res)?;
                    got += 1;
                }
            }
            for (k, q, room) in self.fetchable() {
                got += self.fetch(k, &q, room)?;
            }
            self.commit_checkpointed()?;
            if last_watermarks.elapsed() >= WATERMARK_INTERVAL {
                self.refresh_watermarks()?;
                self.check_sharing();
                last_watermarks = Instant::now();
            }
            if got > 0 {
                continue;
            }
            // Nothing ready: wait for a record on any fetchable partition, the main queue, the
            // runner's thread, a tick or a signal.
            let queues = self.fetchable();
            let any_partition = async {
                if queues.is_empty() {
                    std::future::pending::<()>().await;
                }
                let recvs = queues.iter().map(|(_, q, _)| Box::pin(q.recv()));
                let (res, i, _) = futures_util::future::select_all(recvs).await;
                (queues[i].0, res.map(|m| Received::from(&m)))
            };
            let wait_started = Instant::now();
            tokio::select! {
                _ = sigterm.recv() => stop.stop(),
                _ = sigint.recv() => stop.stop(),
                _ = sighup.recv() => self.to_stage(ToStage::CheckRules)?,
                res = self.consumer.recv() => self.handle(res)?,
                (k, res) = any_partition => match res {
                    Ok(r) => {
                        let mut batch = Batch::default();
                        self.decode(k, r.offset, r.created, &r.payload, &mut batch);
                        self.hand_over(k, batch)?;
                    }
                    Err(e) => self.partition_error(k, e)?,
                },
                _ = self.shared.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
            self.waited += wait_started.elapsed();
        }
        Ok(())
    }

    fn to_stage(&self, msg: ToStage) -> Result<()> {
        self.ctx()
            .to_stage
            .send(msg)
            .map_err(|_| anyhow!("the pipeline's runner stopped (see the error logged before)"))
    }

    /// Partitions whose merge queue has room, with their queue and room.
    fn fetchable(&self) -> Vec<(SourceKey, Arc<PartitionQueue>, usize)> {
        let taken = self.shared.taken.lock().expect("taken lock").clone();
        self.ctx()
            .book
            .lock()
            .expect("book lock")
            .fetchable(self.capacity, &taken)
    }

    fn decode(
        &self,
        k: SourceKey,
        offset: i64,
        created: Option<i64>,
        payload: &[u8],
        batch: &mut Batch,
    ) {
        self.ctx()
            .book
            .lock()
            .expect("book lock")
            .decode(k, offset, created, payload, batch);
    }

    /// Hands a partition's decoded records to the runner's thread (waiting while it is behind).
    fn hand_over(&self, k: SourceKey, mut batch: Batch) -> Result<()> {
        if batch.lines == 0 {
            return Ok(());
        }
        if let Some(t) = &self.telemetry {
            let records = (batch.events.len() + batch.dead.len()) as u64;
            let topic = &self.ctx().settings.sources[k.0].topic;
            t.kafka_received.with_label_values(&[topic]).inc_by(records);
        }
        self.ctx().book.lock().expect("book lock").seal(&mut batch);
        self.to_stage(ToStage::Batch { key: k, batch })
    }

    /// Takes what partition `k` has ready, up to `room` records; returns how many.
    fn fetch(&self, k: SourceKey, queue: &PartitionQueue, room: usize) -> Result<usize> {
        let room = room.min(RECV_BATCH);
        // One stream per batch: it registers its waker once, not once per record.
        let mut stream = queue.stream();
        let mut messages = Vec::with_capacity(room);
        let mut error = None;
        let mut bytes = 0;
        while messages.len() < room && bytes < RAW_BATCH {
            match stream.next().now_or_never() {
                Some(Some(Ok(m))) => {
                    bytes += m.payload().map_or(0, <[u8]>::len);
                    messages.push(m);
                }
                Some(Some(Err(e))) => {
                    // Handled after the records before it (an end of partition is only true then).
                    error = Some(e);
                    break;
                }
                _ => break,
            }
        }
        let n = messages.len();
        // The payloads were fetched into memory well before: reading one byte of each first lets
        // the processor load them side by side instead of one per record.
        let touched = messages.iter().fold(0u8, |a, m| {
            a ^ m.payload().and_then(|p| p.last()).copied().unwrap_or(0)
        });
        std::hint::black_box(touched);
        let mut batch = Batch::default();
        {
            let mut book = self.ctx().book.lock().expect("book lock");
            for m in &messages {
                let payload = m.payload().unwrap_or(b"");
                book.decode(
                    k,
                    m.offset(),
                    m.timestamp().to_millis(),
                    payload,
                    &mut batch,
                );
            }
        }
        drop(messages);
        self.hand_over(k, batch)?;
        if let Some(e) = error {
            self.partition_error(k, e)?;
        }
        Ok(n)
    }

    /// A record or an error from the consumer's main queue (records of partitions whose queue
    /// is not split off yet).
    fn handle(&self, res: Result<BorrowedMessage<'_>, KafkaError>) -> Result<()> {
        match res {
            Ok(m) => {
                let Some(k) = self.ctx().key_of(m.topic(), m.partition()) else {
                    return Ok(());
                };
                let mut batch = Batch::default();
                let payload = m.payload().unwrap_or(b"");
                self.decode(
                    k,
                    m.offset(),
                    m.timestamp().to_millis(),
                    payload,
                    &mut batch,
                );
                self.hand_over(k, batch)
            }
            Err(KafkaError::PartitionEOF(_)) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "consumer error");
                Ok(())
            }
        }
    }

    /// The end of partition `k` was reached (nothing more to read for now), or another error.
    fn partition_error(&self, k: SourceKey, e: KafkaError) -> Result<()> {
        match e {
            KafkaError::PartitionEOF(_) => self.to_stage(ToStage::End(k)),
            e => {
                tracing::warn!(error = %e, "consumer error");
                Ok(())
            }
        }
    }

    /// Commits the offsets the runner's checkpoints covered since the last round.
    fn commit_checkpointed(&self) -> Result<()> {
        let offsets = std::mem::take(&mut *self.shared.commits.lock().expect("commits lock"));
        if offsets.is_empty() {
            return Ok(());
        }
        self.ctx().commit(self.consumer.as_ref(), &offsets)
    }

    /// Asks the broker for every assigned partition's end offset: consumer lag to the metrics,
    /// and partitions whose position is at their end are marked so (the end-of-partition events
    /// of the consumer do that at once; this covers a client that missed one).
    fn refresh_watermarks(&self) -> Result<()> {
        let positions = self.ctx().book.lock().expect("book lock").positions();
        for (k, position) in positions {
            let topic = &self.ctx().settings.sources[k.0].topic;
            let high = match self
                .consumer
                .fetch_watermarks(topic, k.1, Duration::from_secs(1))
            {
                Ok((_, high)) => Some(high),
                Err(e) => {
                    tracing::debug!(topic, partition = k.1, error = %e, "end offset unknown");
                    None
                }
            };
            if high.is_some_and(|h| position.is_some_and(|p| p >= h)) {
                self.to_stage(ToStage::End(k))?;
            }
            if let Some(t) = &self.telemetry {
                t.set_consumer_lag(topic, k.1, consumer_lag(high, position));
            }
        }
        Ok(())
    }

    /// Finds input topics of which this replica owns some partitions but not all: another
    /// replica in the group holds the rest, so each engine sees a share of the identities and
    /// alerts are missed. Logged when it starts and ends; the partition counts go to the metrics.
    fn check_sharing(&mut self) {
        let owned: Vec<usize> = {
            let book = self.ctx().book.lock().expect("book lock");
            (0..self.ctx().settings.sources.len())
                .map(|i| book.owned_of(i))
                .collect()
        };
        let mut shared = BTreeSet::new();
        for (s, &mine) in self.ctx().settings.sources.iter().zip(&owned) {
            let Ok(md) = self
                .consumer
                .fetch_metadata(Some(&s.topic), Duration::from_secs(1))
            else {
                // Unknown this time: as it was.
                if self.shared_topics.contains(&s.topic) {
                    shared.insert(s.topic.clone());
                }
                continue;
            };
            let total = md
                .topics()
                .iter()
                .map(|t| t.partitions().len())
                .sum::<usize>();
            if let Some(t) = &self.telemetry {
                t.partitions
                    .with_label_values(&[&s.topic])
                    .set(total as i64);
            }
            if mine > 0 && mine < total {
                shared.insert(s.topic.clone());
            }
        }
        if shared != self.shared_topics {
            if shared.is_empty() {
                tracing::info!("this replica owns every partition of its input topics again");
            } else {
                tracing::warn!(
                    topics = ?shared,
                    "another replica in the group holds some partitions of these topics: each engine sees a share of the identities and alerts are missed; run one replica per group (README, \"Rebalance\")"
                );
            }
            self.shared_topics = shared;
        }
    }
}

/// A record copied out of the consumer (to process it after the wait that received it).
struct Received {
    offset: i64,
    created: Option<i64>,
    payload: Vec<u8>,
}

impl From<&BorrowedMessage<'_>> for Received {
    fn from(m: &BorrowedMessage<'_>) -> Self {
        Received {
            offset: m.offset(),
            created: m.timestamp().to_millis(),
            payload: m.payload().unwrap_or_default().to_vec(),
        }
    }
}

/// Consumer lag of a partition: high watermark − position; `None` when either is unknown
/// (never −1).
pub fn consumer_lag(high_watermark: Option<i64>, position: Option<i64>) -> Option<i64> {
    match (high_watermark, position) {
        (Some(h), Some(p)) if h >= 0 && p >= 0 => Some((h - p).max(0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::consumer_lag;

    #[test]
    fn lag_is_absent_when_unknown_and_never_negative() {
        assert_eq!(consumer_lag(Some(100), Some(60)), Some(40));
        assert_eq!(consumer_lag(Some(100), Some(100)), Some(0));
        assert_eq!(consumer_lag(Some(10), Some(12)), Some(0));
        assert_eq!(consumer_lag(None, Some(3)), None);
        assert_eq!(consumer_lag(Some(-1), Some(3)), None);
        assert_eq!(consumer_lag(Some(5), None), None);
        assert_eq!(consumer_lag(Some(5), Some(-1001)), None);
    }
}
