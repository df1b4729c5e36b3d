//! When to checkpoint and what may be committed: small pure rules, each with its reason.

use reachwatch_checkpoint::PartitionOffset;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A checkpoint is due after `interval` of wall-clock time, or after `every_events` events
/// (`0`: by time only), whichever comes first.
pub fn checkpoint_due(
    since_last: Duration,
    interval: Duration,
    events_since: u64,
    every_events: u64,
) -> bool {
    since_last >= interval || (every_events > 0 && events_since >= every_events)
}

/// Offsets a consumer may commit now, out of those a checkpoint covers:
/// - only for partitions it owns now (a partition given up belongs to another member, whose
///   commits must not be overwritten);
/// - only forward: never an offset below one already committed for the partition (a checkpoint
///   taken before a revoke and re-assignment must not rewind what was committed since).
pub fn commit_plan(
    covered: &[PartitionOffset],
    owned: &BTreeSet<(String, i32)>,
    committed: &BTreeMap<(String, i32), i64>,
) -> Vec<PartitionOffset> {
    covered
        .iter()
        .filter(|p| {
            let key = (p.topic.clone(), p.partition);
            owned.contains(&key) && committed.get(&key).is_none_or(|&c| p.offset > c)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(topic: &str, partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    #[test]
    fn due_by_time_or_by_events() {
        let s = Duration::from_secs;
        assert!(!checkpoint_due(s(5), s(30), 10, 1000));
        assert!(checkpoint_due(s(30), s(30), 10, 1000));
        assert!(checkpoint_due(s(1), s(30), 1000, 1000));
        assert!(
            !checkpoint_due(s(1), s(30), 1_000_000, 0),
            "0 events: by time only"
        );
    }

    #[test]
    fn commits_only_owned_partitions_and_only_forward() {
        let owned: BTreeSet<(String, i32)> =
            [("auth".to_string(), 0), ("auth".to_string(), 1)].into();
        let committed: BTreeMap<(String, i32), i64> = [(("auth".to_string(), 1), 50)].into();
        let covered = [at("auth", 0, 10), at("auth", 1, 40), at("auth", 2, 99)];
        assert_eq!(
            commit_plan(&covered, &owned, &committed),
            vec![at("auth", 0, 10)],
            "partition 1 would go backwards, partition 2 is not owned"
        );
        let covered = [at("auth", 1, 51)];
        assert_eq!(commit_plan(&covered, &owned, &committed), covered.to_vec());
        assert!(
            commit_plan(&[at("auth", 1, 50)], &owned, &committed).is_empty(),
            "nothing new to commit"
        );
    }
}
