//! Identity classification (machine / human / unknown) and name stems used as peer groups.

use serde::{Deserialize, Serialize};

/// What kind of principal an identity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// Computer accounts, service accounts, workload and cloud identities.
    Machine,
    /// People.
    Human,
    /// Well-known or unclassifiable principals (`ANONYMOUS LOGON`, `SYSTEM`, `?`).
    Unknown,
}

impl IdentityKind {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Machine => "machine",
            Self::Human => "human",
            Self::Unknown => "unknown",
        }
    }
}

/// Default patterns for machine identities, matched case-insensitively against the principal
/// (the part before the last `@`, and the whole name).
pub const DEFAULT_MACHINE_PATTERNS: &[&str] = &[
    "*$",
    "svc_*",
    "svc-*",
    "sa-*",
    "sa_*",
    "system:serviceaccount:*",
    "system:node:*",
    "spiffe://*",
    "arn:aws:sts::*:assumed-role/*",
    "arn:aws:iam::*:role/*",
];

/// Default patterns for principals that are neither people nor workloads.
pub const DEFAULT_UNKNOWN_PATTERNS: &[&str] = &[
    "?",
    "anonymous logon",
    "system",
    "local service",
    "network service",
];

/// Classifies identities by glob patterns (`*` any run, `?` one character).
#[derive(Clone, Debug)]
pub struct Classifier {
    machine: Vec<String>,
    unknown: Vec<String>,
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new(DEFAULT_MACHINE_PATTERNS, DEFAULT_UNKNOWN_PATTERNS)
    }
}

impl Classifier {
    /// A classifier from machine and unknown patterns; everything else is human.
    pub fn new<S: AsRef<str>>(machine: &[S], unknown: &[S]) -> Self {
        let lower = |v: &[S]| v.iter().map(|p| p.as_ref().to_ascii_lowercase()).collect();
        Classifier {
            machine: lower(machine),
            unknown: lower(unknown),
        }
    }

    /// The kind of `identity` (`user@domain` or a bare principal).
    pub fn classify(&self, identity: &str) -> IdentityKind {
        let lower = identity.to_ascii_lowercase();
        let principal = principal(&lower);
        let hit = |pats: &[String]| {
            pats.iter()
                .any(|p| glob_match(p, principal) || glob_match(p, &lower))
        };
        if principal.is_empty() || hit(&self.unknown) {
            IdentityKind::Unknown
        } else if hit(&self.machine) {
            IdentityKind::Machine
        } else {
            IdentityKind::Human
        }
    }
}

/// The principal part of `user@domain` (everything before the last `@`), or the whole name.
/// Names that contain `://` or `:` before any `@` (SPIFFE ids, ARNs) are returned whole.
pub fn principal(identity: &str) -> &str {
    if identity.contains("://") || identity.starts_with("arn:") {
        return identity;
    }
    match identity.rfind('@') {
        Some(at) => &identity[..at],
        None => identity,
    }
}

/// The peer-group stem of a host or identity name: principal only, lowercased, without a trailing
/// `$`, and without trailing digits and separators (`PROD-WEB-03` → `prod-web`,
/// `svc_sql_app02@DOM1` → `svc_sql_app`). A name that is all digits keeps its whole principal.
pub fn stem(name: &str) -> String {
    let p = principal(name).trim_end_matches('$');
    let trimmed = p.trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let s = if trimmed.is_empty() { p } else { trimmed };
    s.to_ascii_lowercase()
}

/// Glob match with `*` (any run) and `?` (one character), on bytes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classification() {
        let c = Classifier::default();
        for m in [
            "C625$@DOM1",
            "svc_backup@DOM1",
            "SA-deploy@corp",
            "system:serviceaccount:payments:api",
            "system:serviceaccount:payments:api@K8S",
            "spiffe://prod.example/ns/a/sa/b",
            "arn:aws:sts::123456789012:assumed-role/deploy/i-0abc",
        ] {
            assert_eq!(c.classify(m), IdentityKind::Machine, "{m}");
        }
        assert_eq!(c.classify("U101@DOM1"), IdentityKind::Human);
        assert_eq!(c.classify("adm_U12@DOM1"), IdentityKind::Human);
        assert_eq!(c.classify("ANONYMOUS LOGON@C586"), IdentityKind::Unknown);
        assert_eq!(c.classify("?@DOM1"), IdentityKind::Unknown);
    }

    #[test]
    fn stems() {
        assert_eq!(stem("PROD-WEB-03"), "prod-web");
        assert_eq!(stem("PROD-WEB-03$@DOM1"), "prod-web");
        assert_eq!(stem("svc_sql_app02@DOM1"), "svc_sql_app");
        assert_eq!(stem("C1065"), "c");
        assert_eq!(stem("1234"), "1234");
        assert_eq!(stem("10.0.0.5"), "10.0.0.5");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*$", "c1$"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match(
            "*:assumed-role/*",
            "arn:aws:sts::1:assumed-role/x/y"
        ));
        assert!(!glob_match("svc_*", "xsvc_a"));
    }
}
