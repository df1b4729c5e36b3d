//! The features of an observation, one function each: it returns the explanation when the
//! feature fires. [`FEATURES`] lists them in the order they are reported.

use super::context::{Context, Unlike};
use crate::observation::{ChainLink, Via};
use crate::structure::calibration::surprise_bits;
use crate::structure::roles::Role;
use reachwatch_model::time::{DAY, HOUR};
use reachwatch_model::AuthProtocol;
use reachwatch_rules::Feature;

/// A feature's test: the explanation when it fires.
pub type Test = fn(&Context) -> Option<String>;

/// Every feature with its test, in reporting order (ties in weight keep this order).
pub const FEATURES: &[(Feature, Test)] = &[
    (Feature::FailedSpray, failed_spray),
    (Feature::SlowSpray, slow_spray),
    (Feature::Interactive, interactive),
    (Feature::NewEdge, new_edge),
    (Feature::DstGroupNovel, dst_group_novel),
    (Feature::RareDst, rare_dst),
    (Feature::PeerSupport, peer_support),
    (Feature::Rollout, rollout),
    (Feature::NewAsset, new_asset),
    (Feature::FanOut, fan_out),
    (Feature::CrownJewel, crown_jewel),
    (Feature::EnvCrossing, env_crossing),
    (Feature::NewSource, new_source),
    (Feature::SrcGroupNovel, src_group_novel),
    (Feature::ZoneCrossing, zone_crossing),
    (Feature::FlowOnly, flow_only),
    (Feature::AuthDowngrade, auth_downgrade),
    (Feature::Chain, chain),
    (Feature::Dormant, dormant),
    (Feature::NewService, new_service),
    (Feature::TransferSpike, transfer_spike),
    (Feature::StableReach, stable_reach),
    (Feature::HabitualNovelty, habitual_novelty),
];

/// A new edge reached by something other than failures: the features of novel reach apply.
fn novel_reach(cx: &Context) -> bool {
    cx.edge_new && cx.obs.via != Via::Failure
}

/// What calibration judges: a new source, or a destination unlike everything the identity
/// reaches (one more host of a kind it reaches is not a change of habit), by something other
/// than failures.
fn novel_use(cx: &Context) -> bool {
    (cx.src_new || cx.dst_unlike.is_some()) && cx.obs.via != Via::Failure
}

fn failed_spray(cx: &Context) -> Option<String> {
    let min = cx.rules.settings.failure_min_destinations as usize;
    (cx.obs.via == Via::Failure && cx.failed >= min).then(|| {
        format!(
            "failed authentications against {} destinations within {} min",
            cx.failed,
            cx.rules.settings.failure_window / 60_000
        )
    })
}

fn slow_spray(cx: &Context) -> Option<String> {
    let cfg = &cx.rules.settings;
    (cx.obs.via == Via::Failure && cx.failed_slow >= cfg.spray_min_destinations as usize).then(
        || {
            format!(
                "failed authentications against {} destinations within {} h, each from a new \
                 source or to a new destination",
                cx.failed_slow,
                cfg.spray_window / HOUR
            )
        },
    )
}

fn interactive(cx: &Context) -> Option<String> {
    let logon = cx.obs.logon;
    (logon.is_interactive() && cx.profile.logons & logon.bit() == 0).then(|| {
        format!(
            "{} logon by an identity that never logged on this way",
            logon.name()
        )
    })
}

fn new_edge(cx: &Context) -> Option<String> {
    novel_reach(cx).then(|| {
        format!(
            "first time reaching {} (baseline: {} destinations)",
            cx.name(cx.obs.dst),
            cx.profile.destinations
        )
    })
}

fn dst_group_novel(cx: &Context) -> Option<String> {
    let reached = |names: Vec<String>| names.join(", ");
    match cx.dst_unlike? {
        Unlike::Place {
            place,
            closest,
            stem_too,
        } => {
            let closest = closest.map_or(String::new(), |(sim, host)| {
                format!(
                    "; closest it reaches: {} ({:.0} % alike by who reaches it)",
                    cx.name(host),
                    sim * 100.0
                )
            });
            let names = if stem_too {
                format!(", nor any `{}` host", cx.group_name(cx.dst?.group))
            } else {
                String::new()
            };
            let known = cx.profile.places.iter().take(6);
            Some(format!(
                "never reached {}{names} (it reaches: {}){closest}",
                cx.place_name(place),
                reached(known.map(|&p| cx.place_name(p)).collect())
            ))
        }
        Unlike::Name => {
            let known = cx.profile.dst_groups.iter().take(8);
            Some(format!(
                "never reached any `{}` host (reaches: {})",
                cx.group_name(cx.dst?.group),
                reached(known.map(|&g| cx.group_name(g).to_string()).collect())
            ))
        }
    }
}

fn rare_dst(cx: &Context) -> Option<String> {
    let h = cx.dst?;
    (novel_reach(cx) && h.identities <= cx.rules.settings.rare_max_identities).then(|| {
        format!(
            "{} is reached by only {} identities",
            cx.name(cx.obs.dst),
            h.identities
        )
    })
}

fn peer_support(cx: &Context) -> Option<String> {
    if !(novel_reach(cx) && cx.dst.is_some() && cx.peers > 0) {
        return None;
    }
    let mut why = vec![];
    if let (n @ 1.., Some(first)) = cx.learned_peers {
        why.push(format!(
            "{n} identities with similar reach and sources already reach it (e.g. {})",
            cx.name(first)
        ));
    }
    if cx.named_peers > 0 {
        why.push(format!(
            "{} identities of group `{}` already reach it",
            cx.named_peers,
            cx.group_name(cx.profile.group)
        ));
    }
    Some(why.join("; "))
}

fn rollout(cx: &Context) -> Option<String> {
    let h = cx.dst?;
    let t = cx.obs.time;
    let recent = h.recent_new.iter().filter(|&&r| r >= t - DAY).count();
    (novel_reach(cx) && recent >= 2)
        .then(|| format!("{recent} other identities started reaching it in the last day"))
}

fn new_asset(cx: &Context) -> Option<String> {
    let (t, age) = (cx.obs.time, cx.rules.settings.new_asset_age);
    let recent =
        |h: Option<&crate::graph::HostProfile>| h.is_some_and(|h| cx.g.is_new_asset(h, t, age));
    if novel_reach(cx) && recent(cx.dst) {
        Some(format!("{} itself appeared recently", cx.name(cx.obs.dst)))
    } else if cx.src_new && recent(cx.src) {
        let src = cx.obs.src?;
        Some(format!(
            "its new source {} itself appeared recently",
            cx.name(src)
        ))
    } else {
        None
    }
}

fn fan_out(cx: &Context) -> Option<String> {
    let cfg = &cx.rules.settings;
    (novel_reach(cx) && cx.novel >= cfg.fanout_min).then(|| {
        let kept = crate::graph::novel_kept(cfg.fanout_min) as u32;
        let or_more = if cx.novel > kept { " or more" } else { "" };
        format!(
            "{}{or_more} novel destinations within {} min",
            cx.novel.min(kept),
            cfg.fanout_window / 60_000
        )
    })
}

fn crown_jewel(cx: &Context) -> Option<String> {
    (novel_reach(cx) && cx.crown).then(|| format!("{} is a crown jewel", cx.name(cx.obs.dst)))
}

fn env_crossing(cx: &Context) -> Option<String> {
    let crosses = cx.rules.inventory.crosses(cx.id_env, cx.dst_env);
    (novel_reach(cx) && crosses).then(|| {
        format!(
            "{} identity reached {} in {}",
            cx.id_env,
            cx.name(cx.obs.dst),
            cx.dst_env
        )
    })
}

fn new_source(cx: &Context) -> Option<String> {
    let s = cx.obs.src?;
    cx.src_new.then(|| format!("first use from {}", cx.name(s)))
}

fn src_group_novel(cx: &Context) -> Option<String> {
    let src = cx.obs.src?;
    if !cx.src_new {
        return None;
    }
    let st = &cx.g.structure;
    let stems = st.host_stems_informative && cx.src.is_some();
    let usual = cx.profile.src_roles;
    match st.role(src) {
        Some(role) if usual != 0 => {
            if usual & role.bit() != 0 {
                return None;
            }
            let sources: Vec<&str> = cx.profile.sources.iter().map(|&s| cx.name(s)).collect();
            let days = (cx.obs.time - cx.profile.first_seen) / DAY;
            Some(format!(
                "never used from a {} host; its {days} days of sources were {} ({})",
                role.name(),
                Role::names(usual),
                sources.join(", ")
            ))
        }
        _ if stems && cx.src_stem_new => {
            let usual: Vec<&str> = cx
                .profile
                .src_groups
                .iter()
                .take(8)
                .map(|&g| cx.group_name(g))
                .collect();
            Some(format!(
                "never used from any `{}` host (usual sources: {})",
                cx.group_name(cx.src?.group),
                usual.join(", ")
            ))
        }
        _ => None,
    }
}

fn zone_crossing(cx: &Context) -> Option<String> {
    let forbidden = !cx.src_zone.is_empty()
        && !cx.dst_zone.is_empty()
        && cx.rules.inventory.zone_forbidden(cx.src_zone, cx.dst_zone);
    forbidden.then(|| {
        format!(
            "zone {} → {} is forbidden by the inventory",
            cx.src_zone, cx.dst_zone
        )
    })
}

fn flow_only(cx: &Context) -> Option<String> {
    let obs = cx.obs;
    let admin = cx.rules.settings.admin_ports.contains(&obs.port);
    (obs.via == Via::Flow && admin && cx.edge_new).then(|| {
        format!(
            "port {} traffic to {} with no authentication for it",
            obs.port,
            cx.name(obs.dst)
        )
    })
}

fn auth_downgrade(cx: &Context) -> Option<String> {
    let (p, protocol) = (cx.profile, cx.obs.protocol);
    let weak = matches!(protocol, AuthProtocol::Ntlm | AuthProtocol::Cleartext);
    (weak
        && p.observations >= cx.rules.settings.downgrade_min_observations
        && p.protocols & AuthProtocol::Kerberos.bit() != 0
        && p.protocols & protocol.bit() == 0)
        .then(|| format!("{} where the baseline is Kerberos", protocol.name()))
}

fn chain(cx: &Context) -> Option<String> {
    let obs = cx.obs;
    match cx.chain? {
        ChainLink::After(into) => (into.identity != obs.identity && (cx.edge_new || cx.src_new))
            .then(|| {
                format!(
                    "{} made a novel login into {} {} s earlier",
                    cx.name(into.identity),
                    obs.src.map_or("?", |s| cx.name(s)),
                    (obs.time - into.time) / 1000
                )
            }),
        ChainLink::Before(out) => (out.identity != obs.identity).then(|| {
            let kind =
                cx.g.identities
                    .get(&out.identity)
                    .map_or("unknown", |p| p.kind.name());
            format!(
                "{} ({kind}) then made a novel login out of {} to {}, {} s later",
                cx.name(out.identity),
                cx.name(obs.dst),
                cx.name(out.dst),
                (out.time - obs.time) / 1000
            )
        }),
    }
}

fn dormant(cx: &Context) -> Option<String> {
    let last = cx.profile.last_seen;
    let t = cx.obs.time;
    ((cx.edge_new || cx.src_new) && last < t - cx.rules.settings.dormant_after)
        .then(|| format!("silent for {} days", (t - last) / DAY))
}

fn new_service(cx: &Context) -> Option<String> {
    let history = cx.edge_flows.as_ref()?;
    let ports: Vec<String> = history.ports.iter().map(u16::to_string).collect();
    let before = if ports.is_empty() {
        "no flows before".to_string()
    } else {
        format!("{} flows before, on {}", history.flows, ports.join(", "))
    };
    Some(format!(
        "first use of port {} on {}, an edge it has used for days ({before})",
        cx.obs.port,
        cx.name(cx.obs.dst)
    ))
}

fn transfer_spike(cx: &Context) -> Option<String> {
    let history = cx.edge_flows.as_ref()?;
    let cfg = &cx.rules.settings;
    let (bytes, mean) = (cx.obs.bytes, history.mean_bytes());
    (bytes >= cfg.transfer_min_bytes && bytes >= mean.saturating_mul(cfg.transfer_min_ratio)).then(
        || {
            format!(
                "{} bytes in one flow where this edge's flows averaged {mean}",
                bytes
            )
        },
    )
}

fn stable_reach(cx: &Context) -> Option<String> {
    let rate = cx.novelty_rate;
    (novel_use(cx) && rate * 100.0 <= f64::from(cx.rules.settings.stable_novelty_pct)).then(|| {
        let n = cx.profile.novelty;
        format!(
            "new reach on {} of its {} days (calibrated {rate:.2}/day with its peers' {:.2}): \
             {:.1} bits of surprise",
            n.novel_days,
            n.active_days,
            cx.novelty_prior,
            surprise_bits(rate)
        )
    })
}

fn habitual_novelty(cx: &Context) -> Option<String> {
    let rate = cx.novelty_rate;
    (novel_use(cx) && rate * 100.0 >= f64::from(cx.rules.settings.habitual_novelty_pct)).then(
        || {
            let n = cx.profile.novelty;
            format!(
                "new reach on {} of its {} days (calibrated {rate:.2}/day): routine for it",
                n.novel_days, n.active_days
            )
        },
    )
}

#[cfg(test)]
mod tests;
