//! String interning: identities and hosts become 4-byte symbols so that events and the reach graph
//! never allocate per field.
//!
//! Lookups are case-insensitive (`WS01$` and `ws01$` are one identity); the first spelling seen is the
//! one reported. Each name is stored once; the table holds only symbols.
//!
//! A table can be compacted ([`Interner::compact`]): names no state refers to any more are dropped
//! and the others renumbered. The state is found and rewritten through serde: serialising it with
//! [`mark_symbols`] notes every symbol it holds, deserialising it with [`remap_symbols`] rewrites
//! them, so every structure that is saved in a snapshot takes part without code of its own.

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::Hasher;
use std::num::NonZeroU32;

/// An interned string. Cheap to copy, hash and compare; resolve it with [`Interner::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(NonZeroU32);

/// What serialising or deserialising a symbol does besides (for a compaction).
enum Hook {
    /// Note every symbol serialised (index → seen).
    Mark(Vec<bool>),
    /// Rewrite every symbol deserialised (old index → new symbol).
    Remap(Vec<Option<Sym>>),
}

thread_local! {
    static HOOK: std::cell::RefCell<Option<Hook>> = const { std::cell::RefCell::new(None) };
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HOOK.with(|h| {
            if let Some(Hook::Mark(seen)) = &mut *h.borrow_mut() {
                if let Some(slot) = seen.get_mut(self.index()) {
                    *slot = true;
                }
            }
        });
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let sym = Sym(NonZeroU32::deserialize(d)?);
        HOOK.with(|h| match &*h.borrow() {
            Some(Hook::Remap(to)) => to.get(sym.index()).copied().flatten().ok_or_else(|| {
                serde::de::Error::custom(format!("symbol {} was dropped", sym.index()))
            }),
            _ => Ok(sym),
        })
    }
}

/// Runs `f` (which serialises state) and returns, for each of the first `len` symbols, whether
/// `f` serialised it.
pub fn mark_symbols<T>(len: usize, f: impl FnOnce() -> T) -> (T, Vec<bool>) {
    HOOK.with(|h| *h.borrow_mut() = Some(Hook::Mark(vec![false; len])));
    let out = f();
    let marks = HOOK.with(|h| match h.borrow_mut().take() {
        Some(Hook::Mark(m)) => m,
        _ => vec![],
    });
    (out, marks)
}

/// Runs `f` (which deserialises state) with every symbol rewritten through `remap` (from
/// [`Interner::compact`]); a symbol it dropped is an error.
pub fn remap_symbols<T>(remap: &[Option<Sym>], f: impl FnOnce() -> T) -> T {
    HOOK.with(|h| *h.borrow_mut() = Some(Hook::Remap(remap.to_vec())));
    let out = f();
    HOOK.with(|h| h.borrow_mut().take());
    out
}

impl Sym {
    /// Dense index of the symbol (0-based), for side tables indexed by symbol.
    #[inline]
    pub fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }

    /// The symbol with the given dense index.
    #[inline]
    pub fn from_index(index: usize) -> Sym {
        Sym(NonZeroU32::new(index as u32 + 1).expect("symbol index overflow"))
    }
}

/// Serialised as its list of names (and mode); the lookup table is rebuilt on load.
impl Serialize for Interner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.exact_only, &self.names).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (exact_only, names): (bool, Vec<Box<str>>) = Deserialize::deserialize(d)?;
        let mut i = Interner {
            exact_only,
            ..Interner::default()
        };
        for n in names {
            let before = i.len();
            i.intern(n.as_bytes());
            if i.len() == before {
                return Err(serde::de::Error::custom(format!(
                    "duplicate name `{n}` in symbol table"
                )));
            }
        }
        Ok(i)
    }
}

/// Maps strings to symbols and back. Deterministic: symbols are numbered in order of first sight.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    table: HashTable<Sym>,
    /// Canonical (first-seen) spelling of each symbol.
    names: Vec<Box<str>>,
    /// Hash of each symbol's name, so that growing or rebuilding the table hashes no string.
    hashes: Vec<u64>,
    /// Exact-match mode: no case folding (for a decoding thread's table, whose names are
    /// re-interned into a folding one).
    exact_only: bool,
}

fn hash(bytes: &[u8], fold: bool) -> u64 {
    let mut h = FxHasher::default();
    if fold {
        let mut buf = [0u8; 64];
        for chunk in bytes.chunks(64) {
            let b = &mut buf[..chunk.len()];
            b.copy_from_slice(chunk);
            b.make_ascii_lowercase();
            h.write(b);
        }
    } else {
        h.write(bytes);
    }
    h.write_usize(bytes.len());
    h.finish()
}

/// The hash a case-folding table keys `bytes` by: equal for every spelling of a name.
pub fn name_hash(bytes: &[u8]) -> u64 {
    hash(bytes, true)
}

impl Interner {
    /// An empty, case-folding interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// An interner that does not fold case: every spelling is its own symbol. Faster; for
    /// per-thread tables whose names are re-interned into a folding interner.
    pub fn exact_only() -> Self {
        Interner {
            exact_only: true,
            ..Self::default()
        }
    }

    #[inline]
    fn same(&self, sym: Sym, bytes: &[u8]) -> bool {
        let name = self.names[sym.index()].as_bytes();
        if self.exact_only {
            name == bytes
        } else {
            name.eq_ignore_ascii_case(bytes)
        }
    }

    /// The symbol for `bytes`, creating it on first sight. Invalid UTF-8 is replaced lossily.
    #[inline]
    pub fn intern(&mut self, bytes: &[u8]) -> Sym {
        let fold = !self.exact_only;
        let h = hash(bytes, fold);
        if let Some(&sym) = self.table.find(h, |&s| self.same(s, bytes)) {
            return sym;
        }
        self.insert(h, bytes)
    }

    #[cold]
    fn insert(&mut self, h: u64, bytes: &[u8]) -> Sym {
        let name = String::from_utf8_lossy(bytes).into_owned().into_boxed_str();
        self.push(name, h)
    }

    /// Adds a name not held yet, with its hash, as the next symbol.
    fn push(&mut self, name: Box<str>, h: u64) -> Sym {
        let sym = Sym::from_index(self.names.len());
        self.names.push(name);
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, sym, |&s| hashes[s.index()]);
        sym
    }

    /// The symbol for `bytes` if it was seen before.
    pub fn get(&self, bytes: &[u8]) -> Option<Sym> {
        let h = hash(bytes, !self.exact_only);
        self.table.find(h, |&s| self.same(s, bytes)).copied()
    }

    /// The canonical spelling of a symbol.
    #[inline]
    pub fn resolve(&self, sym: Sym) -> &str {
        &self.names[sym.index()]
    }

    /// Number of distinct symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Keeps the names whose `keep` flag is set (by symbol index) and drops the others;
    /// returns each old symbol's new one (`None` for a dropped name). Kept names keep their
    /// order.
    pub fn compact(&mut self, keep: &[bool]) -> Vec<Option<Sym>> {
        let kept = (0..self.names.len())
            .filter(|&i| keep.get(i).copied().unwrap_or(false))
            .count();
        let names = std::mem::replace(&mut self.names, Vec::with_capacity(kept));
        let hashes = std::mem::replace(&mut self.hashes, Vec::with_capacity(kept));
        self.table = HashTable::with_capacity(kept);
        names
            .into_iter()
            .zip(hashes)
            .enumerate()
            .map(|(i, (name, h))| {
                keep.get(i)
                    .copied()
                    .unwrap_or(false)
                    .then(|| self.push(name, h))
            })
            .collect()
    }

    /// Approximate heap bytes held (names and table).
    pub fn heap_bytes(&self) -> usize {
        let names: usize = self.names.iter().map(|n| n.len() + 24).sum();
        names + self.table.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_keeps_first_spelling() {
        let mut i = Interner::new();
        let a = i.intern(b"WS01$@DOM1");
        let b = i.intern(b"ws01$@dom1");
        let c = i.intern(b"WS02$@DOM1");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(i.resolve(b), "WS01$@DOM1");
        assert_eq!(i.len(), 2);
        assert_eq!(i.get(b"Ws01$@Dom1"), Some(a));
        assert_eq!(i.get(b"nope"), None);
        let long = "X".repeat(200);
        let l = i.intern(long.as_bytes());
        assert_eq!(i.intern(long.to_lowercase().as_bytes()), l);
    }

    #[test]
    fn exact_only_keeps_case_variants_apart() {
        let mut i = Interner::exact_only();
        assert_ne!(i.intern(b"A"), i.intern(b"a"));
        assert_eq!(i.intern(b"A"), i.intern(b"A"));
    }

    #[test]
    fn compaction_drops_unreferenced_names_and_rewrites_the_rest() {
        let mut i = Interner::new();
        let syms: Vec<Sym> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| i.intern(n.as_bytes()))
            .collect();
        // State that refers to "b" and "d" only.
        let state = vec![(syms[1], 7u8), (syms[3], 9u8)];
        let (bytes, marks) = mark_symbols(i.len(), || serde_json::to_vec(&state).unwrap());
        assert_eq!(marks, vec![false, true, false, true]);
        let remap = i.compact(&marks);
        assert_eq!(i.len(), 2);
        assert_eq!(remap[0], None);
        let back: Vec<(Sym, u8)> =
            remap_symbols(&remap, || serde_json::from_slice(&bytes).unwrap());
        assert_eq!(i.resolve(back[0].0), "b");
        assert_eq!(i.resolve(back[1].0), "d");
        assert_eq!(back[1].1, 9);
        assert_eq!(i.get(b"a"), None);
        assert_eq!(i.intern(b"e").index(), 2, "new names follow the kept ones");
        // A state that still refers to a dropped name is refused, not rewritten wrongly.
        let dangling = serde_json::to_vec(&vec![syms[0]]).unwrap();
        let r: Result<Vec<Sym>, _> = remap_symbols(&remap, || serde_json::from_slice(&dangling));
        assert!(r.is_err());
        // Outside a compaction, symbols serialise as plain numbers.
        assert_eq!(serde_json::to_string(&syms[1]).unwrap(), "2");
    }

    #[test]
    fn symbols_are_dense_and_ordered_by_first_sight() {
        let mut i = Interner::new();
        for (n, name) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(i.intern(name.as_bytes()).index(), n);
        }
        for n in 0..10_000 {
            let s = i.intern(format!("host-{n}").as_bytes());
            assert_eq!(i.resolve(s), format!("host-{n}"));
        }
        assert_eq!(i.len(), 10_003);
    }
}
