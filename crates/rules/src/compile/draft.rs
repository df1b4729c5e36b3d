//! What the sections of rule files compile into before the whole is checked: the draft, and the
//! conditions assembled from their definition and appends.

use crate::error::Pos;
use crate::ruleset::{Exception, HostRule, IdentityGroup, RuleTest, SeverityRule};
use crate::vocab::Feature;
use crate::yaml::Doc;
use marked_yaml::types::MarkedScalarNode;
use reachwatch_model::{IdentityKind, Ts};
use std::collections::BTreeMap;

/// One rule file's name and text.
#[derive(Clone, Debug)]
pub struct Source {
    /// Name used in positions (the path as given).
    pub name: String,
    /// Contents.
    pub text: String,
}

/// A condition assembled from one or more scalars (definition plus appends).
#[derive(Clone)]
pub(super) struct Cond {
    pub(super) joined: String,
    pub(super) parts: Vec<(usize, usize, MarkedScalarNode)>,
}

impl Cond {
    pub(super) fn new(file: usize, s: &MarkedScalarNode) -> Cond {
        Cond {
            joined: s.as_str().to_string(),
            parts: vec![(0, file, s.clone())],
        }
    }

    pub(super) fn append(&mut self, file: usize, s: &MarkedScalarNode) {
        self.append_cond(Cond::new(file, s));
    }

    pub(super) fn append_cond(&mut self, other: Cond) {
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

    pub(super) fn pos(&self, offset: usize, sources: &[Source]) -> Pos {
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

/// A detection as its files define and override it.
pub(super) struct DetectionDraft {
    pub(super) origin: Pos,
    pub(super) id: String,
    pub(super) description: String,
    pub(super) condition: Option<Cond>,
    pub(super) severity: SeverityRule,
    pub(super) weight: i32,
    pub(super) min_score: Option<u32>,
    pub(super) attack: Vec<String>,
    pub(super) tags: Vec<String>,
    pub(super) enabled: bool,
}

/// An exception with where it was defined and the detection ids it names (checked at the end).
pub(super) type ExceptionDraft = (Pos, Exception, Vec<(Pos, String)>);

/// Everything the rule files define, merged in file order, before the checks that need every file.
#[derive(Default)]
pub(super) struct Draft {
    pub(super) settings: BTreeMap<&'static str, (Pos, SettingValue)>,
    pub(super) weights: BTreeMap<Feature, i32>,
    pub(super) machine: Vec<String>,
    pub(super) unknown: Vec<String>,
    pub(super) groups: Vec<(Pos, IdentityGroup)>,
    pub(super) hosts: Vec<HostRule>,
    pub(super) production: Option<Vec<String>>,
    pub(super) forbidden: Vec<(String, String)>,
    pub(super) addresses: Vec<(String, String)>,
    pub(super) lists: BTreeMap<String, (Pos, Vec<String>)>,
    pub(super) macros: BTreeMap<String, (Pos, Cond)>,
    pub(super) macro_order: Vec<String>,
    pub(super) detections: Vec<DetectionDraft>,
    pub(super) exceptions: Vec<ExceptionDraft>,
    pub(super) tests: Vec<RuleTest>,
}

/// A setting's value, of its kind.
#[derive(Clone)]
pub(super) enum SettingValue {
    Duration(Ts),
    Int(i64),
    Kinds(Vec<IdentityKind>),
    Ports(Vec<u16>),
}
