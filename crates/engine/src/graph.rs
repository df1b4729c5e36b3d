//! The baseline reach graph: per identity, the destinations, services and sources it uses, with
//! first/last seen and counts; per host, who reaches it; per name group, which destinations the
//! group reaches; and the structure learned from all of it (roles, communities, peer groups).
//! Keys are interned symbols, so an edge costs a few dozen bytes.

use crate::observation::{Observation, Via};
use crate::structure::calibration::Novelty;
use crate::structure::roles::{HostActivity, Role};
use crate::structure::{Place, Structure};
use hashbrown::HashMap;
use reachwatch_model::classify::stem;
use reachwatch_model::time::DAY;
use reachwatch_model::{IdentityKind, Interner, Sym, Ts};
use reachwatch_rules::RuleSet;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::VecDeque;

/// Fast hash map keyed by symbols.
pub type FxMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// Fast hash set of symbols.
pub type FxSet<K> = hashbrown::HashSet<K, FxBuildHasher>;

/// A name group: its name (a name stem, or a group the rules name) interned in the engine's
/// symbol table, so that group names no state refers to go when the table is compacted.
pub type Group = Sym;

/// Uses after which an edge counts in the learned structure: a one-off (an attack's single
/// touch, say) teaches nothing about which hosts belong together.
pub const ESTABLISHED_USES: u32 = 2;

/// Novel destinations an identity's fan-out remembers at most: enough to tell any fan-out the
/// rules look for (`fanout_min`) and to count up to 256, so that a scan of many destinations
/// costs the same per event as a small one.
pub fn novel_kept(fanout_min: u32) -> usize {
    (fanout_min as usize).max(256)
}

/// Ports listed per edge (identity, destination), for service novelty and its explanation.
pub const MAX_LISTED_PORTS: usize = 8;

/// Usage statistics of one edge (identity → destination). Times are whole
/// seconds since the first event, to keep the record at 12 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// First time seen (seconds since the first event).
    pub first: u32,
    /// Last time seen (seconds since the first event).
    pub last: u32,
    /// Observations.
    pub count: u32,
}

impl Usage {
    fn new(t: u32) -> Self {
        Usage {
            first: t,
            last: t,
            count: 0,
        }
    }

    fn touch(&mut self, t: u32) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.count = self.count.saturating_add(1);
    }
}

/// Usage of one (identity, destination, port) edge, with the bytes of the flows attributed to it.
/// Packed to 4-byte alignment so that an entry with its key takes 32 bytes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[repr(C, packed(4))]
pub struct ServiceUsage {
    /// First, last and count.
    pub usage: Usage,
    /// Bytes attributed from flows.
    pub bytes: u64,
}

/// What the graph knows about one identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdentityProfile {
    /// Machine, human or unknown.
    pub kind: IdentityKind,
    /// Peer group (name stem unless rules say otherwise).
    pub group: Group,
    /// First observation time (ms).
    pub first_seen: Ts,
    /// Last observation time (ms).
    pub last_seen: Ts,
    /// Observations so far.
    pub observations: u64,
    /// Protocols used (bit mask of `AuthProtocol::bit`).
    pub protocols: u8,
    /// Logon types used (bit mask of `LogonType::bit`).
    pub logons: u16,
    /// Host groups it reaches.
    pub dst_groups: SmallVec<[Group; 4]>,
    /// Host groups it is used from.
    pub src_groups: SmallVec<[Group; 2]>,
    /// Distinct destinations.
    pub destinations: u32,
    /// First sources it was used from (up to [`MAX_LISTED_SOURCES`]), for evidence.
    pub sources: SmallVec<[Sym; MAX_LISTED_SOURCES]>,
    /// Fixed environment from the identity's rule group (attribute id, 0 to infer).
    pub env: u16,
    /// For a computer account (`HOST$`), its host: the identity lives where the host lives.
    pub home: Option<Sym>,
    /// Environments of the destinations it reached (bit `id - 1` per attribute id below 65).
    pub dst_envs: u64,
    /// Recent activity windows, allocated on the identity's first novel reach or failure.
    pub recent: Option<Box<Recent>>,
    /// Learned places (communities, workstations, hubs) of the destinations it reaches.
    pub places: SmallVec<[Place; 4]>,
    /// Learned roles of the sources it is used from (bit mask of `Role::bit`).
    pub src_roles: u8,
    /// Days with activity and with new reach, for calibration.
    pub novelty: Novelty,
}

/// Sources listed per identity in evidence.
pub const MAX_LISTED_SOURCES: usize = 4;

/// Short-lived per-identity windows (only identities that do something unusual have them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recent {
    /// Recent novel destinations (time, destination), for fan-out: those within the fan-out
    /// window, at most [`novel_kept`] of them.
    pub novel: VecDeque<(Ts, Sym)>,
    /// Recent failed authentications from a new source or to a new destination (time,
    /// destination), for sprays, fast and slow.
    pub failures: VecDeque<(Ts, Sym)>,
}

impl IdentityProfile {
    /// A profile first seen at `now`, with nothing learned yet.
    pub fn new(kind: IdentityKind, group: Group, env: u16, now: Ts) -> IdentityProfile {
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
            places: Default::default(),
            src_roles: 0,
            novelty: Novelty::default(),
        }
    }

    /// The identity's recent-activity windows, allocated on first use.
    pub fn recent_mut(&mut self) -> &mut Recent {
        self.recent.get_or_insert_with(Default::default)
    }

    /// Recent failed authentications.
    pub fn recent_failures(&self) -> impl Iterator<Item = &(Ts, Sym)> {
        self.recent.iter().flat_map(|r| r.failures.iter())
    }

    /// Distinct destinations of the recent failed authentications since `since`.
    pub fn distinct_failures(&self, since: Ts) -> usize {
        let mut failed: Vec<Sym> = self
            .recent_failures()
            .filter(|(t, _)| *t >= since)
            .map(|(_, d)| *d)
            .collect();
        failed.sort_unstable();
        failed.dedup();
        failed.len()
    }

    /// Recent novel destinations.
    pub fn recent_novel(&self) -> impl Iterator<Item = &(Ts, Sym)> {
        self.recent.iter().flat_map(|r| r.novel.iter())
    }
}

/// What the graph knows about one host.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostProfile {
    /// Host group (name stem unless the inventory says otherwise).
    pub group: Group,
    /// First time the host appeared as a destination or source (ms).
    pub first_seen: Ts,
    /// Last time the host appeared (ms).
    pub last_seen: Ts,
    /// Events the host appeared in (saturating).
    pub uses: u32,
    /// Identities that reach it.
    pub identities: u32,
    /// Times at which identities first reached it, most recent last (a few kept).
    pub recent_new: [Ts; 4],
    /// The host's own machine account (`HOST$`), once known.
    pub machine_account: Option<Sym>,
    /// Environment from the inventory (attribute id, 0 for none).
    pub env: u16,
    /// Zone from the inventory (attribute id, 0 for none).
    pub zone: u16,
    /// Role from the inventory (attribute id, 0 for none).
    pub role: u16,
    /// A crown jewel, per the inventory.
    pub crown_jewel: bool,
    /// How it is used (console and remote-interactive logons in, tickets received).
    pub activity: HostActivity,
}

/// The baseline reach graph.
#[derive(Default, Serialize, Deserialize)]
pub struct Graph {
    /// Identity profiles.
    pub identities: FxMap<Sym, IdentityProfile>,
    /// Host profiles.
    pub hosts: FxMap<Sym, HostProfile>,
    /// (identity, destination) edges.
    pub edges: FxMap<(Sym, Sym), Usage>,
    /// (identity, destination, port) edges, from flows.
    pub services: FxMap<(Sym, Sym, u16), ServiceUsage>,
    /// Edges first made by an observation that alerted: learned (they are not new again), but
    /// they teach the identity no new place, so the rest of that place stays novel for it.
    pub alerted_edges: FxSet<(Sym, Sym)>,
    /// The ports of each (identity, destination) edge's flows, first ones first.
    pub edge_ports: FxMap<(Sym, Sym), SmallVec<[u16; 2]>>,
    /// (identity, source) pairs, with the last time used.
    pub sources: FxMap<(Sym, Sym), u32>,
    /// (source host, destination host) pairs seen in any authentication or flow, with the last
    /// time seen: the host-level reach graph.
    pub host_edges: FxMap<(Sym, Sym), u32>,
    /// (peer group, destination) → identities of the group reaching it.
    pub group_reach: FxMap<(Group, Sym), u32>,
    /// Time of the first event: hosts present from the start are never new assets.
    pub data_start: Ts,
    /// Inventory attribute strings (environments, zones, roles); id 0 is "".
    pub attr_names: Vec<String>,
    /// Structure learned from behaviour.
    pub structure: Structure,
}

/// The group of a host or identity name: its name stem, interned.
pub fn group_of(syms: &mut Interner, name: Sym) -> Group {
    let stem = stem(syms.resolve(name));
    syms.intern(stem.as_bytes())
}

impl Graph {
    /// Whole seconds from the first event to `ts` (0 before it), the time unit of edge records.
    pub fn rel(&self, ts: Ts) -> u32 {
        ((ts - self.data_start).max(0) / 1000).min(u32::MAX as i64) as u32
    }

    /// The id of an inventory attribute string (0 for none).
    pub fn attr_id(&mut self, value: Option<&str>) -> u16 {
        let Some(v) = value else { return 0 };
        if self.attr_names.is_empty() {
            self.attr_names.push(String::new());
        }
        if let Some(i) = self
            .attr_names
            .iter()
            .position(|a| a.eq_ignore_ascii_case(v))
        {
            return i as u16;
        }
        if self.attr_names.len() >= u16::MAX as usize {
            return 0;
        }
        self.attr_names.push(v.to_string());
        (self.attr_names.len() - 1) as u16
    }

    /// The string of an attribute id.
    pub fn attr(&self, id: u16) -> &str {
        self.attr_names.get(id as usize).map_or("", String::as_str)
    }

    /// An identity's environment: its rule group's, else (a computer account) its host's.
    pub fn identity_env(&self, identity: Sym) -> Option<&str> {
        let p = self.identities.get(&identity)?;
        let env = |id: u16| (id != 0).then(|| self.attr(id));
        env(p.env).or_else(|| {
            p.home
                .and_then(|h| self.hosts.get(&h))
                .and_then(|h| env(h.env))
        })
    }

    /// Sets a host's inventory attributes from the rules.
    pub fn apply_inventory(&mut self, rules: &RuleSet, syms: &Interner, host: Sym) {
        let info = rules.inventory.lookup(syms.resolve(host));
        let env = self.attr_id(info.environment.as_deref());
        let zone = self.attr_id(info.zone.as_deref());
        let role = self.attr_id(info.role.as_deref());
        if let Some(h) = self.hosts.get_mut(&host) {
            (h.env, h.zone, h.role, h.crown_jewel) = (env, zone, role, info.crown_jewel);
        }
    }

    /// Counts one use of the hosts an event names (each once, a source equal to its
    /// destination included), creating their profiles on first sight.
    pub fn use_hosts(
        &mut self,
        syms: &mut Interner,
        rules: &RuleSet,
        (src, dst): (Option<Sym>, Sym),
        now: Ts,
    ) {
        for host in [Some(dst), src.filter(|s| *s != dst)].into_iter().flatten() {
            let h = self.host(syms, rules, host, now);
            h.uses = h.uses.saturating_add(1);
        }
    }

    /// The host profile, created on first sight (with its inventory attributes).
    pub fn host(
        &mut self,
        syms: &mut Interner,
        rules: &RuleSet,
        host: Sym,
        now: Ts,
    ) -> &mut HostProfile {
        if !self.hosts.contains_key(&host) {
            let group = group_of(syms, host);
            self.hosts.insert(
                host,
                HostProfile {
                    group,
                    first_seen: now,
                    last_seen: now,
                    uses: 0,
                    identities: 0,
                    recent_new: [Ts::MIN; 4],
                    machine_account: None,
                    env: 0,
                    zone: 0,
                    role: 0,
                    crown_jewel: false,
                    activity: HostActivity::default(),
                },
            );
            self.apply_inventory(rules, syms, host);
        }
        let h = self.hosts.get_mut(&host).expect("inserted");
        h.last_seen = h.last_seen.max(now);
        h
    }

    /// Did the host appear within `age` before `now`, after the first day of data?
    pub fn is_new_asset(&self, host: &HostProfile, now: Ts, age: Ts) -> bool {
        host.first_seen >= now - age
            && host.first_seen > self.data_start + reachwatch_model::time::DAY
    }

    /// Is the edge unknown or aged out?
    pub fn edge_is_new(&self, identity: Sym, dst: Sym, now: Ts, ttl: Ts) -> bool {
        self.edges
            .get(&(identity, dst))
            .is_none_or(|u| u.last < self.rel(now - ttl))
    }

    /// Is the source unknown or aged out for the identity?
    pub fn source_is_new(&self, identity: Sym, src: Sym, now: Ts, ttl: Ts) -> bool {
        self.sources
            .get(&(identity, src))
            .is_none_or(|&last| last < self.rel(now - ttl))
    }

    /// Day number (1-based) of `ts` since the first event, for calibration.
    pub fn day(&self, ts: Ts) -> u16 {
        ((ts - self.data_start).max(0) / DAY + 1).min(i64::from(u16::MAX)) as u16
    }

    /// Learns an observation: the identity's profile (last seen, protocols and logon types of
    /// authentications, first sources, days with new reach) and its edges.
    pub fn learn(&mut self, obs: &Observation) {
        let p = self
            .identities
            .get_mut(&obs.identity)
            .expect("identity profile");
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
        let novel = self.record_edge(obs.identity, obs.src, obs.dst, obs.time);
        let day = self.day(obs.time);
        let p = self
            .identities
            .get_mut(&obs.identity)
            .expect("identity profile");
        if obs.time >= p.first_seen + DAY {
            p.novelty.record(day, novel);
        }
    }

    /// Records that `identity` reached `dst` (and from `src`) at `now`. Returns true when the edge
    /// or the source is new.
    pub fn record_edge(&mut self, identity: Sym, src: Option<Sym>, dst: Sym, now: Ts) -> bool {
        let t = self.rel(now);
        let mut new = false;
        let usage = self.edges.entry((identity, dst)).or_insert_with(|| {
            new = true;
            Usage::new(t)
        });
        usage.touch(t);
        let established = usage.count == ESTABLISHED_USES;
        let (dst_group, dst_env) = self
            .hosts
            .get(&dst)
            .map_or((None, 0), |h| (Some(h.group), h.env));
        if new {
            if let Some(h) = self.hosts.get_mut(&dst) {
                h.identities += 1;
                h.recent_new.rotate_left(1);
                h.recent_new[3] = now;
            }
        }
        let id = self
            .identities
            .get_mut(&identity)
            .expect("identity profile");
        if new {
            id.destinations += 1;
            let group = id.group;
            *self.group_reach.entry((group, dst)).or_insert(0) += 1;
        }
        if established && !self.alerted_edges.contains(&(identity, dst)) {
            if let Some(place) = self.structure.place(dst) {
                if !id.places.contains(&place) {
                    id.places.push(place);
                }
            }
        }
        if let Some(g) = dst_group {
            if !id.dst_groups.contains(&g) {
                id.dst_groups.push(g);
            }
        }
        if (1..=64).contains(&dst_env) {
            id.dst_envs |= 1u64 << (dst_env - 1);
        }
        if let Some(src) = src {
            let mut src_new = false;
            let last = self.sources.entry((identity, src)).or_insert_with(|| {
                src_new = true;
                t
            });
            *last = (*last).max(t);
            let group = self.hosts.get(&src).map(|h| h.group);
            let id = self
                .identities
                .get_mut(&identity)
                .expect("identity profile");
            if let Some(g) = group {
                if !id.src_groups.contains(&g) {
                    id.src_groups.push(g);
                }
            }
            if src_new {
                id.src_roles |= self.structure.role(src).map_or(0, Role::bit);
            }
            new |= src_new;
        }
        new
    }

    /// Is the (identity, destination) edge part of the baseline's structure: used at least
    /// twice, and not first made by an observation that alerted?
    pub fn is_established(&self, edge: (Sym, Sym)) -> bool {
        self.edges
            .get(&edge)
            .is_some_and(|u| u.count >= ESTABLISHED_USES)
            && !self.alerted_edges.contains(&edge)
    }

    /// Replaces the learned structure and refreshes, from the established edges and the
    /// sources, the places and source roles of every identity.
    pub fn set_structure(&mut self, structure: Structure) {
        self.structure = structure;
        for p in self.identities.values_mut() {
            p.places.clear();
            p.src_roles = 0;
        }
        let mut edges: Vec<(Sym, Sym)> = self
            .edges
            .keys()
            .copied()
            .filter(|&e| self.is_established(e))
            .collect();
        edges.sort_unstable();
        for (id, dst) in edges {
            let Some(place) = self.structure.place(dst) else {
                continue;
            };
            if let Some(p) = self.identities.get_mut(&id) {
                if !p.places.contains(&place) {
                    p.places.push(place);
                }
            }
        }
        for &(id, src) in self.sources.keys() {
            let Some(role) = self.structure.role(src) else {
                continue;
            };
            if let Some(p) = self.identities.get_mut(&id) {
                p.src_roles |= role.bit();
            }
        }
    }

    /// Records a flow's service port and bytes on an identity's edge. Returns true when the
    /// (identity, destination, port) edge is new.
    pub fn record_service(
        &mut self,
        identity: Sym,
        dst: Sym,
        port: u16,
        bytes: u64,
        now: Ts,
    ) -> bool {
        let t = self.rel(now);
        let mut new = false;
        let u = self
            .services
            .entry((identity, dst, port))
            .or_insert_with(|| {
                new = true;
                ServiceUsage {
                    usage: Usage::new(t),
                    bytes: 0,
                }
            });
        let mut usage = u.usage;
        usage.touch(t);
        u.usage = usage;
        let total = u.bytes.saturating_add(bytes);
        u.bytes = total;
        if new {
            let ports = self.edge_ports.entry((identity, dst)).or_default();
            if ports.len() < MAX_LISTED_PORTS {
                ports.push(port);
            }
        }
        new
    }

    /// The flow history of an edge, leaving one port out: its ports, flows and bytes.
    pub fn edge_flows(&self, identity: Sym, dst: Sym, except: u16) -> EdgeFlows {
        let mut h = EdgeFlows::default();
        for &port in self.edge_ports.get(&(identity, dst)).into_iter().flatten() {
            if port == except {
                continue;
            }
            if let Some(u) = self.services.get(&(identity, dst, port)) {
                let usage = u.usage;
                h.ports.push(port);
                h.flows += u64::from(usage.count);
                h.bytes = h.bytes.saturating_add(u.bytes);
            }
        }
        h
    }

    /// Records that `src` reached `dst` at `now`; returns true when the host pair is new (or aged
    /// out after `ttl`).
    pub fn record_host_edge(&mut self, src: Sym, dst: Sym, now: Ts, ttl: Ts) -> bool {
        let t = self.rel(now);
        let cutoff = self.rel(now - ttl);
        let mut new = true;
        self.host_edges
            .entry((src, dst))
            .and_modify(|last| {
                new = *last < cutoff;
                *last = (*last).max(t);
            })
            .or_insert(t);
        new
    }

    /// Number of baseline edges: (identity, destination), (identity, destination, port),
    /// (identity, source) and (source host, destination host).
    pub fn edge_count(&self) -> usize {
        self.edges.len() + self.services.len() + self.sources.len() + self.host_edges.len()
    }

    /// Estimated heap bytes of the graph.
    pub fn estimated_bytes(&self) -> usize {
        fn map<K, V>(m: &FxMap<K, V>) -> usize {
            m.capacity() * (std::mem::size_of::<(K, V)>() + 1)
        }
        fn set<K>(s: &FxSet<K>) -> usize {
            s.capacity() * (std::mem::size_of::<K>() + 1)
        }
        let per_identity: usize = self
            .identities
            .values()
            .map(|p| {
                let spilled =
                    |spilled: bool, cap: usize, size: usize| if spilled { cap * size } else { 0 };
                spilled(p.dst_groups.spilled(), p.dst_groups.capacity(), 4)
                    + spilled(p.places.spilled(), p.places.capacity(), 8)
                    + spilled(p.src_groups.spilled(), p.src_groups.capacity(), 4)
                    + spilled(p.sources.spilled(), p.sources.capacity(), 4)
                    + p.recent.as_ref().map_or(0, |r| {
                        std::mem::size_of::<Recent>()
                            + (r.novel.capacity() + r.failures.capacity()) * 16
                    })
            })
            .sum();
        map(&self.identities)
            + map(&self.hosts)
            + map(&self.edges)
            + map(&self.services)
            + map(&self.edge_ports)
            + set(&self.alerted_edges)
            + self.structure.estimated_bytes()
            + map(&self.sources)
            + map(&self.host_edges)
            + map(&self.group_reach)
            + per_identity
    }
}

/// The flow history of one edge (some ports left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeFlows {
    /// Its ports.
    pub ports: SmallVec<[u16; 4]>,
    /// Flows on them.
    pub flows: u64,
    /// Bytes on them.
    pub bytes: u64,
}

impl EdgeFlows {
    /// Mean bytes per flow (0 with no flows).
    pub fn mean_bytes(&self) -> u64 {
        self.bytes.checked_div(self.flows).unwrap_or(0)
    }
}
