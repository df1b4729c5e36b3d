//! Compiling rule files: read every file, merge them in order (later files override or append),
//! compile conditions, and report every problem with its `file:line:column`.

use crate::condition::{self, Expr, Scope};
use crate::error::{Pos, Problem, Problems};
use crate::ruleset::*;
use crate::vocab::Feature;
use crate::yaml::Doc;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use reachwatch_model::{IdentityKind, Severity, Ts};
use std::collections::BTreeMap;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// One rule file's name and text.
#[derive(Clone, Debug)]
pub struct Source {
    /// Name used in positions (the path as given).
    pub name: String,
    /// Contents.
    pub text: String,
}

/// Largest rule file accepted, in bytes.
pub const MAX_FILE: usize = 4 << 20;

const TOP: &[&str] = &[
    "settings",
    "weights",
    "identities",
    "inventory",
    "lists",
    "macros",
    "detections",
    "exceptions",
    "tests",
];

/// Reads every `*.yaml` / `*.yml` file of `dir` (sorted by file name) and compiles them.
pub fn load_dir(dir: &Path) -> Result<RuleSet, Problems> {
    let whole = |message: String| {
        Problems(vec![Problem {
            pos: Pos {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
            },
            message,
        }])
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| whole(format!("cannot read rules directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(whole(
            "no rule files (*.yaml, *.yml) in the rules directory".into(),
        ));
    }
    let mut sources = vec![];
    for p in paths {
        let name = p.display().to_string();
        let bytes = std::fs::read(&p).map_err(|e| whole(format!("cannot read {name}: {e}")))?;
        if bytes.len() > MAX_FILE {
            return Err(whole(format!("{name} is larger than {MAX_FILE} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            whole(format!(
                "{name} is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        sources.push(Source { name, text });
    }
    compile(&sources)
}

/// A condition assembled from one or more scalars (definition plus appends).
#[derive(Clone)]
struct Cond {
    joined: String,
    parts: Vec<(usize, usize, MarkedScalarNode)>,
}

impl Cond {
    fn new(file: usize, s: &MarkedScalarNode) -> Cond {
        Cond {
            joined: s.as_str().to_string(),
            parts: vec![(0, file, s.clone())],
        }
    }

    fn append(&mut self, file: usize, s: &MarkedScalarNode) {
        self.append_cond(Cond::new(file, s));
    }

    fn append_cond(&mut self, other: Cond) {
        let mut joined = format!("({}) ", self.joined);
        for p in &mut self.parts {
            p.0 += 1;
        }
        let at = joined.len();
        joined.push_str(&other.joined);
        self.parts
            .extend(other.parts.into_iter().map(|(o, f, n)| (o + at, f, n)));
        self.joined = joined;
    }

    fn pos(&self, offset: usize, sources: &[Source]) -> Pos {
        let (start, file, node) = self
            .parts
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= offset)
            .unwrap_or(&self.parts[0]);
        let doc_text = &sources[*file].text;
        let mut problems = vec![];
        let doc = Doc {
            file: &sources[*file].name,
            text: doc_text,
            problems: &mut problems,
        };
        doc.pos_in_scalar(node, offset.saturating_sub(*start).min(node.as_str().len()))
    }
}

struct DetectionDraft {
    origin: Pos,
    id: String,
    description: String,
    condition: Option<Cond>,
    severity: SeverityRule,
    weight: i32,
    min_score: Option<u32>,
    attack: Vec<String>,
    tags: Vec<String>,
    enabled: bool,
}

/// An exception with where it was defined and the detection ids it names (checked at the end).
type ExceptionDraft = (Pos, Exception, Vec<(Pos, String)>);

#[derive(Default)]
struct Draft {
    settings: BTreeMap<&'static str, (Pos, SettingValue)>,
    weights: BTreeMap<Feature, i32>,
    machine: Vec<String>,
    unknown: Vec<String>,
    groups: Vec<(Pos, IdentityGroup)>,
    hosts: Vec<HostRule>,
    production: Option<Vec<String>>,
    forbidden: Vec<(String, String)>,
    addresses: Vec<(String, String)>,
    lists: BTreeMap<String, (Pos, Vec<String>)>,
    macros: BTreeMap<String, (Pos, Cond)>,
    macro_order: Vec<String>,
    detections: Vec<DetectionDraft>,
    exceptions: Vec<ExceptionDraft>,
    tests: Vec<RuleTest>,
}

#[derive(Clone)]
enum SettingValue {
    Duration(Ts),
    Int(i64),
    Kinds(Vec<IdentityKind>),
    Ports(Vec<u16>),
}

#[derive(Clone, Copy)]
enum SettingKind {
    Duration,
    Int(i64, i64),
    Kinds,
    Ports,
}

const SETTINGS: &[(&str, SettingKind)] = &[
    ("learn", SettingKind::Duration),
    ("lateness", SettingKind::Duration),
    ("max_skew", SettingKind::Duration),
    ("join_before", SettingKind::Duration),
    ("join_after", SettingKind::Duration),
    ("join_cap", SettingKind::Int(1, 1000)),
    ("edge_ttl", SettingKind::Duration),
    ("identity_grace", SettingKind::Duration),
    ("new_asset_age", SettingKind::Duration),
    ("rare_max_identities", SettingKind::Int(0, 1_000_000)),
    ("fanout_window", SettingKind::Duration),
    ("fanout_min", SettingKind::Int(2, 100_000)),
    ("failure_window", SettingKind::Duration),
    ("failure_min_destinations", SettingKind::Int(2, 100_000)),
    ("spray_window", SettingKind::Duration),
    ("spray_min_destinations", SettingKind::Int(2, 100_000)),
    ("chain_window", SettingKind::Duration),
    ("dormant_after", SettingKind::Duration),
    (
        "downgrade_min_observations",
        SettingKind::Int(0, 1_000_000_000),
    ),
    ("env_min_destinations", SettingKind::Int(1, 1_000_000)),
    ("stable_novelty_pct", SettingKind::Int(0, 100)),
    ("habitual_novelty_pct", SettingKind::Int(0, 100)),
    ("novelty_prior_days", SettingKind::Int(0, 365)),
    ("transfer_min_ratio", SettingKind::Int(1, 1_000_000_000)),
    ("transfer_min_bytes", SettingKind::Int(0, i64::MAX)),
    ("incident_hold", SettingKind::Duration),
    ("incident_window", SettingKind::Duration),
    ("alert_score", SettingKind::Int(0, 100)),
    ("alert_kinds", SettingKind::Kinds),
    ("admin_ports", SettingKind::Ports),
    ("max_evidence", SettingKind::Int(1, 100_000)),
];

/// Compiles rule files given in order.
pub fn compile(sources: &[Source]) -> Result<RuleSet, Problems> {
    let mut problems = vec![];
    let mut draft = Draft::default();
    for (idx, src) in sources.iter().enumerate() {
        let mut doc = Doc {
            file: &src.name,
            text: &src.text,
            problems: &mut problems,
        };
        let node = match marked_yaml::parse_yaml_with_options(
            idx,
            &src.text,
            LoaderOptions::default().error_on_duplicate_keys(true),
        ) {
            Ok(n) => n,
            Err(e) => {
                load_error(&mut doc, e);
                continue;
            }
        };
        let Some(top) = doc.mapping(&node, "a rule file") else {
            continue;
        };
        doc.keys(top, "a rule file", TOP);
        for (key, value) in top.iter() {
            match key.as_str() {
                "settings" => settings(&mut doc, value, &mut draft),
                "weights" => weights(&mut doc, value, &mut draft),
                "identities" => identities(&mut doc, value, &mut draft),
                "inventory" => inventory(&mut doc, value, &mut draft),
                "lists" => lists(&mut doc, value, &mut draft),
                "macros" => macros(&mut doc, idx, value, &mut draft),
                "detections" => detections(&mut doc, idx, value, &mut draft),
                "exceptions" => exceptions(&mut doc, value, &mut draft),
                "tests" => tests(&mut doc, value, &mut draft),
                _ => {}
            }
        }
    }
    let whole = Pos {
        file: sources
            .last()
            .map_or_else(|| "rules".into(), |s| s.name.clone()),
        line: 0,
        column: 0,
    };
    let ruleset = finish(draft, sources, &whole, &mut problems);
    if !problems.is_empty() {
        problems.sort();
        problems.dedup();
        return Err(Problems(problems));
    }
    let mut h = Xxh3::new();
    for s in sources {
        h.update(&(s.name.len() as u64).to_le_bytes());
        h.update(s.name.as_bytes());
        h.update(&(s.text.len() as u64).to_le_bytes());
        h.update(s.text.as_bytes());
    }
    let mut rs = ruleset.expect("no problems means a rule set");
    rs.files = sources.iter().map(|s| s.name.clone()).collect();
    rs.hash = h.digest();
    Ok(rs)
}

fn load_error(doc: &mut Doc<'_>, e: LoadError) {
    let (m, msg) = match &e {
        LoadError::TopLevelMustBeMapping(m) => (
            Some(*m),
            "a rule file must be a mapping of sections".to_string(),
        ),
        LoadError::TopLevelMustBeSequence(m) => {
            (Some(*m), "unexpected list at the top level".to_string())
        }
        LoadError::UnexpectedAnchor(m) => (
            Some(*m),
            "YAML anchors and aliases are not supported in rule files".to_string(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            (Some(*m), "mapping keys must be plain strings".to_string())
        }
        LoadError::UnexpectedTag(m) => (
            Some(*m),
            "YAML tags are not supported in rule files".to_string(),
        ),
        LoadError::ScanError(m, s) => (Some(*m), format!("YAML syntax error: {}", s.info())),
        LoadError::DuplicateKey(d) => (
            d.key.span().start().copied(),
            format!(
                "duplicate key `{}` (first at line {})",
                d.key.as_str(),
                d.prev_key.span().start().map_or(0, |m| m.line())
            ),
        ),
    };
    let pos = doc.at(m.as_ref());
    doc.error_at(pos, msg);
}

fn settings(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`settings`") else {
        return;
    };
    let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
    doc.keys(map, "`settings`", &names);
    for (key, value) in map.iter() {
        let Some(&(name, kind)) = SETTINGS.iter().find(|(n, _)| *n == key.as_str()) else {
            continue;
        };
        let what = format!("setting `{name}`");
        let v = match kind {
            SettingKind::Duration => doc.duration(value, &what).map(SettingValue::Duration),
            SettingKind::Int(lo, hi) => doc.integer(value, &what, lo, hi).map(SettingValue::Int),
            SettingKind::Kinds => doc.strings(value, &what).and_then(|v| {
                let mut out = vec![];
                for k in v {
                    match k.as_str() {
                        "machine" => out.push(IdentityKind::Machine),
                        "human" => out.push(IdentityKind::Human),
                        "unknown" => out.push(IdentityKind::Unknown),
                        other => {
                            doc.error(value.span(), format!("{what}: unknown identity kind `{other}` (expected machine, human, unknown)"));
                            return None;
                        }
                    }
                }
                Some(SettingValue::Kinds(out))
            }),
            SettingKind::Ports => ports(doc, value, &what).map(SettingValue::Ports),
        };
        if let Some(v) = v {
            d.settings.insert(name, (doc.pos(key.span()), v));
        }
    }
}

fn ports(doc: &mut Doc<'_>, node: &Node, what: &str) -> Option<Vec<u16>> {
    let seq = doc.sequence(node, what)?;
    let mut out = vec![];
    for item in seq.iter() {
        out.push(doc.integer(item, &format!("each port of {what}"), 1, 65535)? as u16);
    }
    Some(out)
}

fn weights(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`weights`") else {
        return;
    };
    let names: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
    doc.keys(map, "`weights`", &names);
    for (key, value) in map.iter() {
        if let Some(f) = Feature::from_name(key.as_str()) {
            if let Some(w) = doc.integer(value, &format!("weight of `{}`", key.as_str()), -100, 100)
            {
                d.weights.insert(f, w as i32);
            }
        }
    }
}

fn lower_globs(doc: &mut Doc<'_>, node: &Node, what: &str) -> Option<Vec<String>> {
    let v = doc.strings(node, what)?;
    if let Some(bad) = v.iter().find(|p| p.is_empty()) {
        let _ = bad;
        doc.error(node.span(), format!("{what}: empty pattern"));
        return None;
    }
    Some(v.into_iter().map(|p| p.to_ascii_lowercase()).collect())
}

fn identities(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(map) = doc.mapping(node, "`identities`") else {
        return;
    };
    doc.keys(map, "`identities`", &["machine", "unknown", "groups"]);
    if let Some(v) = map
        .get_node("machine")
        .and_then(|n| lower_globs(doc, n, "`identities.machine`"))
    {
        d.machine.extend(v);
    }
    if let Some(v) = map
        .get_node("unknown")
        .and_then(|n| lower_globs(doc, n, "`identities.unknown`"))
    {
        d.unknown.extend(v);
    }
    if let Some(seq) = map
        .get_node("groups")
        .and_then(|n| doc.sequence(n, "`identities.groups`"))
    {
        for item in seq.iter() {
            let Some(g) = doc.mapping(item, "an identity group") else {
                continue;
            };
            doc.keys(g, "an identity group", &["name", "match", "environment"]);
            let name = required(doc, g, "name", "an identity group")
                .and_then(|n| doc.nonempty(n, "`name`"));
            let patterns = required(doc, g, "match", "an identity group")
                .and_then(|n| lower_globs(doc, n, "`match`"));
            let environment = g
                .get_node("environment")
                .and_then(|n| doc.nonempty(n, "`environment`"));
            if let (Some(name), Some(patterns)) = (name, patterns) {
                let pos = doc.node_pos(item);
                if let Some((first, _)) = d.groups.iter().find(|(_, x)| x.name == name) {
                    let first = first.clone();
                    doc.error_at(
                        pos,
                        format!("duplicate identity group `{name}` (first defined at {first})"),
                    );
                    continue;
                }
                d.groups.push((
                    pos,
                    IdentityGroup {
                        name,
                        patterns,
                        environment,
                    },
                ));
            }
        }
    }
}

fn required<'n>(
    doc: &mut Doc<'_>,
    map: &'n MarkedMappingNode,
    key: &str,
    what: &str,
) -> Option<&'n Node> {
    let n = map.get_node(key);
    if n.is_none() {
        let pos = doc.map_pos(map);
        doc.error_at(pos, format!("{what} needs `{key}`"));
    }
    n
}

fn inventory(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
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

/// Reads `{append: X}` / `{replace: X}` wrappers; returns (mode, inner node).
fn override_mode<'n>(
    doc: &mut Doc<'_>,
    node: &'n Node,
    what: &str,
) -> Option<(Option<&'static str>, &'n Node)> {
    match node {
        Node::Mapping(m) => {
            doc.keys(m, what, &["append", "replace"]);
            match (m.get_node("append"), m.get_node("replace")) {
                (Some(n), None) => Some((Some("append"), n)),
                (None, Some(n)) => Some((Some("replace"), n)),
                _ => {
                    doc.error_at(
                        doc.map_pos(m),
                        format!("{what} takes exactly one of `append` or `replace`"),
                    );
                    None
                }
            }
        }
        other => Some((None, other)),
    }
}

fn check_name(doc: &mut Doc<'_>, key: &MarkedScalarNode, what: &str) -> bool {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        doc.error(
            key.span(),
            format!(
                "{what} name `{}` must be letters, digits, `_` or `-`",
                key.as_str()
            ),
        );
    }
    ok
}

/// The entries of a `lists` or `macros` section: each valid name with its override mode (if any)
/// and the value node; bad names and bad modes are reported and skipped.
fn named_entries<'n>(
    doc: &mut Doc<'_>,
    node: &'n Node,
    section: &str,
    kind: &str,
) -> Vec<(&'n MarkedScalarNode, String, Option<&'static str>, &'n Node)> {
    let Some(map) = doc.mapping(node, section) else {
        return vec![];
    };
    let mut out = vec![];
    for (key, value) in map.iter() {
        if !check_name(doc, key, kind) {
            continue;
        }
        let what = format!("{kind} `{}`", key.as_str());
        if let Some((mode, inner)) = override_mode(doc, value, &what) {
            out.push((key, what, mode, inner));
        }
    }
    out
}

fn lists(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    for (key, what, mode, inner) in named_entries(doc, node, "`lists`", "list") {
        let Some(items) = doc.strings(inner, &what) else {
            continue;
        };
        let pos = doc.pos(key.span());
        define(
            doc,
            &mut d.lists,
            "list",
            key.as_str(),
            pos,
            mode,
            items,
            |v, new| v.extend(new),
        );
    }
}

fn macros(doc: &mut Doc<'_>, file: usize, node: &Node, d: &mut Draft) {
    for (key, what, mode, inner) in named_entries(doc, node, "`macros`", "macro") {
        let Some(s) = doc.scalar(inner, &what) else {
            continue;
        };
        let pos = doc.pos(key.span());
        let name = key.as_str().to_string();
        if Feature::from_name(&name).is_some() {
            doc.error_at(pos, format!("macro `{name}` has the name of a feature"));
            continue;
        }
        if define(
            doc,
            &mut d.macros,
            "macro",
            &name,
            pos,
            mode,
            Cond::new(file, s),
            |c, new| c.append_cond(new),
        ) {
            d.macro_order.push(name);
        }
    }
}

/// Defines `name` in `table`, or applies an `{append: …}` / `{replace: …}` to its earlier
/// definition; reports redefinitions without a mode and modes without a definition. Returns
/// whether a new name was defined.
#[allow(clippy::too_many_arguments)]
fn define<T>(
    doc: &mut Doc<'_>,
    table: &mut BTreeMap<String, (Pos, T)>,
    kind: &str,
    name: &str,
    pos: Pos,
    mode: Option<&str>,
    value: T,
    append: impl FnOnce(&mut T, T),
) -> bool {
    match (mode, table.get_mut(name)) {
        (None, Some((first, _))) => {
            let first = first.clone();
            doc.error_at(pos, format!("duplicate {kind} `{name}` (first defined at {first}); use `{{append: ...}}` or `{{replace: ...}}` to change it"));
            false
        }
        (None, None) => {
            table.insert(name.to_string(), (pos, value));
            true
        }
        (Some(_), None) => {
            doc.error_at(pos, format!("{kind} `{name}` is not defined in an earlier file, so it cannot be appended to or replaced"));
            false
        }
        (Some("append"), Some((_, v))) => {
            append(v, value);
            false
        }
        (Some(_), Some((_, v))) => {
            *v = value;
            false
        }
    }
}

const DETECTION_KEYS: &[&str] = &[
    "id",
    "description",
    "condition",
    "severity",
    "weight",
    "min_score",
    "attack",
    "tags",
    "enabled",
    "override",
];
const OVERRIDABLE: &[&str] = &[
    "description",
    "condition",
    "severity",
    "weight",
    "min_score",
    "attack",
    "tags",
    "enabled",
];
const APPENDABLE: &[&str] = &["condition", "attack", "tags"];

fn severity(doc: &mut Doc<'_>, node: &Node) -> Option<SeverityRule> {
    let s = doc.scalar(node, "`severity`")?;
    Some(match s.as_str() {
        "auto" => SeverityRule::Auto,
        "low" => SeverityRule::Fixed(Severity::Low),
        "medium" => SeverityRule::Fixed(Severity::Medium),
        "high" => SeverityRule::Fixed(Severity::High),
        "critical" => SeverityRule::Fixed(Severity::Critical),
        other => {
            doc.error(
                s.span(),
                format!("unknown severity `{other}` (expected auto, low, medium, high, critical)"),
            );
            return None;
        }
    })
}

fn attack_ids(doc: &mut Doc<'_>, node: &Node) -> Option<Vec<String>> {
    let v = doc.strings(node, "`attack`")?;
    for t in &v {
        let ok = t.len() >= 5
            && t.starts_with('T')
            && t[1..5].chars().all(|c| c.is_ascii_digit())
            && (t.len() == 5
                || (t.len() == 9 && &t[5..6] == "." && t[6..].chars().all(|c| c.is_ascii_digit())));
        if !ok {
            doc.error(
                node.span(),
                format!("`{t}` is not an ATT&CK technique id like T1021 or T1021.002"),
            );
            return None;
        }
    }
    Some(v)
}

fn detections(doc: &mut Doc<'_>, file: usize, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`detections`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "a detection") else {
            continue;
        };
        doc.keys(m, "a detection", DETECTION_KEYS);
        let Some(id_node) = required(doc, m, "id", "a detection") else {
            continue;
        };
        let Some(id_s) = doc.scalar(id_node, "`id`") else {
            continue;
        };
        let id = id_s.as_str().to_string();
        if id.is_empty()
            || !id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
            })
        {
            doc.error(
                id_s.span(),
                format!("detection id `{id}` must be lowercase letters, digits, `-`, `_` or `.`"),
            );
            continue;
        }
        let pos = doc.pos(id_s.span());
        let existing = d.detections.iter().position(|x| x.id == id);
        match (existing, m.get_node("override")) {
            (Some(i), None) => {
                let first = d.detections[i].origin.clone();
                doc.error_at(pos, format!("duplicate detection id `{id}` (first defined at {first}); add `override:` to change it"));
            }
            (None, Some(o)) => doc.error(o.span(), format!("detection `{id}` is not defined in an earlier file, so it cannot be overridden")),
            (Some(i), Some(o)) => override_detection(doc, file, m, o, &mut d.detections[i]),
            (None, None) => {
                let condition = required(doc, m, "condition", "a detection").and_then(|n| doc.scalar(n, "`condition`")).map(|s| Cond::new(file, s));
                let description = m.get_node("description").and_then(|n| doc.string(n, "`description`")).unwrap_or_default();
                let sev = m.get_node("severity").map_or(Some(SeverityRule::Auto), |n| severity(doc, n));
                let weight = m.get_node("weight").map_or(Some(0), |n| doc.integer(n, "`weight`", -100, 100));
                let min_score = m.get_node("min_score").map(|n| doc.integer(n, "`min_score`", 0, 100));
                let attack = m.get_node("attack").map_or(Some(vec![]), |n| attack_ids(doc, n));
                let tags = m.get_node("tags").map_or(Some(vec![]), |n| doc.strings(n, "`tags`"));
                let enabled = m.get_node("enabled").map_or(Some(true), |n| doc.boolean(n, "`enabled`"));
                let (Some(condition), Some(severity), Some(weight), Some(attack), Some(tags), Some(enabled)) = (condition, sev, weight, attack, tags, enabled) else { continue };
                if matches!(min_score, Some(None)) {
                    continue;
                }
                d.detections.push(DetectionDraft {
                    origin: pos,
                    id,
                    description,
                    condition: Some(condition),
                    severity,
                    weight: weight as i32,
                    min_score: min_score.flatten().map(|v| v as u32),
                    attack,
                    tags,
                    enabled,
                });
            }
        }
    }
}

fn override_detection(
    doc: &mut Doc<'_>,
    file: usize,
    m: &MarkedMappingNode,
    o: &Node,
    det: &mut DetectionDraft,
) {
    let Some(om) = doc.mapping(o, "`override`") else {
        return;
    };
    doc.keys(om, "`override`", OVERRIDABLE);
    for (field, mode) in om.iter() {
        let f = field.as_str();
        if !OVERRIDABLE.contains(&f) {
            continue;
        }
        let Some(mode_s) = doc.scalar(mode, "an override mode") else {
            continue;
        };
        let mode = mode_s.as_str();
        if mode != "append" && mode != "replace" {
            doc.error(
                mode_s.span(),
                format!("override mode `{mode}` for `{f}` must be append or replace"),
            );
            continue;
        }
        if mode == "append" && !APPENDABLE.contains(&f) {
            doc.error(
                mode_s.span(),
                format!("`{f}` can only be replaced, not appended to"),
            );
            continue;
        }
        let Some(value) = m.get_node(f) else {
            doc.error(
                field.span(),
                format!("override names `{f}` but the detection does not set it"),
            );
            continue;
        };
        let append = mode == "append";
        match f {
            "condition" => {
                if let Some(s) = doc.scalar(value, "`condition`") {
                    match (&mut det.condition, append) {
                        (Some(c), true) => c.append(file, s),
                        (c, _) => *c = Some(Cond::new(file, s)),
                    }
                }
            }
            "description" => {
                if let Some(s) = doc.string(value, "`description`") {
                    det.description = s;
                }
            }
            "severity" => {
                if let Some(s) = severity(doc, value) {
                    det.severity = s;
                }
            }
            "weight" => {
                if let Some(w) = doc.integer(value, "`weight`", -100, 100) {
                    det.weight = w as i32;
                }
            }
            "min_score" => {
                if let Some(w) = doc.integer(value, "`min_score`", 0, 100) {
                    det.min_score = Some(w as u32);
                }
            }
            "attack" => {
                if let Some(v) = attack_ids(doc, value) {
                    if append {
                        det.attack.extend(v)
                    } else {
                        det.attack = v
                    }
                }
            }
            "tags" => {
                if let Some(v) = doc.strings(value, "`tags`") {
                    if append {
                        det.tags.extend(v)
                    } else {
                        det.tags = v
                    }
                }
            }
            _ => {
                if let Some(b) = doc.boolean(value, "`enabled`") {
                    det.enabled = b;
                }
            }
        }
    }
    for key in m.keys() {
        let k = key.as_str();
        if k != "id" && k != "override" && OVERRIDABLE.contains(&k) && om.get_node(k).is_none() {
            doc.error(key.span(), format!("`{k}` is set but not named in `override` (add `{k}: replace` or `{k}: append`)"));
        }
    }
}

fn exceptions(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`exceptions`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "an exception") else {
            continue;
        };
        doc.keys(
            m,
            "an exception",
            &[
                "name",
                "rules",
                "identity",
                "source",
                "destination",
                "service",
                "from",
                "until",
                "expires",
                "reason",
            ],
        );
        let Some(name) =
            required(doc, m, "name", "an exception").and_then(|n| doc.nonempty(n, "`name`"))
        else {
            continue;
        };
        let pos = doc.node_pos(item);
        if let Some((first, _, _)) = d.exceptions.iter().find(|(_, e, _)| e.name == name) {
            let first = first.clone();
            doc.error_at(
                pos,
                format!("duplicate exception `{name}` (first defined at {first})"),
            );
            continue;
        }
        let globs = |doc: &mut Doc<'_>, k: &str| {
            m.get_node(k)
                .map_or(Some(vec![]), |n| lower_globs(doc, n, &format!("`{k}`")))
        };
        let identity = globs(doc, "identity");
        let source = globs(doc, "source");
        let destination = globs(doc, "destination");
        let service = globs(doc, "service");
        let mut rule_refs = vec![];
        let rules = match m.get_node("rules") {
            None => Some(vec![]),
            Some(n) => doc.strings(n, "`rules`").inspect(|v| {
                for r in v {
                    rule_refs.push((doc.pos(n.span()), r.clone()));
                }
            }),
        };
        let time =
            |doc: &mut Doc<'_>, k: &str| m.get_node(k).map(|n| doc.timestamp(n, &format!("`{k}`")));
        let from = time(doc, "from");
        let until = time(doc, "until");
        let expires = time(doc, "expires");
        let reason = m
            .get_node("reason")
            .and_then(|n| doc.string(n, "`reason`"))
            .unwrap_or_default();
        if [&from, &until, &expires]
            .iter()
            .any(|t| matches!(t, Some(None)))
        {
            continue;
        }
        let (Some(identity), Some(source), Some(destination), Some(service), Some(rules)) =
            (identity, source, destination, service, rules)
        else {
            continue;
        };
        if identity.is_empty() && source.is_empty() && destination.is_empty() && service.is_empty()
        {
            doc.error_node(item, format!("exception `{name}` needs at least one of `identity`, `source`, `destination`, `service` (it would silence everything)"));
            continue;
        }
        d.exceptions.push((
            pos,
            Exception {
                name,
                rules,
                identity,
                source,
                destination,
                service,
                from: from.flatten(),
                until: until.flatten(),
                expires: expires.flatten(),
                reason,
            },
            rule_refs,
        ));
    }
}

fn tests(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
    let Some(seq) = doc.sequence(node, "`tests`") else {
        return;
    };
    for item in seq.iter() {
        let Some(m) = doc.mapping(item, "a rule test") else {
            continue;
        };
        doc.keys(m, "a rule test", &["name", "learn", "events", "expect"]);
        let name = required(doc, m, "name", "a rule test").and_then(|n| doc.nonempty(n, "`name`"));
        let learn =
            required(doc, m, "learn", "a rule test").and_then(|n| doc.duration(n, "`learn`"));
        let mut events = vec![];
        let mut ok = true;
        if let Some(seq) =
            required(doc, m, "events", "a rule test").and_then(|n| doc.sequence(n, "`events`"))
        {
            for ev in seq.iter() {
                match test_event(doc, ev) {
                    Some(e) => events.push(e),
                    None => ok = false,
                }
            }
        }
        let mut expect = vec![];
        if let Some(seq) = required(doc, m, "expect", "a rule test")
            .and_then(|n| doc.sequence(n, "`expect` (a list, empty for no alerts)"))
        {
            for e in seq.iter() {
                let Some(em) = doc.mapping(e, "an expected alert") else {
                    ok = false;
                    continue;
                };
                doc.keys(em, "an expected alert", &["rule", "identity", "dst"]);
                let rule = required(doc, em, "rule", "an expected alert")
                    .and_then(|n| doc.nonempty(n, "`rule`"));
                let identity = required(doc, em, "identity", "an expected alert")
                    .and_then(|n| doc.nonempty(n, "`identity`"));
                let dst = em.get_node("dst").and_then(|n| doc.nonempty(n, "`dst`"));
                match (rule, identity) {
                    (Some(rule), Some(identity)) => expect.push(Expect {
                        rule,
                        identity,
                        dst,
                    }),
                    _ => ok = false,
                }
            }
        }
        if let (Some(name), Some(learn), true) = (name, learn, ok) {
            d.tests.push(RuleTest {
                name,
                origin: doc.node_pos(item).to_string(),
                learn,
                events,
                expect,
            });
        }
    }
}

fn test_event(doc: &mut Doc<'_>, node: &Node) -> Option<TestEvent> {
    let m = doc.mapping(node, "a test event")?;
    doc.keys(
        m,
        "a test event",
        &["at", "repeat", "every", "auth", "flow"],
    );
    let at = required(doc, m, "at", "a test event").and_then(|n| doc.duration(n, "`at`"))?;
    let repeat = m
        .get_node("repeat")
        .map_or(Some(1), |n| doc.integer(n, "`repeat`", 1, 100_000))? as u32;
    let every = match m.get_node("every") {
        Some(n) => doc.duration(n, "`every`")?,
        None if repeat > 1 => {
            let pos = doc.map_pos(m);
            doc.error_at(pos, "a test event with `repeat` needs `every`");
            return None;
        }
        None => 0,
    };
    let record = match (m.get_node("auth"), m.get_node("flow")) {
        (Some(a), None) => {
            let am = doc.mapping(a, "`auth`")?;
            doc.keys(
                am,
                "`auth`",
                &[
                    "identity",
                    "src",
                    "dst",
                    "protocol",
                    "logon_type",
                    "outcome",
                ],
            );
            let identity = required(doc, am, "identity", "`auth`")
                .and_then(|n| doc.nonempty(n, "`identity`"))?;
            let dst = required(doc, am, "dst", "`auth`").and_then(|n| doc.nonempty(n, "`dst`"))?;
            let src = am.get_node("src").and_then(|n| doc.nonempty(n, "`src`"));
            let text = |doc: &mut Doc<'_>,
                        k: &str,
                        default: &str,
                        valid: &dyn Fn(&str) -> bool,
                        expected: &str| match am.get_node(k) {
                None => Some(default.to_string()),
                Some(n) => {
                    let v = doc.nonempty(n, &format!("`{k}`"))?;
                    if valid(&v) {
                        Some(v)
                    } else {
                        doc.error(n.span(), format!("`{k}` `{v}` is not one of {expected}"));
                        None
                    }
                }
            };
            use reachwatch_model::{AuthProtocol, LogonType, Outcome};
            TestRecord::Auth {
                identity,
                src,
                dst,
                protocol: text(doc, "protocol", "kerberos", &|v| AuthProtocol::parse(v.as_bytes()) != AuthProtocol::Other || v == "other", "kerberos, ntlm, negotiate, oauth, mtls, cleartext, other, unknown")?,
                logon_type: text(doc, "logon_type", "network", &|v| LogonType::parse(v.as_bytes()) != LogonType::Other || v == "other", "network, interactive, remote_interactive, cached_interactive, batch, service, network_cleartext, new_credentials, unlock, other, unknown")?,
                outcome: text(doc, "outcome", "success", &|v| Outcome::parse(v.as_bytes()).is_some(), "success, failure")?,
            }
        }
        (None, Some(f)) => {
            let fm = doc.mapping(f, "`flow`")?;
            doc.keys(fm, "`flow`", &["src", "dst", "port", "bytes"]);
            TestRecord::Flow {
                src: required(doc, fm, "src", "`flow`").and_then(|n| doc.nonempty(n, "`src`"))?,
                dst: required(doc, fm, "dst", "`flow`").and_then(|n| doc.nonempty(n, "`dst`"))?,
                port: required(doc, fm, "port", "`flow`")
                    .and_then(|n| doc.integer(n, "`port`", 0, 65535))? as u16,
                bytes: fm
                    .get_node("bytes")
                    .map_or(Some(100), |n| doc.integer(n, "`bytes`", 0, i64::MAX))?
                    as u64,
            }
        }
        _ => {
            doc.error_at(
                doc.map_pos(m),
                "a test event needs exactly one of `auth` or `flow`",
            );
            return None;
        }
    };
    Some(TestEvent {
        at,
        repeat,
        every,
        record,
    })
}

/// Compiles macros in dependency order, reporting cycles.
struct MacroCompiler<'a> {
    d: &'a Draft,
    sources: &'a [Source],
    lists: &'a BTreeMap<String, Vec<String>>,
    compiled: BTreeMap<String, Expr>,
    /// 1 while being compiled, 2 when done.
    state: BTreeMap<String, u8>,
    problems: &'a mut Vec<Problem>,
}

impl MacroCompiler<'_> {
    fn visit(&mut self, name: &str, depth: usize) {
        if self.state.get(name) == Some(&2) || depth > 64 {
            return;
        }
        let (pos, cond) = &self.d.macros[name];
        if self.state.get(name) == Some(&1) {
            self.problems.push(Problem {
                pos: pos.clone(),
                message: format!(
                    "macro `{name}` refers to itself (directly or through other macros)"
                ),
            });
            return;
        }
        self.state.insert(name.to_string(), 1);
        for (w, _) in condition::mentioned_words(&cond.joined) {
            if self.d.macros.contains_key(&w) {
                self.visit(&w, depth + 1);
            }
        }
        let scope = Scope {
            macros: &self.compiled,
            lists: self.lists,
        };
        match condition::compile(&cond.joined, &scope) {
            Ok(e) => {
                self.compiled.insert(name.to_string(), e);
            }
            Err(e) => self.problems.push(Problem {
                pos: cond.pos(e.offset, self.sources),
                message: format!("in macro `{name}`: {}", e.message),
            }),
        }
        self.state.insert(name.to_string(), 2);
    }
}

fn finish(
    d: Draft,
    sources: &[Source],
    whole: &Pos,
    problems: &mut Vec<Problem>,
) -> Option<RuleSet> {
    let missing = |what: &str, name: &str| Problem {
        pos: whole.clone(),
        message: format!("{what} `{name}` is not set in any rule file"),
    };
    for (name, _) in SETTINGS {
        if !d.settings.contains_key(name) {
            problems.push(missing("setting", name));
        }
    }
    for f in Feature::ALL {
        if !d.weights.contains_key(&f) {
            problems.push(missing("weight", f.name()));
        }
    }
    // Macros, in dependency order (a macro may use macros defined before or after it).
    let lists: BTreeMap<String, Vec<String>> = d
        .lists
        .iter()
        .map(|(k, (_, v))| {
            (
                k.clone(),
                v.iter().map(|s| s.to_ascii_lowercase()).collect(),
            )
        })
        .collect();
    let mut mc = MacroCompiler {
        d: &d,
        sources,
        lists: &lists,
        compiled: BTreeMap::new(),
        state: BTreeMap::new(),
        problems,
    };
    for name in &d.macro_order {
        mc.visit(name, 0);
    }
    let compiled = mc.compiled;
    let alert_score = match d.settings.get("alert_score") {
        Some((_, SettingValue::Int(v))) => *v as u32,
        _ => 50,
    };
    let mut detections = vec![];
    for det in &d.detections {
        let Some(cond) = &det.condition else { continue };
        match condition::compile(
            &cond.joined,
            &Scope {
                macros: &compiled,
                lists: &lists,
            },
        ) {
            Ok(condition) => detections.push(Detection {
                id: det.id.clone(),
                description: det.description.clone(),
                condition,
                condition_text: cond.joined.clone(),
                severity: det.severity,
                weight: det.weight,
                min_score: det.min_score.unwrap_or(alert_score),
                attack: det.attack.clone(),
                tags: det.tags.clone(),
                enabled: det.enabled,
            }),
            Err(e) => problems.push(Problem {
                pos: cond.pos(e.offset, sources),
                message: format!("in detection `{}`: {}", det.id, e.message),
            }),
        }
    }
    for (_, e, refs) in &d.exceptions {
        for (pos, r) in refs {
            if !d.detections.iter().any(|x| &x.id == r) {
                problems.push(Problem {
                    pos: pos.clone(),
                    message: format!("exception `{}` names unknown detection `{r}`", e.name),
                });
            }
        }
    }
    for t in &d.tests {
        for e in &t.expect {
            if !d.detections.iter().any(|x| x.id == e.rule) {
                problems.push(Problem {
                    pos: whole.clone(),
                    message: format!(
                        "test `{}` ({}) expects unknown detection `{}`",
                        t.name, t.origin, e.rule
                    ),
                });
            }
        }
    }
    if !problems.is_empty() {
        return None;
    }
    let dur = |k: &str| match d.settings.get(k) {
        Some((_, SettingValue::Duration(v))) => *v,
        _ => 0,
    };
    let int = |k: &str| match d.settings.get(k) {
        Some((_, SettingValue::Int(v))) => *v,
        _ => 0,
    };
    let settings = Settings {
        learn: dur("learn"),
        lateness: dur("lateness"),
        max_skew: dur("max_skew"),
        join_before: dur("join_before"),
        join_after: dur("join_after"),
        join_cap: int("join_cap") as usize,
        edge_ttl: dur("edge_ttl"),
        identity_grace: dur("identity_grace"),
        new_asset_age: dur("new_asset_age"),
        rare_max_identities: int("rare_max_identities") as u32,
        fanout_window: dur("fanout_window"),
        fanout_min: int("fanout_min") as u32,
        failure_window: dur("failure_window"),
        failure_min_destinations: int("failure_min_destinations") as u32,
        spray_window: dur("spray_window"),
        spray_min_destinations: int("spray_min_destinations") as u32,
        chain_window: dur("chain_window"),
        dormant_after: dur("dormant_after"),
        downgrade_min_observations: int("downgrade_min_observations") as u64,
        env_min_destinations: int("env_min_destinations") as u32,
        stable_novelty_pct: int("stable_novelty_pct") as u32,
        habitual_novelty_pct: int("habitual_novelty_pct") as u32,
        novelty_prior_days: int("novelty_prior_days") as u32,
        transfer_min_ratio: int("transfer_min_ratio") as u64,
        transfer_min_bytes: int("transfer_min_bytes") as u64,
        incident_hold: dur("incident_hold"),
        incident_window: dur("incident_window"),
        alert_score,
        alert_kinds: match d.settings.get("alert_kinds") {
            Some((_, SettingValue::Kinds(k))) => k.clone(),
            _ => vec![],
        },
        admin_ports: match d.settings.get("admin_ports") {
            Some((_, SettingValue::Ports(p))) => p.clone(),
            _ => vec![],
        },
        max_evidence: int("max_evidence") as usize,
    };
    let mut weights = [0; Feature::ALL.len()];
    for (f, w) in &d.weights {
        weights[f.index()] = *w;
    }
    Some(RuleSet {
        settings,
        weights,
        machine: d.machine,
        unknown: d.unknown,
        groups: d.groups.into_iter().map(|(_, g)| g).collect(),
        inventory: Inventory {
            hosts: d.hosts,
            production: d.production.unwrap_or_else(|| vec!["production".into()]),
            forbidden_zones: d.forbidden,
            addresses: d.addresses,
        },
        detections,
        exceptions: d.exceptions.into_iter().map(|(_, e, _)| e).collect(),
        tests: d.tests,
        files: vec![],
        hash: 0,
    })
}

/// What a reload check found.
#[derive(Debug)]
pub enum Reload {
    /// The files did not change.
    Unchanged,
    /// The files changed and compile: the new rule set.
    Changed(Box<RuleSet>),
    /// The files changed but do not compile: keep the running rules.
    Failed(Problems),
}

/// Watches a rules directory by content (so that renames and swapped symlinks, as Kubernetes
/// ConfigMaps do, are seen): [`RuleReloader::check`] recompiles when anything changed.
#[derive(Debug)]
pub struct RuleReloader {
    dir: std::path::PathBuf,
    fingerprint: u64,
}

fn fingerprint(dir: &Path) -> u64 {
    let mut h = Xxh3::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        match std::fs::read(&p) {
            Ok(b) => h.update(&b),
            Err(_) => h.update(b"\0unreadable"),
        }
    }
    h.digest()
}

impl RuleReloader {
    /// Compiles the directory and starts watching it.
    pub fn new(dir: &Path) -> Result<(RuleReloader, RuleSet), Problems> {
        let fp = fingerprint(dir);
        let rules = load_dir(dir)?;
        Ok((
            RuleReloader {
                dir: dir.to_path_buf(),
                fingerprint: fp,
            },
            rules,
        ))
    }

    /// Recompiles if the directory changed since the last check.
    pub fn check(&mut self) -> Reload {
        let fp = fingerprint(&self.dir);
        if fp == self.fingerprint {
            return Reload::Unchanged;
        }
        self.fingerprint = fp;
        match load_dir(&self.dir) {
            Ok(r) => Reload::Changed(Box::new(r)),
            Err(p) => Reload::Failed(p),
        }
    }
}
