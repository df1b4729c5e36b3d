//! Reorder buffer: accepts events slightly out of order and releases them in event-time order once
//! the watermark (latest time seen minus the allowed lateness) has passed them.

use reachwatch_model::{Event, Ts};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Why an event was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Older than the watermark.
    Late {
        /// The watermark at arrival.
        watermark: Ts,
    },
    /// Too far ahead of the latest time seen.
    Skew {
        /// The latest time seen at arrival.
        max_seen: Ts,
    },
}

/// Which event times a reorder buffer accepts: not before its watermark (latest time seen minus
/// the lateness), not beyond the latest time seen plus the allowed skew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    lateness: Ts,
    max_skew: Ts,
    max_seen: Option<Ts>,
}

impl Admission {
    /// Would an event at `t` be accepted now?
    pub fn check(&self, t: Ts) -> Result<(), Refusal> {
        if let Some(max) = self.max_seen {
            let watermark = max.saturating_sub(self.lateness);
            if t < watermark {
                return Err(Refusal::Late { watermark });
            }
            if t > max.saturating_add(self.max_skew) {
                return Err(Refusal::Skew { max_seen: max });
            }
        }
        Ok(())
    }

    /// Accepts an event at `t` (the latest time seen moves on), or refuses it as `check` does.
    pub fn admit(&mut self, t: Ts) -> Result<(), Refusal> {
        self.check(t)?;
        self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Held {
    time: Ts,
    seq: u64,
    event: Event,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    /// Reversed, so that the max-heap pops the earliest event.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// Event-time reorder buffer. In-order arrivals take a cheap queue; stragglers take a heap.
#[derive(Serialize, Deserialize)]
pub struct Reorder {
    lateness: Ts,
    max_skew: Ts,
    max_seen: Option<Ts>,
    seq: u64,
    in_order: VecDeque<(Ts, u64, Event)>,
    stragglers: BinaryHeap<Held>,
}

impl Reorder {
    /// A buffer with the given lateness and skew allowances.
    pub fn new(lateness: Ts, max_skew: Ts) -> Self {
        Reorder {
            lateness,
            max_skew,
            max_seen: None,
            seq: 0,
            in_order: VecDeque::new(),
            stragglers: BinaryHeap::new(),
        }
    }

    /// Changes the lateness and skew allowances (for a restored buffer with new settings).
    pub fn set_limits(&mut self, lateness: Ts, max_skew: Ts) {
        self.lateness = lateness;
        self.max_skew = max_skew;
    }

    /// Current watermark: every event before it has been released.
    pub fn watermark(&self) -> Option<Ts> {
        self.max_seen.map(|m| m.saturating_sub(self.lateness))
    }

    /// The acceptance rule as it stands now.
    fn admission(&self) -> Admission {
        Admission {
            lateness: self.lateness,
            max_skew: self.max_skew,
            max_seen: self.max_seen,
        }
    }

    /// Would an event at `t` be accepted now?
    pub fn check(&self, t: Ts) -> Result<(), Refusal> {
        self.admission().check(t)
    }

    /// Takes the time of an event that is not held (passed over): refused as [`Reorder::push`]
    /// would refuse it, else the watermark moves with it.
    pub fn advance(&mut self, t: Ts) -> Result<(), Refusal> {
        let mut admission = self.admission();
        admission.admit(t)?;
        self.max_seen = admission.max_seen;
        Ok(())
    }

    /// Buffers `event`, or refuses it as late or skewed.
    pub fn push(&mut self, event: Event) -> Result<(), Refusal> {
        let t = event.time();
        self.advance(t)?;
        self.seq += 1;
        match self.in_order.back() {
            Some(&(last, _, _)) if t < last => self.stragglers.push(Held {
                time: t,
                seq: self.seq,
                event,
            }),
            _ => self.in_order.push_back((t, self.seq, event)),
        }
        Ok(())
    }

    /// The next event due for processing: strictly before the watermark, or any event when
    /// `drain` is set (end of input).
    pub fn pop(&mut self, drain: bool) -> Option<Event> {
        let limit = if drain { Ts::MAX } else { self.watermark()? };
        let front = self.in_order.front().map(|&(t, s, _)| (t, s));
        let heap = self.stragglers.peek().map(|h| (h.time, h.seq));
        let take_heap = match (front, heap) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(f), Some(h)) => h < f,
        };
        if take_heap {
            let h = self.stragglers.peek()?;
            if h.time >= limit && !drain {
                return None;
            }
            self.stragglers.pop().map(|h| h.event)
        } else {
            let &(t, _, _) = self.in_order.front()?;
            if t >= limit && !drain {
                return None;
            }
            self.in_order.pop_front().map(|(_, _, e)| e)
        }
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.in_order.len() + self.stragglers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_model::{FlowEvent, Interner};

    fn ev(t: Ts) -> Event {
        let s = Interner::new().intern(b"h");
        Event::Flow(FlowEvent {
            time: t,
            duration: 0,
            src: s,
            dst: s,
            src_port: 0,
            dst_port: 0,
            protocol: 6,
            packets: 0,
            bytes: 0,
        })
    }

    #[test]
    fn releases_in_time_order_after_the_watermark() {
        let mut r = Reorder::new(10, 1000);
        for t in [100, 105, 98, 110, 103, 120] {
            r.push(ev(t)).unwrap();
        }
        let mut out = vec![];
        while let Some(e) = r.pop(false) {
            out.push(e.time());
        }
        assert_eq!(out, vec![98, 100, 103, 105]);
        assert_eq!(r.push(ev(109)), Err(Refusal::Late { watermark: 110 }));
        assert_eq!(r.push(ev(5000)), Err(Refusal::Skew { max_seen: 120 }));
        while let Some(e) = r.pop(true) {
            out.push(e.time());
        }
        assert_eq!(out, vec![98, 100, 103, 105, 110, 120]);
        assert_eq!(r.len(), 0);
    }
}
