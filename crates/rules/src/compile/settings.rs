//! The `settings` and `weights` sections, and the engine settings they make.

use super::draft::{Draft, SettingValue};
use crate::error::{Pos, Problem};
use crate::ruleset::Settings;
use crate::vocab::Feature;
use crate::yaml::Doc;
use marked_yaml::Node;
use reachwatch_model::IdentityKind;

#[derive(Clone, Copy)]
enum SettingKind {
    Duration,
    Int(i64, i64),
    Kinds,
    Ports,
}

const SETTINGS: &[(&str, SettingKind)] = &[
    ("learn", SettingKind::Duration),
    ("lateness", SettingKind::Duration),
    ("max_skew", SettingKind::Duration),
    ("late_window", SettingKind::Duration),
    ("max_jump", SettingKind::Duration),
    ("join_before", SettingKind::Duration),
    ("join_after", SettingKind::Duration),
    ("join_cap", SettingKind::Int(1, 1000)),
    ("edge_ttl", SettingKind::Duration),
    ("identity_grace", SettingKind::Duration),
    ("new_asset_age", SettingKind::Duration),
    ("rare_max_identities", SettingKind::Int(0, 1_000_000)),
    ("fanout_window", SettingKind::Duration),
    ("fanout_min", SettingKind::Int(2, 100_000)),
    ("failure_window", SettingKind::Duration),
    ("failure_min_destinations", SettingKind::Int(2, 100_000)),
    ("spray_window", SettingKind::Duration),
    ("spray_min_destinations", SettingKind::Int(2, 100_000)),
    ("chain_window", SettingKind::Duration),
    ("dormant_after", SettingKind::Duration),
    (
        "downgrade_min_observations",
        SettingKind::Int(0, 1_000_000_000),
    ),
    ("env_min_destinations", SettingKind::Int(1, 1_000_000)),
    ("stable_novelty_pct", SettingKind::Int(0, 100)),
    ("habitual_novelty_pct", SettingKind::Int(0, 100)),
    ("novelty_prior_days", SettingKind::Int(0, 365)),
    ("transfer_min_ratio", SettingKind::Int(1, 1_000_000_000)),
    ("transfer_min_bytes", SettingKind::Int(0, i64::MAX)),
    ("incident_hold", SettingKind::Duration),
    ("incident_window", SettingKind::Duration),
    ("alert_score", SettingKind::Int(0, 100)),
    ("alert_kinds", SettingKind::Kinds),
    ("admin_ports", SettingKind::Ports),
    ("max_evidence", SettingKind::Int(1, 100_000)),
    ("max_identities", SettingKind::Int(100, 1_000_000_000)),
    ("max_hosts", SettingKind::Int(100, 1_000_000_000)),
    ("max_edges", SettingKind::Int(1_000, 4_000_000_000)),
    ("max_failures", SettingKind::Int(2, 1_000_000)),
    ("state_ttl", SettingKind::Duration),
];

/// The `settings` section: each setting checked against its kind and range.
pub(super) fn settings(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`settings`") else {
        return;
    };
    let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
    doc.keys(map, "`settings`", &names);
    for (key, value) in map.iter() {
        let Some(&(name, kind)) = SETTINGS.iter().find(|(n, _)| *n == key.as_str()) else {
            continue;
        };
        let what = format!("setting `{name}`");
        let v = match kind {
            SettingKind::Duration => doc.duration(value, &what).map(SettingValue::Duration),
            SettingKind::Int(lo, hi) => doc.integer(value, &what, lo, hi).map(SettingValue::Int),
            SettingKind::Kinds => doc.strings(value, &what).and_then(|v| {
                let mut out = vec![];
                for k in v {
                    match k.as_str() {
                        "machine" => out.push(IdentityKind::Machine),
                        "human" => out.push(IdentityKind::Human),
                        "unknown" => out.push(IdentityKind::Unknown),
                        other => {
                            doc.error(value.span(), format!("{what}: unknown identity kind `{other}` (expected machine, human, unknown)"));
                            return None;
                        }
                    }
                }
                Some(SettingValue::Kinds(out))
            }),
            SettingKind::Ports => ports(doc, value, &what).map(SettingValue::Ports),
        };
        if let Some(v) = v {
            d.settings.insert(name, (doc.pos(key.span()), v));
        }
    }
}

fn ports(doc: &mut Doc<'_>, node: &Node, what: &str) -> Option<Vec<u16>> {
    let seq = doc.sequence(node, what)?;
    let mut out = vec![];
    for item in seq.iter() {
        out.push(doc.integer(item, &format!("each port of {what}"), 1, 65535)? as u16);
    }
    Some(out)
}

/// The `weights` section: a weight from -100 to 100 per feature.
pub(super) fn weights(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`weights`") else {
        return;
    };
    let names: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
    doc.keys(map, "`weights`", &names);
    for (key, value) in map.iter() {
        if let Some(f) = Feature::from_name(key.as_str()) {
            if let Some(w) = doc.integer(value, &format!("weight of `{}`", key.as_str()), -100, 100)
            {
                d.weights.insert(f, w as i32);
            }
        }
    }
}

/// Reports every setting and weight no file sets.
pub(super) fn check_all_set(d: &Draft, whole: &Pos, problems: &mut Vec<Problem>) {
    let missing = |what: &str, name: &str| Problem {
        pos: whole.clone(),
        message: format!("{what} `{name}` is not set in any rule file"),
    };
    for (name, _) in SETTINGS {
        if !d.settings.contains_key(name) {
            problems.push(missing("setting", name));
        }
    }
    for f in Feature::ALL {
        if !d.weights.contains_key(&f) {
            problems.push(missing("weight", f.name()));
        }
    }
}

/// The score from which a match alerts unless a detection says otherwise.
pub(super) fn alert_score(d: &Draft) -> u32 {
    match d.settings.get("alert_score") {
        Some((_, SettingValue::Int(v))) => *v as u32,
        _ => 50,
    }
}

/// The engine settings (every one is set: [`check_all_set`] found no problem).
pub(super) fn build(d: &Draft, alert_score: u32) -> Settings {
    let dur = |k: &str| match d.settings.get(k) {
        Some((_, SettingValue::Duration(v))) => *v,
        _ => 0,
    };
    let int = |k: &str| match d.settings.get(k) {
        Some((_, SettingValue::Int(v))) => *v,
        _ => 0,
    };
    Settings {
        learn: dur("learn"),
        lateness: dur("lateness"),
        max_skew: dur("max_skew"),
        late_window: dur("late_window"),
        max_jump: dur("max_jump"),
        join_before: dur("join_before"),
        join_after: dur("join_after"),
        join_cap: int("join_cap") as usize,
        edge_ttl: dur("edge_ttl"),
        identity_grace: dur("identity_grace"),
        new_asset_age: dur("new_asset_age"),
        rare_max_identities: int("rare_max_identities") as u32,
        fanout_window: dur("fanout_window"),
        fanout_min: int("fanout_min") as u32,
        failure_window: dur("failure_window"),
        failure_min_destinations: int("failure_min_destinations") as u32,
        spray_window: dur("spray_window"),
        spray_min_destinations: int("spray_min_destinations") as u32,
        chain_window: dur("chain_window"),
        dormant_after: dur("dormant_after"),
        downgrade_min_observations: int("downgrade_min_observations") as u64,
        env_min_destinations: int("env_min_destinations") as u32,
        stable_novelty_pct: int("stable_novelty_pct") as u32,
        habitual_novelty_pct: int("habitual_novelty_pct") as u32,
        novelty_prior_days: int("novelty_prior_days") as u32,
        transfer_min_ratio: int("transfer_min_ratio") as u64,
        transfer_min_bytes: int("transfer_min_bytes") as u64,
        incident_hold: dur("incident_hold"),
        incident_window: dur("incident_window"),
        alert_score,
        alert_kinds: match d.settings.get("alert_kinds") {
            Some((_, SettingValue::Kinds(k))) => k.clone(),
            _ => vec![],
        },
        admin_ports: match d.settings.get("admin_ports") {
            Some((_, SettingValue::Ports(p))) => p.clone(),
            _ => vec![],
        },
        max_evidence: int("max_evidence") as usize,
        limits: crate::ruleset::Limits {
            identities: int("max_identities") as usize,
            hosts: int("max_hosts") as usize,
            edges: int("max_edges") as usize,
            failures: int("max_failures") as usize,
            ttl: dur("state_ttl"),
        },
    }
}

/// The weight of each feature, by feature index.
pub(super) fn weight_table(d: &Draft) -> [i32; Feature::ALL.len()] {
    let mut weights = [0; Feature::ALL.len()];
    for (f, w) in &d.weights {
        weights[f.index()] = *w;
    }
    weights
}
