//! OCSF 1.8 Detection Finding (class 2004) encoding of alerts, one JSON object per line.
//!
//! `finding_info.uid` is the alert id, `title` the rule, `desc` the summary, `types`
//! `["Lateral Movement"]`, `analytic` the rule as a behavioral analytic, `attacks` the alert's
//! ATT&CK techniques under tactic TA0008 (also at top level); `severity_id` from the severity band,
//! `risk_score` the score; `actor.user` the identity (type System for `HOST$`, Service for other
//! machine identities); `device` the destination; `evidences` the source/destination endpoints of
//! every observation; `time` the alert's event time in epoch ms (relative for LANL input unless a
//! base time is set); `unmapped` keeps the rest of the native record (features, baseline, peers).

use reachwatch_model::{Alert, Severity};
use serde_json::{json, Value};
use std::io::{self, Write};

/// OCSF schema version written in `metadata.version`.
pub const OCSF_VERSION: &str = "1.8.0";

/// ATT&CK name of a technique or sub-technique id that reachwatch emits.
pub fn technique_name(id: &str) -> &'static str {
    match id {
        "T1018" => "Remote System Discovery",
        "T1021" => "Remote Services",
        "T1021.001" => "Remote Desktop Protocol",
        "T1021.002" => "SMB/Windows Admin Shares",
        "T1021.006" => "Windows Remote Management",
        "T1078" => "Valid Accounts",
        "T1110.003" => "Password Spraying",
        "T1550" => "Use Alternate Authentication Material",
        "T1550.002" => "Pass the Hash",
        _ => "Unknown",
    }
}

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// `(id, name)` of the severity.
fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn endpoint(name: &str) -> Value {
    if crate::norm::is_ip(name) {
        json!({ "ip": name })
    } else {
        json!({ "hostname": name })
    }
}

fn ms(s: reachwatch_model::Seconds) -> i64 {
    (s.0 * 1000.0).round() as i64
}

/// Alert time in epoch ms: the RFC 3339 timestamp when set, else the event time.
pub(crate) fn alert_ms(a: &Alert) -> i64 {
    a.timestamp
        .as_deref()
        .and_then(|t| crate::native::parse_rfc3339(t).ok())
        .unwrap_or_else(|| ms(a.time))
}

/// The Detection Finding of an alert.
pub fn finding(a: &Alert, product_version: &str) -> Value {
    let attacks: Vec<Value> = a
        .attack
        .iter()
        .map(|t| {
            let tactic = json!({"uid": "TA0008", "name": "Lateral Movement"});
            match t.split_once('.') {
                Some((parent, _)) => json!({
                    "tactic": tactic,
                    "technique": {"uid": parent, "name": technique_name(parent)},
                    "sub_technique": {"uid": t, "name": technique_name(t)},
                }),
                None => {
                    json!({"tactic": tactic, "technique": {"uid": t, "name": technique_name(t)}})
                }
            }
        })
        .collect();
    let user_type = if a.identity_kind == "machine" {
        if crate::norm::account(&a.identity, None)
            .split('@')
            .next()
            .is_some_and(|p| p.ends_with('$'))
        {
            (3, "System")
        } else {
            (4, "Service")
        }
    } else if a.identity_kind == "human" {
        (1, "User")
    } else {
        (0, "Unknown")
    };
    let user = json!({"name": a.identity, "type_id": user_type.0, "type": user_type.1});
    let offset = alert_ms(a) - ms(a.time);
    let evidences: Vec<Value> = a
        .evidence
        .observations
        .iter()
        .map(|s| {
            let mut e = json!({
                "actor": {"user": {"name": s.identity}},
                "dst_endpoint": endpoint(&s.dst),
                "name": s.via,
            });
            if let Some(src) = &s.src {
                e["src_endpoint"] = endpoint(src);
            }
            if let Some(svc) = &s.service {
                e["data"] = json!({"service": svc});
            }
            e
        })
        .collect();
    let mut device = endpoint(&a.dst);
    if device.get("hostname").is_some() {
        device["name"] = json!(a.dst);
    }
    device["type_id"] = json!(0);
    let mut v = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": alert_ms(a),
        "start_time": ms(a.evidence.first_time) + offset,
        "end_time": ms(a.evidence.last_time) + offset,
        "severity_id": severity_id(a.severity),
        "severity": severity_name(a.severity),
        "risk_score": a.score,
        "status_id": 1,
        "status": "New",
        "is_alert": true,
        "message": a.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": a.id,
            "product": {"name": "reachwatch", "vendor_name": "reachwatch", "version": product_version},
        },
        "finding_info": {
            "uid": a.id,
            "title": a.rule,
            "desc": a.summary,
            "types": ["Lateral Movement"],
            "analytic": {"uid": a.rule, "name": a.rule, "type_id": 2, "type": "Behavioral"},
            "attacks": attacks,
            "first_seen_time": ms(a.evidence.first_time) + offset,
            "last_seen_time": ms(a.evidence.last_time) + offset,
            "related_events_count": a.evidence.observation_count,
        },
        "attacks": attacks,
        "actor": {"user": user},
        "device": device,
        "evidences": evidences,
        "resources": [{"name": a.dst, "type": "host", "role_id": 1, "role": "Target"}],
        "unmapped": {
            "identity_kind": a.identity_kind,
            "src": a.src,
            "service": a.service,
            "features": a.evidence.features,
            "baseline": a.evidence.baseline,
            "peers": a.evidence.peers,
            "path": a.evidence.path,
            "destinations": a.evidence.destinations,
        },
    });
    if let Some(src) = &a.src {
        v["evidences"].as_array_mut().map(|e| {
            e.is_empty()
                .then(|| e.push(json!({"src_endpoint": endpoint(src)})))
        });
    }
    v
}

/// Writes `alert` as one OCSF Detection Finding line.
pub fn write_alert(out: &mut impl Write, alert: &Alert, product_version: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &finding(alert, product_version))?;
    out.write_all(b"\n")
}
