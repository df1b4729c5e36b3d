//! The features of an observation, one function each: it returns the explanation when the
//! feature fires. [`FEATURES`] lists them in the order they are reported.

use super::context::Context;
use crate::observation::Via;
use reachwatch_model::time::DAY;
use reachwatch_model::AuthProtocol;
use reachwatch_rules::Feature;

/// A feature's test: the explanation when it fires.
pub type Test = fn(&Context) -> Option<String>;

/// Every feature with its test, in reporting order (ties in weight keep this order).
pub const FEATURES: &[(Feature, Test)] = &[
    (Feature::FailedSpray, failed_spray),
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
];

/// A new edge reached by something other than failures: the features of novel reach apply.
fn novel_reach(cx: &Context) -> bool {
    cx.edge_new && cx.obs.via != Via::Failure
}

fn failed_spray(cx: &Context) -> Option<String> {
    (cx.obs.via == Via::Failure).then(|| {
        format!(
            "failed authentications against {} destinations within {} min",
            cx.failed,
            cx.rules.settings.failure_window / 60_000
        )
    })
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
    let group = cx.dst?.group;
    (novel_reach(cx) && cx.dst_group_new).then(|| {
        let groups: Vec<&str> = cx
            .profile
            .dst_groups
            .iter()
            .take(8)
            .map(|&g| cx.group_name(g))
            .collect();
        format!(
            "never reached any `{}` host (reaches: {})",
            cx.group_name(group),
            groups.join(", ")
        )
    })
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
    (novel_reach(cx) && cx.dst.is_some() && cx.peers > 0).then(|| {
        format!(
            "{} identities of peer group `{}` already reach it",
            cx.peers,
            cx.group_name(cx.profile.group)
        )
    })
}

fn rollout(cx: &Context) -> Option<String> {
    let h = cx.dst?;
    let t = cx.obs.time;
    let recent = h.recent_new.iter().filter(|&&r| r >= t - DAY).count();
    (novel_reach(cx) && recent >= 2)
        .then(|| format!("{recent} other identities started reaching it in the last day"))
}

fn new_asset(cx: &Context) -> Option<String> {
    let h = cx.dst?;
    (novel_reach(cx)
        && cx
            .g
            .is_new_asset(h, cx.obs.time, cx.rules.settings.new_asset_age))
    .then(|| format!("{} itself appeared recently", cx.name(cx.obs.dst)))
}

fn fan_out(cx: &Context) -> Option<String> {
    let cfg = &cx.rules.settings;
    (novel_reach(cx) && cx.novel >= cfg.fanout_min).then(|| {
        format!(
            "{} novel destinations within {} min",
            cx.novel,
            cfg.fanout_window / 60_000
        )
    })
}

fn crown_jewel(cx: &Context) -> Option<String> {
    (novel_reach(cx) && cx.crown).then(|| format!("{} is a crown jewel", cx.name(cx.obs.dst)))
}

fn env_crossing(cx: &Context) -> Option<String> {
    let inv = &cx.rules.inventory;
    let crosses = !cx.dst_env.is_empty()
        && inv.is_production(cx.dst_env)
        && !cx.id_env.is_empty()
        && !inv.is_production(cx.id_env);
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
    let group = cx.src?.group;
    (cx.src_new && !cx.profile.src_groups.contains(&group)).then(|| {
        let usual: Vec<&str> = cx
            .profile
            .src_groups
            .iter()
            .take(8)
            .map(|&g| cx.group_name(g))
            .collect();
        format!(
            "never used from any `{}` host (usual sources: {})",
            cx.group_name(group),
            usual.join(", ")
        )
    })
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
    let (from, at) = cx.chain_from?;
    (from != cx.obs.identity && (cx.edge_new || cx.src_new)).then(|| {
        format!(
            "{} made a novel login into {} {} s earlier",
            cx.name(from),
            cx.obs.src.map_or("?", |s| cx.name(s)),
            (cx.obs.time - at) / 1000
        )
    })
}

fn dormant(cx: &Context) -> Option<String> {
    let last = cx.profile.last_seen;
    let t = cx.obs.time;
    ((cx.edge_new || cx.src_new) && last < t - cx.rules.settings.dormant_after)
        .then(|| format!("silent for {} days", (t - last) / DAY))
}

#[cfg(test)]
mod tests;
