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

/// A flood of identities and hosts minted once each, into an estate whose own identities are
/// established: the caps hold, the flood is evicted (and counted), the estate's baselines are
/// all still there.
#[test]
fn a_flood_of_minted_names_evicts_itself_not_the_estate() {
    let mut engine = Engine::with_rules(rules());
    let mut out = vec![];
    let mut t = 0;
    let mut push = |engine: &mut Engine, id: &str, src: &str, dst: &str| {
        t += 1000;
        let syms = engine.symbols_mut();
        let ev = Event::Auth(AuthEvent {
            time: t,
            identity: syms.intern(id.as_bytes()),
            src: Some(syms.intern(src.as_bytes())),
            dst: syms.intern(dst.as_bytes()),
            service: None,
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::Network,
            orientation: Orientation::LogOn,
            outcome: Outcome::Success,
            credential: None,
        });
        engine.push(ev, &mut out).unwrap();
    };
    // The estate: 8 identities, each from its own host to two servers, 10 times.
    for round in 0..10 {
        for i in 0..8 {
            push(&mut engine, &format!("svc{i}"), &format!("app{i}"), "db");
            push(
                &mut engine,
                &format!("svc{i}"),
                &format!("app{i}"),
                &format!("web{}", round % 2),
            );
        }
    }
    let estate = engine.graph().edge_count();
    for n in 0..5_000 {
        push(
            &mut engine,
            &format!("x{n}"),
            &format!("s{n}"),
            &format!("d{n}"),
        );
    }
    let stats = engine.stats();
    assert!(stats.evicted_full.identities > 4_000, "{stats:?}");
    assert!(stats.evicted_full.hosts > 8_000, "{stats:?}");
    assert_eq!(
        stats.refused_full.identities, 0,
        "thin entries always make room"
    );
    let g = engine.graph();
    for i in 0..8 {
        let id = engine.symbols().get(format!("svc{i}").as_bytes()).unwrap();
        assert_eq!(
            g.identities[&id].destinations, 3,
            "svc{i} keeps its baseline"
        );
    }
    assert!(g.edge_count() >= estate, "the estate's edges are all held");
    // The symbol table then holds what state needs, not the flood: the estate's 19 names, at
    // most 56 profiles, the reorder buffer's last 60 s (61 events of 3 names) and the join's
    // 20 pairs (3 names each): at most 318.
    let before = engine.symbols().len();
    engine.compact_symbols([]);
    assert!(before > 15_000, "{before}");
    assert!(engine.symbols().len() <= 318, "{}", engine.symbols().len());
    let db = engine.symbols().get(b"db").unwrap();
    assert_eq!(engine.graph().hosts[&db].identities, 8);
}
