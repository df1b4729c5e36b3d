//! The ranking a detector makes, measured as the field measures anomaly detectors on LANL: every
//! item it scored, alerted or not, ranked by score.
//!
//! - **Items.** A detector's scored observations are grouped per identity and clock hour
//!   (`floor(time / 3600 s)`). An item's score is the highest score in its group; its time is
//!   that of the first observation with that score; its hosts are the source and destination of
//!   every observation in the group. Observations that scored 0 make no item (nothing about them
//!   was unusual). For the new-terms detector every first-seen term scores 1.
//! - **Positives.** An item is positive when it [`matches`](super::matches) a campaign: it names
//!   one of the campaign's identities and one of its hosts, within an hour of one of its events.
//!   Every other item is a negative (a false alarm if it were alerted).
//! - **Average precision.** Items are ranked by score, highest first; items with equal scores
//!   are one step (no tie is broken in anyone's favour). At each distinct score `s`, precision is
//!   the share of positives among items scoring at least `s`, recall is those positives over
//!   all positives; AP = Σ (recall_s − recall_previous) × precision_s. All positives are the
//!   positive items plus one for each campaign that no item matches: a campaign never scored can
//!   never be recalled, and costs AP accordingly.
//! - **False alarms per day at a campaign recall.** A campaign's best score is the highest score
//!   of an item that matches it. At 100 % recall the threshold is the lowest best score over all
//!   campaigns (undefined when some campaign has no item); at 50 % it is the best score of the
//!   campaign at rank ⌈C/2⌉ when campaigns are sorted by best score. The false alarms are the
//!   negative items scoring at least the threshold, divided by the days after learning.

use super::{matches, Flagged, MATCH_WINDOW_SECS};
use reachwatch_gen::Campaign;
use serde::Serialize;
use std::collections::BTreeMap;

/// Seconds in the clock hour items are grouped by.
const HOUR_SECS: f64 = 3600.0;

/// One ranked item: an identity's scored observations within one clock hour.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Time, identity and hosts (what matching a campaign looks at).
    pub flagged: Flagged,
    /// The highest score of the item's observations.
    pub score: f64,
}

/// One scored observation (or alert), named.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredStep {
    /// Time (seconds), identity and hosts.
    pub flagged: Flagged,
    /// Score.
    pub score: f64,
}

/// Groups scored observations into items (see the module documentation).
pub fn items(steps: impl IntoIterator<Item = ScoredStep>) -> Vec<Scored> {
    let mut groups: BTreeMap<(String, i64), Scored> = BTreeMap::new();
    for ScoredStep { flagged, score } in steps {
        if score <= 0.0 {
            continue;
        }
        let key = (
            flagged.identity.clone(),
            (flagged.time / HOUR_SECS).floor() as i64,
        );
        let item = groups.entry(key).or_insert_with(|| Scored {
            flagged: Flagged {
                hosts: vec![],
                ..flagged.clone()
            },
            score,
        });
        if score > item.score {
            item.score = score;
            item.flagged.time = flagged.time;
        }
        for h in flagged.hosts {
            if !item.flagged.hosts.contains(&h) {
                item.flagged.hosts.push(h);
            }
        }
    }
    groups.into_values().collect()
}

/// Items from a detector's alerts, each scoring 1 (a detector that only says yes or no).
pub fn binary_items(flagged: &[Flagged]) -> Vec<Scored> {
    items(flagged.iter().map(|f| ScoredStep {
        flagged: f.clone(),
        score: 1.0,
    }))
}

/// How well a detector ranks campaigns above everything else.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ranking {
    /// Items after the learning period.
    pub items: usize,
    /// Items matching a campaign.
    pub positive_items: usize,
    /// Campaigns no item matches.
    pub unscored_campaigns: usize,
    /// Average precision; `None` without campaigns.
    pub average_precision: Option<f64>,
    /// Score threshold at which every campaign has an item; `None` when some campaign has none.
    pub full_recall_threshold: Option<f64>,
    /// Negative items per day at or above the full-recall threshold.
    pub false_per_day_at_full_recall: Option<f64>,
    /// Negative items per day at or above the score that recalls half of the campaigns.
    pub false_per_day_at_half_recall: Option<f64>,
}

/// Ranks items after `learn_end_secs` against the campaigns; `days` is the number of days after
/// learning.
pub fn rank(items: &[Scored], campaigns: &[Campaign], learn_end_secs: f64, days: f64) -> Ranking {
    let mut ranked: Vec<(f64, bool)> = vec![];
    let mut best: Vec<Option<f64>> = vec![None; campaigns.len()];
    for item in items.iter().filter(|i| i.flagged.time >= learn_end_secs) {
        let mut positive = false;
        for (c, b) in campaigns.iter().zip(best.iter_mut()) {
            if matches(&item.flagged, c, MATCH_WINDOW_SECS) {
                positive = true;
                *b = Some(b.map_or(item.score, |s: f64| s.max(item.score)));
            }
        }
        ranked.push((item.score, positive));
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positive_items = ranked.iter().filter(|(_, p)| *p).count();
    let unscored = best.iter().filter(|b| b.is_none()).count();
    let all_positives = positive_items + unscored;
    let average_precision = (!campaigns.is_empty()).then(|| {
        let (mut tp, mut fp, mut ap, mut recall) = (0usize, 0usize, 0.0, 0.0);
        let mut i = 0;
        while i < ranked.len() {
            let score = ranked[i].0;
            while i < ranked.len() && ranked[i].0 == score {
                if ranked[i].1 {
                    tp += 1;
                } else {
                    fp += 1;
                }
                i += 1;
            }
            let r = tp as f64 / all_positives as f64;
            ap += (r - recall) * tp as f64 / (tp + fp) as f64;
            recall = r;
        }
        ap
    });
    let false_at = |threshold: f64| -> f64 {
        ranked.iter().filter(|(s, p)| !p && *s >= threshold).count() as f64 / days.max(1e-9)
    };
    let full = if unscored == 0 && !campaigns.is_empty() {
        best.iter().flatten().copied().reduce(f64::min)
    } else {
        None
    };
    let mut sorted: Vec<Option<f64>> = best.clone();
    sorted.sort_by(|a, b| match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let half = campaigns
        .len()
        .div_ceil(2)
        .checked_sub(1)
        .and_then(|k| sorted.get(k).copied().flatten());
    Ranking {
        items: ranked.len(),
        positive_items,
        unscored_campaigns: unscored,
        average_precision,
        full_recall_threshold: full,
        false_per_day_at_full_recall: full.map(false_at),
        false_per_day_at_half_recall: half.map(false_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_gen::CampaignEvent;

    fn campaign(id: &str, identity: &str, host: &str, time: i64) -> Campaign {
        Campaign {
            id: id.into(),
            kind: "k".into(),
            variant: None,
            identities: vec![identity.into()],
            hosts: vec![host.into()],
            start: time,
            end: time,
            events: vec![CampaignEvent {
                time,
                kind: "auth".into(),
                identity: identity.into(),
                src: host.into(),
                dst: host.into(),
                port: None,
            }],
        }
    }

    fn item(time: f64, identity: &str, host: &str, score: f64) -> Scored {
        Scored {
            flagged: Flagged {
                time,
                identity: identity.into(),
                hosts: vec![host.into()],
            },
            score,
        }
    }

    fn step(time: f64, identity: &str, dst: &str, score: f64) -> ScoredStep {
        ScoredStep {
            flagged: Flagged {
                time,
                identity: identity.into(),
                hosts: vec!["S".into(), dst.into()],
            },
            score,
        }
    }

    #[test]
    fn observations_group_per_identity_and_clock_hour_and_zeros_make_no_item() {
        let got = items([
            step(3600.0, "a", "X", 20.0),
            step(3700.0, "a", "Y", 60.0),
            step(7199.0, "a", "Z", 0.0),
            step(7200.0, "a", "X", 10.0),
            step(3650.0, "b", "X", 0.0),
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].score, 60.0);
        assert_eq!(got[0].flagged.time, 3700.0);
        assert_eq!(got[0].flagged.hosts, ["S", "X", "Y"]);
        assert_eq!((got[1].score, got[1].flagged.time), (10.0, 7200.0));
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranking: 90 (c1) · 80 (false) · 70 (c2) · 10 (false); two positives.
        let campaigns = [
            campaign("c1", "a", "X", 1000),
            campaign("c2", "b", "Y", 50_000),
        ];
        let items = [
            item(1000.0, "a", "X", 90.0),
            item(9000.0, "z", "Q", 80.0),
            item(50_100.0, "b", "Y", 70.0),
            item(60_000.0, "z", "Q", 10.0),
        ];
        let r = rank(&items, &campaigns, 0.0, 2.0);
        // AP = 1/2 · 1 + 1/2 · 2/3.
        let ap = r.average_precision.unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-12, "{ap}");
        assert_eq!((r.items, r.positive_items, r.unscored_campaigns), (4, 2, 0));
        assert_eq!(r.full_recall_threshold, Some(70.0));
        assert_eq!(r.false_per_day_at_full_recall, Some(0.5));
        assert_eq!(r.false_per_day_at_half_recall, Some(0.0));
    }

    #[test]
    fn ties_are_one_step_and_unscored_campaigns_cost_recall() {
        let campaigns = [
            campaign("c1", "a", "X", 1000),
            campaign("c2", "never", "N", 1000),
        ];
        // A positive tied with a negative: precision 1/2 at that step.
        let items = [item(1000.0, "a", "X", 50.0), item(1000.0, "z", "Q", 50.0)];
        let r = rank(&items, &campaigns, 0.0, 1.0);
        // Two positives in all (one item, one campaign never scored): recall reaches 1/2.
        assert_eq!(r.average_precision, Some(0.25));
        assert_eq!(r.unscored_campaigns, 1);
        assert_eq!(r.full_recall_threshold, None);
        assert_eq!(r.false_per_day_at_full_recall, None);
        assert_eq!(r.false_per_day_at_half_recall, Some(1.0));
        // Items during learning are left out; no campaigns, no AP.
        let r = rank(&items, &campaigns, 5000.0, 1.0);
        assert_eq!((r.items, r.average_precision), (0, Some(0.0)));
        assert_eq!(rank(&items, &[], 0.0, 1.0).average_precision, None);
    }

    #[test]
    fn binary_items_keep_every_host_named_within_the_hour() {
        let f = |t: f64, hosts: &[&str]| Flagged {
            time: t,
            identity: "a".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        };
        let got = binary_items(&[
            f(10.0, &["S", "X"]),
            f(20.0, &["S", "Y"]),
            f(4000.0, &["Z"]),
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].flagged.hosts, ["S", "X", "Y"]);
        assert_eq!(got[0].score, 1.0);
    }
}
