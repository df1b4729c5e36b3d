//! What a collection of Windows logs tells beyond each record: events are held for a short
//! look-ahead (two minutes of event time) so that
//!
//! - **addresses get names** the logs reveal (4624 `IpAddress` + `WorkstationName`, 4648
//!   `IpAddress` + `TargetServerName`, the logging host's own address in Sysmon 3 and WFP 5156,
//!   names Sysmon resolved): every address of an event released is replaced by the name last
//!   learned for it, from records up to the look-ahead later;
//! - **a 4648 and the 4624/4625 of the same logon** (at its source and at its target) count once:
//!   the logon at the target is kept, with the 4648's host as its source when it had none
//!   (`IpAddress` `-`, empty `WorkstationName`). They pair on the logon GUID when both carry one,
//!   else on identity and target host within the look-ahead, when the logon's source is unknown
//!   or is the 4648's host;
//! - **a connection reported by both ends** (Sysmon 3 on both hosts, or Sysmon and WFP) counts
//!   once, the responder's report kept (its clock is the one the logon at that host has).
//!
//! Events are released in event-time order once the newest time seen is the look-ahead past them.

use super::mapping::{Conn, Mapped};
use crate::{SkipKey, Skipped};
use reachwatch_model::{Event, Interner, Sym, Ts};
use std::collections::{BTreeMap, HashMap};

/// How long events are held, in milliseconds of event time.
pub const LOOKAHEAD: Ts = 120_000;

/// Address names remembered: once twice as many are learned, only the most recently learned
/// this many are kept (addresses minted in the logs cannot grow the table without bound).
pub const MAX_LEARNED: usize = 1 << 15;

struct Held {
    mapped: Mapped,
    line: u64,
}

/// Kind of a held authentication, for pairing.
fn logon_kind(m: &Mapped) -> Option<bool> {
    match (&m.event, m.id) {
        (Event::Auth(_), 4648) => Some(true),
        (Event::Auth(_), 4624 | 4625) => Some(false),
        _ => None,
    }
}

/// The look-ahead window over a collection's events.
#[derive(Default)]
pub struct Window {
    held: BTreeMap<(Ts, u64), Held>,
    seq: u64,
    newest: Option<Ts>,
    /// Address → (host name, when learned: a sequence number), as learned.
    learned: HashMap<Sym, (Sym, u64)>,
    /// Unpaired held 4648s and 4624/4625s by (identity, target host): their keys in `held`.
    explicit: HashMap<(Sym, Sym), Vec<(Ts, u64)>>,
    logons: HashMap<(Sym, Sym), Vec<(Ts, u64)>>,
    /// Held flows by connection.
    conns: HashMap<Conn, (Ts, u64)>,
    /// Records merged into another.
    pub skipped: Skipped,
}

fn remove(map: &mut HashMap<(Sym, Sym), Vec<(Ts, u64)>>, key: (Sym, Sym), at: (Ts, u64)) {
    if let Some(v) = map.get_mut(&key) {
        v.retain(|x| *x != at);
        if v.is_empty() {
            map.remove(&key);
        }
    }
}

impl Window {
    /// Adds one event; releases, through `out`, those the look-ahead has passed.
    pub fn push(&mut self, mapped: Mapped, line: u64, out: &mut impl FnMut(Event, u64)) {
        for (ip, host) in mapped.meta.hints.iter().flatten() {
            self.learned.insert(*ip, (*host, self.seq));
        }
        if self.learned.len() > 2 * MAX_LEARNED {
            self.forget_oldest_names();
        }
        let time = mapped.event.time();
        let key = (time, self.seq);
        self.seq += 1;
        let keep = match logon_kind(&mapped) {
            Some(explicit) => self.pair(mapped, key, explicit),
            None => self.dedupe(mapped, key),
        };
        if let Some(m) = keep {
            self.held.insert(key, Held { mapped: m, line });
        }
        self.newest = Some(self.newest.map_or(time, |n| n.max(time)));
        if let Some(newest) = self.newest {
            self.release(newest - LOOKAHEAD, out);
        }
    }

    /// Releases everything held.
    pub fn finish(&mut self, out: &mut impl FnMut(Event, u64)) {
        self.release(Ts::MAX, out);
    }

    /// A held event's key and the side it pairs on: (identity, target host).
    fn pair_key(m: &Mapped) -> Option<(Sym, Sym)> {
        match &m.event {
            Event::Auth(a) => Some((a.identity, a.dst)),
            Event::Flow(_) => None,
        }
    }

    /// Pairs a 4648 (`explicit`) or a 4624/4625 with a held partner; returns what to hold.
    fn pair(&mut self, mut m: Mapped, key: (Ts, u64), explicit: bool) -> Option<Mapped> {
        let pk = Self::pair_key(&m)?;
        let candidates = if explicit {
            &self.logons
        } else {
            &self.explicit
        };
        let partner = candidates.get(&pk).and_then(|v| {
            v.iter()
                .copied()
                .filter(|at| {
                    let other = &self.held[at].mapped;
                    match (m.meta.logon_guid, other.meta.logon_guid) {
                        (Some(a), Some(b)) => a == b,
                        _ => {
                            let (logon, exp) = if explicit { (other, &m) } else { (&m, other) };
                            (at.0 - key.0).abs() <= LOOKAHEAD && self.compatible(logon, exp)
                        }
                    }
                })
                .min_by_key(|at| (at.0 - key.0).abs())
        });
        let Some(at) = partner else {
            let map = if explicit {
                &mut self.explicit
            } else {
                &mut self.logons
            };
            map.entry(pk).or_default().push(key);
            return Some(m);
        };
        self.skipped.add(SkipKey::PairedExplicit);
        if explicit {
            remove(&mut self.logons, pk, at);
            let source = Self::source(&m);
            if let Some(held) = self.held.get_mut(&at) {
                fill_source(&mut held.mapped, source);
            }
            None
        } else {
            remove(&mut self.explicit, pk, at);
            let held = self.held.remove(&at).map(|h| h.mapped);
            if let Some(exp) = held {
                fill_source(&mut m, Self::source(&exp));
            }
            Some(m)
        }
    }

    fn source(m: &Mapped) -> Option<Sym> {
        match &m.event {
            Event::Auth(a) => a.src,
            Event::Flow(f) => Some(f.src),
        }
    }

    /// A logon at the target may be the 4648's when its source is unknown, the 4648's host, or
    /// an address not known to be another host.
    fn compatible(&self, logon: &Mapped, explicit: &Mapped) -> bool {
        let (Some(src), Some(host)) = (Self::source(logon), Self::source(explicit)) else {
            return true;
        };
        src == host
            || (logon.meta.src_is_address && self.learned.get(&src).is_none_or(|(h, _)| *h == host))
    }

    /// Drops a flow whose connection is already held (keeping the responder's report).
    fn dedupe(&mut self, m: Mapped, key: (Ts, u64)) -> Option<Mapped> {
        let Some(conn) = m.meta.conn else {
            return Some(m);
        };
        let Some(&at) = self.conns.get(&conn) else {
            self.conns.insert(conn, key);
            return Some(m);
        };
        self.skipped.add(SkipKey::OtherEnd);
        let held_responder = self.held.get(&at).is_some_and(|h| h.mapped.meta.responder);
        if m.meta.responder && !held_responder {
            self.held.remove(&at);
            self.conns.insert(conn, key);
            Some(m)
        } else {
            None
        }
    }

    fn resolve(&self, s: Sym) -> Sym {
        self.learned.get(&s).map_or(s, |(h, _)| *h)
    }

    /// Keeps the [`MAX_LEARNED`] most recently learned address names.
    fn forget_oldest_names(&mut self) {
        let mut when: Vec<u64> = self.learned.values().map(|(_, at)| *at).collect();
        let cut = when.len() - MAX_LEARNED;
        let (_, &mut oldest_kept, _) = when.select_nth_unstable(cut);
        self.learned.retain(|_, (_, at)| *at >= oldest_kept);
    }

    /// Rewrites every symbol it holds through `f` (when the table they come from is compacted).
    pub fn map_syms(&mut self, mut f: impl FnMut(Sym) -> Sym) {
        for held in self.held.values_mut() {
            held.mapped.map_syms(&mut f);
        }
        let learned = std::mem::take(&mut self.learned);
        self.learned = learned
            .into_iter()
            .map(|(ip, (host, at))| (f(ip), (f(host), at)))
            .collect();
        for pairs in [&mut self.explicit, &mut self.logons] {
            *pairs = std::mem::take(pairs)
                .into_iter()
                .map(|((a, b), at)| ((f(a), f(b)), at))
                .collect();
        }
        self.conns = std::mem::take(&mut self.conns)
            .into_iter()
            .map(|(mut c, at)| {
                c.map_syms(&mut f);
                (c, at)
            })
            .collect();
    }

    fn release(&mut self, upto: Ts, out: &mut impl FnMut(Event, u64)) {
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > upto {
                break;
            }
            let (at, held) = entry.remove_entry();
            let mut m = held.mapped;
            if let Some(pk) = Self::pair_key(&m) {
                remove(&mut self.explicit, pk, at);
                remove(&mut self.logons, pk, at);
            }
            if let Some(conn) = m.meta.conn {
                if self.conns.get(&conn) == Some(&at) {
                    self.conns.remove(&conn);
                }
            }
            match &mut m.event {
                Event::Auth(a) => {
                    a.src = a.src.map(|s| self.resolve(s));
                    a.dst = self.resolve(a.dst);
                }
                Event::Flow(f) => {
                    f.src = self.resolve(f.src);
                    f.dst = self.resolve(f.dst);
                }
            }
            out(m.event, held.line);
        }
    }

    /// Names learned for addresses, as (address, host) text (for reports and tests).
    pub fn learned(&self, syms: &Interner) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .learned
            .iter()
            .map(|(a, (h, _))| (syms.resolve(*a).to_string(), syms.resolve(*h).to_string()))
            .collect();
        v.sort();
        v
    }
}

/// Gives a logon the 4648's host as its source when it has none.
fn fill_source(logon: &mut Mapped, source: Option<Sym>) {
    if let (Event::Auth(a), Some(s)) = (&mut logon.event, source) {
        if a.src.is_none() {
            a.src = Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::mapping::Meta;
    use reachwatch_model::FlowEvent;

    /// A flow at `time` from `src` to `dst` whose record names address `ip` as `host`.
    fn flow(time: Ts, src: Sym, dst: Sym, hint: (Sym, Sym)) -> Mapped {
        Mapped {
            id: 3,
            event: Event::Flow(FlowEvent {
                time,
                duration: 0,
                src,
                dst,
                src_port: 50000,
                dst_port: 445,
                protocol: 6,
                packets: 1,
                bytes: 1,
            }),
            meta: Meta {
                hints: [Some(hint), None],
                ..Meta::default()
            },
        }
    }

    #[test]
    fn address_names_are_bounded_the_latest_kept_and_they_survive_a_compaction() {
        let mut syms = Interner::new();
        let mut w = Window::default();
        let mut out = vec![];
        let n = 2 * MAX_LEARNED + 1;
        let ip = |syms: &mut Interner, i: usize| syms.intern(format!("10.{i}").as_bytes());
        let host = |syms: &mut Interner, i: usize| syms.intern(format!("h{i}").as_bytes());
        let dst = syms.intern(b"srv");
        for i in 0..n {
            let hint = (ip(&mut syms, i), host(&mut syms, i));
            w.push(flow(i as Ts, hint.0, dst, hint), i as u64, &mut |e, _| {
                out.push(e)
            });
        }
        assert!(w.learned.len() <= MAX_LEARNED + 1, "{}", w.learned.len());
        let (first, last) = (ip(&mut syms, 0), ip(&mut syms, n - 1));
        assert_eq!(w.resolve(first), first, "the oldest name is forgotten");
        assert_eq!(w.resolve(last), host(&mut syms, n - 1));

        // Rewritten into another table, the names still resolve.
        let mut fresh = Interner::new();
        w.map_syms(|s| fresh.intern(syms.resolve(s).as_bytes()));
        let last = fresh.get(format!("10.{}", n - 1).as_bytes()).unwrap();
        assert_eq!(fresh.resolve(w.resolve(last)), format!("h{}", n - 1));
        w.finish(&mut |e, _| out.push(e));
        assert_eq!(out.len(), n);
    }
}
