//! Matches grouped into incidents, and incidents emitted as alerts when due.

use super::Engine;
use crate::graph::Group;
use crate::incident::{service_name, Best, Incident, MAX_INCIDENT};
use crate::observation::{ChainLink, Observation};
use crate::score::score;
use crate::score_log::ScoredObservation;
use reachwatch_model::{Alert, AuthProtocol, Baseline, IdentityKind, Peers, Seconds, Sym, Ts};

impl Engine {
    pub(super) fn emit_due(&mut self, now: Ts, out: &mut Vec<Alert>) {
        for policy in [false, true] {
            loop {
                let book = if policy {
                    &mut self.st.policy_incidents
                } else {
                    &mut self.st.incidents
                };
                let Some(&(at, id)) = book.due.first() else {
                    break;
                };
                if at >= now {
                    break;
                }
                book.due.pop_first();
                let Some(inc) = book.open.get_mut(&id) else {
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
    }

    /// Scores an observation of an alerting identity (linked to a credential-switching chain,
    /// if any) and groups a match into its incident. With `outside_policy` (what a given policy
    /// does not allow about it), the observation is judged by the policy detections and grouped
    /// into the identity's policy incidents instead.
    pub(super) fn score_and_group(
        &mut self,
        obs: Observation,
        chain: Option<&ChainLink>,
        outside_policy: Option<String>,
    ) {
        let policy = outside_policy.is_some();
        let profile = &self.st.graph.identities[&obs.identity];
        let scored = score(
            &self.st.graph,
            &self.rules,
            &self.st.syms,
            profile,
            &obs,
            chain,
            outside_policy,
        );
        if let Some(log) = self.scores.as_mut().filter(|_| !policy) {
            log.push(ScoredObservation {
                time: obs.time,
                identity: obs.identity,
                src: obs.src,
                dst: obs.dst,
                score: scored.score,
            });
        }
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
            if scored.edge_new && !policy {
                if let Some(inc) = self.st.incidents.open.get_mut(&obs.identity) {
                    if !inc.emitted {
                        inc.add(step, obs.dst, t, None, self.rules.settings.max_evidence);
                    }
                }
            }
            return;
        }
        self.st.stats.matches += 1;
        if scored.edge_new && !policy && obs.via != crate::observation::Via::Failure {
            self.st.graph.alerted_edges.insert((obs.identity, obs.dst));
        }
        let path = match chain {
            Some(link) if scored.hits.iter().any(|h| h.name == "chain") => match *link {
                ChainLink::After(into) => vec![into, step],
                ChainLink::Before(out) => vec![step, out],
            },
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
        let late = self.st.late;
        let book = if policy {
            &mut self.st.policy_incidents
        } else {
            &mut self.st.incidents
        };
        match book.open.get_mut(&obs.identity) {
            Some(inc) if !inc.emitted => {
                inc.add(
                    step,
                    obs.dst,
                    t,
                    Some(best),
                    self.rules.settings.max_evidence,
                );
                if let Some(by) = late {
                    inc.mark_late(by);
                }
            }
            Some(inc) if t <= inc.last_match + window && t <= inc.opened + MAX_INCIDENT => {
                inc.absorbed += 1;
                inc.last_match = t;
                self.st.stats.absorbed += 1;
            }
            _ => {
                let mut inc = Incident::open(best, step, self.rules.settings.incident_hold);
                if let Some(by) = late {
                    inc.mark_late(by);
                }
                book.due.insert((inc.emit_at, obs.identity));
                book.open.insert(obs.identity, inc);
            }
        }
    }

    pub(super) fn baseline(&self, identity: Sym) -> Baseline {
        let p = &self.st.graph.identities[&identity];
        let group = |g: &Group| self.st.syms.resolve(*g).to_string();
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

    pub(super) fn peers(&self, identity: Sym, dst: Sym) -> Peers {
        let p = &self.st.graph.identities[&identity];
        Peers {
            group: self.st.syms.resolve(p.group).to_string(),
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
