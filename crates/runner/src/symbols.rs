//! The receiving side of the symbol hand-over. A decoding thread interns names in its own table
//! and hands over, with each batch, the names it saw first since the previous one
//! ([`reachwatch_formats::symbols::take_new_names`]); the runner resolves them through the host
//! map and rewrites the events. Names cross a thread once.
//!
//! A name enters the engine's table only when an event that names it is given to the engine:
//! until then, events carry a pending mark for it ([`SymbolBridge::translate`]). An
//! authentication the engine passes over (an unknown identity while its tables are crowded) is
//! never interned, so names minted in a flood stay out of the engine's table.

use reachwatch_formats::HostMap;
use reachwatch_model::{Event, Interner, Sym};
use std::collections::HashMap;

/// Set in the index of a pending mark (a local symbol whose name is not interned yet).
const PENDING: usize = 1 << 31;

/// Whether `s` is a pending mark rather than an engine symbol.
pub fn is_pending(s: Sym) -> bool {
    s.index() & PENDING != 0
}

/// What a local symbol stands for in the engine.
#[derive(Debug)]
enum Slot {
    /// An engine symbol.
    Interned(Sym),
    /// A name (host map applied) not interned yet.
    Pending(Box<str>),
}

/// Local symbol → engine symbol, for one decoding table.
#[derive(Debug, Default)]
pub struct SymbolBridge {
    slots: Vec<Slot>,
    /// Names the host map replaced (an address named by it), by local index: the original is
    /// needed to resolve it again under another map.
    replaced: HashMap<u32, Box<str>>,
}

impl SymbolBridge {
    /// Adds the decoding table's next names (in its symbol order), pending.
    pub fn add(&mut self, names: impl IntoIterator<Item = Box<str>>, hosts: &HostMap) {
        for name in names {
            let local = self.slots.len() as u32;
            let name = self.map_host(local, name, hosts);
            self.slots.push(Slot::Pending(name));
        }
    }

    /// Resolves every name again under a new host map (new rules bring new addresses).
    pub fn rebind(&mut self, syms: &Interner, hosts: &HostMap) {
        for local in 0..self.slots.len() {
            let original = match self.replaced.remove(&(local as u32)) {
                Some(name) => name,
                None => match &self.slots[local] {
                    Slot::Interned(s) => syms.resolve(*s).into(),
                    Slot::Pending(name) => name.clone(),
                },
            };
            self.slots[local] = Slot::Pending(self.map_host(local as u32, original, hosts));
        }
    }

    /// The host map's name for `name`, noting the original when it replaces it.
    fn map_host(&mut self, local: u32, name: Box<str>, hosts: &HostMap) -> Box<str> {
        match hosts.resolve(&name) {
            Some(host) => {
                self.replaced.insert(local, name);
                host.into()
            }
            None => name,
        }
    }

    /// The engine symbols the bridge maps to.
    pub fn symbols(&self) -> impl Iterator<Item = Sym> + '_ {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Interned(s) => Some(*s),
            Slot::Pending(_) => None,
        })
    }

    /// Rewrites the engine symbols it maps to after a compaction of the engine's table.
    pub fn remap(&mut self, to: impl Fn(Sym) -> Sym) {
        for slot in &mut self.slots {
            if let Slot::Interned(s) = slot {
                *s = to(*s);
            }
        }
    }

    /// Forgets every local symbol: the decoding table starts afresh (no event may still carry a
    /// pending mark of it: see [`SymbolBridge::intern`]).
    pub fn reset(&mut self) {
        self.slots.clear();
        self.replaced.clear();
    }

    /// Rewrites `event`'s local symbols: into engine symbols where the names are interned
    /// already, else into pending marks.
    #[inline]
    pub fn translate(&self, event: &mut Event) {
        event.map_syms(|s| match &self.slots[s.index()] {
            Slot::Interned(g) => *g,
            Slot::Pending(_) => Sym::from_index(PENDING | s.index()),
        });
    }

    /// Rewrites `s` into an engine symbol if it is a pending mark whose name the engine's table
    /// holds by now; true when `s` is an engine symbol.
    pub fn settle(&mut self, s: &mut Sym, syms: &Interner) -> bool {
        match self.resolve_mark(*s, |name| syms.get(name.as_bytes())) {
            Some(g) => {
                *s = g;
                true
            }
            None => false,
        }
    }

    /// The name behind a pending mark, if it is one.
    pub fn pending_name(&self, s: Sym) -> Option<&str> {
        match self.slots.get(s.index() & !PENDING) {
            Some(Slot::Pending(name)) if is_pending(s) => Some(name),
            _ => None,
        }
    }

    /// Interns the names of `event`'s pending marks and rewrites them into engine symbols.
    pub fn intern(&mut self, event: &mut Event, syms: &mut Interner) {
        event.map_syms(|s| {
            self.resolve_mark(s, |name| Some(syms.intern(name.as_bytes())))
                .expect("interned")
        });
    }

    /// `s` as an engine symbol: itself, or the one its pending mark's slot holds, or the one
    /// `lookup` gives for its name (then held by the slot); `None` when `lookup` has none.
    fn resolve_mark(&mut self, s: Sym, lookup: impl FnOnce(&str) -> Option<Sym>) -> Option<Sym> {
        if !is_pending(s) {
            return Some(s);
        }
        let slot = &mut self.slots[s.index() & !PENDING];
        match slot {
            Slot::Interned(g) => Some(*g),
            Slot::Pending(name) => {
                let g = lookup(name)?;
                *slot = Slot::Interned(g);
                Some(g)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reachwatch_formats::symbols::take_new_names;
    use reachwatch_model::FlowEvent;

    fn flow(src: Sym, dst: Sym) -> Event {
        Event::Flow(FlowEvent {
            time: 1,
            duration: 0,
            src,
            dst,
            src_port: 1234,
            dst_port: 445,
            protocol: 6,
            packets: 1,
            bytes: 1,
        })
    }

    fn ends(e: &Event) -> (Sym, Sym) {
        match e {
            Event::Flow(f) => (f.src, f.dst),
            _ => unreachable!(),
        }
    }

    /// Translates, then interns what is pending: the event as the engine gets it.
    fn cross(bridge: &mut SymbolBridge, mut e: Event, global: &mut Interner) -> Event {
        bridge.translate(&mut e);
        bridge.intern(&mut e, global);
        e
    }

    #[test]
    fn events_cross_to_the_engine_table_with_addresses_resolved() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let other = global.intern(b"already-there");
        let hosts = HostMap::layered([("10.0.0.5", "db01")], None);
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;

        let e = flow(local.intern(b"C17"), local.intern(b"10.0.0.5"));
        bridge.add(take_new_names(&local, &mut sent), &hosts);
        let (src, dst) = ends(&cross(&mut bridge, e, &mut global));
        assert_eq!(global.resolve(src), "C17");
        assert_eq!(global.resolve(dst), "db01");
        assert_ne!(src, other);

        // Names already handed over are not sent again; a new one is.
        let e = flow(local.intern(b"10.0.0.5"), local.intern(b"C9"));
        let names = take_new_names(&local, &mut sent);
        assert_eq!(names, vec![Box::from("C9")]);
        bridge.add(names, &hosts);
        let e = cross(&mut bridge, e, &mut global);
        assert_eq!(global.resolve(ends(&e).0), "db01");
        assert_eq!(global.resolve(ends(&e).1), "C9");
    }

    #[test]
    fn a_name_is_interned_only_when_an_event_naming_it_is_given_to_the_engine() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let known = global.intern(b"DC01");
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;
        let mut e = flow(local.intern(b"dc01"), local.intern(b"minted-7f3a"));
        bridge.add(take_new_names(&local, &mut sent), &HostMap::default());
        bridge.translate(&mut e);
        let (mut src, mut dst) = ends(&e);
        assert!(is_pending(src) && is_pending(dst), "nothing interned yet");
        assert_eq!(bridge.pending_name(dst), Some("minted-7f3a"));
        assert!(
            bridge.settle(&mut src, &global),
            "held by the engine (any case)"
        );
        assert_eq!(src, known);
        assert!(!bridge.settle(&mut dst, &global));
        assert_eq!(bridge.pending_name(dst), Some("minted-7f3a"));
        assert_eq!(global.len(), 1, "settling interns nothing");
        assert_eq!(bridge.symbols().collect::<Vec<_>>(), vec![known]);

        bridge.intern(&mut e, &mut global);
        assert_eq!(global.resolve(ends(&e).1), "minted-7f3a");
        assert_eq!(global.len(), 2);
        // Later events of the same batch find the name interned.
        let mut again = flow(local.intern(b"minted-7f3a"), local.intern(b"dc01"));
        bridge.translate(&mut again);
        assert_eq!(ends(&again), (ends(&e).1, known));
    }

    #[test]
    fn a_new_host_map_resolves_names_handed_over_before() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;
        let e = flow(local.intern(b"10.0.0.5"), local.intern(b"10.0.0.6"));
        let before = HostMap::layered([("10.0.0.5", "db01")], None);
        bridge.add(take_new_names(&local, &mut sent), &before);
        cross(&mut bridge, e, &mut global);

        // The new map names the other address and forgets the first.
        let after = HostMap::layered([("10.0.0.6", "web02")], None);
        bridge.rebind(&global, &after);
        let moved = cross(&mut bridge, e, &mut global);
        assert_eq!(global.resolve(ends(&moved).0), "10.0.0.5");
        assert_eq!(global.resolve(ends(&moved).1), "web02");

        // And back.
        bridge.rebind(&global, &before);
        let back = cross(&mut bridge, e, &mut global);
        assert_eq!(global.resolve(ends(&back).0), "db01");
        assert_eq!(global.resolve(ends(&back).1), "10.0.0.6");
    }
}
