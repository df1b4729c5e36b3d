//! Benign changes of the extended set: ordinary operations that a naive detector flags (new
//! reach, a new source, a new service on every edge, bursts and trickles of failures).

use crate::attack::{concat, one, pick, Schedule};
use crate::extended::Busy;
use crate::topo::Topo;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Seconds in an hour.
const H: i64 = 3600;

/// A rotated token still used by one node: failures every 15 minutes against one database.
pub(crate) struct StaleToken {
    pub day: u32,
    /// Index into `Topo::k8s_sas`.
    pub account: usize,
    pub src: u32,
    pub dst: u32,
    /// Second of the day of the first failure.
    pub from: i64,
    pub count: u32,
}

/// The extended set's benign changes (the first account of each kind is the one that changes).
pub(crate) struct Variety {
    /// From this day the backup account also backs up these hosts.
    pub backup_scope: (u32, Vec<u32>),
    /// From this day the batch account's nightly job runs from this host.
    pub batch_moves: (u32, u32),
    /// From this day the monitoring account uses WinRM over HTTPS (5986) instead of 5985.
    pub monitor_https: u32,
    /// On this day the backup account's password has expired: its nightly run fails everywhere.
    pub backup_fails: u32,
    pub stale_token: StaleToken,
}

/// Plans the benign changes on detection days, each starting on a day its identity is in no
/// campaign (as far as `busy` allows); returns them with a start time and description each.
pub(crate) fn plan(
    topo: &Topo,
    rng: &mut ChaCha8Rng,
    busy: &mut Busy,
) -> (Variety, Vec<(i64, String)>) {
    let day_start = |d: u32| 1 + d as i64 * crate::event::DAY;
    let mut changes = Vec::new();
    let backup = &topo.backups[0];
    let extra_cands = topo.base(&concat(&[
        &topo.jump,
        &topo.dev_db,
        &topo.dev_app,
        &topo.ci,
    ]));
    let extra: Vec<u32> = pick(
        rng,
        &extra_cands
            .into_iter()
            .filter(|h| !backup.dsts.contains(h))
            .collect::<Vec<_>>(),
        2,
    );
    let scope_day = busy.day(rng, &[backup.ident], 1);
    let names: Vec<&str> = extra.iter().map(|&h| topo.host(h)).collect();
    changes.push((
        day_start(scope_day),
        format!(
            "{} starts backing up {} as well, every night",
            topo.idents[backup.ident as usize],
            names.join(" and ")
        ),
    ));

    let batch = &topo.batches[0];
    let new_src = one(rng, &topo.base(&topo.app));
    let move_day = busy.day(rng, &[batch.ident], 1);
    changes.push((
        day_start(move_day),
        format!(
            "{}'s nightly job moves from {} to {}",
            topo.idents[batch.ident as usize],
            topo.host(batch.srcs[0]),
            topo.host(new_src)
        ),
    ));

    let monitor = &topo.monitors[0];
    let https_day = busy.day(rng, &[monitor.ident], 1);
    changes.push((
        day_start(https_day),
        format!(
            "{} switches from WinRM (5985) to WinRM over HTTPS (5986) on every server",
            topo.idents[monitor.ident as usize]
        ),
    ));

    let fail_day = busy.day(rng, &[backup.ident], 1);
    changes.push((
        day_start(fail_day),
        format!(
            "{}'s password has expired: its nightly backup fails on every host, then works again the next night",
            topo.idents[backup.ident as usize]
        ),
    ));

    let account = topo.k8s_sas.len() - 1;
    let sa = &topo.k8s_sas[account];
    let stale = StaleToken {
        day: busy.day(rng, &[sa.ident], 1),
        account,
        src: one(rng, &topo.base(&sa.srcs)),
        dst: one(rng, &topo.base(&sa.dsts)),
        from: rng.gen_range(8 * H..12 * H),
        count: rng.gen_range(16..=24),
    };
    changes.push((
        day_start(stale.day) + stale.from,
        format!(
            "{} keeps a rotated token on {}: it fails against {} every 15 minutes, {} times",
            topo.idents[sa.ident as usize],
            topo.host(stale.src),
            topo.host(stale.dst),
            stale.count
        ),
    ));
    let variety = Variety {
        backup_scope: (scope_day, extra),
        batch_moves: (move_day, new_src),
        monitor_https: https_day,
        backup_fails: fail_day,
        stale_token: stale,
    };
    (variety, changes)
}
