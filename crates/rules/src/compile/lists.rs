//! The `lists` and `macros` sections (with `{append: …}` / `{replace: …}` across files), and
//! compiling macros in dependency order.

use super::draft::{Cond, Draft, Source};
use crate::condition::{self, Expr, Scope};
use crate::error::{Pos, Problem};
use crate::vocab::Feature;
use crate::yaml::Doc;
use marked_yaml::types::MarkedScalarNode;
use marked_yaml::Node;
use std::collections::BTreeMap;

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

pub(super) fn lists(doc: &mut Doc<'_>, node: &Node, d: &mut Draft) {
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

pub(super) fn macros(doc: &mut Doc<'_>, file: usize, node: &Node, d: &mut Draft) {
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

/// Every list, its items lowercased.
pub(super) fn lowercased(d: &Draft) -> BTreeMap<String, Vec<String>> {
    d.lists
        .iter()
        .map(|(k, (_, v))| {
            (
                k.clone(),
                v.iter().map(|s| s.to_ascii_lowercase()).collect(),
            )
        })
        .collect()
}

/// Compiles every macro, in dependency order (a macro may use macros defined before or after it).
pub(super) fn compile_macros(
    d: &Draft,
    sources: &[Source],
    lists: &BTreeMap<String, Vec<String>>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Expr> {
    let mut mc = MacroCompiler {
        d,
        sources,
        lists,
        compiled: BTreeMap::new(),
        state: BTreeMap::new(),
        problems,
    };
    for name in &d.macro_order {
        mc.visit(name, 0);
    }
    mc.compiled
}
