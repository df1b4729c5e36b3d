//! Calibration by an identity's own history: on how many of its days did it reach something new
//! (a destination or a source)? With a prior from its peers, that rate says how surprising its
//! next novelty is: a machine identity that did the same thing every day is very surprising when
//! it changes; a person who finds a new share every day is not.

use serde::{Deserialize, Serialize};

/// Per-identity count of days with activity and days with new reach. Days are numbered from the
/// first event of the data (1-based; 0 means none yet). An identity's first day of life is not
/// counted: everything is new then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Novelty {
    /// Days with any observation (after the identity's first day).
    pub active_days: u16,
    /// Days with at least one new destination or source (after its first day).
    pub novel_days: u16,
    last_active: u16,
    last_novel: u16,
}

impl Novelty {
    /// Records an observation on `day` (1-based); `novel` when it made a new edge or source.
    pub fn record(&mut self, day: u16, novel: bool) {
        if day != self.last_active {
            self.last_active = day;
            self.active_days = self.active_days.saturating_add(1);
        }
        if novel && day != self.last_novel {
            self.last_novel = day;
            self.novel_days = self.novel_days.saturating_add(1);
        }
    }

    /// Share of days with new reach, or `None` before any counted day.
    pub fn own_rate(&self) -> Option<f64> {
        (self.active_days > 0).then(|| f64::from(self.novel_days) / f64::from(self.active_days))
    }

    /// The calibrated rate: the identity's own days, plus `prior_days` days at the `prior` rate
    /// (its peers').
    pub fn rate(&self, prior: f64, prior_days: f64) -> f64 {
        let days = f64::from(self.active_days) + prior_days;
        if days <= 0.0 {
            return prior;
        }
        (f64::from(self.novel_days) + prior_days * prior) / days
    }
}

/// Surprise, in bits, of a novelty at `rate` per day.
pub fn surprise_bits(rate: f64) -> f64 {
    -rate.clamp(1e-6, 1.0).log2()
}

/// Rate assumed when nothing is known about an identity or its peers.
pub const DEFAULT_PRIOR: f64 = 0.25;

/// Mean of rates (the prior a group gives its members); `None` for no rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateMean {
    sum: f32,
    n: u32,
}

impl RateMean {
    /// Adds one member's rate.
    pub fn add(&mut self, rate: f64) {
        self.sum += rate as f32;
        self.n += 1;
    }

    /// The mean, if any member had a rate.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| f64::from(self.sum) / f64::from(self.n))
    }

    /// Members counted.
    pub fn count(&self) -> u32 {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_counted_once_and_novel_days_only_when_new() {
        let mut n = Novelty::default();
        n.record(2, false);
        n.record(2, true);
        n.record(2, true);
        n.record(3, false);
        n.record(4, false);
        assert_eq!((n.active_days, n.novel_days), (3, 1));
        assert_eq!(n.own_rate(), Some(1.0 / 3.0));
    }

    #[test]
    fn the_prior_dominates_a_short_history_and_fades_with_a_long_one() {
        let stable_week = Novelty {
            active_days: 6,
            ..Novelty::default()
        };
        let empty = Novelty::default();
        assert_eq!(empty.rate(0.3, 2.0), 0.3);
        let r = stable_week.rate(0.2, 2.0);
        assert!((r - 0.05).abs() < 1e-9, "{r}");
        assert!(surprise_bits(r) > 4.0);
        let busy = Novelty {
            active_days: 6,
            novel_days: 5,
            ..Novelty::default()
        };
        assert!(busy.rate(0.2, 2.0) > 0.6);
        assert!(surprise_bits(busy.rate(0.2, 2.0)) < 1.0);
    }

    #[test]
    fn a_rate_mean_averages_its_members() {
        let mut m = RateMean::default();
        assert_eq!(m.mean(), None);
        m.add(0.5);
        m.add(0.0);
        assert_eq!(m.mean(), Some(0.25));
        assert_eq!(m.count(), 2);
    }
}
