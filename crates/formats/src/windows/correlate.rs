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
    /// Address → host name, as learned.
    learned: HashMap<Sym, Sym>,
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
            self.learned.insert(*ip, *host);
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
            || (logon.meta.src_is_address && self.learned.get(&src).is_none_or(|h| *h == host))
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
        self.learned.get(&s).copied().unwrap_or(s)
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
            .map(|(a, h)| (syms.resolve(*a).to_string(), syms.resolve(*h).to_string()))
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
