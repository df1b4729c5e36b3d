//! Replay: decode auth and flow files on two threads, merge them in event-time order, run the
//! engine at full speed, write alerts and dead letters, and report what happened.

use anyhow::{Context, Result};
use reachwatch_engine::{Engine, Rejection, RuleSet, Stats};
use reachwatch_formats::lines::{spawn_decoder, Batch};
use reachwatch_formats::native::stamp_alert;
use reachwatch_formats::symbols::SymbolBridge;
use reachwatch_formats::windows::collection;
use reachwatch_formats::{
    sniff, AlertFormat, DeadLetter, DecodeError, Format, HostMap, Reason, Skipped, Stream,
};
use reachwatch_model::{Alert, Event, Interner};
use reachwatch_telemetry::Telemetry;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
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

/// Bytes read ahead to detect an input's format.
const SNIFF_BYTES: usize = 64 * 1024;

/// Resolves [`Format::Auto`] by reading the head of `reader`; returns the reader with the head put
/// back.
fn resolve_format(
    reader: Box<dyn Read + Send>,
    format: Format,
    name: &str,
    announce: bool,
) -> Result<(Box<dyn Read + Send>, Format)> {
    if format != Format::Auto {
        return Ok((reader, format));
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut reader = reader;
    (&mut reader)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    let found = sniff::sniff(&head).with_context(|| {
        format!(
            "cannot detect the format of {name}: its first lines match none of {}; give --format",
            reachwatch_formats::FORMAT_NAMES
        )
    })?;
    if announce {
        eprintln!("replay: {name}: detected format {}", found.name());
    }
    Ok((Box::new(io::Cursor::new(head).chain(reader)), found))
}

/// What a replay did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplaySummary {
    /// Lines read per input.
    pub lines: BTreeMap<String, u64>,
    /// Bytes read over all inputs.
    pub bytes: u64,
    /// Events decoded and accepted by the engine.
    pub events: u64,
    /// Dead letters by reason.
    pub dead_letters: BTreeMap<String, u64>,
    /// Records that gave no event of their own, by what they were (Windows event ids
    /// reachwatch does not read, 4648s paired with their logon, …).
    pub skipped: BTreeMap<String, u64>,
    /// Authentication events.
    pub auth_events: u64,
    /// Flow events.
    pub flow_events: u64,
    /// Reach observations.
    pub observations: u64,
    /// Flows joined to an authentication.
    pub join_hits: u64,
    /// Flows attributed to the source host's machine account.
    pub join_misses: u64,
    /// Novel edges after the learning period.
    pub novel_edges: u64,
    /// Matches absorbed into an incident already emitted.
    pub absorbed_matches: u64,
    /// Alerts emitted.
    pub alerts: u64,
    /// Alerts by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Alerts by severity.
    pub alerts_by_severity: BTreeMap<String, u64>,
    /// Identities in the reach graph.
    pub identities: u64,
    /// Baseline edges (identity→destination, identity→destination:port, identity←source).
    pub edges: u64,
    /// Estimated bytes of engine state at the end.
    pub state_bytes: u64,
    /// First and last event time processed (ms).
    pub first_time: Option<i64>,
    /// Last event time processed (ms).
    pub last_time: Option<i64>,
    /// End of the learning period (ms).
    pub learn_end: Option<i64>,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// Events per wall-clock second.
    pub events_per_second: f64,
}

impl ReplaySummary {
    /// Dead letters in total.
    pub fn dead_letter_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// The human-readable summary printed on standard error.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let lines: Vec<String> = self.lines.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!(
            "replay: {} events in {:.2} s ({:.0} events/s); lines read: {}\n",
            self.events,
            self.elapsed_seconds,
            self.events_per_second,
            lines.join(", ")
        ));
        s.push_str(&format!(
            "  auth {} · flows {} · observations {} · flows joined {} · unattributed {} · novel edges {}\n",
            self.auth_events, self.flow_events, self.observations, self.join_hits, self.join_misses, self.novel_edges
        ));
        let dl: Vec<String> = self
            .dead_letters
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        s.push_str(&format!(
            "  dead letters {}{}\n",
            self.dead_letter_total(),
            if dl.is_empty() {
                String::new()
            } else {
                format!(" ({})", dl.join(", "))
            }
        ));
        if !self.skipped.is_empty() {
            let sk: Vec<String> = self
                .skipped
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!(
                "  skipped {} ({})\n",
                self.skipped.values().sum::<u64>(),
                sk.join(", ")
            ));
        }
        let rules: Vec<String> = self
            .alerts_by_rule
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        s.push_str(&format!(
            "  alerts {}{} · absorbed matches {}\n",
            self.alerts,
            if rules.is_empty() {
                String::new()
            } else {
                format!(" ({})", rules.join(", "))
            },
            self.absorbed_matches
        ));
        s.push_str(&format!(
            "  state: {} identities, {} edges, ~{} KiB",
            self.identities,
            self.edges,
            self.state_bytes / 1024
        ));
        s
    }
}

fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin()))
    } else {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(f))
    }
}

fn open_output(path: &Path) -> Result<Box<dyn Write>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdout().lock()))
    } else {
        let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Box::new(f))
    }
}

/// One input being merged: its batches, the current batch, and its symbol translation.
struct Input {
    name: String,
    stream: Stream,
    /// Events accepted since the last telemetry flush.
    accepted: u64,
    rx: Receiver<io::Result<Batch>>,
    batch: VecDeque<(Event, u64)>,
    symbols: SymbolBridge,
    lines: u64,
    skipped: Skipped,
    done: bool,
}

impl Input {
    fn new(
        path: &Path,
        format: Format,
        stream: Stream,
        announce: bool,
        progress: Option<Duration>,
    ) -> Result<(Input, Format)> {
        let name = path.display().to_string();
        // Windows logs (EVTX, event JSON/XML, directories of them) are read as one collection.
        let opts = collection::Options { progress, announce };
        let (rx, format) = match collection::open(path, format, &opts)
            .with_context(|| format!("cannot read {name}"))?
        {
            Some(opened) => opened,
            None => {
                let (reader, format) = resolve_format(open_input(path)?, format, &name, announce)?;
                (spawn_decoder(reader, format, stream, name.clone()), format)
            }
        };
        Ok((
            Input {
                name,
                stream,
                accepted: 0,
                rx,
                batch: VecDeque::new(),
                symbols: SymbolBridge::default(),
                lines: 0,
                skipped: Skipped::default(),
                done: false,
            },
            format,
        ))
    }

    /// Makes sure a batch is loaded unless the input is exhausted; dead letters go to `sink`.
    fn fill(
        &mut self,
        syms: &mut Interner,
        hosts: Option<&HostMap>,
        sink: &mut DeadLetters,
        bytes: &mut u64,
    ) -> Result<()> {
        while self.batch.is_empty() && !self.done {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.symbols.add(b.new_names, syms, hosts);
                    for d in b.dead {
                        sink.write(d, self.stream)?;
                    }
                    self.lines = self.lines.max(b.lines);
                    self.skipped.merge(&b.skipped);
                    *bytes += b.bytes;
                    let symbols = &self.symbols;
                    self.batch.extend(b.events.into_iter().map(|(mut e, line)| {
                        symbols.translate(&mut e);
                        (e, line)
                    }));
                }
                Ok(Err(e)) => return Err(e).with_context(|| format!("reading {}", self.name)),
                Err(_) => self.done = true,
            }
        }
        Ok(())
    }

    fn head_time(&self) -> Option<i64> {
        self.batch.front().map(|(e, _)| e.time())
    }
}

/// Dead-letter output and counts.
struct DeadLetters {
    out: Option<BufWriter<Box<dyn Write>>>,
    counts: BTreeMap<String, u64>,
    telemetry: Option<Arc<Telemetry>>,
}

impl DeadLetters {
    fn write(&mut self, d: DeadLetter, stream: Stream) -> Result<()> {
        *self.counts.entry(d.reason.name().to_string()).or_insert(0) += 1;
        if let Some(t) = &self.telemetry {
            let result = match d.reason {
                Reason::Late => "late",
                Reason::ClockSkew => "clock_skew",
                _ => "decode_error",
            };
            t.events.with_label_values(&[stream.name(), result]).inc();
            t.dead_letters.with_label_values(&[d.reason.name()]).inc();
        }
        if let Some(out) = &mut self.out {
            serde_json::to_writer(&mut *out, &d)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Events between two telemetry updates.
const TELEMETRY_EVERY: u64 = 16_384;

/// The dead letter of an event the engine refused.
fn rejected(source: &str, line: u64, event: &Event, rej: &Rejection) -> DeadLetter {
    let reason = match rej {
        Rejection::Late { .. } => Reason::Late,
        Rejection::ClockSkew { .. } => Reason::ClockSkew,
    };
    let raw = format!("event time {} s", event.time() as f64 / 1000.0);
    DeadLetter::new(
        source,
        line,
        DecodeError::new(reason, rej.to_string()),
        raw.as_bytes(),
    )
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
    mut on_alert: impl FnMut(&Alert),
    on_end: impl FnOnce(&Engine) -> Result<()>,
) -> Result<ReplaySummary> {
    let started = Instant::now();
    let mut engine = Engine::with_rules(opts.rules.clone());
    let mut inputs = vec![];
    let mut absolute = true;
    for (path, format, stream) in [
        (&opts.auth, formats.auth, Stream::Auth),
        (&opts.flows, formats.flows, Stream::Flows),
    ] {
        if let Some(p) = path {
            let (input, f) = Input::new(
                p,
                format.unwrap_or(opts.format),
                stream,
                formats.announce,
                opts.progress,
            )?;
            absolute &= f.absolute_time();
            inputs.push(input);
        }
    }
    let base_time = opts
        .base_time
        .or((formats.absolute_timestamps && absolute).then_some(0));
    engine.set_time_base(base_time.unwrap_or(0));
    let hosts = formats.hosts.as_ref();
    let version = env!("CARGO_PKG_VERSION");
    anyhow::ensure!(
        !inputs.is_empty(),
        "nothing to replay: give --auth and/or --flows"
    );
    let mut alerts_out = match &opts.alerts {
        Some(p) => Some(BufWriter::with_capacity(1 << 16, open_output(p)?)),
        None => None,
    };
    let mut dead = DeadLetters {
        out: match &opts.dead_letter {
            Some(p) => Some(BufWriter::new(open_output(p)?)),
            None => None,
        },
        counts: BTreeMap::new(),
        telemetry: formats.telemetry.clone(),
    };
    let mut summary = ReplaySummary::default();
    let mut chunk_start = Instant::now();
    let mut chunk_events = 0u64;
    let flush_telemetry =
        |engine: &Engine, inputs: &mut [Input], chunk_events: u64, chunk: Duration| {
            let Some(t) = &formats.telemetry else { return };
            for input in inputs.iter_mut() {
                t.events
                    .with_label_values(&[input.stream.name(), "ok"])
                    .inc_by(std::mem::take(&mut input.accepted));
            }
            let g = engine.graph();
            t.record_engine(
                engine.stats(),
                g.identities.len(),
                g.edge_count(),
                engine.buffered(),
                engine.state_bytes(),
            );
            if chunk_events > 0 {
                t.processing_latency.record(chunk / chunk_events as u32);
            }
        };
    let mut pending = Vec::new();
    let mut events = 0u64;
    let mut last_progress = Instant::now();
    let emit = |alerts: &mut Vec<Alert>,
                out: &mut Option<BufWriter<Box<dyn Write>>>,
                summary: &mut ReplaySummary,
                on_alert: &mut dyn FnMut(&Alert)|
     -> Result<()> {
        for mut a in alerts.drain(..) {
            tracing::debug!(id = %a.id, rule = %a.rule, identity = %a.identity, "alert");
            if let Some(base) = base_time {
                stamp_alert(&mut a, base);
            }
            summary.alerts += 1;
            *summary
                .alerts_by_severity
                .entry(a.severity.name().to_string())
                .or_insert(0) += 1;
            if let Some(out) = out {
                formats.alert_format.write(out, &a, version)?;
            }
            if let Some(t) = &formats.telemetry {
                t.alerts
                    .with_label_values(&[&a.rule, a.severity.name()])
                    .inc();
            }
            on_alert(&a);
        }
        Ok(())
    };
    // One span per batch of TELEMETRY_EVERY events (debug level): what is logged while a batch is
    // processed carries its number.
    let mut batch = 0u64;
    let mut batch_span = tracing::debug_span!("batch", batch);
    loop {
        let _in_batch = batch_span.clone().entered();
        for input in inputs.iter_mut() {
            loop {
                input.fill(engine.symbols_mut(), hosts, &mut dead, &mut summary.bytes)?;
                // A skewed head would hold the other inputs back until it is due: refuse it now.
                let Some(t) = input.head_time() else { break };
                let Err(rej @ Rejection::ClockSkew { .. }) = engine.check(t) else {
                    break;
                };
                let (event, line) = input.batch.pop_front().expect("head exists");
                dead.write(rejected(&input.name, line, &event, &rej), input.stream)?;
            }
        }
        // Earliest head first; ties go to the first input (authentications before flows).
        let next = inputs
            .iter()
            .enumerate()
            .filter_map(|(i, inp)| inp.head_time().map(|t| (t, i)))
            .min();
        let Some((_, i)) = next else { break };
        let (event, line) = inputs[i].batch.pop_front().expect("head exists");
        events += 1;
        match engine.push(event, &mut pending) {
            Ok(()) => inputs[i].accepted += 1,
            Err(rej) => {
                dead.write(
                    rejected(&inputs[i].name, line, &event, &rej),
                    inputs[i].stream,
                )?;
                events -= 1;
            }
        }
        chunk_events += 1;
        if chunk_events == TELEMETRY_EVERY {
            tracing::debug!(
                events = chunk_events,
                seconds = chunk_start.elapsed().as_secs_f64(),
                "batch processed"
            );
            batch += 1;
            batch_span = tracing::debug_span!("batch", batch);
            flush_telemetry(&engine, &mut inputs, chunk_events, chunk_start.elapsed());
            chunk_start = Instant::now();
            chunk_events = 0;
        }
        if !pending.is_empty() {
            emit(&mut pending, &mut alerts_out, &mut summary, &mut on_alert)?;
        }
        if summary.first_time.is_none() {
            summary.first_time = Some(event.time());
        }
        summary.last_time = Some(summary.last_time.unwrap_or(i64::MIN).max(event.time()));
        if let Some(every) = opts.progress {
            if events.is_multiple_of(65_536) && last_progress.elapsed() >= every {
                last_progress = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "progress: {events} events, {:.0} events/s, event time {:.1} days, {} alerts",
                    events as f64 / secs,
                    event.time() as f64 / 86_400_000.0,
                    summary.alerts
                );
            }
        }
    }
    engine.finish(&mut pending);
    emit(&mut pending, &mut alerts_out, &mut summary, &mut on_alert)?;
    flush_telemetry(&engine, &mut inputs, chunk_events, chunk_start.elapsed());
    if let Some(mut out) = alerts_out {
        out.flush()?;
    }
    if let Some(out) = &mut dead.out {
        out.flush()?;
    }
    let stats: &Stats = engine.stats();
    for input in &inputs {
        summary.lines.insert(input.name.clone(), input.lines);
        for (k, v) in input.skipped.by_name() {
            *summary.skipped.entry(k).or_insert(0) += v;
        }
    }
    summary.events = events;
    summary.dead_letters = dead.counts;
    summary.auth_events = stats.auth_events;
    summary.flow_events = stats.flow_events;
    summary.observations = stats.observations;
    summary.join_hits = stats.join_hits;
    summary.join_misses = stats.join_misses;
    summary.novel_edges = stats.novel_edges;
    summary.absorbed_matches = stats.absorbed;
    summary.alerts_by_rule = stats.alerts_by_rule.clone();
    summary.identities = engine.graph().identities.len() as u64;
    summary.edges = engine.graph().edge_count() as u64;
    summary.state_bytes = engine.state_bytes() as u64;
    summary.learn_end = engine.learn_end();
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = events as f64 / summary.elapsed_seconds.max(1e-9);
    on_end(&engine)?;
    Ok(summary)
}
