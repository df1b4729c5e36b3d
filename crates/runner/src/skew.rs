//! Time an attacker cannot move: a record far ahead of its input's time is not believed on its
//! own. It waits, as a suspect, until more records of the same input corroborate the jump; the
//! first record back at the old time refutes it, and the suspects are refused as clock skew. One
//! forward-dated record (a host with a wrong clock, or a forged one) is refused alone, and the
//! watermark keeps following the bulk of the input.

use reachwatch_model::Ts;

/// Records at the new time (the first suspect included) that make a jump believed.
pub const CORROBORATE: usize = 4;

/// Suspects held at most: beyond this many, the jump is believed (a real change of time).
pub const MAX_SUSPECTS: usize = 64;

/// What became of a record offered to the guard.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<T> {
    /// Pass these on, in order (the record itself, or suspects now believed and the record).
    Pass(Vec<T>),
    /// The record is a suspect, held for now.
    Held,
    /// The suspects were refuted by the record.
    Refute {
        /// The record, to pass on.
        pass: T,
        /// The suspects, to refuse as clock skew.
        refused: Vec<T>,
    },
}

/// One input's guard.
#[derive(Debug)]
pub struct SkewGuard<T> {
    /// A record more than this far ahead of the input's time is a suspect.
    max_jump: Ts,
    /// Latest event time believed for the input.
    time: Option<Ts>,
    /// Suspects in arrival order, with their times.
    suspects: Vec<(Ts, T)>,
}

impl<T> SkewGuard<T> {
    /// A guard for jumps beyond `max_jump` (0 turns it off).
    pub fn new(max_jump: Ts) -> SkewGuard<T> {
        SkewGuard {
            max_jump,
            time: None,
            suspects: vec![],
        }
    }

    /// Records held as suspects.
    pub fn held(&self) -> usize {
        self.suspects.len()
    }

    /// The first suspect held, if any.
    pub fn first(&self) -> Option<&T> {
        self.suspects.first().map(|(_, r)| r)
    }

    /// Offers the input's next record, at event time `t`.
    pub fn offer(&mut self, t: Ts, record: T) -> Verdict<T> {
        let Some(time) = self.time.filter(|_| self.max_jump > 0) else {
            self.time = Some(self.time.map_or(t, |m| m.max(t)));
            return Verdict::Pass(vec![record]);
        };
        let ahead = t > time.saturating_add(self.max_jump);
        if self.suspects.is_empty() {
            if ahead {
                self.suspects.push((t, record));
                return Verdict::Held;
            }
            self.time = Some(time.max(t));
            return Verdict::Pass(vec![record]);
        }
        if !ahead {
            // Back at the old time: the jump was not real.
            self.time = Some(time.max(t));
            let refused = self.suspects.drain(..).map(|(_, r)| r).collect();
            return Verdict::Refute {
                pass: record,
                refused,
            };
        }
        self.suspects.push((t, record));
        if self.suspects.len() >= CORROBORATE.min(MAX_SUSPECTS) {
            return Verdict::Pass(self.believe());
        }
        Verdict::Held
    }

    /// Believes every suspect (the input ended or went quiet with nothing to refute them).
    pub fn release(&mut self) -> Vec<T> {
        if self.suspects.is_empty() {
            return vec![];
        }
        self.believe()
    }

    fn believe(&mut self) -> Vec<T> {
        let newest = self.suspects.iter().map(|(t, _)| *t).max();
        self.time = self.time.max(newest);
        self.suspects.drain(..).map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Ts = 60_000;
    const DAY: Ts = 1440 * MIN;

    #[test]
    fn one_forward_dated_record_is_refused_alone() {
        let mut g = SkewGuard::new(60 * MIN);
        for i in 0..30 {
            assert_eq!(g.offer(i * MIN, i), Verdict::Pass(vec![i]));
        }
        assert_eq!(g.offer(30 * MIN + 2 * DAY, 99), Verdict::Held);
        assert_eq!(
            g.offer(31 * MIN, 31),
            Verdict::Refute {
                pass: 31,
                refused: vec![99]
            }
        );
        for i in 32..180 {
            assert_eq!(g.offer(i * MIN, i), Verdict::Pass(vec![i]));
        }
    }

    #[test]
    fn a_real_jump_is_believed_once_corroborated() {
        let mut g = SkewGuard::new(60 * MIN);
        g.offer(0, 0);
        let later = 3 * DAY;
        for i in 1..CORROBORATE as i64 {
            assert_eq!(g.offer(later + i * MIN, i), Verdict::Held);
        }
        let n = CORROBORATE as i64;
        assert_eq!(
            g.offer(later + n * MIN, n),
            Verdict::Pass((1..=n).collect())
        );
        // The new time holds: a record near it passes at once.
        assert_eq!(g.offer(later + (n + 1) * MIN, 77), Verdict::Pass(vec![77]));
    }

    #[test]
    fn suspects_left_at_the_end_are_released() {
        let mut g = SkewGuard::new(60 * MIN);
        g.offer(0, 0);
        assert_eq!(g.offer(DAY, 1), Verdict::Held);
        assert_eq!(g.held(), 1);
        assert_eq!(g.release(), vec![1]);
        assert_eq!(g.held(), 0);
        assert_eq!(g.offer(DAY + MIN, 2), Verdict::Pass(vec![2]));
    }

    #[test]
    fn a_guard_without_a_jump_limit_passes_everything() {
        let mut g = SkewGuard::new(0);
        g.offer(0, 0);
        assert_eq!(g.offer(100 * DAY, 1), Verdict::Pass(vec![1]));
    }
}
