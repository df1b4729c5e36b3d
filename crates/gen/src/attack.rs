//! Attack campaign planning: every injected event is decided up front so it can be labelled.

use crate::event::*;
use crate::topo::{Svc, Topo};
use crate::{Campaign, CampaignEvent};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

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
    pub auth: Vec<Auth>,
    pub flows: Vec<Flow>,
}

/// Picks one campaign hour per day so campaigns sharing a day do not overlap.
struct Clock {
    used: BTreeSet<(u32, i64)>,
}

impl Clock {
    /// Start (absolute seconds) of a campaign on `day`, in one of `hours` if possible, within
    /// the first 20 minutes of that hour.
    fn start(&mut self, rng: &mut ChaCha8Rng, day: u32, hours: &[i64]) -> i64 {
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
fn pick(rng: &mut ChaCha8Rng, cands: &[u32], k: usize) -> Vec<u32> {
    cands.choose_multiple(rng, k).copied().collect()
}

fn one<T: Copy>(rng: &mut ChaCha8Rng, v: &[T]) -> T {
    *v.choose(rng).expect("non-empty candidate list")
}

fn concat(parts: &[&Vec<u32>]) -> Vec<u32> {
    parts.iter().flat_map(|v| v.iter().copied()).collect()
}

impl Planned {
    fn new(kind: &'static str) -> Planned {
        Planned {
            kind,
            auth: Vec::new(),
            flows: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn auth(&mut self, t: i64, ident: u32, src: u32, dst: u32, at: u8, lt: u8, ok: bool) {
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

    fn flow(&mut self, t: i64, src: u32, dst: u32, port: u16, rng: &mut ChaCha8Rng) {
        self.flows.push(make_flow(t, src, dst, port, rng));
    }

    /// A Network LogOn plus one flow 1–10 s later.
    #[allow(clippy::too_many_arguments)]
    fn logon(
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
            identities,
            hosts,
            start: events.first().map_or(0, |e| e.time),
            end: events.last().map_or(0, |e| e.time),
            events,
        }
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
    let mut clock = Clock {
        used: BTreeSet::new(),
    };
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

    let ws = topo.base(&topo.ws);
    let servers = topo.base(&topo.servers);
    let work_hours: Vec<i64> = (9..17).collect();
    let any_hour: Vec<i64> = (0..23).collect();
    let odd_hours: Vec<i64> = vec![5, 6, 19, 20, 21, 22, 23];
    let mut out = Vec::new();

    // Low-and-slow first: flow-only avoids its source and destinations.
    let slow_svc: &Svc = topo.sqls.choose(rng).expect("sql accounts");
    let slow_src = one(rng, &topo.base(&slow_svc.srcs));
    let outside = |svc: &Svc, cands: Vec<u32>| -> Vec<u32> {
        cands
            .into_iter()
            .filter(|h| !svc.dsts.contains(h) && !svc.srcs.contains(h))
            .filter(|&h| topo.hosts[h as usize].since == 0)
            .collect()
    };
    let slow_cands = outside(
        slow_svc,
        concat(&[
            &topo.fs,
            &topo.jump,
            &topo.backup,
            &topo.dc,
            &topo.stg_db,
            &topo.dev_db,
            &topo.batch,
            &topo.monitor,
            &topo.stg_app,
            &topo.ci,
        ]),
    );
    let slow_dsts = pick(rng, &slow_cands, slow_days);
    {
        let mut p = Planned::new("low-and-slow");
        for (k, &dst) in slow_dsts.iter().enumerate() {
            let t = clock.start(rng, slow_start + k as u32, &any_hour);
            let port = if topo.stg_db.contains(&dst) || topo.dev_db.contains(&dst) {
                1433
            } else {
                445
            };
            p.logon(t, slow_svc.ident, slow_src, dst, KERBEROS, port, rng);
        }
        out.push((p, String::new()));
    }

    for (k, &kind) in KINDS.iter().enumerate() {
        let day = day_of[k];
        let mut p = Planned::new(kind);
        let mut flow_ident = String::new();
        match kind {
            "stolen-service-credential" => {
                let svcs: Vec<&Svc> = topo.backups.iter().chain(&topo.batches).collect();
                let svc = *svcs.choose(rng).expect("service accounts");
                let src = one(rng, &ws);
                let mut t = clock.start(rng, day, &odd_hours);
                let dsts = topo.base(&svc.dsts);
                let k = rng.gen_range(1..=3);
                for dst in pick(rng, &dsts, k) {
                    p.logon(t, svc.ident, src, dst, NTLM, 445, rng);
                    t += rng.gen_range(20..120);
                }
            }
            "nonprod-to-prod" => {
                let svc = topo.deploy_devs.choose(rng).expect("deploy_dev accounts");
                let src = one(rng, &svc.srcs);
                let mut t = clock.start(rng, day, &any_hour);
                let prod = topo.base(&concat(&[&topo.app, &topo.db]));
                let k = rng.gen_range(1..=2);
                for dst in pick(rng, &prod, k) {
                    let port = if topo.db.contains(&dst) { 1433 } else { 5985 };
                    p.logon(t, svc.ident, src, dst, KERBEROS, port, rng);
                    t += rng.gen_range(30..300);
                }
            }
            "smb-fanout" => {
                let src = one(rng, &ws);
                let id = topo.comp[src as usize];
                let t0 = clock.start(rng, day, &work_hours);
                let cands: Vec<u32> = servers
                    .iter()
                    .chain(&ws)
                    .copied()
                    .filter(|&h| h != src && !topo.dc.contains(&h))
                    .collect();
                let n = rng.gen_range(20..=30);
                let mut offs: Vec<i64> = (0..n).map(|_| rng.gen_range(0..600)).collect();
                offs.sort_unstable();
                for (dst, o) in pick(rng, &cands, n).into_iter().zip(offs) {
                    p.logon(t0 + o, id, src, dst, NTLM, 445, rng);
                }
            }
            "credential-switch-chain" => {
                let hi = rng.gen_range(0..ws.len());
                let w = ws[hi];
                let human = topo.humans[topo.ws.iter().position(|&x| x == w).unwrap_or(hi)];
                let svc = topo.sqls.choose(rng).expect("sql accounts");
                let bs = outside(
                    svc,
                    concat(&[&topo.web, &topo.stg_web, &topo.stg_app, &topo.dev_app]),
                );
                let b = one(rng, &bs);
                let ds: Vec<u32> = outside(
                    svc,
                    concat(&[
                        &topo.fs,
                        &topo.jump,
                        &topo.backup,
                        &topo.stg_db,
                        &topo.dev_db,
                        &topo.dc,
                        &topo.monitor,
                        &topo.db,
                    ]),
                )
                .into_iter()
                .filter(|&h| h != b)
                .collect();
                let d = one(rng, &ds);
                let t0 = clock.start(rng, day, &work_hours);
                p.logon(t0, human, w, b, KERBEROS, 5985, rng);
                let port = if topo.db.contains(&d) { 1433 } else { 445 };
                p.logon(
                    t0 + rng.gen_range(300..=1800),
                    svc.ident,
                    b,
                    d,
                    KERBEROS,
                    port,
                    rng,
                );
            }
            "interactive-service-account" => {
                let svcs: Vec<&Svc> = topo
                    .backups
                    .iter()
                    .chain(&topo.batches)
                    .chain(&topo.monitors)
                    .collect();
                let svc = *svcs.choose(rng).expect("service accounts");
                let server = one(rng, &topo.base(&svc.dsts));
                let t = clock.start(rng, day, &any_hour);
                if rng.gen_bool(0.5) {
                    p.auth(t, svc.ident, server, server, NEGOTIATE, INTERACTIVE, true);
                } else {
                    let src = one(rng, &ws);
                    p.auth(
                        t,
                        svc.ident,
                        src,
                        server,
                        NEGOTIATE,
                        REMOTE_INTERACTIVE,
                        true,
                    );
                    p.flow(t + rng.gen_range(1..=10), src, server, 3389, rng);
                }
            }
            "low-and-slow" => continue,
            "flow-only" => {
                let apps = topo.base(&topo.app);
                let others: Vec<u32> = apps.iter().copied().filter(|&h| h != slow_src).collect();
                let src = one(rng, if others.is_empty() { &apps } else { &others });
                flow_ident = topo.idents[topo.comp[src as usize] as usize].clone();
                let cands: Vec<u32> = topo
                    .base(&concat(&[
                        &topo.web,
                        &topo.app,
                        &topo.k8s,
                        &topo.fs,
                        &topo.jump,
                        &topo.backup,
                        &topo.batch,
                        &topo.stg_web,
                        &topo.stg_app,
                        &topo.dev_app,
                        &topo.ci,
                        &topo.ci_dev,
                    ]))
                    .into_iter()
                    .filter(|&h| h != src && !(src == slow_src && slow_dsts.contains(&h)))
                    .collect();
                let t0 = clock.start(rng, day, &any_hour);
                let n = rng.gen_range(4..=6);
                let mut offs: Vec<i64> = (0..n).map(|_| rng.gen_range(0..1200)).collect();
                offs.sort_unstable();
                for (dst, o) in pick(rng, &cands, n).into_iter().zip(offs) {
                    p.flow(t0 + o, src, dst, 5985, rng);
                    p.flow(t0 + o + rng.gen_range(2..60), src, dst, 445, rng);
                }
            }
            "failed-auth-spray" => {
                let svc = topo.deploys.choose(rng).expect("deploy accounts");
                let src = one(rng, &ws);
                let mut t = clock.start(rng, day, &work_hours);
                let cands: Vec<u32> = servers.iter().copied().filter(|&h| h != src).collect();
                let k = rng.gen_range(10..=20);
                let targets = pick(rng, &cands, k);
                for &dst in &targets {
                    p.auth(t, svc.ident, src, dst, NTLM, NETWORK, false);
                    p.flow(t + rng.gen_range(0..=2), src, dst, 445, rng);
                    t += rng.gen_range(3..15);
                }
                let dst = one(rng, &targets);
                p.logon(
                    t + rng.gen_range(5..30),
                    svc.ident,
                    src,
                    dst,
                    NTLM,
                    445,
                    rng,
                );
            }
            _ => unreachable!("unknown campaign kind"),
        }
        out.push((p, flow_ident));
    }
    // Label ids follow time order.
    out.sort_by_key(|(p, _)| {
        let a = p.auth.iter().map(|a| a.t).min().unwrap_or(i64::MAX);
        let f = p.flows.iter().map(|f| f.t).min().unwrap_or(i64::MAX);
        a.min(f)
    });
    out
}
