//! The runner: decoded batches in, the engine driven in event-time order, alerts and dead letters
//! out to a [`Sink`].

use crate::alerts::{AlertOut, Outcome};
use crate::merge::{Item, Merge, SourceKey};
use crate::raw::{RawRef, Raws};
use crate::sink::Sink;
use crate::skew::{SkewGuard, Verdict};
use crate::summary::Summary;
use crate::symbols::{is_pending, SymbolBridge};
use anyhow::Result;
use reachwatch_engine::{Accepted, Engine, Rejection, RuleSet};
use reachwatch_formats::lines::Batch;
use reachwatch_formats::{AlertFormat, DeadLetter, DecodeError, HostMap, Reason, Stream};
use reachwatch_model::{Alert, Event, Sym};
use reachwatch_telemetry::{InputResult, Telemetry};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events in a batch: the unit of the `batch` log span and of metric updates.
const BATCH: u64 = 16_384;

/// One input source: a file, or a topic whose partitions are separate inputs of the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its name in dead letters and the summary (a file path or a topic).
    pub name: String,
    /// The metrics' `input` label: `auth` or `flows` for files, the topic for Kafka (configured,
    /// never taken from a record, so that labels stay few).
    pub label: String,
    /// Authentications or flows.
    pub stream: Stream,
    /// How late the source's records are expected to arrive (wall clock): while it has nothing
    /// buffered, the merge waits this long for it (at least the idle timeout) before going on.
    pub max_delay: Duration,
}

impl Source {
    /// A source with no expected delivery delay.
    pub fn new(name: impl Into<String>, label: impl Into<String>, stream: Stream) -> Source {
        Source {
            name: name.into(),
            label: label.into(),
            stream,
            max_delay: Duration::ZERO,
        }
    }
}

/// How a runner is set up.
pub struct Options {
    /// The sources; authentication sources first (they win ties in the merge).
    pub sources: Vec<Source>,
    /// IP → host names applied to every name handed over.
    pub hosts: HostMap,
    /// Encoding of alerts.
    pub alert_format: AlertFormat,
    /// Unix time (ms) of event time 0, when alerts get an RFC 3339 timestamp.
    pub base_time: Option<i64>,
    /// Alert ids already delivered (after a restore): not delivered again.
    pub delivered: HashSet<String>,
    /// Decoded records buffered per input before it is not read from.
    pub queue_capacity: usize,
    /// How long an input at its end with nothing buffered still holds the merge back.
    pub idle_timeout: Duration,
    /// Metrics to update.
    pub telemetry: Option<Arc<Telemetry>>,
    /// Records whose absolute time is further ahead of the wall clock than this are refused
    /// as clock skew (streaming; needs absolute time, i.e. a base time).
    pub max_future: Option<Duration>,
}

impl Options {
    /// Options for `sources` with everything else at its default: no host map, native alerts
    /// without timestamps, files' merge (large queues, no idle wait), no metrics.
    pub fn new(sources: Vec<Source>) -> Options {
        Options {
            sources,
            hosts: HostMap::default(),
            alert_format: AlertFormat::Native,
            base_time: None,
            delivered: HashSet::new(),
            queue_capacity: usize::MAX,
            idle_timeout: Duration::ZERO,
            telemetry: None,
            max_future: None,
        }
    }
}

/// A merged record waiting for the engine.
struct Queued {
    event: Event,
    /// When its record was produced (Unix ms), or `i64::MIN`.
    created: i64,
    /// Its original bytes, when the source kept them.
    raw: Option<RawRef>,
    /// The decoding table its pending marks refer to.
    table: usize,
}

/// Drives the engine: merges the inputs in event time, refuses what the engine cannot take,
/// delivers alerts and dead letters.
pub struct Runner {
    engine: Engine,
    sources: Vec<Source>,
    merge: Merge<Queued>,
    /// One bridge per decoding table (a decoding thread's symbols).
    tables: Vec<SymbolBridge>,
    hosts: HostMap,
    alerts: AlertOut,
    telemetry: Option<Arc<Telemetry>>,
    summary: Summary,
    /// Per input, records far ahead of its time waiting to be believed.
    guards: BTreeMap<SourceKey, SkewGuard<Item<Queued>>>,
    /// Per source and partition, the original bytes of records not yet given to the engine.
    raws: Vec<Vec<Raws>>,
    /// Per source, the latest event time received.
    latest: Vec<Option<i64>>,
    /// Unix time (ms) of event time 0 when event time is absolute.
    base_time: Option<i64>,
    max_future: Option<Duration>,
    idle_timeout: Duration,
    /// The input the merge has been waiting for, and since when.
    held: Option<(SourceKey, Instant)>,
    /// Events accepted per source since the metrics last took them.
    accepted: Vec<u64>,
    batch: BatchSpan,
    due: Vec<Alert>,
}

/// The current batch of [`BATCH`] events: what is logged while it is processed carries its
/// number (at debug level), and its end updates the metrics.
struct BatchSpan {
    number: u64,
    span: tracing::Span,
    events: u64,
    started: Instant,
}

impl BatchSpan {
    fn new(number: u64) -> BatchSpan {
        BatchSpan {
            number,
            span: tracing::debug_span!("batch", batch = number),
            events: 0,
            started: Instant::now(),
        }
    }
}

impl Runner {
    /// A runner around `engine`.
    pub fn new(engine: Engine, options: Options) -> Runner {
        let n = options.sources.len();
        Runner {
            engine,
            merge: Merge::new(options.queue_capacity, options.idle_timeout),
            tables: vec![],
            hosts: options.hosts,
            alerts: AlertOut::new(options.alert_format, options.base_time, options.delivered),
            guards: BTreeMap::new(),
            raws: (0..n).map(|_| vec![]).collect(),
            latest: vec![None; n],
            base_time: options.base_time,
            max_future: options.max_future,
            idle_timeout: options.idle_timeout,
            held: None,
            telemetry: options.telemetry,
            summary: Summary::default(),
            accepted: vec![0; n],
            batch: BatchSpan::new(0),
            due: vec![],
            sources: options.sources,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The sources.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// What the run did so far (engine counters as of the last [`Runner::summary_now`]).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The summary with the engine's counters and state sizes as they are now.
    pub fn summary_now(&mut self) -> &mut Summary {
        self.summary.take_engine(&self.engine);
        &mut self.summary
    }

    /// Starts merging input `key` (a no-op when already merged).
    pub fn assign(&mut self, key: SourceKey, now: Instant) {
        self.merge.assign(key, now);
        let source = &self.sources[key.0];
        self.merge
            .set_idle(key, self.idle_timeout.max(source.max_delay));
        let max_jump = self.engine.config().max_jump;
        self.guards
            .entry(key)
            .or_insert_with(|| SkewGuard::new(max_jump));
        if let Some(t) = &self.telemetry {
            t.source_max_delay
                .with_label_values(&[&source.label])
                .set(source.max_delay.as_secs_f64());
        }
    }

    /// Input `key` has nothing more to read for now: records held as suspects of clock skew
    /// with nothing to refute them are believed.
    pub fn at_end(&mut self, key: SourceKey, now: Instant) {
        let released = self.guards.get_mut(&key).map(SkewGuard::release);
        for item in released.into_iter().flatten() {
            self.merge.push(key, item, now);
        }
        self.merge.at_end(key);
    }

    /// Whether input `key` is known to be at its end.
    pub fn is_at_end(&self, key: SourceKey) -> bool {
        self.merge.is_at_end(key)
    }

    /// Decoded records of `key` buffered, not yet given to the engine.
    pub fn buffered(&self, key: SourceKey) -> usize {
        self.merge.len(key)
    }

    /// Records of `key` taken off its queue so far (given to the engine or refused).
    pub fn taken(&self, key: SourceKey) -> u64 {
        self.merge.taken(key)
    }

    /// Records `key` can take before its queue is full.
    pub fn room(&self, key: SourceKey) -> usize {
        self.merge.room(key)
    }

    /// The merge's inputs.
    pub fn keys(&self) -> impl Iterator<Item = SourceKey> + '_ {
        self.merge.keys()
    }

    /// Where a restart must read `key` from so that nothing not yet given to the engine is lost.
    pub fn resume_offset(&self, key: SourceKey) -> Option<i64> {
        let suspect = self
            .guards
            .get(&key)
            .and_then(|g| g.first())
            .map(|i| i.offset);
        match (suspect, self.merge.resume_offset(key)) {
            (Some(s), Some(m)) => Some(s.min(m)),
            (s, m) => s.or(m),
        }
    }

    /// Sets where `key` starts (checkpointed or committed offset), before anything is received.
    pub fn set_start(&mut self, key: SourceKey, offset: i64) {
        self.merge.set_start(key, offset);
    }

    /// When an idle input stops holding the merge back, if one does.
    pub fn next_idle_deadline(&self, now: Instant) -> Option<Instant> {
        self.merge.next_idle_deadline(now)
    }

    /// Takes a decoded batch of input `key` (symbols from decoding table `table`), received at
    /// `now`: its names are handed over, its undecodable records go to the sink, its events are
    /// queued for the merge.
    pub fn offer(
        &mut self,
        key: SourceKey,
        table: usize,
        batch: Batch,
        now: Instant,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        if self.tables.len() <= table {
            self.tables.resize_with(table + 1, SymbolBridge::default);
        }
        if batch.names_reset {
            self.intern_queued(table);
            self.tables[table].reset();
        }
        self.tables[table].add(batch.new_names, &self.hosts);
        let source = &self.sources[key.0];
        self.summary.bytes += batch.bytes;
        self.summary.records += (batch.events.len() + batch.dead.len()) as u64;
        let lines = self.summary.lines.entry(source.name.clone()).or_insert(0);
        *lines = (*lines).max(batch.lines);
        for d in &batch.dead {
            self.dead_letter(key, d, sink)?;
        }
        for (what, n) in batch.skipped.by_name() {
            *self.summary.skipped.entry(what).or_insert(0) += n;
        }
        let created = |i: usize| batch.created.get(i).copied().unwrap_or(i64::MIN);
        let raws: Vec<Option<RawRef>> = if batch.raw_ends.len() == batch.events.len() {
            self.raws_mut(key)
                .add(batch.raw, &batch.raw_ends)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; batch.events.len()]
        };
        let future_limit = self
            .max_future
            .zip(self.base_time)
            .map(|(ahead, base)| crate::unix_ms() + ahead.as_millis() as i64 - base);
        if let Some(t) = batch.events.iter().map(|(e, _)| e.time()).max() {
            let l = &mut self.latest[key.0];
            *l = Some(l.map_or(t, |m| m.max(t)));
        }
        for (i, (mut event, position)) in batch.events.into_iter().enumerate() {
            self.tables[table].translate(&mut event);
            let item = Item {
                time: event.time(),
                offset: position as i64,
                value: Queued {
                    event,
                    created: created(i),
                    raw: raws[i],
                    table,
                },
            };
            if future_limit.is_some_and(|limit| item.time > limit) {
                let detail = format!(
                    "event time is more than {} s ahead of the wall clock",
                    self.max_future.unwrap_or_default().as_secs()
                );
                self.refuse_item(key, &item, Reason::ClockSkew, detail, sink)?;
                continue;
            }
            self.guard(key, item, now, sink)?;
        }
        self.merge.received(key, batch.lines as i64, now);
        self.refuse_skewed_head(key, sink)
    }

    /// Passes an input's record through its skew guard into the merge.
    fn guard(
        &mut self,
        key: SourceKey,
        item: Item<Queued>,
        now: Instant,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let Some(guard) = self.guards.get_mut(&key) else {
            self.merge.push(key, item, now);
            return Ok(());
        };
        match guard.offer(item.time, item) {
            Verdict::Pass(items) => {
                for item in items {
                    self.merge.push(key, item, now);
                }
            }
            Verdict::Held => {}
            Verdict::Refute { pass, refused } => {
                for r in &refused {
                    let detail = format!(
                        "event time is far ahead of its input's and the next record of the input \
                         ({} s) did not follow it",
                        pass.time / 1000
                    );
                    self.refuse_item(key, r, Reason::ClockSkew, detail, sink)?;
                }
                self.merge.push(key, pass, now);
            }
        }
        Ok(())
    }

    /// Gives the engine every record the merge releases now; returns how many.
    pub fn run(&mut self, now: Instant, sink: &mut dyn Sink) -> Result<u64> {
        self.release(now, false, sink)
    }

    /// Gives the engine everything buffered (inputs with nothing buffered are passed over).
    pub fn drain(&mut self, sink: &mut dyn Sink) -> Result<u64> {
        self.release(Instant::now(), true, sink)
    }

    /// End of input: everything buffered, then every open incident.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<()> {
        self.drain(sink)?;
        self.engine.finish(&mut self.due);
        self.deliver(i64::MIN, sink)?;
        self.record_metrics();
        Ok(())
    }

    /// Gives the engine the records buffered for `keys` only (in event time among themselves;
    /// suspects of clock skew held for them are believed), for inputs about to be given up: a
    /// checkpoint after this covers them whole. [`Runner::forget`] then stops merging them.
    pub fn drain_inputs(&mut self, keys: &[SourceKey], sink: &mut dyn Sink) -> Result<()> {
        let now = Instant::now();
        for &k in keys {
            let released = self.guards.get_mut(&k).map(SkewGuard::release);
            for item in released.into_iter().flatten() {
                self.merge.push(k, item, now);
            }
        }
        loop {
            let next = keys
                .iter()
                .filter_map(|&k| self.merge.head(k).map(|h| (h.time, k)))
                .min();
            let Some((_, k)) = next else { break };
            let item = self.merge.pop_head(k).expect("head exists");
            self.push(k, item, sink)?;
        }
        self.flush_accepted();
        Ok(())
    }

    /// Stops merging `keys` (inputs given up); what they still buffered is dropped.
    pub fn forget(&mut self, keys: &[SourceKey]) {
        for &k in keys {
            self.merge.revoke(k);
            self.guards.remove(&k);
            *self.raws_mut(k) = Raws::default();
        }
    }

    /// The engine's state (everything given to it so far).
    pub fn snapshot(&mut self) -> Vec<u8> {
        self.record_metrics();
        self.engine.snapshot()
    }

    /// Swaps in new rules and their host map, keeping all state; names handed over before are
    /// resolved again under the new map.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>, hosts: HostMap) {
        self.hosts = hosts;
        for bridge in &mut self.tables {
            bridge.rebind(self.engine.symbols(), &self.hosts);
        }
        self.engine.set_rules(rules);
    }

    /// Puts the engine's counters and state sizes in the metrics.
    pub fn record_metrics(&mut self) {
        self.flush_accepted();
        if let (Some(t), Some(base)) = (&self.telemetry, self.base_time) {
            for (source, latest) in self.sources.iter().zip(&self.latest) {
                if let Some(l) = latest {
                    let delay = (crate::unix_ms() - (base + l)) as f64 / 1000.0;
                    t.source_delay
                        .with_label_values(&[&source.label])
                        .set(delay);
                }
            }
        }
        if let Some(t) = &self.telemetry {
            t.record_engine(
                self.engine.stats(),
                &self.engine.state_fill(),
                self.engine.buffered(),
                self.engine.state_bytes(),
            );
        }
    }

    fn flush_accepted(&mut self) {
        if let Some(t) = &self.telemetry {
            for (source, n) in self.sources.iter().zip(&mut self.accepted) {
                t.input_records(&source.label, InputResult::Ok, std::mem::take(n));
            }
        }
    }

    fn release(&mut self, now: Instant, all: bool, sink: &mut dyn Sink) -> Result<u64> {
        let mut n = 0u64;
        while let Some(run) = self.merge.next_run(now, all) {
            while let Some(item) = self.merge.pop_in(&run) {
                self.push(run.key, item, sink)?;
                n += 1;
            }
            self.refuse_skewed_head(run.key, sink)?;
        }
        if n > 0 {
            self.flush_accepted();
            self.compact_symbols_if_due();
        }
        self.note_held(
            if all {
                None
            } else {
                self.merge.blocked_by(now)
            },
            now,
        );
        Ok(n)
    }

    /// Compacts the engine's symbol table when it asks for it (names of evicted state), with
    /// every symbol the runner holds (symbol bridges, buffered and suspect records) kept and
    /// rewritten.
    fn compact_symbols_if_due(&mut self) {
        if !self.engine.wants_compaction() {
            return;
        }
        let mut keep: Vec<Sym> = self.tables.iter().flat_map(SymbolBridge::symbols).collect();
        let mut note = |item: &mut Item<Queued>| {
            item.value.event.map_syms(|s| {
                if !is_pending(s) {
                    keep.push(s);
                }
                s
            })
        };
        self.merge.items_mut().for_each(&mut note);
        self.guards
            .values_mut()
            .flat_map(SkewGuard::held_mut)
            .for_each(&mut note);
        let remap = self.engine.compact_symbols(keep);
        let to = |s: Sym| {
            if is_pending(s) {
                return s;
            }
            remap[s.index()].expect("a symbol the runner holds is kept")
        };
        for b in &mut self.tables {
            b.remap(to);
        }
        let mut rewrite = |item: &mut Item<Queued>| item.value.event.map_syms(to);
        self.merge.items_mut().for_each(&mut rewrite);
        self.guards
            .values_mut()
            .flat_map(SkewGuard::held_mut)
            .for_each(&mut rewrite);
    }

    /// Counts the wall-clock time the merge waits for an input with nothing buffered.
    fn note_held(&mut self, blocked: Option<SourceKey>, now: Instant) {
        match (self.held, blocked) {
            (Some((k, _)), Some(b)) if k == b => return,
            (Some((k, since)), _) => {
                if let Some(t) = &self.telemetry {
                    let waited = now.saturating_duration_since(since);
                    t.merge_held(&self.sources[k.0].label, waited);
                }
            }
            (None, _) => {}
        }
        self.held = blocked.map(|b| (b, now));
    }

    /// Counts one event into the current batch; a full batch is logged and updates the metrics.
    fn end_of_event(&mut self) {
        self.batch.events += 1;
        if self.batch.events < BATCH {
            return;
        }
        let elapsed = self.batch.started.elapsed();
        {
            let _in = self.batch.span.enter();
            tracing::debug!(
                events = self.batch.events,
                seconds = elapsed.as_secs_f64(),
                "batch processed"
            );
        }
        if let Some(t) = &self.telemetry {
            t.processing_latency.record(elapsed / BATCH as u32);
        }
        self.record_metrics();
        self.batch = BatchSpan::new(self.batch.number + 1);
    }

    /// Gives one merged record to the engine.
    fn push(&mut self, key: SourceKey, item: Item<Queued>, sink: &mut dyn Sink) -> Result<()> {
        let result = {
            let _in = self.batch.span.clone().entered();
            self.push_in_batch(key, item, sink)
        };
        self.end_of_event();
        result
    }

    fn push_in_batch(
        &mut self,
        key: SourceKey,
        item: Item<Queued>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        self.release_raw(key, item.value.raw);
        let Queued {
            event,
            created,
            raw,
            table,
        } = item.value;
        let (event, pushed) = self.give(table, event);
        match pushed {
            Ok(accepted) => {
                if let Accepted::Late { by } = accepted {
                    self.summary.late_events += 1;
                    if let Some(t) = &self.telemetry {
                        let by = Duration::from_millis(by.max(0) as u64);
                        t.late_record(&self.sources[key.0].label, by);
                    }
                }
                self.accepted[key.0] += 1;
                let s = &mut self.summary;
                s.events += 1;
                s.first_time.get_or_insert(item.time);
                s.last_time = Some(s.last_time.map_or(item.time, |l| l.max(item.time)));
                if !self.due.is_empty() {
                    self.deliver(created, sink)?;
                }
                Ok(())
            }
            Err(rejection) => {
                let refused = Item {
                    time: item.time,
                    offset: item.offset,
                    value: Queued {
                        event,
                        created,
                        raw,
                        table,
                    },
                };
                self.refuse(key, &refused, &rejection, sink)
            }
        }
    }

    /// Gives the engine an event of decoding table `table`. While the engine is crowded, an
    /// authentication none of whose names its table holds is first shown to it by its
    /// identity's name: if it is passed over, none of its names is interned.
    fn give(&mut self, table: usize, mut event: Event) -> (Event, Result<Accepted, Rejection>) {
        let bridge = &mut self.tables[table];
        if let (Event::Auth(a), true) = (&mut event, self.engine.crowded()) {
            let syms = self.engine.symbols();
            let named = bridge.settle(&mut a.identity, syms)
                || bridge.settle(&mut a.dst, syms)
                || a.src.as_mut().is_some_and(|s| bridge.settle(s, syms));
            if let Some(name) = bridge.pending_name(a.identity).filter(|_| !named) {
                if let Some(r) = self.engine.pass_over_unnamed(name, a.time, &mut self.due) {
                    return (event, r);
                }
            }
        }
        bridge.intern(&mut event, self.engine.symbols_mut());
        (event, self.engine.push(event, &mut self.due))
    }

    /// Interns the pending names of every held record of decoding table `table` (before the
    /// table starts afresh and its local symbols change meaning).
    fn intern_queued(&mut self, table: usize) {
        let (bridge, syms) = (&mut self.tables[table], self.engine.symbols_mut());
        let mut intern = |item: &mut Item<Queued>| {
            if item.value.table == table {
                bridge.intern(&mut item.value.event, syms);
            }
        };
        self.merge.items_mut().for_each(&mut intern);
        self.guards
            .values_mut()
            .flat_map(SkewGuard::held_mut)
            .for_each(&mut intern);
    }

    /// A skewed head would hold its input back until it is due: refuse it as soon as it is a
    /// head (a head that passes stays acceptable: the latest event time only grows).
    fn refuse_skewed_head(&mut self, key: SourceKey, sink: &mut dyn Sink) -> Result<()> {
        while let Some(h) = self.merge.head(key) {
            let Err(rejection @ Rejection::ClockSkew { .. }) = self.engine.check(h.time) else {
                break;
            };
            let item = self.merge.pop_head(key).expect("head exists");
            self.refuse(key, &item, &rejection, sink)?;
        }
        Ok(())
    }

    fn refuse(
        &mut self,
        key: SourceKey,
        item: &Item<Queued>,
        rejection: &Rejection,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let reason = match rejection {
            Rejection::Late { .. } => Reason::Late,
            Rejection::ClockSkew { .. } => Reason::ClockSkew,
        };
        self.refuse_item(key, item, reason, rejection.to_string(), sink)
    }

    fn refuse_item(
        &mut self,
        key: SourceKey,
        item: &Item<Queued>,
        reason: Reason,
        detail: String,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let name = &self.sources[key.0].name;
        let position = item.offset.max(0) as u64;
        let error = DecodeError::new(reason, detail);
        let kept = item.value.raw.and_then(|r| {
            let raws = self.raws.get(key.0)?.get(key.1.max(0) as usize)?;
            raws.get(r)
        });
        let letter = match kept {
            Some(bytes) => DeadLetter::new(name, position, error, bytes),
            None => {
                let raw = format!("event time {} s", item.time as f64 / 1000.0);
                DeadLetter::new(name, position, error, raw.as_bytes())
            }
        };
        self.dead_letter(key, &letter, sink)
    }

    /// The original bytes kept for an input.
    fn raws_mut(&mut self, key: SourceKey) -> &mut Raws {
        let parts = &mut self.raws[key.0];
        let p = key.1.max(0) as usize;
        if parts.len() <= p {
            parts.resize_with(p + 1, Raws::default);
        }
        &mut parts[p]
    }

    /// A record of `key` left the merge: the buffers before its own are no longer needed
    /// (unless a suspect of clock skew still refers to them).
    fn release_raw(&mut self, key: SourceKey, raw: Option<RawRef>) {
        let Some(mut upto) = raw else { return };
        if let Some(s) = self.guards.get(&key).and_then(|g| g.first()) {
            if let Some(r) = s.value.raw {
                upto = upto.min(r);
            }
        }
        self.raws_mut(key).release_before(upto);
    }

    fn dead_letter(
        &mut self,
        key: SourceKey,
        letter: &DeadLetter,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let source = &self.sources[key.0];
        self.summary.dead_letter(letter.reason.name());
        if let Some(t) = &self.telemetry {
            t.dead_letter(&source.label, letter.reason);
        }
        sink.dead_letter(source, key.1, letter)
    }

    /// Delivers the alerts now due; `created` is when the record that made them due was
    /// produced (Unix ms, `i64::MIN` when unknown), for the end-to-end latency.
    fn deliver(&mut self, created: i64, sink: &mut dyn Sink) -> Result<()> {
        for mut alert in self.due.drain(..) {
            tracing::debug!(id = %alert.id, rule = %alert.rule, identity = %alert.identity, "alert");
            let line = match self.alerts.prepare(&mut alert)? {
                Outcome::AlreadyDelivered => {
                    self.summary.alerts_suppressed += 1;
                    continue;
                }
                Outcome::Deliver(line) => line,
            };
            let s = &mut self.summary;
            s.alerts += 1;
            *s.alerts_by_rule.entry(alert.rule.clone()).or_insert(0) += 1;
            *s.alerts_by_severity
                .entry(alert.severity.name().to_string())
                .or_insert(0) += 1;
            if let Some(t) = &self.telemetry {
                t.alert(&alert.rule, alert.severity);
                if created != i64::MIN {
                    let ms = (crate::unix_ms() - created).max(0) as u64;
                    t.end_to_end_latency.record(Duration::from_millis(ms));
                }
            }
            sink.alert(&alert, line)?;
        }
        Ok(())
    }
}
