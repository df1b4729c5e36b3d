//! Every decoder, on arbitrary Unicode and on valid records with multi-byte text spliced into any
//! field: nothing panics (a caught panic would be an `internal` dead letter), the decoding thread
//! reaches its end, every line is an event, a dead letter with a reason, or skipped as the format
//! documents, and the lines around a bad one decode exactly as they do without it.

use proptest::prelude::*;
use reachwatch_formats::lines::spawn_decoder;
use reachwatch_formats::{Format, Reason, Stream};
use reachwatch_model::{Event, Interner};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

/// What became of one line.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Event(Event),
    Dead(Reason),
}

/// Per line number, what became of it (lines missing were skipped).
type Outcomes = BTreeMap<u64, Outcome>;

/// Decodes `bytes` on a decoding thread, with names interned into `syms` (shared between decodes,
/// so that events of two decodes compare equal when their names do). Checks that no decoder call
/// panicked, that the thread reached the end, and that dead letters are well-formed.
fn decode(bytes: &[u8], format: Format, stream: Stream, syms: &mut Interner) -> Outcomes {
    let lines = bytes.split(|b| *b == b'\n').count() as u64;
    let mut map = vec![];
    let mut out = Outcomes::new();
    let mut ended = false;
    for batch in spawn_decoder(
        Box::new(Cursor::new(bytes.to_vec())),
        format,
        stream,
        "t".into(),
    ) {
        let batch = batch.expect("the decoding thread reaches the end");
        ended |= batch.end;
        for n in batch.new_names.iter() {
            map.push(syms.intern(n.as_bytes()));
        }
        for (mut e, no) in batch.events {
            e.map_syms(|s| map[s.index()]);
            assert!(
                out.insert(no, Outcome::Event(e)).is_none(),
                "line {no} twice"
            );
        }
        for d in batch.dead {
            assert_ne!(
                d.reason,
                Reason::Internal,
                "{format:?}/{stream:?} panicked on line {}: {}\n{:?}",
                d.line,
                d.detail,
                d.raw
            );
            assert!(!d.detail.is_empty());
            assert!(d.line >= 1 && d.line <= lines, "line {} of {lines}", d.line);
            assert!(
                out.insert(d.line, Outcome::Dead(d.reason)).is_none(),
                "line {} twice",
                d.line
            );
        }
    }
    assert!(ended, "no end marker");
    out
}

/// Formats whose non-blank lines are always an event or a dead letter (nothing is skipped).
fn never_skips(format: Format) -> bool {
    matches!(format, Format::Lanl | Format::Native)
}

const ALL: [Format; 9] = [
    Format::Lanl,
    Format::Native,
    Format::Windows,
    Format::Zeek,
    Format::Vpc,
    Format::CloudTrail,
    Format::K8s,
    Format::Ocsf,
    Format::Auto,
];

fn check_arbitrary(text: &str) {
    for format in ALL {
        for stream in [Stream::Auth, Stream::Flows] {
            let out = decode(text.as_bytes(), format, stream, &mut Interner::exact_only());
            if never_skips(format) {
                for (i, line) in text.split('\n').enumerate() {
                    let blank = line
                        .trim_end_matches('\r')
                        .bytes()
                        .all(|b| b.is_ascii_whitespace());
                    let no = i as u64 + 1;
                    assert!(
                        blank || out.contains_key(&no),
                        "{format:?}/{stream:?}: line {no} {line:?} neither decoded nor dead-lettered"
                    );
                }
            }
        }
    }
}

fn testdata(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn head(path: &str, n: usize) -> String {
    testdata(path)
        .lines()
        .take(n)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// How fields are laid out on a line.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Json,
    Delimited(char),
}

/// Valid inputs of every format with their layout and stream.
fn valid_inputs() -> Vec<(Format, Stream, Layout, String)> {
    let native_auth = [
        r#"{"time":1700000000.25,"identity":"svc_backup@CORP","src_host":"BACKUP-01","src_ip":"10.0.0.5","dst_host":"DB-01","dst_ip":"10.0.1.7","service":"cifs/DB-01","protocol":"kerberos","logon_type":"network","orientation":"logon","outcome":"success","credential_id":"AKIA0001"}"#,
        r#"{"time":"2023-11-14T22:13:20.25Z","identity":"WS01$@CORP","src_ip":"10.0.0.9","dst_host":"DC-01","protocol":"ntlm","logon_type":"3","outcome":"failure"}"#,
        r#"{"time":1700000100,"identity":"svc_web","dst_ip":"10.0.2.2","outcome":"success","logon_type":"remote_interactive","orientation":"tgs"}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let native_flows = [
        r#"{"time":1700000000,"duration":1.5,"src_host":"A","src_port":51234,"dst_ip":"10.1.1.1","dst_port":445,"protocol":"tcp","packets":10,"bytes":5323}"#,
        r#"{"time":"2023-11-14T22:13:20Z","src_ip":"10.0.0.1","dst_host":"B","dst_port":53,"protocol":17}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let json = Layout::Json;
    vec![
        (
            Format::Lanl,
            Stream::Auth,
            Layout::Delimited(','),
            head("lanl/auth_sample.txt", 40),
        ),
        (
            Format::Lanl,
            Stream::Flows,
            Layout::Delimited(','),
            head("scenario-small/flows.txt", 40),
        ),
        (Format::Native, Stream::Auth, json, native_auth),
        (Format::Native, Stream::Flows, json, native_flows),
        (
            Format::Windows,
            Stream::Auth,
            json,
            testdata("formats/windows_otrf.jsonl"),
        ),
        (
            Format::Zeek,
            Stream::Flows,
            json,
            testdata("formats/zeek_conn_otrf.jsonl"),
        ),
        (
            Format::Zeek,
            Stream::Flows,
            Layout::Delimited('\t'),
            testdata("formats/zeek_conn_otrf.log"),
        ),
        (
            Format::Vpc,
            Stream::Flows,
            Layout::Delimited(' '),
            testdata("formats/vpc_flow.log"),
        ),
        (
            Format::Vpc,
            Stream::Flows,
            Layout::Delimited(' '),
            testdata("formats/vpc_flow_custom.log"),
        ),
        (
            Format::CloudTrail,
            Stream::Auth,
            json,
            testdata("formats/cloudtrail_otrf.jsonl"),
        ),
        (
            Format::K8s,
            Stream::Auth,
            json,
            testdata("formats/k8s_audit_falco.jsonl"),
        ),
        (
            Format::Ocsf,
            Stream::Auth,
            json,
            testdata("formats/ocsf_events.jsonl"),
        ),
        (
            Format::Ocsf,
            Stream::Flows,
            json,
            testdata("formats/ocsf_events.jsonl"),
        ),
    ]
}

/// Inserts `s` into `field` at a character boundary at most `at` bytes in, or replaces it.
fn splice(field: &str, at: usize, s: &str, replace: bool) -> String {
    if replace {
        return s.to_string();
    }
    let mut cut = at % (field.len() + 1);
    while !field.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{s}{}", &field[..cut], &field[cut..])
}

/// Every leaf of a JSON value (strings, numbers, booleans, nulls), depth first.
fn leaves(v: &mut Value) -> Vec<&mut Value> {
    match v {
        Value::Object(m) => m.values_mut().flat_map(leaves).collect(),
        Value::Array(a) => a.iter_mut().flat_map(leaves).collect(),
        leaf => vec![leaf],
    }
}

/// Splices `s` into field `k` (modulo the number of fields) of a record line.
fn splice_field(line: &str, layout: Layout, k: usize, at: usize, s: &str, replace: bool) -> String {
    match layout {
        Layout::Json => {
            let mut v: Value = serde_json::from_str(line).expect("a valid JSON record");
            let mut fields = leaves(&mut v);
            let n = fields.len();
            let field = &mut fields[k % n];
            let text = match &**field {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            **field = Value::String(splice(&text, at, s, replace));
            v.to_string()
        }
        Layout::Delimited(sep) => {
            let mut fields: Vec<String> = line.split(sep).map(str::to_string).collect();
            let n = fields.len();
            let f = &mut fields[k % n];
            *f = splice(f, at, s, replace);
            fields.join(&sep.to_string())
        }
    }
}

/// Multi-byte text: two-, three- and four-byte characters, a zero-width space, a combining mark.
const WIDE: &str = "[é€😀\u{200b}\u{301}ßЖ中]{1,30}";

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_decoder_takes_arbitrary_unicode_lines(text in "(\\PC{0,80}\n){0,6}\\PC{0,80}") {
        check_arbitrary(&text);
    }

    #[test]
    fn every_decoder_takes_json_objects_of_arbitrary_unicode(
        pairs in proptest::collection::vec(("(time|identity|src_host|dst_host|ts|outcome|protocol|\\PC{1,8})", "\\PC{0,40}"), 0..6),
    ) {
        let obj: serde_json::Map<String, Value> =
            pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        check_arbitrary(&Value::Object(obj).to_string());
    }

    #[test]
    fn multi_byte_text_spliced_into_any_field_of_a_valid_record(
        which in any::<usize>(),
        line in any::<usize>(),
        field in any::<usize>(),
        at in any::<usize>(),
        text in prop_oneof![WIDE, "\\PC{1,40}"],
        replace in any::<bool>(),
    ) {
        let inputs = valid_inputs();
        let (format, stream, layout, clean) = &inputs[which % inputs.len()];
        let (format, stream, layout) = (*format, *stream, *layout);
        let mut syms = Interner::exact_only();
        let before = decode(clean.as_bytes(), format, stream, &mut syms);
        // Splice into a line that decodes to an event.
        let records: Vec<u64> = before
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Event(_)))
            .map(|(no, _)| *no)
            .collect();
        prop_assume!(!records.is_empty());
        let target = records[line % records.len()];
        let mutated: String = clean
            .split('\n')
            .enumerate()
            .map(|(i, l)| {
                if i as u64 + 1 == target {
                    splice_field(l, layout, field, at, &text, replace)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let after = decode(mutated.as_bytes(), format, stream, &mut syms);
        for (no, o) in &before {
            if *no != target {
                prop_assert_eq!(after.get(no), Some(o), "line {} changed", no);
            }
        }
        for no in after.keys() {
            prop_assert!(*no == target || before.contains_key(no), "line {} appeared", no);
        }
        if never_skips(format) {
            prop_assert!(after.contains_key(&target), "the spliced line vanished");
        }
    }
}

#[test]
fn the_multi_byte_values_of_the_issue_are_dead_letters_with_reasons() {
    let euros = "€".repeat(30);
    let good = |i: usize| {
        format!(
            r#"{{"time":{},"identity":"svc_{i}@CORP","dst_host":"DB-01","outcome":"success"}}"#,
            1_700_000_000 + i
        )
    };
    let bad = [
        (
            format!(r#"{{"time":"x{euros}","identity":"a","dst_host":"b","outcome":"success"}}"#),
            Reason::BadTime,
        ),
        (
            format!(
                r#"{{"time":1,"identity":"{}","dst_host":"b","outcome":"success"}}"#,
                "€".repeat(200)
            ),
            Reason::TooLong,
        ),
        (
            format!(r#"{{"time":1,"identity":"a","dst_host":"b","outcome":"{euros}"}}"#),
            Reason::UnknownValue,
        ),
        (
            format!(
                r#"{{"time":1,"identity":"a","dst_host":"b","outcome":"success","logon_type":"{euros}"}}"#
            ),
            Reason::UnknownValue,
        ),
        (
            format!(
                r#"{{"time":1,"identity":"a","dst_host":"b","outcome":"success","protocol":"{euros}"}}"#
            ),
            Reason::UnknownValue,
        ),
    ];
    let mut text = String::new();
    let mut expected = BTreeMap::new();
    let mut no = 0;
    for i in 0..20 {
        if i % 4 == 1 {
            let (line, reason) = &bad[i / 4];
            no += 1;
            text.push_str(line);
            text.push('\n');
            expected.insert(no, *reason);
        }
        no += 1;
        text.push_str(&good(i));
        text.push('\n');
    }
    let out = decode(
        text.as_bytes(),
        Format::Native,
        Stream::Auth,
        &mut Interner::exact_only(),
    );
    let events = out
        .values()
        .filter(|o| matches!(o, Outcome::Event(_)))
        .count();
    let dead: BTreeMap<u64, Reason> = out
        .iter()
        .filter_map(|(no, o)| match o {
            Outcome::Dead(r) => Some((*no, *r)),
            Outcome::Event(_) => None,
        })
        .collect();
    assert_eq!(events, 20);
    assert_eq!(dead, expected);
}
