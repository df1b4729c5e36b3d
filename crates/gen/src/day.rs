//! Benign activity of one simulated day.

use crate::event::*;
use crate::topo::{Svc, Topo};
use crate::variety::Variety;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const H: i64 = 3600;

/// Benign changes that take effect during the detection period.
pub(crate) struct Benign {
    /// Day from which svc_deploy includes the host it used to skip.
    pub include_day: u32,
    /// (day, human index, second workstation) for the one-day second workstation.
    pub second_ws: Option<(u32, usize, u32)>,
    /// The extended set's benign changes.
    pub variety: Option<Variety>,
}

/// A random time-of-day within `[from, to)` seconds.
fn within(rng: &mut ChaCha8Rng, from: i64, to: i64) -> i64 {
    rng.gen_range(from..to)
}

/// Picks a domain controller for `h`: its preferred one, occasionally another.
fn dc_for(topo: &Topo, rng: &mut ChaCha8Rng, h: u32) -> u32 {
    if rng.gen_range(0..20) == 0 {
        *topo.dc.choose(rng).unwrap_or(&topo.hosts[h as usize].dc)
    } else {
        topo.hosts[h as usize].dc
    }
}

/// Appends the benign events of day `d` to `buf`.
pub(crate) fn benign_day(
    topo: &Topo,
    benign: &Benign,
    d: u32,
    rng: &mut ChaCha8Rng,
    buf: &mut DayBuf,
) {
    let weekday = d % 7 < 5;
    let mut times = Vec::new();

    // Workstation power windows (seconds of day); the owner works while the machine is on.
    let on: Vec<Option<(i64, i64)>> = topo
        .ws
        .iter()
        .map(|_| {
            if weekday && rng.gen_bool(0.93) {
                let s = 8 * H + rng.gen_range(-2700..2700);
                let e = 17 * H + 1800 + rng.gen_range(-3600..3600);
                Some((s, e))
            } else if !weekday && rng.gen_bool(0.05) {
                let s = 10 * H + rng.gen_range(-H..H);
                Some((s, s + rng.gen_range(2 * H..5 * H)))
            } else {
                None
            }
        })
        .collect();
    let ws_on = |i: usize, sec: i64| on[i].is_some_and(|(s, e)| sec >= s && sec < e);

    // Computer accounts: hourly TGT/TGS and a LogOn to a DC, with flows.
    let mut wi = 0;
    for (h, host) in topo.hosts.iter().enumerate() {
        let h = h as u32;
        let ws_idx = if host.is_ws {
            wi += 1;
            Some(wi - 1)
        } else {
            None
        };
        for hour in 0..24 {
            let sec = hour * H + host.phase + rng.gen_range(-600..=600);
            if !(0..DAY - 120).contains(&sec) || ws_idx.is_some_and(|i| !ws_on(i, sec)) {
                continue;
            }
            let t = buf.at(sec);
            let dc = dc_for(topo, rng, h);
            let id = topo.comp[h as usize];
            buf.auth(t, id, h, dc, KERBEROS, NETWORK, TGT, true);
            buf.flow(t, h, dc, 88, rng);
            if rng.gen_bool(0.5) {
                buf.auth(t + 1, id, h, dc, KERBEROS, NETWORK, TGS, true);
            }
            let t2 = t + rng.gen_range(2..6);
            buf.auth(t2, id, h, dc, KERBEROS, NETWORK, LOGON, true);
            buf.flow(
                t2 + rng.gen_range(0..3),
                h,
                dc,
                if hour % 2 == 0 { 445 } else { 389 },
                rng,
            );
        }
    }

    // Background traffic without authentication.
    for (h, host) in topo.hosts.iter().enumerate() {
        if host.is_ws {
            continue;
        }
        let h = h as u32;
        recurring(rng, 0, DAY - 120, 30 * 60, &mut times);
        for &s in &times {
            buf.flow(buf.at(s), h, host.dc, 53, rng);
        }
        recurring(rng, 0, DAY - 120, 4 * H, &mut times);
        for &s in &times {
            buf.flow(buf.at(s), h, host.dc, 123, rng);
        }
        recurring(rng, 0, DAY - 120, 2 * H, &mut times);
        for &s in &times {
            buf.flow(buf.at(s), h, host.dc, 389, rng);
        }
    }
    for (i, &w) in topo.ws.iter().enumerate() {
        let Some((s, e)) = on[i] else { continue };
        let dc = topo.hosts[w as usize].dc;
        let proxy = topo.proxy[i % topo.proxy.len()];
        recurring(rng, s, e, 20 * 60, &mut times);
        for &x in &times {
            buf.flow(buf.at(x), w, dc, 53, rng);
        }
        recurring(rng, s, e, 10 * 60, &mut times);
        for &x in &times {
            let port = if rng.gen_range(0..8) == 0 { 80 } else { 443 };
            buf.flow(buf.at(x), w, proxy, port, rng);
        }
        buf.flow(buf.at(s + rng.gen_range(30..300)), w, dc, 123, rng);
    }
    for svc in &topo.monitors {
        let src = svc.srcs[0];
        for &dst in &svc.dsts {
            recurring(rng, 0, DAY - 120, 15 * 60, &mut times);
            for &x in &times {
                buf.flow(buf.at(x), src, dst, 9100, rng);
            }
        }
    }

    // svc_monitor: every 30 minutes to each monitored server.
    let variety = benign.variety.as_ref();
    for (j, svc) in topo.monitors.iter().enumerate() {
        let https = variety.is_some_and(|v| j == 0 && d >= v.monitor_https);
        let port = if https { 5986 } else { 5985 };
        periodic(topo, svc, 30 * 60, 120, port, KERBEROS, rng, buf);
    }
    // svc_sql_app: every 10 minutes from each app host to each DB.
    for svc in &topo.sqls {
        periodic(topo, svc, 10 * 60, 60, 1433, KERBEROS, rng, buf);
    }
    // Kubernetes service accounts: every 15 minutes, OAuth.
    for svc in &topo.k8s_sas {
        periodic(topo, svc, 15 * 60, 90, 5432, OAUTH, rng, buf);
    }
    if let Some(s) = variety.map(|v| &v.stale_token).filter(|s| s.day == d) {
        let ident = topo.k8s_sas[s.account].ident;
        for k in 0..s.count as i64 {
            let t = buf.at(s.from + k * 15 * 60 + rng.gen_range(-60..=60));
            buf.auth(t, ident, s.src, s.dst, OAUTH, NETWORK, LOGON, false);
            buf.flow(t + rng.gen_range(0..=2), s.src, s.dst, 5432, rng);
        }
    }
    // svc_backup: nightly 01:00–03:00.
    for (j, svc) in topo.backups.iter().enumerate() {
        let extra: &[u32] = match variety {
            Some(v) if j == 0 && d >= v.backup_scope.0 => &v.backup_scope.1,
            _ => &[],
        };
        let expired = variety.is_some_and(|v| j == 0 && d == v.backup_fails);
        let n = (svc.dsts.len() + extra.len()).max(1) as i64;
        let mut sec = H + rng.gen_range(0..1800);
        for &dst in svc.dsts.iter().chain(extra) {
            let t = buf.at(sec.min(3 * H - 1));
            if expired {
                buf.auth(
                    t,
                    svc.ident,
                    svc.srcs[0],
                    dst,
                    KERBEROS,
                    NETWORK,
                    LOGON,
                    false,
                );
                buf.flow(t + rng.gen_range(0..=2), svc.srcs[0], dst, 445, rng);
            } else {
                buf.net_logon(t, svc.ident, svc.srcs[0], dst, KERBEROS, 445, rng);
                buf.heavy_flow(t + rng.gen_range(1..20), svc.srcs[0], dst, 445, rng);
            }
            sec += rng.gen_range(20..(5400 / n).max(21));
        }
    }
    // svc_batch: nightly 02:00–04:00, a local Batch logon then the exports.
    for (j, svc) in topo.batches.iter().enumerate() {
        let src = match variety {
            Some(v) if j == 0 && d >= v.batch_moves.0 => v.batch_moves.1,
            _ => svc.srcs[0],
        };
        let mut sec = 2 * H + rng.gen_range(0..H);
        buf.auth(
            buf.at(sec),
            svc.ident,
            src,
            src,
            KERBEROS,
            BATCH,
            LOGON,
            true,
        );
        for (k, &dst) in svc.dsts.iter().enumerate() {
            sec += rng.gen_range(30..900);
            let t = buf.at(sec);
            let port = if k == 0 { 1433 } else { 445 };
            buf.net_logon(t, svc.ident, src, dst, KERBEROS, port, rng);
            buf.heavy_flow(t + rng.gen_range(1..20), src, dst, port, rng);
        }
    }
    // Deploys on weekdays during 09–17.
    if weekday {
        for svc in &topo.deploys {
            let skip = topo.deploy_skip.filter(|_| d < benign.include_day);
            deploys(svc, rng.gen_range(2..=4), skip, rng, buf);
        }
        for svc in &topo.deploy_devs {
            deploys(svc, rng.gen_range(2..=5), None, rng, buf);
        }
    }

    // People.
    for (i, &w) in topo.ws.iter().enumerate() {
        let Some((s, e)) = on[i] else { continue };
        workday(topo, topo.humans[i], w, i, s, e, rng, buf);
    }
    if let Some((day, i, w)) = benign.second_ws {
        if day == d {
            let s = 10 * H + rng.gen_range(0..H);
            workday(
                topo,
                topo.humans[i],
                w,
                i,
                s,
                s + rng.gen_range(3 * H..5 * H),
                rng,
                buf,
            );
        }
    }
    for a in &topo.admins {
        let i = topo.ws.iter().position(|&w| w == a.ws).unwrap_or(0);
        let Some((s, e)) = on[i] else { continue };
        if !rng.gen_bool(0.5) || e - s < 2 * H {
            continue;
        }
        let mut sec = within(rng, s + 600, e - H);
        let t = buf.at(sec);
        buf.auth(
            t,
            a.ident,
            a.ws,
            a.jump,
            NEGOTIATE,
            REMOTE_INTERACTIVE,
            LOGON,
            true,
        );
        buf.flow(t + rng.gen_range(0..5), a.ws, a.jump, 3389, rng);
        for _ in 0..rng.gen_range(1..=3) {
            sec += rng.gen_range(60..900);
            let dst = *a.servers.choose(rng).expect("admins have servers");
            buf.net_logon(buf.at(sec), a.ident, a.jump, dst, KERBEROS, 5985, rng);
        }
    }
}

/// A service account that runs every `period` seconds (± `jitter`) from each source to each
/// destination.
#[allow(clippy::too_many_arguments)]
fn periodic(
    topo: &Topo,
    svc: &Svc,
    period: i64,
    jitter: i64,
    port: u16,
    at: u8,
    rng: &mut ChaCha8Rng,
    buf: &mut DayBuf,
) {
    for &src in &svc.srcs {
        for &dst in &svc.dsts {
            let phase =
                (topo.hosts[src as usize].phase + 7 * topo.hosts[dst as usize].phase) % period;
            let mut base = phase;
            while base < DAY - 120 {
                let sec = base + rng.gen_range(-jitter..=jitter);
                if (0..DAY - 120).contains(&sec) {
                    buf.net_logon(buf.at(sec), svc.ident, src, dst, at, port, rng);
                }
                base += period;
            }
        }
    }
}

/// `count` deploys between 09:00 and 17:00, each touching every host of one tier.
fn deploys(svc: &Svc, count: usize, skip: Option<u32>, rng: &mut ChaCha8Rng, buf: &mut DayBuf) {
    for _ in 0..count {
        let mut sec = within(rng, 9 * H, 17 * H);
        let src = *svc.srcs.choose(rng).expect("deploy sources");
        let tier = svc.tiers.choose(rng).expect("deploy tiers");
        for &dst in tier {
            if Some(dst) == skip {
                continue;
            }
            sec += rng.gen_range(5..60);
            buf.net_logon(buf.at(sec), svc.ident, src, dst, KERBEROS, 5985, rng);
        }
    }
}

/// A person's working day on workstation `w` between `s` and `e`.
#[allow(clippy::too_many_arguments)]
fn workday(
    topo: &Topo,
    user: u32,
    w: u32,
    i: usize,
    s: i64,
    e: i64,
    rng: &mut ChaCha8Rng,
    buf: &mut DayBuf,
) {
    let dc = topo.hosts[w as usize].dc;
    if rng.gen_range(0..50) == 0 {
        let t = buf.at(s - rng.gen_range(10..60));
        buf.auth(t, user, w, w, KERBEROS, INTERACTIVE, LOGON, false);
    }
    let t = buf.at(s);
    buf.auth(t, user, w, dc, KERBEROS, NETWORK, TGT, true);
    buf.auth(t + 1, user, w, w, KERBEROS, INTERACTIVE, LOGON, true);
    let fs = topo.fs[i % topo.fs.len()];
    let proxy = topo.proxy[i % topo.proxy.len()];
    for _ in 0..rng.gen_range(1..=4) {
        buf.net_logon(buf.at(within(rng, s, e)), user, w, fs, KERBEROS, 445, rng);
    }
    for _ in 0..rng.gen_range(1..=3) {
        buf.net_logon(
            buf.at(within(rng, s, e)),
            user,
            w,
            proxy,
            NEGOTIATE,
            8080,
            rng,
        );
    }
    buf.auth(buf.at(e), user, w, w, KERBEROS, INTERACTIVE, LOGOFF, true);
}
