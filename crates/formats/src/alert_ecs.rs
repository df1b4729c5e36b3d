//! ECS alert documents (`event.kind: alert`), one JSON object per line, ready for `_bulk` into a
//! data stream and for an Elastic Security "external alerts" rule.
//!
//! `@timestamp` the alert's event time; `event.*` (kind, category `intrusion_detection`, id,
//! severity, risk_score, start/end, dataset `reachwatch.alert`); `rule.*` (id/name the rule,
//! ruleset `reachwatch`); `threat.*` (MITRE ATT&CK, tactic TA0008, techniques and
//! sub-techniques); `user.name` the identity; `source.*`/`destination.*` (`ip` for addresses,
//! `domain` for host names); `related.*`; `observer.*`; `reachwatch.*` the native evidence.

use crate::alert_ocsf::{alert_ms, technique_name};
use crate::native::format_rfc3339;
use reachwatch_model::Alert;
use serde_json::{json, Value};
use std::io::{self, Write};

/// ECS version written in `ecs.version`.
pub const ECS_VERSION: &str = "9.0.0";

fn endpoint(name: &str) -> Value {
    if crate::norm::is_ip(name) {
        json!({ "ip": name })
    } else {
        json!({ "domain": name })
    }
}

/// The ECS document of an alert.
pub fn document(a: &Alert, product_version: &str) -> Value {
    let t = alert_ms(a);
    let offset = t - (a.time.0 * 1000.0).round() as i64;
    let at = |s: reachwatch_model::Seconds| format_rfc3339((s.0 * 1000.0).round() as i64 + offset);
    let (mut tech_id, mut tech_name, mut sub_id, mut sub_name) = (vec![], vec![], vec![], vec![]);
    for t in &a.attack {
        let parent = t.split('.').next().unwrap_or(t);
        if !tech_id.contains(&parent) {
            tech_id.push(parent);
            tech_name.push(technique_name(parent));
        }
        if t.contains('.') {
            sub_id.push(t.as_str());
            sub_name.push(technique_name(t));
        }
    }
    let mut technique = json!({"id": tech_id, "name": tech_name});
    if !sub_id.is_empty() {
        technique["subtechnique"] = json!({"id": sub_id, "name": sub_name});
    }
    let mut hosts = vec![a.dst.clone()];
    let mut doc = json!({
        "@timestamp": format_rfc3339(t),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "id": a.id,
            "severity": a.score,
            "risk_score": a.score as f64,
            "risk_score_norm": a.score as f64,
            "start": at(a.evidence.first_time),
            "end": at(a.evidence.last_time),
            "dataset": "reachwatch.alert",
            "module": "reachwatch",
            "provider": "reachwatch",
        },
        "rule": {"id": a.rule, "name": a.rule, "ruleset": "reachwatch", "category": "lateral_movement"},
        "threat": {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": ["TA0008"], "name": ["Lateral Movement"]},
            "technique": technique,
        },
        "user": {"name": a.identity},
        "destination": endpoint(&a.dst),
        "observer": {"vendor": "reachwatch", "product": "reachwatch", "version": product_version},
        "message": a.summary,
        "labels": {"severity": a.severity.name(), "identity_kind": a.identity_kind},
        "reachwatch": {
            "service": a.service,
            "evidence": a.evidence,
        },
    });
    if let Some(src) = &a.src {
        doc["source"] = endpoint(src);
        hosts.insert(0, src.clone());
    }
    let (ips, names): (Vec<String>, Vec<String>) =
        hosts.into_iter().partition(|h| crate::norm::is_ip(h));
    doc["related"] = json!({"user": [a.identity], "ip": ips, "hosts": names});
    doc
}

/// Writes `alert` as one ECS document line.
pub fn write_alert(out: &mut impl Write, alert: &Alert, product_version: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &document(alert, product_version))?;
    out.write_all(b"\n")
}
