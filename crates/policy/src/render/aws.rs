//! AWS security-group ingress rules: per destination host, the input of
//! `aws ec2 authorize-security-group-ingress --cli-input-json` (`GroupId`, `IpPermissions`),
//! one permission per protocol and port with the allowed sources as `/32` ranges, each range's
//! description the evidence. Hosts are matched to addresses through the inventory and the hosts
//! file; sources with no known address are left out and counted.

use super::{network_view, protocols, Addresses};
use crate::model::Policy;
use serde_json::{json, Map, Value};

/// Security-group rule descriptions hold at most 255 characters of a restricted ASCII set.
const DESCRIPTION_MAX: usize = 255;

/// A description from free text: characters AWS accepts (`a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*`),
/// others replaced by a space.
fn description(text: &str) -> String {
    const EXTRA: &str = ". _-:/()#,@[]+=&;{}!$*";
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || EXTRA.contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    s.truncate(DESCRIPTION_MAX);
    s
}

/// The rules as one JSON object: destination host → `authorize-security-group-ingress` input.
/// `GroupId` is a placeholder naming the host, to replace with the host's security group.
/// Also returns the (source, destination) pairs left out for want of an address.
pub fn render(policy: &Policy, addresses: &Addresses) -> (Value, Vec<(String, String)>) {
    let mut hosts = Map::new();
    let mut missing = vec![];
    for (dst, ports) in network_view(policy) {
        let mut permissions = vec![];
        for (port, sources) in &ports {
            let mut ranges = vec![];
            for (src, ev) in sources {
                let cidrs = addresses.cidrs(src);
                if cidrs.is_empty() {
                    missing.push((src.clone(), dst.clone()));
                }
                for cidr in cidrs {
                    let key = if cidr.contains(':') {
                        "CidrIpv6"
                    } else {
                        "CidrIp"
                    };
                    ranges.push((key, cidr, description(&format!("{src}: {}", ev.line()))));
                }
            }
            if ranges.is_empty() {
                continue;
            }
            for proto in protocols(*port) {
                let v4: Vec<Value> = ranges
                    .iter()
                    .filter(|r| r.0 == "CidrIp")
                    .map(|(k, c, d)| json!({ *k: c, "Description": d }))
                    .collect();
                let v6: Vec<Value> = ranges
                    .iter()
                    .filter(|r| r.0 == "CidrIpv6")
                    .map(|(k, c, d)| json!({ *k: c, "Description": d }))
                    .collect();
                let mut p = json!({
                    "IpProtocol": proto,
                    "FromPort": port,
                    "ToPort": port,
                });
                if !v4.is_empty() {
                    p["IpRanges"] = Value::Array(v4);
                }
                if !v6.is_empty() {
                    p["Ipv6Ranges"] = Value::Array(v6);
                }
                permissions.push(p);
            }
        }
        if permissions.is_empty() {
            continue;
        }
        hosts.insert(
            dst.clone(),
            json!({
                "GroupId": format!("REPLACE-WITH-SECURITY-GROUP-OF-{dst}"),
                "IpPermissions": permissions,
            }),
        );
    }
    (Value::Object(hosts), missing)
}
