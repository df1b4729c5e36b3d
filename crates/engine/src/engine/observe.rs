//! From events to reach observations: authentications, failures and flows, each observed
//! (scored after learning) and learned.

use super::Engine;
use crate::graph::novel_kept;
use crate::observation::{ChainLink, Observation, Via};
use reachwatch_model::time::DAY;
use reachwatch_model::{
    AuthEvent, Event, FlowEvent, IdentityKind, LogonType, Orientation, Outcome, Sym, Ts,
};

impl Engine {
    pub(super) fn on_auth(&mut self, a: AuthEvent) {
        self.st.stats.auth_events += 1;
        if a.orientation != Orientation::LogOn {
            self.st.stats.auth_not_logon += 1;
            if matches!(a.orientation, Orientation::Tgs | Orientation::Tgt)
                && (self.st.graph.hosts.contains_key(&a.dst) || self.admit(&Event::Auth(a)))
            {
                let g = &mut self.st.graph;
                g.use_hosts(&mut self.st.syms, &self.rules, (None, a.dst), a.time);
                let h = g.hosts.get_mut(&a.dst).expect("used");
                h.activity.tickets = h.activity.tickets.saturating_add(1);
            }
            return;
        }
        if !self.admit(&Event::Auth(a)) {
            return;
        }
        let t = a.time;
        self.st
            .graph
            .use_hosts(&mut self.st.syms, &self.rules, (a.src, a.dst), t);
        let kind = self.profile(a.identity, t).kind;
        if a.outcome == Outcome::Success && a.logon.is_interactive() {
            self.record_interactive(&a, kind);
        }
        // Failed attempts also move packets: their flows belong to the failing identity.
        if let Some(src) = a.src {
            let settings = &self.rules.settings;
            if !self.st.join.auth(
                (src, a.dst),
                t,
                a.identity,
                settings.join_after + settings.join_before,
                (settings.join_cap, settings.limits.join_entries()),
            ) {
                self.st.stats.refused_full.join += 1;
            }
            self.st
                .graph
                .record_host_edge(src, a.dst, t, self.rules.settings.edge_ttl);
        }
        if a.outcome == Outcome::Failure {
            self.st.stats.auth_failures += 1;
            self.on_failure(a);
            return;
        }
        let obs = Observation::of_auth(&a, Via::Auth);
        self.saw(obs);
        self.observe(obs);
    }

    /// Counts a console logon by a person, or a remote-interactive logon from another host, on
    /// the destination (host roles are learned from these).
    fn record_interactive(&mut self, a: &AuthEvent, kind: IdentityKind) {
        let remote = a.src.is_some_and(|s| s != a.dst);
        let activity = &mut self
            .st
            .graph
            .host(&mut self.st.syms, &self.rules, a.dst, a.time)
            .activity;
        if a.logon == LogonType::RemoteInteractive && remote {
            activity.remote_in = activity.remote_in.saturating_add(1);
        } else if !remote && kind == IdentityKind::Human {
            activity.console = activity.console.saturating_add(1);
        }
    }

    /// A failed authentication. After learning, failures from a new source or to a new
    /// destination are kept for a while; enough distinct destinations within the failure window
    /// (a burst) or the spray window (a slow spray) make an observation. Failures on known edges
    /// from known sources are an expired or rotated secret, not a spray.
    pub(super) fn on_failure(&mut self, a: AuthEvent) {
        let cfg = &self.rules.settings;
        if self.st.learn_end.is_none_or(|end| a.time < end) {
            return;
        }
        let g = &self.st.graph;
        let novel = g.edge_is_new(a.identity, a.dst, a.time, cfg.edge_ttl)
            || a.src
                .is_some_and(|s| g.source_is_new(a.identity, s, a.time, cfg.edge_ttl));
        if !novel {
            return;
        }
        let keep = cfg.spray_window.max(cfg.failure_window);
        let p = self
            .st
            .graph
            .identities
            .get_mut(&a.identity)
            .expect("profile");
        let failures = &mut p.recent_mut().failures;
        failures.push_back((a.time, a.dst));
        while failures.len() > self.rules.settings.limits.failures
            || failures.front().is_some_and(|(t, _)| *t < a.time - keep)
        {
            failures.pop_front();
        }
        let burst = p.distinct_failures(a.time - cfg.failure_window);
        let slow = p.distinct_failures(a.time - cfg.spray_window);
        if (burst < cfg.failure_min_destinations as usize
            && slow < cfg.spray_min_destinations as usize)
            || !self.alerting(a.identity, a.time)
        {
            return;
        }
        let obs = Observation::of_auth(&a, Via::Failure);
        self.score_and_group(obs, None, None);
    }

    pub(super) fn on_flow(&mut self, f: FlowEvent) {
        if !self.admit(&Event::Flow(f)) {
            return;
        }
        let t = f.time;
        self.st
            .graph
            .use_hosts(&mut self.st.syms, &self.rules, (Some(f.src), f.dst), t);
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
            // A flow from a source the identity never succeeded from (its failed attempts)
            // teaches it no service.
            let succeeded = self.st.graph.sources.contains_key(&(id, f.src));
            self.saw(Observation::of_flow(&f, id, Via::Joined));
            if f.dst_port != 0 && succeeded {
                let new = self
                    .st
                    .graph
                    .record_service(id, f.dst, f.dst_port, f.bytes, t);
                if new {
                    self.on_new_service(id, &f);
                }
            }
            return;
        }
        self.st.stats.join_misses += 1;
        let id = self.machine_account(f.src, t);
        let obs = Observation::of_flow(&f, id, Via::Flow);
        self.saw(obs);
        if pair_new {
            self.observe(obs);
        } else {
            self.st.graph.learn(&obs);
        }
        if f.dst_port != 0 {
            self.st
                .graph
                .record_service(id, f.dst, f.dst_port, f.bytes, t);
        }
    }

    /// A flow joined to `identity` on a port it never used on this edge: scored when the edge
    /// itself is at least a day old (a new edge was scored as novel reach already).
    fn on_new_service(&mut self, identity: Sym, f: &FlowEvent) {
        let t = f.time;
        let g = &self.st.graph;
        let established = g
            .edges
            .get(&(identity, f.dst))
            .is_some_and(|u| u.first.saturating_add((DAY / 1000) as u32) <= g.rel(t));
        if !established || !self.alerting(identity, t) {
            return;
        }
        self.score_and_group(Observation::of_flow(f, identity, Via::Service), None, None);
    }

    /// Something reached (an authentication, or a flow joined or not): added to the reach
    /// record when one is kept, and judged by the rules' policy when there is one.
    fn saw(&mut self, obs: Observation) {
        if let Some((from, log)) = &mut self.reach {
            if obs.time >= *from {
                crate::reach_log::record(log, &obs);
            }
        }
        self.check_policy(obs);
    }

    /// Past the learning period, and the identity past its own grace period.
    pub(super) fn alerting(&self, identity: Sym, t: Ts) -> bool {
        let Some(end) = self.st.learn_end else {
            return false;
        };
        t >= end
            && self.st.graph.identities.get(&identity).is_some_and(|p| {
                (p.first_seen < end || p.first_seen + self.rules.settings.identity_grace <= t)
                    && self.rules.settings.alert_kinds.contains(&p.kind)
            })
    }

    /// Observes a reach observation: after learning it is scored (for an alerting identity),
    /// may complete or start a credential-switching chain, and feeds the fan-out window; then
    /// the graph learns it.
    pub(super) fn observe(&mut self, obs: Observation) {
        self.st.stats.observations += 1;
        let t = obs.time;
        let after_learning = self.st.learn_end.is_some_and(|e| t >= e);
        if after_learning {
            let cfg = &self.rules.settings;
            let g = &self.st.graph;
            let edge_new = g.edge_is_new(obs.identity, obs.dst, t, cfg.edge_ttl);
            if edge_new {
                self.st.stats.novel_edges += 1;
            }
            let src_new = obs.via == Via::Auth
                && obs
                    .src
                    .is_some_and(|s| g.source_is_new(obs.identity, s, t, cfg.edge_ttl));
            let into = self.chain_into(&obs, src_new);
            if self.alerting(obs.identity, t) {
                let link = into.map(ChainLink::After);
                self.score_and_group(obs, link.as_ref(), None);
            } else if let Some(into) = into.filter(|_| edge_new || src_new) {
                // The hop out is by an identity that does not alert (a person's credential, say):
                // the chain is reported on the identity whose login into the host started it.
                if self.alerting(into.identity, into.time) {
                    self.score_and_group(into, Some(&ChainLink::Before(obs)), None);
                }
            }
            if obs.via == Via::Auth && obs.src != Some(obs.dst) {
                let machine = self.st.graph.identities[&obs.identity].kind == IdentityKind::Machine;
                if edge_new {
                    self.st.chain_in.insert(obs.dst, obs);
                } else if machine {
                    self.st.machine_in.insert(obs.dst, obs);
                }
            }
            if edge_new {
                let window = self.rules.settings.fanout_window;
                let kept = novel_kept(self.rules.settings.fanout_min);
                let p = self
                    .st
                    .graph
                    .identities
                    .get_mut(&obs.identity)
                    .expect("profile");
                let novel = &mut p.recent_mut().novel;
                novel.push_back((t, obs.dst));
                while novel.len() > kept || novel.front().is_some_and(|(rt, _)| *rt < t - window) {
                    novel.pop_front();
                }
            }
        }
        self.st.graph.learn(&obs);
    }

    /// Another identity's login into this authentication's source, within the chain window: the
    /// first hop of a credential-switching chain. That login was novel, or it was a machine
    /// identity's usual login and this one is the first use of its identity from that host
    /// (`src_new`). A host's own machine account logging out of it is the host itself, and a
    /// logon at the host itself goes nowhere: neither is a switch of credentials.
    fn chain_into(&self, obs: &Observation, src_new: bool) -> Option<Observation> {
        let src = obs.src.filter(|&s| s != obs.dst)?;
        if obs.via != Via::Auth
            || self
                .st
                .graph
                .identities
                .get(&obs.identity)
                .is_some_and(|p| p.home == Some(src))
        {
            return None;
        }
        let recent = |into: &&Observation| {
            into.time + self.rules.settings.chain_window >= obs.time
                && into.identity != obs.identity
        };
        let novel = self.st.chain_in.get(&src).filter(recent);
        let usual = || {
            self.st
                .machine_in
                .get(&src)
                .filter(recent)
                .filter(|_| src_new)
        };
        novel.or_else(usual).copied()
    }
}
