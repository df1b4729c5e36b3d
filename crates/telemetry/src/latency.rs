//! Latency summaries: recorded with hdrhistogram (microseconds, 3 significant digits) and
//! exposed as Prometheus summaries with quantiles 0.5, 0.9, 0.99 and 0.999.

use hdrhistogram::Histogram;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType, Quantile, Summary};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A latency summary metric.
#[derive(Clone)]
pub struct LatencySummary {
    desc: Desc,
    hist: Arc<Mutex<Histogram<u64>>>,
    sum: Arc<Mutex<f64>>,
    /// Largest value recorded, in microseconds (larger ones are clamped to it).
    max_us: u64,
}

impl LatencySummary {
    /// A summary named `name` (seconds) of values up to an hour.
    pub fn new(name: &str, help: &str) -> LatencySummary {
        Self::with_max(name, help, Duration::from_secs(3600))
    }

    /// A summary named `name` (seconds) of values up to `max`.
    pub fn with_max(name: &str, help: &str, max: Duration) -> LatencySummary {
        let max_us = (max.as_micros() as u64).max(2);
        LatencySummary {
            desc: Desc::new(name.into(), help.into(), vec![], Default::default())
                .expect("valid metric"),
            hist: Arc::new(Mutex::new(
                Histogram::new_with_bounds(1, max_us, 3).expect("histogram bounds"),
            )),
            sum: Arc::new(Mutex::new(0.0)),
            max_us,
        }
    }

    /// Records one value (clamped to 1 µs … the maximum).
    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, self.max_us);
        self.hist
            .lock()
            .expect("latency lock")
            .saturating_record(us);
        *self.sum.lock().expect("latency lock") += d.as_secs_f64();
    }

    /// The value at a quantile, in seconds (0 when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        self.hist.lock().expect("latency lock").value_at_quantile(q) as f64 / 1e6
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.hist.lock().expect("latency lock").len()
    }
}

impl Collector for LatencySummary {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let h = self.hist.lock().expect("latency lock");
        let mut s = Summary::default();
        s.set_sample_count(h.len());
        s.set_sample_sum(*self.sum.lock().expect("latency lock"));
        let quantiles = [0.5, 0.9, 0.99, 0.999]
            .iter()
            .map(|&q| {
                let mut x = Quantile::default();
                x.set_quantile(q);
                x.set_value(if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(q) as f64 / 1e6
                });
                x
            })
            .collect();
        s.set_quantile(quantiles);
        let mut m = prometheus::proto::Metric::default();
        m.set_summary(s);
        let mut f = MetricFamily::default();
        f.set_name(self.desc.fq_name.clone());
        f.set_help(self.desc.help.clone());
        f.set_field_type(MetricType::SUMMARY);
        f.set_metric(vec![m]);
        vec![f]
    }
}
