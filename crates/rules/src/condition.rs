//! The condition language: boolean expressions over features and fields.
//!
//! ```text
//! expr    := term ("or" term)*
//! term    := factor ("and" factor)*
//! factor  := "not" factor | "(" expr ")" | FEATURE | MACRO | field-test
//! field-test := NUMFIELD ("=" | "!=" | "<" | "<=" | ">" | ">=") NUMBER
//!            | TEXTFIELD ("=" | "!=") VALUE
//!            | TEXTFIELD "in" ( "(" VALUE ("," VALUE)* ")" | LIST )
//!            | TEXTFIELD "glob" ( VALUE | "(" VALUE ("," VALUE)* ")" | LIST )
//! VALUE   := 'single quoted' | "double quoted" | bare-word
//! ```
//! Text comparisons ignore ASCII case; `glob` takes `*` and `?` wildcards.

use crate::vocab::{Facts, Feature, NumField, TextField, NUM_FIELDS, TEXT_FIELDS};
use reachwatch_model::classify::glob_match;
use std::collections::BTreeMap;

/// A numeric comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A compiled condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A feature fired.
    Feature(Feature),
    /// Negation.
    Not(Box<Expr>),
    /// All of.
    And(Vec<Expr>),
    /// Any of.
    Or(Vec<Expr>),
    /// Numeric comparison.
    Num(NumField, Op, f64),
    /// Text equals one of the values (lowercased).
    In(TextField, Vec<String>),
    /// Text matches one of the glob patterns (lowercased).
    Glob(TextField, Vec<String>),
}

impl Expr {
    /// The features the condition mentions (not under a `not`).
    pub fn features(&self) -> Vec<Feature> {
        let mut out = vec![];
        self.any_feature(&mut |f| {
            out.push(f);
            false
        });
        out
    }

    /// Does the condition mention `feature` (not under a `not`)? [`Expr::features`] without
    /// the list.
    pub fn mentions(&self, feature: Feature) -> bool {
        self.any_feature(&mut |f| f == feature)
    }

    /// Whether `found` holds for one of the features mentioned (not under a `not`), asked in
    /// order until it does.
    fn any_feature(&self, found: &mut impl FnMut(Feature) -> bool) -> bool {
        match self {
            Expr::Feature(f) => found(*f),
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| e.any_feature(found)),
            _ => false,
        }
    }

    /// Evaluates the condition.
    pub fn eval(&self, f: &dyn Facts) -> bool {
        match self {
            Expr::Feature(x) => f.feature(*x),
            Expr::Not(e) => !e.eval(f),
            Expr::And(v) => v.iter().all(|e| e.eval(f)),
            Expr::Or(v) => v.iter().any(|e| e.eval(f)),
            Expr::Num(field, op, v) => {
                let x = f.number(*field);
                match op {
                    Op::Eq => x == *v,
                    Op::Ne => x != *v,
                    Op::Lt => x < *v,
                    Op::Le => x <= *v,
                    Op::Gt => x > *v,
                    Op::Ge => x >= *v,
                }
            }
            Expr::In(field, values) => {
                let x = f.text(*field);
                values.iter().any(|v| v.eq_ignore_ascii_case(x))
            }
            Expr::Glob(field, pats) => {
                let x = f.text(*field).to_ascii_lowercase();
                pats.iter().any(|p| glob_match(p, &x))
            }
        }
    }
}

/// A syntax or reference error at a byte offset of the condition text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CondError {
    /// Byte offset in the condition.
    pub offset: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
    Op(Op),
}

/// Longest condition accepted, in bytes.
pub const MAX_CONDITION: usize = 16 * 1024;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, CondError> {
    let b = src.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1;
            }
            b'=' => {
                out.push((Tok::Op(Op::Eq), i));
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Op(Op::Ne), i));
                i += 2;
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                let op = match (c, eq) {
                    (b'<', false) => Op::Lt,
                    (b'<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    (_, true) => Op::Ge,
                };
                out.push((Tok::Op(op), i));
                i += if eq { 2 } else { 1 };
            }
            b'\'' | b'"' => {
                let close = b[i + 1..].iter().position(|&x| x == c).ok_or(CondError {
                    offset: i,
                    message: "unterminated string".into(),
                })?;
                out.push((Tok::Str(src[i + 1..i + 1 + close].to_string()), i));
                i += close + 2;
            }
            _ if c.is_ascii_digit()
                || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let text = &src[start..i];
                let n = text.parse::<f64>().map_err(|_| CondError {
                    offset: start,
                    message: format!("`{text}` is not a number"),
                })?;
                out.push((Tok::Num(n), start));
            }
            _ if is_word(c) => {
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                out.push((Tok::Word(src[start..i].to_string()), start));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(CondError {
                    offset: i,
                    message: format!("unexpected character `{ch}`"),
                });
            }
        }
    }
    Ok(out)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'.' | b'-' | b'*' | b'?' | b'$' | b'@' | b':' | b'/'
        )
}

/// Names a condition can refer to besides features and fields.
pub struct Scope<'a> {
    /// Compiled macros.
    pub macros: &'a BTreeMap<String, Expr>,
    /// Lists of values.
    pub lists: &'a BTreeMap<String, Vec<String>>,
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    end: usize,
    scope: &'a Scope<'a>,
    depth: usize,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, CondError> {
    Err(CondError {
        offset,
        message: message.into(),
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(_, o)| *o)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn expr(&mut self) -> Result<Expr, CondError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.offset(),
                format!("condition nests deeper than {MAX_DEPTH} levels"),
            );
        }
        let mut terms = vec![self.term()?];
        while self.is_word("or") {
            self.i += 1;
            terms.push(self.term()?);
        }
        self.depth -= 1;
        Ok(if terms.len() == 1 {
            terms.pop().expect("one")
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, CondError> {
        let mut factors = vec![self.factor()?];
        while self.is_word("and") {
            self.i += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.pop().expect("one")
        } else {
            Expr::And(factors)
        })
    }

    fn factor(&mut self) -> Result<Expr, CondError> {
        let at = self.offset();
        match self.peek().cloned() {
            None => err(
                at,
                "condition ends where a feature, field test or `(` was expected",
            ),
            Some(Tok::Word(w)) if w == "not" => {
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return err(
                        at,
                        format!("condition nests deeper than {MAX_DEPTH} levels"),
                    );
                }
                let inner = self.factor()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Some(Tok::LParen) => {
                self.i += 1;
                let e = self.expr()?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.i += 1;
                        Ok(e)
                    }
                    _ => err(self.offset(), "expected `)`"),
                }
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                if let Some(f) = Feature::from_name(&w) {
                    return Ok(Expr::Feature(f));
                }
                if let Some(m) = self.scope.macros.get(&w) {
                    return Ok(m.clone());
                }
                if let Some(&(_, field)) = NUM_FIELDS.iter().find(|(n, _)| *n == w) {
                    return self.num_test(field, &w, at);
                }
                if let Some(&(_, field)) = TEXT_FIELDS.iter().find(|(n, _)| *n == w) {
                    return self.text_test(field, &w, at);
                }
                err(at, unknown_name(&w))
            }
            Some(t) => err(
                at,
                format!(
                    "unexpected {}; expected a feature, a field test or `(`",
                    describe(&t)
                ),
            ),
        }
    }

    fn num_test(&mut self, field: NumField, name: &str, at: usize) -> Result<Expr, CondError> {
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            return err(
                self.offset(),
                format!("numeric field `{name}` needs a comparison (=, !=, <, <=, >, >=)"),
            );
        };
        self.i += 1;
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(Expr::Num(field, op, n))
            }
            _ => err(
                self.offset().max(at),
                format!("`{name}` is compared with a number"),
            ),
        }
    }

    fn text_test(&mut self, field: TextField, name: &str, _at: usize) -> Result<Expr, CondError> {
        let at = self.offset();
        match self.peek().cloned() {
            Some(Tok::Op(op @ (Op::Eq | Op::Ne))) => {
                self.i += 1;
                let v = self.value()?;
                let e = Expr::In(field, vec![v.to_ascii_lowercase()]);
                Ok(if op == Op::Ne {
                    Expr::Not(Box::new(e))
                } else {
                    e
                })
            }
            Some(Tok::Word(w)) if w == "in" || w == "glob" => {
                self.i += 1;
                let values: Vec<String> = self
                    .values(w == "glob")?
                    .into_iter()
                    .map(|v| v.to_ascii_lowercase())
                    .collect();
                Ok(if w == "in" {
                    Expr::In(field, values)
                } else {
                    Expr::Glob(field, values)
                })
            }
            _ => err(
                at,
                format!("text field `{name}` needs `=`, `!=`, `in` or `glob`"),
            ),
        }
    }

    fn value(&mut self) -> Result<String, CondError> {
        let at = self.offset();
        match self.peek().cloned() {
            Some(Tok::Str(s)) | Some(Tok::Word(s)) => {
                self.i += 1;
                Ok(s)
            }
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(format_number(n))
            }
            _ => err(at, "expected a value"),
        }
    }

    fn values(&mut self, single_ok: bool) -> Result<Vec<String>, CondError> {
        let at = self.offset();
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.i += 1;
                let mut out = vec![self.value()?];
                loop {
                    match self.peek() {
                        Some(Tok::Comma) => {
                            self.i += 1;
                            out.push(self.value()?);
                        }
                        Some(Tok::RParen) => {
                            self.i += 1;
                            return Ok(out);
                        }
                        _ => return err(self.offset(), "expected `,` or `)` in the value list"),
                    }
                }
            }
            Some(Tok::Word(w)) if self.scope.lists.contains_key(&w) => {
                self.i += 1;
                Ok(self.scope.lists[&w].clone())
            }
            Some(Tok::Word(w)) if !single_ok => {
                err(at, format!("unknown list `{w}` (define it under `lists:`)"))
            }
            _ if single_ok => Ok(vec![self.value()?]),
            _ => err(at, "expected `(` with values, or the name of a list"),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Op(_) => "a comparison operator".into(),
    }
}

fn unknown_name(w: &str) -> String {
    let features: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
    format!(
        "unknown feature, field or macro `{w}` (features: {}; fields: {}, {})",
        features.join(", "),
        NUM_FIELDS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        TEXT_FIELDS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Compiles a condition against the macros and lists in scope.
pub fn compile(src: &str, scope: &Scope<'_>) -> Result<Expr, CondError> {
    if src.len() > MAX_CONDITION {
        return err(0, format!("condition is longer than {MAX_CONDITION} bytes"));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        end: src.len(),
        scope,
        depth: 0,
    };
    let e = p.expr()?;
    if let Some((t, at)) = p.toks.get(p.i) {
        return err(
            *at,
            format!(
                "unexpected {} after a complete condition; expected `and`, `or` or the end",
                describe(t)
            ),
        );
    }
    Ok(e)
}

/// Names of macros a condition mentions (for ordering macro compilation).
pub fn mentioned_words(src: &str) -> Vec<(String, usize)> {
    lex(src)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(t, o)| match t {
            Tok::Word(w) => Some((w, o)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct F;
    impl Facts for F {
        fn feature(&self, f: Feature) -> bool {
            matches!(f, Feature::NewEdge | Feature::DstGroupNovel)
        }
        fn number(&self, f: NumField) -> f64 {
            match f {
                NumField::Score => 60.0,
                NumField::Port => 445.0,
                _ => 0.0,
            }
        }
        fn text(&self, f: TextField) -> &str {
            match f {
                TextField::Dst => "PROD-DB-01",
                TextField::DstEnv => "production",
                _ => "",
            }
        }
    }

    fn eval(src: &str) -> bool {
        let macros = BTreeMap::from([("novel".to_string(), Expr::Feature(Feature::NewEdge))]);
        let lists = BTreeMap::from([(
            "db_ports".to_string(),
            vec!["1433".to_string(), "5432".to_string()],
        )]);
        compile(
            src,
            &Scope {
                macros: &macros,
                lists: &lists,
            },
        )
        .unwrap()
        .eval(&F)
    }

    fn error(src: &str) -> CondError {
        let empty = BTreeMap::new();
        let lists = BTreeMap::new();
        compile(
            src,
            &Scope {
                macros: &empty,
                lists: &lists,
            },
        )
        .unwrap_err()
    }

    #[test]
    fn evaluates() {
        assert!(eval("new_edge and dst_group_novel"));
        assert!(eval("novel and not peer_support"));
        assert!(!eval("new_source or (fan_out and new_edge)"));
        assert!(eval("score >= 50 and port = 445"));
        assert!(eval(
            "dst glob 'prod-*' and dst.env in (production, staging)"
        ));
        assert!(eval("dst = prod-db-01"));
        assert!(eval("dst != 'PROD-DB-02'"));
        assert!(!eval("service in db_ports"));
        assert!(eval("not (score < 10)"));
    }

    #[test]
    fn errors_have_offsets() {
        assert_eq!(error("new_edge and").offset, 12);
        assert_eq!(error("new_edge and bogus").offset, 13);
        assert!(error("new_edge and bogus")
            .message
            .contains("unknown feature, field or macro `bogus`"));
        assert_eq!(error("(new_edge").offset, 9);
        assert_eq!(error("score > x").offset, 8);
        assert_eq!(error("new_edge new_source").offset, 9);
        assert_eq!(error("dst in nolist").offset, 7);
        assert_eq!(error("dst = 'open").offset, 6);
        assert_eq!(error("new_edge & fan_out").offset, 9);
        assert!(error(&"not ".repeat(100)).message.contains("deeper"));
    }
}
