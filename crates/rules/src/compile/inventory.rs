//! The `inventory` section: hosts and CIDRs with their environment, zone, role and crown-jewel
//! flag, production environments, forbidden zone pairs, and address assignments.

use super::draft::Draft;
use crate::ruleset::{HostMatch, HostRule};
use crate::yaml::{required, Doc};
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;

pub(super) fn inventory(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`inventory`") else {
        return;
    };
    doc.keys(
        map,
        "`inventory`",
        &["hosts", "production", "forbidden_zones", "addresses"],
    );
    addresses(doc, map, d);
    if let Some(seq) = map
        .get_node("hosts")
        .and_then(|n| doc.sequence(n, "`inventory.hosts`"))
    {
        for item in seq.iter() {
            let Some(h) = doc.mapping(item, "an inventory entry") else {
                continue;
            };
            doc.keys(
                h,
                "an inventory entry",
                &[
                    "name",
                    "match",
                    "regex",
                    "cidr",
                    "environment",
                    "zone",
                    "role",
                    "crown_jewel",
                ],
            );
            let selectors: Vec<&str> = ["name", "match", "regex", "cidr"]
                .into_iter()
                .filter(|k| h.get_node(k).is_some())
                .collect();
            if selectors.len() != 1 {
                doc.error_node(item, format!("an inventory entry needs exactly one of `name`, `match`, `regex`, `cidr` (found {})", selectors.len()));
                continue;
            }
            let sel = selectors[0];
            let Some(v) = h
                .get_node(sel)
                .and_then(|n| doc.scalar(n, &format!("`{sel}`")))
            else {
                continue;
            };
            let matcher = match sel {
                "name" => Some(HostMatch::Name(v.as_str().to_string())),
                "match" => Some(HostMatch::Glob(v.as_str().to_ascii_lowercase())),
                "regex" => match regex::Regex::new(v.as_str()) {
                    Ok(r) => Some(HostMatch::Regex(r)),
                    Err(e) => {
                        let first = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        doc.error(v.span(), format!("bad regex `{}`: {first}", v.as_str()));
                        None
                    }
                },
                _ => match parse_cidr(v.as_str()) {
                    Some((ip, bits)) => Some(HostMatch::Cidr(ip, bits)),
                    None => {
                        doc.error(v.span(), format!("bad CIDR `{}` (expected an address and prefix length like 10.1.0.0/16 or fd00::/8)", v.as_str()));
                        None
                    }
                },
            };
            let attr = |doc: &mut Doc<'_>, k: &str| {
                h.get_node(k)
                    .and_then(|n| doc.nonempty(n, &format!("`{k}`")))
            };
            let environment = attr(doc, "environment");
            let zone = attr(doc, "zone");
            let role = attr(doc, "role");
            let crown_jewel = h
                .get_node("crown_jewel")
                .and_then(|n| doc.boolean(n, "`crown_jewel`"));
            if let Some(matcher) = matcher {
                d.hosts.push(HostRule {
                    matcher,
                    environment,
                    zone,
                    role,
                    crown_jewel,
                });
            }
        }
    }
    if let Some(v) = map
        .get_node("production")
        .and_then(|n| doc.strings(n, "`inventory.production`"))
    {
        d.production = Some(v.into_iter().map(|s| s.to_ascii_lowercase()).collect());
    }
    if let Some(seq) = map
        .get_node("forbidden_zones")
        .and_then(|n| doc.sequence(n, "`inventory.forbidden_zones`"))
    {
        for item in seq.iter() {
            let Some(z) = doc.mapping(item, "a forbidden zone pair") else {
                continue;
            };
            doc.keys(z, "a forbidden zone pair", &["from", "to"]);
            let from = required(doc, z, "from", "a forbidden zone pair")
                .and_then(|n| doc.nonempty(n, "`from`"));
            let to = required(doc, z, "to", "a forbidden zone pair")
                .and_then(|n| doc.nonempty(n, "`to`"));
            if let (Some(f), Some(t)) = (from, to) {
                d.forbidden
                    .push((f.to_ascii_lowercase(), t.to_ascii_lowercase()));
            }
        }
    }
}

fn addresses(doc: &mut Doc<'_>, map: &MarkedMappingNode, d: &mut Draft) {
    let Some(seq) = map
        .get_node("addresses")
        .and_then(|n| doc.sequence(n, "`inventory.addresses`"))
    else {
        return;
    };
    for item in seq.iter() {
        let Some(a) = doc.mapping(item, "an address assignment") else {
            continue;
        };
        doc.keys(a, "an address assignment", &["ip", "host"]);
        let ip =
            required(doc, a, "ip", "an address assignment").and_then(|n| doc.scalar(n, "`ip`"));
        let host = required(doc, a, "host", "an address assignment")
            .and_then(|n| doc.nonempty(n, "`host`"));
        if let (Some(ip), Some(host)) = (ip, host) {
            if ip.as_str().trim().parse::<std::net::IpAddr>().is_err() {
                doc.error(ip.span(), format!("`{}` is not an IP address", ip.as_str()));
                continue;
            }
            d.addresses.push((ip.as_str().trim().to_string(), host));
        }
    }
}

fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (ip, bits) = s.trim().split_once('/')?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}
