//! The receiving side of the symbol hand-over. A decoding thread interns names in its own table
//! and hands over, with each batch, the names it saw first since the previous one
//! ([`reachwatch_formats::symbols::take_new_names`]); the runner resolves them through the host
//! map, interns them in the engine's table and rewrites the events. Names cross a thread once.

use reachwatch_formats::HostMap;
use reachwatch_model::{Event, Interner, Sym};
use std::collections::HashMap;

/// Local symbol → engine symbol, for one decoding table.
#[derive(Debug, Default)]
pub struct SymbolBridge {
    global: Vec<Sym>,
    /// Names the host map replaced (an address named by it), by local index: the original is
    /// needed to resolve it again under another map.
    replaced: HashMap<u32, Box<str>>,
}

impl SymbolBridge {
    /// Adds the decoding table's next names (in its symbol order).
    pub fn add(
        &mut self,
        names: impl IntoIterator<Item = Box<str>>,
        syms: &mut Interner,
        hosts: &HostMap,
    ) {
        for name in names {
            let local = self.global.len() as u32;
            let sym = self.resolve(local, name, syms, hosts);
            self.global.push(sym);
        }
    }

    /// Resolves every name again under a new host map (new rules bring new addresses).
    pub fn rebind(&mut self, syms: &mut Interner, hosts: &HostMap) {
        for local in 0..self.global.len() {
            let original = match self.replaced.remove(&(local as u32)) {
                Some(name) => name,
                None => syms.resolve(self.global[local]).into(),
            };
            self.global[local] = self.resolve(local as u32, original, syms, hosts);
        }
    }

    fn resolve(&mut self, local: u32, name: Box<str>, syms: &mut Interner, hosts: &HostMap) -> Sym {
        match hosts.resolve(&name) {
            Some(host) => {
                let sym = syms.intern(host.as_bytes());
                self.replaced.insert(local, name);
                sym
            }
            None => syms.intern(name.as_bytes()),
        }
    }

    /// The engine symbols the bridge maps to.
    pub fn symbols(&self) -> impl Iterator<Item = Sym> + '_ {
        self.global.iter().copied()
    }

    /// Rewrites the engine symbols it maps to after a compaction of the engine's table.
    pub fn remap(&mut self, to: impl Fn(Sym) -> Sym) {
        for s in &mut self.global {
            *s = to(*s);
        }
    }

    /// Forgets every local symbol: the decoding table starts afresh.
    pub fn reset(&mut self) {
        self.global.clear();
        self.replaced.clear();
    }

    /// Rewrites `event`'s local symbols into the engine's.
    #[inline]
    pub fn translate(&self, event: &mut Event) {
        event.map_syms(|s| self.global[s.index()]);
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

    #[test]
    fn events_cross_to_the_engine_table_with_addresses_resolved() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let other = global.intern(b"already-there");
        let hosts = HostMap::layered([("10.0.0.5", "db01")], None);
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;

        let mut e = flow(local.intern(b"C17"), local.intern(b"10.0.0.5"));
        bridge.add(take_new_names(&local, &mut sent), &mut global, &hosts);
        bridge.translate(&mut e);
        let (src, dst) = ends(&e);
        assert_eq!(global.resolve(src), "C17");
        assert_eq!(global.resolve(dst), "db01");
        assert_ne!(src, other);

        // Names already handed over are not sent again; a new one is.
        let mut e = flow(local.intern(b"10.0.0.5"), local.intern(b"C9"));
        let names = take_new_names(&local, &mut sent);
        assert_eq!(names, vec![Box::from("C9")]);
        bridge.add(names, &mut global, &hosts);
        bridge.translate(&mut e);
        assert_eq!(global.resolve(ends(&e).0), "db01");
        assert_eq!(global.resolve(ends(&e).1), "C9");
    }

    #[test]
    fn a_new_host_map_resolves_names_handed_over_before() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;
        let e = flow(local.intern(b"10.0.0.5"), local.intern(b"10.0.0.6"));
        let before = HostMap::layered([("10.0.0.5", "db01")], None);
        bridge.add(take_new_names(&local, &mut sent), &mut global, &before);

        // The new map names the other address and forgets the first.
        let after = HostMap::layered([("10.0.0.6", "web02")], None);
        bridge.rebind(&mut global, &after);
        let mut moved = e;
        bridge.translate(&mut moved);
        assert_eq!(global.resolve(ends(&moved).0), "10.0.0.5");
        assert_eq!(global.resolve(ends(&moved).1), "web02");

        // And back.
        bridge.rebind(&mut global, &before);
        let mut back = e;
        bridge.translate(&mut back);
        assert_eq!(global.resolve(ends(&back).0), "db01");
        assert_eq!(global.resolve(ends(&back).1), "10.0.0.6");
    }
}
