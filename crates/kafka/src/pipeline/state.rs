//! The pipeline's shared state and what it does to records: decode, merge, engine, alerts,
//! dead letters, checkpoints.

use super::group::Ctx;
use super::sinks::{FileSinks, KafkaDeadLetter, Producer};
use super::worker::{Done, EngineThread, FromEngine, ToEngine, Work};
use super::{host_map, unix_ms, RuleSource, RunSummary, ALERT_ID_HEADER, FLUSH_TIMEOUT};
use crate::config::{Settings, Source};
use crate::merge::{Item, Merge, PartKey};
use crate::read::end_offsets;
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use reachwatch_checkpoint::{Checkpoint, PartitionOffset};
use reachwatch_engine::{Admission, Refusal, Rejection};
use reachwatch_formats::lines::decode_guarded;
use reachwatch_formats::symbols::take_new_names;
use reachwatch_formats::{
    decoder, DeadLetter, DecodeError, HostMap, LineDecoder, Reason, MAX_LINE,
};
use reachwatch_model::{Alert, Event, Interner};
use reachwatch_telemetry::{Health, Telemetry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Merged records handed to the engine thread at a time.
const HANDOVER: usize = 1024;

/// Everything the driver and the rebalance callback share.
pub(super) struct Core {
    pub(super) settings: Arc<Settings>,
    /// The engine, on its own thread: merged events go there in order.
    pub(super) engine: EngineThread,
    /// Which event times the engine will accept, fed the times handed to it (so that a skewed
    /// head is refused before it holds its partition back).
    pub(super) admission: Admission,
    /// Merged events not handed to the engine yet.
    pub(super) outbox: Vec<Work>,
    /// Decoded events (symbols from `syms`) with the wall-clock time (ms) their record was
    /// produced, when known.
    pub(super) merge: Merge<(Event, Option<i64>)>,
    pub(super) decoders: HashMap<PartKey, Box<dyn LineDecoder>>,
    /// The decoders' symbol table; names go to the engine with the events that use them.
    pub(super) syms: Interner,
    /// Names of `syms` already handed to the engine.
    pub(super) names_sent: usize,
    pub(super) producer: Option<Producer>,
    pub(super) files: FileSinks,
    /// Alert ids already on the alerts topic, not to be emitted again.
    pub(super) suppress: HashSet<String>,
    pub(super) pending: Vec<Alert>,
    /// The last checkpoint written or restored (offsets of partitions not assigned now).
    pub(super) last: Checkpoint,
    pub(super) base_time: Option<i64>,
    pub(super) events_since_checkpoint: u64,
    pub(super) last_checkpoint_at: Instant,
    pub(super) summary: RunSummary,
    pub(super) telemetry: Option<Arc<Telemetry>>,
    /// Set ready at the first assignment (the checkpoint is restored before the consumer exists).
    pub(super) health: Option<Arc<Health>>,
    /// The hosts file, kept to rebuild the engine's host map when the rules change.
    pub(super) file_hosts: Option<HostMap>,
    /// New rule sets, polled on SIGHUP and every `engine.reload_interval`.
    pub(super) reload: Option<RuleSource>,
    pub(super) last_reload_check: Instant,
    /// A failure inside a rebalance callback, reported by the driver loop.
    pub(super) failed: Option<anyhow::Error>,
    /// Set after a failure: no checkpoint may be written any more (what the engine produced may
    /// not all have been sunk).
    pub(super) poisoned: bool,
}

impl Core {
    /// A core with nothing attached (no sinks, metrics, health or rule source): `last` is the
    /// checkpoint restored, or an empty one.
    pub(super) fn new(
        settings: Arc<Settings>,
        engine: EngineThread,
        admission: Admission,
        last: Checkpoint,
    ) -> Core {
        let queue = settings.raw.pipeline.queue_capacity;
        Core {
            merge: Merge::new(queue, settings.idle_timeout),
            settings,
            engine,
            admission,
            outbox: vec![],
            decoders: HashMap::new(),
            syms: Interner::exact_only(),
            names_sent: 0,
            producer: None,
            files: FileSinks {
                file: None,
                stdout: false,
            },
            suppress: HashSet::new(),
            pending: vec![],
            last,
            base_time: None,
            events_since_checkpoint: 0,
            last_checkpoint_at: Instant::now(),
            summary: RunSummary::default(),
            telemetry: None,
            health: None,
            file_hosts: None,
            reload: None,
            last_reload_check: Instant::now(),
            failed: None,
            poisoned: false,
        }
    }

    pub(super) fn source(&self, idx: usize) -> &Source {
        &self.settings.sources[idx]
    }

    pub(super) fn key_of(&self, topic: &str, partition: i32) -> Option<PartKey> {
        self.settings
            .sources
            .iter()
            .position(|s| s.topic == topic)
            .map(|i| (i, partition))
    }

    /// Decodes one record of partition `key`, received at `now`, into its queue, or
    /// dead-letters it.
    pub(super) fn receive(
        &mut self,
        key: PartKey,
        offset: i64,
        created_ms: Option<i64>,
        payload: &[u8],
        now: Instant,
    ) -> Result<()> {
        if self.merge.position(key).is_some_and(|next| offset < next) {
            // Already received (fetched again after a seek).
            return Ok(());
        }
        self.summary.records += 1;
        let line = payload.strip_suffix(b"\n").unwrap_or(payload);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let decoded = if line.len() > MAX_LINE {
            Err(DecodeError::new(
                Reason::TooLong,
                format!("record is {} bytes (limit {MAX_LINE})", line.len()),
            ))
        } else {
            let stream = self.source(key.0).stream;
            let format = self.source(key.0).format;
            let dec = self
                .decoders
                .entry(key)
                .or_insert_with(|| decoder(format, stream));
            decode_guarded(dec.as_mut(), line, &mut self.syms)
        };
        match decoded {
            Ok(Some(event)) => {
                self.merge.push(
                    key,
                    Item {
                        time: event.time(),
                        offset,
                        value: (event, created_ms),
                    },
                    now,
                );
                Ok(())
            }
            Ok(None) => {
                self.merge.skip(key, offset, now);
                Ok(())
            }
            Err(e) => {
                self.merge.skip(key, offset, now);
                self.dead_letter(key, offset, e, payload)
            }
        }
    }

    /// Swaps in new rules if the rule source has them (state is kept).
    pub(super) fn reload_rules(&mut self) {
        self.last_reload_check = Instant::now();
        let Some(rules) = self.reload.as_mut().and_then(|r| r()) else {
            return;
        };
        if let Err(e) = self.hand_over() {
            self.failed.get_or_insert(e);
            return;
        }
        let s = &rules.settings;
        self.admission.set_limits(s.lateness, s.max_skew);
        let hosts = host_map(&rules, self.file_hosts.as_ref());
        // Every name goes again, to be resolved under the new host map.
        self.names_sent = 0;
        let names = take_new_names(&self.syms, &mut self.names_sent);
        let msg = ToEngine::Rules {
            rules: Arc::new(rules),
            hosts,
            names,
        };
        if let Err(e) = self.engine.send(msg) {
            self.failed.get_or_insert(e);
        }
    }

    pub(super) fn reload_due(&self) -> bool {
        self.reload.is_some()
            && self
                .settings
                .reload_interval
                .is_some_and(|i| self.last_reload_check.elapsed() >= i)
    }

    pub(super) fn dead_letter(
        &mut self,
        key: PartKey,
        offset: i64,
        err: DecodeError,
        raw: &[u8],
    ) -> Result<()> {
        let reason = err.reason.name();
        *self
            .summary
            .dead_letters
            .entry(reason.to_string())
            .or_insert(0) += 1;
        if let Some(t) = &self.telemetry {
            let result = match err.reason {
                Reason::Late => "late",
                Reason::ClockSkew => "clock_skew",
                _ => "decode_error",
            };
            t.events
                .with_label_values(&[&self.source(key.0).topic, result])
                .inc();
            t.dead_letters.with_label_values(&[reason]).inc();
        }
        let topic = self.source(key.0).topic.clone();
        let Some(dl_topic) = self.settings.raw.sinks.dead_letter_topic.clone() else {
            tracing::debug!(topic, partition = key.1, offset, reason, "dead letter");
            return Ok(());
        };
        let d = DeadLetter::new(&topic, offset as u64, err, raw);
        let record = KafkaDeadLetter {
            topic: &topic,
            partition: key.1,
            offset,
            reason,
            detail: &d.detail,
            raw: &d.raw,
            truncated: d.truncated,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
        };
        let payload = serde_json::to_vec(&record)?;
        let msg_key = format!("{topic}/{}", key.1);
        self.send(&dl_topic, &msg_key, &payload, None)
    }

    /// Sends one record, waiting while the producer's queue is full.
    pub(super) fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        id: Option<&str>,
    ) -> Result<()> {
        let producer = self
            .producer
            .as_ref()
            .expect("producer exists for topic sinks");
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(id) = id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: ALERT_ID_HEADER,
                value: Some(id),
            }));
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
    }

    /// Hands the engine every record the merge releases now; sinks what it handed back.
    pub(super) fn process_ready(&mut self, now: Instant, all: bool) -> Result<()> {
        let keys: Vec<PartKey> = self.merge.keys().collect();
        for k in keys {
            self.refuse_skewed_head(k)?;
        }
        while let Some(run) = self.merge.next_run(now, all) {
            while let Some(item) = self.merge.pop_in(&run) {
                self.release(run.key, item)?;
            }
            self.refuse_skewed_head(run.key)?;
        }
        self.hand_over()?;
        self.take_results()
    }

    /// A skewed head would hold its partition back until it is due: refuse it as soon as it is
    /// a head (a head that passes stays acceptable: the latest event time only grows).
    pub(super) fn refuse_skewed_head(&mut self, k: PartKey) -> Result<()> {
        while let Some(h) = self.merge.head(k) {
            let Err(refusal @ Refusal::Skew { .. }) = self.admission.check(h.time) else {
                break;
            };
            let item = self.merge.pop_head(k).expect("head exists");
            self.reject(k, item.offset, item.time, &Rejection::from(refusal))?;
        }
        Ok(())
    }

    /// Queues a merged record for the engine.
    pub(super) fn release(&mut self, key: PartKey, item: Item<(Event, Option<i64>)>) -> Result<()> {
        // The engine decides; the copy of its rule only follows (a refused time changes nothing).
        let _ = self.admission.admit(item.time);
        self.events_since_checkpoint += 1;
        self.outbox.push(Work {
            key,
            offset: item.offset,
            event: item.value.0,
            created: item.value.1,
        });
        if self.outbox.len() >= HANDOVER {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the queued records to the engine thread, with the names they need.
    pub(super) fn hand_over(&mut self) -> Result<()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let names = take_new_names(&self.syms, &mut self.names_sent);
        let work = std::mem::replace(&mut self.outbox, Vec::with_capacity(HANDOVER));
        self.engine.send(ToEngine::Events { names, work })
    }

    /// Sinks what the engine thread handed back so far (alerts, refusals), without waiting.
    pub(super) fn take_results(&mut self) -> Result<()> {
        while let Some(msg) = self.engine.try_recv()? {
            match msg {
                FromEngine::Done(done) => self.settle(done)?,
                FromEngine::Snapshot(_) => bail!("engine snapshot nobody asked for"),
            }
        }
        self.emit()
    }

    fn settle(&mut self, done: Done) -> Result<()> {
        self.summary.events += done.accepted;
        for (alert, created) in done.alerts {
            // End-to-end latency of an alert: from the production of the record that made it
            // due to its hand-over to the sinks (next, in `emit`).
            if let (Some(t), Some(created)) = (&self.telemetry, created) {
                let ms = (unix_ms() as i64 - created).max(0) as u64;
                t.end_to_end_latency.record(Duration::from_millis(ms));
            }
            self.pending.push(alert);
        }
        for r in done.refused {
            self.reject(r.key, r.offset, r.time, &r.rejection)?;
        }
        Ok(())
    }

    /// The engine's state covering every record handed over, once the engine thread has taken
    /// them all (their alerts and refusals are settled first).
    pub(super) fn snapshot(&mut self) -> Result<Vec<u8>> {
        self.hand_over()?;
        self.engine.send(ToEngine::Snapshot)?;
        loop {
            match self.engine.recv()? {
                FromEngine::Done(done) => self.settle(done)?,
                FromEngine::Snapshot(bytes) => return Ok(bytes),
            }
        }
    }

    pub(super) fn reject(
        &mut self,
        key: PartKey,
        offset: i64,
        time: i64,
        rej: &Rejection,
    ) -> Result<()> {
        let reason = match rej {
            Rejection::Late { .. } => Reason::Late,
            Rejection::ClockSkew { .. } => Reason::ClockSkew,
        };
        let raw = format!("event time {} s", time as f64 / 1000.0);
        self.dead_letter(
            key,
            offset,
            DecodeError::new(reason, rej.to_string()),
            raw.as_bytes(),
        )
    }

    /// Sends pending alerts to the sinks, skipping ids already published.
    pub(super) fn emit(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let version = env!("CARGO_PKG_VERSION");
        let format = self.settings.alert_format;
        for mut a in std::mem::take(&mut self.pending) {
            tracing::debug!(id = %a.id, rule = %a.rule, identity = %a.identity, "alert");
            if self.suppress.remove(&a.id) {
                self.summary.alerts_suppressed += 1;
                continue;
            }
            if let Some(base) = self.base_time {
                reachwatch_formats::native::stamp_alert(&mut a, base);
            }
            let mut line = Vec::with_capacity(1024);
            format.write(&mut line, &a, version)?;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if let Some(topic) = self.settings.raw.sinks.alerts_topic.clone() {
                self.send(&topic, &a.identity, &line, Some(&a.id))?;
            }
            if let Some(f) = &mut self.files.file {
                f.write_all(&line)?;
                f.write_all(b"\n")?;
            }
            if self.files.stdout {
                let mut out = std::io::stdout().lock();
                out.write_all(&line)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            self.summary.alerts += 1;
            if let Some(t) = &self.telemetry {
                t.alerts
                    .with_label_values(&[&a.rule, a.severity.name()])
                    .inc();
            }
        }
        Ok(())
    }

    /// Writes a checkpoint covering everything given to the engine; returns the input offsets
    /// to commit (assigned partitions only).
    pub(super) fn checkpoint(&mut self) -> Result<Vec<PartitionOffset>> {
        if self.poisoned {
            bail!(
                "no checkpoint after an earlier failure; \
                 the records will be processed again on restart"
            );
        }
        let result = self.write_checkpoint();
        self.poisoned = result.is_err();
        result
    }

    fn write_checkpoint(&mut self) -> Result<Vec<PartitionOffset>> {
        let _span = tracing::debug_span!("checkpoint", sequence = self.last.sequence + 1).entered();
        let started = Instant::now();
        let engine = self.snapshot()?;
        self.emit()?;
        if let Some(p) = &self.producer {
            p.flush(FLUSH_TIMEOUT)
                .context("flushing alerts and dead letters before a checkpoint")?;
            if let Some(e) = p.context().failed.lock().expect("delivery lock").take() {
                bail!("{e}; no checkpoint written, the records will be processed again on restart");
            }
        }
        if let Some(f) = &mut self.files.file {
            f.flush()?;
            f.get_ref().sync_data()?;
        }
        let alerts = match (&self.producer, &self.settings.raw.sinks.alerts_topic) {
            (Some(p), Some(topic)) => end_offsets(p.client(), topic)?,
            _ => vec![],
        };
        let mut inputs: BTreeMap<(String, i32), i64> = self
            .last
            .inputs
            .iter()
            .map(|p| ((p.topic.clone(), p.partition), p.offset))
            .collect();
        let mut assigned = vec![];
        let keys: Vec<PartKey> = self.merge.keys().collect();
        for k in keys {
            if let Some(o) = self.merge.resume_offset(k) {
                let topic = self.source(k.0).topic.clone();
                inputs.insert((topic.clone(), k.1), o);
                assigned.push(PartitionOffset {
                    topic,
                    partition: k.1,
                    offset: o,
                });
            }
        }
        let cp = Checkpoint {
            sequence: self.last.sequence + 1,
            created_unix_ms: unix_ms(),
            engine,
            inputs: inputs
                .into_iter()
                .map(|((topic, partition), offset)| PartitionOffset {
                    topic,
                    partition,
                    offset,
                })
                .collect(),
            alerts,
        };
        cp.write(&self.settings.raw.checkpoint.dir)?;
        tracing::debug!(
            sequence = cp.sequence,
            events = self.summary.events,
            inputs = ?cp.inputs,
            "checkpoint written"
        );
        self.last = cp;
        self.summary.checkpoints += 1;
        self.events_since_checkpoint = 0;
        self.last_checkpoint_at = Instant::now();
        if let Some(t) = &self.telemetry {
            t.checkpoint_duration.record(started.elapsed());
            t.checkpoint_age.set(0.0);
        }
        Ok(assigned)
    }

    /// Asks the engine thread to put its counters and state gauges in the metrics.
    pub(super) fn record_engine(&self) -> Result<()> {
        self.engine.send(ToEngine::Metrics)
    }

    pub(super) fn checkpoint_due(&self) -> bool {
        let every = self.settings.raw.checkpoint.every_events;
        self.last_checkpoint_at.elapsed() >= self.settings.checkpoint_interval
            || (every > 0 && self.events_since_checkpoint >= every)
    }

    /// Checkpoints, then commits the covered offsets of `consumer`'s assigned partitions.
    pub(super) fn checkpoint_and_commit<C: ConsumerContext>(
        &mut self,
        consumer: &impl Consumer<C>,
    ) -> Result<()> {
        let offsets = self.checkpoint()?;
        if !self.settings.raw.pipeline.commit || offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for p in &offsets {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.offset))?;
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .context("committing offsets covered by the checkpoint")
    }

    /// Asks the broker for every assigned partition's end offset: consumer lag to the metrics,
    /// and partitions whose position is at their end are marked so (the end-of-partition events
    /// of the consumer do that at once; this covers a client that missed one).
    pub(super) fn refresh_watermarks(&mut self, consumer: &StreamConsumer<Ctx>) {
        let keys: Vec<PartKey> = self.merge.keys().collect();
        for k in keys {
            let topic = &self.settings.sources[k.0].topic;
            let high = match consumer.fetch_watermarks(topic, k.1, Duration::from_secs(1)) {
                Ok((_, high)) => Some(high),
                Err(e) => {
                    tracing::debug!(topic, partition = k.1, error = %e, "end offset unknown");
                    None
                }
            };
            if high.is_some_and(|h| self.merge.position(k).is_some_and(|p| p >= h)) {
                self.merge.at_end(k);
            }
            let Some(t) = &self.telemetry else { continue };
            let part = k.1.to_string();
            match consumer_lag(high, self.merge.resume_offset(k)) {
                Some(lag) => t.consumer_lag.with_label_values(&[topic, &part]).set(lag),
                None => {
                    let _ = t.consumer_lag.remove_label_values(&[topic, &part]);
                }
            }
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
    use super::*;
    use crate::config::RunConfig;
    use crate::pipeline::worker::EngineSide;
    use reachwatch_engine::Engine;
    use std::path::Path;

    /// A core over one LANL auth topic (`auth`) checkpointing into `dir`; nothing attached (the
    /// configured sink is not opened).
    fn core(dir: &Path) -> Core {
        let settings = RunConfig::parse(&format!(
            "[kafka]\nbrokers = \"127.0.0.1:9\"\ngroup_id = \"g\"\n\
             [[sources]]\ntopic = \"auth\"\nstream = \"auth\"\nformat = \"lanl\"\n\
             [sinks]\nalerts_stdout = true\n[checkpoint]\ndir = \"{}\"\n",
            dir.display()
        ))
        .and_then(RunConfig::validate)
        .unwrap();
        let engine = Engine::with_rules(Arc::new(reachwatch_rules::builtin()));
        let admission = engine.admission();
        let thread = EngineThread::spawn(EngineSide {
            engine,
            hosts: HostMap::default(),
            telemetry: None,
            accepted: vec![],
            base_time: None,
        })
        .unwrap();
        let empty = Checkpoint {
            sequence: 0,
            created_unix_ms: 0,
            engine: vec![],
            inputs: vec![],
            alerts: vec![],
        };
        Core::new(Arc::new(settings), thread, admission, empty)
    }

    #[test]
    fn a_checkpoint_covers_exactly_the_events_handed_to_the_engine_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = core(dir.path());
        let now = Instant::now();
        c.merge.assign((0, 0), now);
        let lines = [
            "10,svc_a@D,svc_a@D,C1,C2,Kerberos,Network,LogOn,Success",
            "11,svc_a@D,svc_a@D,C1,C3,Kerberos,Network,LogOn,Success",
            "not a record",
            "12,svc_b@D,svc_b@D,C4,C2,NTLM,Network,LogOn,Success",
        ];
        for (offset, line) in lines.iter().enumerate() {
            c.receive((0, 0), offset as i64, None, line.as_bytes(), now)
                .unwrap();
        }
        c.merge.at_end((0, 0));
        c.process_ready(now, true).unwrap();
        c.checkpoint().unwrap();

        assert_eq!(c.summary.events, 3);
        assert_eq!(c.summary.dead_letters.get("malformed"), Some(&1));
        let cp = Checkpoint::read(dir.path()).unwrap().unwrap();
        assert_eq!(cp.input_offset("auth", 0), Some(4));
        let rules = Arc::new(reachwatch_rules::builtin());
        let mut engine = Engine::restore_with_rules(&cp.engine, rules).unwrap();
        engine.finish(&mut vec![]);
        assert_eq!(engine.stats().auth_events, 3);
        let names: Vec<&str> = ["svc_a@D", "svc_b@D", "C1", "C2", "C3", "C4"]
            .into_iter()
            .filter(|n| engine.symbols().get(n.as_bytes()).is_none())
            .collect();
        assert!(
            names.is_empty(),
            "missing from the engine's table: {names:?}"
        );
    }

    #[test]
    fn no_checkpoint_is_written_after_a_failed_one() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("checkpoints");
        std::fs::write(&at, "a file where the directory should be").unwrap();
        let mut c = core(&at);
        assert!(c.checkpoint().is_err());
        std::fs::remove_file(&at).unwrap();
        let e = c.checkpoint().unwrap_err().to_string();
        assert!(e.contains("earlier failure"), "{e}");
        assert!(!at.exists());
        // A fresh start writes there.
        core(&at).checkpoint().unwrap();
        assert!(Checkpoint::read(&at).unwrap().is_some());
    }
}
