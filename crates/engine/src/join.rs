//! The event-time join of authentications and flows on (source, destination).
//!
//! A flow belongs to the latest authentication of the same pair that started at most
//! `join_after` before it or at most `join_before` after it. A flow is decided once processing
//! time has passed `flow.time + join_before`, so every authentication that could claim it has been
//! seen; until then it waits in a time-ordered queue.

use crate::graph::FxMap;
use reachwatch_model::{FlowEvent, Sym, Ts};
use serde::{Deserialize, Serialize};
use smallvec_lite::TinyVec;
use std::collections::VecDeque;

/// Recent authentications per (source, destination), newest last.
#[derive(Default, Serialize, Deserialize)]
pub struct Join {
    recent: FxMap<(Sym, Sym), TinyVec>,
    pending: VecDeque<FlowEvent>,
    /// With every pair held, the event time before which a new pair is refused without looking
    /// for old pairs to forget (one pass per eighth of the window keeps the work per event
    /// constant under a flood of new pairs).
    next_pass: Ts,
}

impl Join {
    /// Remembers an authentication of `identity` from `src` to `dst` at `time`, keeping the
    /// newest `cap` of the pair; returns false when `max_pairs` pairs are held (after forgetting
    /// those older than `keep_after`, at most once per eighth of `keep_after`) and it is not
    /// remembered.
    pub fn auth(
        &mut self,
        (src, dst): (Sym, Sym),
        time: Ts,
        identity: Sym,
        keep_after: Ts,
        (cap, max_pairs): (usize, usize),
    ) -> bool {
        if self.recent.len() >= max_pairs && !self.recent.contains_key(&(src, dst)) {
            if time >= self.next_pass {
                self.evict(time - keep_after);
                self.next_pass = time.saturating_add((keep_after / 8).max(1));
            }
            if self.recent.len() >= max_pairs {
                return false;
            }
        }
        let v = self.recent.entry((src, dst)).or_default();
        v.retain_from(time - keep_after);
        v.push((time, identity), cap);
        true
    }

    /// Queues a flow until it can be decided. With `max_pending` flows queued, the oldest is
    /// returned to be decided at once (against the authentications seen so far).
    pub fn flow(&mut self, flow: FlowEvent, max_pending: usize) -> Option<FlowEvent> {
        self.pending.push_back(flow);
        if self.pending.len() > max_pending {
            return self.pending.pop_front();
        }
        None
    }

    /// The next queued flow that can be decided at processing time `now`.
    pub fn due(&mut self, now: Ts, join_before: Ts) -> Option<FlowEvent> {
        match self.pending.front() {
            Some(f) if f.time + join_before < now => self.pending.pop_front(),
            _ => None,
        }
    }

    /// Every queued flow (end of input).
    pub fn drain(&mut self) -> Option<FlowEvent> {
        self.pending.pop_front()
    }

    /// The identity whose authentication claims `flow`, if any.
    pub fn claim(&self, flow: &FlowEvent, join_before: Ts, join_after: Ts) -> Option<Sym> {
        let v = self.recent.get(&(flow.src, flow.dst))?;
        v.iter()
            .rev()
            .find(|(t, _)| *t <= flow.time + join_before && *t >= flow.time - join_after)
            .map(|&(_, id)| id)
    }

    /// Drops authentications older than `cutoff`.
    pub fn evict(&mut self, cutoff: Ts) {
        self.recent.retain(|_, v| {
            v.retain_from(cutoff);
            !v.is_empty()
        });
    }

    /// Entries held (authentications and queued flows).
    pub fn len(&self) -> usize {
        self.recent.values().map(TinyVec::len).sum::<usize>() + self.pending.len()
    }

    /// Estimated heap bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.recent.capacity() * (std::mem::size_of::<((Sym, Sym), TinyVec)>() + 1)
            + self.recent.values().map(TinyVec::heap_bytes).sum::<usize>()
            + self.pending.capacity() * std::mem::size_of::<FlowEvent>()
    }
}

/// A tiny vector of (time, identity) that keeps one entry inline, the common case.
mod smallvec_lite {
    use reachwatch_model::{Sym, Ts};

    /// One inline entry, more on the heap.
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    pub enum TinyVec {
        /// No entries.
        #[default]
        Empty,
        /// One entry.
        One((Ts, Sym)),
        /// Several entries, oldest first.
        Many(Vec<(Ts, Sym)>),
    }

    impl TinyVec {
        /// Adds an entry in time order (a late one goes before newer ones), keeping the newest
        /// `cap`.
        pub fn push(&mut self, e: (Ts, Sym), cap: usize) {
            *self = match std::mem::take(self) {
                TinyVec::Empty => TinyVec::One(e),
                TinyVec::One(a) if cap <= 1 => TinyVec::One(if e.0 >= a.0 { e } else { a }),
                TinyVec::One(a) if e.0 >= a.0 => TinyVec::Many(vec![a, e]),
                TinyVec::One(a) => TinyVec::Many(vec![e, a]),
                TinyVec::Many(mut v) => {
                    let at = v.partition_point(|x| x.0 <= e.0);
                    v.insert(at, e);
                    if v.len() > cap.max(1) {
                        v.remove(0);
                    }
                    TinyVec::Many(v)
                }
            };
        }

        pub fn retain_from(&mut self, cutoff: Ts) {
            match self {
                TinyVec::Empty => {}
                TinyVec::One((t, _)) => {
                    if *t < cutoff {
                        *self = TinyVec::Empty;
                    }
                }
                TinyVec::Many(v) => {
                    v.retain(|(t, _)| *t >= cutoff);
                    match v.len() {
                        0 => *self = TinyVec::Empty,
                        1 => *self = TinyVec::One(v[0]),
                        _ => {}
                    }
                }
            }
        }

        pub fn iter(&self) -> std::slice::Iter<'_, (Ts, Sym)> {
            match self {
                TinyVec::Empty => [].iter(),
                TinyVec::One(e) => std::slice::from_ref(e).iter(),
                TinyVec::Many(v) => v.iter(),
            }
        }

        pub fn len(&self) -> usize {
            self.iter().len()
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        pub fn heap_bytes(&self) -> usize {
            match self {
                TinyVec::Many(v) => v.capacity() * 16,
                _ => 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_model::Interner;

    /// An SMB flow from `src` to `dst` at `time`.
    fn flow_between(src: Sym, dst: Sym, time: Ts) -> FlowEvent {
        FlowEvent {
            time,
            duration: 0,
            src,
            dst,
            src_port: 0,
            dst_port: 445,
            protocol: 6,
            packets: 1,
            bytes: 1,
        }
    }

    #[test]
    fn with_every_pair_held_old_pairs_are_looked_for_once_per_eighth_of_the_window() {
        let mut syms = Interner::new();
        let u = syms.intern(b"u");
        let mut pair = |i: usize| {
            let s = syms.intern(format!("s{i}").as_bytes());
            (s, s)
        };
        let (keep, max) = (80_000, 4);
        let mut j = Join::default();
        for i in 0..max {
            assert!(j.auth(pair(i), i as Ts * 1_000, u, keep, (8, max)));
        }
        // Full, nothing old enough: refused, and no other pass until 10 s later.
        assert!(!j.auth(pair(10), 79_000, u, keep, (8, max)));
        // The first pair is now old enough, but the pass is not due: still refused.
        assert!(!j.auth(pair(11), 81_000, u, keep, (8, max)));
        // Due: the pass forgets the pairs older than the window and the new one is held.
        assert!(j.auth(pair(12), 89_000, u, keep, (8, max)));
        assert_eq!(j.len(), 1, "every older pair forgotten");
    }

    #[test]
    fn flows_join_the_latest_authentication_in_the_window() {
        let mut syms = Interner::new();
        let (a, b, u1, u2) = (
            syms.intern(b"A"),
            syms.intern(b"B"),
            syms.intern(b"u1"),
            syms.intern(b"u2"),
        );
        let mut j = Join::default();
        j.auth((a, b), 1_000, u1, 60_000, (8, 100));
        j.auth((a, b), 30_000, u2, 60_000, (8, 100));
        let flow = |t| flow_between(a, b, t);
        assert_eq!(j.claim(&flow(20_000), 5_000, 60_000), Some(u1));
        assert_eq!(j.claim(&flow(26_000), 5_000, 60_000), Some(u2));
        assert_eq!(j.claim(&flow(95_000), 5_000, 60_000), None);
        assert_eq!(j.claim(&flow(0), 5_000, 60_000), Some(u1));
        let mut back = flow(0);
        back.src = b;
        back.dst = a;
        assert_eq!(j.claim(&back, 5_000, 60_000), None);
        j.evict(10_000);
        assert_eq!(j.claim(&flow(20_000), 5_000, 60_000), None);
    }

    #[test]
    fn a_late_authentication_takes_its_place_in_time_order() {
        let mut syms = Interner::new();
        let (a, b, early, late, newest) = (
            syms.intern(b"A"),
            syms.intern(b"B"),
            syms.intern(b"early"),
            syms.intern(b"late"),
            syms.intern(b"newest"),
        );
        let mut j = Join::default();
        j.auth((a, b), 1_000, early, 600_000, (2, 100));
        j.auth((a, b), 200_000, newest, 600_000, (2, 100));
        // Arrives after the newest, belongs between the two.
        j.auth((a, b), 100_000, late, 600_000, (2, 100));
        let flow = |t| flow_between(a, b, t);
        assert_eq!(j.claim(&flow(150_000), 5_000, 60_000), Some(late));
        assert_eq!(j.claim(&flow(210_000), 5_000, 60_000), Some(newest));
        assert_eq!(
            j.claim(&flow(30_000), 5_000, 60_000),
            None,
            "the cap of 2 keeps the newest two; the earliest went"
        );
    }

    #[test]
    fn the_join_holds_at_most_its_caps() {
        let mut syms = Interner::new();
        let [a, b, c, u] = ["A", "B", "C", "u"].map(|n| syms.intern(n.as_bytes()));
        let mut j = Join::default();
        assert!(j.auth((a, b), 1_000, u, 60_000, (8, 2)));
        assert!(j.auth((a, c), 2_000, u, 60_000, (8, 2)));
        assert!(
            j.auth((a, b), 3_000, u, 60_000, (8, 2)),
            "a pair held takes more"
        );
        assert!(
            !j.auth((b, c), 4_000, u, 60_000, (8, 2)),
            "a third pair is not held"
        );
        assert!(
            j.auth((b, c), 70_000, u, 60_000, (8, 2)),
            "pairs too old to claim a flow make room"
        );
        assert!(j.flow(flow_between(a, b, 1), 2).is_none());
        assert!(j.flow(flow_between(a, b, 2), 2).is_none());
        let early = j.flow(flow_between(a, b, 3), 2).expect("over the cap");
        assert_eq!(early.time, 1, "the oldest is decided at once");
        assert_eq!(j.pending.len(), 2);
    }
}
