//! Windows logs as responders have them: EVTX files (samples of the `evtx` crate), their JSON
//! and XML renderings, directories of them, Sysmon and WFP flows, 4648/4624 pairing, and damaged
//! chunks. Expected values were read from the files' XML as python-evtx (an independent parser)
//! renders it, and from the original OTRF records (see testdata/formats/README.md).

use proptest::prelude::*;
use reachwatch_formats::lines::BATCH;
use reachwatch_formats::symbols::MAX_LOCAL_NAMES;
use reachwatch_formats::windows::collection::{self, Options};
use reachwatch_formats::{Format, Reason, SkipKey, Skipped};
use reachwatch_model::{AuthProtocol, Event, Interner, LogonType, Orientation, Outcome};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/formats")
        .join(name)
}

/// An event with its names resolved, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
enum E {
    Auth {
        time: i64,
        identity: String,
        src: Option<String>,
        dst: String,
        protocol: AuthProtocol,
        logon: LogonType,
        orientation: Orientation,
        outcome: Outcome,
    },
    Flow {
        time: i64,
        src: String,
        dst: String,
        src_port: u16,
        dst_port: u16,
        protocol: u8,
    },
}

impl E {
    fn time(&self) -> i64 {
        match self {
            E::Auth { time, .. } | E::Flow { time, .. } => *time,
        }
    }
}

struct Read {
    events: Vec<(E, u64)>,
    dead: Vec<(String, u64, Reason, String)>,
    skipped: Skipped,
    /// Most names the decoding thread's table held at once (as handed over).
    names_held: usize,
    /// Batches that said the table was compacted.
    resets: usize,
}

fn read(path: &Path, format: Format) -> Read {
    let (rx, _) = collection::open(path, format, &Options::default())
        .unwrap()
        .expect("a Windows collection");
    let mut syms = Interner::new();
    let mut map = vec![];
    let mut out = Read {
        events: vec![],
        dead: vec![],
        skipped: Skipped::default(),
        names_held: 0,
        resets: 0,
    };
    for batch in rx {
        let batch = batch.unwrap();
        if batch.names_reset {
            map.clear();
            out.resets += 1;
        }
        out.names_held = out.names_held.max(map.len() + batch.new_names.len());
        for n in batch.new_names.iter() {
            map.push(syms.intern(n.as_bytes()));
        }
        out.skipped.merge(&batch.skipped);
        for d in batch.dead {
            out.dead.push((d.source, d.line, d.reason, d.detail));
        }
        for (mut e, line) in batch.events {
            e.map_syms(|s| map[s.index()]);
            let r = |s| syms.resolve(s).to_string();
            let e = match e {
                Event::Auth(a) => E::Auth {
                    time: a.time,
                    identity: r(a.identity),
                    src: a.src.map(r),
                    dst: r(a.dst),
                    protocol: a.protocol,
                    logon: a.logon,
                    orientation: a.orientation,
                    outcome: a.outcome,
                },
                Event::Flow(f) => E::Flow {
                    time: f.time,
                    src: r(f.src),
                    dst: r(f.dst),
                    src_port: f.src_port,
                    dst_port: f.dst_port,
                    protocol: f.protocol,
                },
            };
            out.events.push((e, line));
        }
    }
    out
}

fn ms(rfc3339: &str) -> i64 {
    reachwatch_formats::native::parse_rfc3339(rfc3339).unwrap()
}

fn record(r: &Read, id: u64) -> &E {
    &r.events.iter().find(|(_, l)| *l == id).expect("record").0
}

#[test]
fn evtx_records_decode_to_the_values_of_their_own_xml() {
    let r = read(&fixture("evtx_security.evtx"), Format::Evtx);
    assert!(r.dead.is_empty(), "{:?}", r.dead);
    // 126 4624, 15 4625, 17 4634, 1 4647, 21 4776; every 4648 targets localhost.
    assert_eq!(r.events.len(), 180);
    assert_eq!(r.skipped.get(SkipKey::LocalExplicit), 92);
    assert_eq!(r.skipped.get(SkipKey::Event(4907)), 192);
    assert_eq!(r.skipped.get(SkipKey::Event(4672)), 109);
    assert_eq!(r.skipped.get(SkipKey::Event(1100)), 3);
    assert_eq!(r.skipped.total(), 636 - 180);
    // Record 452: a failed network logon from IT104-3 (10.20.0.118).
    assert_eq!(
        record(&r, 452),
        &E::Auth {
            time: ms("2015-08-23T10:53:26.137Z"),
            identity: "Student@IT104-3".into(),
            src: Some("IT104-3".into()),
            dst: "WIN-L0ZZQ76PMUF".into(),
            protocol: AuthProtocol::Ntlm,
            logon: LogonType::Network,
            orientation: Orientation::LogOn,
            outcome: Outcome::Failure,
        }
    );
    // Record 25: an anonymous NTLM network logon with neither address nor workstation.
    assert_eq!(
        record(&r, 25),
        &E::Auth {
            time: ms("2015-08-24T06:51:59.687Z"),
            identity: "ANONYMOUS LOGON@NT AUTHORITY".into(),
            src: None,
            dst: "26L2233B1-02".into(),
            protocol: AuthProtocol::Ntlm,
            logon: LogonType::Network,
            orientation: Orientation::LogOn,
            outcome: Outcome::Success,
        }
    );
    // Record 62: NTLM credential validation, Status 0x00000000.
    assert_eq!(
        record(&r, 62),
        &E::Auth {
            time: ms("2015-08-24T06:57:38.546Z"),
            identity: "Administrator".into(),
            src: Some("WIN-L0ZZQ76PMUF".into()),
            dst: "WIN-L0ZZQ76PMUF".into(),
            protocol: AuthProtocol::Ntlm,
            logon: LogonType::Unknown,
            orientation: Orientation::Other,
            outcome: Outcome::Success,
        }
    );
    // Record 598: a 4647 logoff.
    let E::Auth {
        time,
        identity,
        orientation,
        ..
    } = record(&r, 598)
    else {
        panic!("auth")
    };
    assert_eq!(
        (*time, identity.as_str(), *orientation),
        (
            ms("2015-09-12T18:10:56.344Z"),
            "Administrator@WIN-L0ZZQ76PMUF",
            Orientation::LogOff
        )
    );
}

#[test]
fn evtx_json_and_xml_renderings_decode_to_identical_events() {
    // The same 108 records: the EVTX chunk, the `evtx` crate's JSON lines, python-evtx's XML.
    let evtx = read(&fixture("evtx_security_chunk4.evtx"), Format::Auto);
    let json = read(&fixture("evtx_security_chunk4.jsonl"), Format::Auto);
    let xml = read(&fixture("evtx_security_chunk4.xml"), Format::Auto);
    assert!(evtx.dead.is_empty() && json.dead.is_empty() && xml.dead.is_empty());
    // 26 4624, 9 4625, 10 4634, 11 4776; 25 4648 to localhost, 25 4672, 2 4616.
    assert_eq!(evtx.events.len(), 56);
    let events = |r: &Read| r.events.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>();
    assert_eq!(events(&evtx), events(&json));
    assert_eq!(events(&evtx), events(&xml));
    assert_eq!(evtx.skipped, json.skipped);
    assert_eq!(evtx.skipped, xml.skipped);
    assert_eq!(evtx.skipped.get(SkipKey::Event(4672)), 25);
    // Lines: record ids for EVTX; line numbers for the renderings.
    assert!(evtx.events.iter().all(|(_, l)| (426..=533).contains(l)));
}

#[test]
fn a_directory_of_logs_is_one_input_merged_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let host_a = dir.path().join("hostA");
    let host_b = dir.path().join("hostB/Logs");
    std::fs::create_dir_all(&host_a).unwrap();
    std::fs::create_dir_all(&host_b).unwrap();
    // Each file in time order (as the fuller evtx_security.evtx, whose clock jumps back, is not).
    for (from, to) in [
        ("evtx_security_chunk4.xml", host_a.join("forwarded.xml")),
        ("evtx_security_short.evtx", host_b.join("Security.evtx")),
        ("evtx_sysmon_chunk0.evtx", host_b.join("Sysmon.evtx")),
        ("sysmon3_otrf.jsonl", dir.path().join("otrf.json")),
    ] {
        std::fs::copy(fixture(from), to).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "collected by the responder\n").unwrap();
    let all = read(dir.path(), Format::Auto);
    assert!(all.dead.is_empty(), "{:?}", all.dead);
    let one = |f: &str| read(&fixture(f), Format::Auto);
    let (a, b, x) = (
        one("sysmon3_otrf.jsonl"),
        one("evtx_security_short.evtx"),
        one("evtx_security_chunk4.xml"),
    );
    assert_eq!(
        all.events.len(),
        a.events.len() + b.events.len() + x.events.len()
    );
    let times: Vec<i64> = all.events.iter().map(|(e, _)| e.time()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "merged in time");
    // The Sysmon logs' process and registry events are skipped by id, not dead-lettered.
    assert_eq!(all.skipped.get(SkipKey::Sysmon(1)), 31 + 10);
    // Security_short_selected's host is `temporal`: its 4776 and 4625 are there.
    let temporal = all
        .events
        .iter()
        .filter(|(e, _)| matches!(e, E::Auth { dst, .. } if dst == "temporal"))
        .count();
    assert_eq!(temporal, 2);
}

fn event_json(id: u32, provider: &str, computer: &str, time: &str, data: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"{provider}"}}}},"EventID":{id},"TimeCreated":{{"#attributes":{{"SystemTime":"{time}"}}}},"Computer":"{computer}"}},"EventData":{{{data}}}}}}}"##
    )
}

fn read_text(text: &str, name: &str) -> Read {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    read(&p, Format::Auto)
}

const SEC: &str = "Microsoft-Windows-Security-Auditing";

#[test]
fn a_4648_and_the_4624_of_the_same_logon_count_once() {
    let logon = |computer: &str, time: &str, ip: &str, ws: &str, guid: &str| {
        event_json(
            4624,
            SEC,
            computer,
            time,
            &format!(
                r#""TargetUserName":"svc_backup","TargetDomainName":"CORP","LogonType":3,"AuthenticationPackageName":"Kerberos","IpAddress":"{ip}","WorkstationName":"{ws}","LogonGuid":"{guid}""#
            ),
        )
    };
    let explicit = |computer: &str, time: &str, server: &str, guid: &str| {
        event_json(
            4648,
            SEC,
            computer,
            time,
            &format!(
                r#""SubjectUserName":"alice","TargetUserName":"svc_backup","TargetDomainName":"CORP.LOCAL","TargetServerName":"{server}","IpAddress":"10.0.0.20","TargetLogonGuid":"{guid}""#
            ),
        )
    };
    let zero = "{00000000-0000-0000-0000-000000000000}";
    let g = "{e40b3c90-7415-9168-1f61-8f1fff8e4227}";
    let text = [
        // Paired on identity and target: the target knows neither address nor workstation.
        explicit(
            "WS01.corp.local",
            "2024-05-01T10:00:00.000Z",
            "SRV01.corp.local",
            zero,
        ),
        logon(
            "SRV01.corp.local",
            "2024-05-01T10:00:00.400Z",
            "-",
            "",
            zero,
        ),
        // Paired on the logon GUID, the target's clock 40 s behind.
        explicit("WS02", "2024-05-01T11:00:40.000Z", "SRV02", g),
        logon("SRV02", "2024-05-01T11:00:00.000Z", "-", "", g),
        // Not paired: the logon at SRV03 came from another workstation.
        explicit("WS03", "2024-05-01T12:00:00.000Z", "SRV03", zero),
        logon("SRV03", "2024-05-01T12:00:01.000Z", "-", "WS09", zero),
    ]
    .join("\n");
    let r = read_text(&text, "pairs.jsonl");
    assert!(r.dead.is_empty(), "{:?}", r.dead);
    let edges: Vec<(String, Option<String>, String)> = r
        .events
        .iter()
        .map(|(e, _)| match e {
            E::Auth {
                identity, src, dst, ..
            } => (identity.clone(), src.clone(), dst.clone()),
            E::Flow { .. } => panic!("flow"),
        })
        .collect();
    let id = "svc_backup@CORP".to_string();
    assert_eq!(
        edges,
        vec![
            (id.clone(), Some("WS01".into()), "SRV01".into()),
            (id.clone(), Some("WS02".into()), "SRV02".into()),
            (id.clone(), Some("WS03".into()), "SRV03".into()),
            (id.clone(), Some("WS09".into()), "SRV03".into()),
        ]
    );
    assert_eq!(r.skipped.get(SkipKey::PairedExplicit), 2);
    // The 4648 revealed SRV01's address; the kept logon is the target's (Kerberos, network).
    assert!(matches!(
        &r.events[0].0,
        E::Auth {
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::Network,
            ..
        }
    ));
}

#[test]
fn minted_names_in_a_collection_keep_its_symbol_table_bounded() {
    // 80,000 logons, each by a minted account from a minted workstation: 160,000 names.
    let n = 80_000;
    let logon = |i: usize, ip: &str, ws: &str| {
        // One every 10 ms: 800 s in all, well past the two-minute look-ahead.
        let ms = i * 10;
        let time = format!(
            "2024-05-01T10:{:02}:{:02}.{:03}Z",
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000
        );
        event_json(
            4624,
            SEC,
            "SRV01.corp.local",
            &time,
            &format!(
                r#""TargetUserName":"u{i:05}","TargetDomainName":"CORP","LogonType":3,"AuthenticationPackageName":"Kerberos","IpAddress":"{ip}","WorkstationName":"{ws}""#
            ),
        )
    };
    let mut text = vec![logon(0, "10.9.9.9", "EARLYWS")];
    text.extend((1..n - 1).map(|i| logon(i, "-", &format!("ws{i:05}"))));
    // The address named at the start, used again at the end without a workstation name.
    text.push(logon(n - 1, "10.9.9.9", ""));
    let r = read_text(&(text.join("\n") + "\n"), "minted.jsonl");
    assert!(r.dead.is_empty(), "{:?}", r.dead.first());
    assert_eq!(r.events.len(), n);
    assert!(
        r.resets >= 1,
        "the table was never compacted: {} names",
        r.names_held
    );
    // The table is compacted once a batch is sent with the table full: it exceeds its bound
    // by at most the names of one batch (two per record here).
    let bound = MAX_LOCAL_NAMES + 2 * BATCH;
    assert!(r.names_held <= bound, "{} names held", r.names_held);
    // Every record keeps its own names across compactions, and an address named before one
    // is still named after it.
    for (i, (e, _)) in r.events.iter().enumerate() {
        let E::Auth { identity, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(identity, &format!("u{i:05}@CORP"));
    }
    let E::Auth { src, .. } = &r.events[n - 1].0 else {
        unreachable!()
    };
    assert_eq!(src.as_deref(), Some("EARLYWS"));
}

#[test]
fn records_that_give_no_event_keep_the_symbol_table_bounded_too() {
    // 140,000 explicit-credential logons to the logging host itself, each by a minted account:
    // no event, but a name each.
    let n = 140_000;
    let text: Vec<String> = (0..n)
        .map(|i| {
            let ms = i * 10;
            let time = format!(
                "2024-05-01T10:{:02}:{:02}.{:03}Z",
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            );
            event_json(
                4648,
                SEC,
                "WS01.corp.local",
                &time,
                &format!(
                    r#""SubjectUserName":"m{i:06}","TargetUserName":"m{i:06}","TargetDomainName":"CORP","TargetServerName":"localhost""#
                ),
            )
        })
        .collect();
    let r = read_text(&(text.join("\n") + "\n"), "local.jsonl");
    assert!(r.events.is_empty() && r.dead.is_empty());
    assert_eq!(r.skipped.get(SkipKey::LocalExplicit), n as u64);
    assert!(r.resets >= 1, "never compacted: {} names", r.names_held);
    assert!(
        r.names_held <= MAX_LOCAL_NAMES + BATCH,
        "{} names held",
        r.names_held
    );
}

#[test]
fn sysmon_3_flows_join_names_from_the_logs_and_count_each_connection_once() {
    // Real OTRF records (schtask_create): Sysmon on WORKSTATION5 and WORKSTATION6 and the
    // 4624 on WORKSTATION6 of the same connection (172.18.39.5:56588 → 172.18.39.6:49671).
    let r = read(&fixture("sysmon3_otrf.jsonl"), Format::Auto);
    assert!(r.dead.is_empty(), "{:?}", r.dead);
    let flows: Vec<&E> = r
        .events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| matches!(e, E::Flow { .. }))
        .collect();
    // Four connections, two of them reported by both ends.
    assert_eq!(flows.len(), 4);
    assert_eq!(r.skipped.get(SkipKey::OtherEnd), 2);
    assert!(flows.contains(&&E::Flow {
        time: ms("2020-12-19T07:00:23.245Z"),
        src: "WORKSTATION5".into(),
        dst: "WORKSTATION6".into(),
        src_port: 56588,
        dst_port: 49671,
        protocol: 6,
    }));
    // 172.18.38.5 never named itself: it stays an address.
    assert!(flows.contains(&&E::Flow {
        time: ms("2020-12-19T07:00:24.263Z"),
        src: "WORKSTATION6".into(),
        dst: "172.18.38.5".into(),
        src_port: 53607,
        dst_port: 135,
        protocol: 6,
    }));
    // The 4624's IpAddress is WORKSTATION5's, which its own Sysmon log revealed.
    assert!(r.events.iter().any(|(e, _)| e
        == &E::Auth {
            time: ms("2020-12-19T07:00:22.238Z"),
            identity: "pgustavo@THESHIRE".into(),
            src: Some("WORKSTATION5".into()),
            dst: "WORKSTATION6".into(),
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::Network,
            orientation: Orientation::LogOn,
            outcome: Outcome::Success,
        }));
    assert_eq!(r.skipped.get(SkipKey::Sysmon(1)), 10);
}

#[test]
fn wfp_5156_is_a_flow_in_the_direction_of_the_connection() {
    // Field names and values as Microsoft documents event 5156.
    let wfp = |dir: &str, src: &str, sport: u16, dst: &str, dport: u16| {
        event_json(
            5156,
            SEC,
            "SRV01.corp.local",
            "2024-05-01T10:00:00Z",
            &format!(
                r#""ProcessID":4,"Application":"System","Direction":"{dir}","SourceAddress":"{src}","SourcePort":"{sport}","DestAddress":"{dst}","DestPort":"{dport}","Protocol":"6","FilterRTID":"0","LayerName":"%%14610","LayerRTID":"44""#
            ),
        )
    };
    let text = [
        wfp("%%14592", "10.0.0.10", 445, "10.0.0.5", 50123),
        wfp("%%14593", "10.0.0.10", 50999, "10.0.0.7", 3389),
        wfp("%%14593", "127.0.0.1", 50000, "127.0.0.1", 80),
        wfp("sideways", "10.0.0.10", 1, "10.0.0.7", 2),
    ]
    .join("\n");
    let r = read_text(&text, "wfp.json");
    let flows: Vec<&E> = r.events.iter().map(|(e, _)| e).collect();
    let t = ms("2024-05-01T10:00:00Z");
    assert_eq!(
        flows,
        vec![
            &E::Flow {
                time: t,
                src: "10.0.0.5".into(),
                dst: "SRV01".into(),
                src_port: 50123,
                dst_port: 445,
                protocol: 6
            },
            &E::Flow {
                time: t,
                src: "SRV01".into(),
                dst: "10.0.0.7".into(),
                src_port: 50999,
                dst_port: 3389,
                protocol: 6
            },
        ]
    );
    assert_eq!(r.skipped.get(SkipKey::LocalFlow), 1);
    assert_eq!(r.dead.len(), 1);
    assert_eq!((r.dead[0].1, r.dead[0].2), (4, Reason::UnknownValue));
}

/// The first and last record ids of each chunk of an EVTX file, from its chunk headers.
fn chunk_ranges(bytes: &[u8]) -> Vec<(u64, u64, u32)> {
    let n = (bytes.len() - 4096) / 65536;
    (0..n)
        .map(|i| {
            let c = &bytes[4096 + i * 65536..];
            let u = |o: usize| u64::from_le_bytes(c[o..o + 8].try_into().unwrap());
            let free = u32::from_le_bytes(c[48..52].try_into().unwrap());
            (u(24), u(32), free)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Damaged chunks never panic the reader, are each reported once with their file offset,
    /// and the other chunks still give exactly their events.
    #[test]
    fn damaged_chunks_are_reported_with_their_offset_and_the_rest_is_read(
        hits in prop::collection::vec((0usize..6, 0usize..65536, 1u8..=255), 1..4),
        cut in prop::option::of(4096usize..397312),
    ) {
        let original = std::fs::read(fixture("evtx_security.evtx")).unwrap();
        let ranges = chunk_ranges(&original);
        let base = read(&fixture("evtx_security.evtx"), Format::Evtx);
        let mut bytes = original.clone();
        let mut damaged = std::collections::BTreeSet::new();
        for &(chunk, at, x) in &hits {
            bytes[4096 + chunk * 65536 + at] ^= x;
            // Checked by the chunk's CRC32s: the header but its flags, the records in use.
            if at < 120 || (124..ranges[chunk].2 as usize).contains(&at) {
                damaged.insert(chunk);
            }
        }
        let mut partial = None;
        if let Some(cut) = cut {
            bytes.truncate(cut);
            let whole = (cut - 4096) / 65536;
            damaged.retain(|c| *c < whole);
            if (cut - 4096) % 65536 != 0 {
                partial = Some(whole);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.evtx");
        std::fs::write(&path, &bytes).unwrap();
        let r = read(&path, Format::Evtx);
        let reported: std::collections::BTreeSet<usize> = r
            .dead
            .iter()
            .filter(|d| d.3.contains("unreadable chunk"))
            .map(|d| ((d.1 - 4096) / 65536) as usize)
            .collect();
        let mut expected = damaged.clone();
        expected.extend(partial);
        prop_assert_eq!(&reported, &expected);
        for d in &r.dead {
            prop_assert_eq!(d.2, Reason::Malformed);
            prop_assert!(d.3.contains(&format!("{:#x}", d.1)), "offset in {}", d.3);
        }
        let whole = cut.map_or(ranges.len(), |c| (c - 4096) / 65536);
        for (i, (first, last, _)) in ranges.iter().enumerate() {
            // By record: a damaged chunk header can change the order chunks are read in.
            let of_chunk = |rd: &Read| -> Vec<(E, u64)> {
                let mut v: Vec<(E, u64)> =
                    rd.events.iter().filter(|(_, l)| (*first..=*last).contains(l)).cloned().collect();
                v.sort_by_key(|(_, l)| *l);
                v
            };
            if i < whole && !expected.contains(&i) {
                prop_assert_eq!(of_chunk(&r), of_chunk(&base), "chunk {}", i);
            } else {
                prop_assert!(of_chunk(&r).is_empty(), "chunk {} was not read", i);
            }
        }
    }
}
