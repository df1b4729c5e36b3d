//! The consumer group: an assignment starts each partition at its checkpointed offset; a revoke
//! drains only the revoked partitions through the engine, checkpoints and commits before they
//! are given up. Both ask the runner's thread and wait for its answer (inside the consumer's
//! poll, on the driver's thread).

use super::receive::Book;
use super::stage::ToStage;
use crate::config::Settings;
use anyhow::{anyhow, Result};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use reachwatch_checkpoint::PartitionOffset;
use reachwatch_runner::SourceKey;
use reachwatch_telemetry::{Health, Telemetry};
use std::sync::mpsc::{channel, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The consumer's context: what the driver and the rebalance callback share.
pub struct Ctx {
    pub(super) settings: Arc<Settings>,
    pub(super) to_stage: SyncSender<ToStage>,
    /// Assigned partitions: their queues, positions, decoders.
    pub(super) book: Mutex<Book<PartitionQueue>>,
    /// The consumer itself, to split partition queues off on assignment.
    pub(super) consumer: OnceLock<Weak<StreamConsumer<Ctx>>>,
    pub(super) health: Option<Arc<Health>>,
    pub(super) telemetry: Option<Arc<Telemetry>>,
    /// A failure inside a rebalance callback, reported by the driver loop.
    pub(super) failed: Mutex<Option<anyhow::Error>>,
}

pub(super) type PartitionQueue = rdkafka::consumer::stream_consumer::StreamPartitionQueue<Ctx>;

impl Ctx {
    /// The key of a source partition.
    pub(super) fn key_of(&self, topic: &str, partition: i32) -> Option<SourceKey> {
        self.settings
            .sources
            .iter()
            .position(|s| s.topic == topic)
            .map(|i| (i, partition))
    }

    fn keys(&self, tpl: &TopicPartitionList) -> Vec<SourceKey> {
        tpl.elements()
            .iter()
            .filter_map(|e| self.key_of(e.topic(), e.partition()))
            .collect()
    }

    /// Asks the runner's thread and waits for its answer.
    fn ask<T>(&self, msg: impl FnOnce(std::sync::mpsc::Sender<T>) -> ToStage) -> Result<T> {
        let (tx, rx) = channel();
        let gone = || anyhow!("the pipeline's runner stopped (see the error logged before)");
        self.to_stage.send(msg(tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())
    }

    fn on_assign(&self, tpl: &mut TopicPartitionList) -> Result<()> {
        let keys = self.keys(tpl);
        let starts = self.ask(|reply| ToStage::Assign {
            keys: keys.clone(),
            reply,
        })?;
        let from_start = self.settings.raw.pipeline.from_start;
        let mut book = self.book.lock().expect("book lock");
        for (&k, start) in keys.iter().zip(starts) {
            let topic = &self.settings.sources[k.0].topic;
            if from_start {
                tpl.set_partition_offset(topic, k.1, Offset::Beginning)?;
            } else if let Some(o) = start {
                tpl.set_partition_offset(topic, k.1, Offset::Offset(o))?;
                tracing::debug!(
                    topic,
                    partition = k.1,
                    offset = o,
                    "resuming at the checkpoint"
                );
            }
            book.assign(k, start);
        }
        self.report_assigned(&book);
        drop(book);
        tracing::info!(partitions = tpl.count(), "partitions assigned");
        if let Some(h) = &self.health {
            h.set_ready(true);
        }
        Ok(())
    }

    /// Splits a queue off for each assigned partition of `tpl`.
    fn split(&self, tpl: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut book = self.book.lock().expect("book lock");
        for e in tpl.elements() {
            let Some(key) = self.key_of(e.topic(), e.partition()) else {
                continue;
            };
            if let Some(q) = consumer.split_partition_queue(e.topic(), e.partition()) {
                book.set_queue(key, Arc::new(q));
            }
        }
    }

    fn on_revoke(&self, base: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) -> Result<()> {
        let keys = self.keys(tpl);
        let offsets = self.ask(|reply| ToStage::Revoke {
            keys: keys.clone(),
            reply,
        })??;
        let revoked: Vec<PartitionOffset> = offsets
            .into_iter()
            .filter(|p| {
                self.key_of(&p.topic, p.partition)
                    .is_some_and(|k| keys.contains(&k))
            })
            .collect();
        self.commit(base, &revoked)?;
        let mut book = self.book.lock().expect("book lock");
        for k in keys {
            book.revoke(k);
        }
        self.report_assigned(&book);
        tracing::info!(partitions = tpl.count(), "partitions revoked");
        Ok(())
    }

    /// Sets `reachwatch_kafka_partitions_assigned` from the book.
    fn report_assigned(&self, book: &Book<PartitionQueue>) {
        let Some(t) = &self.telemetry else {
            return;
        };
        for (i, s) in self.settings.sources.iter().enumerate() {
            t.partitions_assigned
                .with_label_values(&[&s.topic])
                .set(book.owned_of(i) as i64);
        }
    }

    /// Commits offsets a checkpoint covers, if the plan allows (owned partitions, forward only).
    pub(super) fn commit<C: ConsumerContext>(
        &self,
        consumer: &impl Consumer<C>,
        covered: &[PartitionOffset],
    ) -> Result<()> {
        if !self.settings.raw.pipeline.commit {
            return Ok(());
        }
        let plan = {
            let book = self.book.lock().expect("book lock");
            let owned = book.owned(&self.settings);
            super::commit::commit_plan(covered, &owned, &book.committed)
        };
        if plan.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for p in &plan {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.offset))?;
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| anyhow!("committing offsets covered by the checkpoint: {e}"))?;
        let mut book = self.book.lock().expect("book lock");
        for p in plan {
            book.committed.insert((p.topic, p.partition), p.offset);
        }
        Ok(())
    }
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr as E;
        let cooperative = matches!(base.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(tpl).and_then(|()| {
                if cooperative {
                    base.incremental_assign(tpl)?;
                } else {
                    base.assign(tpl)?;
                }
                self.split(tpl);
                Ok(())
            }),
            E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let r = self.on_revoke(base, tpl);
                if r.is_err() {
                    let mut book = self.book.lock().expect("book lock");
                    for k in self.keys(tpl) {
                        book.revoke(k);
                    }
                }
                let u = if cooperative {
                    base.incremental_unassign(tpl)
                } else {
                    base.unassign()
                };
                r.and(u.map_err(anyhow::Error::from))
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                let _ = base.unassign();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.failed.lock().expect("failure lock").get_or_insert(e);
        }
    }
}
