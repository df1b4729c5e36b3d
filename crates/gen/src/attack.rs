//! Attack campaign planning: every injected event is decided up front so it can be labelled.

use crate::event::*;
use crate::kinds;
use crate::topo::{Svc, Topo};
use crate::{Campaign, CampaignEvent};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::ops::{Range, RangeInclusive};

const H: i64 = 3600;

/// The campaign kinds, in label order.
pub const KINDS: [&str; 8] = [
    "stolen-service-credential",
    "nonprod-to-prod",
    "smb-fanout",
    "credential-switch-chain",
    "interactive-service-account",
    "low-and-slow",
    "flow-only",
    "failed-auth-spray",
];

/// A campaign with its raw events.
pub(crate) struct Planned {
    pub kind: &'static str,
    /// Variant of the kind (extended campaign set).
    pub variant: Option<&'static str>,
    /// The identity of flows with no authentication (a computer account).
    pub flow_ident: Option<u32>,
    pub auth: Vec<Auth>,
    pub flows: Vec<Flow>,
}

/// Picks one campaign hour per day so campaigns sharing a day do not overlap.
#[derive(Default)]
pub(crate) struct Clock {
    used: BTreeSet<(u32, i64)>,
}

impl Clock {
    /// Start (absolute seconds) of a campaign on `day`, in one of `hours` if possible, within
    /// the first 20 minutes of that hour.
    pub fn start(&mut self, rng: &mut ChaCha8Rng, day: u32, hours: &[i64]) -> i64 {
        let free: Vec<i64> = hours
            .iter()
            .copied()
            .filter(|&h| !self.used.contains(&(day, h)))
            .collect();
        let all: Vec<i64> = (0..24)
            .filter(|&h| !self.used.contains(&(day, h)))
            .collect();
        let hour = free
            .choose(rng)
            .or_else(|| all.choose(rng))
            .copied()
            .unwrap_or(12);
        self.used.insert((day, hour));
        1 + day as i64 * DAY + hour * H + rng.gen_range(0..1200)
    }
}

/// Random distinct picks from `cands` (at most `k`).
pub(crate) fn pick(rng: &mut ChaCha8Rng, cands: &[u32], k: usize) -> Vec<u32> {
    cands.choose_multiple(rng, k).copied().collect()
}

/// One random element of a non-empty list.
pub(crate) fn one<T: Copy>(rng: &mut ChaCha8Rng, v: &[T]) -> T {
    *v.choose(rng).expect("non-empty candidate list")
}

/// The lists one after the other.
pub(crate) fn concat(parts: &[&Vec<u32>]) -> Vec<u32> {
    parts.iter().flat_map(|v| v.iter().copied()).collect()
}

/// Network logons of one account from one source to several destinations in turn.
pub(crate) struct Series<'a> {
    pub ident: u32,
    pub src: u32,
    /// Candidate destinations; how many are reached is drawn from `count`.
    pub dsts: &'a [u32],
    pub count: RangeInclusive<usize>,
    /// Seconds from one logon to the next, drawn from this range.
    pub gap: Range<i64>,
    pub protocol: u8,
}

/// Network logons of one account from one source to many destinations at random offsets within
/// a window (a fan-out).
pub(crate) struct Burst<'a> {
    pub ident: u32,
    pub src: u32,
    pub dsts: &'a [u32],
    pub count: RangeInclusive<usize>,
    /// Seconds over which the logons spread.
    pub window: i64,
    pub protocol: u8,
    pub port: u16,
}

impl Planned {
    pub fn new(kind: &'static str) -> Planned {
        Planned {
            kind,
            variant: None,
            flow_ident: None,
            auth: Vec::new(),
            flows: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn auth(&mut self, t: i64, ident: u32, src: u32, dst: u32, at: u8, lt: u8, ok: bool) {
        self.auth.push(Auth {
            t,
            ident,
            src,
            dst,
            at,
            lt,
            or: LOGON,
            ok,
        });
    }

    pub fn flow(&mut self, t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) {
        self.flows.push(make_flow(t, src, dst, port, rng));
    }

    /// A Network LogOn plus one flow 1–10 s later.
    #[allow(clippy::too_many_arguments)]
    pub fn logon(
        &mut self,
        t: i64,
        id: u32,
        src: u32,
        dst: u32,
        at: u8,
        port: u16,
        rng: &mut ChaCha8Rng,
    ) {
        self.auth(t, id, src, dst, at, NETWORK, true);
        self.flow(t + rng.gen_range(1..=10), src, dst, port, rng);
    }

    /// The logons of `s` from time `t`, each with a flow on `port(destination)`.
    pub fn series(
        &mut self,
        rng: &mut ChaCha8Rng,
        mut t: i64,
        s: Series,
        port: impl Fn(u32) -> u16,
    ) {
        let k = rng.gen_range(s.count);
        for dst in pick(rng, s.dsts, k) {
            self.logon(t, s.ident, s.src, dst, s.protocol, port(dst), rng);
            t += rng.gen_range(s.gap.clone());
        }
    }

    /// The logons of `b` within its window from time `t0`.
    pub fn burst(&mut self, rng: &mut ChaCha8Rng, t0: i64, b: Burst) {
        let n = rng.gen_range(b.count);
        let mut offs: Vec<i64> = (0..n).map(|_| rng.gen_range(0..b.window)).collect();
        offs.sort_unstable();
        for (dst, o) in pick(rng, b.dsts, n).into_iter().zip(offs) {
            self.logon(t0 + o, b.ident, b.src, dst, b.protocol, b.port, rng);
        }
    }

    /// The label record; flow events carry the identity `flow_ident`.
    pub fn label(&self, id: usize, topo: &Topo, flow_ident: &str) -> Campaign {
        let mut events: Vec<CampaignEvent> = Vec::new();
        let mut identities: Vec<String> = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        let add = |v: &mut Vec<String>, s: &str| {
            if !v.iter().any(|x| x == s) {
                v.push(s.to_string());
            }
        };
        for a in &self.auth {
            let ident = &topo.idents[a.ident as usize];
            add(&mut identities, ident);
            add(&mut hosts, topo.host(a.src));
            add(&mut hosts, topo.host(a.dst));
            events.push(CampaignEvent {
                time: a.t,
                kind: "auth".into(),
                identity: ident.clone(),
                src: topo.host(a.src).into(),
                dst: topo.host(a.dst).into(),
                port: None,
            });
        }
        for f in &self.flows {
            add(&mut hosts, topo.host(f.src));
            add(&mut hosts, topo.host(f.dst));
            // A flow belongs to the auth event it follows (same src/dst), else to `flow_ident`.
            let ident = self
                .auth
                .iter()
                .rev()
                .find(|a| a.src == f.src && a.dst == f.dst && a.t <= f.t)
                .map(|a| topo.idents[a.ident as usize].clone())
                .unwrap_or_else(|| flow_ident.to_string());
            add(&mut identities, &ident);
            events.push(CampaignEvent {
                time: f.t,
                kind: "flow".into(),
                identity: ident,
                src: topo.host(f.src).into(),
                dst: topo.host(f.dst).into(),
                port: Some(f.dport),
            });
        }
        events.sort_by_key(|e| e.time);
        Campaign {
            id: format!("c{id}"),
            kind: self.kind.into(),
            variant: self.variant.map(String::from),
            identities,
            hosts,
            start: events.first().map_or(0, |e| e.time),
            end: events.last().map_or(0, |e| e.time),
            events,
        }
    }
}

/// When a campaign happens: the first of `span` consecutive days, given the identities it uses.
pub(crate) trait Schedule {
    /// The campaign's (first) day.
    fn day(&mut self, rng: &mut ChaCha8Rng, idents: &[u32], span: u32) -> u32;
}

/// A day drawn up front (the classic campaign set).
pub(crate) struct Fixed(pub u32);

impl Schedule for Fixed {
    fn day(&mut self, _: &mut ChaCha8Rng, _: &[u32], _: u32) -> u32 {
        self.0
    }
}

/// Hours of the working day.
pub(crate) const WORK_HOURS: [i64; 8] = [9, 10, 11, 12, 13, 14, 15, 16];
/// Any hour that leaves the campaign room before midnight.
pub(crate) const ANY_HOUR: [i64; 23] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];
/// Hours when few people work.
pub(crate) const ODD_HOURS: [i64; 7] = [5, 6, 19, 20, 21, 22, 23];

/// What every campaign planner works with.
pub(crate) struct Ctx<'t> {
    pub topo: &'t Topo,
    pub clock: Clock,
    /// Workstations present from the start.
    pub ws: Vec<u32>,
    /// Servers present from the start.
    pub servers: Vec<u32>,
}

impl<'t> Ctx<'t> {
    pub fn new(topo: &'t Topo) -> Ctx<'t> {
        Ctx {
            topo,
            clock: Clock::default(),
            ws: topo.base(&topo.ws),
            servers: topo.base(&topo.servers),
        }
    }

    /// Every host present from the start but `src` and the domain controllers.
    pub fn fan_out_targets(&self, src: u32) -> Vec<u32> {
        self.servers
            .iter()
            .chain(&self.ws)
            .copied()
            .filter(|&h| h != src && !self.topo.dc.contains(&h))
            .collect()
    }

    /// Candidates present from the start that `svc` neither reaches nor runs from.
    pub fn outside(&self, svc: &Svc, cands: Vec<u32>) -> Vec<u32> {
        cands
            .into_iter()
            .filter(|h| !svc.dsts.contains(h) && !svc.srcs.contains(h))
            .filter(|&h| self.topo.hosts[h as usize].since == 0)
            .collect()
    }
}

/// Plans one campaign of each kind inside detection days `learn..days`; returns the campaigns
/// with the identity to use for their unauthenticated flows.
pub(crate) fn plan(
    topo: &Topo,
    learn: u32,
    days: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<(Planned, String)> {
    let det: Vec<u32> = (learn..days).collect();
    let nd = det.len();
    // Day of each kind except low-and-slow, which spans consecutive days.
    let mut order: Vec<usize> = (0..KINDS.len())
        .filter(|&k| KINDS[k] != "low-and-slow")
        .collect();
    order.shuffle(rng);
    let off = rng.gen_range(0..nd);
    let mut day_of = [0u32; 8];
    for (i, &k) in order.iter().enumerate() {
        day_of[k] = det[(off + i) % nd];
    }
    let slow_days = rng.gen_range(4..=5).min(nd);
    let slow_start = det[rng.gen_range(0..=nd - slow_days)];

    let mut c = Ctx::new(topo);
    let mut out = Vec::new();
    // Low-and-slow first: flow-only avoids its source and destinations.
    let svc = topo.sqls.choose(rng).expect("sql accounts");
    let slow = kinds::low_and_slow(&mut c, rng, svc, slow_days, &mut Fixed(slow_start));
    let slow_src = slow.auth.first().map_or(u32::MAX, |a| a.src);
    let slow_dsts: Vec<u32> = slow.auth.iter().map(|a| a.dst).collect();
    out.push((slow, String::new()));

    for (k, &kind) in KINDS.iter().enumerate() {
        let when = &mut Fixed(day_of[k]);
        let p = match kind {
            "stolen-service-credential" => kinds::stolen_service_credential(&mut c, rng, when),
            "nonprod-to-prod" => kinds::nonprod_to_prod(&mut c, rng, when),
            "smb-fanout" => kinds::smb_fanout(&mut c, rng, when),
            "credential-switch-chain" => kinds::credential_switch_chain(&mut c, rng, when),
            "interactive-service-account" => kinds::interactive_service_account(&mut c, rng, when),
            "low-and-slow" => continue,
            "flow-only" => kinds::flow_only(&mut c, rng, when, slow_src, &slow_dsts),
            "failed-auth-spray" => kinds::failed_auth_spray(&mut c, rng, when),
            _ => unreachable!("unknown campaign kind"),
        };
        let flow_ident = p
            .flow_ident
            .map_or_else(String::new, |i| topo.idents[i as usize].clone());
        out.push((p, flow_ident));
    }
    sort_by_start(&mut out);
    out
}

/// Label ids follow time order.
pub(crate) fn sort_by_start<T>(out: &mut [(Planned, T)]) {
    out.sort_by_key(|(p, _)| {
        let a = p.auth.iter().map(|a| a.t).min().unwrap_or(i64::MAX);
        let f = p.flows.iter().map(|f| f.t).min().unwrap_or(i64::MAX);
        a.min(f)
    });
}
