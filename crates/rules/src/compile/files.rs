//! Compiling rule files given in order: each file's sections into the draft, then the checks that
//! need every file (missing settings, conditions, references) and the rule set.

use super::draft::{Draft, Source};
use super::{detections, exceptions, identities, inventory, lists, rule_tests, settings};
use crate::error::{Pos, Problem, Problems};
use crate::ruleset::{Inventory, RuleSet};
use crate::yaml::Doc;
use marked_yaml::{LoadError, LoaderOptions};
use xxhash_rust::xxh3::Xxh3;

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
                "settings" => settings::settings(&mut doc, value, &mut draft),
                "weights" => settings::weights(&mut doc, value, &mut draft),
                "identities" => identities::identities(&mut doc, value, &mut draft),
                "inventory" => inventory::inventory(&mut doc, value, &mut draft),
                "lists" => lists::lists(&mut doc, value, &mut draft),
                "macros" => lists::macros(&mut doc, idx, value, &mut draft),
                "detections" => detections::detections(&mut doc, idx, value, &mut draft),
                "exceptions" => exceptions::exceptions(&mut doc, value, &mut draft),
                "tests" => rule_tests::tests(&mut doc, value, &mut draft),
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

/// The checks that need every file, then the rule set when nothing is wrong.
fn finish(
    d: Draft,
    sources: &[Source],
    whole: &Pos,
    problems: &mut Vec<Problem>,
) -> Option<RuleSet> {
    settings::check_all_set(&d, whole, problems);
    let lists = lists::lowercased(&d);
    let macros = lists::compile_macros(&d, sources, &lists, problems);
    let alert_score = settings::alert_score(&d);
    let detections = detections::compile_all(&d, sources, &macros, &lists, alert_score, problems);
    exceptions::check_references(&d, problems);
    rule_tests::check_expectations(&d, whole, problems);
    if !problems.is_empty() {
        return None;
    }
    let settings = settings::build(&d, alert_score);
    let weights = settings::weight_table(&d);
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
        policy: None,
    })
}
