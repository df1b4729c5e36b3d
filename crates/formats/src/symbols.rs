//! Moving decoded events between threads: a decoding thread interns names in its own table and
//! hands over, with each batch, the names it saw first since the previous one; the receiving
//! thread resolves them through the host map, interns them in its table and rewrites the events.

use crate::HostMap;
use reachwatch_model::{Event, Interner, Sym};

/// The names of `syms` interned since `*sent` (in symbol order); moves `*sent` to the end.
pub fn take_new_names(syms: &Interner, sent: &mut usize) -> Vec<Box<str>> {
    let names = (*sent..syms.len())
        .map(|i| syms.resolve(Sym::from_index(i)).into())
        .collect();
    *sent = syms.len();
    names
}

/// The receiving side: local symbol → symbol of the receiving table, names resolved through a
/// host map (an address the map knows becomes its host name).
#[derive(Debug, Default)]
pub struct SymbolBridge {
    global: Vec<Sym>,
}

impl SymbolBridge {
    /// Adds the next local names (as [`take_new_names`] gave them).
    pub fn add(
        &mut self,
        names: impl IntoIterator<Item = Box<str>>,
        syms: &mut Interner,
        hosts: Option<&HostMap>,
    ) {
        for name in names {
            let name = hosts.and_then(|h| h.resolve(&name)).unwrap_or(&name);
            self.global.push(syms.intern(name.as_bytes()));
        }
    }

    /// Rewrites `event`'s local symbols into the receiving table's.
    #[inline]
    pub fn translate(&self, event: &mut Event) {
        event.map_syms(|s| self.global[s.index()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn events_cross_to_the_receiving_table_with_addresses_resolved() {
        let mut local = Interner::exact_only();
        let mut global = Interner::new();
        let other = global.intern(b"already-there");
        let hosts = HostMap::layered([("10.0.0.5", "db01")], None);
        let mut bridge = SymbolBridge::default();
        let mut sent = 0;

        let mut e = flow(local.intern(b"C17"), local.intern(b"10.0.0.5"));
        bridge.add(take_new_names(&local, &mut sent), &mut global, Some(&hosts));
        bridge.translate(&mut e);
        let (src, dst) = ends(&e);
        assert_eq!(global.resolve(src), "C17");
        assert_eq!(global.resolve(dst), "db01");
        assert_ne!(src, other);

        // Names already handed over are not sent again; a new one is.
        let mut e = flow(local.intern(b"10.0.0.5"), local.intern(b"C9"));
        let names = take_new_names(&local, &mut sent);
        assert_eq!(names, vec![Box::from("C9")]);
        bridge.add(names, &mut global, Some(&hosts));
        bridge.translate(&mut e);
        assert_eq!(global.resolve(ends(&e).0), "db01");
        assert_eq!(global.resolve(ends(&e).1), "C9");
    }
}
