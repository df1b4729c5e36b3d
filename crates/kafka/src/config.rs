//! The `reachwatch run` configuration file: TOML, or YAML when the file name ends in `.yaml` or
//! `.yml` (the same keys). Unknown keys are errors; every key has a
//! documented default where one makes sense. Environment overrides: `REACHWATCH_BROKERS`
//! (`kafka.brokers`), `REACHWATCH_KAFKA_INSTANCE_ID` (`kafka.instance_id`),
//! `REACHWATCH_KAFKA_USERNAME` and `REACHWATCH_KAFKA_PASSWORD` (librdkafka's `sasl.username` /
//! `sasl.password`).

use anyhow::{bail, Context, Result};
use reachwatch_formats::{AlertFormat, Format, Stream};
use reachwatch_model::Ts;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Brokers, consumer group and librdkafka settings.
    pub kafka: KafkaConfig,
    /// Input topics (at least one), each with its stream and format.
    pub sources: Vec<SourceConfig>,
    /// Where alerts and dead letters go (at least one alert sink).
    #[serde(default)]
    pub sinks: SinksConfig,
    /// Checkpoint directory and cadence.
    pub checkpoint: CheckpointConfig,
    /// Rules and engine overrides.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Event-time merge, back-pressure and replay mode.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Metrics endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[kafka]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]` (required; `REACHWATCH_BROKERS` overrides).
    #[serde(default)]
    pub brokers: String,
    /// Consumer group id (default `reachwatch`).
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Client id reported to the brokers (default `reachwatch`).
    #[serde(default = "default_group")]
    pub client_id: String,
    /// This replica's stable name in the group (librdkafka's `group.instance.id`, static
    /// membership): a replica that restarts within the session timeout gets its partitions back
    /// without a rebalance of the group. Unique per replica, e.g. the pod name of a StatefulSet
    /// (default: none; `REACHWATCH_KAFKA_INSTANCE_ID` overrides).
    pub instance_id: Option<String>,
    /// Where a partition without a committed or checkpointed offset starts: `earliest` or
    /// `latest` (default `earliest`).
    #[serde(default = "default_reset")]
    pub auto_offset_reset: String,
    /// librdkafka settings passed through unchanged to the consumer and the producer, e.g.
    /// `"security.protocol" = "SASL_SSL"`, `"sasl.mechanisms" = "SCRAM-SHA-512"`,
    /// `"ssl.ca.location" = "/etc/ssl/certs/ca.pem"`, `"session.timeout.ms" = "10000"`
    /// (default: none).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// One `[[sources]]` entry: a topic of one stream in one format. One message is one record.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Topic name (required).
    pub topic: String,
    /// `auth` or `flows` (required).
    pub stream: String,
    /// Record format, as replay's `--format`: `lanl`, `native`, `windows`, `zeek`, `vpc`,
    /// `cloudtrail`, `k8s`, `ocsf` (default `native`; `auto` is not accepted on a stream).
    #[serde(default = "default_format")]
    pub format: String,
    /// How late the topic's records are expected to arrive, e.g. `15m` for VPC Flow Logs
    /// (default `0s`): while a partition of it has nothing buffered, the event-time merge
    /// waits this long (wall clock, at least `pipeline.idle_timeout`) before going on without it.
    #[serde(default)]
    pub max_delay: Option<String>,
}

/// `[sinks]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// Topic for alerts, keyed by identity, header `reachwatch-alert-id` (default: none).
    pub alerts_topic: Option<String>,
    /// JSON-lines file alerts are appended to (default: none).
    pub alerts_file: Option<PathBuf>,
    /// Also write alerts on standard output (default `false`).
    #[serde(default)]
    pub alerts_stdout: bool,
    /// Alert encoding: `native`, `ocsf` or `ecs` (default `native`).
    #[serde(default = "default_alert_format")]
    pub alert_format: String,
    /// Topic for records that could not be used: decode failures, late and clock-skewed events
    /// (default: none; they are then only counted and logged at debug level).
    pub dead_letter_topic: Option<String>,
}

/// `[checkpoint]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Directory of the checkpoint file (required; created if missing).
    pub dir: PathBuf,
    /// Wall-clock time between checkpoints (default `30s`).
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Also checkpoint after this many events (default `1000000`; `0` for never by count).
    #[serde(default = "default_every_events")]
    pub every_events: u64,
    /// Also keep every checkpoint in a Kafka topic, so that a replica on a fresh volume restores
    /// from Kafka and the directory is a cache (default `true`).
    #[serde(default = "default_true")]
    pub in_kafka: bool,
    /// That topic (default `<kafka.group_id>-checkpoints`), created on start with two
    /// partitions: manifests on 0, the checkpoints' chunks on 1.
    pub topic: Option<String>,
}

/// `[engine]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Rules directory (default: the built-in copy of the shipped rules).
    pub rules: Option<PathBuf>,
    /// Learning period, e.g. `7d` (default: the rules' `settings.learn`).
    pub learn: Option<String>,
    /// Allowed lateness (default: the rules' `settings.lateness`).
    pub lateness: Option<String>,
    /// Allowed clock skew (default: the rules' `settings.max_skew`).
    pub max_skew: Option<String>,
    /// `ip,host` file resolving addresses to host names, as replay's `--hosts`; it wins over
    /// the inventory's `addresses` (default: the inventory's addresses only).
    pub hosts: Option<PathBuf>,
    /// How often the rules directory is checked for changes; a change is validated and swapped
    /// in, a broken one is reported and the running rules stay (default `5s`; `0s` checks only on
    /// SIGHUP). Applies when `rules` is set.
    #[serde(default = "default_reload")]
    pub reload_interval: String,
    /// A least-reach policy file (the YAML of `reachwatch policy generate`): reach outside it is
    /// reported as `policy-violation` alerts, next to the behavioural ones (default: none).
    pub policy: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            rules: None,
            learn: None,
            lateness: None,
            max_skew: None,
            hosts: None,
            reload_interval: default_reload(),
            policy: None,
        }
    }
}

/// `[pipeline]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Wall-clock time a partition with nothing buffered may hold back the event-time merge
    /// before the others proceed without it (default `5s`).
    #[serde(default = "default_idle")]
    pub idle_timeout: String,
    /// Decoded records buffered per partition; a full partition is not fetched from until the
    /// merge takes from it (default `1000`; the consumer prefetches more, see
    /// `queued.max.messages.kbytes`).
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Read every partition from its beginning, ignoring checkpoints and committed offsets
    /// (default `false`).
    #[serde(default)]
    pub from_start: bool,
    /// Commit offsets to Kafka (default `true`; `false` with `from_start` rebuilds a baseline
    /// from a retained topic without touching the group's offsets).
    #[serde(default = "default_true")]
    pub commit: bool,
    /// Records whose absolute event time is further ahead of the wall clock than this are
    /// refused as clock skew (default `5m`; `0s` turns the check off).
    #[serde(default = "default_max_future")]
    pub max_future: String,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            idle_timeout: default_idle(),
            queue_capacity: default_queue(),
            from_start: false,
            commit: true,
            max_future: default_max_future(),
        }
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`, `/healthz`, `/readyz` on this `host:port` (default: not served).
    pub addr: Option<String>,
    /// Also serve the web view under `/ui/` on that address: the alerts of `sinks.alerts_file`
    /// and the reach graph of the checkpoint (default: `false`).
    #[serde(default)]
    pub ui: bool,
}

fn default_group() -> String {
    "reachwatch".into()
}
fn default_reset() -> String {
    "earliest".into()
}
fn default_format() -> String {
    "native".into()
}
fn default_alert_format() -> String {
    "native".into()
}
fn default_interval() -> String {
    "30s".into()
}
fn default_every_events() -> u64 {
    1_000_000
}
fn default_reload() -> String {
    "5s".into()
}
fn default_idle() -> String {
    "5s".into()
}
fn default_max_future() -> String {
    "5m".into()
}
fn default_queue() -> usize {
    1_000
}
fn default_true() -> bool {
    true
}

/// A source, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Topic.
    pub topic: String,
    /// Stream of its records.
    pub stream: Stream,
    /// Format of its records.
    pub format: Format,
    /// How late its records are expected to arrive (wall clock).
    pub max_delay: Duration,
}

/// The configuration, validated and with its durations parsed.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The file as read (with environment overrides applied).
    pub raw: RunConfig,
    /// Sources, authentication topics first (ties in event time go to authentications).
    pub sources: Vec<Source>,
    /// Alert encoding.
    pub alert_format: AlertFormat,
    /// Checkpoint interval.
    pub checkpoint_interval: Duration,
    /// The topic that keeps checkpoints in Kafka (`None`: only the directory).
    pub checkpoint_topic: Option<String>,
    /// Idle timeout of the merge.
    pub idle_timeout: Duration,
    /// Records further ahead of the wall clock than this are refused (`None`: not checked).
    pub max_future: Option<Duration>,
    /// Engine overrides (ms).
    pub learn: Option<Ts>,
    /// Lateness override (ms).
    pub lateness: Option<Ts>,
    /// Clock-skew override (ms).
    pub max_skew: Option<Ts>,
    /// Rules directory check interval (`None`: on SIGHUP only).
    pub reload_interval: Option<Duration>,
}

fn duration(key: &str, s: &str) -> Result<Duration> {
    humantime::parse_duration(s)
        .with_context(|| format!("{key}: `{s}` is not a duration like 5s, 30s, 7d"))
}

impl RunConfig {
    /// Parses TOML text; errors name the key and line.
    pub fn parse(text: &str) -> Result<RunConfig> {
        Ok(toml::from_str(text)?)
    }

    /// Parses YAML text (the same keys as the TOML form); errors name the key and position.
    pub fn parse_yaml(text: &str) -> Result<RunConfig> {
        marked_yaml::from_yaml(0, text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Reads and parses a file: YAML for `.yaml`/`.yml`, TOML otherwise.
    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let parsed = if yaml {
            RunConfig::parse_yaml(&text)
        } else {
            RunConfig::parse(&text)
        };
        parsed.with_context(|| format!("{}", path.display()))
    }

    /// Applies `REACHWATCH_BROKERS`, `REACHWATCH_KAFKA_INSTANCE_ID`, `REACHWATCH_KAFKA_USERNAME`
    /// and `REACHWATCH_KAFKA_PASSWORD` from `env` (a lookup, so tests need not touch the process
    /// environment).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if let Some(b) = env("REACHWATCH_BROKERS").filter(|b| !b.is_empty()) {
            self.kafka.brokers = b;
        }
        if let Some(i) = env("REACHWATCH_KAFKA_INSTANCE_ID").filter(|i| !i.is_empty()) {
            self.kafka.instance_id = Some(i);
        }
        if let Some(u) = env("REACHWATCH_KAFKA_USERNAME") {
            self.kafka.options.insert("sasl.username".into(), u);
        }
        if let Some(p) = env("REACHWATCH_KAFKA_PASSWORD") {
            self.kafka.options.insert("sasl.password".into(), p);
        }
    }

    /// Checks everything that can be checked without a broker.
    pub fn validate(self) -> Result<Settings> {
        if self.kafka.brokers.trim().is_empty() {
            bail!("kafka.brokers is empty: set it or REACHWATCH_BROKERS");
        }
        if self.kafka.group_id.is_empty() {
            bail!("kafka.group_id is empty");
        }
        if self.kafka.instance_id.as_deref() == Some("") {
            bail!("kafka.instance_id is empty: remove it or name this replica");
        }
        if !matches!(self.kafka.auto_offset_reset.as_str(), "earliest" | "latest") {
            bail!(
                "kafka.auto_offset_reset: `{}` (expected earliest or latest)",
                self.kafka.auto_offset_reset
            );
        }
        for key in self.kafka.options.keys() {
            if let Some((_, why)) = RESERVED.iter().find(|(k, _)| k == key) {
                bail!("kafka.options.\"{key}\" is set by reachwatch: {why}");
            }
        }
        if self.sources.is_empty() {
            bail!("no [[sources]]: give at least one topic");
        }
        let mut sources = vec![];
        for (i, s) in self.sources.iter().enumerate() {
            let stream = match s.stream.as_str() {
                "auth" => Stream::Auth,
                "flows" => Stream::Flows,
                other => bail!("sources[{i}].stream: `{other}` (expected auth or flows)"),
            };
            let format: Format = s
                .format
                .parse()
                .map_err(|e| anyhow::anyhow!("sources[{i}].format: {e}"))?;
            if format == Format::Auto {
                bail!("sources[{i}].format: `auto` cannot be used on a topic; name the format");
            }
            if s.topic.is_empty() {
                bail!("sources[{i}].topic is empty");
            }
            if sources.iter().any(|x: &Source| x.topic == s.topic) {
                bail!("sources[{i}].topic `{}` is listed twice", s.topic);
            }
            let max_delay = match &s.max_delay {
                Some(d) => duration(&format!("sources[{i}].max_delay"), d)?,
                None => Duration::ZERO,
            };
            sources.push(Source {
                topic: s.topic.clone(),
                stream,
                format,
                max_delay,
            });
        }
        sources.sort_by_key(|s| s.stream == Stream::Flows);
        let sinks = &self.sinks;
        if sinks.alerts_topic.is_none() && sinks.alerts_file.is_none() && !sinks.alerts_stdout {
            bail!("[sinks]: no alert sink; set alerts_topic, alerts_file or alerts_stdout");
        }
        for t in [&sinks.alerts_topic, &sinks.dead_letter_topic]
            .into_iter()
            .flatten()
        {
            if sources.iter().any(|s| &s.topic == t) {
                bail!("[sinks]: topic `{t}` is also a source");
            }
        }
        let alert_format: AlertFormat = sinks
            .alert_format
            .parse()
            .map_err(|e| anyhow::anyhow!("sinks.alert_format: {e}"))?;
        if self.metrics.ui {
            if self.metrics.addr.is_none() {
                bail!("metrics.ui needs metrics.addr: the web view is served on that address");
            }
            if sinks.alerts_file.is_none() || alert_format != AlertFormat::Native {
                bail!("metrics.ui shows the alerts of sinks.alerts_file: set it, with alert_format = \"native\"");
            }
        }
        let checkpoint_interval = duration("checkpoint.interval", &self.checkpoint.interval)?;
        if checkpoint_interval.is_zero() {
            bail!("checkpoint.interval must be above zero");
        }
        if self.checkpoint.dir.as_os_str().is_empty() {
            bail!("checkpoint.dir is empty");
        }
        let checkpoint_topic = self.checkpoint.in_kafka.then(|| {
            self.checkpoint
                .topic
                .clone()
                .unwrap_or_else(|| format!("{}-checkpoints", self.kafka.group_id))
        });
        if let Some(t) = &checkpoint_topic {
            let sinks = [&sinks.alerts_topic, &sinks.dead_letter_topic];
            if t.is_empty() {
                bail!("checkpoint.topic is empty");
            }
            if sources.iter().any(|s| &s.topic == t) || sinks.into_iter().flatten().any(|s| s == t)
            {
                bail!("checkpoint.topic `{t}` is also a source or a sink");
            }
        }
        let idle_timeout = duration("pipeline.idle_timeout", &self.pipeline.idle_timeout)?;
        if self.pipeline.queue_capacity < 2 {
            bail!("pipeline.queue_capacity must be at least 2");
        }
        let ms = |key: &str, v: &Option<String>| -> Result<Option<Ts>> {
            v.as_deref()
                .map(|s| duration(key, s).map(|d| d.as_millis() as Ts))
                .transpose()
        };
        let reload = duration("engine.reload_interval", &self.engine.reload_interval)?;
        let max_future = duration("pipeline.max_future", &self.pipeline.max_future)?;
        Ok(Settings {
            max_future: (!max_future.is_zero()).then_some(max_future),
            reload_interval: (!reload.is_zero()).then_some(reload),
            learn: ms("engine.learn", &self.engine.learn)?,
            lateness: ms("engine.lateness", &self.engine.lateness)?,
            max_skew: ms("engine.max_skew", &self.engine.max_skew)?,
            sources,
            alert_format,
            checkpoint_interval,
            checkpoint_topic,
            idle_timeout,
            raw: self,
        })
    }
}

/// librdkafka consumer settings reachwatch changes from librdkafka's defaults: the event-time
/// merge needs every partition to keep flowing, so a fetch is not held for long at the broker
/// (500 ms by default) and a partition's next fetch is not postponed for a second when its
/// local queue was full. Both lower end-to-end latency too. `kafka.options` may set them.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("fetch.wait.max.ms", "50"),
    ("fetch.queue.backoff.ms", "10"),
];

/// librdkafka settings reachwatch sets itself, and what to do instead.
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use kafka.brokers"),
    ("group.id", "use kafka.group_id"),
    ("group.instance.id", "use kafka.instance_id"),
    ("auto.offset.reset", "use kafka.auto_offset_reset"),
    (
        "enable.auto.commit",
        "offsets are committed after the checkpoint that covers them",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed after the checkpoint that covers them",
    ),
    (
        "enable.partition.eof",
        "the event-time merge learns from it that a partition is at its end",
    ),
];

impl Settings {
    /// The librdkafka settings shared by consumer and producer: brokers, client id, pass-through
    /// options.
    pub fn client_options(&self) -> Vec<(String, String)> {
        let k = &self.raw.kafka;
        let mut out = vec![
            ("bootstrap.servers".to_string(), k.brokers.clone()),
            ("client.id".to_string(), k.client_id.clone()),
        ];
        out.extend(k.options.iter().map(|(a, b)| (a.clone(), b.clone())));
        out
    }

    /// The consumer's settings: fetch defaults (which `kafka.options` override), the client's,
    /// then group, manual commits, offset reset, end-of-partition events.
    pub fn consumer_options(&self) -> Vec<(String, String)> {
        let k = &self.raw.kafka;
        let mut out: Vec<(String, String)> = CONSUMER_DEFAULTS
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        out.extend(self.client_options());
        for (a, b) in [
            ("group.id", k.group_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", k.auto_offset_reset.as_str()),
            ("enable.partition.eof", "true"),
        ] {
            out.push((a.to_string(), b.to_string()));
        }
        if let Some(i) = &k.instance_id {
            out.push(("group.instance.id".to_string(), i.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"

[[sources]]
topic = "flows"
stream = "flows"
format = "lanl"

[[sources]]
topic = "auth"
stream = "auth"
format = "lanl"

[sinks]
alerts_topic = "alerts"

[checkpoint]
dir = "/tmp/rw"
"#;

    #[test]
    fn defaults_apply_and_auth_sources_come_first() {
        let s = RunConfig::parse(MINIMAL).unwrap().validate().unwrap();
        assert_eq!(s.sources[0].topic, "auth");
        assert_eq!(s.sources[1].stream, Stream::Flows);
        assert_eq!(s.idle_timeout, Duration::from_secs(5));
        assert_eq!(s.checkpoint_interval, Duration::from_secs(30));
        assert_eq!(s.raw.pipeline.queue_capacity, 1_000);
        assert!(s.raw.pipeline.commit && !s.raw.pipeline.from_start);
        assert_eq!(s.raw.kafka.group_id, "reachwatch");
        let c = s.consumer_options();
        assert!(c.contains(&("enable.auto.commit".into(), "false".into())));
        assert!(c.contains(&("fetch.wait.max.ms".into(), "50".into())));
        // The merge learns from end-of-partition events that a partition is at its end.
        assert!(c.contains(&("enable.partition.eof".into(), "true".into())));
        // An option given in [kafka] options comes later, so librdkafka takes it.
        let own = RunConfig::parse(&MINIMAL.replace(
            "brokers = \"127.0.0.1:9092\"",
            "brokers = \"b:1\"\noptions = { \"fetch.wait.max.ms\" = \"500\" }",
        ))
        .unwrap()
        .validate()
        .unwrap()
        .consumer_options();
        let last = own.iter().rev().find(|(k, _)| k == "fetch.wait.max.ms");
        assert_eq!(last.map(|(_, v)| v.as_str()), Some("500"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let err = RunConfig::parse(&MINIMAL.replace("[sinks]", "[sinks]\nalert_topic = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `alert_topic`"), "{err}");
        let refused = |bad: String| {
            let err = RunConfig::parse(&bad).unwrap().validate().unwrap_err();
            err.to_string()
        };
        let options = |o: &str| {
            MINIMAL.replace(
                "brokers = \"127.0.0.1:9092\"",
                &format!("brokers = \"b:1\"\noptions = {{ {o} }}"),
            )
        };
        for (bad, expected) in [
            (
                MINIMAL.replace("stream = \"auth\"", "stream = \"logins\""),
                "sources[1].stream",
            ),
            (
                MINIMAL.replace(
                    "format = \"lanl\"\n\n[sinks]",
                    "format = \"csv\"\n\n[sinks]",
                ),
                "unknown format `csv`",
            ),
            (
                MINIMAL.replace("alerts_topic = \"alerts\"", ""),
                "no alert sink",
            ),
            (
                format!("{MINIMAL}\n[pipeline]\nidle_timeout = \"soon\"\n"),
                "pipeline.idle_timeout",
            ),
            (options("\"group.id\" = \"x\""), "use kafka.group_id"),
            (
                options("\"enable.partition.eof\" = \"false\""),
                "enable.partition.eof",
            ),
        ] {
            let err = refused(bad);
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn yaml_gives_the_same_settings_as_toml() {
        let yaml = r#"
kafka:
  brokers: "127.0.0.1:9092"
  options: {"session.timeout.ms": "6000"}
sources:
  - {topic: flows, stream: flows, format: lanl}
  - {topic: auth, stream: auth, format: lanl}
sinks:
  alerts_topic: alerts
checkpoint:
  dir: /tmp/rw
  every_events: 5000
pipeline:
  queue_capacity: 64
  commit: false
"#;
        let y = RunConfig::parse_yaml(yaml).unwrap().validate().unwrap();
        let t = RunConfig::parse(&format!(
            "{MINIMAL}\n[pipeline]\nqueue_capacity = 64\ncommit = false\n"
        ))
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(y.sources, t.sources);
        assert_eq!(y.raw.checkpoint.every_events, 5000);
        assert_eq!(y.raw.pipeline.queue_capacity, 64);
        assert!(!y.raw.pipeline.commit);
        assert!(y
            .client_options()
            .contains(&("session.timeout.ms".into(), "6000".into())));
        let err = RunConfig::parse_yaml(&yaml.replace("alerts_topic", "alert_topic"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("alert_topic"), "{err}");
    }

    #[test]
    fn environment_overrides_brokers_and_credentials() {
        let mut c = RunConfig::parse(MINIMAL).unwrap();
        c.apply_env(|k| match k {
            "REACHWATCH_BROKERS" => Some("b1:9093,b2:9093".into()),
            "REACHWATCH_KAFKA_USERNAME" => Some("rw".into()),
            "REACHWATCH_KAFKA_PASSWORD" => Some("secret".into()),
            "REACHWATCH_KAFKA_INSTANCE_ID" => Some("reachwatch-2".into()),
            _ => None,
        });
        let s = c.validate().unwrap();
        let o = s.client_options();
        assert!(o.contains(&("bootstrap.servers".into(), "b1:9093,b2:9093".into())));
        assert!(o.contains(&("sasl.username".into(), "rw".into())));
        assert!(o.contains(&("sasl.password".into(), "secret".into())));
        // Static membership is the consumer's alone.
        let static_member = ("group.instance.id".to_string(), "reachwatch-2".to_string());
        assert!(s.consumer_options().contains(&static_member));
        assert!(!o.iter().any(|(k, _)| k == "group.instance.id"));
        let none = RunConfig::parse(MINIMAL).unwrap().validate().unwrap();
        assert!(!none
            .consumer_options()
            .iter()
            .any(|(k, _)| k == "group.instance.id"));
    }

    #[test]
    fn checkpoints_are_kept_in_a_topic_named_after_the_group_unless_told_otherwise() {
        let with = |kafka: &str, checkpoint: &str| {
            let text = MINIMAL
                .replace("[kafka]\n", &format!("[kafka]\n{kafka}\n"))
                .replace(
                    "dir = \"/tmp/rw\"",
                    &format!("dir = \"/tmp/rw\"\n{checkpoint}"),
                );
            RunConfig::parse(&text).and_then(RunConfig::validate)
        };
        let topic = |k: &str, c: &str| with(k, c).unwrap().checkpoint_topic;
        assert_eq!(topic("", ""), Some("reachwatch-checkpoints".into()));
        assert_eq!(
            topic("group_id = \"soc\"", ""),
            Some("soc-checkpoints".into())
        );
        assert_eq!(topic("", "topic = \"state\""), Some("state".into()));
        assert_eq!(topic("", "in_kafka = false"), None);
        let err = with("", "topic = \"alerts\"").unwrap_err().to_string();
        assert!(
            err.contains("checkpoint.topic `alerts` is also a source or a sink"),
            "{err}"
        );
        let err = with("", "topic = \"auth\"").unwrap_err().to_string();
        assert!(err.contains("is also a source or a sink"), "{err}");
        let err = with("instance_id = \"\"", "").unwrap_err().to_string();
        assert!(err.contains("kafka.instance_id is empty"), "{err}");
        let err = with("options = { \"group.instance.id\" = \"x\" }", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("use kafka.instance_id"), "{err}");
    }

    #[test]
    fn the_web_view_needs_the_metrics_address_and_a_native_alert_file() {
        let with = |extra: &str| {
            RunConfig::parse(&format!("{MINIMAL}{extra}")).and_then(RunConfig::validate)
        };
        let ok = with("[metrics]\naddr = \"127.0.0.1:0\"\nui = true\n");
        let err = ok.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("sinks.alerts_file"), "{err}");
        let file = MINIMAL.replace(
            "alerts_topic = \"alerts\"",
            "alerts_topic = \"alerts\"\nalerts_file = \"/tmp/a.jsonl\"",
        );
        let s = RunConfig::parse(&format!(
            "{file}[metrics]\naddr = \"127.0.0.1:0\"\nui = true\n"
        ))
        .unwrap()
        .validate()
        .unwrap();
        assert!(s.raw.metrics.ui);
        let err = RunConfig::parse(&format!("{file}[metrics]\nui = true\n"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("metrics.addr"), "{err}");
        let ecs = file.replace("[sinks]", "[sinks]\nalert_format = \"ecs\"");
        let err = RunConfig::parse(&format!(
            "{ecs}[metrics]\naddr = \"127.0.0.1:0\"\nui = true\n"
        ))
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("native"), "{err}");
        assert!(
            !RunConfig::parse(MINIMAL).unwrap().metrics.ui,
            "off by default"
        );
    }
}
