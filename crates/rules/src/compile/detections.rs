//! The `detections` section (with `override:` across files), and compiling detections'
//! conditions.

use super::draft::{Cond, DetectionDraft, Draft, Source};
use crate::condition::{self, Expr, Scope};
use crate::error::Problem;
use crate::ruleset::{Detection, SeverityRule};
use crate::yaml::{required, Doc};
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;
use reachwatch_model::Severity;
use std::collections::BTreeMap;

const DETECTION_KEYS: &[&str] = &[
    "id",
    "description",
    "condition",
    "severity",
    "weight",
    "min_score",
    "attack",
    "tags",
    "enabled",
    "override",
];
const OVERRIDABLE: &[&str] = &[
    "description",
    "condition",
    "severity",
    "weight",
    "min_score",
    "attack",
    "tags",
    "enabled",
];
const APPENDABLE: &[&str] = &["condition", "attack", "tags"];

fn severity(doc: &mut Doc<'_>, node: &Node) -> Option<SeverityRule> {
    let s = doc.scalar(node, "`severity`")?;
    Some(match s.as_str() {
        "auto" => SeverityRule::Auto,
        "low" => SeverityRule::Fixed(Severity::Low),
        "medium" => SeverityRule::Fixed(Severity::Medium),
        "high" => SeverityRule::Fixed(Severity::High),
        "critical" => SeverityRule::Fixed(Severity::Critical),
        other => {
            doc.error(
                s.span(),
                format!("unknown severity `{other}` (expected auto, low, medium, high, critical)"),
            );
            return None;
        }
    })
}

/// True for an ATT&CK technique id, `T` and four digits with an optional `.` and three digits
/// (compared as bytes: no cut can fall inside a multi-byte character).
fn is_attack_id(t: &str) -> bool {
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    match t.as_bytes() {
        [b'T', id @ ..] if id.len() == 4 => digits(id),
        [b'T', id @ ..] if id.len() == 8 => digits(&id[..4]) && id[4] == b'.' && digits(&id[5..]),
        _ => false,
    }
}

fn attack_ids(doc: &mut Doc<'_>, node: &Node) -> Option<Vec<String>> {
    let v = doc.strings(node, "`attack`")?;
    for t in &v {
        if !is_attack_id(t) {
            doc.error(
                node.span(),
                format!("`{t}` is not an ATT&CK technique id like T1021 or T1021.002"),
            );
            return None;
        }
    }
    Some(v)
}

pub(super) fn detections(doc: &mut Doc<'_>, file: usize, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`detections`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "a detection") else {
            continue;
        };
        doc.keys(m, "a detection", DETECTION_KEYS);
        let Some(id_node) = required(doc, m, "id", "a detection") else {
            continue;
        };
        let Some(id_s) = doc.scalar(id_node, "`id`") else {
            continue;
        };
        let id = id_s.as_str().to_string();
        if id.is_empty()
            || !id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
            })
        {
            doc.error(
                id_s.span(),
                format!("detection id `{id}` must be lowercase letters, digits, `-`, `_` or `.`"),
            );
            continue;
        }
        let pos = doc.pos(id_s.span());
        let existing = d.detections.iter().position(|x| x.id == id);
        match (existing, m.get_node("override")) {
            (Some(i), None) => {
                let first = d.detections[i].origin.clone();
                doc.error_at(pos, format!("duplicate detection id `{id}` (first defined at {first}); add `override:` to change it"));
            }
            (None, Some(o)) => doc.error(o.span(), format!("detection `{id}` is not defined in an earlier file, so it cannot be overridden")),
            (Some(i), Some(o)) => override_detection(doc, file, m, o, &mut d.detections[i]),
            (None, None) => {
                let condition = required(doc, m, "condition", "a detection").and_then(|n| doc.scalar(n, "`condition`")).map(|s| Cond::new(file, s));
                let description = m.get_node("description").and_then(|n| doc.string(n, "`description`")).unwrap_or_default();
                let sev = m.get_node("severity").map_or(Some(SeverityRule::Auto), |n| severity(doc, n));
                let weight = m.get_node("weight").map_or(Some(0), |n| doc.integer(n, "`weight`", -100, 100));
                let min_score = m.get_node("min_score").map(|n| doc.integer(n, "`min_score`", 0, 100));
                let attack = m.get_node("attack").map_or(Some(vec![]), |n| attack_ids(doc, n));
                let tags = m.get_node("tags").map_or(Some(vec![]), |n| doc.strings(n, "`tags`"));
                let enabled = m.get_node("enabled").map_or(Some(true), |n| doc.boolean(n, "`enabled`"));
                let (Some(condition), Some(severity), Some(weight), Some(attack), Some(tags), Some(enabled)) = (condition, sev, weight, attack, tags, enabled) else { continue };
                if matches!(min_score, Some(None)) {
                    continue;
                }
                d.detections.push(DetectionDraft {
                    origin: pos,
                    id,
                    description,
                    condition: Some(condition),
                    severity,
                    weight: weight as i32,
                    min_score: min_score.flatten().map(|v| v as u32),
                    attack,
                    tags,
                    enabled,
                });
            }
        }
    }
}

fn override_detection(
    doc: &mut Doc<'_>,
    file: usize,
    m: &MarkedMappingNode,
    o: &Node,
    det: &mut DetectionDraft,
) {
    let Some(om) = doc.mapping(o, "`override`") else {
        return;
    };
    doc.keys(om, "`override`", OVERRIDABLE);
    for (field, mode) in om.iter() {
        let f = field.as_str();
        if !OVERRIDABLE.contains(&f) {
            continue;
        }
        let Some(mode_s) = doc.scalar(mode, "an override mode") else {
            continue;
        };
        let mode = mode_s.as_str();
        if mode != "append" && mode != "replace" {
            doc.error(
                mode_s.span(),
                format!("override mode `{mode}` for `{f}` must be append or replace"),
            );
            continue;
        }
        if mode == "append" && !APPENDABLE.contains(&f) {
            doc.error(
                mode_s.span(),
                format!("`{f}` can only be replaced, not appended to"),
            );
            continue;
        }
        let Some(value) = m.get_node(f) else {
            doc.error(
                field.span(),
                format!("override names `{f}` but the detection does not set it"),
            );
            continue;
        };
        let append = mode == "append";
        match f {
            "condition" => {
                if let Some(s) = doc.scalar(value, "`condition`") {
                    match (&mut det.condition, append) {
                        (Some(c), true) => c.append(file, s),
                        (c, _) => *c = Some(Cond::new(file, s)),
                    }
                }
            }
            "description" => {
                if let Some(s) = doc.string(value, "`description`") {
                    det.description = s;
                }
            }
            "severity" => {
                if let Some(s) = severity(doc, value) {
                    det.severity = s;
                }
            }
            "weight" => {
                if let Some(w) = doc.integer(value, "`weight`", -100, 100) {
                    det.weight = w as i32;
                }
            }
            "min_score" => {
                if let Some(w) = doc.integer(value, "`min_score`", 0, 100) {
                    det.min_score = Some(w as u32);
                }
            }
            "attack" => {
                if let Some(v) = attack_ids(doc, value) {
                    if append {
                        det.attack.extend(v)
                    } else {
                        det.attack = v
                    }
                }
            }
            "tags" => {
                if let Some(v) = doc.strings(value, "`tags`") {
                    if append {
                        det.tags.extend(v)
                    } else {
                        det.tags = v
                    }
                }
            }
            _ => {
                if let Some(b) = doc.boolean(value, "`enabled`") {
                    det.enabled = b;
                }
            }
        }
    }
    for key in m.keys() {
        let k = key.as_str();
        if k != "id" && k != "override" && OVERRIDABLE.contains(&k) && om.get_node(k).is_none() {
            doc.error(key.span(), format!("`{k}` is set but not named in `override` (add `{k}: replace` or `{k}: append`)"));
        }
    }
}

/// Compiles every detection's condition; `alert_score` is the default `min_score`.
pub(super) fn compile_all(
    d: &Draft,
    sources: &[Source],
    macros: &BTreeMap<String, Expr>,
    lists: &BTreeMap<String, Vec<String>>,
    alert_score: u32,
    problems: &mut Vec<Problem>,
) -> Vec<Detection> {
    let mut detections = vec![];
    for det in &d.detections {
        let Some(cond) = &det.condition else { continue };
        match condition::compile(&cond.joined, &Scope { macros, lists }) {
            Ok(condition) => detections.push(Detection {
                id: det.id.clone(),
                description: det.description.clone(),
                condition,
                condition_text: cond.joined.clone(),
                severity: det.severity,
                weight: det.weight,
                min_score: det.min_score.unwrap_or(alert_score),
                attack: det.attack.clone(),
                tags: det.tags.clone(),
                enabled: det.enabled,
            }),
            Err(e) => problems.push(Problem {
                pos: cond.pos(e.offset, sources),
                message: format!("in detection `{}`: {}", det.id, e.message),
            }),
        }
    }
    detections
}
