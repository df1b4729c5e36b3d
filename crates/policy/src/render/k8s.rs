//! Kubernetes egress policies for service-account identities (`system:serviceaccount:NS:NAME`):
//! a `NetworkPolicy` (pods selected by a label whose value is the account's name) or a
//! `CiliumNetworkPolicy` (pods selected by the account itself, the label Cilium sets). Each
//! allowed destination becomes an egress rule to the host's address with its ports, its evidence
//! as a comment; destinations with no known address, or with only authentications seen, cannot
//! be expressed and are listed as comments.

use super::{protocols, Addresses};
use crate::model::{Grant, Judge, Member, Policy};
use crate::time::describe;
use reachwatch_hunt::blast::yaml_str;
use std::fmt::Write as _;

/// Which Kubernetes policy kind to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `networking.k8s.io/v1` `NetworkPolicy`.
    NetworkPolicy,
    /// `cilium.io/v2` `CiliumNetworkPolicy`.
    Cilium,
}

/// The pod label a `NetworkPolicy` selects a service account's workloads by (its value is the
/// account's name), unless told otherwise.
pub const DEFAULT_POD_LABEL: &str = "app.kubernetes.io/name";

/// Cilium's own label for a pod's service account.
const CILIUM_SA_LABEL: &str = "io.cilium.k8s.policy.serviceaccount";

/// Namespace and name of a Kubernetes service-account identity (`system:serviceaccount:NS:NAME`,
/// a `@DOMAIN` suffix ignored).
pub fn service_account(identity: &str) -> Option<(&str, &str)> {
    let principal = identity.split('@').next().unwrap_or(identity);
    let rest = principal.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// A DNS-1123 name from free text (lowercase letters, digits and `-`, at most 253).
fn dns_name(s: &str) -> String {
    let mut n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    n.truncate(253);
    n.trim_matches('-').to_string()
}

/// The manifests, as one multi-document YAML stream; `pod_label` is the label a
/// `NetworkPolicy` selects by.
pub fn render(policy: &Policy, addresses: &Addresses, flavour: Flavour, pod_label: &str) -> String {
    let mut y = format!(
        "# reachwatch least-reach egress policies for Kubernetes service accounts, from the reach\n\
         # graph {}. Each rule carries its evidence.\n",
        policy.generated.graph
    );
    let mut any = false;
    let judge = Judge::new(policy);
    for grant in &policy.grants {
        for m in &grant.members {
            if let Some((ns, name)) = service_account(&m.identity) {
                any = true;
                document(
                    &mut y,
                    &judge,
                    grant,
                    m,
                    (ns, name),
                    addresses,
                    flavour,
                    pod_label,
                );
            }
        }
    }
    if !any {
        y.push_str("# no service-account identity in the policy\n");
    }
    y
}

#[allow(clippy::too_many_arguments)]
fn document(
    y: &mut String,
    judge: &Judge,
    grant: &Grant,
    m: &Member,
    (ns, name): (&str, &str),
    addresses: &Addresses,
    flavour: Flavour,
    pod_label: &str,
) {
    let denied = |dst: &str| judge.denied(&m.identity, None, dst).is_some();
    let (api, kind, selector_key, selector_label, label) = match flavour {
        Flavour::NetworkPolicy => (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "podSelector",
            pod_label,
            name.to_string(),
        ),
        Flavour::Cilium => (
            "cilium.io/v2",
            "CiliumNetworkPolicy",
            "endpointSelector",
            CILIUM_SA_LABEL,
            name.to_string(),
        ),
    };
    let _ = writeln!(
        y,
        "---\n# identity {} (grant {}), used from {}\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {}\n  namespace: {}\n  labels: {{\"app.kubernetes.io/managed-by\": reachwatch}}\nspec:\n  {selector_key}:\n    matchLabels: {{{}: {}}}",
        m.identity,
        grant.name,
        if m.sources.is_empty() { "no known host".to_string() } else { m.sources.join(", ") },
        yaml_str(&dns_name(&format!("reachwatch-egress-{name}"))),
        yaml_str(ns),
        yaml_str(selector_label),
        yaml_str(&label),
    );
    if flavour == Flavour::NetworkPolicy {
        y.push_str("  policyTypes: [Egress]\n");
    }
    let mut rules = String::new();
    for a in grant.allow.iter().filter(|a| !denied(&a.dst)) {
        let cidrs = addresses.cidrs(&a.dst);
        let evidence = format!(
            "{}: first seen {}, last seen {}, {} observations",
            a.dst,
            describe(a.first_seen),
            describe(a.last_seen),
            a.count
        );
        if cidrs.is_empty() || a.ports.is_empty() {
            let why = if cidrs.is_empty() {
                "no address known"
            } else {
                "only authentications seen, no port"
            };
            let _ = writeln!(rules, "    # not expressible ({why}): {evidence}");
            continue;
        }
        let _ = writeln!(rules, "    # {evidence}");
        let ports: Vec<(u16, &str)> = a
            .ports
            .iter()
            .flat_map(|&p| protocols(p).iter().map(move |proto| (p, *proto)))
            .collect();
        match flavour {
            Flavour::NetworkPolicy => {
                rules.push_str("    - to:\n");
                for c in &cidrs {
                    let _ = writeln!(rules, "        - ipBlock: {{cidr: {}}}", yaml_str(c));
                }
                rules.push_str("      ports:\n");
                for (p, proto) in ports {
                    let _ = writeln!(
                        rules,
                        "        - {{protocol: {}, port: {p}}}",
                        proto.to_ascii_uppercase()
                    );
                }
            }
            Flavour::Cilium => {
                let cidrs: Vec<String> = cidrs.iter().map(|c| yaml_str(c)).collect();
                let _ = writeln!(
                    rules,
                    "    - toCIDR: [{}]\n      toPorts:\n        - ports:",
                    cidrs.join(", ")
                );
                for (p, proto) in ports {
                    let _ = writeln!(
                        rules,
                        "            - {{port: \"{p}\", protocol: {}}}",
                        proto.to_ascii_uppercase()
                    );
                }
            }
        }
    }
    let has_rule = rules.lines().any(|l| !l.trim_start().starts_with('#'));
    if has_rule {
        let _ = write!(y, "  egress:\n{rules}");
    } else {
        // No expressible reach: deny all egress (an empty rule enables default deny in Cilium).
        y.push_str(&rules);
        y.push_str(match flavour {
            Flavour::NetworkPolicy => "  egress: []\n",
            Flavour::Cilium => "  egress: [{}]\n",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names() {
        assert_eq!(
            service_account("system:serviceaccount:payments:api@DOM1"),
            Some(("payments", "api"))
        );
        assert_eq!(service_account("system:serviceaccount:ns:a:b"), None);
        assert_eq!(service_account("svc_api"), None);
    }
}
