//! Each feature on a small hand-built graph: it fires in the situation that defines it and not
//! in the nearest one that does not.

use super::FEATURES;
use crate::graph::{Graph, IdentityProfile};
use crate::observation::{Observation, Via};
use crate::score::context::Context;
use reachwatch_model::time::{DAY, MINUTE};
use reachwatch_model::{AuthProtocol, IdentityKind, Interner, LogonType, Sym, Ts};
use reachwatch_rules::{Feature, RuleSet};

/// A graph, the shipped rules (their example inventory names `PROD-*`, `STG-*`, `DC-*`, `WS-*`)
/// and a symbol table.
struct Fx {
    g: Graph,
    rules: RuleSet,
    syms: Interner,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            g: Graph::default(),
            rules: reachwatch_rules::builtin(),
            syms: Interner::new(),
        }
    }

    fn sym(&mut self, name: &str) -> Sym {
        self.syms.intern(name.as_bytes())
    }

    fn host(&mut self, name: &str, t: Ts) -> Sym {
        let h = self.sym(name);
        self.g.host(&self.syms, &self.rules, h, t);
        h
    }

    fn identity(&mut self, name: &str, t: Ts) -> Sym {
        let id = self.sym(name);
        if !self.g.identities.contains_key(&id) {
            let group = self.g.group_of(name);
            let profile = IdentityProfile::new(IdentityKind::Machine, group, 0, t);
            self.g.identities.insert(id, profile);
        }
        id
    }

    /// A Kerberos network authentication of `id` from `src` to `dst` at `t` (hosts and identity
    /// created on first sight, as the engine does).
    fn obs(&mut self, id: &str, src: &str, dst: &str, t: Ts) -> Observation {
        Observation {
            time: t,
            identity: self.identity(id, t),
            src: Some(self.host(src, t)),
            dst: self.host(dst, t),
            port: 0,
            service: None,
            protocol: AuthProtocol::Kerberos,
            logon: LogonType::Network,
            via: Via::Auth,
        }
    }

    /// Learns an authentication (as the engine does after scoring it).
    fn learn(&mut self, id: &str, src: &str, dst: &str, t: Ts) {
        let o = self.obs(id, src, dst, t);
        self.g.learn(&o);
    }

    fn fired_with(&self, o: &Observation, chain_from: Option<(Sym, Ts)>) -> Vec<Feature> {
        let profile = &self.g.identities[&o.identity];
        let cx = Context::new(&self.g, &self.rules, &self.syms, profile, o, chain_from);
        FEATURES
            .iter()
            .filter(|(_, test)| test(&cx).is_some())
            .map(|&(f, _)| f)
            .collect()
    }

    fn fires(&self, o: &Observation, f: Feature) -> bool {
        self.fired_with(o, None).contains(&f)
    }
}

const T: Ts = 10 * DAY;

#[test]
fn new_edge_fires_for_a_destination_never_reached() {
    let mut fx = Fx::new();
    fx.learn("svc_a", "APP-01", "DB-01", DAY);
    let known = fx.obs("svc_a", "APP-01", "DB-01", T);
    let new = fx.obs("svc_a", "APP-01", "DB-02", T);
    assert!(fx.fires(&new, Feature::NewEdge));
    assert!(!fx.fires(&known, Feature::NewEdge));
}

#[test]
fn dst_group_novel_fires_for_a_group_never_reached() {
    let mut fx = Fx::new();
    fx.learn("svc_a", "APP-01", "PROD-DB-01", DAY);
    let same_group = fx.obs("svc_a", "APP-01", "PROD-DB-02", T);
    let other_group = fx.obs("svc_a", "APP-01", "PROD-WEB-01", T);
    assert!(fx.fires(&same_group, Feature::NewEdge));
    assert!(!fx.fires(&same_group, Feature::DstGroupNovel));
    assert!(fx.fires(&other_group, Feature::DstGroupNovel));
}

#[test]
fn rare_dst_fires_for_a_destination_few_identities_reach() {
    let mut fx = Fx::new();
    for i in 0..5 {
        fx.learn(&format!("svc_{i}"), "APP-01", "FS-01", DAY);
    }
    fx.learn("svc_0", "APP-01", "VAULT-01", DAY);
    let rare = fx.obs("svc_9", "APP-01", "VAULT-01", T);
    let common = fx.obs("svc_9", "APP-01", "FS-01", T);
    assert!(fx.fires(&rare, Feature::RareDst));
    assert!(!fx.fires(&common, Feature::RareDst));
}

#[test]
fn peer_support_fires_when_the_peer_group_reaches_it() {
    let mut fx = Fx::new();
    fx.learn("svc_app02", "APP-02", "CACHE-01", DAY);
    let supported = fx.obs("svc_app01", "APP-01", "CACHE-01", T);
    let alone = fx.obs("svc_app01", "APP-01", "CACHE-09", T);
    assert!(fx.fires(&supported, Feature::PeerSupport));
    assert!(!fx.fires(&alone, Feature::PeerSupport));
}

#[test]
fn rollout_fires_when_others_started_reaching_it_within_a_day() {
    let mut fx = Fx::new();
    fx.learn("svc_x", "A-01", "NEW-01", T - 2 * DAY);
    fx.learn("svc_y", "A-01", "NEW-01", T - 2 * DAY);
    fx.learn("svc_x", "A-01", "NEW-02", T - 3 * 60 * MINUTE);
    fx.learn("svc_y", "A-01", "NEW-02", T - 60 * MINUTE);
    let recent = fx.obs("svc_z", "A-01", "NEW-02", T);
    let old = fx.obs("svc_z", "A-01", "NEW-01", T);
    assert!(fx.fires(&recent, Feature::Rollout));
    assert!(!fx.fires(&old, Feature::Rollout));
}

#[test]
fn new_asset_fires_for_a_host_that_appeared_recently() {
    let mut fx = Fx::new();
    fx.host("OLD-01", 0);
    fx.host("NEW-01", T - DAY);
    let new = fx.obs("svc_a", "A-01", "NEW-01", T);
    let old = fx.obs("svc_a", "A-01", "OLD-01", T);
    assert!(fx.fires(&new, Feature::NewAsset));
    assert!(!fx.fires(&old, Feature::NewAsset));
}

#[test]
fn fan_out_fires_at_the_configured_number_of_novel_destinations() {
    let mut fx = Fx::new();
    let o = fx.obs("svc_a", "A-01", "T-09", T);
    let min = fx.rules.settings.fanout_min as usize;
    let others: Vec<Sym> = (0..min).map(|i| fx.sym(&format!("T-0{i}"))).collect();
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    for &d in &others[..min - 2] {
        p.recent_mut().novel.push_back((T - MINUTE, d));
    }
    assert!(!fx.fires(&o, Feature::FanOut), "one short");
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    p.recent_mut()
        .novel
        .push_back((T - MINUTE, others[min - 2]));
    assert!(fx.fires(&o, Feature::FanOut));
}

#[test]
fn crown_jewel_fires_for_an_inventory_crown_jewel() {
    let mut fx = Fx::new();
    let dc = fx.obs("svc_a", "A-01", "DC-01", T);
    let fs = fx.obs("svc_a", "A-01", "FS-01", T);
    assert!(fx.fires(&dc, Feature::CrownJewel));
    assert!(!fx.fires(&fs, Feature::CrownJewel));
}

#[test]
fn env_crossing_fires_for_a_non_production_identity_reaching_production() {
    let mut fx = Fx::new();
    for dst in ["STG-WEB-01", "STG-DB-01"] {
        fx.learn("svc_deploy", "CI-DEV-01", dst, DAY);
    }
    fx.learn("svc_prod", "PROD-APP-01", "PROD-DB-01", DAY);
    fx.learn("svc_prod", "PROD-APP-01", "PROD-WEB-01", DAY);
    let crossing = fx.obs("svc_deploy", "CI-DEV-01", "PROD-WEB-02", T);
    let at_home = fx.obs("svc_prod", "PROD-APP-01", "PROD-WEB-02", T);
    assert!(fx.fires(&crossing, Feature::EnvCrossing));
    assert!(!fx.fires(&at_home, Feature::EnvCrossing));
}

#[test]
fn new_source_fires_for_authentications_from_a_new_host_only() {
    let mut fx = Fx::new();
    fx.learn("svc_a", "BATCH-01", "DB-01", DAY);
    let usual = fx.obs("svc_a", "BATCH-01", "DB-01", T);
    let mut new = fx.obs("svc_a", "BATCH-02", "DB-01", T);
    assert!(fx.fires(&new, Feature::NewSource));
    assert!(!fx.fires(&usual, Feature::NewSource));
    new.via = Via::Flow;
    assert!(
        !fx.fires(&new, Feature::NewSource),
        "flows do not name a credential's source"
    );
}

#[test]
fn src_group_novel_fires_for_a_source_group_never_used() {
    let mut fx = Fx::new();
    fx.learn("svc_a", "BATCH-01", "DB-01", DAY);
    let same_group = fx.obs("svc_a", "BATCH-02", "DB-01", T);
    let workstation = fx.obs("svc_a", "WS-0001", "DB-01", T);
    assert!(!fx.fires(&same_group, Feature::SrcGroupNovel));
    assert!(fx.fires(&workstation, Feature::SrcGroupNovel));
}

#[test]
fn zone_crossing_fires_for_a_forbidden_zone_pair() {
    let mut fx = Fx::new();
    let forbidden = fx.obs("svc_a", "WS-0001", "PROD-WEB-01", T);
    let allowed = fx.obs("svc_a", "PROD-APP-01", "PROD-WEB-01", T);
    assert!(fx.fires(&forbidden, Feature::ZoneCrossing));
    assert!(!fx.fires(&allowed, Feature::ZoneCrossing));
}

#[test]
fn flow_only_fires_for_admin_ports_on_a_new_edge_without_authentication() {
    let mut fx = Fx::new();
    let mut flow = fx.obs("A-01$", "A-01", "B-01", T);
    flow.via = Via::Flow;
    flow.port = 445;
    assert!(fx.fires(&flow, Feature::FlowOnly));
    flow.port = 8080;
    assert!(!fx.fires(&flow, Feature::FlowOnly), "not an admin port");
    flow.port = 445;
    flow.via = Via::Auth;
    assert!(!fx.fires(&flow, Feature::FlowOnly), "an authentication");
}

#[test]
fn auth_downgrade_fires_for_ntlm_where_the_baseline_is_kerberos() {
    let mut fx = Fx::new();
    let min = fx.rules.settings.downgrade_min_observations;
    for i in 0..min {
        fx.learn("svc_a", "A-01", "DB-01", DAY + i as Ts);
    }
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    assert!(!fx.fires(&o, Feature::AuthDowngrade));
    o.protocol = AuthProtocol::Ntlm;
    assert!(fx.fires(&o, Feature::AuthDowngrade));
    let mut young = fx.obs("svc_b", "A-01", "DB-01", T);
    fx.learn("svc_b", "A-01", "DB-01", DAY);
    young.protocol = AuthProtocol::Ntlm;
    assert!(
        !fx.fires(&young, Feature::AuthDowngrade),
        "too little baseline"
    );
}

#[test]
fn interactive_fires_for_a_logon_type_never_used() {
    let mut fx = Fx::new();
    fx.learn("svc_a", "A-01", "DB-01", DAY);
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    o.logon = LogonType::RemoteInteractive;
    assert!(fx.fires(&o, Feature::Interactive));
    fx.g.learn(&o);
    assert!(!fx.fires(&o, Feature::Interactive), "it did so before");
}

#[test]
fn failed_spray_fires_for_failures_only() {
    let mut fx = Fx::new();
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    assert!(!fx.fires(&o, Feature::FailedSpray));
    o.via = Via::Failure;
    assert!(fx.fires(&o, Feature::FailedSpray));
    assert!(!fx.fires(&o, Feature::NewEdge), "failures reach nothing");
}

#[test]
fn chain_fires_after_another_identity_logged_into_the_source() {
    let mut fx = Fx::new();
    fx.learn("admin_b", "JUMP-01", "VAULT-01", DAY);
    let o = fx.obs("admin_b", "HOST-7", "VAULT-02", T);
    let other = fx.identity("svc_a", T);
    assert!(fx
        .fired_with(&o, Some((other, T - 5 * MINUTE)))
        .contains(&Feature::Chain));
    assert!(!fx
        .fired_with(&o, Some((o.identity, T - 5 * MINUTE)))
        .contains(&Feature::Chain));
    assert!(!fx.fired_with(&o, None).contains(&Feature::Chain));
}

#[test]
fn dormant_fires_for_an_identity_silent_longer_than_the_threshold() {
    let mut fx = Fx::new();
    let after = fx.rules.settings.dormant_after;
    fx.learn("svc_a", "A-01", "DB-01", DAY);
    fx.learn("svc_b", "A-01", "DB-01", DAY + after);
    let t = DAY + after + DAY;
    let dormant = fx.obs("svc_a", "A-01", "DB-02", t);
    let active = fx.obs("svc_b", "A-01", "DB-02", t);
    assert!(fx.fires(&dormant, Feature::Dormant));
    assert!(!fx.fires(&active, Feature::Dormant));
}
