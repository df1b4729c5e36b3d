//! The runner on hand-made batches: merge order, refusals as dead letters, names handed over
//! under the host map, alerts de-duplicated by id.

use reachwatch_engine::Engine;
use reachwatch_formats::lines::Batch;
use reachwatch_formats::symbols::take_new_names;
use reachwatch_formats::{decoder, DeadLetter, Format, HostMap, Reason, Stream};
use reachwatch_model::Interner;
use reachwatch_runner::sink::Collect;
use reachwatch_runner::{Options, Runner, Source};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A decoding table, as a source thread has one.
struct Table {
    syms: Interner,
    sent: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            syms: Interner::exact_only(),
            sent: 0,
        }
    }

    /// LANL lines of `stream` as one batch, positions from `first`.
    fn batch(&mut self, stream: Stream, first: u64, lines: &[&str]) -> Batch {
        let mut dec = decoder(Format::Lanl, stream);
        let mut b = Batch::default();
        for (i, line) in lines.iter().enumerate() {
            let pos = first + i as u64;
            match dec.decode(line.as_bytes(), &mut self.syms) {
                Ok(Some(ev)) => b.events.push((ev, pos)),
                Ok(None) => {}
                Err(e) => b.dead.push(DeadLetter::new("src", pos, e, line.as_bytes())),
            }
            b.lines = pos;
        }
        b.new_names = take_new_names(&self.syms, &mut self.sent);
        b
    }
}

fn sources() -> Vec<Source> {
    vec![
        Source::new("auth", "auth", Stream::Auth),
        Source::new("flows", "flows", Stream::Flows),
    ]
}

fn runner(options: Options) -> Runner {
    let mut rules = reachwatch_rules::builtin();
    rules.settings.lateness = 10_000;
    rules.settings.late_window = 20_000;
    rules.settings.max_skew = 3_600_000;
    Runner::new(Engine::with_rules(Arc::new(rules)), options)
}

#[test]
fn inputs_are_merged_in_event_time_and_refusals_become_dead_letters() {
    let mut r = runner(Options::new(sources()));
    let now = Instant::now();
    r.assign((0, 0), now);
    r.assign((1, 0), now);
    let (mut auth, mut flows) = (Table::new(), Table::new());
    let mut sink = Collect::default();
    r.offer(
        (0, 0),
        0,
        auth.batch(
            Stream::Auth,
            1,
            &[
                "10,svc_a$@D,svc_a$@D,C1,C2,Kerberos,Network,LogOn,Success",
                "not a record",
                "100,svc_a$@D,svc_a$@D,C1,C3,Kerberos,Network,LogOn,Success",
                // Far ahead of everything and of its own input: held until the input ends, then
                // refused by the engine as clock skew.
                "99000,svc_a$@D,svc_a$@D,C1,C4,Kerberos,Network,LogOn,Success",
            ],
        ),
        now,
        &mut sink,
    )
    .unwrap();
    // The flows input has nothing yet: it holds the merge back.
    assert_eq!(r.run(now, &mut sink).unwrap(), 0);
    r.offer(
        (1, 0),
        1,
        flows.batch(
            Stream::Flows,
            1,
            &[
                "50,0,C1,4000,C2,445,6,10,900",
                "80,0,C1,4000,C3,445,6,10,900",
            ],
        ),
        now,
        &mut sink,
    )
    .unwrap();
    r.at_end((1, 0), now);
    r.run(now, &mut sink).unwrap();
    // Flows that arrive after the watermark (90 s) passed them: one within the late window
    // (20 s) is processed out of order, one beyond it is refused as late.
    r.offer(
        (1, 0),
        1,
        flows.batch(
            Stream::Flows,
            3,
            &[
                "60,0,C1,4000,C2,445,6,10,900",
                "85,0,C1,4000,C2,445,6,10,900",
            ],
        ),
        now,
        &mut sink,
    )
    .unwrap();
    r.at_end((0, 0), now);
    r.at_end((1, 0), now);
    r.finish(&mut sink).unwrap();

    let reasons: Vec<(Reason, &str, u64)> = sink
        .dead_letters
        .iter()
        .map(|d: &DeadLetter| (d.reason, d.source.as_str(), d.line))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (Reason::Malformed, "src", 2),
            (Reason::Late, "flows", 3),
            (Reason::ClockSkew, "auth", 4),
        ]
    );
    let s = r.summary_now();
    assert_eq!((s.events, s.auth_events, s.flow_events), (5, 2, 3));
    assert_eq!(s.late_events, 1);
    assert_eq!(s.dead_letters.values().sum::<u64>(), 3);
    assert_eq!((s.first_time, s.last_time), (Some(10_000), Some(100_000)));
    assert_eq!(s.lines["auth"], 4);
}

#[test]
fn names_resolve_under_the_host_map_and_again_under_new_rules() {
    let mut options = Options::new(sources());
    options.hosts = HostMap::layered([("10.0.0.5", "db01")], None);
    let mut r = runner(options);
    let now = Instant::now();
    r.assign((1, 0), now);
    let mut flows = Table::new();
    let mut sink = Collect::default();
    r.offer(
        (1, 0),
        0,
        flows.batch(Stream::Flows, 1, &["5,0,C17,4000,10.0.0.5,445,6,10,900"]),
        now,
        &mut sink,
    )
    .unwrap();
    r.run(now, &mut sink).unwrap();
    let rules = r.engine().rules().clone();
    r.set_rules(rules, HostMap::layered([("10.0.0.6", "web02")], None));
    r.offer(
        (1, 0),
        0,
        flows.batch(
            Stream::Flows,
            2,
            &[
                "6,0,C17,4000,10.0.0.5,445,6,10,900",
                "7,0,C17,4000,10.0.0.6,445,6,10,900",
            ],
        ),
        now,
        &mut sink,
    )
    .unwrap();
    r.at_end((1, 0), now);
    r.finish(&mut sink).unwrap();
    assert_eq!(
        host_edges(&r),
        vec![("C17", "10.0.0.5"), ("C17", "db01"), ("C17", "web02")]
    );
}

/// The (source, destination) host pairs the engine holds, by name.
fn host_edges(r: &Runner) -> Vec<(&str, &str)> {
    let syms = r.engine().symbols();
    let mut edges: Vec<(&str, &str)> = r
        .engine()
        .graph()
        .host_edges
        .keys()
        .map(|&(a, b)| (syms.resolve(a), syms.resolve(b)))
        .collect();
    edges.sort();
    edges
}

#[test]
fn alerts_already_delivered_are_not_delivered_again() {
    // One replay of the committed small scenario through the runner, then a second one that
    // is told half of the first one's alert ids were delivered already.
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scenario-small");
    let run = |delivered: std::collections::HashSet<String>| {
        let mut options = Options::new(sources());
        options.delivered = delivered;
        let mut rules = reachwatch_rules::builtin();
        rules.settings.learn = 5 * reachwatch_model::time::DAY;
        let mut r = Runner::new(Engine::with_rules(Arc::new(rules)), options);
        let now = Instant::now();
        let mut sink = Collect::default();
        for (i, (file, stream)) in [("auth.txt", Stream::Auth), ("flows.txt", Stream::Flows)]
            .into_iter()
            .enumerate()
        {
            r.assign((i, 0), now);
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let batch = Table::new().batch(stream, 1, &lines);
            r.offer((i, 0), i, batch, now, &mut sink).unwrap();
            r.at_end((i, 0), now);
        }
        r.finish(&mut sink).unwrap();
        let suppressed = r.summary().alerts_suppressed;
        (sink.alerts, suppressed)
    };
    let (all, none_suppressed) = run(Default::default());
    assert!(all.len() >= 8, "{} alerts", all.len());
    assert_eq!(none_suppressed, 0);
    let half: std::collections::HashSet<String> =
        all.iter().step_by(2).map(|a| a.id.clone()).collect();
    let (rest, suppressed) = run(half.clone());
    assert_eq!(suppressed as usize, half.len());
    let ids: Vec<&str> = rest.iter().map(|a| a.id.as_str()).collect();
    let expected: Vec<&str> = all
        .iter()
        .map(|a| a.id.as_str())
        .filter(|id| !half.contains(*id))
        .collect();
    assert_eq!(ids, expected);
}

#[test]
fn an_input_at_its_end_holds_the_merge_back_only_for_the_idle_timeout() {
    let mut options = Options::new(sources());
    options.idle_timeout = Duration::from_secs(5);
    options.queue_capacity = 100;
    let mut r = runner(options);
    let t0 = Instant::now();
    r.assign((0, 0), t0);
    r.assign((1, 0), t0);
    let mut sink = Collect::default();
    let batch = Table::new().batch(
        Stream::Auth,
        1,
        &["10,svc_a$@D,svc_a$@D,C1,C2,Kerberos,Network,LogOn,Success"],
    );
    r.offer((0, 0), 0, batch, t0, &mut sink).unwrap();
    assert_eq!(r.run(t0, &mut sink).unwrap(), 0, "flows may still come");
    r.at_end((1, 0), t0);
    assert_eq!(r.run(t0 + Duration::from_secs(4), &mut sink).unwrap(), 0);
    assert_eq!(r.next_idle_deadline(t0), Some(t0 + Duration::from_secs(5)));
    assert_eq!(r.run(t0 + Duration::from_secs(5), &mut sink).unwrap(), 1);
    assert_eq!(r.taken((0, 0)), 1);
    assert_eq!(r.room((0, 0)), 100);
}

/// LANL authentication lines: at second `t`, `identity` from `src` to `dst`.
fn logon(t: u64, identity: &str, src: &str, dst: &str) -> String {
    format!("{t},{identity},{identity},{src},{dst},Kerberos,Network,LogOn,Success")
}

/// Offers `lines` of the auth input as one batch and runs the runner.
fn feed(r: &mut Runner, table: &mut Table, first: u64, lines: &[String], sink: &mut Collect) {
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let now = Instant::now();
    r.offer(
        (0, 0),
        0,
        table.batch(Stream::Auth, first, &lines),
        now,
        sink,
    )
    .unwrap();
    r.run(now, sink).unwrap();
}

/// The names of the identities the engine holds a profile for.
fn identities(r: &Runner) -> Vec<String> {
    let syms = r.engine().symbols();
    let mut names: Vec<String> = r
        .engine()
        .graph()
        .identities
        .keys()
        .map(|&s| syms.resolve(s).to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_flood_passed_over_leaves_no_name_in_the_engine_table() {
    let mut rules = reachwatch_rules::builtin();
    rules.settings.limits.identities = 16;
    rules.settings.limits.hosts = 16;
    // Records are processed one second behind the latest: crowding is noticed at once.
    rules.settings.lateness = 1_000;
    let mut r = Runner::new(
        Engine::with_rules(Arc::new(rules)),
        Options::new(vec![Source::new("auth", "auth", Stream::Auth)]),
    );
    r.assign((0, 0), Instant::now());
    let (mut table, mut sink) = (Table::new(), Collect::default());
    let mut t = 0;
    let mut next = || {
        t += 1;
        t
    };
    // The estate: four identities, each from its own host to the database, five times.
    let estate: Vec<String> = (0..20)
        .map(|i| {
            logon(
                next(),
                &format!("svc{}", i % 4),
                &format!("app{}", i % 4),
                "db",
            )
        })
        .collect();
    feed(&mut r, &mut table, 1, &estate, &mut sink);
    // A flood: every record a minted identity between two minted hosts.
    for batch in 0..20u64 {
        let flood: Vec<String> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                logon(
                    next(),
                    &format!("x{n:04}"),
                    &format!("s{n:04}"),
                    &format!("d{n:04}"),
                )
            })
            .collect();
        feed(&mut r, &mut table, 21 + batch * 100, &flood, &mut sink);
    }
    assert!(r.engine().state_fill().crowded);
    let names = r.engine().symbols().len();
    // Newcomers while crowded: one that reaches a host the engine holds is learned at once;
    // one that names nothing held is learned from its second sighting.
    let newcomers = [
        logon(next(), "newsvc", "s1999", "db"),
        logon(next(), "y", "ys", "yd"),
        logon(next(), "y", "ys", "yd"),
    ];
    feed(&mut r, &mut table, 2021, &newcomers, &mut sink);
    r.at_end((0, 0), Instant::now());
    r.finish(&mut sink).unwrap();

    let s = r.summary_now().clone();
    assert_eq!(s.events, 2023, "every record is taken");
    assert!(s.passed_over >= 1_980, "{}", s.passed_over);
    assert_eq!(s.refused_full.identities + s.refused_full.hosts, 0);
    // Names are interned only for the flood's records before the tables filled: at most the
    // estate's 9, 3 per flood record until the 16 hosts were full, and the newcomers' 5.
    assert!(names <= 9 + 3 * 16, "{names} names in the engine's table");
    assert!(r.engine().symbols().get(b"x1999").is_none());
    let held = identities(&r);
    for who in ["newsvc", "svc0", "svc3", "y"] {
        assert!(held.iter().any(|h| h == who), "{who} not in {held:?}");
    }
    let y = r.engine().symbols().get(b"y").unwrap();
    assert_eq!(r.engine().graph().identities[&y].observations, 1);
}

#[test]
fn records_queued_when_a_decoding_table_starts_afresh_keep_their_names() {
    let mut r = runner(Options::new(sources()));
    let now = Instant::now();
    r.assign((0, 0), now);
    r.assign((1, 0), now);
    let mut sink = Collect::default();
    let mut first = Table::new();
    let a = [logon(10, "alpha", "h1", "h2")];
    // The flows input has nothing yet: the record stays queued, its names pending.
    feed(&mut r, &mut first, 1, &a, &mut sink);
    assert_eq!(r.summary_now().events, 0);
    // The decoding table starts afresh: its first symbols now mean other names.
    let mut second = Table::new();
    let lines = [logon(20, "beta", "h3", "h4")];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut batch = second.batch(Stream::Auth, 2, &lines);
    batch.names_reset = true;
    r.offer((0, 0), 0, batch, now, &mut sink).unwrap();
    r.at_end((0, 0), now);
    r.at_end((1, 0), now);
    r.finish(&mut sink).unwrap();
    assert_eq!(r.summary_now().events, 2);
    assert_eq!(identities(&r), vec!["alpha", "beta"]);
    assert_eq!(host_edges(&r), vec![("h1", "h2"), ("h3", "h4")]);
}
