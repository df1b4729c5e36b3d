//! The extended campaign set: two variants of each original kind and the four newer kinds, each
//! placed on days where none of its identities is in another campaign or a benign change.

use crate::attack::{
    concat, one, pick, sort_by_start, Burst, Ctx, Planned, Schedule, Series, ANY_HOUR, KINDS,
    ODD_HOURS, WORK_HOURS,
};
use crate::event::*;
use crate::kinds;
use crate::topo::{Svc, Topo};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// The campaign kinds only the extended set has.
const NEWER_KINDS: [&str; 4] = [
    "machine-account-hash",
    "kubernetes-token-off-cluster",
    "new-service-on-known-edge",
    "slow-spray",
];

/// Every campaign kind of the extended set: the original eight, then the newer four.
pub const EXTENDED_KINDS: [&str; 12] = {
    let mut all = [""; 12];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < KINDS.len() {
            KINDS[i]
        } else {
            NEWER_KINDS[i - KINDS.len()]
        };
        i += 1;
    }
    all
};

/// Days of the extended set: a campaign goes where none of its identities is busy (another
/// campaign, a benign change), on the least busy such days; when there is no such day, on the
/// least busy days.
pub(crate) struct Busy {
    det: Vec<u32>,
    used: BTreeSet<(u32, u32)>,
    load: BTreeMap<u32, usize>,
}

impl Busy {
    /// Detection days `det`, nothing placed yet.
    pub fn new(det: Vec<u32>) -> Busy {
        Busy {
            det,
            used: BTreeSet::new(),
            load: BTreeMap::new(),
        }
    }

    /// Marks `ident` busy on `day`.
    fn reserve(&mut self, ident: u32, day: u32) {
        self.used.insert((ident, day));
        *self.load.entry(day).or_insert(0) += 1;
    }

    /// Whether `ident` is busy on `day`.
    fn is_busy(&self, ident: u32, day: u32) -> bool {
        self.used.contains(&(ident, day))
    }

    /// Days on which `ident` is free.
    fn free_days(&self, ident: u32) -> usize {
        self.det
            .iter()
            .filter(|&&d| !self.is_busy(ident, d))
            .count()
    }
}

impl Schedule for Busy {
    fn day(&mut self, rng: &mut ChaCha8Rng, idents: &[u32], span: u32) -> u32 {
        let span = (span.max(1) as usize).min(self.det.len());
        let starts: Vec<usize> = (0..=self.det.len() - span).collect();
        let days = |i: usize| &self.det[i..i + span];
        let free: Vec<usize> = starts
            .iter()
            .copied()
            .filter(|&i| {
                days(i)
                    .iter()
                    .all(|&d| idents.iter().all(|&id| !self.is_busy(id, d)))
            })
            .collect();
        let cands = if free.is_empty() { starts } else { free };
        let load = |i: usize| -> usize {
            days(i)
                .iter()
                .map(|d| self.load.get(d).copied().unwrap_or(0))
                .sum()
        };
        let least = cands.iter().map(|&i| load(i)).min().unwrap_or(0);
        let best: Vec<usize> = cands.into_iter().filter(|&i| load(i) == least).collect();
        let first = one(rng, &best);
        let chosen: Vec<u32> = days(first).to_vec();
        for d in chosen {
            for &id in idents {
                self.reserve(id, d);
            }
        }
        self.det[first]
    }
}

/// Of the accounts in `svcs`, one chosen at random among those free on the most days.
fn least_busy<'t>(rng: &mut ChaCha8Rng, busy: &Busy, svcs: &[&'t Svc]) -> &'t Svc {
    let most = svcs
        .iter()
        .map(|s| busy.free_days(s.ident))
        .max()
        .unwrap_or(0);
    let best: Vec<&Svc> = svcs
        .iter()
        .copied()
        .filter(|s| busy.free_days(s.ident) == most)
        .collect();
    best.choose(rng).copied().expect("service accounts")
}

/// Web and application servers present from the start that `svc` does not run from.
fn servers_besides(c: &Ctx, svc: &Svc) -> Vec<u32> {
    c.topo
        .base(&concat(&[&c.topo.web, &c.topo.app]))
        .into_iter()
        .filter(|h| !svc.srcs.contains(h))
        .collect()
}

/// Named variant of a planned campaign.
fn variant(mut p: Planned, name: &'static str) -> Planned {
    p.variant = Some(name);
    p
}

/// Plans the extended set inside detection days `learn..days`, marking in `busy` which identity
/// is in a campaign on which day.
pub(crate) fn plan(
    topo: &Topo,
    learn: u32,
    days: u32,
    rng: &mut ChaCha8Rng,
    b: &mut Busy,
) -> Vec<(Planned, String)> {
    let nd = (days - learn) as usize;
    let mut c = Ctx::new(topo);
    let mut out: Vec<Planned> = Vec::new();

    // Campaigns spanning days first, while whole runs of free days remain.
    let sql = topo.sqls.choose(rng).expect("sql accounts");
    let slow = kinds::low_and_slow(&mut c, rng, sql, 4.min(nd), b);
    let slow_src = slow.auth.first().map_or(u32::MAX, |a| a.src);
    let slow_dsts: Vec<u32> = slow.auth.iter().map(|a| a.dst).collect();
    out.push(variant(slow, "sql-account-daily"));
    out.push(kubernetes_daily(&mut c, rng, b, 4.min(nd)));

    out.push(variant(
        kinds::stolen_service_credential(&mut c, rng, b),
        "backup-or-batch-ntlm-from-workstation",
    ));
    out.push(monitoring_from_workstation(&mut c, rng, b));
    out.push(variant(
        kinds::nonprod_to_prod(&mut c, rng, b),
        "one-or-two-servers",
    ));
    out.push(three_prod_servers_over_an_hour(&mut c, rng, b));
    out.push(variant(
        kinds::smb_fanout(&mut c, rng, b),
        "workstation-ntlm-burst",
    ));
    out.push(server_fanout_kerberos(&mut c, rng, b));
    out.push(variant(
        kinds::credential_switch_chain(&mut c, rng, b),
        "person-then-service-account",
    ));
    out.push(service_account_then_admin(&mut c, rng, b));
    out.push(variant(
        kinds::interactive_service_account(&mut c, rng, b),
        "console-or-rdp",
    ));
    out.push(deploy_rdp_from_jump_host(&mut c, rng, b));
    out.push(variant(
        kinds::flow_only(&mut c, rng, b, slow_src, &slow_dsts),
        "server-winrm-smb",
    ));
    out.push(workstation_rdp_flows(&mut c, rng, b));
    out.push(variant(
        kinds::failed_auth_spray(&mut c, rng, b),
        "workstation-ntlm-burst",
    ));
    out.push(server_spray_without_success(&mut c, rng, b));
    out.push(machine_account_hash(&mut c, rng, b));
    out.push(kubernetes_token_off_cluster(&mut c, rng, b));
    out.push(new_service_on_known_edge(&mut c, rng, b, Edge::Monitoring));
    out.push(new_service_on_known_edge(&mut c, rng, b, Edge::Sql));
    out.push(slow_spray(&mut c, rng, b, Pace::Workstation));
    out.push(slow_spray(&mut c, rng, b, Pace::Server));

    let mut out: Vec<(Planned, String)> = out
        .into_iter()
        .map(|p| {
            let flow_ident = p
                .flow_ident
                .map_or_else(String::new, |i| topo.idents[i as usize].clone());
            (p, flow_ident)
        })
        .collect();
    sort_by_start(&mut out);
    out
}

/// A Kubernetes service account taking one new destination a day for `days` days, from its
/// usual node, over OAuth.
fn kubernetes_daily(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy, days: usize) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("low-and-slow");
    let sas: Vec<&Svc> = topo.k8s_sas.iter().collect();
    let sa = least_busy(rng, b, &sas);
    let src = one(rng, &topo.base(&sa.srcs));
    let cands = c.outside(
        sa,
        concat(&[&topo.app, &topo.web, &topo.fs, &topo.stg_app, &topo.dev_app]),
    );
    let dsts = pick(rng, &cands, days);
    let first = b.day(rng, &[sa.ident], days as u32);
    for (k, &dst) in dsts.iter().enumerate() {
        let t = c.clock.start(rng, first + k as u32, &ANY_HOUR);
        p.logon(t, sa.ident, src, dst, OAUTH, 443, rng);
    }
    variant(p, "kubernetes-account-daily")
}

/// An account's credential used from a workstation during working hours, towards destinations
/// the account usually reaches.
struct FromWorkstation {
    kind: &'static str,
    variant: &'static str,
    count: std::ops::RangeInclusive<usize>,
    gap: std::ops::Range<i64>,
    protocol: u8,
    port: u16,
}

fn from_workstation(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    b: &mut Busy,
    accounts: &[Svc],
    w: FromWorkstation,
) -> Planned {
    let mut p = Planned::new(w.kind);
    let svcs: Vec<&Svc> = accounts.iter().collect();
    let svc = least_busy(rng, b, &svcs);
    let src = one(rng, &c.ws);
    let day = b.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &WORK_HOURS);
    let series = Series {
        ident: svc.ident,
        src,
        dsts: &c.topo.base(&svc.dsts),
        count: w.count,
        gap: w.gap,
        protocol: w.protocol,
    };
    p.series(rng, t, series, |_| w.port);
    variant(p, w.variant)
}

/// The monitoring account used from a workstation with Kerberos, to 2–4 of the servers it
/// monitors (no protocol downgrade to give it away).
fn monitoring_from_workstation(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let w = FromWorkstation {
        kind: "stolen-service-credential",
        variant: "monitoring-kerberos-from-workstation",
        count: 2..=4,
        gap: 30..240,
        protocol: KERBEROS,
        port: 5985,
    };
    from_workstation(c, rng, b, &c.topo.monitors, w)
}

/// The non-production deploy account reaching three production web or application servers,
/// 15–25 minutes apart.
fn three_prod_servers_over_an_hour(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("nonprod-to-prod");
    let svcs: Vec<&Svc> = topo.deploy_devs.iter().collect();
    let svc = least_busy(rng, b, &svcs);
    let src = one(rng, &svc.srcs);
    let day = b.day(rng, &[svc.ident], 1);
    let mut t = c.clock.start(rng, day, &ANY_HOUR[..21]);
    for dst in pick(rng, &topo.base(&concat(&[&topo.web, &topo.app])), 3) {
        p.logon(t, svc.ident, src, dst, KERBEROS, 5985, rng);
        t += rng.gen_range(900..1500);
    }
    variant(p, "three-servers-over-an-hour")
}

/// A server's computer account logging on over SMB with Kerberos to 10–15 hosts within 25
/// minutes (a slower fan-out than the classic burst).
fn server_fanout_kerberos(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("smb-fanout");
    let src = one(rng, &topo.base(&concat(&[&topo.web, &topo.app, &topo.fs])));
    let id = topo.comp[src as usize];
    let day = b.day(rng, &[id], 1);
    let t0 = c.clock.start(rng, day, &ANY_HOUR);
    let burst = Burst {
        ident: id,
        src,
        dsts: &c.fan_out_targets(src),
        count: 10..=15,
        window: 1500,
        protocol: KERBEROS,
        port: 445,
    };
    p.burst(rng, t0, burst);
    variant(p, "server-kerberos-slower")
}

/// A backup or batch credential logs on from its usual source into a host it never reached;
/// 20–28 minutes later an administrator's credential logs on out of that host to a domain
/// controller or the backup server (the vault).
fn service_account_then_admin(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("credential-switch-chain");
    let svcs: Vec<&Svc> = topo.backups.iter().chain(&topo.batches).collect();
    let svc = least_busy(rng, b, &svcs);
    let src = svc.srcs[0];
    let mid = one(
        rng,
        &c.outside(
            svc,
            concat(&[
                &topo.web,
                &topo.app,
                &topo.dev_app,
                &topo.stg_app,
                &topo.ci,
                &topo.jump,
            ]),
        ),
    );
    let admin = topo.admins.choose(rng).expect("administrators").ident;
    let vaults: Vec<u32> = topo
        .base(&concat(&[&topo.dc, &topo.backup]))
        .into_iter()
        .filter(|&h| h != mid && h != src)
        .collect();
    let vault = one(rng, &vaults);
    let day = b.day(rng, &[svc.ident, admin], 1);
    let t0 = c.clock.start(rng, day, &WORK_HOURS);
    p.logon(t0, svc.ident, src, mid, KERBEROS, 445, rng);
    let t1 = t0 + rng.gen_range(1200..=1680);
    p.logon(t1, admin, mid, vault, KERBEROS, 445, rng);
    variant(p, "service-account-then-admin")
}

/// The deploy account logging on by remote desktop from a jump host to one of its servers, at
/// an odd hour.
fn deploy_rdp_from_jump_host(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("interactive-service-account");
    let svcs: Vec<&Svc> = topo.deploys.iter().collect();
    let svc = least_busy(rng, b, &svcs);
    let jump = one(rng, &topo.jump);
    let server = one(rng, &topo.base(&svc.dsts));
    let day = b.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &ODD_HOURS);
    p.auth(
        t,
        svc.ident,
        jump,
        server,
        NEGOTIATE,
        REMOTE_INTERACTIVE,
        true,
    );
    p.flow(t + rng.gen_range(1..=10), jump, server, 3389, rng);
    variant(p, "deploy-rdp-from-jump-host")
}

/// Remote-desktop flows with no authentication from a workstation (not an administrator's) to
/// 3–5 servers it never exchanged traffic with, within 40 minutes.
fn workstation_rdp_flows(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("flow-only");
    let admin_ws: Vec<u32> = topo.admins.iter().map(|a| a.ws).collect();
    let srcs: Vec<u32> =
        c.ws.iter()
            .copied()
            .filter(|w| !admin_ws.contains(w))
            .collect();
    let src = one(rng, if srcs.is_empty() { &c.ws } else { &srcs });
    let id = topo.comp[src as usize];
    p.flow_ident = Some(id);
    let cands: Vec<u32> = c
        .servers
        .iter()
        .copied()
        .filter(|h| {
            ![&topo.dc, &topo.jump, &topo.proxy, &topo.fs]
                .iter()
                .any(|role| role.contains(h))
        })
        .collect();
    let day = b.day(rng, &[id], 1);
    let t0 = c.clock.start(rng, day, &WORK_HOURS);
    let n = rng.gen_range(3..=5);
    let mut offs: Vec<i64> = (0..n).map(|_| rng.gen_range(0..2400)).collect();
    offs.sort_unstable();
    for (dst, o) in pick(rng, &cands, n).into_iter().zip(offs) {
        p.flow(t0 + o, src, dst, 3389, rng);
    }
    variant(p, "workstation-rdp")
}

/// A backup or batch credential failing with Kerberos against 6–8 servers from a server within
/// 8 minutes, never succeeding.
fn server_spray_without_success(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("failed-auth-spray");
    let svcs: Vec<&Svc> = topo.backups.iter().chain(&topo.batches).collect();
    let svc = least_busy(rng, b, &svcs);
    let src = one(rng, &servers_besides(c, svc));
    let day = b.day(rng, &[svc.ident], 1);
    let mut t = c.clock.start(rng, day, &ANY_HOUR);
    let cands: Vec<u32> = c
        .servers
        .iter()
        .copied()
        .filter(|&h| h != src && !topo.dc.contains(&h))
        .collect();
    let k = rng.gen_range(6..=8);
    for dst in pick(rng, &cands, k) {
        p.auth(t, svc.ident, src, dst, KERBEROS, NETWORK, false);
        p.flow(t + rng.gen_range(0..=2), src, dst, 445, rng);
        t += rng.gen_range(30..70);
    }
    variant(p, "server-kerberos-no-success")
}

/// A server's computer account (`HOST$`, its hash stolen) used from a workstation over NTLM to
/// 1–3 other servers.
fn machine_account_hash(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("machine-account-hash");
    let owner = one(
        rng,
        &topo.base(&concat(&[&topo.fs, &topo.app, &topo.web, &topo.db])),
    );
    let id = topo.comp[owner as usize];
    let src = one(rng, &c.ws);
    let day = b.day(rng, &[id], 1);
    let t = c.clock.start(rng, day, &ANY_HOUR);
    let cands: Vec<u32> = c
        .servers
        .iter()
        .copied()
        .filter(|&h| h != owner && !topo.dc.contains(&h))
        .collect();
    let series = Series {
        ident: id,
        src,
        dsts: &cands,
        count: 1..=3,
        gap: 20..120,
        protocol: NTLM,
    };
    p.series(rng, t, series, |_| 445);
    variant(p, "server-account-from-workstation")
}

/// A Kubernetes service account's token used from a workstation, over OAuth, to 1–2 of the
/// databases it reaches from the cluster.
fn kubernetes_token_off_cluster(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy) -> Planned {
    let w = FromWorkstation {
        kind: "kubernetes-token-off-cluster",
        variant: "from-workstation",
        count: 1..=2,
        gap: 30..300,
        protocol: OAUTH,
        port: 5432,
    };
    from_workstation(c, rng, b, &c.topo.k8s_sas, w)
}

/// Which daily edge gets a new service.
#[derive(Clone, Copy)]
pub(crate) enum Edge {
    /// The monitoring account's WinRM edge to a monitored server, now SMB.
    Monitoring,
    /// The SQL account's edge from an application server to its database, now SMB.
    Sql,
}

/// An identity reaching, from its usual source, a destination it reaches every day, with the
/// usual authentication; only the flows differ: a large SMB transfer (port 445) on an edge that
/// only ever carried WinRM or SQL. Only the join of authentications and flows can see it.
fn new_service_on_known_edge(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    b: &mut Busy,
    edge: Edge,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("new-service-on-known-edge");
    let (svcs, name): (Vec<&Svc>, &'static str) = match edge {
        Edge::Monitoring => (
            topo.monitors.iter().collect(),
            "monitoring-smb-on-winrm-edge",
        ),
        Edge::Sql => (topo.sqls.iter().collect(), "sql-smb-on-database-edge"),
    };
    let svc = least_busy(rng, b, &svcs);
    let src = one(rng, &topo.base(&svc.srcs));
    // Not a domain controller: computer accounts use SMB to those every hour.
    let dsts: Vec<u32> = topo
        .base(&svc.dsts)
        .into_iter()
        .filter(|h| !topo.dc.contains(h))
        .collect();
    let dst = one(rng, &dsts);
    let day = b.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &ANY_HOUR);
    p.auth(t, svc.ident, src, dst, KERBEROS, NETWORK, true);
    p.flows.push(make_heavy_flow(
        t + rng.gen_range(1..=10),
        src,
        dst,
        445,
        rng,
    ));
    variant(p, name)
}

/// How a slow spray is paced.
#[derive(Clone, Copy)]
pub(crate) enum Pace {
    /// From a workstation over NTLM, one failure every 25 minutes (± 3), 15–21 of them.
    Workstation,
    /// From a server with Kerberos, one failure every 40 minutes (± 5), 10–12 of them.
    Server,
}

/// A service credential failing against a different server each time, slowly enough that no
/// 10-minute window holds more than one failure.
fn slow_spray(c: &mut Ctx, rng: &mut ChaCha8Rng, b: &mut Busy, pace: Pace) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("slow-spray");
    let svcs: Vec<&Svc> = match pace {
        Pace::Workstation => topo
            .deploys
            .iter()
            .chain(&topo.backups)
            .chain(&topo.batches)
            .collect(),
        Pace::Server => topo
            .monitors
            .iter()
            .chain(&topo.backups)
            .chain(&topo.batches)
            .collect(),
    };
    let svc = least_busy(rng, b, &svcs);
    let src = match pace {
        Pace::Workstation => one(rng, &c.ws),
        Pace::Server => one(rng, &servers_besides(c, svc)),
    };
    let (count, gap, jitter, at, name) = match pace {
        Pace::Workstation => (rng.gen_range(15..=21), 1500, 180, NTLM, "every-25-minutes"),
        Pace::Server => (
            rng.gen_range(10..=12),
            2400,
            300,
            KERBEROS,
            "every-40-minutes",
        ),
    };
    let day = b.day(rng, &[svc.ident], 1);
    // Early enough to end the same day.
    let mut t = c.clock.start(rng, day, &[5, 6, 7, 8]);
    let cands: Vec<u32> = c
        .servers
        .iter()
        .copied()
        .filter(|&h| h != src && !topo.dc.contains(&h))
        .collect();
    for dst in pick(rng, &cands, count) {
        p.auth(t, svc.ident, src, dst, at, NETWORK, false);
        p.flow(t + rng.gen_range(0..=2), src, dst, 445, rng);
        t += gap + rng.gen_range(-jitter..=jitter);
    }
    variant(p, name)
}
