//! The vocabulary conditions are written in: engine features, numeric and text fields.

/// A feature the engine computes for every scored observation. Each has a weight in the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The identity never reached this destination (or not within the edge TTL).
    NewEdge,
    /// The destination is unlike every host the identity reaches: its learned community (or, when
    /// names carry meaning, its name group) is new to the identity.
    DstGroupNovel,
    /// Few identities reach the destination.
    RareDst,
    /// Identities of the same peer group (learned from behaviour, or named in the rules) already
    /// reach the destination.
    PeerSupport,
    /// Several other identities started reaching the destination within a day.
    Rollout,
    /// The destination appeared recently.
    NewAsset,
    /// The identity was never used from this source.
    NewSource,
    /// The identity was never used from a host of the source's learned role (or name group).
    SrcGroupNovel,
    /// NTLM or cleartext where the baseline is Kerberos only.
    AuthDowngrade,
    /// Interactive or remote-interactive logon by an identity that never logged on that way.
    Interactive,
    /// Several novel destinations within the fan-out window.
    FanOut,
    /// Failed authentications against many destinations within the failure window.
    FailedSpray,
    /// A novel login into the source host by another identity shortly before.
    Chain,
    /// The identity was silent for longer than the dormancy threshold.
    Dormant,
    /// Admin-port traffic to a never-seen host pair with no authentication.
    FlowOnly,
    /// A non-production identity reaching a production host.
    EnvCrossing,
    /// A source→destination zone pair that the inventory forbids.
    ZoneCrossing,
    /// The destination is a crown jewel.
    CrownJewel,
    /// Failed authentications from a new source or to new destinations, spread over hours.
    SlowSpray,
    /// A flow on a port never used on an edge the identity has used for a day or more.
    NewService,
    /// That flow carries many times the bytes the edge's flows usually carry.
    TransferSpike,
    /// Novel reach by an identity whose own history (and its peers') says it rarely changes.
    StableReach,
    /// Novel reach by an identity that reaches something new most days.
    HabitualNovelty,
    /// The reach is outside the least-reach policy the engine was given (only with a policy;
    /// detections naming it report policy violations, apart from the behavioural ones).
    OutsidePolicy,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 24] = [
        Feature::NewEdge,
        Feature::DstGroupNovel,
        Feature::RareDst,
        Feature::PeerSupport,
        Feature::Rollout,
        Feature::NewAsset,
        Feature::NewSource,
        Feature::SrcGroupNovel,
        Feature::AuthDowngrade,
        Feature::Interactive,
        Feature::FanOut,
        Feature::FailedSpray,
        Feature::Chain,
        Feature::Dormant,
        Feature::FlowOnly,
        Feature::EnvCrossing,
        Feature::ZoneCrossing,
        Feature::CrownJewel,
        Feature::SlowSpray,
        Feature::NewService,
        Feature::TransferSpike,
        Feature::StableReach,
        Feature::HabitualNovelty,
        Feature::OutsidePolicy,
    ];

    /// The name used in rule files and alert evidence.
    pub fn name(self) -> &'static str {
        match self {
            Feature::NewEdge => "new_edge",
            Feature::DstGroupNovel => "dst_group_novel",
            Feature::RareDst => "rare_dst",
            Feature::PeerSupport => "peer_support",
            Feature::Rollout => "rollout",
            Feature::NewAsset => "new_asset",
            Feature::NewSource => "new_source",
            Feature::SrcGroupNovel => "src_group_novel",
            Feature::AuthDowngrade => "auth_downgrade",
            Feature::Interactive => "interactive",
            Feature::FanOut => "fan_out",
            Feature::FailedSpray => "failed_spray",
            Feature::Chain => "chain",
            Feature::Dormant => "dormant",
            Feature::FlowOnly => "flow_only",
            Feature::EnvCrossing => "env_crossing",
            Feature::ZoneCrossing => "zone_crossing",
            Feature::CrownJewel => "crown_jewel",
            Feature::SlowSpray => "slow_spray",
            Feature::NewService => "new_service",
            Feature::TransferSpike => "transfer_spike",
            Feature::StableReach => "stable_reach",
            Feature::HabitualNovelty => "habitual_novelty",
            Feature::OutsidePolicy => "outside_policy",
        }
    }

    /// The feature with this name.
    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Dense index, for weight tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A numeric field of an observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumField {
    /// The observation's score from feature weights.
    Score,
    /// Service port (flows), 0 when unknown.
    Port,
    /// Novel destinations of the identity within the fan-out window.
    NovelDestinations,
    /// Destinations with failed authentications within the failure window.
    FailedDestinations,
    /// Identities that reach the destination.
    DstIdentities,
    /// Identities of the peer group that reach the destination.
    PeersReachingDst,
    /// Observations of the identity so far.
    Observations,
}

/// A text field of an observation (compared case-insensitively).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextField {
    /// The identity.
    Identity,
    /// `machine`, `human` or `unknown`.
    IdentityKind,
    /// The identity's peer group.
    IdentityGroup,
    /// The identity's environment (from identity classes, else inferred from its baseline).
    IdentityEnv,
    /// Source host.
    Src,
    /// Destination host.
    Dst,
    /// Source environment (inventory).
    SrcEnv,
    /// Destination environment (inventory).
    DstEnv,
    /// Source zone (inventory).
    SrcZone,
    /// Destination zone (inventory).
    DstZone,
    /// Destination role (inventory).
    DstRole,
    /// Service name or port.
    Service,
    /// Authentication protocol.
    Protocol,
    /// Logon type.
    LogonType,
    /// `auth`, `auth_failure`, `flow`, `service` or `joined_flow`.
    Via,
}

/// Numeric field names.
pub const NUM_FIELDS: [(&str, NumField); 7] = [
    ("score", NumField::Score),
    ("port", NumField::Port),
    ("novel_destinations", NumField::NovelDestinations),
    ("failed_destinations", NumField::FailedDestinations),
    ("dst.identities", NumField::DstIdentities),
    ("dst.peers", NumField::PeersReachingDst),
    ("identity.observations", NumField::Observations),
];

/// Text field names.
pub const TEXT_FIELDS: [(&str, TextField); 15] = [
    ("identity", TextField::Identity),
    ("identity.kind", TextField::IdentityKind),
    ("identity.group", TextField::IdentityGroup),
    ("identity.env", TextField::IdentityEnv),
    ("src", TextField::Src),
    ("dst", TextField::Dst),
    ("src.env", TextField::SrcEnv),
    ("dst.env", TextField::DstEnv),
    ("src.zone", TextField::SrcZone),
    ("dst.zone", TextField::DstZone),
    ("dst.role", TextField::DstRole),
    ("service", TextField::Service),
    ("protocol", TextField::Protocol),
    ("logon_type", TextField::LogonType),
    ("via", TextField::Via),
];

/// What a condition can ask about an observation.
pub trait Facts {
    /// Did the feature fire?
    fn feature(&self, f: Feature) -> bool;
    /// A numeric field.
    fn number(&self, f: NumField) -> f64;
    /// A text field ("" when unknown).
    fn text(&self, f: TextField) -> &str;
}
