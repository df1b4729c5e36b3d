//! Where the runner's output goes: alerts (stamped, encoded, de-duplicated) and dead letters.
//! Replay writes them to files; the streaming pipeline to topics and files.

use crate::Source;
use anyhow::Result;
use reachwatch_formats::DeadLetter;
use reachwatch_model::Alert;
use std::io::Write;

/// Receives the runner's output.
pub trait Sink {
    /// An alert to deliver, with its encoded form (one line, without the newline).
    fn alert(&mut self, alert: &Alert, line: &[u8]) -> Result<()>;

    /// A record of `source` (partition `partition`) that could not be used.
    fn dead_letter(&mut self, source: &Source, partition: i32, letter: &DeadLetter) -> Result<()>;
}

/// Writes one line and its newline.
pub fn write_line(out: &mut impl Write, line: &[u8]) -> std::io::Result<()> {
    out.write_all(line)?;
    out.write_all(b"\n")
}

/// Writes a dead letter as one JSON object and a newline.
pub fn write_dead_letter(out: &mut impl Write, letter: &DeadLetter) -> Result<()> {
    serde_json::to_writer(&mut *out, letter)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A sink that keeps everything in memory (tests, rule tests, evaluations).
#[derive(Debug, Default)]
pub struct Collect {
    /// Alerts in the order they were delivered.
    pub alerts: Vec<Alert>,
    /// Dead letters in the order they were reported.
    pub dead_letters: Vec<DeadLetter>,
}

impl Sink for Collect {
    fn alert(&mut self, alert: &Alert, _line: &[u8]) -> Result<()> {
        self.alerts.push(alert.clone());
        Ok(())
    }

    fn dead_letter(&mut self, _: &Source, _: i32, letter: &DeadLetter) -> Result<()> {
        self.dead_letters.push(letter.clone());
        Ok(())
    }
}
