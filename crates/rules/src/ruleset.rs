//! The compiled rule set: what the engine runs with.

use crate::condition::Expr;
use crate::vocab::Feature;
use reachwatch_model::classify::glob_match;
use reachwatch_model::policy::Judge;
use reachwatch_model::{Classifier, IdentityKind, Severity, Ts};
use std::net::IpAddr;
use std::sync::Arc;

/// Windows, thresholds and limits (section `settings:`).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Learning period from the first event.
    pub learn: Ts,
    /// How far behind the latest event time an event may arrive and still be processed.
    pub lateness: Ts,
    /// How far ahead of the latest event time an event may be before it is clock skew.
    pub max_skew: Ts,
    /// How far behind the watermark a late event may be and still be processed (out of order,
    /// as it arrives); older ones are refused.
    pub late_window: Ts,
    /// A record this far ahead of its input's time is believed only once more records of the
    /// input follow it there; the input's next record back at the old time refutes it (clock
    /// skew). 0 turns the check off.
    pub max_jump: Ts,
    /// A flow may start this long before its authentication.
    pub join_before: Ts,
    /// A flow may start this long after its authentication.
    pub join_after: Ts,
    /// Authentications remembered per (source, destination) for the join.
    pub join_cap: usize,
    /// An edge or source unseen for this long is forgotten.
    pub edge_ttl: Ts,
    /// An identity first seen after learning is learned for this long before scoring.
    pub identity_grace: Ts,
    /// A host first seen less than this long ago is a new asset.
    pub new_asset_age: Ts,
    /// Destinations reached by at most this many identities are rare.
    pub rare_max_identities: u32,
    /// Window for counting novel destinations.
    pub fanout_window: Ts,
    /// Novel destinations within the window that make a fan-out.
    pub fanout_min: u32,
    /// Window for counting failed authentications.
    pub failure_window: Ts,
    /// Destinations with failures within the window that make a spray.
    pub failure_min_destinations: u32,
    /// Window for counting failures that accumulate slowly (a slow spray).
    pub spray_window: Ts,
    /// Destinations with failures within `spray_window` that make a slow spray.
    pub spray_min_destinations: u32,
    /// Window between a novel login into a host and a novel login out of it.
    pub chain_window: Ts,
    /// Silence after which an identity counts as dormant.
    pub dormant_after: Ts,
    /// Baseline observations needed before a protocol downgrade is judged.
    pub downgrade_min_observations: u64,
    /// Destinations an identity must have learned before its environment is inferred.
    pub env_min_destinations: u32,
    /// An identity whose calibrated share of days with new reach is at most this (percent) is stable.
    pub stable_novelty_pct: u32,
    /// An identity whose calibrated share of days with new reach is at least this (percent) is
    /// habitually novel.
    pub habitual_novelty_pct: u32,
    /// Weight, in days, of the peers' novelty rate in an identity's calibrated rate.
    pub novelty_prior_days: u32,
    /// A flow on a new service carries at least this many times the edge's mean bytes per flow
    /// to be a transfer spike.
    pub transfer_min_ratio: u64,
    /// ... and at least this many bytes.
    pub transfer_min_bytes: u64,
    /// An incident is emitted this long after its first match.
    pub incident_hold: Ts,
    /// Matches within this long of the incident's last match join it.
    pub incident_window: Ts,
    /// Default minimum score for a detection.
    pub alert_score: u32,
    /// Identity kinds that can alert.
    pub alert_kinds: Vec<IdentityKind>,
    /// Destination ports on which unauthenticated traffic counts as remote administration.
    pub admin_ports: Vec<u16>,
    /// Observations kept in an alert's evidence.
    pub max_evidence: usize,
    /// Bounds on the engine's state.
    pub limits: Limits,
}

/// Bounds on what the engine holds, so that names an attacker mints cannot exhaust memory
/// (settings `max_identities`, `max_hosts`, `max_edges`, `max_failures`, `state_ttl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Identity profiles held.
    pub identities: usize,
    /// Host profiles held.
    pub hosts: usize,
    /// Edges of every kind held: (identity, destination), (identity, destination, port),
    /// (identity, source) and (source host, destination host).
    pub edges: usize,
    /// Recent failed authentications remembered per identity.
    pub failures: usize,
    /// Identities and hosts unseen this long are forgotten.
    pub ttl: Ts,
}

impl Limits {
    /// (Source, destination) pairs the join remembers, and flows it queues: an eighth of the
    /// edge cap each.
    pub fn join_entries(&self) -> usize {
        (self.edges / 8).max(1)
    }
}

/// An explicit peer group of identities (section `identities.groups`).
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityGroup {
    /// Group name (used as the peer group).
    pub name: String,
    /// Glob patterns on the identity (lowercase).
    pub patterns: Vec<String>,
    /// Environment of the group's identities, if fixed.
    pub environment: Option<String>,
}

/// How hosts are matched in the inventory.
#[derive(Clone, Debug)]
pub enum HostMatch {
    /// Exact name (case-insensitive).
    Name(String),
    /// Glob on the name (lowercase).
    Glob(String),
    /// Regular expression on the name.
    Regex(regex::Regex),
    /// Network containing the host's IP address (host names that are IPs).
    Cidr(IpAddr, u8),
}

impl PartialEq for HostMatch {
    fn eq(&self, o: &Self) -> bool {
        match (self, o) {
            (HostMatch::Name(a), HostMatch::Name(b)) | (HostMatch::Glob(a), HostMatch::Glob(b)) => {
                a == b
            }
            (HostMatch::Regex(a), HostMatch::Regex(b)) => a.as_str() == b.as_str(),
            (HostMatch::Cidr(a, m), HostMatch::Cidr(b, n)) => a == b && m == n,
            _ => false,
        }
    }
}

impl HostMatch {
    /// Does the host match? `lower` is the host in lowercase.
    pub fn matches(&self, host: &str, lower: &str) -> bool {
        match self {
            HostMatch::Name(n) => n.eq_ignore_ascii_case(host),
            HostMatch::Glob(g) => glob_match(g, lower),
            HostMatch::Regex(r) => r.is_match(host),
            HostMatch::Cidr(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_cidr(ip, *net, *bits)),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// One inventory entry: hosts it matches and what it says about them. Later entries win for the
/// attributes they set.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRule {
    /// Which hosts.
    pub matcher: HostMatch,
    /// Environment (`production`, `staging`, …).
    pub environment: Option<String>,
    /// Network zone.
    pub zone: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Crown jewel.
    pub crown_jewel: Option<bool>,
}

/// What the inventory knows about a host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// Environment.
    pub environment: Option<String>,
    /// Zone.
    pub zone: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Crown jewel.
    pub crown_jewel: bool,
}

/// The inventory (section `inventory:`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// Host rules in order.
    pub hosts: Vec<HostRule>,
    /// Environments that count as production (lowercase).
    pub production: Vec<String>,
    /// Forbidden (source zone, destination zone) pairs (lowercase).
    pub forbidden_zones: Vec<(String, String)>,
    /// Address assignments (IP, host name): static addresses and DHCP reservations, so that
    /// address-only inputs join host-named ones.
    pub addresses: Vec<(String, String)>,
}

impl Inventory {
    /// Attributes of a host.
    pub fn lookup(&self, host: &str) -> HostInfo {
        let mut info = HostInfo::default();
        if self.hosts.is_empty() {
            return info;
        }
        let lower = host.to_ascii_lowercase();
        for r in self
            .hosts
            .iter()
            .filter(|r| r.matcher.matches(host, &lower))
        {
            if r.environment.is_some() {
                info.environment.clone_from(&r.environment);
            }
            if r.zone.is_some() {
                info.zone.clone_from(&r.zone);
            }
            if r.role.is_some() {
                info.role.clone_from(&r.role);
            }
            if let Some(c) = r.crown_jewel {
                info.crown_jewel = c;
            }
        }
        info
    }

    /// Is the environment a production one?
    pub fn is_production(&self, env: &str) -> bool {
        self.production.iter().any(|p| p.eq_ignore_ascii_case(env))
    }

    /// Does an identity of environment `identity_env` reaching a host of `host_env` cross
    /// environments: a non-production identity (its environment known) reaching production?
    /// The engine's `environment-crossing`, a policy's hard deny, the web view's marking.
    pub fn crosses(&self, identity_env: &str, host_env: &str) -> bool {
        !host_env.is_empty()
            && self.is_production(host_env)
            && !identity_env.is_empty()
            && !self.is_production(identity_env)
    }

    /// Is traffic from zone `from` to zone `to` forbidden?
    pub fn zone_forbidden(&self, from: &str, to: &str) -> bool {
        self.forbidden_zones
            .iter()
            .any(|(f, t)| f.eq_ignore_ascii_case(from) && t.eq_ignore_ascii_case(to))
    }
}

/// How a detection's severity is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeverityRule {
    /// From the score band.
    Auto,
    /// Fixed.
    Fixed(Severity),
}

/// A detection (section `detections:`).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Stable rule id, reported in alerts.
    pub id: String,
    /// What it means.
    pub description: String,
    /// When it fires.
    pub condition: Expr,
    /// The condition's source text.
    pub condition_text: String,
    /// Severity.
    pub severity: SeverityRule,
    /// Points added to the observation's score when it fires.
    pub weight: i32,
    /// Minimum score (after `weight`) for a match.
    pub min_score: u32,
    /// ATT&CK technique ids.
    pub attack: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Whether it runs.
    pub enabled: bool,
}

/// A suppression (section `exceptions:`): matches it covers are counted, not alerted.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    /// Name, reported in counters.
    pub name: String,
    /// Rule ids it applies to (empty: all).
    pub rules: Vec<String>,
    /// Identity globs (empty: any).
    pub identity: Vec<String>,
    /// Source host globs (empty: any).
    pub source: Vec<String>,
    /// Destination host globs (empty: any).
    pub destination: Vec<String>,
    /// Service globs (empty: any).
    pub service: Vec<String>,
    /// Only events at or after this time (ms since the Unix epoch, event time).
    pub from: Option<Ts>,
    /// Only events before this time.
    pub until: Option<Ts>,
    /// The exception stops applying at this time.
    pub expires: Option<Ts>,
    /// Why it exists.
    pub reason: String,
}

fn any_glob(pats: &[String], value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    pats.is_empty() || pats.iter().any(|p| glob_match(p, &v))
}

impl Exception {
    /// Does it cover a match of `rule` at event time `t` (absolute, ms)?
    pub fn covers(
        &self,
        rule: &str,
        identity: &str,
        src: &str,
        dst: &str,
        service: &str,
        t: Ts,
    ) -> bool {
        (self.rules.is_empty() || self.rules.iter().any(|r| r == rule))
            && any_glob(&self.identity, identity)
            && any_glob(&self.source, src)
            && any_glob(&self.destination, dst)
            && any_glob(&self.service, service)
            && self.from.is_none_or(|f| t >= f)
            && self.until.is_none_or(|u| t < u)
            && self.expires.is_none_or(|e| t < e)
    }
}

/// One event of a rule test.
#[derive(Clone, Debug, PartialEq)]
pub struct TestEvent {
    /// Time of the first occurrence (ms from the test's start).
    pub at: Ts,
    /// How many times it occurs.
    pub repeat: u32,
    /// Interval between occurrences.
    pub every: Ts,
    /// The record, as native JSON (`type` is `auth` or `flow`).
    pub record: TestRecord,
}

/// A test record: an authentication or a flow.
#[derive(Clone, Debug, PartialEq)]
pub enum TestRecord {
    /// Authentication: identity, source, destination, protocol, logon type, outcome.
    Auth {
        /// Identity.
        identity: String,
        /// Source host.
        src: Option<String>,
        /// Destination host.
        dst: String,
        /// Protocol name.
        protocol: String,
        /// Logon type name.
        logon_type: String,
        /// `success` or `failure`.
        outcome: String,
    },
    /// Flow: source, destination, port.
    Flow {
        /// Source host.
        src: String,
        /// Destination host.
        dst: String,
        /// Destination port.
        port: u16,
        /// Bytes of the flow.
        bytes: u64,
    },
}

/// An expected alert of a rule test.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Rule id.
    pub rule: String,
    /// Identity.
    pub identity: String,
    /// Destination, if given.
    pub dst: Option<String>,
}

/// A rule test (section `tests:`).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleTest {
    /// Name.
    pub name: String,
    /// Where it was defined (`file:line:column`).
    pub origin: String,
    /// Learning period for the test.
    pub learn: Ts,
    /// Input events.
    pub events: Vec<TestEvent>,
    /// Alerts expected (exactly these, in any order).
    pub expect: Vec<Expect>,
}

/// A compiled, validated rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSet {
    /// Settings.
    pub settings: Settings,
    /// Feature weights, indexed by [`Feature::index`].
    pub weights: [i32; Feature::ALL.len()],
    /// Machine identity patterns (lowercase globs).
    pub machine: Vec<String>,
    /// Unknown identity patterns.
    pub unknown: Vec<String>,
    /// Explicit identity groups.
    pub groups: Vec<IdentityGroup>,
    /// Inventory.
    pub inventory: Inventory,
    /// Detections in priority order.
    pub detections: Vec<Detection>,
    /// Exceptions.
    pub exceptions: Vec<Exception>,
    /// Rule tests.
    pub tests: Vec<RuleTest>,
    /// Files compiled, in order.
    pub files: Vec<String>,
    /// Hash of the files' names and contents, in order (identifies the active rule set).
    pub hash: u64,
    /// A least-reach policy to report reach outside of (detections naming `outside_policy`);
    /// not part of the rule files: the command or the run configuration gives it.
    pub policy: Option<Arc<Judge>>,
}

impl RuleSet {
    /// The same rules judging reach against this policy (or none).
    pub fn with_policy(mut self, policy: Option<Arc<Judge>>) -> RuleSet {
        self.policy = policy;
        self
    }

    /// Weight of a feature.
    pub fn weight(&self, f: Feature) -> i32 {
        self.weights[f.index()]
    }

    /// The identity classifier these rules define.
    pub fn classifier(&self) -> Classifier {
        Classifier::new(&self.machine, &self.unknown)
    }

    /// The explicit group of an identity, if any.
    pub fn group_of(&self, identity: &str) -> Option<&IdentityGroup> {
        let lower = identity.to_ascii_lowercase();
        let principal = reachwatch_model::classify::principal(&lower);
        self.groups.iter().find(|g| {
            g.patterns
                .iter()
                .any(|p| glob_match(p, &lower) || glob_match(p, principal))
        })
    }

    /// The hash as 16 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

impl Default for Settings {
    /// The settings of the embedded default rules.
    fn default() -> Self {
        crate::builtin().settings
    }
}
