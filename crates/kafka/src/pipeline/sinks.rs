//! Where alerts and dead letters go: the producer and its delivery reports, the file and
//! standard-output sinks; topic creation and the alert ids already published.

use crate::read::{end_offsets, read_topic, META_TIMEOUT};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use reachwatch_checkpoint::PartitionOffset;
use reachwatch_formats::DeadLetter;
use reachwatch_model::Alert;
use reachwatch_runner::sink::write_line;
use reachwatch_runner::{Sink, Source};
use serde::Serialize;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Mutex;
use std::time::Duration;

/// Header carrying an alert's id on the alerts topic.
pub const ALERT_ID_HEADER: &str = "reachwatch-alert-id";

/// How long a flush of the producer may take before the checkpoint fails.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivery failures of the producer, checked at every checkpoint.
#[derive(Default)]
pub(super) struct Deliveries {
    pub(super) failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            let mut f = self.failed.lock().expect("delivery lock");
            f.get_or_insert_with(|| format!("delivery to {} failed: {e}", m.topic()));
        }
    }
}

pub(super) type Producer = ThreadedProducer<Deliveries>;

/// A dead letter as written to the dead-letter topic (JSON).
#[derive(Serialize)]
struct KafkaDeadLetter<'a> {
    topic: &'a str,
    partition: i32,
    offset: u64,
    /// `Reason` name: `bad_json`, `wrong_type`, `too_long`, `late`, …
    reason: &'static str,
    detail: &'a str,
    /// The original record, lossy UTF-8, at most 4 KiB.
    raw: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    /// The original record's length in bytes: `raw_base64` holds all of it when at most 512 KiB.
    length: u64,
    /// The original record's exact bytes (up to 512 KiB), base64 (standard alphabet).
    raw_base64: String,
}

/// The pipeline's outputs: the alerts topic, the dead-letter topic, an alerts file and
/// standard output.
pub(super) struct KafkaSink {
    pub(super) producer: Option<Producer>,
    pub(super) alerts_topic: Option<String>,
    pub(super) dead_letter_topic: Option<String>,
    pub(super) file: Option<BufWriter<File>>,
    pub(super) stdout: bool,
}

impl KafkaSink {
    /// Sends one record, waiting while the producer's queue is full.
    fn send(&self, topic: &str, key: &str, payload: &[u8], id: Option<&str>) -> Result<()> {
        let producer = self
            .producer
            .as_ref()
            .expect("producer exists for topic sinks");
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(id) = id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: ALERT_ID_HEADER,
                value: Some(id),
            }));
        }
        crate::produce::send_waiting(producer, record)
    }

    /// Waits until every record sent so far is acknowledged and the alerts file is on disk;
    /// fails when a delivery failed.
    pub(super) fn flush(&mut self) -> Result<()> {
        if let Some(p) = &self.producer {
            p.flush(FLUSH_TIMEOUT)
                .context("flushing alerts and dead letters before a checkpoint")?;
            if let Some(e) = p.context().failed.lock().expect("delivery lock").take() {
                bail!("{e}; no checkpoint written, the records will be processed again on restart");
            }
        }
        if let Some(f) = &mut self.file {
            f.flush()?;
            f.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// The alerts topic's end offsets (where alerts after now will go).
    pub(super) fn alert_end_offsets(&self) -> Result<Vec<PartitionOffset>> {
        match (&self.producer, &self.alerts_topic) {
            (Some(p), Some(topic)) => end_offsets(p.client(), topic),
            _ => Ok(vec![]),
        }
    }
}

impl Sink for KafkaSink {
    fn alert(&mut self, alert: &Alert, line: &[u8]) -> Result<()> {
        if let Some(topic) = &self.alerts_topic {
            self.send(topic, &alert.identity, line, Some(&alert.id))?;
        }
        if let Some(f) = &mut self.file {
            write_line(f, line)?;
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            write_line(&mut out, line)?;
            out.flush()?;
        }
        Ok(())
    }

    fn dead_letter(&mut self, source: &Source, partition: i32, letter: &DeadLetter) -> Result<()> {
        let Some(topic) = &self.dead_letter_topic else {
            tracing::debug!(
                topic = source.name,
                partition,
                offset = letter.line,
                reason = letter.reason.name(),
                "dead letter"
            );
            return Ok(());
        };
        let record = KafkaDeadLetter {
            topic: &source.name,
            partition,
            offset: letter.line,
            reason: letter.reason.name(),
            detail: &letter.detail,
            raw: &letter.raw,
            truncated: letter.truncated,
            length: letter.length,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(&letter.bytes),
        };
        let payload = serde_json::to_vec(&record)?;
        self.send(
            topic,
            &format!("{}/{partition}", source.name),
            &payload,
            None,
        )
    }
}

/// A client's librdkafka configuration: the options as given, nothing overridden (the producer's
/// idempotence, for one, is the user's `kafka.options` choice; librdkafka's default is off).
pub(super) fn client_config(options: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in options {
        c.set(k, v);
    }
    c
}

/// Creates the topics that are missing, with these topic settings (existing ones are left as
/// they are).
pub async fn ensure_topics(
    options: &[(String, String)],
    topics: &[&str],
    partitions: i32,
    settings: &[(&str, &str)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(options)
        .create()
        .context("creating the admin client")?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            settings.iter().fold(
                NewTopic::new(t, partitions, TopicReplication::Fixed(-1)),
                |n, (k, v)| n.set(k, v),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(META_TIMEOUT));
    for r in admin.create_topics(&new, &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => bail!("creating topic {t}: {e}"),
        }
    }
    Ok(())
}

/// The alert ids on `topic` from the checkpoint's end offsets (the beginning for partitions it
/// does not list) to the current end.
pub(super) fn published_alert_ids(
    options: &[(String, String)],
    topic: &str,
    from: &[PartitionOffset],
) -> Result<HashSet<String>> {
    Ok(read_topic(options, topic, from, Duration::from_secs(60))?
        .iter()
        .filter_map(|r| r.header(ALERT_ID_HEADER))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_client_options_are_kept_as_given() {
        let options = [
            ("bootstrap.servers".to_string(), "b:9092".to_string()),
            ("enable.idempotence".to_string(), "true".to_string()),
        ];
        let c = client_config(&options);
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("bootstrap.servers"), Some("b:9092"));
    }
}
