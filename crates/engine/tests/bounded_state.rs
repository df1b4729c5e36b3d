//! Property tests of bounded state: any event sequence, however many names it mints, never
//! panics the engine and never takes a table past its cap; compacting the symbol table at any
//! point changes no alert.

use proptest::prelude::*;
use reachwatch_engine::{Engine, RuleSet};
use reachwatch_model::time::HOUR;
use reachwatch_model::{
    Alert, AuthEvent, AuthProtocol, Event, FlowEvent, LogonType, Orientation, Outcome,
};
use reachwatch_rules::Limits;
use std::sync::Arc;

/// Small caps, so that a few hundred events overflow them; a short learning period so that
/// scoring and incidents take part.
fn rules() -> Arc<RuleSet> {
    let mut r = reachwatch_rules::builtin();
    r.settings.learn = HOUR;
    r.settings.identity_grace = 0;
    r.settings.limits = Limits {
        identities: 24,
        hosts: 32,
        edges: 160,
        failures: 4,
        ttl: 6 * HOUR,
    };
    Arc::new(r)
}

/// One generated record: what it is, who, from and to where (indices into small name spaces,
/// so that names recur as well as keep coming), and how far its time moves (may go back).
#[derive(Clone, Debug)]
struct Record {
    kind: u8,
    identity: u16,
    src: u16,
    dst: u16,
    port: u16,
    step: i64,
}

fn record() -> impl Strategy<Value = Record> {
    (
        0u8..6,
        0u16..400,
        0u16..300,
        0u16..300,
        0u16..4,
        -120i64..900,
    )
        .prop_map(|(kind, identity, src, dst, port, step)| Record {
            kind,
            identity,
            src,
            dst,
            port: [22, 445, 3389, 8080][port as usize],
            step,
        })
}

/// The records as events of `engine`'s symbol table, times in seconds moved by each `step`.
fn event(engine: &mut Engine, r: &Record, t: i64) -> Event {
    let syms = engine.symbols_mut();
    // A few identities recur often (a baseline), most are minted once; some are computer
    // accounts of hosts that appear.
    let id = if r.identity.is_multiple_of(5) {
        format!("C{}$", r.identity % 40)
    } else {
        format!("svc{}", r.identity)
    };
    let identity = syms.intern(id.as_bytes());
    let src = syms.intern(format!("C{}", r.src).as_bytes());
    let dst = syms.intern(format!("C{}", r.dst).as_bytes());
    let auth = |outcome, orientation| {
        Event::Auth(AuthEvent {
            time: t,
            identity,
            src: Some(src),
            dst,
            service: None,
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::Network,
            orientation,
            outcome,
            credential: None,
        })
    };
    match r.kind {
        0 | 1 => auth(Outcome::Success, Orientation::LogOn),
        2 => auth(Outcome::Failure, Orientation::LogOn),
        3 => auth(Outcome::Success, Orientation::LogOff),
        _ => Event::Flow(FlowEvent {
            time: t,
            duration: 0,
            src,
            dst,
            src_port: 50_000,
            dst_port: r.port,
            protocol: 6,
            packets: 3,
            bytes: 1_000,
        }),
    }
}

/// Replays `records`; compacts the symbol table after record `compact_at` (if any); checks the
/// caps after every record. Returns the alerts as JSON, sorted.
fn run(records: &[Record], compact_at: Option<usize>) -> Vec<String> {
    let mut engine = Engine::with_rules(rules());
    let limits = rules().settings.limits;
    let mut out: Vec<Alert> = vec![];
    let mut t = 0i64;
    for (i, r) in records.iter().enumerate() {
        t = (t + r.step * 1000).max(0);
        let ev = event(&mut engine, r, t);
        let _ = engine.push(ev, &mut out);
        let fill = engine.state_fill();
        assert!(fill.held.identities <= limits.identities as u64, "{fill:?}");
        assert!(fill.held.hosts <= limits.hosts as u64, "{fill:?}");
        assert!(fill.held.edges <= limits.edges as u64, "{fill:?}");
        let per_pair = rules().settings.join_cap as u64;
        assert!(fill.held.join <= (per_pair + 1) * fill.cap.join, "{fill:?}");
        if compact_at == Some(i) {
            engine.compact_symbols([]);
        }
    }
    engine.finish(&mut out);
    let mut alerts: Vec<String> = out
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    alerts.sort();
    alerts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn state_stays_within_its_caps(records in prop::collection::vec(record(), 1..600)) {
        run(&records, None);
    }

    #[test]
    fn compacting_symbols_changes_no_alert(
        records in prop::collection::vec(record(), 50..500),
        at in 0usize..500,
    ) {
        let at = at % records.len();
        prop_assert_eq!(run(&records, Some(at)), run(&records, None));
    }
}

/// A successful network logon at `time` (ms), in `engine`'s symbols.
fn logon(engine: &mut Engine, id: &str, src: &str, dst: &str, time: i64) -> Event {
    let syms = engine.symbols_mut();
    Event::Auth(AuthEvent {
        time,
        identity: syms.intern(id.as_bytes()),
        src: Some(syms.intern(src.as_bytes())),
        dst: syms.intern(dst.as_bytes()),
        service: None,
        protocol: AuthProtocol::Kerberos,
        logon: LogonType::Network,
        orientation: Orientation::LogOn,
        outcome: Outcome::Success,
        credential: None,
    })
}

/// A flood of identities and hosts minted once each, into an estate whose own identities are
/// established: the caps hold, the flood evicts only itself until the tables are crowded and is
/// then passed over (counted), the estate's baselines are all still there, newcomers are still
/// learned, and crowding ends once the flood is forgotten.
#[test]
fn a_flood_of_minted_names_is_passed_over_once_the_tables_are_crowded() {
    // Unseen identities and hosts are kept for the shipped 90 days: crowding must end sooner.
    let mut r = Arc::unwrap_or_clone(rules());
    r.settings.limits.ttl = 90 * 24 * HOUR;
    let mut engine = Engine::with_rules(Arc::new(r));
    let mut out = vec![];
    let mut t = 0;
    let mut push = |engine: &mut Engine, id: &str, src: &str, dst: &str, step: i64| {
        t += step;
        let ev = logon(engine, id, src, dst, t);
        engine.push(ev, &mut out).unwrap();
    };
    // The estate: 8 identities, each from its own host to two servers, 10 times.
    for round in 0..10 {
        for i in 0..8 {
            push(
                &mut engine,
                &format!("svc{i}"),
                &format!("app{i}"),
                "db",
                1000,
            );
            let web = format!("web{}", round % 2);
            push(
                &mut engine,
                &format!("svc{i}"),
                &format!("app{i}"),
                &web,
                1000,
            );
        }
    }
    let estate = engine.graph().edge_count();
    assert!(!engine.state_fill().crowded);
    for n in 0..5_000 {
        let (x, s, d) = (format!("x{n}"), format!("s{n}"), format!("d{n}"));
        push(&mut engine, &x, &s, &d, 1000);
    }
    assert!(engine.state_fill().crowded);
    let stats = engine.stats().clone();
    // The flood filled the hosts (32) within a few dozen records (60 s of lateness), evicting
    // only itself; everything after was passed over.
    assert!(stats.passed_over >= 4_900, "{stats:?}");
    assert!(stats.evicted_full.identities < 100, "{stats:?}");
    assert_eq!(stats.refused_full.identities + stats.refused_full.hosts, 0);
    let g = engine.graph();
    for i in 0..8 {
        let id = engine.symbols().get(format!("svc{i}").as_bytes()).unwrap();
        assert_eq!(
            g.identities[&id].destinations, 3,
            "svc{i} keeps its baseline"
        );
    }
    assert!(g.edge_count() >= estate, "the estate's edges are all held");
    assert!(g.identities.len() <= 24 && g.hosts.len() <= 32);

    // While crowded: a newcomer that reaches a host the engine holds is learned at once; one
    // that names nothing held is learned from its second sighting on.
    push(&mut engine, "newsvc", "s4999", "db", 1000);
    push(&mut engine, "y", "ys", "yd", 1000);
    push(&mut engine, "y", "ys", "yd", 1000);
    // A record refused as clock skew changes nothing, the doorkeeper included.
    let skewed = logon(&mut engine, "z", "zs", "zd", 1_000_000_000_000);
    assert!(engine.push(skewed, &mut vec![]).is_err());
    push(&mut engine, "z", "zs", "zd", 1000);
    push(&mut engine, "z", "zs", "zd", 1000);
    // Time moves on past the lateness, so that these are processed.
    for _ in 0..70 {
        push(&mut engine, "svc0", "app0", "db", 1000);
    }
    let g = engine.graph();
    let profile = |name: &str| {
        let s = engine.symbols().get(name.as_bytes()).unwrap();
        g.identities.get(&s).map(|p| p.observations)
    };
    assert_eq!(profile("newsvc"), Some(1));
    assert_eq!(profile("y"), Some(1), "learned from its second sighting");
    assert_eq!(
        profile("z"),
        Some(1),
        "the skewed record was not a sighting"
    );
    let db = engine.symbols().get(b"db").unwrap();
    assert_eq!(g.hosts[&db].identities, 9);

    // The symbol table then holds what state needs, not the flood.
    let before = engine.symbols().len();
    engine.compact_symbols([]);
    assert!(before > 15_000, "{before}");
    assert!(engine.symbols().len() <= 200, "{}", engine.symbols().len());

    // A day with nothing passed over ends crowding (state_ttl still keeps the flood's entries,
    // which go first should a cap be reached again).
    // (Each record is processed once the next one moves the watermark past it.)
    let held = engine.graph().identities.len();
    push(&mut engine, "svc0", "app0", "db", 24 * 3_600_000);
    push(&mut engine, "svc0", "app0", "db", 24 * 3_600_000);
    assert!(
        engine.state_fill().crowded,
        "passed over before the first sweep"
    );
    push(&mut engine, "svc0", "app0", "db", 24 * 3_600_000);
    assert!(!engine.state_fill().crowded, "nothing passed over since");
    assert_eq!(engine.graph().identities.len(), held);
}

/// Eviction ranks thin hosts by their uses: each event that names a host counts once, however
/// many roles the host plays in it.
#[test]
fn a_host_counts_one_use_per_event_that_names_it() {
    let mut engine = Engine::with_rules(rules());
    let mut out = vec![];
    let interactive = {
        let syms = engine.symbols_mut();
        Event::Auth(AuthEvent {
            time: 1_000,
            identity: syms.intern(b"alice"),
            src: Some(syms.intern(b"ws1")),
            dst: syms.intern(b"srv"),
            service: None,
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::RemoteInteractive,
            orientation: Orientation::LogOn,
            outcome: Outcome::Success,
            credential: None,
        })
    };
    engine.push(interactive, &mut out).unwrap();
    let local = logon(&mut engine, "svc", "srv", "srv", 2_000);
    engine.push(local, &mut out).unwrap();
    let flow = {
        let syms = engine.symbols_mut();
        Event::Flow(FlowEvent {
            time: 3_000,
            duration: 0,
            src: syms.intern(b"ws1"),
            dst: syms.intern(b"srv"),
            src_port: 50000,
            dst_port: 445,
            protocol: 6,
            packets: 1,
            bytes: 1,
        })
    };
    engine.push(flow, &mut out).unwrap();
    engine.finish(&mut out);
    let uses = |name: &str| {
        let s = engine.symbols().get(name.as_bytes()).unwrap();
        engine.graph().hosts[&s].uses
    };
    assert_eq!(uses("srv"), 3);
    assert_eq!(uses("ws1"), 2);
}

/// A scan of many destinations by one identity: its fan-out remembers a bounded number of
/// them (so each event's work stays the same), and the scan is one fan-out incident.
#[test]
fn a_scan_of_thousands_of_destinations_keeps_the_fan_out_bounded() {
    let mut r = reachwatch_rules::builtin();
    r.settings.learn = HOUR;
    r.settings.identity_grace = 0;
    let mut engine = Engine::with_rules(Arc::new(r));
    let mut out = vec![];
    // Learning: the identity's usual reach.
    for i in 0..60 {
        let ev = logon(&mut engine, "svc_scan", "app1", "db1", i * 60_000);
        engine.push(ev, &mut out).unwrap();
    }
    // After learning: 3,000 new destinations within five minutes.
    let start = 2 * HOUR;
    for i in 0..3_000 {
        let ev = logon(
            &mut engine,
            "svc_scan",
            "app1",
            &format!("t{i:04}"),
            start + i * 100,
        );
        engine.push(ev, &mut out).unwrap();
    }
    engine.finish(&mut out);
    let id = engine.symbols().get(b"svc_scan").unwrap();
    let kept = engine.graph().identities[&id].recent_novel().count();
    assert!(
        (200..=256).contains(&kept),
        "{kept} novel destinations kept"
    );
    assert_eq!(out.len(), 1, "one incident for the scan");
    assert_eq!(out[0].rule, "fan-out");
}

/// While crowded, a stream of records passed over still moves time: an incident falls due and
/// is emitted without waiting for a record that is learned.
#[test]
fn incidents_fall_due_while_only_passed_over_records_arrive() {
    let mut r = reachwatch_rules::builtin();
    r.settings.learn = HOUR;
    r.settings.identity_grace = 0;
    r.settings.limits.identities = 24;
    r.settings.limits.hosts = 32;
    let mut engine = Engine::with_rules(Arc::new(r));
    let mut out = vec![];
    let push = |engine: &mut Engine, out: &mut Vec<Alert>, id: &str, dst: &str, t: i64| {
        let src = if id.starts_with('x') {
            format!("s{id}")
        } else {
            "app1".into()
        };
        let ev = logon(engine, id, &src, dst, t);
        engine.push(ev, out).unwrap();
    };
    // Learning (an hour): one identity's usual reach.
    for i in 0..61 {
        push(&mut engine, &mut out, "svc_scan", "db1", i * 60_000);
    }
    // A fan-out to new destinations: an incident opens.
    let start = 2 * HOUR;
    for i in 0..8 {
        push(
            &mut engine,
            &mut out,
            "svc_scan",
            &format!("t{i}"),
            start + i * 100,
        );
    }
    // Then only minted names, one a second for three hours: crowded within a few records, all
    // passed over after that.
    for n in 0..10_800 {
        let t = start + 1_000 + n * 1_000;
        push(&mut engine, &mut out, &format!("x{n}"), &format!("d{n}"), t);
    }
    assert!(engine.state_fill().crowded);
    assert!(engine.stats().passed_over > 10_000);
    assert!(
        out.iter()
            .any(|a| a.identity == "svc_scan" && a.rule == "fan-out"),
        "the fan-out's incident waits for a learned record"
    );
}
