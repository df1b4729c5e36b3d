//! Identity and host profiles created on first sight.

use super::Engine;
use crate::graph::{group_of, IdentityProfile};
use reachwatch_model::classify::principal;
use reachwatch_model::{Sym, Ts};

impl Engine {
    pub(super) fn profile(&mut self, identity: Sym, now: Ts) -> &mut IdentityProfile {
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
    pub(super) fn new_profile(&mut self, identity: Sym, now: Ts) {
        let name = self.st.syms.resolve(identity).to_string();
        let kind = self.classifier.classify(&name);
        let rule_group = self.rules.group_of(&name);
        let env = rule_group.and_then(|g| g.environment.clone());
        let group = match rule_group {
            Some(g) => self.st.syms.intern(g.name.as_bytes()),
            None => group_of(&mut self.st.syms, identity),
        };
        let env = self.st.graph.attr_id(env.as_deref());
        self.st
            .graph
            .identities
            .insert(identity, IdentityProfile::new(kind, group, env, now));
        // A computer account `HOST$` is its host's machine identity.
        if let Some(host) = principal(&name).strip_suffix('$') {
            let host = self.st.syms.intern(host.as_bytes());
            if let Some(p) = self.st.graph.identities.get_mut(&identity) {
                p.home = Some(host);
            }
            self.st
                .graph
                .host(&mut self.st.syms, &self.rules, host, now)
                .machine_account = Some(identity);
        }
    }

    pub(super) fn machine_account(&mut self, host: Sym, now: Ts) -> Sym {
        if let Some(id) = self
            .st
            .graph
            .host(&mut self.st.syms, &self.rules, host, now)
            .machine_account
        {
            // Its profile may have been evicted since (bounded state).
            self.profile(id, now);
            return id;
        }
        let name = format!("{}$", self.st.syms.resolve(host));
        let id = self.st.syms.intern(name.as_bytes());
        self.profile(id, now);
        id
    }
}
