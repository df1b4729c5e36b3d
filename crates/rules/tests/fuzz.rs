//! The rule compiler and the condition language never panic, whatever the input (multi-byte text
//! included): they return problems with positions inside the file instead.

use proptest::prelude::*;
use reachwatch_rules::condition::{compile as compile_condition, Scope};
use reachwatch_rules::{compile, default_sources, Source};
use std::collections::BTreeMap;

/// Compiles the default rules with file `idx` replaced by `text`; checks every problem's position.
fn check(idx: usize, text: String) {
    let mut sources = default_sources();
    // YAML counts \r, \n and \r\n as line breaks; no position can be past the last line.
    let lines = text.matches(['\n', '\r']).count() + 2;
    let name = sources[idx].name.clone();
    sources[idx] = Source {
        name: name.clone(),
        text,
    };
    if let Err(problems) = compile(&sources) {
        assert!(!problems.0.is_empty());
        for p in &problems.0 {
            assert!(!p.message.is_empty());
            if p.pos.file == name && p.pos.line > 0 {
                assert!(p.pos.line <= lines, "{p} is past the end ({lines} lines)");
                assert!(p.pos.column >= 1, "{p}");
            }
        }
    }
}

fn mutate(text: &str, ops: &[(u8, usize, usize, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (op, a, b, s) in ops {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = a % lines.len();
        let j = b % lines.len();
        match op % 6 {
            0 => {
                lines.remove(i);
            }
            1 => lines.swap(i, j),
            2 => {
                let l = lines[i].clone();
                lines.insert(j, l);
            }
            3 => {
                let l = &mut lines[i];
                let at = (*b).min(l.len());
                let at = (0..=at).rev().find(|k| l.is_char_boundary(*k)).unwrap_or(0);
                l.insert_str(at, s);
            }
            4 => {
                let l = &mut lines[i];
                let cut = (*b % (l.len() + 1)).min(l.len());
                let cut = (0..=cut)
                    .rev()
                    .find(|k| l.is_char_boundary(*k))
                    .unwrap_or(0);
                l.truncate(cut);
            }
            _ => lines[i] = format!("{}{}", " ".repeat(b % 6), lines[i].trim_start()),
        }
    }
    lines.join("\n")
}

/// Multi-byte text to splice in: two-, three- and four-byte characters, a zero-width space, and
/// combining marks.
const WIDE: &str = "[é€😀\u{200b}\u{301}ßЖ中]{1,8}";

/// Inserts `s` into the `k`-th scalar of `text` (after `: `, `- `, `[`, `{`, `, ` or a quote), at
/// a character boundary `at` bytes in at most.
fn splice_scalar(text: &str, k: usize, at: usize, s: &str) -> String {
    let starts: Vec<usize> = text
        .char_indices()
        .filter(|&(i, c)| {
            matches!(c, '[' | '{' | '"' | '\'')
                || ((c == ' ') && i > 0 && matches!(text.as_bytes()[i - 1], b':' | b'-' | b','))
        })
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    if starts.is_empty() {
        return format!("{s}{text}");
    }
    let start = starts[k % starts.len()];
    let end = text[start..]
        .find([',', ']', '}', '\n', '"', '\''])
        .map_or(text.len(), |e| start + e);
    let mut cut = start + at % (end - start + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{s}{}", &text[..cut], &text[cut..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), idx in 0usize..4) {
        check(idx, String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn arbitrary_yaml_like_text_never_panics(text in "[a-z_:\\- \\[\\]{}'\"#|>\\n0-9.,*$()]{0,400}", idx in 0usize..4) {
        check(idx, text);
    }

    #[test]
    fn mutated_rule_files_never_panic(
        idx in 0usize..4,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), prop_oneof!["[a-z:\\-{}\\[\\] '\"0-9]{0,12}", WIDE, "\\PC{0,8}"]), 1..6),
    ) {
        let text = default_sources()[idx].text.clone();
        check(idx, mutate(&text, &ops));
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,300}", idx in 0usize..4) {
        check(idx, text);
    }

    #[test]
    fn multi_byte_text_spliced_into_any_scalar_never_panics(
        idx in 0usize..4,
        splices in proptest::collection::vec((any::<usize>(), any::<usize>(), prop_oneof![WIDE, "\\PC{1,6}"]), 1..4),
    ) {
        let mut text = default_sources()[idx].text.clone();
        for (k, at, s) in &splices {
            text = splice_scalar(&text, *k, *at, s);
        }
        check(idx, text);
    }

    #[test]
    fn an_attack_id_is_accepted_exactly_when_it_is_a_technique_id(
        id in prop_oneof!["T[0-9]{4}(\\.[0-9]{3})?", "T?[0-9€é.]{0,9}", "\\PC{0,10}"],
    ) {
        let mut sources = default_sources();
        sources.push(Source {
            name: "90-local.yaml".into(),
            text: format!(
                "detections:\n  - id: mine\n    condition: new_edge\n    attack: ['{}']\n",
                id.replace('\'', "''")
            ),
        });
        let technique = id.len() >= 5
            && id.starts_with('T')
            && id.chars().skip(1).take(4).all(|c| c.is_ascii_digit())
            && (id.chars().count() == 5
                || (id.chars().count() == 9
                    && id.chars().nth(5) == Some('.')
                    && id.chars().skip(6).all(|c| c.is_ascii_digit())));
        match compile(&sources) {
            Ok(_) => prop_assert!(technique, "{id:?} accepted"),
            Err(p) => {
                let expected = format!("90-local.yaml:4:13: `{id}` is not an ATT&CK technique id");
                prop_assert!(!technique, "{id:?} refused: {p}");
                prop_assert!(p.0.iter().any(|p| p.to_string().starts_with(&expected)), "{p}");
            }
        }
    }

    #[test]
    fn conditions_never_panic_on_unicode(src in "(new_edge|and|or|not|\\(|\\)|'€'|\"ß\"|€|😀| |\\PC){0,40}") {
        let macros = BTreeMap::new();
        let lists = BTreeMap::new();
        if let Err(e) = compile_condition(&src, &Scope { macros: &macros, lists: &lists }) {
            prop_assert!(e.offset <= src.len());
            prop_assert!(src.is_char_boundary(e.offset), "offset {} inside a character of {src:?}", e.offset);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn conditions_never_panic(src in "(new_edge|fan_out|and|or|not|\\(|\\)|score|>=|<|=|!=|dst|in|glob|'a\\*'|12|,| ){0,40}") {
        let macros = BTreeMap::new();
        let lists = BTreeMap::new();
        if let Err(e) = compile_condition(&src, &Scope { macros: &macros, lists: &lists }) {
            prop_assert!(e.offset <= src.len());
            prop_assert!(!e.message.is_empty());
        }
    }
}
