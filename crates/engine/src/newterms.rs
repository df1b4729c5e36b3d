//! The "new terms" reference detector (as in Elastic's new-terms rules): an alert for every
//! (identity, destination) first seen after the learning period, successful logons only. It is
//! the yardstick reachwatch's detection quality is compared against.

use crate::graph::FxMap;
use reachwatch_model::{
    AuthEvent, Classifier, IdentityKind, Interner, Orientation, Outcome, Sym, Ts,
};

/// A first-seen (identity, destination) pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTerm {
    /// Event time (ms).
    pub time: Ts,
    /// Identity.
    pub identity: Sym,
    /// Source host.
    pub src: Option<Sym>,
    /// Destination host.
    pub dst: Sym,
}

/// New-terms detector over machine identities.
pub struct NewTerms {
    learn: Ts,
    start: Option<Ts>,
    seen: FxMap<(Sym, Sym), ()>,
    kinds: FxMap<Sym, IdentityKind>,
    classifier: Classifier,
}

impl NewTerms {
    /// A detector with the given learning period.
    pub fn new(learn: Ts, classifier: Classifier) -> Self {
        NewTerms {
            learn,
            start: None,
            seen: FxMap::default(),
            kinds: FxMap::default(),
            classifier,
        }
    }

    /// Observes an authentication (in time order); returns an alert for a new term.
    pub fn observe(&mut self, a: &AuthEvent, syms: &Interner) -> Option<NewTerm> {
        let start = *self.start.get_or_insert(a.time);
        if a.orientation != Orientation::LogOn || a.outcome != Outcome::Success {
            return None;
        }
        let kind = *self
            .kinds
            .entry(a.identity)
            .or_insert_with(|| self.classifier.classify(syms.resolve(a.identity)));
        if kind != IdentityKind::Machine {
            return None;
        }
        let new = self.seen.insert((a.identity, a.dst), ()).is_none();
        (new && a.time >= start + self.learn).then_some(NewTerm {
            time: a.time,
            identity: a.identity,
            src: a.src,
            dst: a.dst,
        })
    }
}
