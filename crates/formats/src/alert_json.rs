//! The native alert encoding: one JSON object per line, keys in a fixed order.

use reachwatch_model::Alert;
use std::io::{self, Write};

/// Writes `alert` as one JSON line.
pub fn write_alert(out: &mut impl Write, alert: &Alert) -> io::Result<()> {
    serde_json::to_writer(&mut *out, alert)?;
    out.write_all(b"\n")
}
