//! nftables: one ruleset per destination host, for that host's input hook. New connections from
//! the sources and ports the policy allows are accepted, each rule with its evidence as a
//! comment; other new inbound connections are dropped. Sources are written by address; a source
//! with no known address cannot be expressed and is listed as a comment instead.

use super::{merged, network_view, protocols, Addresses};
use crate::model::Policy;
use std::fmt::Write as _;

/// nftables comments hold at most 128 bytes.
const COMMENT_MAX: usize = 128;

fn comment(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c == '"' || !c.is_ascii() { '\'' } else { c })
        .collect();
    if s.len() > COMMENT_MAX {
        s.truncate(COMMENT_MAX - 3);
        s.push_str("...");
    }
    format!("\"{s}\"")
}

/// A table name from a host name (letters, digits and `_`).
fn table_name(host: &str) -> String {
    let h: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("reachwatch_{h}")
}

/// One ruleset per destination host: (host, `nft -f` input).
pub fn render(policy: &Policy, addresses: &Addresses) -> Vec<(String, String)> {
    let mut out = vec![];
    for (dst, ports) in network_view(policy) {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# reachwatch least-reach inbound rules for host {dst}: load on {dst} with `nft -f`.\n\
             # Generated from the reach graph {}; every accept carries its evidence.",
            policy.generated.graph
        );
        let _ = writeln!(t, "table inet {} {{", table_name(&dst));
        t.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
        t.push_str("    ct state established,related accept\n    iif \"lo\" accept\n");
        for (port, sources) in &ports {
            let mut known = vec![];
            for (src, _) in sources.iter() {
                let cidrs = addresses.cidrs(src);
                if cidrs.is_empty() {
                    let _ = writeln!(
                        t,
                        "    # not expressible: no address known for source {src} (port {port})"
                    );
                }
                known.extend(cidrs);
            }
            if known.is_empty() {
                continue;
            }
            let (v4, v6): (Vec<String>, Vec<String>) =
                known.into_iter().partition(|c| !c.contains(':'));
            let evidence = merged(sources.values()).line();
            for proto in protocols(*port) {
                for (family, set) in [("ip", &v4), ("ip6", &v6)] {
                    if set.is_empty() {
                        continue;
                    }
                    let _ = writeln!(
                        t,
                        "    {family} saddr {{ {} }} {proto} dport {port} accept comment {}",
                        set.join(", "),
                        comment(&evidence)
                    );
                }
            }
        }
        t.push_str(
            "    ct state new drop comment \"reachwatch: not in the observed reach\"\n  }\n}\n",
        );
        out.push((dst, t));
    }
    out
}
