//! The engine on its own thread. The driver receives, decodes (symbols in its own table) and
//! merges records, and hands the engine the merged events in order with the names it interned
//! since the previous hand-over; the engine thread translates them ([`SymbolBridge`]), runs the
//! engine and hands back alerts, refusals and counts. Messages are taken in order, so a snapshot
//! asked for after some events covers exactly those events.

use super::unix_ms;
use crate::merge::PartKey;
use anyhow::{anyhow, Result};
use reachwatch_engine::{Engine, Rejection, RuleSet};
use reachwatch_formats::symbols::SymbolBridge;
use reachwatch_formats::HostMap;
use reachwatch_model::{Alert, Event};
use reachwatch_telemetry::{IntCounter, Telemetry};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::Notify;

/// Hand-overs waiting for the engine thread before the driver blocks (back-pressure).
const QUEUED_HANDOVERS: usize = 4;

/// One merged event for the engine, with where it came from.
pub(super) struct Work {
    pub key: PartKey,
    pub offset: i64,
    /// Symbols from the driver's table.
    pub event: Event,
    /// Wall-clock time (ms) its record was produced, when known.
    pub created: Option<i64>,
}

/// What the driver asks of the engine thread.
pub(super) enum ToEngine {
    /// Events in merge order, and the names first interned by the driver since the last
    /// hand-over.
    Events {
        names: Vec<Box<str>>,
        work: Vec<Work>,
    },
    /// New rules and the host map that goes with them, with every name of the driver's table
    /// (to be resolved again under the new map).
    Rules {
        rules: Arc<RuleSet>,
        hosts: HostMap,
        names: Vec<Box<str>>,
    },
    /// The engine's state, covering everything handed over before.
    Snapshot,
    /// Engine counters and state gauges to the metrics.
    Metrics,
}

/// An event the engine refused.
pub(super) struct Refused {
    pub key: PartKey,
    pub offset: i64,
    pub time: i64,
    pub rejection: Rejection,
}

/// The outcome of one hand-over of events.
pub(super) struct Done {
    /// Alerts now due, each with the wall-clock time (ms) the record that made it due was
    /// produced, when known.
    pub alerts: Vec<(Alert, Option<i64>)>,
    pub refused: Vec<Refused>,
    /// Events the engine accepted.
    pub accepted: u64,
}

/// What the engine thread hands back.
pub(super) enum FromEngine {
    Done(Done),
    /// Snapshot bytes (after the `Done` of every earlier hand-over).
    Snapshot(Vec<u8>),
}

/// The driver's end of the engine thread.
pub(super) struct EngineThread {
    tx: Option<SyncSender<ToEngine>>,
    rx: Receiver<FromEngine>,
    /// Woken when a hand-over produced alerts or refusals.
    pub(super) ready: Arc<Notify>,
    handle: Option<JoinHandle<()>>,
}

/// Everything the engine thread owns.
pub(super) struct EngineSide {
    pub engine: Engine,
    pub hosts: HostMap,
    pub telemetry: Option<Arc<Telemetry>>,
    /// `reachwatch_events_total{input=TOPIC, result="ok"}` per source.
    pub accepted: Vec<IntCounter>,
    /// Unix time (ms) of event time 0 when event time is absolute.
    pub base_time: Option<i64>,
}

impl EngineThread {
    /// Starts the engine thread.
    pub(super) fn spawn(side: EngineSide) -> Result<EngineThread> {
        let (tx, work_rx) = sync_channel(QUEUED_HANDOVERS);
        let (done_tx, rx) = channel();
        let ready = Arc::new(Notify::new());
        let notify = ready.clone();
        let handle = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| side.run(work_rx, done_tx, notify));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(panic = %what, "the engine thread failed");
                }
            })?;
        Ok(EngineThread {
            tx: Some(tx),
            rx,
            ready,
            handle: Some(handle),
        })
    }

    /// Hands a message over, waiting while the engine thread is behind.
    pub(super) fn send(&self, msg: ToEngine) -> Result<()> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(msg).ok())
            .ok_or_else(|| self.stopped())
    }

    /// What the engine thread has handed back so far, without waiting.
    pub(super) fn try_recv(&self) -> Result<Option<FromEngine>> {
        match self.rx.try_recv() {
            Ok(msg) => Ok(Some(msg)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.stopped()),
        }
    }

    /// The next message from the engine thread, waiting for it.
    pub(super) fn recv(&self) -> Result<FromEngine> {
        self.rx.recv().map_err(|_| self.stopped())
    }

    fn stopped(&self) -> anyhow::Error {
        anyhow!("the engine thread stopped (see the error logged before)")
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl EngineSide {
    fn run(mut self, rx: Receiver<ToEngine>, tx: Sender<FromEngine>, ready: Arc<Notify>) {
        let mut symbols = SymbolBridge::default();
        for msg in rx {
            let (reply, wake) = match msg {
                ToEngine::Events { names, work } => {
                    symbols.add(names, self.engine.symbols_mut(), Some(&self.hosts));
                    let done = self.push(&symbols, work);
                    // Counts alone can wait for the driver's next round.
                    let wake = !done.alerts.is_empty() || !done.refused.is_empty();
                    (FromEngine::Done(done), wake)
                }
                ToEngine::Rules {
                    rules,
                    hosts,
                    names,
                } => {
                    self.hosts = hosts;
                    symbols = SymbolBridge::default();
                    symbols.add(names, self.engine.symbols_mut(), Some(&self.hosts));
                    self.engine.set_rules(rules);
                    continue;
                }
                ToEngine::Metrics => {
                    self.record_metrics();
                    continue;
                }
                ToEngine::Snapshot => {
                    self.record_metrics();
                    // The driver is waiting for it: no wake-up needed.
                    (FromEngine::Snapshot(self.engine.snapshot()), false)
                }
            };
            if tx.send(reply).is_err() {
                return;
            }
            if wake {
                ready.notify_one();
            }
        }
    }

    /// Runs one hand-over through the engine.
    fn push(&mut self, symbols: &SymbolBridge, work: Vec<Work>) -> Done {
        let started = Instant::now();
        let (mut alerts, mut due, mut refused, mut accepted) = (vec![], vec![], vec![], 0u64);
        let mut per_source = vec![0u64; self.accepted.len()];
        let n = work.len();
        for w in work {
            let mut event = w.event;
            symbols.translate(&mut event);
            let time = event.time();
            match self.engine.push(event, &mut due) {
                Ok(()) => {
                    accepted += 1;
                    if let Some(c) = per_source.get_mut(w.key.0) {
                        *c += 1;
                    }
                    alerts.extend(due.drain(..).map(|a| (a, w.created)));
                }
                Err(rejection) => refused.push(Refused {
                    key: w.key,
                    offset: w.offset,
                    time,
                    rejection,
                }),
            }
        }
        for (c, n) in self.accepted.iter().zip(per_source) {
            c.inc_by(n);
        }
        if let Some(t) = &self.telemetry {
            if let Ok(n @ 1..) = u32::try_from(n) {
                t.processing_latency.record(started.elapsed() / n);
            }
            t.set_watermark_lag(self.watermark_lag());
        }
        Done {
            alerts,
            refused,
            accepted,
        }
    }

    fn record_metrics(&self) {
        if let Some(t) = &self.telemetry {
            // Also while no records arrive: the lag then grows with the wall clock.
            t.set_watermark_lag(self.watermark_lag());
            let g = self.engine.graph();
            t.record_engine(
                self.engine.stats(),
                g.identities.len(),
                g.edge_count(),
                self.engine.buffered(),
                self.engine.state_bytes(),
            );
        }
    }

    /// Wall clock minus the engine's watermark, in seconds; known only when event time is
    /// absolute (not for relative-time formats such as LANL).
    fn watermark_lag(&self) -> Option<f64> {
        let w = self.base_time? + self.engine.watermark()?;
        Some((unix_ms() as i64 - w) as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_formats::symbols::take_new_names;
    use reachwatch_formats::LineDecoder;
    use reachwatch_model::Interner;
    use std::collections::BTreeSet;

    /// Decodes LANL flow lines with the driver's table and hands them over as partition 0.
    fn hand_over(thread: &EngineThread, local: &mut Interner, sent: &mut usize, lines: &[&str]) {
        let mut dec = reachwatch_formats::lanl::FlowDecoder;
        let work = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Work {
                key: (0, 0),
                offset: i as i64,
                event: dec.decode(l.as_bytes(), local).unwrap().unwrap(),
                created: None,
            })
            .collect();
        let names = take_new_names(local, sent);
        thread.send(ToEngine::Events { names, work }).unwrap();
    }

    #[test]
    fn events_reach_the_engine_under_host_names_and_a_snapshot_covers_them() {
        let rules = Arc::new(reachwatch_rules::builtin());
        let thread = EngineThread::spawn(EngineSide {
            engine: Engine::with_rules(rules.clone()),
            hosts: HostMap::layered([("10.0.0.5", "db01")], None),
            telemetry: None,
            accepted: vec![],
            base_time: None,
        })
        .unwrap();
        let (mut local, mut sent) = (Interner::exact_only(), 0);
        hand_over(
            &thread,
            &mut local,
            &mut sent,
            &["100000,1,C17,N1,10.0.0.5,445,6,1,100"],
        );
        // New rules bring a new host map, which applies to names handed over before.
        let hosts = HostMap::layered([("10.0.0.5", "db02")], None);
        sent = 0;
        let names = take_new_names(&local, &mut sent);
        let rules_msg = ToEngine::Rules {
            rules: rules.clone(),
            hosts,
            names,
        };
        thread.send(rules_msg).unwrap();
        let lines = [
            "100100,1,C17,N1,10.0.0.5,445,6,1,100",
            "1000,1,C18,N1,C19,445,6,1,1",
        ];
        hand_over(&thread, &mut local, &mut sent, &lines);
        thread.send(ToEngine::Snapshot).unwrap();

        let (mut accepted, mut refused) = (0, vec![]);
        let bytes = loop {
            match thread.recv().unwrap() {
                FromEngine::Done(d) => {
                    accepted += d.accepted;
                    refused.extend(d.refused);
                }
                FromEngine::Snapshot(bytes) => break bytes,
            }
        };
        assert_eq!(accepted, 2);
        assert_eq!(refused.len(), 1, "the event far behind the others is late");
        let late = &refused[0];
        assert_eq!((late.key, late.offset, late.time), ((0, 0), 1, 1_000_000));
        assert!(matches!(late.rejection, Rejection::Late { .. }));

        let mut engine = Engine::restore_with_rules(&bytes, rules).unwrap();
        engine.finish(&mut vec![]);
        let syms = engine.symbols();
        let edges: BTreeSet<(&str, &str)> = engine
            .graph()
            .host_edges
            .keys()
            .map(|&(a, b)| (syms.resolve(a), syms.resolve(b)))
            .collect();
        assert_eq!(edges, BTreeSet::from([("C17", "db01"), ("C17", "db02")]));
        assert_eq!(
            syms.get(b"10.0.0.5"),
            None,
            "addresses are resolved before interning"
        );
    }
}
