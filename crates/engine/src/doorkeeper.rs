//! The doorkeeper: which names were seen once, in fixed memory.
//!
//! While the engine's tables are crowded, an identity with no profile is learned from its second
//! sighting on, so that names minted in a flood (each seen once) cost a lookup, not a profile, a
//! symbol and an eviction. The doorkeeper is a Bloom filter of the names seen once (blocked: a
//! name's bits share a cache line): a false positive (under 1 in 100 when full) lets a first
//! sighting in, as if nothing were crowded. It starts afresh once it has taken [`CAPACITY`]
//! names, so a name seen once long ago counts as unseen again.

use serde::{Deserialize, Serialize};

/// Bits of the filter (512 KiB), taken only once the tables are crowded.
const BITS: usize = 1 << 22;
/// Names taken before the filter starts afresh (16 bits per name, 3 probes in one cache line:
/// well under 1% false positives when full).
pub const CAPACITY: u32 = 1 << 18;

/// A Bloom filter of names seen once, keyed by their case-folded hash
/// ([`reachwatch_model::name_hash`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Doorkeeper {
    words: Vec<u64>,
    taken: u32,
}

/// Bits of a block: the three probes of a name fall in one cache line.
const BLOCK: usize = 512;

/// The filter's three bit positions for a name's hash, within one block (mixed again: the name
/// hash's low bits are weak).
fn probes(hash: u64) -> [usize; 3] {
    let mut z = hash.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let block = (z as usize % (BITS / BLOCK)) * BLOCK;
    let bit = |shift: u32| block + ((z >> shift) as usize % BLOCK);
    [bit(20), bit(29), bit(38)]
}

impl Doorkeeper {
    /// True the first time a name (its hash) is shown, which it notes; false once seen.
    pub fn first_sight(&mut self, hash: u64) -> bool {
        if self.words.is_empty() {
            self.words = vec![0; BITS / 64];
        }
        let bits = probes(hash);
        let set = |w: &[u64], b: usize| w[b / 64] & (1 << (b % 64)) != 0;
        if bits.iter().all(|&b| set(&self.words, b)) {
            return false;
        }
        if self.taken >= CAPACITY {
            self.words.fill(0);
            self.taken = 0;
        }
        for b in bits {
            self.words[b / 64] |= 1 << (b % 64);
        }
        self.taken += 1;
        true
    }

    /// Forgets every name and gives the memory back.
    pub fn clear(&mut self) {
        *self = Doorkeeper::default();
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_model::name_hash;

    #[test]
    fn a_name_passes_on_its_second_sighting_in_any_spelling() {
        let mut d = Doorkeeper::default();
        assert!(d.first_sight(name_hash(b"SVC-Backup$")));
        assert!(!d.first_sight(name_hash(b"svc-backup$")));
        assert!(!d.first_sight(name_hash(b"SVC-BACKUP$")));
        assert!(d.first_sight(name_hash(b"svc-backup2$")));
    }

    #[test]
    fn few_names_seen_once_pass_as_seen_and_it_starts_afresh_when_full() {
        let mut d = Doorkeeper::default();
        let name = |i: u32| name_hash(format!("M{i:016x}$@DOM1").as_bytes());
        let (mut false_positives, mut i) = (0, 0);
        while d.taken < CAPACITY {
            if !d.first_sight(name(i)) {
                false_positives += 1;
            }
            i += 1;
        }
        // Under 1% at the end of filling, less on average.
        assert!(
            false_positives < CAPACITY / 200,
            "{false_positives} false positives"
        );
        assert!(!d.first_sight(name(7)), "still remembered when full");
        assert!(d.first_sight(name(i + 1)), "a new name: afresh");
        assert!(d.first_sight(name(7)), "forgotten after starting afresh");
        assert!(d.heap_bytes() <= 512 * 1024);
        d.clear();
        assert_eq!(d.heap_bytes(), 0);
    }
}
