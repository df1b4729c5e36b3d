//! The engine: reorder → join → observe (score, group, learn) → alerts.

mod alerting;
mod compact;
mod limits;
mod observe;
mod policy;
mod profiles;
mod snapshot;
mod stats;

pub use limits::{StateCounts, StateFill, THIN};
pub use snapshot::SnapshotError;
pub use stats::{Accepted, Rejection, Stats};

use crate::config::EngineConfig;
use crate::doorkeeper::Doorkeeper;
use crate::graph::{FxMap, Graph};
use crate::incident::Book;
use crate::join::Join;
use crate::observation::Observation;
use crate::reach_log::ReachLog;
use crate::reorder::{Refusal, Reorder};
use crate::score_log::ScoredObservation;
use reachwatch_model::time::{DAY, MINUTE};
use reachwatch_model::{name_hash, Alert, Classifier, Event, Interner, Sym, Ts};
use reachwatch_rules::RuleSet;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How often (event time) the join forgets authentications too old to claim a flow.
const JOIN_EVICT_EVERY: Ts = 10 * reachwatch_model::time::MINUTE;

/// The detection engine. Feed events with [`Engine::push`], finish with [`Engine::finish`].
pub struct Engine {
    rules: Arc<RuleSet>,
    classifier: Classifier,
    /// Added to event time for absolute comparisons (exception windows and expiry).
    time_base: Ts,
    /// Everything learned and held: what a snapshot saves.
    st: State,
    /// Every scored observation, when recording is on ([`Engine::record_scores`]).
    scores: Option<Vec<ScoredObservation>>,
    /// Symbol-table size at which it is worth compacting ([`Engine::wants_compaction`]).
    compact_at: usize,
    /// Everything reached from a time on, when recording is on ([`Engine::record_reach`]).
    reach: Option<(Ts, ReachLog)>,
    /// The policy's verdict on each (identity, source, destination, port) judged so far (with a
    /// policy in the rules); emptied when full, on compaction and on new rules.
    policy_verdicts: policy::Verdicts,
}

/// The built-in rules with other settings.
fn builtin_with(settings: EngineConfig) -> RuleSet {
    let mut rules = reachwatch_rules::builtin();
    rules.settings = settings;
    rules
}

/// Everything the engine learned and holds (what a snapshot saves).
#[derive(Serialize, Deserialize)]
struct State {
    syms: Interner,
    reorder: Reorder,
    join: Join,
    graph: Graph,
    /// Latest novel login into each host (after learning): the first hop of a possible
    /// credential-switching chain.
    chain_in: FxMap<Sym, Observation>,
    /// Latest usual login into each host by a machine identity (after learning): the first hop
    /// of a chain when the next login out of the host is the first use of its identity there.
    machine_in: FxMap<Sym, Observation>,
    /// Behavioural incidents.
    incidents: Book,
    /// Policy-violation incidents (with a policy in the rules).
    policy_incidents: Book,
    learn_end: Option<Ts>,
    next_sweep: Ts,
    next_join_evict: Ts,
    /// When the learned structure is next recomputed (from the end of learning, daily).
    next_structure: Ts,
    now: Ts,
    stats: Stats,
    /// Events to admit before a table that could not be brought under its cap is tried again.
    room_wait: u64,
    /// Set when the identities or hosts reach their cap, cleared once both are under half of it
    /// or at a daily sweep with nothing passed over since the previous one: while set, an
    /// identity with no profile is learned from its second sighting on.
    crowded: bool,
    /// Identities with no profile seen once while crowded.
    doorkeeper: Doorkeeper,
    /// Records passed over by the previous daily sweep (`Stats::passed_over` then).
    passed_at_sweep: u64,
    /// While a late event is processed: how far behind the watermark it is (ms).
    #[serde(skip)]
    late: Option<Ts>,
}

impl Engine {
    /// A new engine with the built-in rules, these settings and this classifier.
    pub fn new(cfg: EngineConfig, classifier: Classifier) -> Engine {
        let mut engine = Self::with_rules(Arc::new(builtin_with(cfg)));
        engine.classifier = classifier;
        engine
    }

    /// A new engine running a compiled rule set.
    pub fn with_rules(rules: Arc<RuleSet>) -> Engine {
        Engine {
            classifier: rules.classifier(),
            time_base: 0,
            st: State {
                syms: Interner::new(),
                reorder: Reorder::new(rules.settings.lateness, rules.settings.max_skew),
                join: Join::default(),
                graph: Graph::default(),
                chain_in: FxMap::default(),
                machine_in: FxMap::default(),
                incidents: Book::default(),
                policy_incidents: Book::default(),
                learn_end: None,
                next_sweep: Ts::MIN,
                next_join_evict: Ts::MIN,
                next_structure: Ts::MAX,
                now: Ts::MIN,
                stats: Stats::default(),
                room_wait: 0,
                crowded: false,
                doorkeeper: Doorkeeper::default(),
                passed_at_sweep: 0,
                late: None,
            },
            rules,
            scores: None,
            compact_at: 0,
            reach: None,
            policy_verdicts: Default::default(),
        }
    }

    /// The symbol table events must be interned in.
    pub fn symbols_mut(&mut self) -> &mut Interner {
        &mut self.st.syms
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Interner {
        &self.st.syms
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.st.stats
    }

    /// The learned reach graph.
    pub fn graph(&self) -> &Graph {
        &self.st.graph
    }

    /// Settings.
    pub fn config(&self) -> &EngineConfig {
        &self.rules.settings
    }

    /// The active rule set.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Sets the absolute time (ms since the Unix epoch) of event time 0, for rule-file times
    /// (exception windows and expiry) on relative-time input such as LANL.
    pub fn set_time_base(&mut self, base: Ts) {
        self.time_base = base;
    }

    /// Swaps in a new rule set without losing any state: identities are re-classified, hosts
    /// get the new inventory's attributes, and windows and thresholds apply from the next event.
    /// Peer groups of identities already seen stay as they were.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.classifier = rules.classifier();
        self.st
            .reorder
            .set_limits(rules.settings.lateness, rules.settings.max_skew);
        let hosts: Vec<Sym> = self.st.graph.hosts.keys().copied().collect();
        for h in hosts {
            self.st.graph.apply_inventory(&rules, &self.st.syms, h);
        }
        let ids: Vec<Sym> = self.st.graph.identities.keys().copied().collect();
        for id in ids {
            let name = self.st.syms.resolve(id);
            let kind = self.classifier.classify(name);
            let env = rules.group_of(name).and_then(|g| g.environment.clone());
            let env = self.st.graph.attr_id(env.as_deref());
            if let Some(p) = self.st.graph.identities.get_mut(&id) {
                p.kind = kind;
                p.env = env;
            }
        }
        self.rules = rules;
        self.policy_verdicts = Default::default();
        // Higher caps may end crowding at once.
        self.uncrowd(false);
    }

    /// Starts recording every scored observation (see [`Engine::scores`]); off by default. The
    /// record is not part of snapshots.
    pub fn record_scores(&mut self) {
        self.scores.get_or_insert_with(Vec::new);
    }

    /// The scored observations recorded since [`Engine::record_scores`], in processing order.
    pub fn scores(&self) -> &[ScoredObservation] {
        self.scores.as_deref().unwrap_or(&[])
    }

    /// Starts recording everything reached at or after event time `from` (see
    /// [`Engine::reach_log`]): authentications, flows joined to them and flows nobody claimed,
    /// by identity, source, destination, port and day; off by default. The record is not part
    /// of snapshots.
    pub fn record_reach(&mut self, from: Ts) {
        self.reach = Some((from, ReachLog::default()));
    }

    /// What was reached since [`Engine::record_reach`] (`None` when recording is off).
    pub fn reach_log(&self) -> Option<&ReachLog> {
        self.reach.as_ref().map(|(_, log)| log)
    }

    /// End of the learning period, once the first event has been processed.
    pub fn learn_end(&self) -> Option<Ts> {
        self.st.learn_end
    }

    /// Estimated bytes of engine state (graph, join buffers, reorder buffer, incidents, symbols).
    pub fn state_bytes(&self) -> usize {
        self.st.graph.estimated_bytes()
            + self.st.join.estimated_bytes()
            + self.st.reorder.len() * std::mem::size_of::<(Ts, u64, Event)>()
            + self.st.syms.heap_bytes()
            + self.st.doorkeeper.heap_bytes()
    }

    /// Event-time watermark: every event before it has been processed (`None` before the first
    /// event).
    pub fn watermark(&self) -> Option<Ts> {
        self.st.reorder.watermark()
    }

    /// Entries held in the join and reorder buffers.
    pub fn buffered(&self) -> usize {
        self.st.join.len() + self.st.reorder.len()
    }

    /// Would an event at time `t` be accepted now? Lets a driver that merges several inputs by
    /// time drop a skewed event before it holds back the other inputs.
    pub fn check(&self, t: Ts) -> Result<(), Rejection> {
        self.st.reorder.check(t).map_err(Rejection::from)
    }

    /// Accepts an event (symbols from [`Engine::symbols_mut`]); alerts that become due are
    /// appended to `out`. An event behind the watermark but within the late window is processed
    /// at once, out of order: it joins with what the join still holds, updates the baseline and
    /// is scored; alerts it causes say how late it was. An older or skewed event is refused and
    /// changes nothing. While the tables are crowded, an authentication that names nothing the
    /// engine holds (identity, source and destination all without a profile) is passed over on
    /// the identity's first sighting: its time is taken, it is counted ([`Stats::passed_over`])
    /// and nothing is learned from it.
    pub fn push(&mut self, event: Event, out: &mut Vec<Alert>) -> Result<Accepted, Rejection> {
        let time = event.time();
        let learn = match &event {
            Event::Auth(a) if !self.refuses(time) && self.holds_none_of(a) => {
                let hash = name_hash(self.st.syms.resolve(a.identity).as_bytes());
                self.learns_new_identity(hash)
            }
            _ => true,
        };
        self.take(learn.then_some(event), time, out)
    }

    /// An authentication at `time` none of whose identity, source and destination the symbol
    /// table has a name for yet (`identity` names the identity): `None` when it is to be learned
    /// (intern its names and [`Engine::push`] it), else what [`Engine::push`] does with it,
    /// without interning a name.
    pub fn pass_over_unnamed(
        &mut self,
        identity: &str,
        time: Ts,
        out: &mut Vec<Alert>,
    ) -> Option<Result<Accepted, Rejection>> {
        let learn = !self.refuses(time) && self.learns_new_identity(name_hash(identity.as_bytes()));
        (!learn).then(|| self.take(None, time, out))
    }

    /// Whether an event at `time` would be refused (too late or skewed): such an event changes
    /// nothing, the doorkeeper included.
    fn refuses(&self, time: Ts) -> bool {
        self.acceptance(time, self.st.reorder.check(time)).is_err()
    }

    /// How an event at `time` is taken, given what the reorder buffer said of it: behind the
    /// watermark but within the late window is taken late.
    fn acceptance(&self, time: Ts, admitted: Result<(), Refusal>) -> Result<Accepted, Rejection> {
        match admitted {
            Ok(()) => Ok(Accepted::InOrder),
            Err(Refusal::Late { watermark })
                if time >= watermark.saturating_sub(self.rules.settings.late_window) =>
            {
                Ok(Accepted::Late {
                    by: watermark - time,
                })
            }
            Err(refusal) => Err(Rejection::from(refusal)),
        }
    }

    /// Takes an event at `time` (`None`: one passed over) into event time.
    fn take(
        &mut self,
        event: Option<Event>,
        time: Ts,
        out: &mut Vec<Alert>,
    ) -> Result<Accepted, Rejection> {
        let admitted = match event {
            Some(ev) => self.st.reorder.push(ev),
            None => self.st.reorder.advance(time),
        };
        let accepted = match self.acceptance(time, admitted) {
            Ok(accepted) => accepted,
            Err(rejection) => {
                match rejection {
                    Rejection::Late { .. } => self.st.stats.late += 1,
                    Rejection::ClockSkew { .. } => self.st.stats.skewed += 1,
                }
                return Err(rejection);
            }
        };
        if event.is_none() {
            self.st.stats.passed_over += 1;
        }
        match accepted {
            Accepted::Late { by } => {
                if let Some(ev) = event {
                    self.process_late(ev, by);
                }
            }
            Accepted::InOrder => {
                while let Some(ev) = self.st.reorder.pop(false) {
                    self.process(ev, out);
                }
                if event.is_none() {
                    self.release_passed_time(out);
                }
            }
        }
        Ok(accepted)
    }

    /// A record passed over moves time too: everything before the watermark is processed, so
    /// the flows and incidents due by then are released (what the next learned event would
    /// release first; the daily sweep waits for it), once a minute of event time.
    fn release_passed_time(&mut self, out: &mut Vec<Alert>) {
        let Some(w) = self.st.reorder.watermark() else {
            return;
        };
        if self.st.learn_end.is_some() && w >= self.st.now.saturating_add(MINUTE) {
            self.st.now = w;
            self.release_due(w, out);
        }
    }

    /// An event behind the watermark, processed as it arrives: processing time does not go back
    /// (no tick); a late flow is decided at once against the authentications the join holds.
    fn process_late(&mut self, ev: Event, by: Ts) {
        self.st.stats.late_processed += 1;
        self.st.late = Some(by);
        match ev {
            Event::Auth(a) => self.on_auth(a),
            Event::Flow(f) => {
                self.st.stats.flow_events += 1;
                self.on_flow(f);
            }
        }
        self.st.late = None;
    }

    /// End of input: processes everything buffered and emits every open incident.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        while let Some(ev) = self.st.reorder.pop(true) {
            self.process(ev, out);
        }
        while let Some(f) = self.st.join.drain() {
            self.on_flow(f);
        }
        self.emit_due(Ts::MAX, out);
    }

    fn process(&mut self, ev: Event, out: &mut Vec<Alert>) {
        let t = ev.time();
        self.tick(t, out);
        match ev {
            Event::Auth(a) => self.on_auth(a),
            Event::Flow(f) => {
                self.st.stats.flow_events += 1;
                let cap = self.rules.settings.limits.join_entries();
                if let Some(early) = self.st.join.flow(f, cap) {
                    self.st.stats.evicted_full.join += 1;
                    self.on_flow(early);
                }
            }
        }
    }

    fn tick(&mut self, now: Ts, out: &mut Vec<Alert>) {
        if self.st.learn_end.is_none() {
            let end = now.saturating_add(self.rules.settings.learn);
            self.st.learn_end = Some(end);
            self.st.graph.data_start = now;
            self.st.next_sweep = now.saturating_add(DAY);
            self.st.next_structure = end;
        }
        self.st.now = now;
        self.release_due(now, out);
        if now >= self.st.next_join_evict {
            self.st
                .join
                .evict(now - self.rules.settings.join_after - self.rules.settings.join_before);
            self.st.next_join_evict = now + JOIN_EVICT_EVERY;
        }
        if now >= self.st.next_sweep {
            self.sweep(now);
            self.st.next_sweep = now + DAY;
        }
        if now >= self.st.next_structure {
            self.learn_structure(now);
            self.st.next_structure = now.saturating_add(DAY);
        }
    }

    /// Decides the flows and emits the incidents due by `now` (everything before it processed).
    fn release_due(&mut self, now: Ts, out: &mut Vec<Alert>) {
        while let Some(f) = self.st.join.due(now, self.rules.settings.join_before) {
            self.on_flow(f);
        }
        let due = |b: &Book| b.due.first().is_some_and(|&(at, _)| at < now);
        if due(&self.st.incidents) || due(&self.st.policy_incidents) {
            self.emit_due(now, out);
        }
    }

    /// Recomputes the structure learned from behaviour (roles, communities, peer groups,
    /// calibration priors): at the end of learning, then daily.
    fn learn_structure(&mut self, now: Ts) {
        let groups: Vec<String> = self.rules.groups.iter().map(|g| g.name.clone()).collect();
        let structure = crate::structure::learn(&self.st.graph, &self.st.syms, &groups, now);
        self.st.graph.set_structure(structure);
    }

    fn sweep(&mut self, now: Ts) {
        self.age_out(now);
        let chain_cut = now - self.rules.settings.chain_window;
        self.st.chain_in.retain(|_, into| into.time >= chain_cut);
        self.st.machine_in.retain(|_, into| into.time >= chain_cut);
        let window = self.rules.settings.incident_window;
        self.st.incidents.sweep(now, window);
        self.st.policy_incidents.sweep(now, window);
    }
}
