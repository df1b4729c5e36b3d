//! Clustering by weighted Jaccard similarity of feature sets, deterministic and bounded.
//!
//! Each item (a host, an identity) has a set of features (the identities that reach it, the hosts
//! it reaches). A feature shared by few items says more than one shared by many: its weight is
//! `1 / degree`, and features held by more than `max_degree` items weigh nothing. Two items are
//! linked when `shared weight / union weight` reaches the threshold; clusters are the connected
//! components of the links. Candidate pairs come only from shared informative features, most
//! informative first, and at most `pair_budget` pair updates are made: the cost is bounded on any
//! graph, and the result depends only on the input (never on hash-map order).

use rustc_hash::FxHashMap;
use std::hash::Hash;

/// Parameters of a clustering.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Weighted Jaccard similarity at or above which two items are linked.
    pub threshold: f64,
    /// Features held by more items than this weigh nothing.
    pub max_degree: usize,
    /// Most pair updates made (features past the budget are left out, broadest last).
    pub pair_budget: usize,
}

/// The weight of a feature held by `degree` items.
pub fn feature_weight(degree: usize, max_degree: usize) -> f64 {
    if degree == 0 || degree > max_degree {
        0.0
    } else {
        1.0 / degree as f64
    }
}

/// Clusters `items` (each a list of features) and returns, per item, its cluster id (dense, in
/// order of each cluster's first item), or `None` for an item with no informative feature.
pub fn cluster<F: Copy + Ord + Hash>(items: &[Vec<F>], p: Params) -> Vec<Option<u32>> {
    let mut by_feature: Vec<(F, u32)> = items
        .iter()
        .enumerate()
        .flat_map(|(i, fs)| fs.iter().map(move |&f| (f, i as u32)))
        .collect();
    by_feature.sort_unstable();
    by_feature.dedup();
    // Runs of one feature, in feature order; their length is the feature's degree.
    let mut runs: Vec<&[(F, u32)]> = by_feature.chunk_by(|a, b| a.0 == b.0).collect();
    let mut total = vec![0.0f64; items.len()];
    for run in &runs {
        let w = feature_weight(run.len(), p.max_degree);
        for &(_, item) in *run {
            total[item as usize] += w;
        }
    }
    // Smallest degree first (a stable sort keeps feature order among equals).
    runs.sort_by_key(|run| run.len());
    let mut shared: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    let mut work = 0usize;
    for members in runs {
        let degree = members.len();
        let w = feature_weight(degree, p.max_degree);
        let pairs = degree * (degree - 1) / 2;
        if w == 0.0 || pairs == 0 {
            continue;
        }
        if work + pairs > p.pair_budget {
            break;
        }
        work += pairs;
        for (k, &(_, a)) in members.iter().enumerate() {
            for &(_, b) in &members[k + 1..] {
                *shared.entry((a, b)).or_insert(0.0) += w;
            }
        }
    }
    let mut links: Vec<((u32, u32), f64)> = shared.into_iter().collect();
    links.sort_unstable_by_key(|&(pair, _)| pair);
    let mut parent: Vec<u32> = (0..items.len() as u32).collect();
    for ((a, b), s) in links {
        let union = total[a as usize] + total[b as usize] - s;
        if union > 0.0 && s / union >= p.threshold {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra != rb {
                parent[ra.max(rb) as usize] = ra.min(rb);
            }
        }
    }
    let mut ids: FxHashMap<u32, u32> = FxHashMap::default();
    (0..items.len() as u32)
        .map(|i| {
            (total[i as usize] > 0.0).then(|| {
                let root = find(&mut parent, i);
                let next = ids.len() as u32;
                *ids.entry(root).or_insert(next)
            })
        })
        .collect()
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

/// Weighted Jaccard similarity of two sorted lists, leaving `without` out of both; `weight`
/// gives each element's weight.
pub fn similarity<T: Copy + Ord>(a: &[T], b: &[T], without: T, weight: impl Fn(T) -> f64) -> f64 {
    let (mut i, mut j) = (0, 0);
    let (mut shared, mut union) = (0.0, 0.0);
    while i < a.len() || j < b.len() {
        let (x, in_a, in_b) = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => (x, true, true),
            (Some(&x), Some(&y)) if x < y => (x, true, false),
            (Some(&x), None) => (x, true, false),
            (_, Some(&y)) => (y, false, true),
            (None, None) => break,
        };
        i += usize::from(in_a);
        j += usize::from(in_b);
        if x == without {
            continue;
        }
        let w = weight(x);
        union += w;
        if in_a && in_b {
            shared += w;
        }
    }
    if union > 0.0 {
        shared / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        threshold: 0.5,
        max_degree: 64,
        pair_budget: 1_000_000,
    };

    #[test]
    fn items_with_shared_rare_features_cluster_and_broad_features_do_not_link() {
        // Features 1 and 2 are shared by items 0-1 and 2-3; feature 9 by everyone.
        let items = vec![vec![1, 9], vec![1, 9], vec![2, 9], vec![2, 9], vec![9]];
        let c = cluster(&items, P);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[2], c[3]);
        assert_ne!(c[0], c[2]);
        // Item 4 shares only the broad feature: similar to no one above the threshold.
        assert!(c[4].is_some() && c[4] != c[0] && c[4] != c[2]);
        // Ids are dense, in order of first item.
        assert_eq!(c[0], Some(0));
        assert_eq!(c[2], Some(1));
    }

    #[test]
    fn features_past_the_degree_cap_weigh_nothing() {
        let items = vec![vec![7], vec![7], vec![7]];
        let capped = Params { max_degree: 2, ..P };
        assert_eq!(cluster(&items, capped), vec![None, None, None]);
        assert_eq!(cluster(&items, P), vec![Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn the_pair_budget_leaves_the_broadest_features_out() {
        // Feature 1 (2 items) fits the budget of one pair; feature 2 (3 items, 3 pairs) does not.
        let items = vec![vec![1], vec![1], vec![2], vec![2], vec![2]];
        let tight = Params {
            pair_budget: 1,
            ..P
        };
        let c = cluster(&items, tight);
        assert_eq!(c[0], c[1]);
        assert!(c[2] != c[3] && c[3] != c[4], "{c:?}");
    }

    #[test]
    fn similarity_leaves_one_element_out() {
        let w = |_: u32| 1.0;
        assert_eq!(similarity(&[1, 2, 3], &[1, 2, 3], 0, w), 1.0);
        assert_eq!(similarity(&[1, 2], &[2, 3], 0, w), 1.0 / 3.0);
        // Without 3, {1, 2} and {1, 2, 3} are the same set.
        assert_eq!(similarity(&[1, 2], &[1, 2, 3], 3, w), 1.0);
        assert_eq!(similarity::<u32>(&[], &[], 0, w), 0.0);
    }
}
