//! An optional record of every observation the engine scores, for measuring a ranking (average
//! precision, false alarms at a given recall) rather than only the alerts above the threshold.

use reachwatch_model::{Sym, Ts};

/// One scored observation: an observation of an alerting identity after learning (or a failure
/// burst that made a spray) that the engine scored, whether or not it matched a detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoredObservation {
    /// Event time (ms).
    pub time: Ts,
    /// Identity.
    pub identity: Sym,
    /// Source host.
    pub src: Option<Sym>,
    /// Destination host.
    pub dst: Sym,
    /// The score the rules gave it (0–100): with the matched detection's own weight when one
    /// matched, before exceptions.
    pub score: u32,
}

#[cfg(test)]
mod tests {
    use crate::Engine;
    use reachwatch_model::time::{DAY, HOUR};
    use reachwatch_model::{
        Alert, AuthEvent, AuthProtocol, Event, LogonType, Orientation, Outcome, Ts,
    };
    use std::sync::Arc;

    /// A day of hourly logons svc_app → DB-01 from APP-01, then on day 2 the same, one logon to a
    /// new destination, and a failure (not a spray: never scored).
    fn run(record: bool) -> (Engine, Vec<Alert>) {
        let mut rules = reachwatch_rules::builtin();
        rules.settings.learn = DAY;
        let mut engine = Engine::with_rules(Arc::new(rules));
        if record {
            engine.record_scores();
        }
        let logon = |engine: &mut Engine, time: Ts, dst: &str, outcome| {
            let syms = engine.symbols_mut();
            Event::Auth(AuthEvent {
                time,
                identity: syms.intern(b"svc_app@CORP"),
                src: Some(syms.intern(b"APP-01")),
                dst: syms.intern(dst.as_bytes()),
                service: None,
                protocol: AuthProtocol::Kerberos,
                logon: LogonType::Network,
                orientation: Orientation::LogOn,
                outcome,
                credential: None,
            })
        };
        let mut events = vec![];
        for h in 0..48 {
            events.push(logon(&mut engine, h * HOUR, "DB-01", Outcome::Success));
        }
        events.push(logon(
            &mut engine,
            30 * HOUR + 5,
            "VAULT-01",
            Outcome::Success,
        ));
        events.push(logon(&mut engine, 31 * HOUR + 5, "DB-02", Outcome::Failure));
        events.sort_by_key(Event::time);
        let mut alerts = vec![];
        for e in events {
            engine.push(e, &mut alerts).unwrap();
        }
        engine.finish(&mut alerts);
        (engine, alerts)
    }

    #[test]
    fn every_scored_observation_is_recorded_only_when_asked_and_changes_nothing() {
        let (off, alerts_off) = run(false);
        assert!(off.scores().is_empty());
        let (on, alerts_on) = run(true);
        assert_eq!(alerts_on, alerts_off);
        let scores = on.scores();
        // The 24 routine logons after learning score 0; the new destination scores.
        assert_eq!(scores.len(), 25, "{scores:?}");
        let learn_end = on.learn_end().unwrap();
        assert!(scores.iter().all(|s| s.time >= learn_end));
        let vault = on.symbols().get(b"VAULT-01").unwrap();
        let novel: Vec<_> = scores.iter().filter(|s| s.score > 0).collect();
        assert_eq!(novel.len(), 1);
        assert_eq!((novel[0].dst, novel[0].time), (vault, 30 * HOUR + 5));
        assert_eq!(novel[0].src, on.symbols().get(b"APP-01"));
    }
}
