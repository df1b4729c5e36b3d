//! The rule compiler and the condition language never panic, whatever the input: they return
//! problems with positions inside the file instead.

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
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), "[a-z:\\-{}\\[\\] '\"0-9]{0,12}"), 1..6),
    ) {
        let text = default_sources()[idx].text.clone();
        check(idx, mutate(&text, &ops));
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
