//! Records that gave no event of their own, counted by what they were: Windows events reachwatch
//! does not read (by event id), and records merged into another (a 4648 paired with its logon, a
//! connection reported by both of its ends). They are not errors, so they are not dead letters.

use std::collections::BTreeMap;

/// What a record was that gave no event of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipKey {
    /// A Windows event id reachwatch does not read (`4672`, `4688`, …).
    Event(u32),
    /// A Sysmon event id other than 3 (network connection).
    Sysmon(u32),
    /// A 4648 whose target is the logging host itself (`localhost`, `-`).
    LocalExplicit,
    /// A flow whose two ends are the same host (loopback, or the host's own address).
    LocalFlow,
    /// A 4648 (explicit credentials, logged at the source) merged into the 4624/4625 of the same
    /// logon at its target.
    PairedExplicit,
    /// A connection already reported by its other end (Sysmon 3 or WFP 5156 on both hosts).
    OtherEnd,
}

impl SkipKey {
    /// The name used in summaries: the event id for plain skips, a phrase for the rest.
    pub fn name(self) -> String {
        match self {
            SkipKey::Event(id) => id.to_string(),
            SkipKey::Sysmon(id) => format!("sysmon {id}"),
            SkipKey::LocalExplicit => "4648 to the host itself".into(),
            SkipKey::LocalFlow => "flow within one host".into(),
            SkipKey::PairedExplicit => "4648 paired with its logon".into(),
            SkipKey::OtherEnd => "connection seen from both ends".into(),
        }
    }
}

/// Counts of skipped records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    counts: BTreeMap<SkipKey, u64>,
}

impl Skipped {
    /// Counts one record.
    pub fn add(&mut self, key: SkipKey) {
        *self.counts.entry(key).or_insert(0) += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Skipped) {
        for (k, v) in &other.counts {
            *self.counts.entry(*k).or_insert(0) += v;
        }
    }

    /// The count for `key`.
    pub fn get(&self, key: SkipKey) -> u64 {
        self.counts.get(&key).copied().unwrap_or(0)
    }

    /// Records counted in total.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The counts by key.
    pub fn iter(&self) -> impl Iterator<Item = (SkipKey, u64)> + '_ {
        self.counts.iter().map(|(k, v)| (*k, *v))
    }

    /// The counts by name, for summaries.
    pub fn by_name(&self) -> BTreeMap<String, u64> {
        self.iter().map(|(k, v)| (k.name(), v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_name() {
        let mut a = Skipped::default();
        a.add(SkipKey::Event(4672));
        a.add(SkipKey::Event(4672));
        let mut b = Skipped::default();
        b.add(SkipKey::Sysmon(1));
        b.add(SkipKey::PairedExplicit);
        a.merge(&b);
        assert_eq!(a.get(SkipKey::Event(4672)), 2);
        assert_eq!(a.total(), 4);
        let names = a.by_name();
        assert_eq!(names["4672"], 2);
        assert_eq!(names["sysmon 1"], 1);
        assert_eq!(names["4648 paired with its logon"], 1);
    }
}
