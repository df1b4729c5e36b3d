//! The `alerts` table: reachwatch's native alert JSON lines (what `replay --alerts` writes),
//! flattened to one row per alert.

use anyhow::{Context, Result};
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use reachwatch_model::alert::Seconds;
use reachwatch_model::Alert;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

/// Schema of the `alerts` table. Lists (`attack`, `features`, `destinations`) are
/// comma-separated; `time`, `first_time` and `last_time` are whole seconds.
pub fn alerts_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("id", false),
        i("time"),
        s("timestamp", true),
        s("identity", false),
        s("identity_kind", false),
        s("src", true),
        s("dst", false),
        s("service", true),
        s("rule", false),
        s("severity", false),
        i("score"),
        s("attack", false),
        s("summary", false),
        s("features", false),
        i("observation_count"),
        s("destinations", false),
        i("first_time"),
        i("last_time"),
        i("day"),
    ]))
}

/// Reads native alert JSON lines into one record batch (blank lines are skipped; a line that is
/// not an alert is an error naming the file and line).
pub fn read_alerts(path: &Path) -> Result<RecordBatch> {
    alerts_batch(&read_alert_lines(path)?)
}

/// Reads native alert JSON lines (blank lines are skipped; a line that is not an alert is an
/// error naming the file and line).
pub fn read_alert_lines(path: &Path) -> Result<Vec<Alert>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut alerts = vec![];
    for (no, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let alert: Alert = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a native reachwatch alert (replay --alert-format native)",
                path.display(),
                no + 1
            )
        })?;
        alerts.push(alert);
    }
    Ok(alerts)
}

/// Alerts as a record batch of the `alerts` schema.
pub fn alerts_batch(alerts: &[Alert]) -> Result<RecordBatch> {
    fn text<'a>(alerts: &'a [Alert], f: impl Fn(&'a Alert) -> Option<String>) -> ArrayRef {
        Arc::new(alerts.iter().map(f).collect::<StringArray>())
    }
    fn int(alerts: &[Alert], f: impl Fn(&Alert) -> i64) -> ArrayRef {
        Arc::new(alerts.iter().map(f).collect::<Int64Array>())
    }
    let secs = |s: Seconds| s.0.floor() as i64;
    let cols: Vec<ArrayRef> = vec![
        text(alerts, |a| Some(a.id.clone())),
        int(alerts, |a| secs(a.time)),
        text(alerts, |a| a.timestamp.clone()),
        text(alerts, |a| Some(a.identity.clone())),
        text(alerts, |a| Some(a.identity_kind.clone())),
        text(alerts, |a| a.src.clone()),
        text(alerts, |a| Some(a.dst.clone())),
        text(alerts, |a| a.service.clone()),
        text(alerts, |a| Some(a.rule.clone())),
        text(alerts, |a| Some(a.severity.name().to_string())),
        int(alerts, |a| i64::from(a.score)),
        text(alerts, |a| Some(a.attack.join(","))),
        text(alerts, |a| Some(a.summary.clone())),
        text(alerts, |a| {
            let names: Vec<&str> = a.evidence.features.iter().map(|f| &*f.name).collect();
            Some(names.join(","))
        }),
        int(alerts, |a| i64::from(a.evidence.observation_count)),
        text(alerts, |a| Some(a.evidence.destinations.join(","))),
        int(alerts, |a| secs(a.evidence.first_time)),
        int(alerts, |a| secs(a.evidence.last_time)),
        int(alerts, |a| {
            secs(a.time).div_euclid(crate::events::DAY_SECONDS)
        }),
    ];
    Ok(RecordBatch::try_new(alerts_schema(), cols)?)
}
