//! What a run did: one summary for replay and for the streaming pipeline.

use reachwatch_engine::{Engine, StateCounts};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a run did. Replay prints it and writes it with `--summary-json`; the pipeline logs it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Lines (files) or records (topics) read, per input.
    pub lines: BTreeMap<String, u64>,
    /// Bytes read over all inputs.
    pub bytes: u64,
    /// Records received over all inputs (every line or message, decoded or not).
    pub records: u64,
    /// Events decoded and accepted by the engine.
    pub events: u64,
    /// Events behind the watermark but within the late window, processed out of order.
    pub late_events: u64,
    /// Dead letters by reason.
    pub dead_letters: BTreeMap<String, u64>,
    /// Records that gave no event of their own, by what they were (Windows event ids reachwatch
    /// does not read, 4648s paired with their logon, …).
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
    /// Alerts delivered to the sinks.
    pub alerts: u64,
    /// Alerts by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Alerts by severity.
    pub alerts_by_severity: BTreeMap<String, u64>,
    /// Alerts not delivered again because their id was already delivered (after a restore).
    pub alerts_suppressed: u64,
    /// Identities in the reach graph.
    pub identities: u64,
    /// Baseline edges (identity→destination, identity→destination:port, identity←source).
    pub edges: u64,
    /// Estimated bytes of engine state at the end.
    pub state_bytes: u64,
    /// State entries evicted because their table was at its cap (README "Limits").
    pub evicted_at_cap: StateCounts,
    /// State entries forgotten because unseen for `state_ttl` or `edge_ttl`.
    pub evicted_unseen: StateCounts,
    /// Events refused (identities, hosts) or authentications not remembered for the join
    /// (join) because a table was full.
    pub refused_full: StateCounts,
    /// Authentications passed over while state was crowded: an identity with no profile, seen
    /// for the first time (README "Limits").
    pub passed_over: u64,
    /// Compactions of the engine's symbol table.
    pub symbol_compactions: u64,
    /// First event time accepted (ms).
    pub first_time: Option<i64>,
    /// Last event time accepted (ms).
    pub last_time: Option<i64>,
    /// End of the learning period (ms).
    pub learn_end: Option<i64>,
    /// Checkpoints written (streaming).
    pub checkpoints: u64,
    /// Sequence number of the checkpoint restored at start, if any (streaming).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    /// Wall-clock seconds the pipeline waited with nothing ready to process (streaming).
    pub waited_seconds: f64,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// Events per wall-clock second.
    pub events_per_second: f64,
}

impl Summary {
    /// Dead letters in total.
    pub fn dead_letter_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// Counts a dead letter.
    pub(crate) fn dead_letter(&mut self, reason: &str) {
        *self.dead_letters.entry(reason.to_string()).or_insert(0) += 1;
    }

    /// Takes the engine's counters and state sizes.
    pub(crate) fn take_engine(&mut self, engine: &Engine) {
        let s = engine.stats();
        self.auth_events = s.auth_events;
        self.flow_events = s.flow_events;
        self.observations = s.observations;
        self.join_hits = s.join_hits;
        self.join_misses = s.join_misses;
        self.novel_edges = s.novel_edges;
        self.absorbed_matches = s.absorbed;
        self.identities = engine.graph().identities.len() as u64;
        self.edges = engine.graph().edge_count() as u64;
        self.state_bytes = engine.state_bytes() as u64;
        self.evicted_at_cap = s.evicted_full;
        self.evicted_unseen = s.evicted_ttl;
        self.refused_full = s.refused_full;
        self.passed_over = s.passed_over;
        self.symbol_compactions = s.compactions;
        self.learn_end = engine.learn_end();
    }

    /// Sets the wall-clock time the run took.
    pub fn set_elapsed(&mut self, seconds: f64) {
        self.elapsed_seconds = seconds;
        self.events_per_second = self.events as f64 / seconds.max(1e-9);
    }

    /// The human-readable summary, headed by the command's name.
    pub fn render(&self, command: &str) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
            items.join(", ")
        };
        let paren = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                String::new()
            } else {
                format!(" ({})", list(m))
            }
        };
        let mut s = format!(
            "{command}: {} events in {:.2} s ({:.0} events/s); lines read: {}\n",
            self.events,
            self.elapsed_seconds,
            self.events_per_second,
            list(&self.lines)
        );
        s.push_str(&format!(
            "  auth {} · flows {} · observations {} · flows joined {} · unattributed {} · novel edges {}\n",
            self.auth_events,
            self.flow_events,
            self.observations,
            self.join_hits,
            self.join_misses,
            self.novel_edges
        ));
        s.push_str(&format!(
            "  dead letters {}{}\n",
            self.dead_letter_total(),
            paren(&self.dead_letters)
        ));
        if !self.skipped.is_empty() {
            s.push_str(&format!(
                "  skipped {}{}\n",
                self.skipped.values().sum::<u64>(),
                paren(&self.skipped)
            ));
        }
        s.push_str(&format!(
            "  alerts {}{} · absorbed matches {}\n",
            self.alerts,
            paren(&self.alerts_by_rule),
            self.absorbed_matches
        ));
        let counts = |c: &StateCounts| {
            format!(
                "{} identities, {} hosts, {} edges, {} join",
                c.identities, c.hosts, c.edges, c.join
            )
        };
        if self.evicted_at_cap != StateCounts::default()
            || self.refused_full != StateCounts::default()
            || self.passed_over > 0
        {
            s.push_str(&format!(
                "  limits: evicted at caps {}; refused for full tables {}; first sightings passed over while crowded {}\n",
                counts(&self.evicted_at_cap),
                counts(&self.refused_full),
                self.passed_over
            ));
        }
        s.push_str(&format!(
            "  state: {} identities, {} edges, ~{} KiB",
            self.identities,
            self.edges,
            self.state_bytes / 1024
        ));
        s
    }
}
