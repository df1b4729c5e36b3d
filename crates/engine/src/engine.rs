//! The engine: reorder → join → observe (score, group, learn) → alerts.

use crate::config::EngineConfig;
use crate::graph::{FxMap, Graph, IdentityProfile, MAX_LISTED_SOURCES};
use crate::incident::{service_name, Best, Incident, MAX_INCIDENT};
use crate::join::Join;
use crate::reorder::{Admission, Refusal, Reorder};
use crate::score::{score, Observation, Via};
use reachwatch_model::classify::principal;
use reachwatch_model::time::DAY;
use reachwatch_model::{
    Alert, AuthEvent, AuthProtocol, Baseline, Classifier, Event, FlowEvent, IdentityKind, Interner,
    LogonType, Orientation, Outcome, Peers, Seconds, Sym, Ts,
};
use reachwatch_rules::RuleSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How often (event time) the join forgets authentications too old to claim a flow.
const JOIN_EVICT_EVERY: Ts = 10 * reachwatch_model::time::MINUTE;

/// Why the engine refused an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the watermark minus nothing: its window has been processed.
    Late {
        /// Watermark at arrival (ms).
        watermark: Ts,
    },
    /// Too far ahead of the stream's time.
    ClockSkew {
        /// Latest event time seen (ms).
        max_seen: Ts,
    },
}

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Late { watermark } => Rejection::Late { watermark },
            Refusal::Skew { max_seen } => Rejection::ClockSkew { max_seen },
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Late { watermark } => write!(
                f,
                "event is older than the watermark ({} s): its window was already processed",
                watermark / 1000
            ),
            Rejection::ClockSkew { max_seen } => write!(
                f,
                "event is too far ahead of the latest event time ({} s)",
                max_seen / 1000
            ),
        }
    }
}

/// Counters of what the engine did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Authentication events accepted.
    pub auth_events: u64,
    /// Flow events accepted.
    pub flow_events: u64,
    /// Events refused as late.
    pub late: u64,
    /// Events refused as clock skew.
    pub skewed: u64,
    /// Authentications that are not logons (logoff, ticket requests, …): counted, not observed.
    pub auth_not_logon: u64,
    /// Failed authentications.
    pub auth_failures: u64,
    /// Flows joined to an authentication.
    pub join_hits: u64,
    /// Flows with no authentication, attributed to the source host's machine account.
    pub join_misses: u64,
    /// Reach observations scored or learned.
    pub observations: u64,
    /// Observations that made a new edge after the learning period.
    pub novel_edges: u64,
    /// Observations that scored at or above the threshold.
    pub matches: u64,
    /// Matches absorbed by an incident already emitted.
    pub absorbed: u64,
    /// Alerts emitted, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Matches suppressed, by exception name.
    pub suppressed: BTreeMap<String, u64>,
}

/// The detection engine. Feed events with [`Engine::push`], finish with [`Engine::finish`].
pub struct Engine {
    rules: Arc<RuleSet>,
    classifier: Classifier,
    /// Added to event time for absolute comparisons (exception windows and expiry).
    time_base: Ts,
    /// Everything learned and held: what a snapshot saves.
    st: State,
}

/// The built-in rules with other settings.
fn builtin_with(settings: EngineConfig) -> RuleSet {
    let mut rules = reachwatch_rules::builtin();
    rules.settings = settings;
    rules
}

/// Magic bytes and format version at the head of an engine snapshot.
const SNAPSHOT_MAGIC: &[u8; 8] = b"RWENGv01";

/// Everything the engine learned and holds (what a snapshot saves).
#[derive(Serialize, Deserialize)]
struct State {
    syms: Interner,
    reorder: Reorder,
    join: Join,
    graph: Graph,
    /// Latest unusual login into a host: host → (time, identity, source).
    chain_in: FxMap<Sym, (Ts, Sym, Option<Sym>)>,
    incidents: FxMap<Sym, Incident>,
    due: BTreeSet<(Ts, Sym)>,
    learn_end: Option<Ts>,
    next_sweep: Ts,
    next_join_evict: Ts,
    now: Ts,
    stats: Stats,
}

/// A snapshot that could not be read.
#[derive(Debug)]
pub struct SnapshotError(String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SnapshotError {}

impl Engine {
    /// Serialises the engine's whole state (symbols, buffers, graph, incidents, counters) into a
    /// versioned byte string. Settings are not included: they are given again on restore.
    pub fn snapshot(&self) -> Vec<u8> {
        let out = SNAPSHOT_MAGIC.to_vec();
        postcard::to_extend(&self.st, out).expect("engine state serialises")
    }

    /// An engine restored from [`Engine::snapshot`] bytes with the built-in rules, these
    /// settings and this classifier.
    pub fn restore(
        bytes: &[u8],
        cfg: EngineConfig,
        classifier: Classifier,
    ) -> Result<Engine, SnapshotError> {
        let mut engine = Self::restore_with_rules(bytes, Arc::new(builtin_with(cfg)))?;
        engine.classifier = classifier;
        Ok(engine)
    }

    /// An engine restored from [`Engine::snapshot`] bytes, running (possibly new) rules.
    pub fn restore_with_rules(bytes: &[u8], rules: Arc<RuleSet>) -> Result<Engine, SnapshotError> {
        let body = bytes.strip_prefix(SNAPSHOT_MAGIC).ok_or_else(|| {
            SnapshotError("not a reachwatch engine snapshot of this version".into())
        })?;
        let mut st: State = postcard::from_bytes(body)
            .map_err(|e| SnapshotError(format!("corrupt engine snapshot: {e}")))?;
        st.reorder
            .set_limits(rules.settings.lateness, rules.settings.max_skew);
        Ok(Engine {
            classifier: rules.classifier(),
            rules,
            time_base: 0,
            st,
        })
    }

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
                incidents: FxMap::default(),
                due: BTreeSet::new(),
                learn_end: None,
                next_sweep: Ts::MIN,
                next_join_evict: Ts::MIN,
                now: Ts::MIN,
                stats: Stats::default(),
            },
            rules,
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

    /// The reorder buffer's acceptance rule as it stands: a copy fed the times this engine is
    /// pushed refuses exactly the events the engine will refuse (for a driver on another thread).
    pub fn admission(&self) -> Admission {
        self.st.reorder.admission()
    }

    /// Accepts an event (symbols from [`Engine::symbols_mut`]); alerts that become due are
    /// appended to `out`. A late or skewed event is refused and changes nothing.
    pub fn push(&mut self, event: Event, out: &mut Vec<Alert>) -> Result<(), Rejection> {
        if let Err(refusal) = self.st.reorder.push(event) {
            let rejection = Rejection::from(refusal);
            match rejection {
                Rejection::Late { .. } => self.st.stats.late += 1,
                Rejection::ClockSkew { .. } => self.st.stats.skewed += 1,
            }
            return Err(rejection);
        }
        while let Some(ev) = self.st.reorder.pop(false) {
            self.process(ev, out);
        }
        Ok(())
    }

    /// End of input: processes everything buffered and emits every open incident.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        while let Some(ev) = self.st.reorder.pop(true) {
            self.process(ev, out);
        }
        while let Some(f) = self.st.join.drain() {
            self.on_flow(f, out);
        }
        self.emit_due(Ts::MAX, out);
    }

    fn process(&mut self, ev: Event, out: &mut Vec<Alert>) {
        let t = ev.time();
        self.tick(t, out);
        match ev {
            Event::Auth(a) => self.on_auth(a, out),
            Event::Flow(f) => {
                self.st.stats.flow_events += 1;
                self.st.join.flow(f);
            }
        }
    }

    fn tick(&mut self, now: Ts, out: &mut Vec<Alert>) {
        if self.st.learn_end.is_none() {
            self.st.learn_end = Some(now.saturating_add(self.rules.settings.learn));
            self.st.graph.data_start = now;
            self.st.next_sweep = now.saturating_add(DAY);
        }
        self.st.now = now;
        while let Some(f) = self.st.join.due(now, self.rules.settings.join_before) {
            self.on_flow(f, out);
        }
        if self.st.due.first().is_some_and(|&(at, _)| at < now) {
            self.emit_due(now, out);
        }
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
    }

    fn sweep(&mut self, now: Ts) {
        self.st.graph.age_out(now, self.rules.settings.edge_ttl);
        let chain_cut = now - self.rules.settings.chain_window;
        self.st.chain_in.retain(|_, (t, _, _)| *t >= chain_cut);
        let window = self.rules.settings.incident_window;
        self.st
            .incidents
            .retain(|_, i| !i.emitted || i.last_match + window >= now);
    }

    fn emit_due(&mut self, now: Ts, out: &mut Vec<Alert>) {
        while let Some(&(at, id)) = self.st.due.first() {
            if at >= now {
                break;
            }
            self.st.due.pop_first();
            let Some(inc) = self.st.incidents.get_mut(&id) else {
                continue;
            };
            inc.emitted = true;
            let kind = self
                .st
                .graph
                .identities
                .get(&id)
                .map_or(IdentityKind::Unknown, |p| p.kind);
            let alert = inc.to_alert(id, kind.name(), &self.st.syms);
            *self
                .st
                .stats
                .alerts_by_rule
                .entry(alert.rule.clone())
                .or_insert(0) += 1;
            out.push(alert);
        }
    }

    fn profile(&mut self, identity: Sym, now: Ts) -> &mut IdentityProfile {
        if !self.st.graph.identities.contains_key(&identity) {
            self.new_profile(identity, now);
        }
        self.st
            .graph
            .identities
            .get_mut(&identity)
            .expect("inserted")
    }

    #[cold]
    fn new_profile(&mut self, identity: Sym, now: Ts) {
        let name = self.st.syms.resolve(identity).to_string();
        let kind = self.classifier.classify(&name);
        let rule_group = self.rules.group_of(&name);
        let env = rule_group.and_then(|g| g.environment.clone());
        let group = match rule_group {
            Some(g) => {
                let g = g.name.clone();
                self.st.graph.group_id(&g)
            }
            None => self.st.graph.group_of(&name),
        };
        let env = self.st.graph.attr_id(env.as_deref());
        self.st.graph.identities.insert(
            identity,
            IdentityProfile {
                kind,
                group,
                env,
                home: None,
                dst_envs: 0,
                first_seen: now,
                last_seen: now,
                observations: 0,
                protocols: 0,
                logons: 0,
                dst_groups: Default::default(),
                src_groups: Default::default(),
                destinations: 0,
                sources: Default::default(),
                recent: None,
            },
        );
        // A computer account `HOST$` is its host's machine identity.
        if let Some(host) = principal(&name).strip_suffix('$') {
            let host = self.st.syms.intern(host.as_bytes());
            if let Some(p) = self.st.graph.identities.get_mut(&identity) {
                p.home = Some(host);
            }
            self.st
                .graph
                .host(&self.st.syms, &self.rules, host, now)
                .machine_account = Some(identity);
        }
    }

    fn machine_account(&mut self, host: Sym, now: Ts) -> Sym {
        if let Some(id) = self
            .st
            .graph
            .host(&self.st.syms, &self.rules, host, now)
            .machine_account
        {
            return id;
        }
        let name = format!("{}$", self.st.syms.resolve(host));
        let id = self.st.syms.intern(name.as_bytes());
        self.profile(id, now);
        id
    }

    fn on_auth(&mut self, a: AuthEvent, out: &mut Vec<Alert>) {
        self.st.stats.auth_events += 1;
        if a.orientation != Orientation::LogOn {
            self.st.stats.auth_not_logon += 1;
            return;
        }
        let t = a.time;
        self.st.graph.host(&self.st.syms, &self.rules, a.dst, t);
        if let Some(src) = a.src {
            self.st.graph.host(&self.st.syms, &self.rules, src, t);
        }
        self.profile(a.identity, t);
        // Failed attempts also move packets: their flows belong to the failing identity.
        if let Some(src) = a.src {
            self.st.join.auth(
                src,
                a.dst,
                t,
                a.identity,
                self.rules.settings.join_after + self.rules.settings.join_before,
                self.rules.settings.join_cap,
            );
            self.st
                .graph
                .record_host_edge(src, a.dst, t, self.rules.settings.edge_ttl);
        }
        if a.outcome == Outcome::Failure {
            self.st.stats.auth_failures += 1;
            self.on_failure(a, out);
            return;
        }
        let obs = Observation {
            time: t,
            identity: a.identity,
            src: a.src,
            dst: a.dst,
            port: 0,
            service: a.service,
            protocol: a.protocol,
            logon: a.logon,
            via: Via::Auth,
        };
        self.observe(obs, out);
    }

    fn on_failure(&mut self, a: AuthEvent, out: &mut Vec<Alert>) {
        let window = self.rules.settings.failure_window;
        let p = self
            .st
            .graph
            .identities
            .get_mut(&a.identity)
            .expect("profile");
        let failures = &mut p.recent_mut().failures;
        failures.push_back((a.time, a.dst));
        while failures.front().is_some_and(|(t, _)| *t < a.time - window) {
            failures.pop_front();
        }
        let distinct: BTreeSet<Sym> = failures.iter().map(|(_, d)| *d).collect();
        if distinct.len() < self.rules.settings.failure_min_destinations as usize
            || !self.alerting(a.identity, a.time)
        {
            return;
        }
        let obs = Observation {
            time: a.time,
            identity: a.identity,
            src: a.src,
            dst: a.dst,
            port: 0,
            service: a.service,
            protocol: a.protocol,
            logon: a.logon,
            via: Via::Failure,
        };
        self.score_and_group(obs, None, out);
    }

    fn on_flow(&mut self, f: FlowEvent, out: &mut Vec<Alert>) {
        let t = f.time;
        self.st.graph.host(&self.st.syms, &self.rules, f.src, t);
        self.st.graph.host(&self.st.syms, &self.rules, f.dst, t);
        let pair_new =
            self.st
                .graph
                .record_host_edge(f.src, f.dst, t, self.rules.settings.edge_ttl);
        if let Some(id) = self.st.join.claim(
            &f,
            self.rules.settings.join_before,
            self.rules.settings.join_after,
        ) {
            self.st.stats.join_hits += 1;
            if f.dst_port != 0 {
                self.st
                    .graph
                    .record_service(id, f.dst, f.dst_port, f.bytes, t);
            }
            return;
        }
        self.st.stats.join_misses += 1;
        let id = self.machine_account(f.src, t);
        let obs = Observation {
            time: t,
            identity: id,
            src: Some(f.src),
            dst: f.dst,
            port: f.dst_port,
            service: None,
            protocol: AuthProtocol::Unknown,
            logon: LogonType::Unknown,
            via: Via::Flow,
        };
        if pair_new {
            self.observe(obs, out);
        } else {
            self.learn(&obs);
        }
        if f.dst_port != 0 {
            self.st
                .graph
                .record_service(id, f.dst, f.dst_port, f.bytes, t);
        }
    }

    /// Past the learning period, and the identity past its own grace period.
    fn alerting(&self, identity: Sym, t: Ts) -> bool {
        let Some(end) = self.st.learn_end else {
            return false;
        };
        t >= end
            && self.st.graph.identities.get(&identity).is_some_and(|p| {
                (p.first_seen < end || p.first_seen + self.rules.settings.identity_grace <= t)
                    && self.rules.settings.alert_kinds.contains(&p.kind)
            })
    }

    fn observe(&mut self, obs: Observation, out: &mut Vec<Alert>) {
        self.st.stats.observations += 1;
        let t = obs.time;
        let after_learning = self.st.learn_end.is_some_and(|e| t >= e);
        if after_learning {
            let edge_new =
                self.st
                    .graph
                    .edge_is_new(obs.identity, obs.dst, t, self.rules.settings.edge_ttl);
            if edge_new {
                self.st.stats.novel_edges += 1;
            }
            let chain = obs
                .src
                .and_then(|s| self.st.chain_in.get(&s).copied())
                .filter(|&(at, from, _)| {
                    at + self.rules.settings.chain_window >= t && from != obs.identity
                });
            let mut dst_group_new = false;
            if self.alerting(obs.identity, t) {
                dst_group_new = self.score_and_group(obs, chain, out);
            } else if edge_new {
                let p = &self.st.graph.identities[&obs.identity];
                dst_group_new = self
                    .st
                    .graph
                    .hosts
                    .get(&obs.dst)
                    .is_some_and(|h| !p.dst_groups.contains(&h.group));
            }
            if edge_new {
                if dst_group_new && obs.via == Via::Auth {
                    self.st.chain_in.insert(obs.dst, (t, obs.identity, obs.src));
                }
                let window = self.rules.settings.fanout_window;
                let p = self
                    .st
                    .graph
                    .identities
                    .get_mut(&obs.identity)
                    .expect("profile");
                let novel = &mut p.recent_mut().novel;
                novel.push_back((t, obs.dst));
                while novel.front().is_some_and(|(rt, _)| *rt < t - window) {
                    novel.pop_front();
                }
            }
        }
        self.learn(&obs);
    }

    fn learn(&mut self, obs: &Observation) {
        let p = self
            .st
            .graph
            .identities
            .get_mut(&obs.identity)
            .expect("profile");
        p.last_seen = p.last_seen.max(obs.time);
        p.observations += 1;
        if obs.via == Via::Auth {
            p.protocols |= obs.protocol.bit();
            p.logons |= obs.logon.bit();
        }
        if let Some(src) = obs.src {
            if p.sources.len() < MAX_LISTED_SOURCES && !p.sources.contains(&src) {
                p.sources.push(src);
            }
        }
        self.st
            .graph
            .record_edge(obs.identity, obs.src, obs.dst, obs.time);
    }

    /// Scores an observation of an alerting identity and groups a match into its incident.
    /// Returns whether the destination's group was new for the identity.
    fn score_and_group(
        &mut self,
        obs: Observation,
        chain: Option<(Ts, Sym, Option<Sym>)>,
        out: &mut Vec<Alert>,
    ) -> bool {
        let _ = out;
        let profile = &self.st.graph.identities[&obs.identity];
        let scored = score(
            &self.st.graph,
            &self.rules,
            &self.st.syms,
            profile,
            &obs,
            chain.map(|(at, from, _)| (from, at)),
        );
        let dst_group_new = scored.dst_group_new;
        let step = obs;
        let t = obs.time;
        let suppressed_by = scored.matched.as_ref().and_then(|m| {
            let name = |s: Option<Sym>| s.map_or("", |s| self.st.syms.resolve(s));
            let service = service_name(&obs, &self.st.syms).unwrap_or_default();
            self.rules
                .exceptions
                .iter()
                .find(|e| {
                    e.covers(
                        &m.rule,
                        name(Some(obs.identity)),
                        name(obs.src),
                        name(Some(obs.dst)),
                        &service,
                        t.saturating_add(self.time_base),
                    )
                })
                .map(|e| e.name.clone())
        });
        let suppressed = suppressed_by.is_some();
        if let Some(exception) = suppressed_by {
            *self.st.stats.suppressed.entry(exception).or_insert(0) += 1;
        }
        if scored.matched.is_none() || suppressed {
            // Novel reach of an identity with a pending incident is part of the story.
            if scored.edge_new {
                if let Some(inc) = self.st.incidents.get_mut(&obs.identity) {
                    if !inc.emitted {
                        inc.add(step, obs.dst, t, None, self.rules.settings.max_evidence);
                    }
                }
            }
            return dst_group_new;
        }
        self.st.stats.matches += 1;
        let path = match chain {
            Some((at, from, from_src)) if scored.hits.iter().any(|h| h.name == "chain") => {
                // The hop into the intermediate host (the chain is keyed by this observation's source).
                let hop = Observation {
                    time: at,
                    identity: from,
                    src: from_src,
                    dst: obs.src.unwrap_or(obs.dst),
                    port: 0,
                    service: None,
                    protocol: AuthProtocol::Unknown,
                    logon: LogonType::Unknown,
                    via: Via::Auth,
                };
                vec![hop, step]
            }
            _ => vec![],
        };
        let best = Best {
            baseline: self.baseline(obs.identity),
            peers: self.peers(obs.identity, obs.dst),
            obs,
            scored,
            path,
        };
        let window = self.rules.settings.incident_window;
        match self.st.incidents.get_mut(&obs.identity) {
            Some(inc) if !inc.emitted => {
                inc.add(
                    step,
                    obs.dst,
                    t,
                    Some(best),
                    self.rules.settings.max_evidence,
                );
            }
            Some(inc) if t <= inc.last_match + window && t <= inc.opened + MAX_INCIDENT => {
                inc.absorbed += 1;
                inc.last_match = t;
                self.st.stats.absorbed += 1;
            }
            _ => {
                let inc = Incident::open(best, step, self.rules.settings.incident_hold);
                self.st.due.insert((inc.emit_at, obs.identity));
                self.st.incidents.insert(obs.identity, inc);
            }
        }
        dst_group_new
    }

    fn baseline(&self, identity: Sym) -> Baseline {
        let p = &self.st.graph.identities[&identity];
        let group = |g: &u32| self.st.graph.group_names[*g as usize].clone();
        Baseline {
            first_seen: Seconds::from_ms(p.first_seen),
            observations: p.observations,
            destinations: p.destinations,
            sources: p
                .sources
                .iter()
                .map(|&s| self.st.syms.resolve(s).to_string())
                .collect(),
            destination_groups: p.dst_groups.iter().take(10).map(group).collect(),
            protocols: AuthProtocol::ALL
                .iter()
                .filter(|pr| p.protocols & pr.bit() != 0)
                .map(|pr| pr.name().to_string())
                .collect(),
        }
    }

    fn peers(&self, identity: Sym, dst: Sym) -> Peers {
        let p = &self.st.graph.identities[&identity];
        Peers {
            group: self.st.graph.group_names[p.group as usize].clone(),
            group_reaching_dst: self
                .st
                .graph
                .group_reach
                .get(&(p.group, dst))
                .copied()
                .unwrap_or(0),
            identities_reaching_dst: self.st.graph.hosts.get(&dst).map_or(0, |h| h.identities),
        }
    }
}
