//! The event-time merge across inputs: a bounded queue per input (a file, or a Kafka partition);
//! the engine is fed the earliest head over all queues (ties go to the lower key: authentication
//! inputs sort first). Back-pressure: an input whose queue is full is not read from. An input with
//! nothing buffered holds the merge back while records are on their way (its end is not reached),
//! and once at its end until nothing has arrived from it for the idle timeout (wall clock; zero
//! for files, whose end is final); then the others proceed without it. The idle clock runs from
//! the last record received, not from when the queue ran empty: an input read to its end long
//! ago, whose buffered records the merge has only now used up, does not hold the merge back
//! again. Pure: the caller passes the current instant.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// One input of the merge: the index of its source (authentication sources first) and its
/// partition number (0 for a file).
pub type SourceKey = (usize, i32);

/// One buffered record: event time (ms), offset, payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<T> {
    /// Event time (ms).
    pub time: i64,
    /// Offset in its partition.
    pub offset: i64,
    /// The decoded event.
    pub value: T,
}

/// One partition's queue and its bookkeeping.
#[derive(Debug)]
struct Part<T> {
    queue: VecDeque<Item<T>>,
    /// Next offset after the last record received (or the start offset).
    received_next: Option<i64>,
    /// When the last record was received (or the partition assigned).
    last_received: Instant,
    /// The end of the partition was reached and nothing arrived since.
    at_end: bool,
    /// Records taken off the queue so far.
    taken: u64,
    /// How long the partition holds the merge back once at its end with nothing buffered.
    idle: Duration,
}

impl<T> Part<T> {
    /// At its end and silent for its idle timeout: it no longer holds the merge back.
    fn is_idle(&self, now: Instant) -> bool {
        self.at_end && now.saturating_duration_since(self.last_received) >= self.idle
    }
}

/// A stretch of the merge: records of `key` are next until the head `until` (event time,
/// partition) of the next other partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The partition to take from.
    pub key: SourceKey,
    until: Option<(i64, SourceKey)>,
}

/// The queues of every assigned partition.
#[derive(Debug)]
pub struct Merge<T> {
    parts: BTreeMap<SourceKey, Part<T>>,
    capacity: usize,
    idle: Duration,
}

impl<T> Merge<T> {
    /// Queues of `capacity` records; empty partitions hold the merge back for `idle`.
    pub fn new(capacity: usize, idle: Duration) -> Merge<T> {
        Merge {
            parts: BTreeMap::new(),
            capacity,
            idle,
        }
    }

    /// Starts tracking a newly assigned partition (a no-op when already tracked).
    pub fn assign(&mut self, key: SourceKey, now: Instant) {
        self.parts.entry(key).or_insert(Part {
            queue: VecDeque::new(),
            received_next: None,
            last_received: now,
            at_end: false,
            taken: 0,
            idle: self.idle,
        });
    }

    /// Sets how long the input holds the merge back once at its end with nothing buffered.
    pub fn set_idle(&mut self, key: SourceKey, idle: Duration) {
        if let Some(p) = self.parts.get_mut(&key) {
            p.idle = idle;
        }
    }

    /// The input with nothing buffered that holds the merge back now, if one does.
    pub fn blocked_by(&self, now: Instant) -> Option<SourceKey> {
        if self.parts.values().all(|p| p.queue.is_empty()) {
            return None;
        }
        self.parts
            .iter()
            .find(|(_, p)| p.queue.is_empty() && !p.is_idle(now))
            .map(|(&k, _)| k)
    }

    /// Stops tracking a partition; returns what it still had buffered.
    pub fn revoke(&mut self, key: SourceKey) -> Vec<Item<T>> {
        self.parts
            .remove(&key)
            .map(|p| p.queue.into())
            .unwrap_or_default()
    }

    /// Tracked partitions.
    pub fn keys(&self) -> impl Iterator<Item = SourceKey> + '_ {
        self.parts.keys().copied()
    }

    /// Records that the partition has nothing more to read: from now on, once its queue is
    /// empty, it holds the merge back only until the idle timeout has passed since its last
    /// record. (Until then, records are known to be on their way and the merge waits for them.)
    pub fn at_end(&mut self, key: SourceKey) {
        if let Some(p) = self.parts.get_mut(&key) {
            p.at_end = true;
        }
    }

    /// Whether the partition is known to be at its end.
    pub fn is_at_end(&self, key: SourceKey) -> bool {
        self.parts.get(&key).is_some_and(|p| p.at_end)
    }

    /// Queues a decoded record received at `now`.
    pub fn push(&mut self, key: SourceKey, item: Item<T>, now: Instant) {
        let Some(p) = self.parts.get_mut(&key) else {
            return;
        };
        p.received_next = Some(
            p.received_next
                .map_or(item.offset + 1, |n| n.max(item.offset + 1)),
        );
        p.queue.push_back(item);
        p.last_received = now;
        p.at_end = false;
    }

    /// Records that everything before `next` was received at `now` (the end of a batch whose
    /// last records carried no event).
    pub fn received(&mut self, key: SourceKey, next: i64, now: Instant) {
        if let Some(p) = self.parts.get_mut(&key) {
            p.received_next = Some(p.received_next.map_or(next, |n| n.max(next)));
            p.last_received = now;
            p.at_end = false;
        }
    }

    /// True when the partition's queue is at capacity: do not fetch more of it (the records
    /// wait in the client's bounded prefetch, and then on the broker).
    pub fn is_full(&self, key: SourceKey) -> bool {
        self.parts
            .get(&key)
            .is_some_and(|p| p.queue.len() >= self.capacity)
    }

    /// Records buffered for the input.
    pub fn len(&self, key: SourceKey) -> usize {
        self.parts.get(&key).map_or(0, |p| p.queue.len())
    }

    /// How many more records the partition's queue takes before it is full.
    pub fn room(&self, key: SourceKey) -> usize {
        self.parts
            .get(&key)
            .map_or(0, |p| self.capacity.saturating_sub(p.queue.len()))
    }

    /// The head of a partition (for checks before [`Merge::pop`]).
    pub fn head(&self, key: SourceKey) -> Option<&Item<T>> {
        self.parts.get(&key).and_then(|p| p.queue.front())
    }

    /// Removes a partition's head regardless of the merge (a refused record, a drain).
    pub fn pop_head(&mut self, key: SourceKey) -> Option<Item<T>> {
        let p = self.parts.get_mut(&key)?;
        let item = p.queue.pop_front()?;
        p.taken += 1;
        Some(item)
    }

    /// Records taken off the input's queue so far (by the merge or as heads).
    pub fn taken(&self, key: SourceKey) -> u64 {
        self.parts.get(&key).map_or(0, |p| p.taken)
    }

    /// Where the merge goes next: the partition whose head is next in event time, and the head
    /// of the next other partition, before which its records come first. `None` when nothing is
    /// buffered, or when a partition with nothing buffered must be waited for: while records are
    /// on their way (its end is not reached), and at its end until its idle timeout has passed;
    /// unless `all` (a final drain: empty partitions are passed over).
    pub fn next_run(&self, now: Instant, all: bool) -> Option<Run> {
        let mut best: Option<(i64, SourceKey)> = None;
        let mut second = None;
        for (&k, p) in &self.parts {
            match p.queue.front() {
                Some(h) => {
                    let head = Some((h.time, k));
                    if best.is_none_or(|b| (h.time, k) < b) {
                        second = best;
                        best = head;
                    } else if second.is_none_or(|s| (h.time, k) < s) {
                        second = head;
                    }
                }
                None if all || p.is_idle(now) => {}
                None => return None,
            }
        }
        best.map(|(_, key)| Run { key, until: second })
    }

    /// Removes the head of the run's partition if it still comes before the run's end.
    pub fn pop_in(&mut self, run: &Run) -> Option<Item<T>> {
        let p = self.parts.get_mut(&run.key)?;
        let h = p.queue.front()?;
        if run.until.is_some_and(|u| (h.time, run.key) >= u) {
            return None;
        }
        p.taken += 1;
        p.queue.pop_front()
    }

    /// The next record in event time, or `None` (see [`Merge::next_run`]).
    pub fn pop(&mut self, now: Instant) -> Option<(SourceKey, Item<T>)> {
        let run = self.next_run(now, false)?;
        let item = self.pop_in(&run)?;
        Some((run.key, item))
    }

    /// The offset from which a restart must read this partition so that nothing not yet given
    /// to the engine is lost: the oldest buffered record, else the next one to receive.
    pub fn resume_offset(&self, key: SourceKey) -> Option<i64> {
        let p = self.parts.get(&key)?;
        p.queue.front().map(|h| h.offset).or(p.received_next)
    }

    /// The next offset to receive on a partition, when known.
    pub fn position(&self, key: SourceKey) -> Option<i64> {
        self.parts.get(&key).and_then(|p| p.received_next)
    }

    /// Sets the offset a partition starts from (checkpoint or committed), before anything is
    /// received.
    pub fn set_start(&mut self, key: SourceKey, offset: i64) {
        if let Some(p) = self.parts.get_mut(&key) {
            if p.received_next.is_none() {
                p.received_next = Some(offset);
            }
        }
    }

    /// Per partition: buffered records, next offset to receive, at its end.
    pub fn describe(&self) -> Vec<(SourceKey, usize, Option<i64>, bool)> {
        self.parts
            .iter()
            .map(|(&k, p)| (k, p.queue.len(), p.received_next, p.at_end))
            .collect()
    }

    /// Records buffered over all partitions.
    pub fn buffered(&self) -> usize {
        self.parts.values().map(|p| p.queue.len()).sum()
    }

    /// Earliest wall-clock instant after `now` at which an empty partition stops holding the
    /// merge back (deadlines already passed change nothing more: a driver waiting for them
    /// would spin).
    pub fn next_idle_deadline(&self, now: Instant) -> Option<Instant> {
        self.parts
            .values()
            .filter(|p| p.queue.is_empty() && p.at_end)
            .map(|p| p.last_received + p.idle)
            .filter(|&d| d > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A merge of one partition of each of two topics, (0,0) and (1,0), assigned at `t0`.
    fn two_partitions(t0: Instant, idle: Duration) -> Merge<()> {
        let mut m = Merge::new(10, idle);
        m.assign((0, 0), t0);
        m.assign((1, 0), t0);
        m
    }

    fn item(time: i64, offset: i64) -> Item<()> {
        Item {
            time,
            offset,
            value: (),
        }
    }

    #[test]
    fn releases_the_earliest_head_and_ties_go_to_the_lower_key() {
        let t0 = Instant::now();
        let mut m = Merge::new(10, Duration::from_secs(5));
        m.assign((0, 0), t0);
        m.assign((1, 0), t0);
        m.push((1, 0), item(5, 0), t0);
        assert_eq!(m.pop(t0), None, "partition (0,0) is empty and not idle yet");
        m.push((0, 0), item(5, 0), t0);
        m.push((0, 0), item(9, 1), t0);
        let order: Vec<_> = std::iter::from_fn(|| m.pop(t0).map(|(k, i)| (k, i.time))).collect();
        // (0,0)@5 and (1,0)@5 tie: the auth source first; then (1,0) is empty and holds (0,0)@9.
        assert_eq!(order, vec![((0, 0), 5), ((1, 0), 5)]);
        assert_eq!(m.resume_offset((0, 0)), Some(1));
        assert_eq!(m.resume_offset((1, 0)), Some(1));
    }

    #[test]
    fn an_idle_partition_stops_holding_back_the_others_after_the_timeout() {
        let (t0, idle) = (Instant::now(), Duration::from_secs(5));
        let mut m = two_partitions(t0, idle);
        m.push((1, 0), item(1, 0), t0);
        assert_eq!(
            m.pop(t0 + Duration::from_secs(60)),
            None,
            "records are on their way"
        );
        m.at_end((0, 0));
        assert!(m.is_at_end((0, 0)));
        assert_eq!(m.pop(t0 + Duration::from_secs(4)), None);
        assert_eq!(m.next_idle_deadline(t0), Some(t0 + idle));
        assert_eq!(
            m.next_idle_deadline(t0 + idle),
            None,
            "a passed deadline is not a wake-up"
        );
        let (k, i) = m.pop(t0 + idle).unwrap();
        assert_eq!((k, i.time), ((1, 0), 1));
        // Data on the idle partition joins the merge again at once, and it is no longer at its end.
        m.push((0, 0), item(3, 0), t0 + idle);
        m.push((1, 0), item(2, 1), t0 + idle);
        assert!(!m.is_at_end((0, 0)));
        assert_eq!(m.pop(t0 + idle).unwrap().1.time, 2);
    }

    #[test]
    fn the_idle_clock_runs_from_the_last_record_received_not_from_the_empty_queue() {
        let (t0, idle) = (Instant::now(), Duration::from_secs(1));
        let mut m = two_partitions(t0, idle);
        // Both partitions are read to their end at t0; (0,0) ends earlier in event time.
        m.push((0, 0), item(1, 0), t0);
        m.push((1, 0), item(2, 0), t0);
        m.push((1, 0), item(3, 1), t0);
        m.at_end((0, 0));
        m.at_end((1, 0));
        // Long after, the merge uses up (0,0): nothing arrived from it for more than the idle
        // timeout, so it does not hold (1,0) back.
        let later = t0 + Duration::from_secs(10);
        let order: Vec<_> = std::iter::from_fn(|| m.pop(later).map(|(_, i)| i.time)).collect();
        assert_eq!(order, vec![1, 2, 3]);
        // A record that just arrived restarts the clock: (1,0) holds (0,0) back again.
        m.push((1, 0), item(4, 2), later);
        m.pop(later).unwrap();
        m.push((0, 0), item(5, 1), later);
        m.at_end((1, 0));
        assert_eq!(m.pop(later), None);
        assert_eq!(m.next_idle_deadline(later), Some(later + idle));
        assert_eq!(m.pop(later + idle).unwrap().1.time, 5);
    }

    #[test]
    fn a_queue_at_capacity_is_full_until_the_merge_takes_from_it() {
        let t0 = Instant::now();
        let mut m = Merge::new(3, Duration::ZERO);
        m.assign((0, 0), t0);
        for i in 0..3 {
            assert!(!m.is_full((0, 0)));
            m.push((0, 0), item(i, i), t0);
        }
        assert!(m.is_full((0, 0)));
        m.pop(t0).unwrap();
        assert!(!m.is_full((0, 0)));
        assert_eq!(m.buffered(), 2);
    }

    #[test]
    fn resume_offsets_cover_what_the_engine_has_not_seen() {
        let t0 = Instant::now();
        let mut m: Merge<()> = Merge::new(10, Duration::ZERO);
        m.assign((0, 3), t0);
        assert_eq!(m.resume_offset((0, 3)), None);
        m.set_start((0, 3), 40);
        assert_eq!(m.resume_offset((0, 3)), Some(40));
        m.received((0, 3), 41, t0); // a dead letter
        m.push((0, 3), item(1, 41), t0);
        assert_eq!(m.resume_offset((0, 3)), Some(41));
        m.pop(t0);
        assert_eq!(m.resume_offset((0, 3)), Some(42));
        assert_eq!(m.revoke((0, 3)).len(), 0);
        assert_eq!(m.resume_offset((0, 3)), None);
    }

    #[test]
    fn the_partition_that_holds_the_merge_back_is_named() {
        let (t0, idle) = (Instant::now(), Duration::from_secs(5));
        let mut m: Merge<()> = Merge::new(10, idle);
        for k in [(0, 0), (1, 0), (1, 1)] {
            m.assign(k, t0);
        }
        assert_eq!(
            m.blocked_by(t0),
            None,
            "nothing buffered: nothing held back"
        );
        m.push((0, 0), item(50, 0), t0);
        m.push((1, 1), item(60, 0), t0);
        assert_eq!(m.pop(t0), None);
        assert_eq!(m.blocked_by(t0), Some((1, 0)));
        m.at_end((1, 0));
        assert_eq!(m.blocked_by(t0 + idle), None, "idle: no longer waited for");
        assert_eq!(m.pop(t0 + idle).map(|(_, i)| i.time), Some(50));
    }
}
