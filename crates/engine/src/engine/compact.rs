//! Compaction of the symbol table: names no state refers to any more (evicted identities and
//! hosts, forgotten edges) are dropped and the others renumbered, so that minted names cannot
//! grow it without bound. The state is walked through serde ([`mark_symbols`],
//! [`remap_symbols`]): whatever a snapshot saves takes part.

use super::{Engine, State};
use reachwatch_model::{mark_symbols, remap_symbols, Sym};

/// Names a table may hold before it is worth compacting at all.
const MIN_COMPACT: usize = 1 << 18;

impl Engine {
    /// True when the symbol table holds more than twice the names it held after its last
    /// compaction (and at least [`MIN_COMPACT`]): the caller should compact it at the next point
    /// where it holds no symbols of its own outside those it can name
    /// ([`Engine::compact_symbols`]).
    pub fn wants_compaction(&self) -> bool {
        self.st.syms.len() >= self.compact_at.max(MIN_COMPACT)
    }

    /// Drops every name neither the engine's state nor `keep` refers to and renumbers the rest;
    /// returns each old symbol's new one (`None` for a dropped name), for the caller to rewrite
    /// the symbols it holds (those in `keep`).
    pub fn compact_symbols(&mut self, keep: impl IntoIterator<Item = Sym>) -> Vec<Option<Sym>> {
        let mut syms = std::mem::take(&mut self.st.syms);
        let (bytes, mut live) = mark_symbols(syms.len(), || {
            postcard::to_allocvec(&self.st).expect("engine state serialises")
        });
        for s in keep {
            if let Some(slot) = live.get_mut(s.index()) {
                *slot = true;
            }
        }
        // The old state goes before the new one is built: memory holds one copy and the bytes.
        self.st.graph = Default::default();
        self.st.join = Default::default();
        self.st.incidents = Default::default();
        self.st.policy_incidents = Default::default();
        self.policy_verdicts = Default::default();
        let remap = syms.compact(&live);
        let st: State = remap_symbols(&remap, || postcard::from_bytes(&bytes))
            .expect("engine state reads back with every symbol it refers to kept");
        self.st = st;
        self.st.syms = syms;
        self.compact_at = 2 * self.st.syms.len();
        self.st.stats.compactions += 1;
        remap
    }
}
