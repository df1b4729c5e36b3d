//! Where alerts and dead letters go: the producer and its delivery reports, the file and
//! standard-output sinks; topic creation and the alert ids already published.

use super::ALERT_ID_HEADER;
use crate::read::{read_topic, META_TIMEOUT};
use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use reachwatch_checkpoint::PartitionOffset;
use serde::Serialize;
use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::sync::Mutex;
use std::time::Duration;

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
pub(super) struct KafkaDeadLetter<'a> {
    pub(super) topic: &'a str,
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// `Reason` name: `bad_json`, `wrong_type`, `too_long`, `late`, …
    pub(super) reason: &'static str,
    pub(super) detail: &'a str,
    /// The original record, lossy UTF-8, at most 4 KiB.
    pub(super) raw: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) truncated: bool,
    /// The original record's exact bytes, base64 (standard alphabet).
    pub(super) raw_base64: String,
}

/// Alert sinks other than the topic.
pub(super) struct FileSinks {
    pub(super) file: Option<BufWriter<File>>,
    pub(super) stdout: bool,
}

pub(super) fn client_config(options: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in options {
        c.set(k, v);
    }
    c
}

/// Creates the topics that are missing (existing ones are left as they are).
pub async fn ensure_topics(
    options: &[(String, String)],
    topics: &[&str],
    partitions: i32,
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(options)
        .create()
        .context("creating the admin client")?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
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
