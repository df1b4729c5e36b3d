//! Alerts on their way out: stamped with their absolute time, encoded once, and not delivered
//! again when their id was already delivered (ids are deterministic for the same input).

use reachwatch_formats::native::stamp_alert;
use reachwatch_formats::AlertFormat;
use reachwatch_model::Alert;
use std::collections::HashSet;

/// How alerts leave the runner.
#[derive(Debug)]
pub struct AlertOut {
    format: AlertFormat,
    /// Unix time (ms) of event time 0, when alerts get an RFC 3339 timestamp.
    base_time: Option<i64>,
    /// Ids already delivered (read back from the alerts topic after a restore).
    delivered: HashSet<String>,
    line: Vec<u8>,
}

/// What became of an alert.
pub enum Outcome<'a> {
    /// Deliver it: the stamped alert is in place, and its encoded line.
    Deliver(&'a [u8]),
    /// Already delivered: skip it.
    AlreadyDelivered,
}

impl AlertOut {
    /// Alerts encoded as `format`, stamped with `base_time` when given, skipping `delivered` ids.
    pub fn new(format: AlertFormat, base_time: Option<i64>, delivered: HashSet<String>) -> Self {
        AlertOut {
            format,
            base_time,
            delivered,
            line: Vec::with_capacity(1024),
        }
    }

    /// Stamps and encodes `alert`, unless its id was already delivered.
    pub fn prepare(&mut self, alert: &mut Alert) -> anyhow::Result<Outcome<'_>> {
        if self.delivered.remove(&alert.id) {
            return Ok(Outcome::AlreadyDelivered);
        }
        if let Some(base) = self.base_time {
            stamp_alert(alert, base);
        }
        self.line.clear();
        self.format
            .write(&mut self.line, alert, env!("CARGO_PKG_VERSION"))?;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        Ok(Outcome::Deliver(&self.line))
    }
}
