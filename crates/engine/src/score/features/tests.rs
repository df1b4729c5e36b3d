//! Each feature on a small hand-built graph: it fires in the situation that defines it and not
//! in the nearest one that does not.

use super::FEATURES;
use crate::graph::{Graph, IdentityProfile};
use crate::observation::{ChainLink, Observation, Via};
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
        self.g.host(&mut self.syms, &self.rules, h, t);
        h
    }

    fn identity(&mut self, name: &str, t: Ts) -> Sym {
        let id = self.sym(name);
        if !self.g.identities.contains_key(&id) {
            let group = crate::graph::group_of(&mut self.syms, id);
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
            bytes: 0,
        }
    }

    /// Learns an authentication (as the engine does after scoring it).
    fn learn(&mut self, id: &str, src: &str, dst: &str, t: Ts) {
        let o = self.obs(id, src, dst, t);
        self.g.learn(&o);
    }

    /// Learns an authentication `n` times a day apart, ending at `t` (an established edge).
    fn learn_days(&mut self, id: &str, src: &str, dst: &str, t: Ts, n: i64) {
        for k in (0..n).rev() {
            self.learn(id, src, dst, t - k * DAY);
        }
    }

    /// Recomputes the structure learned from behaviour (as the engine does daily).
    fn relearn(&mut self, now: Ts) {
        let structure = crate::structure::learn(&self.g, &self.syms, &[], now);
        self.g.set_structure(structure);
    }

    fn fired_with(&self, o: &Observation, chain: Option<&ChainLink>) -> Vec<Feature> {
        let profile = &self.g.identities[&o.identity];
        let cx = Context::new(&self.g, &self.rules, &self.syms, profile, o, chain);
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
fn dst_group_novel_fires_for_a_destination_unlike_every_host_reached() {
    // Anonymous names: only behaviour says which hosts are alike. C1 and C2 are reached by
    // the same identities, C3 and C4 by others.
    let mut fx = Fx::new();
    for id in ["S1", "S2", "S3"] {
        for dst in ["C1", "C2"] {
            fx.learn_days(id, "C9", dst, T - DAY, 3);
        }
    }
    for id in ["S4", "S5"] {
        for dst in ["C3", "C4"] {
            fx.learn_days(id, "C8", dst, T - DAY, 3);
        }
    }
    fx.learn_days("S6", "C9", "C1", T - DAY, 3);
    fx.relearn(T - DAY);
    let alike = fx.obs("S6", "C9", "C2", T);
    let unlike = fx.obs("S6", "C9", "C3", T);
    assert!(fx.fires(&alike, Feature::NewEdge));
    assert!(
        !fx.fires(&alike, Feature::DstGroupNovel),
        "one more host of its kind"
    );
    assert!(fx.fires(&unlike, Feature::DstGroupNovel));
}

#[test]
fn dst_group_novel_needs_no_name_and_ignores_uninformative_names() {
    // Hosts share a name stem but not their reachers: the stem says nothing, behaviour decides.
    let mut fx = Fx::new();
    for id in ["svc_a1", "svc_a2"] {
        fx.learn_days(id, "APP-01", "PROD-DB-01", T - DAY, 3);
    }
    for id in ["svc_b1", "svc_b2"] {
        fx.learn_days(id, "APP-02", "PROD-DB-02", T - DAY, 3);
    }
    fx.learn_days("svc_a3", "APP-01", "PROD-DB-01", T - DAY, 3);
    fx.relearn(T - DAY);
    let other_community = fx.obs("svc_a3", "APP-01", "PROD-DB-02", T);
    assert!(fx.fires(&other_community, Feature::DstGroupNovel));
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
fn peer_support_fires_when_a_learned_peer_reaches_it() {
    // U1 and U2 reach the same hosts from the same source: peers, whatever their names.
    let mut fx = Fx::new();
    for id in ["U1", "U2"] {
        for dst in ["C1", "C2", "C3"] {
            fx.learn_days(id, "C9", dst, T - DAY, 3);
        }
    }
    fx.learn_days("U2", "C9", "C4", T - DAY, 3);
    fx.learn_days("U3", "C7", "C5", T - DAY, 3);
    fx.learn_days("U3", "C7", "C6", T - DAY, 3);
    fx.relearn(T - DAY);
    let supported = fx.obs("U1", "C9", "C4", T);
    let alone = fx.obs("U1", "C9", "C6", T);
    assert!(fx.fires(&supported, Feature::PeerSupport));
    assert!(
        !fx.fires(&alone, Feature::PeerSupport),
        "U3 is no peer of U1"
    );
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
    fx.host("A-01", 0);
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
fn a_fan_out_beyond_what_is_remembered_says_its_count_is_a_floor() {
    let mut fx = Fx::new();
    let o = fx.obs("svc_a", "A-01", "T-new", T);
    // As many as are remembered at most: with the new one, one more than can be counted.
    let others: Vec<Sym> = (0..256).map(|i| fx.sym(&format!("T-{i:03}"))).collect();
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    for &d in &others {
        p.recent_mut().novel.push_back((T - MINUTE, d));
    }
    let profile = &fx.g.identities[&o.identity];
    let cx = Context::new(&fx.g, &fx.rules, &fx.syms, profile, &o, None);
    assert_eq!(
        super::fan_out(&cx).as_deref(),
        Some("256 or more novel destinations within 10 min")
    );
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
fn src_group_novel_fires_for_a_source_of_a_role_never_used() {
    // C10 and C11 are servers (several identities log on to them over the network); C20 is a
    // workstation (a person logs on at its console, and it reaches more than reaches it).
    let mut fx = Fx::new();
    for id in ["S1", "S2"] {
        for server in ["C10", "C11"] {
            fx.learn_days(id, "C30", server, T - DAY, 3);
        }
    }
    let ws = fx.host("C20", DAY);
    fx.g.hosts.get_mut(&ws).unwrap().activity.console = 5;
    fx.learn_days("S3", "C10", "C40", T - DAY, 3);
    fx.relearn(T - DAY);
    let c10 = fx.sym("C10");
    assert_eq!(
        fx.g.structure.role(c10),
        Some(crate::structure::roles::Role::Server)
    );
    let server_like = fx.obs("S3", "C11", "C40", T);
    let workstation = fx.obs("S3", "C20", "C40", T);
    assert!(fx.fires(&server_like, Feature::NewSource));
    assert!(!fx.fires(&server_like, Feature::SrcGroupNovel));
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
fn failed_spray_fires_for_failures_against_enough_destinations_only() {
    let mut fx = Fx::new();
    let min = fx.rules.settings.failure_min_destinations as usize;
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    let targets: Vec<Sym> = (0..min).map(|i| fx.sym(&format!("T-0{i}"))).collect();
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    for &d in &targets[..min - 1] {
        p.recent_mut().failures.push_back((T - MINUTE, d));
    }
    o.via = Via::Failure;
    assert!(!fx.fires(&o, Feature::FailedSpray), "one short");
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    p.recent_mut().failures.push_back((T, targets[min - 1]));
    assert!(fx.fires(&o, Feature::FailedSpray));
    assert!(!fx.fires(&o, Feature::NewEdge), "failures reach nothing");
    o.via = Via::Auth;
    assert!(!fx.fires(&o, Feature::FailedSpray), "not a failure");
}

#[test]
fn slow_spray_fires_for_failures_spread_over_hours() {
    let mut fx = Fx::new();
    let min = fx.rules.settings.spray_min_destinations as i64;
    let window = fx.rules.settings.spray_window;
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    o.via = Via::Failure;
    // One failure every 25 minutes: never a burst, always within the spray window.
    let targets: Vec<Sym> = (0..min).map(|i| fx.sym(&format!("T-{i:02}"))).collect();
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    for (i, &d) in targets.iter().enumerate().skip(1) {
        p.recent_mut()
            .failures
            .push_back((T - (min - 1 - i as i64) * 25 * MINUTE, d));
    }
    assert!(25 * MINUTE * min < window);
    assert!(!fx.fires(&o, Feature::SlowSpray), "one short");
    assert!(!fx.fires(&o, Feature::FailedSpray), "never a burst");
    let p = fx.g.identities.get_mut(&o.identity).unwrap();
    p.recent_mut()
        .failures
        .push_front((T - (min - 1) * 25 * MINUTE, targets[0]));
    assert!(fx.fires(&o, Feature::SlowSpray));
    assert!(!fx.fires(&o, Feature::FailedSpray), "still never a burst");
}

#[test]
fn chain_fires_after_another_identity_logged_into_the_source() {
    let mut fx = Fx::new();
    fx.learn("admin_b", "JUMP-01", "VAULT-01", DAY);
    let o = fx.obs("admin_b", "HOST-7", "VAULT-02", T);
    let into_by_other = fx.obs("svc_a", "APP-01", "HOST-7", T - 5 * MINUTE);
    let into_by_self = fx.obs("admin_b", "APP-01", "HOST-7", T - 5 * MINUTE);
    assert!(fx
        .fired_with(&o, Some(&ChainLink::After(into_by_other)))
        .contains(&Feature::Chain));
    assert!(!fx
        .fired_with(&o, Some(&ChainLink::After(into_by_self)))
        .contains(&Feature::Chain));
    assert!(!fx.fired_with(&o, None).contains(&Feature::Chain));
}

#[test]
fn chain_fires_on_the_hop_in_when_a_person_made_the_hop_out() {
    let mut fx = Fx::new();
    let into = fx.obs("svc_a", "APP-01", "HOST-7", T);
    let person = fx.sym("U77");
    let group = fx.sym("u");
    fx.g.identities.insert(
        person,
        IdentityProfile::new(IdentityKind::Human, group, 0, T),
    );
    let mut out = fx.obs("svc_a", "HOST-7", "VAULT-01", T + 5 * MINUTE);
    out.identity = person;
    assert!(fx
        .fired_with(&into, Some(&ChainLink::Before(out)))
        .contains(&Feature::Chain));
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

#[test]
fn new_service_and_transfer_spike_fire_for_a_new_port_on_a_known_edge() {
    let mut fx = Fx::new();
    let mut o = fx.obs("svc_a", "A-01", "DB-01", T);
    for k in 0..10 {
        fx.g.record_service(o.identity, o.dst, 5985, 2_000, DAY + k * MINUTE);
    }
    o.via = Via::Service;
    o.port = 445;
    o.bytes = 50_000_000;
    let fired = fx.fired_with(&o, None);
    assert!(fired.contains(&Feature::NewService), "{fired:?}");
    assert!(fired.contains(&Feature::TransferSpike), "{fired:?}");
    o.bytes = 3_000;
    let fired = fx.fired_with(&o, None);
    assert!(fired.contains(&Feature::NewService));
    assert!(!fired.contains(&Feature::TransferSpike), "bytes as usual");
    o.via = Via::Auth;
    assert!(
        !fx.fires(&o, Feature::NewService),
        "not a flow on a new port"
    );
}

#[test]
fn calibration_marks_stable_identities_surprising_and_busy_ones_routine() {
    let mut fx = Fx::new();
    fx.learn("svc_stable", "A-01", "DB-01", DAY);
    fx.learn("svc_busy", "A-01", "DB-01", DAY);
    let stable = fx.obs("svc_stable", "A-02", "DB-01", T);
    let busy = fx.obs("svc_busy", "A-02", "DB-01", T);
    let novelty = |novel_days: u16| {
        let mut n = crate::structure::calibration::Novelty::default();
        for day in 2..10 {
            n.record(day, day - 2 < novel_days);
        }
        n
    };
    fx.g.identities.get_mut(&stable.identity).unwrap().novelty = novelty(0);
    fx.g.identities.get_mut(&busy.identity).unwrap().novelty = novelty(7);
    assert!(fx.fires(&stable, Feature::StableReach));
    assert!(!fx.fires(&stable, Feature::HabitualNovelty));
    assert!(fx.fires(&busy, Feature::HabitualNovelty));
    assert!(!fx.fires(&busy, Feature::StableReach));
    let usual = fx.obs("svc_stable", "A-01", "DB-01", T);
    assert!(!fx.fires(&usual, Feature::StableReach), "nothing new");
}
