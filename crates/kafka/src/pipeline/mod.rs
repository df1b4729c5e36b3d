//! The streaming pipeline on two threads. The driver (this module) receives records from the
//! consumer group, decodes them with its own symbol table ([`receive`]) and hands each
//! partition's records to the runner's thread as batches; it commits the offsets checkpoints
//! cover. The runner's thread ([`stage`]) merges the partitions in event time, runs the engine,
//! sends alerts and dead letters to their sinks and writes checkpoints. Names cross from the
//! driver to the runner once; nothing crosses back but room to fetch more and offsets to commit.
//!
//! Delivery: at-least-once on the inputs, exactly-once on alert ids. A checkpoint is written only
//! after every alert and dead letter before it was acknowledged; offsets are committed only after
//! the checkpoint that covers them is on disk. After a crash, the pipeline restores the checkpoint,
//! reads the alerts topic from the end offsets the checkpoint recorded to its current end, and
//! suppresses alerts whose ids are already there (ids are deterministic for the same input).
//! Dead letters are at-least-once.
//!
//! Wall clock is read here only (idle timeouts, checkpoint interval, lag); the engine's time is
//! event time.

use crate::config::Settings;
use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{Consumer, StreamConsumer};
use reachwatch_checkpoint::Checkpoint;
use reachwatch_engine::{Engine, RuleSet};
use reachwatch_formats::HostMap;
use reachwatch_runner::{Options, Runner, Source, Summary};
use reachwatch_telemetry::{Health, Telemetry};
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

mod commit;
mod driver;
mod group;
mod receive;
mod sinks;
mod stage;
mod state;

pub use commit::{checkpoint_due, commit_plan};
use driver::Driver;
pub use driver::{consumer_lag, StopHandle};
use group::Ctx;
use receive::Book;
use sinks::{client_config, published_alert_ids, Deliveries, KafkaSink, Producer};
pub use sinks::{ensure_topics, ALERT_ID_HEADER};
pub use stage::RuleSource;
use stage::{Checkpoints, Shared, Stage, ToStage};
pub use state::StateTopic;
use std::path::Path;

/// The driver counts as stuck (`/healthz` answers 503) after this long without a round: longer
/// than anything a round may wait for (a checkpoint's flush of the producer, 30 s at most, and its
/// write to the checkpoint topic, 60 s at most; a rebalance's drain and checkpoint).
const STALL_AFTER: Duration = Duration::from_secs(120);

/// Batches waiting for the runner's thread before the driver blocks (back-pressure).
const QUEUED_BATCHES: usize = 16;

/// What a run did: the runner's summary (streaming fields included).
pub type RunSummary = Summary;

/// What a caller attaches to a run besides its settings and rules.
#[derive(Default)]
pub struct Attach {
    /// Metrics to update.
    pub telemetry: Option<Arc<Telemetry>>,
    /// Readiness to report: ready once the checkpoint is restored and partitions are assigned.
    pub health: Option<Arc<Health>>,
    /// Stops the run gracefully (SIGTERM/SIGINT do too).
    pub stop: StopHandle,
    /// Live rules: polled on SIGHUP and every `engine.reload_interval`.
    pub rules: Option<RuleSource>,
}

/// Runs the pipeline until SIGTERM/SIGINT or `stop`; then processes what is buffered, writes a
/// checkpoint, commits and returns. Never calls `Engine::finish` (open incidents stay open in
/// the checkpoint).
pub fn run(settings: Settings, rules: Arc<RuleSet>, attach: Attach) -> Result<RunSummary> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(settings, rules, attach))
}

async fn run_async(settings: Settings, rules: Arc<RuleSet>, attach: Attach) -> Result<RunSummary> {
    if let Some(h) = &attach.health {
        h.set_ready(false);
        h.watch(STALL_AFTER);
    }
    let settings = Arc::new(settings);
    let client = settings.client_options();
    {
        let sinks = &settings.raw.sinks;
        let t: Vec<&str> = [&sinks.alerts_topic, &sinks.dead_letter_topic]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !t.is_empty() {
            ensure_topics(&client, &t, 1, &[]).await?;
        }
        if let Some(t) = &settings.checkpoint_topic {
            ensure_topics(&client, &[t], 2, CHECKPOINT_TOPIC_SETTINGS).await?;
        }
    }
    let shared = Arc::new(Shared::default());
    let telemetry = attach.telemetry.clone();
    let (stage, restored) = build_stage(&settings, rules, attach.telemetry, attach.rules, &shared)?;
    let (to_stage, rx) = sync_channel(QUEUED_BATCHES);
    let mut stage = stage;
    if restored.is_none() {
        // A first checkpoint before anything is consumed records where the alerts topic ends, so
        // a crash before the next one does not re-emit alerts.
        stage.checkpoint()?;
    }
    let thread = std::thread::Builder::new()
        .name("runner".into())
        .spawn(move || {
            let run = std::panic::AssertUnwindSafe(|| stage.run(rx));
            if let Err(panic) = std::panic::catch_unwind(run) {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "the pipeline's runner failed");
            }
        })?;
    let ctx = Ctx {
        settings: settings.clone(),
        to_stage: to_stage.clone(),
        book: Mutex::new(Book::new(settings.clone())),
        consumer: OnceLock::new(),
        health: attach.health,
        telemetry: telemetry.clone(),
        failed: Mutex::new(None),
    };
    let consumer: Arc<StreamConsumer<Ctx>> = Arc::new(
        client_config(&settings.consumer_options())
            .create_with_context(ctx)
            .context("creating the consumer")?,
    );
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    let topics: Vec<&str> = settings.sources.iter().map(|s| s.topic.as_str()).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(topics = ?topics, group = %settings.raw.kafka.group_id, "consuming");
    let mut driver = Driver {
        consumer: &consumer,
        shared: &shared,
        capacity: settings.raw.pipeline.queue_capacity,
        telemetry,
        waited: Duration::ZERO,
        shared_topics: Default::default(),
    };
    let result = driver.drive(&attach.stop).await;
    let waited = driver.waited;
    let result = match result {
        Ok(()) => stop_stage(&consumer, &to_stage),
        Err(e) => {
            // What the engine produced since the last checkpoint may not all have reached the
            // sinks: no checkpoint any more, not even when the partitions are given up below.
            shared.abort.store(true, Ordering::SeqCst);
            Err(e)
        }
    };
    // The partition queues hold the consumer: drop them so that it leaves the group. The runner's
    // thread has stopped: giving the partitions up on the way out checkpoints nothing more.
    consumer.context().book.lock().expect("book lock").clear();
    drop(to_stage);
    drop(consumer);
    let _ = thread.join();
    let mut summary = result?;
    summary.restored_from = restored;
    summary.waited_seconds = waited.as_secs_f64();
    tracing::info!(
        records = summary.records,
        events = summary.events,
        alerts = summary.alerts,
        late_events = summary.late_events,
        suppressed = summary.alerts_suppressed,
        checkpoints = summary.checkpoints,
        "stopped"
    );
    Ok(summary)
}

/// Asks the runner's thread to stop (everything buffered through the engine, a checkpoint) and
/// commits what that checkpoint covers.
fn stop_stage(
    consumer: &StreamConsumer<Ctx>,
    to_stage: &std::sync::mpsc::SyncSender<ToStage>,
) -> Result<Summary> {
    let ctx = consumer.context();
    let (reply, rx) = channel();
    let gone = || anyhow!("the pipeline's runner stopped (see the error logged before)");
    to_stage.send(ToStage::Stop { reply }).map_err(|_| gone())?;
    let (offsets, summary) = rx.recv().map_err(|_| gone())??;
    ctx.commit(consumer, &offsets)?;
    Ok(summary)
}

/// The runner's thread, restored from the checkpoint when there is one; returns the sequence
/// number restored.
fn build_stage(
    settings: &Arc<Settings>,
    rules: Arc<RuleSet>,
    telemetry: Option<Arc<Telemetry>>,
    reload: Option<RuleSource>,
    shared: &Arc<Shared>,
) -> Result<(Stage, Option<u64>)> {
    let raw = &settings.raw;
    let file_hosts = raw
        .engine
        .hosts
        .as_deref()
        .map(HostMap::load)
        .transpose()
        .map_err(|e| anyhow!("engine.hosts: {e}"))?;
    let dir = &raw.checkpoint.dir;
    let client = settings.client_options();
    let topic = settings
        .checkpoint_topic
        .as_deref()
        .map(|t| StateTopic::new(&client, t))
        .transpose()?;
    let started = Instant::now();
    let (restored, floor) = if raw.pipeline.from_start {
        (None, sequence_floor(dir, topic.as_ref()))
    } else {
        (latest_checkpoint(dir, topic.as_ref())?, 0)
    };
    let mut engine = match &restored {
        Some((cp, from)) => {
            tracing::info!(sequence = cp.sequence, from = %from.name, "restoring checkpoint");
            let engine = Engine::restore_with_rules(&cp.engine, rules.clone())
                .map_err(|e| anyhow!("checkpoint from {}: {e}", from.name))?;
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(
                sequence = cp.sequence,
                bytes = from.bytes,
                seconds,
                "checkpoint restored"
            );
            if let Some(t) = &telemetry {
                let label = [from.label];
                t.checkpoint_restore.with_label_values(&label).set(seconds);
                t.checkpoint_restored_bytes
                    .with_label_values(&label)
                    .set(from.bytes as i64);
            }
            engine
        }
        None => Engine::with_rules(rules.clone()),
    };
    let restored = restored.map(|(cp, _)| cp);
    let absolute = settings.sources.iter().all(|s| s.format.absolute_time());
    let base_time = absolute.then_some(0);
    engine.set_time_base(base_time.unwrap_or(0));
    let delivered = match (&restored, &raw.sinks.alerts_topic) {
        (Some(cp), Some(topic)) => {
            let ids = published_alert_ids(&client, topic, &cp.alerts)?;
            tracing::info!(
                alerts = ids.len(),
                "alerts published after the checkpoint will not be emitted again"
            );
            ids
        }
        _ => HashSet::new(),
    };
    let producer: Option<Producer> =
        if raw.sinks.alerts_topic.is_some() || raw.sinks.dead_letter_topic.is_some() {
            Some(
                client_config(&client)
                    .create_with_context(Deliveries::default())
                    .context("creating the producer")?,
            )
        } else {
            None
        };
    let file = match &raw.sinks.alerts_file {
        Some(p) => Some(BufWriter::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))?,
        )),
        None => None,
    };
    let sources: Vec<Source> = settings
        .sources
        .iter()
        .map(|s| Source {
            max_delay: s.max_delay,
            ..Source::new(&s.topic, &s.topic, s.stream)
        })
        .collect();
    let runner = Runner::new(
        engine,
        Options {
            hosts: reachwatch_runner::host_map(&rules, file_hosts.as_ref()),
            alert_format: settings.alert_format,
            base_time,
            delivered,
            queue_capacity: raw.pipeline.queue_capacity,
            idle_timeout: settings.idle_timeout,
            telemetry: telemetry.clone(),
            max_future: settings.max_future.filter(|_| absolute),
            ..Options::new(sources)
        },
    );
    let sequence = restored.as_ref().map(|cp| cp.sequence);
    let stage = Stage {
        runner,
        sink: KafkaSink {
            producer,
            alerts_topic: raw.sinks.alerts_topic.clone(),
            dead_letter_topic: raw.sinks.dead_letter_topic.clone(),
            file,
            stdout: raw.sinks.alerts_stdout,
        },
        topics: settings.sources.iter().map(|s| s.topic.clone()).collect(),
        checkpoints: Checkpoints {
            dir: dir.clone(),
            topic,
            interval: settings.checkpoint_interval,
            every_events: raw.checkpoint.every_events,
            last: restored.unwrap_or(Checkpoint {
                sequence: floor,
                ..Checkpoint::empty()
            }),
            last_at: Instant::now(),
            events_at_last: 0,
            poisoned: false,
        },
        rules: reload,
        reload_interval: settings.reload_interval,
        file_hosts,
        telemetry,
        base_time,
        from_start: raw.pipeline.from_start,
        shared: shared.clone(),
    };
    Ok((stage, sequence))
}

/// Topic settings of the checkpoint topic: only each key's latest record is needed, and segments
/// roll every 10 minutes so that compaction reaches all but the newest.
const CHECKPOINT_TOPIC_SETTINGS: &[(&str, &str)] =
    &[("cleanup.policy", "compact"), ("segment.ms", "600000")];

/// Where a restored checkpoint was read from.
struct Origin {
    /// For logs and errors: the directory's path or the topic's name.
    name: String,
    /// Metric label: `directory` or `topic`.
    label: &'static str,
    /// The checkpoint's size.
    bytes: u64,
}

/// The checkpoint to restore: the directory's or the topic's, whichever is later (the directory
/// is a cache). One found only in the topic, or later there, is written to the directory. When one
/// of the two cannot be read, the other is used if it can be; with neither, the start fails.
fn latest_checkpoint(
    dir: &Path,
    topic: Option<&StateTopic>,
) -> Result<Option<(Checkpoint, Origin)>> {
    let local = match Checkpoint::read(dir) {
        Ok(cp) => cp.map(|cp| {
            let bytes = std::fs::metadata(dir.join(reachwatch_checkpoint::FILE_NAME))
                .map_or(0, |m| m.len());
            let origin = Origin {
                name: dir.display().to_string(),
                label: "directory",
                bytes,
            };
            (cp, origin)
        }),
        Err(e) if topic.is_some() => {
            tracing::warn!(error = %e, "the directory's checkpoint cannot be read; trying the checkpoint topic");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let Some(topic) = topic else {
        return Ok(local);
    };
    let fallback = |e: anyhow::Error, local: Option<(Checkpoint, Origin)>| match local {
        Some(l) => {
            tracing::warn!(error = %format!("{e:#}"), "the checkpoint topic cannot be read; restoring the directory's checkpoint");
            Ok(Some(l))
        }
        None => Err(e.context(
            "restoring the checkpoint (start with --from-start to begin afresh, \
             or name another checkpoint.topic)",
        )),
    };
    let manifest = match topic.last_manifest() {
        Ok(m) => m,
        Err(e) => return fallback(e, local),
    };
    match (local, manifest) {
        (Some(l), Some(m)) if l.0.sequence >= m.sequence => Ok(Some(l)),
        (l, Some(m)) => {
            let (cp, bytes) = match topic.read(&m) {
                Ok(r) => r,
                Err(e) => return fallback(e, l),
            };
            if let Some((stale, _)) = l {
                tracing::info!(
                    directory = stale.sequence,
                    topic = cp.sequence,
                    "the directory's checkpoint is older than the topic's"
                );
            }
            Checkpoint::write_encoded(dir, &bytes)?;
            let origin = Origin {
                name: topic.topic().to_string(),
                label: "topic",
                bytes: bytes.len() as u64,
            };
            Ok(Some((cp, origin)))
        }
        (l, None) => Ok(l),
    }
}

/// With `--from-start`: the highest sequence the directory or the topic holds, so that the fresh
/// run's checkpoints come after them and a later start restores the fresh run's, not theirs.
fn sequence_floor(dir: &Path, topic: Option<&StateTopic>) -> u64 {
    let local = Checkpoint::read(dir).ok().flatten().map(|c| c.sequence);
    let remote = topic
        .and_then(|t| t.last_manifest().ok().flatten())
        .map(|m| m.sequence);
    local.max(remote).unwrap_or(0)
}
