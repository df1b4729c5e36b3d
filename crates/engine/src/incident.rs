//! Incidents: matches of one identity grouped into one alert. An incident opens at its first
//! match, collects every match and novel observation until `incident_hold` has passed, is then
//! emitted once, and absorbs (counts) later matches that come within `incident_window`.

use crate::observation::Observation;
use crate::score::Scored;
use reachwatch_model::{Alert, Baseline, Evidence, Interner, Peers, Seconds, Step, Sym, Ts};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// The strongest match of an incident, with the context captured when it happened.
#[derive(Serialize, Deserialize)]
pub struct Best {
    /// The observation.
    pub obs: Observation,
    /// Its features and score.
    pub scored: Scored,
    /// The identity's baseline just before it.
    pub baseline: Baseline,
    /// Peer context for its destination.
    pub peers: Peers,
    /// Credential-switching path, if any.
    pub path: Vec<Observation>,
}

/// An open incident.
#[derive(Serialize, Deserialize)]
pub struct Incident {
    /// First match time.
    pub opened: Ts,
    /// When it is emitted.
    pub emit_at: Ts,
    /// Last match time.
    pub last_match: Ts,
    /// Already emitted.
    pub emitted: bool,
    /// Strongest match so far.
    pub best: Best,
    /// Observations grouped (capped).
    pub steps: Vec<Observation>,
    /// Observations grouped, including those beyond the cap.
    pub count: u32,
    /// Distinct destinations, in order of appearance (the first `max_evidence`).
    pub destinations: Vec<Sym>,
    /// Destinations beyond those listed were reached.
    pub more_destinations: bool,
    /// Last observation time.
    pub last_time: Ts,
    /// Matches absorbed after emission.
    pub absorbed: u32,
    /// How far behind the watermark the latest late record among its matches was (ms), if any
    /// match came from a late record.
    pub late_by: Option<Ts>,
}

/// Incidents of one kind (behavioural, or policy violations): the open ones per identity, and
/// when each is due to be emitted.
#[derive(Default, Serialize, Deserialize)]
pub struct Book {
    /// Incidents per identity (emitted ones stay while they absorb).
    pub open: crate::graph::FxMap<Sym, Incident>,
    /// (emit time, identity) of incidents not yet emitted.
    pub due: std::collections::BTreeSet<(Ts, Sym)>,
}

impl Book {
    /// Forgets emitted incidents whose last match is older than `window` before `now`.
    pub fn sweep(&mut self, now: Ts, window: Ts) {
        self.open
            .retain(|_, i| !i.emitted || i.last_match + window >= now);
    }

    /// The identity has an incident not yet emitted.
    pub fn pending(&self, identity: &Sym) -> bool {
        self.open.get(identity).is_some_and(|i| !i.emitted)
    }
}

/// Longest an incident keeps absorbing matches after it opened.
pub const MAX_INCIDENT: Ts = 6 * reachwatch_model::time::HOUR;

impl Incident {
    /// A new incident from its first match.
    pub fn open(best: Best, step: Observation, hold: Ts) -> Incident {
        let t = best.obs.time;
        Incident {
            opened: t,
            emit_at: t + hold,
            last_match: t,
            emitted: false,
            destinations: vec![best.obs.dst],
            more_destinations: false,
            best,
            steps: vec![step],
            count: 1,
            last_time: t,
            absorbed: 0,
            late_by: None,
        }
    }

    /// Adds an observation (a match when `best` is given) to an incident not yet emitted.
    pub fn add(&mut self, step: Observation, dst: Sym, time: Ts, best: Option<Best>, cap: usize) {
        self.count += 1;
        if self.steps.len() < cap {
            self.steps.push(step);
        }
        if !self.destinations.contains(&dst) {
            if self.destinations.len() < cap {
                self.destinations.push(dst);
            } else {
                self.more_destinations = true;
            }
        }
        self.last_time = self.last_time.max(time);
        if let Some(b) = best {
            self.last_match = time;
            // Higher score wins; at equal score, the higher-priority detection.
            let rank = |b: &Best| {
                (
                    b.scored.score,
                    std::cmp::Reverse(b.scored.matched.as_ref().map_or(usize::MAX, |m| m.priority)),
                )
            };
            if rank(&b) > rank(&self.best) {
                self.best = b;
            }
        }
    }

    /// Marks that a match came from a record `by` ms behind the watermark.
    pub fn mark_late(&mut self, by: Ts) {
        self.late_by = Some(self.late_by.map_or(by, |b| b.max(by)));
    }

    /// Renders the incident as an alert.
    pub fn to_alert(&self, identity: Sym, kind: &str, syms: &Interner) -> Alert {
        let b = &self.best;
        let det = b
            .scored
            .matched
            .as_ref()
            .expect("an incident opens on a match");
        let name = |s: Sym| syms.resolve(s).to_string();
        let ident = name(identity);
        let dst = name(b.obs.dst);
        let key = format!("{ident}|{}|{}|{dst}", det.rule, self.opened);
        let top: Vec<&str> = b
            .scored
            .hits
            .iter()
            .filter(|h| h.weight > 0)
            .take(2)
            .map(|h| h.detail.as_str())
            .collect();
        let mut summary = format!("{ident}: {}", top.join("; "));
        if self.destinations.len() > 1 {
            let more = if self.more_destinations {
                "or more other"
            } else {
                "more"
            };
            summary.push_str(&format!(
                " (+{} {more} destinations)",
                self.destinations.len() - 1
            ));
        }
        Alert {
            id: format!("rw-{:016x}", xxh3_64(key.as_bytes())),
            time: Seconds::from_ms(self.opened),
            timestamp: None,
            identity: ident,
            identity_kind: kind.to_string(),
            src: b.obs.src.map(name),
            dst,
            service: service_name(&b.obs, syms),
            rule: det.rule.clone(),
            severity: det.severity,
            score: b.scored.score,
            attack: det.attack.clone(),
            summary,
            late: self.late_by.is_some(),
            late_by: self.late_by.map(Seconds::from_ms),
            evidence: Evidence {
                features: b.scored.hits.clone(),
                baseline: b.baseline.clone(),
                peers: b.peers.clone(),
                path: b.path.iter().map(|o| step(o, syms)).collect(),
                observations: self.steps.iter().map(|o| step(o, syms)).collect(),
                observation_count: self.count,
                destinations: self.destinations.iter().map(|&d| name(d)).collect(),
                first_time: Seconds::from_ms(self.opened),
                last_time: Seconds::from_ms(self.last_time),
            },
        }
    }
}

/// An observation as an evidence step.
pub fn step(obs: &Observation, syms: &Interner) -> Step {
    let name = |s: Sym| syms.resolve(s).to_string();
    Step {
        time: Seconds::from_ms(obs.time),
        identity: name(obs.identity),
        src: obs.src.map(name),
        dst: name(obs.dst),
        service: service_name(obs, syms),
        via: obs.via.name().into(),
    }
}

/// The service of an observation: its service name, else its port.
pub fn service_name(obs: &Observation, syms: &Interner) -> Option<String> {
    match (obs.service, obs.port) {
        (Some(s), _) => Some(syms.resolve(s).to_string()),
        (None, 0) => None,
        (None, p) => Some(p.to_string()),
    }
}
