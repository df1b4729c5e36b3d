//! The reachwatch policy file: YAML, one grant per set of identities with identical reach, every
//! allow with its evidence (first and last seen, observations), hard denies with their reason.
//! Written by hand for stable, readable output; read back with positions in errors.

use crate::model::{Policy, POLICY_VERSION};
use crate::time::describe;
use anyhow::{bail, Context, Result};
use reachwatch_hunt::blast::yaml_str;
use std::fmt::Write as _;
use std::path::Path;

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn list<T: ToString>(items: &[T], quote: bool) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|i| {
            let s = i.to_string();
            if quote {
                yaml_str(&s)
            } else {
                s
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The policy as YAML.
pub fn to_yaml(p: &Policy) -> String {
    let mut y = String::new();
    let g = &p.generated;
    let _ = writeln!(
        y,
        "# reachwatch least-reach policy: what each identity used in the {} s before {} in the\n\
         # reach graph {}. Everything else is denied for identities in scope. Every allow carries\n\
         # its evidence; grants shared by several identities list identical observed reach (no\n\
         # generalisation). Hard denies come from the inventory and win over allows.",
        g.window_seconds,
        describe(g.to),
        g.graph
    );
    let _ = writeln!(y, "reachwatch_policy: {}", p.reachwatch_policy);
    let _ = writeln!(
        y,
        "generated: {{graph: {}, window_seconds: {}, from: {}, to: {}}}",
        yaml_str(&g.graph),
        g.window_seconds,
        g.from,
        g.to
    );
    let s = &p.scope;
    let _ = writeln!(
        y,
        "scope: {{{}envs: {}, identities: {}}}",
        s.kind
            .as_deref()
            .map_or(String::new(), |k| format!("kind: {}, ", yaml_str(k))),
        list(&s.envs, true),
        list(&s.identities, true)
    );
    y.push_str(if p.grants.is_empty() {
        "grants: []\n"
    } else {
        "grants:\n"
    });
    for grant in &p.grants {
        let _ = writeln!(y, "  - name: {}", yaml_str(&grant.name));
        if grant.members.len() > 1 {
            let _ = writeln!(
                y,
                "    # shared by {} identities whose observed reach is identical",
                grant.members.len()
            );
        }
        y.push_str("    members:\n");
        for m in &grant.members {
            let _ = writeln!(
                y,
                "      - {{identity: {}, sources: {}}}",
                yaml_str(&m.identity),
                list(&m.sources, true)
            );
        }
        if grant.allow.is_empty() {
            y.push_str("    allow: []  # nothing observed in the window: deny all\n");
            continue;
        }
        y.push_str("    allow:\n");
        for a in &grant.allow {
            let _ = writeln!(
                y,
                "      - {{dst: {}, ports: {}, first_seen: {}, last_seen: {}, count: {}}}",
                yaml_str(&a.dst),
                list(&a.ports, false),
                a.first_seen,
                a.last_seen,
                a.count
            );
        }
    }
    y.push_str(if p.denies.is_empty() {
        "denies: []\n"
    } else {
        "# Hard denies: paths the reach graph holds that the inventory forbids (findings to review).\ndenies:\n"
    });
    for d in &p.denies {
        let _ = writeln!(
            y,
            "  - {{identity: {}, {}dst: {}, reason: {}, first_seen: {}, last_seen: {}, count: {}}}",
            yaml_str(&d.identity),
            d.src
                .as_deref()
                .map_or(String::new(), |s| format!("src: {}, ", yaml_str(s))),
            yaml_str(&d.dst),
            yaml_str(&d.reason),
            d.first_seen,
            d.last_seen,
            d.count
        );
    }
    y
}

/// Parses a policy file's text; errors give the line and column.
pub fn from_yaml(text: &str) -> Result<Policy> {
    let p: Policy = marked_yaml::from_yaml(0, text).map_err(|e| {
        let at = match &e {
            marked_yaml::FromYamlError::ParseYaml(_) => None,
            marked_yaml::FromYamlError::FromNode(n) => n
                .start_mark()
                .map(|m| (m.line(), m.column()))
                .or_else(|| match &**n {
                    marked_yaml::spanned_serde::Error::UnknownFieldError(field, _, _) => {
                        key_position(text, field)
                    }
                    _ => None,
                }),
        };
        match at {
            Some((line, column)) => anyhow::anyhow!("line {line}, column {column}: {e}"),
            None => anyhow::anyhow!("{e}"),
        }
    })?;
    if p.reachwatch_policy != POLICY_VERSION {
        bail!(
            "reachwatch_policy: version {} is not supported (this reachwatch reads version {POLICY_VERSION})",
            p.reachwatch_policy
        );
    }
    Ok(p)
}

/// Line and column (from 1) of the first `key:` in the text, for errors that carry no position.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let at = line.find(&format!("{key}:"))?;
        let before = line[..at].chars().next_back();
        before
            .is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-')
            .then_some((i + 1, at + 1))
    })
}

/// Reads a policy file.
pub fn load(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    from_yaml(&text).with_context(|| format!("{} is not a valid reachwatch policy", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn a_policy_survives_writing_and_reading() {
        let p = Policy {
            reachwatch_policy: POLICY_VERSION,
            generated: Generated {
                graph: "g\"raph".into(),
                window_seconds: 86_400,
                from: 5,
                to: 99,
            },
            scope: Scope {
                kind: Some("machine".into()),
                envs: vec!["production".into()],
                identities: vec![],
            },
            grants: vec![
                Grant {
                    name: "shared-1".into(),
                    members: vec![
                        Member {
                            identity: "a$".into(),
                            sources: vec!["A".into()],
                        },
                        Member {
                            identity: "b: c".into(),
                            sources: vec![],
                        },
                    ],
                    allow: vec![Allow {
                        dst: "DC-01".into(),
                        ports: vec![88, 389],
                        first_seen: 5,
                        last_seen: 90,
                        count: 12,
                    }],
                },
                Grant {
                    name: "idle".into(),
                    members: vec![Member {
                        identity: "idle".into(),
                        sources: vec!["X".into()],
                    }],
                    allow: vec![],
                },
            ],
            denies: vec![Deny {
                identity: "a$".into(),
                src: None,
                dst: "PROD-DB-01".into(),
                reason: "zone nonprod → prod is forbidden".into(),
                first_seen: 7,
                last_seen: 8,
                count: 2,
            }],
        };
        let text = to_yaml(&p);
        assert_eq!(from_yaml(&text).unwrap(), p, "{text}");
    }

    #[test]
    fn errors_say_where() {
        let e = from_yaml("reachwatch_policy: 1\ngenerated: {graph: x, window_seconds: 1, from: 0, to: 1}\nscope: {}\ngrants:\n  - name: a\n    members: []\n    bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus") && e.contains("line 7"), "{e}");
        let e = from_yaml("reachwatch_policy: 2\ngenerated: {graph: x, window_seconds: 1, from: 0, to: 1}\nscope: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 2"), "{e}");
    }
}
