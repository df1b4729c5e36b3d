//! Decoders on fixtures built from real public samples (see testdata/formats/README.md), their
//! malformed variants, fuzzing, and the alert encoders (OCSF against the schema's required fields).

use proptest::prelude::*;
use reachwatch_formats::lines::spawn_decoder;
use reachwatch_formats::sniff::sniff;
use reachwatch_formats::{decoder, AlertFormat, Format, Reason, Stream};
use reachwatch_model::{
    AuthEvent, AuthProtocol, Event, FlowEvent, Interner, LogonType, Orientation, Outcome, Sym,
};
use serde_json::{json, Value};
use std::io::Cursor;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/formats")
        .join(name)
}

type Decoded = (Vec<Event>, Interner, Vec<(u64, Reason)>);

/// Decodes bytes through the decoding thread; returns events (names resolved) and dead letters.
fn decode_bytes(bytes: Vec<u8>, format: Format, stream: Stream) -> Decoded {
    let rx = spawn_decoder(Box::new(Cursor::new(bytes)), format, stream, "t".into());
    let mut syms = Interner::exact_only();
    let (mut events, mut dead, mut map) = (vec![], vec![], vec![]);
    for batch in rx {
        let batch = batch.unwrap();
        for n in batch.new_names.iter() {
            map.push(syms.intern(n.as_bytes()));
        }
        for (mut e, _) in batch.events {
            e.map_syms(|s| map[s.index()]);
            events.push(e);
        }
        dead.extend(batch.dead.iter().map(|d| (d.line, d.reason)));
    }
    (events, syms, dead)
}

fn decode(name: &str, format: Format, stream: Stream) -> Decoded {
    decode_bytes(std::fs::read(fixture(name)).unwrap(), format, stream)
}

fn auth(e: &Event) -> &AuthEvent {
    match e {
        Event::Auth(a) => a,
        Event::Flow(_) => panic!("flow"),
    }
}

fn flow(e: &Event) -> &FlowEvent {
    match e {
        Event::Flow(f) => f,
        Event::Auth(_) => panic!("auth"),
    }
}

fn opt(syms: &Interner, s: Option<Sym>) -> Option<&str> {
    s.map(|s| syms.resolve(s))
}

#[test]
fn windows_security_events_from_otrf() {
    let (ev, syms, dead) = decode("windows_otrf.jsonl", Format::Windows, Stream::Auth);
    assert!(dead.is_empty(), "{dead:?}");
    // 4624, 4625, 4648, 4768, 4769, 4776, 4634; the 4672 is skipped.
    assert_eq!(ev.len(), 7);
    let r = |s| syms.resolve(s);
    let a = auth(&ev[0]);
    assert_eq!(r(a.identity), "MORDORDC$@THESHIRE");
    assert_eq!(r(a.dst), "MORDORDC");
    assert_eq!(opt(&syms, a.src), Some("fe80::9582:39e0:356b:ef4e"));
    assert_eq!(
        (a.logon, a.protocol, a.orientation, a.outcome),
        (
            LogonType::Network,
            AuthProtocol::Kerberos,
            Orientation::LogOn,
            Outcome::Success
        )
    );
    assert_eq!(a.time, 1_600_379_142_739);
    let a = auth(&ev[1]);
    assert_eq!(r(a.identity), "lrodriguez@THESHIRE");
    assert_eq!(opt(&syms, a.src), Some("WORKSTATION5"));
    assert_eq!(
        (a.logon, a.protocol, a.outcome),
        (LogonType::Interactive, AuthProtocol::Ntlm, Outcome::Failure)
    );
    let a = auth(&ev[2]);
    assert_eq!(
        (r(a.identity), opt(&syms, a.src), r(a.dst)),
        ("pgustavo@THESHIRE", Some("WORKSTATION5"), "WORKSTATION6")
    );
    let a = auth(&ev[3]);
    assert_eq!(
        (a.orientation, opt(&syms, a.src), r(a.dst)),
        (Orientation::Tgt, Some("172.18.39.5"), "MORDORDC")
    );
    let a = auth(&ev[4]);
    assert_eq!(r(a.identity), "pgustavo@THESHIRE");
    assert_eq!(
        (a.orientation, r(a.dst), opt(&syms, a.service)),
        (Orientation::Tgs, "WORKSTATION6", Some("WORKSTATION6$"))
    );
    let a = auth(&ev[5]);
    assert_eq!(
        (a.orientation, a.protocol, opt(&syms, a.src), r(a.dst)),
        (
            Orientation::Other,
            AuthProtocol::Ntlm,
            Some("WORKSTATION5"),
            "MORDORDC"
        )
    );
    assert_eq!(auth(&ev[6]).orientation, Orientation::LogOff);
}

#[test]
fn zeek_conn_json_and_tsv_from_otrf_agree() {
    let (json, js, dead) = decode("zeek_conn_otrf.jsonl", Format::Zeek, Stream::Flows);
    assert!(dead.is_empty(), "{dead:?}");
    let (tsv, ts, dead) = decode("zeek_conn_otrf.log", Format::Zeek, Stream::Flows);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!((json.len(), tsv.len()), (2, 2));
    for (a, b) in json.iter().zip(&tsv) {
        let (a, b) = (flow(a), flow(b));
        assert_eq!(
            (a.time, a.duration, a.src_port, a.dst_port, a.protocol, a.packets, a.bytes),
            (b.time, b.duration, b.src_port, b.dst_port, b.protocol, b.packets, b.bytes)
        );
        assert_eq!(js.resolve(a.src), ts.resolve(b.src));
        assert_eq!(js.resolve(a.dst), ts.resolve(b.dst));
    }
    let f = flow(&json[0]);
    assert_eq!(
        (js.resolve(f.src), js.resolve(f.dst)),
        ("10.0.1.6", "10.0.0.4")
    );
    assert_eq!(
        (f.time, f.duration, f.src_port, f.dst_port, f.protocol, f.packets, f.bytes),
        (1_588_316_986_689, 10_778, 57155, 445, 6, 24, 5701)
    );
    assert_eq!(flow(&json[1]).protocol, 17);
}

#[test]
fn vpc_flow_logs_default_and_custom() {
    let (ev, syms, dead) = decode("vpc_flow.log", Format::Vpc, Stream::Flows);
    assert!(dead.is_empty(), "{dead:?}");
    // ACCEPT, REJECT (skipped), NODATA (skipped), and the reply of the first (turned around).
    assert_eq!(ev.len(), 2);
    for e in &ev {
        let f = flow(e);
        assert_eq!(
            (syms.resolve(f.src), syms.resolve(f.dst), f.dst_port),
            ("172.31.16.139", "172.31.16.21", 22)
        );
        assert_eq!((f.time, f.duration), (1_418_530_010_000, 60_000));
    }
    assert_eq!((flow(&ev[0]).packets, flow(&ev[0]).bytes), (20, 4249));
    let (ev, syms, dead) = decode("vpc_flow_custom.log", Format::Vpc, Stream::Flows);
    assert!(dead.is_empty(), "{dead:?}");
    let f = flow(&ev[0]);
    assert_eq!(
        (
            syms.resolve(f.src),
            f.src_port,
            syms.resolve(f.dst),
            f.dst_port
        ),
        ("52.213.180.42", 43416, "10.0.0.62", 5001)
    );
    assert_eq!((f.packets, f.bytes, f.duration), (8, 568, 58_000));
}

#[test]
fn cloudtrail_records_from_otrf_lines_and_documents() {
    let (ev, syms, dead) = decode("cloudtrail_otrf.jsonl", Format::CloudTrail, Stream::Auth);
    assert!(dead.is_empty(), "{dead:?}");
    // The AWSService AssumeRole (EC2 fetching the instance role) is skipped.
    assert_eq!(ev.len(), 2);
    let a = auth(&ev[0]);
    assert_eq!(
        syms.resolve(a.identity),
        "arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
    );
    assert_eq!(opt(&syms, a.credential), Some("ASIA5FLZVX4OPVKKVBMX"));
    assert_eq!(
        (
            syms.resolve(a.dst),
            opt(&syms, a.service),
            opt(&syms, a.src)
        ),
        (
            "s3.amazonaws.com",
            Some("s3.amazonaws.com"),
            Some("1.2.3.4")
        )
    );
    assert_eq!(
        (a.protocol, a.logon, a.outcome, a.time),
        (
            AuthProtocol::Oauth,
            LogonType::Network,
            Outcome::Success,
            1_600_045_233_000
        )
    );
    assert_eq!(
        syms.resolve(auth(&ev[1]).identity),
        "arn:aws:iam::123456789123:user/pedro"
    );
    // The same records as one pretty-printed `Records` document decode the same.
    let text = std::fs::read_to_string(fixture("cloudtrail_otrf.jsonl")).unwrap();
    let doc = format!(
        "{{\n \"Records\": [\n{}\n ]\n}}\n",
        text.trim().replace('\n', ",\n")
    );
    let (ev2, syms2, dead) = decode_bytes(doc.into_bytes(), Format::CloudTrail, Stream::Auth);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(ev2.len(), 2);
    assert_eq!(
        syms2.resolve(auth(&ev2[0]).identity),
        syms.resolve(a.identity)
    );
    assert_eq!(auth(&ev2[0]).time, a.time);
}

#[test]
fn kubernetes_audit_from_falco() {
    let (ev, syms, dead) = decode("k8s_audit_falco.jsonl", Format::K8s, Stream::Auth);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(ev.len(), 3);
    let a = auth(&ev[0]);
    assert_eq!(
        syms.resolve(a.identity),
        "system:serviceaccount:kube-system:replicaset-controller"
    );
    assert_eq!(
        (
            syms.resolve(a.dst),
            opt(&syms, a.service),
            opt(&syms, a.src)
        ),
        ("k8s:default", Some("create pods"), Some("::1"))
    );
    assert_eq!(
        (a.protocol, a.outcome),
        (AuthProtocol::Oauth, Outcome::Success)
    );
    let a = auth(&ev[1]);
    assert_eq!(
        (
            syms.resolve(a.identity),
            opt(&syms, a.service),
            opt(&syms, a.src)
        ),
        (
            "minikube-user",
            Some("create pods/attach"),
            Some("192.168.99.1")
        )
    );
    assert_eq!(a.time, 1_540_561_366_764);
    assert_eq!(syms.resolve(auth(&ev[2]).identity), "system:node:minikube");
}

#[test]
fn ocsf_authentication_and_network_activity() {
    let (ev, syms, dead) = decode("ocsf_events.jsonl", Format::Ocsf, Stream::Auth);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(ev.len(), 2);
    let a = auth(&ev[0]);
    assert_eq!(
        (
            syms.resolve(a.identity),
            opt(&syms, a.src),
            syms.resolve(a.dst)
        ),
        ("SVC-BACKUP$@CORP", Some("10.1.2.3"), "db07")
    );
    assert_eq!(
        (a.protocol, a.logon, a.outcome, a.time),
        (
            AuthProtocol::Kerberos,
            LogonType::Network,
            Outcome::Success,
            1_746_093_600_000
        )
    );
    assert_eq!(opt(&syms, a.credential), Some("tkt-1"));
    let a = auth(&ev[1]);
    assert_eq!(
        (syms.resolve(a.dst), a.protocol, a.outcome),
        ("s3.amazonaws.com", AuthProtocol::Oauth, Outcome::Failure)
    );
    let (ev, syms, _) = decode("ocsf_events.jsonl", Format::Ocsf, Stream::Flows);
    assert_eq!(ev.len(), 1);
    let f = flow(&ev[0]);
    assert_eq!(
        (
            syms.resolve(f.dst),
            f.dst_port,
            f.duration,
            f.packets,
            f.bytes
        ),
        ("10.9.9.9", 445, 1500, 12, 4096)
    );
}

#[test]
fn malformed_variants_are_dead_lettered_with_reasons() {
    let text = std::fs::read_to_string(fixture("malformed.txt")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let (format, rest) = line.split_once('\t').unwrap();
        let (record, reason) = rest.rsplit_once('\t').unwrap();
        let format: Format = format.parse().unwrap();
        let (ev, _, dead) = decode_bytes(record.as_bytes().to_vec(), format, Stream::Auth);
        assert!(ev.is_empty(), "{record}");
        assert_eq!(dead.len(), 1, "{record}");
        assert_eq!(dead[0].1.name(), reason, "{record}");
        assert_eq!(dead[0].0, 1);
        n += 1;
    }
    assert!(n >= 20, "{n}");
}

#[test]
fn auto_detection_picks_each_fixture_format() {
    let cases = [
        ("windows_otrf.jsonl", Format::Windows),
        ("zeek_conn_otrf.jsonl", Format::Zeek),
        ("zeek_conn_otrf.log", Format::Zeek),
        ("vpc_flow.log", Format::Vpc),
        ("vpc_flow_custom.log", Format::Vpc),
        ("cloudtrail_otrf.jsonl", Format::CloudTrail),
        ("k8s_audit_falco.jsonl", Format::K8s),
        ("ocsf_events.jsonl", Format::Ocsf),
    ];
    for (f, want) in cases {
        assert_eq!(
            sniff(&std::fs::read(fixture(f)).unwrap()),
            Some(want),
            "{f}"
        );
    }
    assert_eq!(sniff(b"\n{\n \"Records\": [\n"), Some(Format::CloudTrail));
    assert_eq!(
        sniff(b"1,U1@D,U1@D,C1,C2,Kerberos,Network,LogOn,Success\n"),
        Some(Format::Lanl)
    );
    assert_eq!(sniff(b"hello world\n"), None);
}

fn sample_alert() -> reachwatch_model::Alert {
    serde_json::from_value(json!({
        "id": "rw-00000000000000ab", "time": 486810, "identity": "WS-0013$@DOM1",
        "identity_kind": "machine", "src": "WS-0013", "dst": "MONITOR-01", "rule": "fan-out",
        "severity": "high", "score": 80, "attack": ["T1021.002", "T1018"],
        "summary": "WS-0013$@DOM1: 5 novel destinations within 10 min",
        "evidence": {"features": [{"name": "fan_out", "weight": 30, "detail": "5 novel destinations"}],
            "baseline": {"first_seen": 29142, "observations": 475, "destinations": 6,
                "sources": ["WS-0013"], "destination_groups": ["dc"], "protocols": ["kerberos"]},
            "peers": {"group": "ws", "group_reaching_dst": 0, "identities_reaching_dst": 0},
            "path": [],
            "observations": [{"time": 486810, "identity": "WS-0013$@DOM1", "src": "WS-0013",
                "dst": "MONITOR-01", "via": "auth"}],
            "observation_count": 1, "destinations": ["MONITOR-01"], "first_time": 486810,
            "last_time": 486900}
    }))
    .unwrap()
}

fn type_ok(v: &Value, ty: &str) -> bool {
    match ty {
        "integer" => v.is_i64() || v.is_u64(),
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => false,
    }
}

/// Checks a dotted path (`[]` = every element of a non-empty array) has the given JSON type.
fn check(v: &Value, path: &[&str], ty: &str, full: &str) {
    let Some((head, rest)) = path.split_first() else {
        assert!(type_ok(v, ty), "{full} is not {ty}: {v}");
        return;
    };
    if let Some(arr) = head.strip_suffix("[]") {
        let items = v[arr]
            .as_array()
            .unwrap_or_else(|| panic!("{full}: not an array"));
        assert!(!items.is_empty(), "{full}: `{arr}` is empty");
        for item in items {
            check(item, rest, ty, full);
        }
    } else {
        let next = v.get(*head).unwrap_or_else(|| panic!("missing {full}"));
        check(next, rest, ty, full);
    }
}

#[test]
fn ocsf_findings_have_every_required_attribute() {
    let required: serde_json::Map<String, Value> =
        serde_json::from_slice(&std::fs::read(fixture("ocsf_2004_required.json")).unwrap())
            .unwrap();
    let mut out = vec![];
    AlertFormat::Ocsf
        .write(&mut out, &sample_alert(), "0.1.0")
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let mut n = 0;
    for (path, ty) in required.iter().filter(|(k, _)| !k.starts_with('_')) {
        let parts: Vec<&str> = path.split('.').collect();
        check(&v, &parts, ty.as_str().unwrap(), path);
        n += 1;
    }
    assert!(n >= 15, "{n}");
    assert_eq!(
        (
            v["class_uid"].as_i64(),
            v["type_uid"].as_i64(),
            v["severity_id"].as_i64()
        ),
        (Some(2004), Some(200401), Some(4))
    );
    assert_eq!(v["finding_info"]["uid"], "rw-00000000000000ab");
    assert_eq!(v["time"], 486_810_000);
    assert_eq!(v["end_time"], 486_900_000);
    assert_eq!(
        v["finding_info"]["attacks"][0]["sub_technique"]["name"],
        "SMB/Windows Admin Shares"
    );
    assert_eq!(v["finding_info"]["attacks"][1]["tactic"]["uid"], "TA0008");
    assert_eq!(v["actor"]["user"]["type_id"], 3);
    assert_eq!(v["device"]["hostname"], "MONITOR-01");
    assert_eq!(v["evidences"][0]["src_endpoint"]["hostname"], "WS-0013");
    assert_eq!(v["metadata"]["product"]["name"], "reachwatch");
    assert_eq!(v["unmapped"]["baseline"]["observations"], 475);
}

#[test]
fn ecs_alert_documents() {
    let mut out = vec![];
    let mut a = sample_alert();
    a.timestamp = Some("2026-01-10T15:13:30Z".into());
    AlertFormat::Ecs.write(&mut out, &a, "0.1.0").unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["event"]["kind"], "alert");
    assert_eq!(v["@timestamp"], "2026-01-10T15:13:30Z");
    assert_eq!(v["event"]["end"], "2026-01-10T15:15:00Z");
    assert_eq!(v["rule"]["name"], "fan-out");
    assert_eq!(v["threat"]["tactic"]["id"][0], "TA0008");
    assert_eq!(v["threat"]["technique"]["id"], json!(["T1021", "T1018"]));
    assert_eq!(
        v["threat"]["technique"]["subtechnique"]["id"][0],
        "T1021.002"
    );
    assert_eq!(v["user"]["name"], "WS-0013$@DOM1");
    assert_eq!(v["source"]["domain"], "WS-0013");
    assert_eq!(v["destination"]["domain"], "MONITOR-01");
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

fn valid_records() -> Vec<(Format, Vec<u8>)> {
    [
        ("windows_otrf.jsonl", Format::Windows),
        ("zeek_conn_otrf.log", Format::Zeek),
        ("vpc_flow_custom.log", Format::Vpc),
        ("cloudtrail_otrf.jsonl", Format::CloudTrail),
        ("k8s_audit_falco.jsonl", Format::K8s),
        ("ocsf_events.jsonl", Format::Ocsf),
    ]
    .into_iter()
    .map(|(f, format)| (format, std::fs::read(fixture(f)).unwrap()))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for format in ALL {
            for stream in [Stream::Auth, Stream::Flows] {
                let mut d = decoder(format, stream);
                let _ = d.decode(&bytes, &mut Interner::new());
            }
        }
    }

    #[test]
    fn mutated_valid_records_decode_or_dead_letter(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let records = valid_records();
        let (format, text) = &records[which];
        let mut bytes = text.clone();
        for (pos, b) in edits {
            let i = pos % bytes.len();
            bytes[i] = b;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
        let (ev, _, dead) = decode_bytes(bytes.clone(), *format, Stream::Auth);
        // Every dead letter points at a line of the input; nothing is both decoded and rejected
        // beyond the number of lines (a mutation can only merge or split records).
        prop_assert!(dead.iter().all(|(l, _)| *l >= 1 && *l <= lines + 1));
        prop_assert!((ev.len() + dead.len()) as u64 <= lines + 1);
    }
}
