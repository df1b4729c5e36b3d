//! The streaming pipeline: a consumer group over the source topics, records decoded with the
//! shared format decoders, merged across partitions in event time ([`crate::merge`]), run through
//! the engine on a thread of its own (`worker`); alerts to a topic (keyed by identity) and/or a
//! file and standard output; rejected records to a dead-letter topic; checkpoints of engine state
//! and offsets, then commits.
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
use crate::merge::PartKey;
use anyhow::{anyhow, Context, Result};
use futures_util::{FutureExt, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use reachwatch_checkpoint::Checkpoint;
use reachwatch_engine::{Engine, RuleSet};
use reachwatch_formats::HostMap;
use reachwatch_telemetry::{Health, Telemetry};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod group;
mod sinks;
mod state;
mod worker;

use group::{Ctx, PartitionQueue};
pub use sinks::ensure_topics;
use sinks::{client_config, published_alert_ids, Deliveries, FileSinks, Producer};
pub use state::consumer_lag;
use state::Core;
use worker::{EngineSide, EngineThread};

/// Header carrying an alert's id on the alerts topic.
pub const ALERT_ID_HEADER: &str = "reachwatch-alert-id";

/// How long a flush of the producer may take before the checkpoint fails.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages taken from the consumer per wake-up before the merge runs.
const RECV_BATCH: usize = 4096;

/// Longest sleep of the driver loop when nothing happens (wall clock).
const TICK: Duration = Duration::from_millis(200);

/// How often end offsets are asked for (consumer lag; ends the consumer did not report).
const WATERMARK_INTERVAL: Duration = Duration::from_secs(5);

/// What a run did (logged at the end, returned to the caller).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    /// Records received from the source topics.
    pub records: u64,
    /// Events given to the engine and accepted.
    pub events: u64,
    /// Dead letters by reason.
    pub dead_letters: BTreeMap<String, u64>,
    /// Alerts emitted to the sinks.
    pub alerts: u64,
    /// Alerts not emitted because their id was already on the alerts topic (after a restore).
    pub alerts_suppressed: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Sequence number of the checkpoint restored at start, if any.
    pub restored_from: Option<u64>,
    /// Wall-clock seconds the driver waited with nothing ready to process (records not yet
    /// fetched, or the merge held back by a partition with nothing buffered).
    pub waited_seconds: f64,
}

/// A source of new rule sets: returns one when the rules changed and compile (and reports a
/// broken change itself, keeping the running rules).
pub type RuleSource = Box<dyn FnMut() -> Option<RuleSet> + Send>;

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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A signal or a caller asking the pipeline to stop (SIGTERM/SIGINT set it too).
#[derive(Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the pipeline to stop gracefully.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The address map of a rule set: its inventory addresses, then the hosts file.
fn host_map(rules: &RuleSet, file: Option<&HostMap>) -> HostMap {
    HostMap::layered(
        rules.inventory.addresses.iter().map(|(ip, h)| (ip, h)),
        file,
    )
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
    let Attach {
        telemetry,
        health,
        stop,
        rules: reload,
    } = attach;
    if let Some(h) = &health {
        h.set_ready(false);
    }
    let file_hosts = settings
        .raw
        .engine
        .hosts
        .as_deref()
        .map(HostMap::load)
        .transpose()
        .map_err(|e| anyhow!("engine.hosts: {e}"))?;
    let settings = Arc::new(settings);
    let raw = &settings.raw;
    let client = settings.client_options();
    {
        let mut t: Vec<&str> = vec![];
        t.extend(raw.sinks.alerts_topic.as_deref());
        t.extend(raw.sinks.dead_letter_topic.as_deref());
        if !t.is_empty() {
            ensure_topics(&client, &t, 1).await?;
        }
    }
    let dir = &raw.checkpoint.dir;
    let restored = if raw.pipeline.from_start {
        None
    } else {
        Checkpoint::read(dir)?
    };
    let mut summary = RunSummary::default();
    let engine = match &restored {
        Some(cp) => {
            summary.restored_from = Some(cp.sequence);
            tracing::info!(sequence = cp.sequence, dir = %dir.display(), "restoring checkpoint");
            Engine::restore_with_rules(&cp.engine, rules.clone())
                .map_err(|e| anyhow!("checkpoint in {}: {e}", dir.display()))?
        }
        None => Engine::with_rules(rules.clone()),
    };
    let mut engine = engine;
    let absolute = settings.sources.iter().all(|s| s.format.absolute_time());
    let base_time = absolute.then_some(0);
    engine.set_time_base(base_time.unwrap_or(0));
    let suppress = match (&restored, &raw.sinks.alerts_topic) {
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
            let mut c = client_config(&client);
            c.set("enable.idempotence", "false");
            Some(
                c.create_with_context(Deliveries::default())
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
    let last = restored.clone().unwrap_or(Checkpoint {
        sequence: 0,
        created_unix_ms: 0,
        engine: vec![],
        inputs: vec![],
        alerts: vec![],
    });
    let admission = engine.admission();
    let engine = EngineThread::spawn(EngineSide {
        engine,
        hosts: host_map(&rules, file_hosts.as_ref()),
        accepted: telemetry
            .iter()
            .flat_map(|t| {
                settings
                    .sources
                    .iter()
                    .map(|s| t.events.with_label_values(&[&s.topic, "ok"]))
            })
            .collect(),
        telemetry: telemetry.clone(),
        base_time,
    })?;
    let engine_ready = engine.ready.clone();
    let core = Arc::new(Mutex::new(Core {
        producer,
        files: FileSinks {
            file,
            stdout: raw.sinks.alerts_stdout,
        },
        suppress,
        base_time,
        summary,
        telemetry,
        health,
        file_hosts,
        reload,
        ..Core::new(settings.clone(), engine, admission, last)
    }));
    if restored.is_none() {
        // A first checkpoint before anything is consumed records where the alerts topic ends, so
        // a crash before the next one does not re-emit alerts.
        core.lock().expect("core lock").checkpoint()?;
    }
    let ctx = Ctx {
        core: core.clone(),
        consumer: OnceLock::new(),
        queues: Mutex::new(BTreeMap::new()),
    };
    let consumer: Arc<StreamConsumer<Ctx>> = Arc::new(
        client_config(&settings.consumer_options())
            .create_with_context(ctx)
            .context("creating the consumer")?,
    );
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    let topics: Vec<&str> = settings.sources.iter().map(|s| s.topic.as_str()).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(topics = ?topics, group = %raw.kafka.group_id, "consuming");
    let result = drive(&core, &consumer, &stop, &engine_ready).await;
    // The partition queues hold the consumer: drop them so that it leaves the group.
    consumer
        .context()
        .queues
        .lock()
        .expect("queues lock")
        .clear();
    let mut c = core.lock().expect("core lock");
    let result = result.and_then(|()| {
        tracing::info!("stopping: processing buffered records, then checkpoint and commit");
        tracing::debug!(partitions = ?c.merge.describe(), "queues at stop");
        c.process_ready(Instant::now(), true)?;
        c.checkpoint_and_commit(consumer.as_ref())
    });
    if result.is_err() {
        // Closing the consumer gives its partitions up, which checkpoints: not after a failure
        // (alerts or refusals may not have been sunk).
        c.poisoned = true;
    }
    result?;
    let summary = c.summary.clone();
    drop(c);
    tracing::info!(
        records = summary.records,
        events = summary.events,
        alerts = summary.alerts,
        suppressed = summary.alerts_suppressed,
        checkpoints = summary.checkpoints,
        "stopped"
    );
    Ok(summary)
}

/// The driver loop: fetch from partitions with room, merge, checkpoint; until a signal or stop.
/// The core's lock is never held while the consumer is polled (a rebalance runs inside the poll).
async fn drive(
    core: &Arc<Mutex<Core>>,
    consumer: &Arc<StreamConsumer<Ctx>>,
    stop: &StopHandle,
    engine_ready: &tokio::sync::Notify,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut last_watermarks = Instant::now();
    while !stop.stopped() {
        // Whatever is ready now, without waiting: the main queue (rebalances, errors, records of
        // partitions not split yet), then each partition with room in its merge queue.
        let mut got = 0usize;
        {
            let mut main = consumer.stream();
            while let Some(Some(res)) = main.next().now_or_never() {
                handle(&mut core.lock().expect("core lock"), res)?;
                got += 1;
            }
        }
        let queues = consumer
            .context()
            .fetchable(&core.lock().expect("core lock"));
        for (k, q) in &queues {
            // A partition queue serves no rebalance, so the core stays locked for the batch.
            got += fetch_partition(&mut core.lock().expect("core lock"), *k, q)?;
        }
        let wake = {
            let _batch = tracing::debug_span!("batch", fetched = got).entered();
            let mut c = core.lock().expect("core lock");
            if let Some(e) = c.failed.take() {
                return Err(e);
            }
            c.process_ready(Instant::now(), false)?;
            if c.checkpoint_due() {
                c.checkpoint_and_commit(consumer.as_ref())?;
            }
            if last_watermarks.elapsed() >= WATERMARK_INTERVAL {
                c.refresh_watermarks(consumer);
                c.record_engine()?;
                last_watermarks = Instant::now();
                c.process_ready(Instant::now(), false)?;
            }
            if c.reload_due() {
                c.reload_rules();
            }
            if let Some(t) = &c.telemetry {
                t.checkpoint_age
                    .set(c.last_checkpoint_at.elapsed().as_secs_f64());
            }
            let now = Instant::now();
            let tick = now + TICK;
            c.merge
                .next_idle_deadline(now)
                .map_or(tick, |d| d.min(tick))
        };
        if got > 0 {
            continue;
        }
        // Nothing ready: wait for a record on any fetchable partition, the main queue, the engine
        // thread, a deadline or a signal.
        let queues = consumer
            .context()
            .fetchable(&core.lock().expect("core lock"));
        let any_partition = async {
            if queues.is_empty() {
                std::future::pending::<()>().await;
            }
            let recvs = queues.iter().map(|(_, q)| Box::pin(q.recv()));
            let (res, i, _) = futures_util::future::select_all(recvs).await;
            (queues[i].0, res.map(|m| Received::from(&m)))
        };
        let wait_started = Instant::now();
        tokio::select! {
            _ = sigterm.recv() => stop.stop(),
            _ = sigint.recv() => stop.stop(),
            _ = sighup.recv() => {
                tracing::info!("SIGHUP: checking the rules");
                core.lock().expect("core lock").reload_rules();
            }
            res = consumer.recv() => handle(&mut core.lock().expect("core lock"), res)?,
            (k, res) = any_partition => {
                let mut c = core.lock().expect("core lock");
                match res {
                    Ok(r) => c.receive(k, r.offset, r.created, &r.payload, Instant::now())?,
                    Err(e) => partition_error(&mut c, k, e),
                }
            }
            // Alerts or refusals handed back by the engine thread: sunk at the top of the loop.
            _ = engine_ready.notified() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        core.lock().expect("core lock").summary.waited_seconds +=
            wait_started.elapsed().as_secs_f64();
    }
    Ok(())
}

/// Takes what partition `k` has ready, up to the room in its merge queue; returns how many
/// records it took.
fn fetch_partition(c: &mut Core, k: PartKey, queue: &PartitionQueue) -> Result<usize> {
    let room = c.merge.room(k).min(RECV_BATCH);
    // One stream per batch: it registers its waker once, not once per record.
    let mut stream = queue.stream();
    let mut batch = Vec::with_capacity(room);
    let mut error = None;
    while batch.len() < room {
        match stream.next().now_or_never() {
            Some(Some(Ok(m))) => batch.push(m),
            Some(Some(Err(e))) => {
                // Handled after the records before it (an end of partition is only true then).
                error = Some(e);
                break;
            }
            _ => break,
        }
    }
    // The payloads were fetched into memory well before: reading one byte of each first lets
    // the processor load them side by side instead of one per record.
    let touched = batch.iter().fold(0u8, |a, m| {
        a ^ m.payload().and_then(|p| p.last()).copied().unwrap_or(0)
    });
    std::hint::black_box(touched);
    let (now, n) = (Instant::now(), batch.len());
    for m in &batch {
        receive(c, k, m, now)?;
    }
    if let Some(e) = error {
        partition_error(c, k, e);
    }
    Ok(n)
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

/// A record or an error from the consumer's main queue (records of partitions whose queue is
/// not split off yet).
fn handle(c: &mut Core, res: Result<BorrowedMessage<'_>, KafkaError>) -> Result<()> {
    match res {
        Ok(m) => match c.key_of(m.topic(), m.partition()) {
            Some(k) => receive(c, k, &m, Instant::now()),
            None => Ok(()),
        },
        Err(KafkaError::PartitionEOF(_)) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "consumer error");
            Ok(())
        }
    }
}

/// A record of partition `k`, received at `now`.
fn receive(c: &mut Core, k: PartKey, m: &BorrowedMessage<'_>, now: Instant) -> Result<()> {
    c.receive(
        k,
        m.offset(),
        m.timestamp().to_millis(),
        m.payload().unwrap_or(b""),
        now,
    )
}

/// The end of partition `k` was reached (nothing more to read for now), or another error.
fn partition_error(c: &mut Core, k: PartKey, e: KafkaError) {
    match e {
        KafkaError::PartitionEOF(_) => c.merge.at_end(k),
        e => tracing::warn!(error = %e, "consumer error"),
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
