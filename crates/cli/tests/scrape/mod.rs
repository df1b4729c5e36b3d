//! Scraping the metrics endpoint over HTTP in tests: a plain GET and a parser of the
//! Prometheus text exposition format.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GET a path; returns (status, body).
pub fn get(addr: &str, path: &str) -> (u16, String) {
    fetch(addr, path).unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// GET a path, or `None` when nothing at `addr` answers it (not listening yet, or the connection
/// dropped before the answer: a server still starting, or something else on the port).
pub fn try_get(addr: &str, path: &str) -> Option<(u16, String)> {
    fetch(addr, path).ok()
}

fn fetch(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Parses the Prometheus text format into `name{labels}` → value.
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad exposition line {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(key.starts_with("reachwatch_"), "{line}");
        out.insert(key.to_string(), value);
    }
    out
}

/// A sample's value; 0 when absent.
pub fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}
