//! File sinks: alerts and dead letters as JSON lines to files or standard output, and alerts to a
//! caller's function.

use anyhow::{Context, Result};
use reachwatch_formats::DeadLetter;
use reachwatch_model::Alert;
use reachwatch_runner::sink::{write_dead_letter, write_line};
use reachwatch_runner::{Sink, Source};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// An output file, or standard output for `-`.
pub fn create(path: &Path) -> Result<BufWriter<Box<dyn Write>>> {
    let out: Box<dyn Write> = if path == Path::new("-") {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
    };
    Ok(BufWriter::with_capacity(1 << 16, out))
}

/// Replay's outputs.
pub struct FileSink<F> {
    /// Alerts, one encoded alert per line.
    pub alerts: Option<BufWriter<Box<dyn Write>>>,
    /// Dead letters, one JSON object per line.
    pub dead_letters: Option<BufWriter<Box<dyn Write>>>,
    /// Called with every alert delivered.
    pub on_alert: F,
}

impl<F: FnMut(&Alert)> FileSink<F> {
    /// Flushes both files.
    pub fn flush(&mut self) -> Result<()> {
        for out in [&mut self.alerts, &mut self.dead_letters]
            .into_iter()
            .flatten()
        {
            out.flush()?;
        }
        Ok(())
    }
}

impl<F: FnMut(&Alert)> Sink for FileSink<F> {
    fn alert(&mut self, alert: &Alert, line: &[u8]) -> Result<()> {
        if let Some(out) = &mut self.alerts {
            write_line(out, line)?;
        }
        (self.on_alert)(alert);
        Ok(())
    }

    fn dead_letter(&mut self, _: &Source, _: i32, letter: &DeadLetter) -> Result<()> {
        match &mut self.dead_letters {
            Some(out) => write_dead_letter(out, letter),
            None => Ok(()),
        }
    }
}
