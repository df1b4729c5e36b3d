//! reachwatch's telemetry: one typed set of Prometheus metrics with bounded labels (never an
//! identity, host or address), latency summaries recorded with hdrhistogram, and the HTTP
//! endpoint that serves them (`/metrics`, `/healthz`, `/readyz`, and the web view under `/ui/`
//! when it is mounted).
//!
//! Names follow `reachwatch_<area>_<name>_<unit>[_total]` in base units.

pub mod http;
mod latency;
mod server;

pub use http::{serve_router, HttpServer};
pub use latency::LatencySummary;
pub use prometheus::IntCounter;
pub use server::{metrics_router, serve, serve_with, Health, Server};

use prometheus::core::Collector;
use prometheus::{
    CounterVec, Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use reachwatch_engine::{StateCounts, StateFill, Stats};
use reachwatch_formats::Reason;
use reachwatch_model::Severity;
use std::sync::Mutex;

/// What became of input records: the `result` label of `reachwatch_events_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputResult {
    /// Accepted by the engine.
    Ok,
    /// Could not be decoded (dead-lettered).
    DecodeError,
    /// Refused as late (dead-lettered).
    Late,
    /// Refused as clock skew (dead-lettered).
    ClockSkew,
}

impl InputResult {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            InputResult::Ok => "ok",
            InputResult::DecodeError => "decode_error",
            InputResult::Late => "late",
            InputResult::ClockSkew => "clock_skew",
        }
    }

    /// The result of a record dead-lettered for `reason`.
    pub fn of(reason: Reason) -> InputResult {
        match reason {
            Reason::Late => InputResult::Late,
            Reason::ClockSkew => InputResult::ClockSkew,
            _ => InputResult::DecodeError,
        }
    }
}

/// The outcome of a rule reload: the `result` label of `reachwatch_rules_reloads_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadResult {
    /// The new rules compiled and are active.
    Ok,
    /// The new rules did not compile; the running ones stay.
    Error,
}

/// Wall-clock seconds since the Unix epoch, for operational metrics only (the engine never reads
/// the wall clock).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every metric reachwatch exports.
pub struct Telemetry {
    registry: Registry,
    /// `reachwatch_events_total{input, result}`: input records by outcome (`ok`, `decode_error`,
    /// `late`, `clock_skew`).
    pub events: IntCounterVec,
    /// `reachwatch_dead_letters_total{reason}`.
    pub dead_letters: IntCounterVec,
    /// `reachwatch_join_flows_total{result}`: flows `joined` to an authentication or `unattributed`.
    pub join_flows: IntCounterVec,
    /// `reachwatch_observations_total`.
    pub observations: IntCounter,
    /// `reachwatch_novel_edges_total`: new edges after the learning period.
    pub novel_edges: IntCounter,
    /// `reachwatch_alerts_total{rule, severity}`.
    pub alerts: IntCounterVec,
    /// `reachwatch_absorbed_matches_total`: matches grouped into an alert already emitted.
    pub absorbed: IntCounter,
    /// `reachwatch_passed_over_total`: authentications passed over while state was crowded (an
    /// identity with no profile, seen for the first time).
    pub passed_over: IntCounter,
    /// `reachwatch_state_crowded`: 1 while state is crowded (a table reached its cap; cleared
    /// once identities and hosts are under half their caps, or after a day with nothing passed
    /// over).
    pub state_crowded: IntGauge,
    /// `reachwatch_suppressed_matches_total{exception}`.
    pub suppressed: IntCounterVec,
    /// `reachwatch_state_identities`.
    pub identities: IntGauge,
    /// `reachwatch_state_edges`: baseline edges.
    pub edges: IntGauge,
    /// `reachwatch_state_buffered_entries`: join and reorder buffer entries.
    pub buffered: IntGauge,
    /// `reachwatch_state_bytes`: estimated bytes of engine state.
    pub state_bytes: IntGauge,
    /// `reachwatch_kafka_consumer_lag_records{topic, partition}` (absent when unknown).
    pub consumer_lag: IntGaugeVec,
    /// `reachwatch_kafka_partitions_assigned{topic}`: partitions the group assigned to this
    /// replica.
    pub partitions_assigned: IntGaugeVec,
    /// `reachwatch_kafka_partitions{topic}`: partitions the topic has.
    pub partitions: IntGaugeVec,
    /// `reachwatch_kafka_records_received_total{topic}`: records received from the consumer.
    pub kafka_received: IntCounterVec,
    /// `reachwatch_watermark_lag_seconds`: wall clock minus the event-time watermark (absent
    /// while unknown, and for inputs whose time is relative, such as LANL); see
    /// [`Telemetry::set_watermark_lag`].
    pub watermark_lag: GaugeVec,
    /// `reachwatch_checkpoint_age_seconds`: since the last checkpoint was written.
    pub checkpoint_age: Gauge,
    /// `reachwatch_checkpoint_duration_seconds` (summary).
    pub checkpoint_duration: LatencySummary,
    /// `reachwatch_checkpoint_restore_seconds{from}`: time to read and restore the checkpoint
    /// at start (`from`: `directory` or `topic`).
    pub checkpoint_restore: GaugeVec,
    /// `reachwatch_checkpoint_restored_bytes{from}`: that checkpoint's size.
    pub checkpoint_restored_bytes: IntGaugeVec,
    /// `reachwatch_rules_reloads_total{result}` (`ok`, `error`).
    pub rule_reloads: IntCounterVec,
    /// `reachwatch_rules_info{hash}` = 1 for the active rule set.
    pub rules_info: IntGaugeVec,
    /// `reachwatch_rules_loaded_timestamp_seconds`.
    pub rules_loaded: Gauge,
    /// `reachwatch_processing_latency_seconds` (summary): engine time per event, per batch.
    pub processing_latency: LatencySummary,
    /// `reachwatch_end_to_end_latency_seconds` (summary): from the record's arrival at its source
    /// to the alert it caused.
    pub end_to_end_latency: LatencySummary,
    /// `reachwatch_late_records_total{input}`: records behind the watermark but within the late
    /// window, processed out of order.
    pub late_records: IntCounterVec,
    /// `reachwatch_lateness_seconds` (summary): how far behind the watermark late records were.
    pub lateness: LatencySummary,
    /// `reachwatch_merge_held_seconds_total{input}`: wall-clock time the event-time merge waited
    /// for an input with nothing buffered.
    pub merge_held: CounterVec,
    /// `reachwatch_source_delay_seconds{input}`: wall clock minus the latest event time received
    /// from the input (absolute-time inputs only).
    pub source_delay: GaugeVec,
    /// `reachwatch_source_max_delay_seconds{input}`: the delivery delay the input declares.
    pub source_max_delay: GaugeVec,
    /// `reachwatch_state_entries{table}`: entries held in each bounded table (`identities`,
    /// `hosts`, `edges`, `join`).
    pub state_entries: IntGaugeVec,
    /// `reachwatch_state_capacity{table}`: each bounded table's cap.
    pub state_capacity: IntGaugeVec,
    /// `reachwatch_state_evicted_total{table, cause}`: entries evicted at a cap (`cap`) or
    /// forgotten unseen (`unseen`).
    pub state_evicted: IntCounterVec,
    /// `reachwatch_state_refused_total{table}`: events refused because a table was full of
    /// entries that may not be evicted (`join`: authentications not remembered for the join).
    pub state_refused: IntCounterVec,
    last: Mutex<Stats>,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn float_counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> CounterVec {
    let c = CounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn int_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

/// The bounded tables of engine state, as metric labels, with their counts in `a` and `b`.
fn tables(a: &StateCounts, b: &StateCounts) -> [(&'static str, u64, u64); 4] {
    [
        ("identities", a.identities, b.identities),
        ("hosts", a.hosts, b.hosts),
        ("edges", a.edges, b.edges),
        ("join", a.join, b.join),
    ]
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn fgauge(r: &Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn summary(r: &Registry, name: &str, help: &str) -> LatencySummary {
    let s = LatencySummary::new(name, help);
    r.register(Box::new(s.clone())).expect("unique metric");
    s
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A fresh set of metrics.
    pub fn new() -> Telemetry {
        let r = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new("reachwatch_build_info", "reachwatch version (value 1)"),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(build.clone())).expect("unique metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let rules_info = IntGaugeVec::new(
            Opts::new(
                "reachwatch_rules_info",
                "The active rule set (value 1), by content hash",
            ),
            &["hash"],
        )
        .expect("valid metric");
        r.register(Box::new(rules_info.clone()))
            .expect("unique metric");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "reachwatch_kafka_consumer_lag_records",
                "High watermark minus position, per assigned partition (absent when unknown)",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        r.register(Box::new(consumer_lag.clone()))
            .expect("unique metric");
        let watermark_lag = GaugeVec::new(
            Opts::new(
                "reachwatch_watermark_lag_seconds",
                "Wall clock minus the event-time watermark (absent when unknown)",
            ),
            &[],
        )
        .expect("valid metric");
        r.register(Box::new(watermark_lag.clone()))
            .expect("unique metric");
        Telemetry {
            events: counter_vec(
                &r,
                "reachwatch_events_total",
                "Input records by input and result",
                &["input", "result"],
            ),
            dead_letters: counter_vec(
                &r,
                "reachwatch_dead_letters_total",
                "Records sent to the dead-letter output, by reason",
                &["reason"],
            ),
            join_flows: counter_vec(
                &r,
                "reachwatch_join_flows_total",
                "Flows joined to an authentication or attributed to the source host",
                &["result"],
            ),
            observations: counter(
                &r,
                "reachwatch_observations_total",
                "Reach observations scored or learned",
            ),
            novel_edges: counter(
                &r,
                "reachwatch_novel_edges_total",
                "New edges seen after the learning period",
            ),
            alerts: counter_vec(
                &r,
                "reachwatch_alerts_total",
                "Alerts emitted, by rule and severity",
                &["rule", "severity"],
            ),
            absorbed: counter(
                &r,
                "reachwatch_absorbed_matches_total",
                "Matches grouped into an alert already emitted",
            ),
            passed_over: counter(
                &r,
                "reachwatch_passed_over_total",
                "Authentications by an identity with no profile, seen for the first time while state was crowded: counted, not learned",
            ),
            state_crowded: gauge(
                &r,
                "reachwatch_state_crowded",
                "1 while engine state is crowded (a table reached its cap), else 0",
            ),
            suppressed: counter_vec(
                &r,
                "reachwatch_suppressed_matches_total",
                "Matches suppressed by a rule exception",
                &["exception"],
            ),
            identities: gauge(
                &r,
                "reachwatch_state_identities",
                "Identities in the reach graph",
            ),
            edges: gauge(
                &r,
                "reachwatch_state_edges",
                "Baseline edges in the reach graph",
            ),
            buffered: gauge(
                &r,
                "reachwatch_state_buffered_entries",
                "Entries in the join and reorder buffers",
            ),
            state_bytes: gauge(
                &r,
                "reachwatch_state_bytes",
                "Estimated bytes of engine state",
            ),
            consumer_lag,
            partitions_assigned: int_gauge_vec(
                &r,
                "reachwatch_kafka_partitions_assigned",
                "Partitions the consumer group assigned to this replica, by topic",
                &["topic"],
            ),
            partitions: int_gauge_vec(
                &r,
                "reachwatch_kafka_partitions",
                "Partitions of each input topic",
                &["topic"],
            ),
            kafka_received: counter_vec(
                &r,
                "reachwatch_kafka_records_received_total",
                "Records received from the consumer, by topic",
                &["topic"],
            ),
            watermark_lag,
            checkpoint_age: fgauge(
                &r,
                "reachwatch_checkpoint_age_seconds",
                "Time since the last checkpoint was written",
            ),
            checkpoint_duration: summary(
                &r,
                "reachwatch_checkpoint_duration_seconds",
                "Time to write a checkpoint",
            ),
            checkpoint_restore: gauge_vec(
                &r,
                "reachwatch_checkpoint_restore_seconds",
                "Time to read and restore the checkpoint at start, by where it was read from",
                &["from"],
            ),
            checkpoint_restored_bytes: int_gauge_vec(
                &r,
                "reachwatch_checkpoint_restored_bytes",
                "Size of the checkpoint restored at start, by where it was read from",
                &["from"],
            ),
            rule_reloads: counter_vec(
                &r,
                "reachwatch_rules_reloads_total",
                "Rule reloads by result",
                &["result"],
            ),
            rules_info,
            rules_loaded: fgauge(
                &r,
                "reachwatch_rules_loaded_timestamp_seconds",
                "When the active rule set was loaded (Unix time)",
            ),
            processing_latency: summary(
                &r,
                "reachwatch_processing_latency_seconds",
                "Engine processing time per event",
            ),
            end_to_end_latency: summary(
                &r,
                "reachwatch_end_to_end_latency_seconds",
                "From a record's arrival to the alert it caused",
            ),
            late_records: counter_vec(
                &r,
                "reachwatch_late_records_total",
                "Records behind the watermark but within the late window, processed out of order",
                &["input"],
            ),
            lateness: {
                let s = LatencySummary::with_max(
                    "reachwatch_lateness_seconds",
                    "How far behind the watermark late records were",
                    std::time::Duration::from_secs(30 * 86_400),
                );
                r.register(Box::new(s.clone())).expect("unique metric");
                s
            },
            merge_held: float_counter_vec(
                &r,
                "reachwatch_merge_held_seconds_total",
                "Wall-clock time the event-time merge waited for an input with nothing buffered",
                &["input"],
            ),
            source_delay: gauge_vec(
                &r,
                "reachwatch_source_delay_seconds",
                "Wall clock minus the latest event time received from the input",
                &["input"],
            ),
            source_max_delay: gauge_vec(
                &r,
                "reachwatch_source_max_delay_seconds",
                "Delivery delay the input declares (max_delay)",
                &["input"],
            ),
            state_entries: int_gauge_vec(
                &r,
                "reachwatch_state_entries",
                "Entries held in each bounded table of engine state",
                &["table"],
            ),
            state_capacity: int_gauge_vec(
                &r,
                "reachwatch_state_capacity",
                "Cap of each bounded table of engine state",
                &["table"],
            ),
            state_evicted: counter_vec(
                &r,
                "reachwatch_state_evicted_total",
                "State entries evicted at a cap or forgotten unseen, by table and cause",
                &["table", "cause"],
            ),
            state_refused: counter_vec(
                &r,
                "reachwatch_state_refused_total",
                "Events refused because a table of engine state was full, by table",
                &["table"],
            ),
            last: Mutex::new(Stats::default()),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .expect("text encoding");
        out
    }

    /// Names of every metric family registered (whether or not it has samples yet).
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        // Label vectors without children are not gathered; their descriptions still name them.
        for c in [
            &self.consumer_lag as &dyn Collector,
            &self.watermark_lag,
            &self.rules_info,
            &self.suppressed,
            &self.alerts,
            &self.events,
            &self.dead_letters,
            &self.join_flows,
            &self.rule_reloads,
            &self.late_records,
            &self.kafka_received,
            &self.merge_held,
            &self.source_delay,
            &self.source_max_delay,
            &self.state_entries,
            &self.state_capacity,
            &self.state_evicted,
            &self.state_refused,
            &self.partitions_assigned,
            &self.partitions,
            &self.checkpoint_restore,
            &self.checkpoint_restored_bytes,
        ] {
            for d in c.desc() {
                names.push(d.fq_name.clone());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Sets the watermark lag in seconds, or removes the sample when it is unknown.
    pub fn set_watermark_lag(&self, seconds: Option<f64>) {
        match seconds {
            Some(s) => self.watermark_lag.with_label_values(&[] as &[&str]).set(s),
            None => {
                let _ = self.watermark_lag.remove_label_values(&[] as &[&str]);
            }
        }
    }

    /// Adds what the engine counted since the last call, and sets the state gauges.
    pub fn record_engine(&self, stats: &Stats, fill: &StateFill, buffered: usize, bytes: usize) {
        let mut last = self.last.lock().expect("telemetry lock");
        let d = |now: u64, before: u64| now.saturating_sub(before);
        self.join_flows
            .with_label_values(&["joined"])
            .inc_by(d(stats.join_hits, last.join_hits));
        self.join_flows
            .with_label_values(&["unattributed"])
            .inc_by(d(stats.join_misses, last.join_misses));
        self.observations
            .inc_by(d(stats.observations, last.observations));
        self.novel_edges
            .inc_by(d(stats.novel_edges, last.novel_edges));
        self.absorbed.inc_by(d(stats.absorbed, last.absorbed));
        self.passed_over
            .inc_by(d(stats.passed_over, last.passed_over));
        for (name, n) in &stats.suppressed {
            let before = last.suppressed.get(name).copied().unwrap_or(0);
            self.suppressed
                .with_label_values(&[name])
                .inc_by(d(*n, before));
        }
        let counted = [
            (&stats.evicted_full, &last.evicted_full, "cap"),
            (&stats.evicted_ttl, &last.evicted_ttl, "unseen"),
        ];
        for (now, before, cause) in counted {
            for (table, n, b) in tables(now, before) {
                self.state_evicted
                    .with_label_values(&[table, cause])
                    .inc_by(d(n, b));
            }
        }
        for (table, n, b) in tables(&stats.refused_full, &last.refused_full) {
            self.state_refused
                .with_label_values(&[table])
                .inc_by(d(n, b));
        }
        *last = stats.clone();
        for (table, held, cap) in tables(&fill.held, &fill.cap) {
            self.state_entries
                .with_label_values(&[table])
                .set(held as i64);
            self.state_capacity
                .with_label_values(&[table])
                .set(cap as i64);
        }
        self.identities.set(fill.held.identities as i64);
        self.edges.set(fill.held.edges as i64);
        self.buffered.set(buffered as i64);
        self.state_bytes.set(bytes as i64);
        self.state_crowded.set(i64::from(fill.crowded));
    }

    /// Counts `n` records of `input` (a source name from the configuration, never a value from a
    /// record) with their result.
    pub fn input_records(&self, input: &str, result: InputResult, n: u64) {
        if n > 0 {
            self.events
                .with_label_values(&[input, result.label()])
                .inc_by(n);
        }
    }

    /// Counts a record of `input` sent to the dead-letter output for `reason`.
    pub fn dead_letter(&self, input: &str, reason: Reason) {
        self.input_records(input, InputResult::of(reason), 1);
        self.dead_letters.with_label_values(&[reason.name()]).inc();
    }

    /// Counts a record of `input` processed late, `by` behind the watermark.
    pub fn late_record(&self, input: &str, by: std::time::Duration) {
        self.late_records.with_label_values(&[input]).inc();
        self.lateness.record(by);
    }

    /// Adds wall-clock time the merge waited for `input`.
    pub fn merge_held(&self, input: &str, waited: std::time::Duration) {
        self.merge_held
            .with_label_values(&[input])
            .inc_by(waited.as_secs_f64());
    }

    /// Counts an alert of `rule` (an id from the rule set).
    pub fn alert(&self, rule: &str, severity: Severity) {
        self.alerts
            .with_label_values(&[rule, severity.name()])
            .inc();
    }

    /// Counts a rule reload.
    pub fn rule_reload(&self, result: ReloadResult) {
        let label = match result {
            ReloadResult::Ok => "ok",
            ReloadResult::Error => "error",
        };
        self.rule_reloads.with_label_values(&[label]).inc();
    }

    /// Sets the consumer lag of a partition, or removes it when unknown (never −1).
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: Option<i64>) {
        let part = partition.to_string();
        match lag {
            Some(lag) => self
                .consumer_lag
                .with_label_values(&[topic, &part])
                .set(lag),
            None => {
                let _ = self.consumer_lag.remove_label_values(&[topic, &part]);
            }
        }
    }

    /// Marks a rule set active.
    pub fn rules_active(&self, hash_hex: &str, loaded_unix_seconds: f64) {
        self.rules_info.reset();
        self.rules_info.with_label_values(&[hash_hex]).set(1);
        self.rules_loaded.set(loaded_unix_seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_summaries() {
        let t = Telemetry::new();
        t.input_records("auth", InputResult::Ok, 5);
        t.dead_letter("auth", Reason::ClockSkew);
        t.processing_latency
            .record(std::time::Duration::from_micros(250));
        t.processing_latency
            .record(std::time::Duration::from_micros(750));
        let text = t.render();
        assert!(
            text.contains("reachwatch_events_total{input=\"auth\",result=\"ok\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("reachwatch_events_total{input=\"auth\",result=\"clock_skew\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("reachwatch_dead_letters_total{reason=\"clock_skew\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("reachwatch_processing_latency_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("reachwatch_processing_latency_seconds{quantile=\"0.5\"} 0.00025"),
            "{text}"
        );
        assert!(text.contains("reachwatch_build_info{version="), "{text}");
        assert!(t
            .metric_names()
            .contains(&"reachwatch_kafka_consumer_lag_records".to_string()));
    }

    #[test]
    fn engine_counters_advance_by_deltas() {
        let t = Telemetry::new();
        let mut s = Stats {
            observations: 10,
            join_hits: 3,
            ..Stats::default()
        };
        let counts = |identities, edges| StateCounts {
            identities,
            hosts: 5,
            edges,
            join: 0,
        };
        let fill = StateFill {
            held: counts(1, 2),
            cap: counts(100, 1000),
            crowded: true,
        };
        t.record_engine(&s, &fill, 3, 4);
        s.observations = 25;
        s.suppressed.insert("quiet".into(), 2);
        s.evicted_full.identities = 7;
        t.record_engine(&s, &fill, 3, 4);
        s.evicted_full.identities = 9;
        s.refused_full.hosts = 1;
        s.passed_over = 6;
        t.record_engine(&s, &fill, 3, 4);
        assert_eq!(
            t.state_evicted
                .with_label_values(&["identities", "cap"])
                .get(),
            9
        );
        assert_eq!(t.state_refused.with_label_values(&["hosts"]).get(), 1);
        assert_eq!(t.state_capacity.with_label_values(&["edges"]).get(), 1000);
        assert_eq!(t.state_entries.with_label_values(&["hosts"]).get(), 5);
        assert_eq!(t.observations.get(), 25);
        assert_eq!(t.join_flows.with_label_values(&["joined"]).get(), 3);
        assert_eq!(t.suppressed.with_label_values(&["quiet"]).get(), 2);
        assert_eq!(t.state_bytes.get(), 4);
        assert_eq!(t.passed_over.get(), 6);
        assert_eq!(t.state_crowded.get(), 1);
    }
}
