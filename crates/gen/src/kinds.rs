//! The eight original campaign kinds, one planner each (the classic set, and the first variant of
//! each kind in the extended set). Each asks its [`Schedule`] for a day once it knows the
//! identities it uses.

use crate::attack::{
    concat, one, pick, Burst, Ctx, Planned, Schedule, Series, ANY_HOUR, ODD_HOURS, WORK_HOURS,
};
use crate::event::*;
use crate::topo::Svc;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A stolen backup or batch credential used from a workstation over NTLM, at an odd hour, to
/// 1–3 of the account's usual destinations.
pub(crate) fn stolen_service_credential(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("stolen-service-credential");
    let svcs: Vec<&Svc> = topo.backups.iter().chain(&topo.batches).collect();
    let svc = *svcs.choose(rng).expect("service accounts");
    let src = one(rng, &c.ws);
    let day = when.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &ODD_HOURS);
    let series = Series {
        ident: svc.ident,
        src,
        dsts: &topo.base(&svc.dsts),
        count: 1..=3,
        gap: 20..120,
        protocol: NTLM,
    };
    p.series(rng, t, series, |_| 445);
    p
}

/// The non-production deploy account reaching 1–2 production application or database servers
/// from its usual runner.
pub(crate) fn nonprod_to_prod(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("nonprod-to-prod");
    let svc = topo.deploy_devs.choose(rng).expect("deploy_dev accounts");
    let src = one(rng, &svc.srcs);
    let day = when.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &ANY_HOUR);
    let series = Series {
        ident: svc.ident,
        src,
        dsts: &topo.base(&concat(&[&topo.app, &topo.db])),
        count: 1..=2,
        gap: 30..300,
        protocol: KERBEROS,
    };
    p.series(rng, t, series, |dst| {
        if topo.db.contains(&dst) {
            1433
        } else {
            5985
        }
    });
    p
}

/// A workstation's computer account logging on over SMB to 20–30 hosts within 10 minutes.
pub(crate) fn smb_fanout(c: &mut Ctx, rng: &mut ChaCha8Rng, when: &mut dyn Schedule) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("smb-fanout");
    let src = one(rng, &c.ws);
    let id = topo.comp[src as usize];
    let day = when.day(rng, &[id], 1);
    let t0 = c.clock.start(rng, day, &WORK_HOURS);
    let burst = Burst {
        ident: id,
        src,
        dsts: &c.fan_out_targets(src),
        count: 20..=30,
        window: 600,
        protocol: NTLM,
        port: 445,
    };
    p.burst(rng, t0, burst);
    p
}

/// A person's novel logon into a server, then within 5–30 minutes a SQL service account's novel
/// logon out of it.
pub(crate) fn credential_switch_chain(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("credential-switch-chain");
    let ws = &c.ws;
    let hi = rng.gen_range(0..ws.len());
    let w = ws[hi];
    let human = topo.humans[topo.ws.iter().position(|&x| x == w).unwrap_or(hi)];
    let svc = topo.sqls.choose(rng).expect("sql accounts");
    let bs = c.outside(
        svc,
        concat(&[&topo.web, &topo.stg_web, &topo.stg_app, &topo.dev_app]),
    );
    let b = one(rng, &bs);
    let ds: Vec<u32> = c
        .outside(
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
    let day = when.day(rng, &[human, svc.ident], 1);
    let t0 = c.clock.start(rng, day, &WORK_HOURS);
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
    p
}

/// A backup, batch or monitoring account logging on interactively on one of its servers, or by
/// remote desktop from a workstation.
pub(crate) fn interactive_service_account(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("interactive-service-account");
    let svcs: Vec<&Svc> = topo
        .backups
        .iter()
        .chain(&topo.batches)
        .chain(&topo.monitors)
        .collect();
    let svc = *svcs.choose(rng).expect("service accounts");
    let server = one(rng, &topo.base(&svc.dsts));
    let day = when.day(rng, &[svc.ident], 1);
    let t = c.clock.start(rng, day, &ANY_HOUR);
    if rng.gen_bool(0.5) {
        p.auth(t, svc.ident, server, server, NEGOTIATE, INTERACTIVE, true);
    } else {
        let src = one(rng, &c.ws);
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
    p
}

/// A SQL service account taking one new destination a day for `days` consecutive days, from
/// one of its usual sources.
pub(crate) fn low_and_slow(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    svc: &Svc,
    days: usize,
    when: &mut dyn Schedule,
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("low-and-slow");
    let src = one(rng, &topo.base(&svc.srcs));
    let cands = c.outside(
        svc,
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
    let dsts = pick(rng, &cands, days);
    let first = when.day(rng, &[svc.ident], days as u32);
    for (k, &dst) in dsts.iter().enumerate() {
        let t = c.clock.start(rng, first + k as u32, &ANY_HOUR);
        let port = if topo.stg_db.contains(&dst) || topo.dev_db.contains(&dst) {
            1433
        } else {
            445
        };
        p.logon(t, svc.ident, src, dst, KERBEROS, port, rng);
    }
    p
}

/// WinRM and SMB flows with no authentication from an application server to 4–6 hosts within
/// 20 minutes (avoiding the low-and-slow campaign's source and destinations).
pub(crate) fn flow_only(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
    slow_src: u32,
    slow_dsts: &[u32],
) -> Planned {
    let topo = c.topo;
    let mut p = Planned::new("flow-only");
    let apps = topo.base(&topo.app);
    let others: Vec<u32> = apps.iter().copied().filter(|&h| h != slow_src).collect();
    let src = one(rng, if others.is_empty() { &apps } else { &others });
    p.flow_ident = Some(topo.comp[src as usize]);
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
    let day = when.day(rng, &[topo.comp[src as usize]], 1);
    let t0 = c.clock.start(rng, day, &ANY_HOUR);
    let n = rng.gen_range(4..=6);
    let mut offs: Vec<i64> = (0..n).map(|_| rng.gen_range(0..1200)).collect();
    offs.sort_unstable();
    for (dst, o) in pick(rng, &cands, n).into_iter().zip(offs) {
        p.flow(t0 + o, src, dst, 5985, rng);
        p.flow(t0 + o + rng.gen_range(2..60), src, dst, 445, rng);
    }
    p
}

/// A deploy credential failing over NTLM against 10–20 servers from a workstation within a few
/// minutes, then succeeding on one.
pub(crate) fn failed_auth_spray(
    c: &mut Ctx,
    rng: &mut ChaCha8Rng,
    when: &mut dyn Schedule,
) -> Planned {
    let mut p = Planned::new("failed-auth-spray");
    let svc = c.topo.deploys.choose(rng).expect("deploy accounts");
    let src = one(rng, &c.ws);
    let day = when.day(rng, &[svc.ident], 1);
    let mut t = c.clock.start(rng, day, &WORK_HOURS);
    let cands: Vec<u32> = c.servers.iter().copied().filter(|&h| h != src).collect();
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
    p
}
