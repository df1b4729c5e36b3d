//! Policy renderers for enforcement points: Kubernetes `NetworkPolicy` and
//! `CiliumNetworkPolicy` (egress of service-account workloads), AWS security-group ingress
//! rules, nftables (per destination host). Networks see addresses and ports, not identities:
//! each renderer takes the policy's (source host → destination host, port) pairs with the
//! identities and evidence behind them, and the hosts' addresses.

pub mod aws;
pub mod k8s;
pub mod nft;

use crate::model::{Judge, Policy};
use crate::time::describe;
use reachwatch_formats::HostMap;
use std::collections::{BTreeMap, BTreeSet};

/// Ports that get a UDP rule besides the TCP one: DNS, Kerberos, NTP, kpasswd.
pub const UDP_TOO: [u16; 4] = [53, 88, 123, 464];

/// Host name → addresses (from the inventory's addresses and a hosts file).
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    by_host: BTreeMap<String, BTreeSet<String>>,
}

impl Addresses {
    /// Inverts an address → host map.
    pub fn from_host_map(map: &HostMap) -> Addresses {
        let mut by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (ip, host) in map.pairs() {
            by_host
                .entry(host.to_ascii_lowercase())
                .or_default()
                .insert(ip.to_string());
        }
        Addresses { by_host }
    }

    /// A host's addresses as CIDRs (`/32`, or `/128` for IPv6), empty when unknown.
    pub fn cidrs(&self, host: &str) -> Vec<String> {
        self.by_host
            .get(&host.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .map(|ip| {
                if ip.contains(':') {
                    format!("{ip}/128")
                } else {
                    format!("{ip}/32")
                }
            })
            .collect()
    }
}

/// Who and what stands behind one allowed (source, destination, port).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Identities whose grants allow it, with their observations of the destination.
    pub identities: BTreeMap<String, i64>,
    /// Earliest first use (seconds).
    pub first_seen: i64,
    /// Latest use (seconds).
    pub last_seen: i64,
}

impl Evidence {
    fn add(&mut self, identity: &str, first: i64, last: i64, count: i64) {
        if self.identities.is_empty() {
            self.first_seen = first;
            self.last_seen = last;
        }
        self.identities.insert(identity.to_string(), count);
        self.first_seen = self.first_seen.min(first);
        self.last_seen = self.last_seen.max(last);
    }

    /// Observations of the destination by the identities.
    pub fn count(&self) -> i64 {
        self.identities.values().sum()
    }

    /// The evidence as one line of ASCII: identities, first and last seen, observations.
    pub fn line(&self) -> String {
        let ids: Vec<&str> = self.identities.keys().map(String::as_str).take(3).collect();
        let more = self.identities.len().saturating_sub(ids.len());
        let extra = if more > 0 {
            format!(" +{more} more")
        } else {
            String::new()
        };
        format!(
            "{}{extra}; first seen {}, last seen {}, {} observations",
            ids.join(", "),
            describe(self.first_seen),
            describe(self.last_seen),
            self.count()
        )
    }
}

/// The network view of a policy: destination host → port → source host → evidence.
/// Authentication-only allows (no port seen) and hard-denied (identity, source, destination)
/// triples give no network rule.
pub type NetworkView = BTreeMap<String, BTreeMap<u16, BTreeMap<String, Evidence>>>;

/// Builds the network view of a policy.
pub fn network_view(policy: &Policy) -> NetworkView {
    let judge = Judge::new(policy);
    let mut view = NetworkView::new();
    for grant in &policy.grants {
        for m in &grant.members {
            for a in &grant.allow {
                for s in &m.sources {
                    if judge.denied(&m.identity, Some(s), &a.dst).is_some() {
                        continue;
                    }
                    for &port in &a.ports {
                        view.entry(a.dst.clone())
                            .or_default()
                            .entry(port)
                            .or_default()
                            .entry(s.clone())
                            .or_default()
                            .add(&m.identity, a.first_seen, a.last_seen, a.count);
                    }
                }
            }
        }
    }
    view
}

/// Protocols of a port's rules.
pub fn protocols(port: u16) -> &'static [&'static str] {
    if UDP_TOO.contains(&port) {
        &["tcp", "udp"]
    } else {
        &["tcp"]
    }
}

/// The evidence of several sources together (each identity counted once).
pub fn merged<'a>(items: impl IntoIterator<Item = &'a Evidence>) -> Evidence {
    let mut out = Evidence::default();
    for e in items {
        for (id, &count) in &e.identities {
            out.add(id, e.first_seen, e.last_seen, count);
        }
    }
    out
}
