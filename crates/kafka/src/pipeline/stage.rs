//! The runner's thread: decoded batches from the driver are merged in event time and run through
//! the engine ([`Runner`]); alerts and dead letters go straight to the sinks from here;
//! checkpoints are written here. Names and refusals never travel back: the driver only receives,
//! decodes, and commits what a checkpoint covers.

use super::commit::checkpoint_due;
use super::sinks::KafkaSink;
use super::state::StateTopic;
use anyhow::{anyhow, bail, Result};
use reachwatch_checkpoint::{Checkpoint, PartitionOffset};
use reachwatch_engine::RuleSet;
use reachwatch_formats::HostMap;
use reachwatch_runner::{Batch, Runner, SourceKey, Summary};
use reachwatch_telemetry::Telemetry;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// A source of new rule sets: returns one when the rules changed and compile (and reports a
/// broken change itself, keeping the running rules).
pub type RuleSource = Box<dyn FnMut() -> Option<RuleSet> + Send>;

/// How often engine metrics and the watermark lag are updated while the stage is idle or busy.
const METRICS_INTERVAL: Duration = Duration::from_secs(5);

/// What the driver hands the stage, in the order it happened.
pub(super) enum ToStage {
    /// Decoded records of one partition (symbols of the driver's table, which is table 0).
    Batch { key: SourceKey, batch: Batch },
    /// The partition has nothing more to read for now.
    End(SourceKey),
    /// Partitions assigned: replies with where each starts (checkpointed offset, if any).
    Assign {
        keys: Vec<SourceKey>,
        reply: Sender<Vec<Option<i64>>>,
    },
    /// Partitions to give up: their buffered records go through the engine, then a checkpoint;
    /// replies with the offsets to commit.
    Revoke {
        keys: Vec<SourceKey>,
        reply: Sender<Result<Vec<PartitionOffset>>>,
    },
    /// SIGHUP: look for new rules now.
    CheckRules,
    /// Stop: everything buffered through the engine, a checkpoint; replies with the offsets to
    /// commit and the summary.
    Stop {
        reply: Sender<Result<(Vec<PartitionOffset>, Summary)>>,
    },
}

/// What the stage and the driver share.
#[derive(Default)]
pub(super) struct Shared {
    /// Per partition, records the stage has taken off its merge queue so far (the driver's
    /// records sent minus these are in flight: its room to fetch more).
    pub(super) taken: Mutex<HashMap<SourceKey, u64>>,
    /// Offsets covered by checkpoints, waiting for the driver to commit them.
    pub(super) commits: Mutex<Vec<PartitionOffset>>,
    /// Why the stage stopped, when it failed.
    pub(super) failed: Mutex<Option<anyhow::Error>>,
    /// Set by the driver after a failure: no more checkpoints.
    pub(super) abort: AtomicBool,
    /// Wakes the driver: room freed, offsets to commit, or a failure.
    pub(super) wake: Notify,
}

/// Everything the stage owns.
pub(super) struct Stage {
    pub(super) runner: Runner,
    pub(super) sink: KafkaSink,
    /// Source topics by index (a partition's key is (index, partition)).
    pub(super) topics: Vec<String>,
    pub(super) checkpoints: Checkpoints,
    pub(super) rules: Option<RuleSource>,
    pub(super) reload_interval: Option<Duration>,
    /// The hosts file, kept to rebuild the host map when the rules change.
    pub(super) file_hosts: Option<HostMap>,
    pub(super) telemetry: Option<Arc<Telemetry>>,
    /// Unix time (ms) of event time 0 when event time is absolute (for the watermark lag).
    pub(super) base_time: Option<i64>,
    pub(super) from_start: bool,
    pub(super) shared: Arc<Shared>,
}

/// Where and when checkpoints are written, and the last one.
pub(super) struct Checkpoints {
    pub(super) dir: PathBuf,
    /// The topic each checkpoint is also written to (`checkpoint.in_kafka`).
    pub(super) topic: Option<StateTopic>,
    pub(super) interval: Duration,
    pub(super) every_events: u64,
    /// The last checkpoint written or restored (offsets of partitions not assigned now).
    pub(super) last: Checkpoint,
    pub(super) last_at: Instant,
    pub(super) events_at_last: u64,
    /// Set after a failure: no checkpoint may be written any more (what the engine produced
    /// may not all have reached the sinks).
    pub(super) poisoned: bool,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Stage {
    /// Runs the stage until `Stop` or the driver goes away; a failure is left in `shared`.
    pub(super) fn run(mut self, rx: Receiver<ToStage>) {
        let shared = self.shared.clone();
        if let Err(e) = self.serve(rx) {
            tracing::error!(error = %format!("{e:#}"), "the pipeline's runner stopped");
            shared.failed.lock().expect("failure lock").get_or_insert(e);
        }
        shared.wake.notify_one();
    }

    fn serve(&mut self, rx: Receiver<ToStage>) -> Result<()> {
        let mut last_metrics = Instant::now();
        let mut last_reload = Instant::now();
        loop {
            let now = Instant::now();
            let wait = [
                self.runner.next_idle_deadline(now),
                Some(self.checkpoints.last_at + self.checkpoints.interval),
                Some(last_metrics + METRICS_INTERVAL),
                self.reload_interval.map(|i| last_reload + i),
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(METRICS_INTERVAL, |d| d.saturating_duration_since(now));
            match rx.recv_timeout(wait) {
                Ok(ToStage::Stop { reply }) => {
                    let result = self.stop();
                    let failed = result.is_err();
                    let _ = reply.send(result);
                    if failed {
                        bail!("stopping failed");
                    }
                    return Ok(());
                }
                Ok(msg) => self.handle(msg)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.runner.run(Instant::now(), &mut self.sink)?;
            self.publish_taken();
            if self.checkpoint_due() {
                let offsets = self.checkpoint()?;
                self.shared
                    .commits
                    .lock()
                    .expect("commits lock")
                    .extend(offsets);
                self.shared.wake.notify_one();
            }
            if last_metrics.elapsed() >= METRICS_INTERVAL {
                self.record_metrics();
                last_metrics = Instant::now();
            }
            if self
                .reload_interval
                .is_some_and(|i| last_reload.elapsed() >= i)
            {
                self.reload_rules();
                last_reload = Instant::now();
            }
        }
    }

    fn handle(&mut self, msg: ToStage) -> Result<()> {
        let now = Instant::now();
        match msg {
            ToStage::Batch { key, batch } => self.runner.offer(key, 0, batch, now, &mut self.sink),
            ToStage::End(key) => {
                self.runner.at_end(key, now);
                Ok(())
            }
            ToStage::Assign { keys, reply } => {
                let starts = keys
                    .iter()
                    .map(|&k| {
                        self.runner.assign(k, now);
                        let start = (!self.from_start)
                            .then(|| self.checkpoints.last.input_offset(&self.topics[k.0], k.1))
                            .flatten();
                        if let Some(o) = start {
                            self.runner.set_start(k, o);
                        }
                        start
                    })
                    .collect();
                let _ = reply.send(starts);
                Ok(())
            }
            ToStage::Revoke { keys, reply } => {
                // Only the revoked partitions are drained (in event time among themselves), then
                // a checkpoint while they are still ours.
                let result = self
                    .runner
                    .drain_inputs(&keys, &mut self.sink)
                    .and_then(|()| self.checkpoint());
                self.runner.forget(&keys);
                let failed = result.as_ref().err().map(|e| anyhow!("{e:#}"));
                self.publish_taken();
                let _ = reply.send(result);
                failed.map_or(Ok(()), Err)
            }
            ToStage::CheckRules => {
                tracing::info!("SIGHUP: checking the rules");
                self.reload_rules();
                Ok(())
            }
            ToStage::Stop { .. } => unreachable!("handled by the loop"),
        }
    }

    /// Everything buffered through the engine, then a checkpoint (the engine is not finished:
    /// open incidents stay open in the checkpoint).
    fn stop(&mut self) -> Result<(Vec<PartitionOffset>, Summary)> {
        tracing::info!("stopping: processing buffered records, then checkpoint and commit");
        self.runner.drain(&mut self.sink)?;
        let offsets = self.checkpoint()?;
        self.record_metrics();
        let summary = self.runner.summary_now().clone();
        Ok((offsets, summary))
    }

    /// Tells the driver how many records of each partition have left the merge queues.
    fn publish_taken(&self) {
        let mut taken = self.shared.taken.lock().expect("taken lock");
        taken.clear();
        taken.extend(self.runner.keys().map(|k| (k, self.runner.taken(k))));
        drop(taken);
        self.shared.wake.notify_one();
    }

    fn checkpoint_due(&self) -> bool {
        let c = &self.checkpoints;
        checkpoint_due(
            c.last_at.elapsed(),
            c.interval,
            self.runner.summary().events - c.events_at_last,
            c.every_events,
        )
    }

    /// Writes a checkpoint covering everything given to the engine, once every alert and dead
    /// letter before it is acknowledged; returns the input offsets of the partitions merged now.
    pub(super) fn checkpoint(&mut self) -> Result<Vec<PartitionOffset>> {
        if self.shared.abort.load(Ordering::SeqCst) {
            self.checkpoints.poisoned = true;
        }
        if self.checkpoints.poisoned {
            bail!(
                "no checkpoint after an earlier failure; \
                 the records will be processed again on restart"
            );
        }
        let result = self.write_checkpoint();
        self.checkpoints.poisoned = result.is_err();
        result
    }

    fn write_checkpoint(&mut self) -> Result<Vec<PartitionOffset>> {
        let c = &self.checkpoints;
        let _span = tracing::debug_span!("checkpoint", sequence = c.last.sequence + 1).entered();
        let started = Instant::now();
        let engine = self.runner.snapshot();
        self.sink.flush()?;
        let alerts = self.sink.alert_end_offsets()?;
        let mut inputs: BTreeMap<(String, i32), i64> = c
            .last
            .inputs
            .iter()
            .map(|p| ((p.topic.clone(), p.partition), p.offset))
            .collect();
        let mut assigned = vec![];
        for k in self.runner.keys() {
            if let Some(offset) = self.runner.resume_offset(k) {
                let topic = self.topics[k.0].clone();
                inputs.insert((topic.clone(), k.1), offset);
                assigned.push(PartitionOffset {
                    topic,
                    partition: k.1,
                    offset,
                });
            }
        }
        let cp = Checkpoint {
            sequence: c.last.sequence + 1,
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
        let bytes = cp.encode();
        Checkpoint::write_encoded(&self.checkpoints.dir, &bytes)?;
        if let Some(topic) = &self.checkpoints.topic {
            topic.write(cp.sequence, &bytes)?;
        }
        let events = self.runner.summary().events;
        tracing::debug!(sequence = cp.sequence, events, inputs = ?cp.inputs, "checkpoint written");
        let c = &mut self.checkpoints;
        c.last = cp;
        c.last_at = Instant::now();
        c.events_at_last = events;
        self.runner.summary_now().checkpoints += 1;
        if let Some(t) = &self.telemetry {
            t.checkpoint_duration.record(started.elapsed());
            t.checkpoint_age.set(0.0);
        }
        Ok(assigned)
    }

    fn record_metrics(&mut self) {
        self.runner.record_metrics();
        if let Some(t) = &self.telemetry {
            // Also while no records arrive: the lag then grows with the wall clock.
            let lag = self
                .base_time
                .zip(self.runner.engine().watermark())
                .map(|(base, w)| (unix_ms() as i64 - (base + w)) as f64 / 1000.0);
            t.set_watermark_lag(lag);
            t.checkpoint_age
                .set(self.checkpoints.last_at.elapsed().as_secs_f64());
        }
    }

    /// Swaps in new rules if the rule source has them (state is kept).
    fn reload_rules(&mut self) {
        let Some(rules) = self.rules.as_mut().and_then(|r| r()) else {
            return;
        };
        let hosts = reachwatch_runner::host_map(&rules, self.file_hosts.as_ref());
        self.runner.set_rules(Arc::new(rules), hosts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::receive::Book;
    use crate::RunConfig;
    use reachwatch_engine::Engine;
    use reachwatch_runner::{Options, Source};
    use std::path::Path;

    /// The settings of a run over one LANL auth topic (`auth`) checkpointing into `dir`.
    fn settings(dir: &Path) -> Arc<crate::Settings> {
        let settings = RunConfig::parse(&format!(
            "[kafka]\nbrokers = \"127.0.0.1:9\"\ngroup_id = \"g\"\n\
             [[sources]]\ntopic = \"auth\"\nstream = \"auth\"\nformat = \"lanl\"\n\
             [sinks]\nalerts_stdout = true\n[checkpoint]\ndir = \"{}\"\n",
            dir.display()
        ))
        .and_then(RunConfig::validate)
        .unwrap();
        Arc::new(settings)
    }

    /// A stage with nothing attached (no producer, no metrics, no rule source).
    fn stage(dir: &Path) -> Stage {
        let engine = Engine::with_rules(Arc::new(reachwatch_rules::builtin()));
        let source = Source::new("auth", "auth", reachwatch_formats::Stream::Auth);
        Stage {
            runner: Runner::new(engine, Options::new(vec![source])),
            sink: KafkaSink {
                producer: None,
                alerts_topic: None,
                dead_letter_topic: None,
                file: None,
                stdout: false,
            },
            topics: vec!["auth".into()],
            checkpoints: Checkpoints {
                dir: dir.to_path_buf(),
                topic: None,
                interval: Duration::from_secs(3600),
                every_events: 0,
                last: Checkpoint::empty(),
                last_at: Instant::now(),
                events_at_last: 0,
                poisoned: false,
            },
            rules: None,
            reload_interval: None,
            file_hosts: None,
            telemetry: None,
            base_time: None,
            from_start: false,
            shared: Arc::new(Shared::default()),
        }
    }

    #[test]
    fn a_checkpoint_covers_exactly_the_records_handed_to_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        let mut book: Book<()> = Book::new(settings(dir.path()));
        let mut s = stage(dir.path());
        book.assign((0, 0), None);
        s.handle(ToStage::Assign {
            keys: vec![(0, 0)],
            reply: std::sync::mpsc::channel().0,
        })
        .unwrap();
        let lines = [
            "10,svc_a@D,svc_a@D,C1,C2,Kerberos,Network,LogOn,Success",
            "11,svc_a@D,svc_a@D,C1,C3,Kerberos,Network,LogOn,Success",
            "not a record",
            "12,svc_b@D,svc_b@D,C4,C2,NTLM,Network,LogOn,Success",
        ];
        let mut batch = Batch::default();
        for (offset, line) in lines.iter().enumerate() {
            assert!(book.decode((0, 0), offset as i64, None, line.as_bytes(), &mut batch));
        }
        assert!(
            !book.decode((0, 0), 1, None, lines[1].as_bytes(), &mut batch),
            "a record received before is passed over"
        );
        book.seal(&mut batch);
        s.handle(ToStage::Batch { key: (0, 0), batch }).unwrap();
        s.runner.drain(&mut s.sink).unwrap();
        let offsets = s.checkpoint().unwrap();

        assert_eq!(s.runner.summary().events, 3);
        assert_eq!(s.runner.summary().dead_letters.get("malformed"), Some(&1));
        assert_eq!(
            offsets,
            vec![PartitionOffset {
                topic: "auth".into(),
                partition: 0,
                offset: 4
            }]
        );
        let cp = Checkpoint::read(dir.path()).unwrap().unwrap();
        assert_eq!(cp.input_offset("auth", 0), Some(4));
        let rules = Arc::new(reachwatch_rules::builtin());
        let mut engine = Engine::restore_with_rules(&cp.engine, rules).unwrap();
        engine.finish(&mut vec![]);
        assert_eq!(engine.stats().auth_events, 3);
        let missing: Vec<&str> = ["svc_a@D", "svc_b@D", "C1", "C2", "C3", "C4"]
            .into_iter()
            .filter(|n| engine.symbols().get(n.as_bytes()).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "missing from the engine's table: {missing:?}"
        );
    }

    #[test]
    fn a_revoked_partition_is_drained_and_checkpointed_at_its_end_before_it_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut book: Book<()> = Book::new(settings(dir.path()));
        let mut s = stage(dir.path());
        let keys = vec![(0, 0), (0, 1)];
        for &k in &keys {
            book.assign(k, None);
        }
        s.handle(ToStage::Assign {
            keys: keys.clone(),
            reply: std::sync::mpsc::channel().0,
        })
        .unwrap();
        for (k, t) in [((0, 0), 20), ((0, 1), 10)] {
            let mut batch = Batch::default();
            for (offset, host) in ["C2", "C3", "C4"].iter().enumerate() {
                let line = format!(
                    "{},svc_a@D,svc_a@D,C1,{host},Kerberos,Network,LogOn,Success",
                    t + offset
                );
                book.decode(k, offset as i64, None, line.as_bytes(), &mut batch);
            }
            book.seal(&mut batch);
            s.handle(ToStage::Batch { key: k, batch }).unwrap();
        }
        // Partition 1's records come first; then partition 1, empty and not at its end, holds
        // partition 0's back.
        s.runner.run(Instant::now(), &mut s.sink).unwrap();
        assert_eq!(s.runner.summary().events, 3);
        assert_eq!(s.runner.buffered((0, 0)), 3);
        let (tx, rx) = std::sync::mpsc::channel();
        s.handle(ToStage::Revoke {
            keys: vec![(0, 0)],
            reply: tx,
        })
        .unwrap();
        let offsets = rx.recv().unwrap().unwrap();
        assert!(
            offsets.contains(&PartitionOffset {
                topic: "auth".into(),
                partition: 0,
                offset: 3
            }),
            "{offsets:?}"
        );
        assert_eq!(
            s.runner.summary().events,
            6,
            "the revoked partition was drained"
        );
        let cp = Checkpoint::read(dir.path()).unwrap().unwrap();
        assert_eq!(cp.input_offset("auth", 0), Some(3));
        assert_eq!(cp.input_offset("auth", 1), Some(3));
        assert_eq!(s.runner.keys().collect::<Vec<_>>(), vec![(0, 1)]);
    }

    #[test]
    fn no_checkpoint_is_written_after_a_failed_one() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("checkpoints");
        std::fs::write(&at, "a file where the directory should be").unwrap();
        let mut s = stage(&at);
        assert!(s.checkpoint().is_err());
        std::fs::remove_file(&at).unwrap();
        let e = s.checkpoint().unwrap_err().to_string();
        assert!(e.contains("earlier failure"), "{e}");
        assert!(!at.exists());
        // A fresh start writes there, unless the driver failed.
        let mut fresh = stage(&at);
        fresh.shared.abort.store(true, Ordering::SeqCst);
        assert!(fresh.checkpoint().is_err());
        stage(&at).checkpoint().unwrap();
        assert!(Checkpoint::read(&at).unwrap().is_some());
    }
}
