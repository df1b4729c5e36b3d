//! IP → host name resolution, so that sources that only know addresses (VPC flows, Zeek,
//! CloudTrail, Kubernetes) join with sources that name hosts (Windows, LANL).
//!
//! File form (`--hosts FILE`): one `ip,host` pair per line; blank lines and lines starting with `#`
//! are ignored; surrounding spaces are trimmed; `::ffff:` prefixes are stripped; a later line for
//! the same address replaces an earlier one.

use crate::norm::strip_mapped;
use std::collections::HashMap;

/// A map from IP address to host name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostMap {
    map: HashMap<String, String>,
}

impl HostMap {
    /// A map from `(ip, host)` pairs.
    pub fn from_pairs<I, A, B>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (A, B)>,
        A: AsRef<str>,
        B: AsRef<str>,
    {
        let mut m = HostMap::default();
        for (ip, host) in pairs {
            m.insert(ip.as_ref(), host.as_ref());
        }
        m
    }

    /// The map a run uses: `inventory` addresses (from the rules), then `file` (the `--hosts`
    /// file), which wins for the same address.
    pub fn layered<I, A, B>(inventory: I, file: Option<&HostMap>) -> Self
    where
        I: IntoIterator<Item = (A, B)>,
        A: AsRef<str>,
        B: AsRef<str>,
    {
        let mut m = HostMap::from_pairs(inventory);
        if let Some(f) = file {
            m.extend(f.clone());
        }
        m
    }

    /// Reads and parses a hosts file; errors name the file and line.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        HostMap::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds or replaces one address.
    pub fn insert(&mut self, ip: &str, host: &str) {
        self.map.insert(
            strip_mapped(ip).to_ascii_lowercase(),
            host.trim().to_string(),
        );
    }

    /// Adds every address of `other`, replacing this map's entry for the same address.
    pub fn extend(&mut self, other: HostMap) {
        self.map.extend(other.map);
    }

    /// Parses the `ip,host` file form; errors name the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut m = HostMap::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((ip, host)) = line.split_once(',') else {
                return Err(format!("line {}: expected `ip,host`", i + 1));
            };
            let (ip, host) = (ip.trim(), host.trim());
            if !crate::norm::is_ip(ip) {
                return Err(format!(
                    "line {}: `{}` is not an IP address",
                    i + 1,
                    crate::norm::excerpt(ip, crate::norm::EXCERPT)
                ));
            }
            if host.is_empty() || host.contains(',') {
                return Err(format!(
                    "line {}: expected one host name after the address",
                    i + 1
                ));
            }
            m.insert(ip, host);
        }
        Ok(m)
    }

    /// The host name of an address, if known.
    pub fn resolve(&self, ip: &str) -> Option<&str> {
        if self.map.is_empty() {
            return None;
        }
        let key = strip_mapped(ip);
        match self.map.get(key) {
            Some(h) => Some(h),
            None => self.map.get(&key.to_ascii_lowercase()).map(String::as_str),
        }
    }

    /// Every (address, host) pair, in no particular order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map
            .iter()
            .map(|(ip, host)| (ip.as_str(), host.as_str()))
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_file_form() {
        let m =
            HostMap::parse("# inventory\n10.0.0.5, WS-01\n\n::ffff:10.0.0.6,DC-01\nFE80::1,LAB\n")
                .unwrap();
        assert_eq!(m.resolve("10.0.0.5"), Some("WS-01"));
        assert_eq!(m.resolve("::ffff:10.0.0.6"), Some("DC-01"));
        assert_eq!(m.resolve("fe80::1"), Some("LAB"));
        assert_eq!(m.resolve("10.0.0.7"), None);
        assert_eq!(m.len(), 3);
        assert_eq!(
            HostMap::parse("10.0.0.5").unwrap_err(),
            "line 1: expected `ip,host`"
        );
        assert!(HostMap::parse("x,WS").unwrap_err().contains("not an IP"));
        assert_eq!(
            HostMap::from_pairs([("10.1.1.1", "A")]).resolve("10.1.1.1"),
            Some("A")
        );
    }
}
