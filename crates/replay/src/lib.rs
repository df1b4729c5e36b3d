//! Replay of historical logs at full speed: file sources (each input decoded on a thread of its
//! own) and file sinks around the runner, which merges the inputs in event time and drives the
//! engine. Deterministic: the same input and rules give byte-identical alerts.

mod sink;
mod source;

pub use reachwatch_runner::Summary as ReplaySummary;
pub use sink::FileSink;
pub use source::FileSource;

use anyhow::Result;
use reachwatch_engine::{Engine, RuleSet};
use reachwatch_formats::{AlertFormat, Format, HostMap, Stream};
use reachwatch_model::Alert;
use reachwatch_runner::{Options, Runner, Source};
use reachwatch_telemetry::Telemetry;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where replay reads from and writes to.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Input format of both files.
    pub format: Format,
    /// Authentication log (`-` for standard input).
    pub auth: Option<PathBuf>,
    /// Flow log (`-` for standard input).
    pub flows: Option<PathBuf>,
    /// Alerts output (`-` for standard output); `None` discards alerts.
    pub alerts: Option<PathBuf>,
    /// Dead-letter output (JSON lines); `None` counts dead letters without writing them.
    pub dead_letter: Option<PathBuf>,
    /// Absolute time (ms since the Unix epoch) of relative time 0, for RFC 3339 timestamps.
    pub base_time: Option<i64>,
    /// The rules the engine runs (settings, weights, inventory, detections, exceptions).
    pub rules: Arc<RuleSet>,
    /// Progress lines on standard error every this often (wall clock); `None` for none.
    pub progress: Option<Duration>,
}

/// Per-input formats, address resolution and the alert encoding of a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayFormats {
    /// Format of the authentication input (default: [`ReplayOptions::format`]).
    pub auth: Option<Format>,
    /// Format of the flow input (default: [`ReplayOptions::format`]).
    pub flows: Option<Format>,
    /// IP → host names applied to every decoded name, so address-only inputs join named ones.
    pub hosts: Option<HostMap>,
    /// Encoding of the alerts output.
    pub alert_format: AlertFormat,
    /// When no base time is given and every input has absolute (epoch) time, add RFC 3339
    /// timestamps to alerts.
    pub absolute_timestamps: bool,
    /// Print the detected format of `auto` inputs on standard error.
    pub announce: bool,
    /// Metrics to update while replaying.
    pub telemetry: Option<Arc<Telemetry>>,
}

/// Runs a replay. Alerts are also passed to `on_alert` (after their timestamp is set).
pub fn replay(opts: &ReplayOptions, on_alert: impl FnMut(&Alert)) -> Result<ReplaySummary> {
    replay_with(opts, &ReplayFormats::default(), on_alert)
}

/// Runs a replay with per-input formats, address resolution and an alert encoding.
pub fn replay_with(
    opts: &ReplayOptions,
    formats: &ReplayFormats,
    on_alert: impl FnMut(&Alert),
) -> Result<ReplaySummary> {
    replay_with_end(opts, formats, on_alert, |_| Ok(()))
}

/// [`replay_with`], then `on_end` with the engine as the replay left it (e.g. to save the
/// learned reach graph).
pub fn replay_with_end(
    opts: &ReplayOptions,
    formats: &ReplayFormats,
    on_alert: impl FnMut(&Alert),
    on_end: impl FnOnce(&Engine) -> Result<()>,
) -> Result<ReplaySummary> {
    replay_prepared(opts, formats, |_| {}, on_alert, on_end)
}

/// [`replay_with_end`], with `prepare` given the engine before the first event (e.g. to turn on
/// [`Engine::record_scores`]).
pub fn replay_prepared(
    opts: &ReplayOptions,
    formats: &ReplayFormats,
    prepare: impl FnOnce(&mut Engine),
    on_alert: impl FnMut(&Alert),
    on_end: impl FnOnce(&Engine) -> Result<()>,
) -> Result<ReplaySummary> {
    let started = Instant::now();
    let mut inputs = vec![];
    for (path, format, stream) in [
        (&opts.auth, formats.auth, Stream::Auth),
        (&opts.flows, formats.flows, Stream::Flows),
    ] {
        if let Some(p) = path {
            let format = format.unwrap_or(opts.format);
            let source = FileSource::open(p, format, stream, formats.announce, opts.progress)?;
            inputs.push((source, stream));
        }
    }
    anyhow::ensure!(
        !inputs.is_empty(),
        "nothing to replay: give --auth and/or --flows"
    );
    let absolute = inputs.iter().all(|(i, _)| i.format.absolute_time());
    let base_time = opts
        .base_time
        .or((formats.absolute_timestamps && absolute).then_some(0));
    let mut engine = Engine::with_rules(opts.rules.clone());
    engine.set_time_base(base_time.unwrap_or(0));
    prepare(&mut engine);
    let sources = inputs
        .iter()
        .map(|(i, stream)| Source::new(i.name.clone(), stream.name(), *stream))
        .collect();
    let mut runner = Runner::new(
        engine,
        Options {
            hosts: formats.hosts.clone().unwrap_or_default(),
            alert_format: formats.alert_format,
            base_time,
            telemetry: formats.telemetry.clone(),
            ..Options::new(sources)
        },
    );
    let mut sink = FileSink {
        alerts: opts.alerts.as_deref().map(sink::create).transpose()?,
        dead_letters: opts.dead_letter.as_deref().map(sink::create).transpose()?,
        on_alert,
    };
    let mut progress = Progress::new(opts.progress);
    let now = Instant::now();
    let mut open: Vec<usize> = (0..inputs.len()).collect();
    for &i in &open {
        runner.assign((i, 0), now);
    }
    while !open.is_empty() {
        // An input with nothing buffered holds the merge back: read it (or learn it has ended).
        for &i in &open {
            if runner.buffered((i, 0)) == 0 {
                match inputs[i].0.next_batch()? {
                    Some(batch) => runner.offer((i, 0), i, batch, now, &mut sink)?,
                    None => runner.at_end((i, 0), now),
                }
            }
        }
        open.retain(|&i| !runner.is_at_end((i, 0)));
        runner.run(now, &mut sink)?;
        progress.report(runner.summary());
    }
    runner.finish(&mut sink)?;
    sink.flush()?;
    on_end(runner.engine())?;
    let summary = runner.summary_now();
    summary.set_elapsed(started.elapsed().as_secs_f64());
    Ok(summary.clone())
}

/// Progress lines on standard error.
struct Progress {
    every: Option<Duration>,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(every: Option<Duration>) -> Progress {
        let now = Instant::now();
        Progress {
            every,
            started: now,
            last: now,
        }
    }

    fn report(&mut self, s: &ReplaySummary) {
        let Some(every) = self.every else { return };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        eprintln!(
            "progress: {} events, {:.0} events/s, event time {:.1} days, {} alerts",
            s.events,
            s.events as f64 / self.started.elapsed().as_secs_f64(),
            s.last_time.unwrap_or(0) as f64 / 86_400_000.0,
            s.alerts
        );
    }
}
