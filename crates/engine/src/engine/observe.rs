//! From events to reach observations: authentications, failures and flows, each observed
//! (scored after learning) and learned.

use super::Engine;
use crate::observation::{Observation, Via};
use reachwatch_model::{
    Alert, AuthEvent, AuthProtocol, FlowEvent, LogonType, Orientation, Outcome, Sym, Ts,
};
use std::collections::BTreeSet;

impl Engine {
    pub(super) fn on_auth(&mut self, a: AuthEvent, out: &mut Vec<Alert>) {
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
        self.note_reach(t, a.identity, a.src, a.dst, 0, false);
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

    pub(super) fn on_failure(&mut self, a: AuthEvent, out: &mut Vec<Alert>) {
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

    pub(super) fn on_flow(&mut self, f: FlowEvent, out: &mut Vec<Alert>) {
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
            self.note_reach(t, id, Some(f.src), f.dst, f.dst_port, true);
            if f.dst_port != 0 {
                self.st
                    .graph
                    .record_service(id, f.dst, f.dst_port, f.bytes, t);
            }
            return;
        }
        self.st.stats.join_misses += 1;
        let id = self.machine_account(f.src, t);
        self.note_reach(t, id, Some(f.src), f.dst, f.dst_port, true);
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
            self.st.graph.learn(&obs);
        }
        if f.dst_port != 0 {
            self.st
                .graph
                .record_service(id, f.dst, f.dst_port, f.bytes, t);
        }
    }

    /// Adds to the reach record, when one is kept.
    fn note_reach(
        &mut self,
        t: Ts,
        identity: Sym,
        src: Option<Sym>,
        dst: Sym,
        port: u16,
        flow: bool,
    ) {
        if let Some((from, log)) = &mut self.reach {
            if t >= *from {
                crate::reach_log::record(log, t, identity, src, dst, port, flow);
            }
        }
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

    pub(super) fn observe(&mut self, obs: Observation, out: &mut Vec<Alert>) {
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
        self.st.graph.learn(&obs);
    }
}
