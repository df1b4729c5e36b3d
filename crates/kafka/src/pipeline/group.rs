//! The consumer group: assignment resumes at checkpointed offsets; a revoke drains only the
//! revoked partitions, then checkpoints and commits before giving them up.

use super::state::Core;
use crate::merge::PartKey;
use anyhow::Result;
use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

/// The consumer's context: runs the rebalance on the shared core (assign with checkpointed
/// offsets; on revoke, drain the revoked partitions, checkpoint and commit before giving them up).
pub struct Ctx {
    pub(super) core: Arc<Mutex<Core>>,
    /// The consumer itself, to split partition queues off on assignment.
    pub(super) consumer: OnceLock<Weak<StreamConsumer<Ctx>>>,
    /// One queue per assigned partition, so the driver fetches exactly the partitions whose
    /// merge queue has room.
    pub(super) queues: Mutex<BTreeMap<PartKey, Arc<PartitionQueue>>>,
}

pub(super) type PartitionQueue = rdkafka::consumer::stream_consumer::StreamPartitionQueue<Ctx>;

impl Ctx {
    /// Splits a queue off for each assigned partition of `tpl` (after `assign`, which resets them).
    pub(super) fn split(&self, core: &Core, tpl: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut queues = self.queues.lock().expect("queues lock");
        for e in tpl.elements() {
            let Some(key) = core.key_of(e.topic(), e.partition()) else {
                continue;
            };
            if let Some(q) = consumer.split_partition_queue(e.topic(), e.partition()) {
                queues.insert(key, Arc::new(q));
            }
        }
    }

    pub(super) fn unsplit(&self, core: &Core, tpl: &TopicPartitionList) {
        let mut queues = self.queues.lock().expect("queues lock");
        for e in tpl.elements() {
            if let Some(key) = core.key_of(e.topic(), e.partition()) {
                queues.remove(&key);
            }
        }
    }

    /// The queues of partitions whose merge queue has room.
    pub(super) fn fetchable(&self, core: &Core) -> Vec<(PartKey, Arc<PartitionQueue>)> {
        let queues = self.queues.lock().expect("queues lock");
        queues
            .iter()
            .filter(|(k, _)| !core.merge.is_full(**k))
            .map(|(k, q)| (*k, q.clone()))
            .collect()
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
        let mut core = self.core.lock().expect("core lock");
        let cooperative = matches!(base.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => core.on_assign(tpl).and_then(|()| {
                if cooperative {
                    base.incremental_assign(tpl)?;
                } else {
                    base.assign(tpl)?;
                }
                self.split(&core, tpl);
                Ok(())
            }),
            E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let r = core.on_revoke(base, tpl);
                self.unsplit(&core, tpl);
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
            core.failed.get_or_insert(e);
        }
    }
}

impl Core {
    pub(super) fn on_assign(&mut self, tpl: &mut TopicPartitionList) -> Result<()> {
        let now = Instant::now();
        let from_start = self.settings.raw.pipeline.from_start;
        let mut assigned = vec![];
        for e in tpl.elements() {
            assigned.push((e.topic().to_string(), e.partition()));
        }
        for (topic, partition) in assigned {
            let Some(key) = self.key_of(&topic, partition) else {
                continue;
            };
            self.merge.assign(key, now);
            if from_start {
                tpl.set_partition_offset(&topic, partition, Offset::Beginning)?;
            } else if let Some(o) = self.last.input_offset(&topic, partition) {
                tpl.set_partition_offset(&topic, partition, Offset::Offset(o))?;
                self.merge.set_start(key, o);
                tracing::debug!(topic, partition, offset = o, "resuming at the checkpoint");
            }
        }
        tracing::info!(partitions = tpl.count(), "partitions assigned");
        if let Some(h) = &self.health {
            h.set_ready(true);
        }
        Ok(())
    }

    pub(super) fn on_revoke(
        &mut self,
        base: &BaseConsumer<Ctx>,
        tpl: &TopicPartitionList,
    ) -> Result<()> {
        let revoked: Vec<PartKey> = tpl
            .elements()
            .iter()
            .filter_map(|e| self.key_of(e.topic(), e.partition()))
            .collect();
        // Drain only the revoked partitions (in event time among themselves), then checkpoint
        // and commit while they are still ours.
        loop {
            let next = revoked
                .iter()
                .filter_map(|&k| self.merge.head(k).map(|h| (h.time, k)))
                .min();
            let Some((_, k)) = next else { break };
            let item = self.merge.pop_head(k).expect("head exists");
            self.release(k, item)?;
        }
        self.checkpoint_and_commit(base)?;
        for k in revoked {
            self.merge.revoke(k);
            self.decoders.remove(&k);
        }
        tracing::info!(partitions = tpl.count(), "partitions revoked");
        Ok(())
    }
}
