//! `reachwatch produce`: publish a file scenario into Kafka topics (for demos and tests).

use anyhow::Result;
use reachwatch_formats::Format;
use reachwatch_kafka::produce::{produce, ProduceOptions};
use std::path::PathBuf;

/// Arguments of `reachwatch produce`.
#[derive(clap::Args)]
pub struct ProduceArgs {
    /// Bootstrap brokers, `host:port[,…]` (default: `REACHWATCH_BROKERS`).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topic for the authentication file.
    #[arg(long, default_value = "reachwatch-auth")]
    pub auth_topic: String,
    /// Topic for the flow file.
    #[arg(long, default_value = "reachwatch-flows")]
    pub flows_topic: String,
    /// Format of both files (it gives the message keys: the source host).
    #[arg(long, default_value = "lanl")]
    pub format: Format,
    /// Authentication file, one message per line.
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Flow file, one message per line.
    #[arg(long)]
    pub flows: Option<PathBuf>,
    /// Partitions of the topics this command creates (existing topics are left as they are).
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Publish at this many records per second, both files interleaved in event-time order (a
    /// live feed); default: as fast as possible, one file after the other.
    #[arg(long)]
    pub rate: Option<u32>,
    /// librdkafka setting for the producer, `key=value` (repeatable), e.g.
    /// `--option security.protocol=SASL_SSL`.
    #[arg(long = "option", value_parser = parse_kv)]
    pub options: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

/// Runs `reachwatch produce`.
pub fn run(a: ProduceArgs) -> Result<()> {
    let brokers = a
        .brokers
        .or_else(|| std::env::var("REACHWATCH_BROKERS").ok())
        .ok_or_else(|| anyhow::anyhow!("give --brokers or set REACHWATCH_BROKERS"))?;
    let mut client = vec![("bootstrap.servers".to_string(), brokers)];
    client.extend(a.options);
    let summary = produce(&ProduceOptions {
        client,
        format: a.format,
        auth: a.auth.map(|p| (p, a.auth_topic)),
        flows: a.flows.map(|p| (p, a.flows_topic)),
        partitions: a.partitions,
        rate: a.rate,
    })?;
    for (topic, n) in summary.topics {
        eprintln!("produce: {n} messages to {topic}");
    }
    Ok(())
}
