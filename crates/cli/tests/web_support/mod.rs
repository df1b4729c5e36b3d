//! Helpers of the web view tests: the small scenario replayed with its graph, `reachwatch serve`
//! started on a free port, headless Chromium (rendered DOM and screenshots) and a reader of
//! the elements of a serialised DOM.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The small scenario's directory.
pub fn small_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small")
}

/// Replays the small scenario (5 learning days) into `dir`: (alerts file, graph directory).
pub fn replay(dir: &Path) -> (PathBuf, PathBuf) {
    let s = small_scenario();
    let (alerts, graph) = (dir.join("alerts.jsonl"), dir.join("graph"));
    let out = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .args(["replay", "--format", "lanl", "--learn", "5d", "-q"])
        .arg("--auth")
        .arg(s.join("auth.txt"))
        .arg("--flows")
        .arg(s.join("flows.txt"))
        .arg("--alerts")
        .arg(&alerts)
        .arg("--graph-out")
        .arg(&graph)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (alerts, graph)
}

/// The alerts of a file, as JSON values in file order.
pub fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A running `reachwatch serve`, killed when dropped.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `reachwatch serve` on a free loopback port and waits for the URL it prints.
pub fn serve(alerts: &Path, graph: &Path) -> Served {
    serve_with(alerts, graph, &[])
}

/// [`serve`] with more arguments.
pub fn serve_with(alerts: &Path, graph: &Path, more: &[&std::ffi::OsStr]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reachwatch"))
        .arg("serve")
        .arg("--alerts")
        .arg(alerts)
        .arg("--graph")
        .arg(graph)
        .args(more)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    Served { child, url }
}

/// The Chromium binary: `$CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome`
/// on the path. A missing browser fails the test: `scripts/test` installs Debian's `chromium`.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for the browser tests and was not found: \
         apt-get install chromium (scripts/test does it), or set CHROMIUM"
    );
}

fn browser(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The DOM of a page as Chromium renders it.
pub fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(profile.path())
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --dump-dom {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("</html>"), "no page from {url}: {dom}");
    dom
}

/// A screenshot of a page at the given window size, as a PNG file.
pub fn screenshot(url: &str, file: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(profile.path())
        .arg(format!("--screenshot={}", file.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success() && file.is_file(),
        "chromium --screenshot {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a screenshot shows, roughly: its size, how many pixels are not the background (the top
/// left pixel's colour) and how many colours it has.
pub struct PictureStats {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Share of pixels that differ from the background.
    pub inked: f64,
    /// Distinct colours.
    pub colours: usize,
    /// Share of pixels that are clearly red (the alert's new edges, red boxes).
    pub red: f64,
}

/// Decodes a PNG and measures it.
pub fn picture_stats(file: &Path) -> PictureStats {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| &p[..3])
        .collect();
    let background = pixels[0];
    let inked = pixels.iter().filter(|p| **p != background).count();
    let red = pixels
        .iter()
        .filter(|p| p[0] > 180 && p[1] < 90 && p[2] < 90)
        .count();
    let colours: BTreeSet<&[u8]> = pixels.iter().copied().collect();
    PictureStats {
        width: info.width,
        height: info.height,
        inked: inked as f64 / pixels.len() as f64,
        colours: colours.len(),
        red: red as f64 / pixels.len() as f64,
    }
}

/// Undoes the entity escapes a serialised DOM uses in attribute values.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attributes of every `<tag …>` element of a serialised DOM, in document order.
pub fn elements(dom: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag} ");
    let mut out = vec![];
    let mut rest = dom;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let mut attrs = BTreeMap::new();
        let mut s = rest;
        loop {
            s = s.trim_start();
            if s.starts_with('>') || s.starts_with("/>") || s.is_empty() {
                break;
            }
            let name_end = s.find(['=', ' ', '>']).unwrap_or(s.len());
            let name = s[..name_end].to_string();
            s = &s[name_end..];
            if let Some(v) = s.strip_prefix("=\"") {
                let end = v.find('"').unwrap();
                attrs.insert(name, unescape(&v[..end]));
                s = &v[end + 1..];
            } else {
                attrs.insert(name, String::new());
            }
        }
        out.push(attrs);
    }
    out
}

/// Elements whose `class` has every one of `classes`.
pub fn with_classes<'a>(
    els: &'a [BTreeMap<String, String>],
    classes: &[&str],
) -> Vec<&'a BTreeMap<String, String>> {
    els.iter()
        .filter(|e| {
            let have: BTreeSet<&str> = e.get("class").map_or("", |c| c).split(' ').collect();
            classes.iter().all(|c| have.contains(c))
        })
        .collect()
}

/// Percent-encodes a value as one URL path segment.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Waits until `f` holds (polling), or panics after `secs`.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
