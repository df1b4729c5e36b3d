//! The alert record: what reachwatch tells a responder. Its JSON form is the native alert schema.

use serde::{Deserialize, Serialize, Serializer};

/// A time in seconds, written as an integer when whole (`3600`) and with milliseconds otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl Seconds {
    /// Seconds of an event time in milliseconds.
    pub fn from_ms(ms: crate::Ts) -> Seconds {
        Seconds(ms as f64 / 1000.0)
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            s.serialize_f64(self.0)
        } else if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64((self.0 * 1000.0).round() / 1000.0)
        }
    }
}

/// Alert severity, from the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Score below 50.
    Low,
    /// Score 50–69.
    Medium,
    /// Score 70–89.
    High,
    /// Score 90 and above.
    Critical,
}

impl Severity {
    /// The severity band of a score.
    pub fn from_score(score: u32) -> Severity {
        match score {
            90.. => Severity::Critical,
            70..=89 => Severity::High,
            50..=69 => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One feature that contributed to a score, with its explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureHit {
    /// Feature name (`new_source`, `new_edge`, `fan_out`, …).
    pub name: String,
    /// Points it added (negative for mitigating context such as peer support).
    pub weight: i32,
    /// Human-readable explanation with the baseline it was compared against.
    pub detail: String,
}

/// One observation absorbed into an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Event time in seconds.
    pub time: Seconds,
    /// Identity used.
    pub identity: String,
    /// Source host, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// Destination host.
    pub dst: String,
    /// Service or port, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `auth`, `auth_failure` or `flow`.
    pub via: String,
}

/// What the identity normally does, at the time of the alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// First time the identity was seen (seconds).
    pub first_seen: Seconds,
    /// Observations of the identity so far.
    pub observations: u64,
    /// Distinct destinations it reaches.
    pub destinations: u32,
    /// Its first sources (up to 4).
    pub sources: Vec<String>,
    /// Host groups it reaches (up to 10).
    pub destination_groups: Vec<String>,
    /// Authentication protocols it used.
    pub protocols: Vec<String>,
}

/// Peer context for the destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Peers {
    /// The identity's peer group (name stem or rule-defined group).
    pub group: String,
    /// Identities of that group that reach the destination.
    pub group_reaching_dst: u32,
    /// Identities of any kind that reach the destination.
    pub identities_reaching_dst: u32,
}

/// Everything a responder needs to judge the alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Features that fired on the strongest observation, strongest first.
    pub features: Vec<FeatureHit>,
    /// The identity's baseline before this incident.
    pub baseline: Baseline,
    /// Peer support for the strongest observation's destination.
    pub peers: Peers,
    /// Credential-switching path (hops in time order), when one was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<Step>,
    /// Every observation grouped into this alert (capped), in time order.
    pub observations: Vec<Step>,
    /// Number of observations grouped, including any beyond the cap.
    pub observation_count: u32,
    /// Distinct destinations in the incident.
    pub destinations: Vec<String>,
    /// First and last event time of the incident (seconds).
    pub first_time: Seconds,
    /// Last event time of the incident (seconds).
    pub last_time: Seconds,
}

/// A lateral-movement alert: one per identity and incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the same input and rules always give the same id (for downstream deduplication).
    pub id: String,
    /// Event time of the first observation, in seconds (relative for LANL input unless a base is set).
    pub time: Seconds,
    /// The same time as RFC 3339, when the input carries absolute time or a base time was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The identity.
    pub identity: String,
    /// Its kind.
    pub identity_kind: String,
    /// Source of the strongest observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// Destination of the strongest observation.
    pub dst: String,
    /// Service or port of the strongest observation, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Detection that fired (`new-source`, `novel-reach`, `fan-out`, …).
    pub rule: String,
    /// Severity band.
    pub severity: Severity,
    /// Score 0–100.
    pub score: u32,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    /// One-line explanation.
    pub summary: String,
    /// Set when a record that arrived after the watermark had passed it (but within the late
    /// window) made the incident: processed out of order, as it arrived.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub late: bool,
    /// How far behind the watermark that record was, in seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub late_by: Option<Seconds>,
    /// The evidence.
    pub evidence: Evidence,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_integers_when_whole() {
        assert_eq!(
            serde_json::to_string(&Seconds::from_ms(3_600_000)).unwrap(),
            "3600"
        );
        assert_eq!(
            serde_json::to_string(&Seconds::from_ms(1_500)).unwrap(),
            "1.5"
        );
    }

    #[test]
    fn severity_bands() {
        assert_eq!(Severity::from_score(10), Severity::Low);
        assert_eq!(Severity::from_score(50), Severity::Medium);
        assert_eq!(Severity::from_score(75), Severity::High);
        assert_eq!(Severity::from_score(100), Severity::Critical);
    }
}
