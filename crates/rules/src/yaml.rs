//! Reading YAML nodes with positions: every accessor reports a precise problem instead of failing.

use crate::error::{Pos, Problem};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{Marker, Node, Span};
use reachwatch_model::Ts;

/// One file being read: its name, text and the problems found so far.
pub struct Doc<'a> {
    /// File name for positions.
    pub file: &'a str,
    /// The text (for locating tokens inside scalars).
    pub text: &'a str,
    /// Problems found.
    pub problems: &'a mut Vec<Problem>,
}

/// Kind names used in messages.
pub fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a scalar",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

impl Doc<'_> {
    /// Position of a marker.
    pub fn at(&self, m: Option<&Marker>) -> Pos {
        let (line, column) = m.map_or((1, 1), |m| (m.line(), m.column()));
        Pos {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    /// Position of the start of a span.
    pub fn pos(&self, span: &Span) -> Pos {
        self.at(span.start())
    }

    /// Records a problem at a span.
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        let pos = self.pos(span);
        self.problems.push(Problem {
            pos,
            message: message.into(),
        });
    }

    /// Where a node starts; for a block mapping, its first key (the parser marks the `:`).
    pub fn node_pos(&self, node: &Node) -> Pos {
        match node {
            Node::Mapping(m) => self.map_pos(m),
            other => self.pos(other.span()),
        }
    }

    /// Where a mapping starts: its first key, else its own mark.
    pub fn map_pos(&self, m: &MarkedMappingNode) -> Pos {
        match m.keys().next() {
            Some(k) if !self.text.is_empty() && self.flow_start(m).is_none() => self.pos(k.span()),
            _ => self.pos(m.span()),
        }
    }

    /// The mark of a flow mapping's `{`, if the mapping is one.
    fn flow_start(&self, m: &MarkedMappingNode) -> Option<Pos> {
        let mark = m.span().start()?;
        let c = self.text.chars().nth(mark.character())?;
        (c == '{').then(|| self.at(Some(mark)))
    }

    /// Records a problem where a node starts.
    pub fn error_node(&mut self, node: &Node, message: impl Into<String>) {
        let pos = self.node_pos(node);
        self.error_at(pos, message);
    }

    /// Records a problem at a position.
    pub fn error_at(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem {
            pos,
            message: message.into(),
        });
    }

    /// The node as a mapping, or a problem.
    pub fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            other => {
                self.error_node(
                    other,
                    format!("{what} must be a mapping, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// The node as a list, or a problem.
    pub fn sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedSequenceNode> {
        match node {
            Node::Sequence(s) => Some(s),
            other => {
                self.error_node(
                    other,
                    format!("{what} must be a list, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// The node as a scalar, or a problem.
    pub fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) => Some(s),
            other => {
                self.error_node(
                    other,
                    format!("{what} must be a scalar, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// Checks the keys of a mapping against the allowed set; unknown keys are problems.
    pub fn keys(&mut self, map: &MarkedMappingNode, what: &str, allowed: &[&str]) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    key.span(),
                    format!(
                        "unknown field `{}` in {what} (expected one of: {})",
                        key.as_str(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// A string value.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        self.scalar(node, what).map(|s| s.as_str().to_string())
    }

    /// A non-empty string value.
    pub fn nonempty(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.scalar(node, what)?;
        if s.as_str().trim().is_empty() {
            self.error(s.span(), format!("{what} must not be empty"));
            return None;
        }
        Some(s.as_str().to_string())
    }

    /// A boolean value.
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        let s = self.scalar(node, what)?;
        match s.as_bool() {
            Some(b) => Some(b),
            None => {
                self.error(
                    s.span(),
                    format!("{what} must be true or false, found `{}`", s.as_str()),
                );
                None
            }
        }
    }

    /// An integer within a range.
    pub fn integer(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        let s = self.scalar(node, what)?;
        match s.as_str().trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(v) => {
                self.error(
                    s.span(),
                    format!("{what} must be between {min} and {max}, found {v}"),
                );
                None
            }
            Err(_) => {
                self.error(
                    s.span(),
                    format!("{what} must be an integer, found `{}`", s.as_str()),
                );
                None
            }
        }
    }

    /// A duration such as `90s`, `10m`, `7d`, in milliseconds.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Ts> {
        let s = self.scalar(node, what)?;
        match humantime::parse_duration(s.as_str().trim()) {
            Ok(d) if d.as_millis() <= (i64::MAX as u128) / 4 => Some(d.as_millis() as Ts),
            _ => {
                self.error(
                    s.span(),
                    format!(
                        "{what} must be a duration like 90s, 10m, 36h or 7d, found `{}`",
                        s.as_str()
                    ),
                );
                None
            }
        }
    }

    /// An RFC 3339 timestamp, in milliseconds since the Unix epoch.
    pub fn timestamp(&mut self, node: &Node, what: &str) -> Option<Ts> {
        let s = self.scalar(node, what)?;
        match time::OffsetDateTime::parse(
            s.as_str().trim(),
            &time::format_description::well_known::Rfc3339,
        ) {
            Ok(t) => Some((t.unix_timestamp_nanos() / 1_000_000) as Ts),
            Err(_) => {
                self.error(
                    s.span(),
                    format!(
                        "{what} must be an RFC 3339 time like 2026-03-01T00:00:00Z, found `{}`",
                        s.as_str()
                    ),
                );
                None
            }
        }
    }

    /// A list of strings (a single string is accepted as a list of one).
    pub fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match node {
            Node::Scalar(s) => Some(vec![s.as_str().to_string()]),
            Node::Sequence(seq) => {
                let mut out = vec![];
                for item in seq.iter() {
                    out.push(self.string(item, &format!("each item of {what}"))?);
                }
                Some(out)
            }
            other => {
                self.error_node(
                    other,
                    format!("{what} must be a list of strings, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// The position of byte `offset` inside a scalar's text, allowing for quotes and for
    /// multi-line (block or folded) scalars, whose lines start at their own indentation.
    pub fn pos_in_scalar(&self, s: &MarkedScalarNode, offset: usize) -> Pos {
        let start = s.span().start();
        let mut pos = self.at(start);
        let Some(m) = start else { return pos };
        let content = s.as_str();
        let mut off = offset.min(content.trim_end().len());
        while !content.is_char_boundary(off) {
            off -= 1;
        }
        let before = &content[..off];
        let quoted = matches!(self.text.chars().nth(m.character()), Some('"' | '\''));
        match before.rfind('\n') {
            None => pos.column += off + usize::from(quoted),
            Some(last) => {
                pos.line = m.line() + before.matches('\n').count();
                let indent = self
                    .text
                    .lines()
                    .nth(pos.line - 1)
                    .map_or(0, |l| l.len() - l.trim_start().len());
                pos.column = indent + 1 + before[last + 1..].chars().count();
            }
        }
        pos
    }
}

/// The node at `key` of `map`; a problem at the mapping when it is missing.
pub fn required<'n>(
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

/// A string or list of strings of glob patterns, lowercased; none may be empty.
pub fn lower_globs(doc: &mut Doc<'_>, node: &Node, what: &str) -> Option<Vec<String>> {
    let v = doc.strings(node, what)?;
    if v.iter().any(|p| p.is_empty()) {
        doc.error(node.span(), format!("{what}: empty pattern"));
        return None;
    }
    Some(v.into_iter().map(|p| p.to_ascii_lowercase()).collect())
}
