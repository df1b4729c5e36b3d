//! Reach outside a least-reach policy, as a detection (detect-only enforcement): with a policy
//! in the rule set, every authentication and flow after learning is judged by it, and what it
//! does not allow is scored by the detections naming `outside_policy` and grouped into the
//! identity's policy incidents. The policy comes with the rules; the engine does no IO.

use super::Engine;
use crate::graph::FxMap;
use crate::observation::Observation;
use reachwatch_model::policy::{Reach, Verdict};
use reachwatch_model::{IdentityKind, Sym};

/// Verdicts remembered per (identity, source, destination, port).
pub(super) type Verdicts = FxMap<(Sym, Option<Sym>, Sym, u16), Verdict>;

/// Verdicts remembered before the memo starts afresh.
const MAX_VERDICTS: usize = 1 << 18;

impl Engine {
    /// Judges one reach against the rules' policy, if any, after learning; reach outside it is
    /// a policy match.
    pub(super) fn check_policy(&mut self, obs: Observation) {
        if self.st.learn_end.is_none_or(|end| obs.time < end) {
            return;
        }
        let Some(judge) = self.rules.policy.clone() else {
            return;
        };
        let key = (obs.identity, obs.src, obs.dst, obs.port);
        let verdict = match self.policy_verdicts.get(&key) {
            Some(&v) => v,
            None => {
                let v = judge.judge(&self.reach(&obs));
                self.remember(key, v);
                v
            }
        };
        let Verdict::Blocked(block) = verdict else {
            return;
        };
        let detail = judge.explain(&self.reach(&obs), block);
        self.st.stats.policy_violations += 1;
        self.score_and_group(obs, None, Some(detail));
    }

    /// The observation as the policy sees it: names, the identity's kind and environment.
    fn reach(&self, obs: &Observation) -> Reach<'_> {
        let g = &self.st.graph;
        let name = |s: Sym| self.st.syms.resolve(s);
        Reach {
            identity: name(obs.identity),
            kind: g
                .identities
                .get(&obs.identity)
                .map_or(IdentityKind::Unknown, |p| p.kind)
                .name(),
            env: g.identity_env(obs.identity),
            src: obs.src.map(name),
            dst: name(obs.dst),
            port: obs.port,
        }
    }

    fn remember(&mut self, key: (Sym, Option<Sym>, Sym, u16), verdict: Verdict) {
        if self.policy_verdicts.len() >= MAX_VERDICTS {
            self.policy_verdicts.clear();
        }
        self.policy_verdicts.insert(key, verdict);
    }
}
