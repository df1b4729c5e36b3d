//! What-if replay: history goes through the engine's join (authentications, the flows joined to
//! them, flows attributed to their source host's machine account), with no scoring and no
//! thresholds, and every reach is judged against a proposed policy. The result is the breakage
//! list (what the policy would have blocked, by identity and path), blocked events per day, the
//! alerts whose paths it would have cut and, on generated data, the campaigns it would have cut.

use crate::model::{Block, Judge, Policy, Reach, Verdict};
use crate::time::DAY_SECONDS;
use anyhow::{Context, Result};
use reachwatch_engine::Engine;
use reachwatch_gen::Campaign;
use reachwatch_model::Alert;
use reachwatch_replay::{replay_prepared, ReplayFormats, ReplayOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

/// What to replay and what to compare.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Inputs, format and rules of the replay (alerts are not written).
    pub replay: ReplayOptions,
    /// Per-input formats and address resolution.
    pub formats: ReplayFormats,
    /// Judge only reach at or after this time (seconds, the input's clock).
    pub from: Option<i64>,
    /// Alerts (native JSON lines) whose paths to check.
    pub alerts: Option<PathBuf>,
    /// Labelled campaigns (`labels.jsonl` of `reachwatch generate`) to check.
    pub labels: Option<PathBuf>,
}

/// Counts of judged events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Events of identities in scope.
    pub judged: u64,
    /// Of those, allowed.
    pub allowed: u64,
    /// Of those, blocked.
    pub blocked: u64,
    /// Blocked authentications.
    pub blocked_auth: u64,
    /// Blocked flows.
    pub blocked_flows: u64,
    /// Events of identities outside the policy's scope.
    pub out_of_scope: u64,
}

/// One blocked path: an identity from a source to a destination, for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockedPath {
    /// Identity.
    pub identity: String,
    /// Source host (empty when unknown).
    pub src: String,
    /// Destination host.
    pub dst: String,
    /// Why (`no-grant`, `source`, `destination`, `port`, `hard-deny`).
    pub reason: String,
    /// The hard deny's reason, for `hard-deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Destination ports of the blocked flows (0 for authentications).
    pub ports: BTreeSet<u16>,
    /// Blocked events.
    pub events: u64,
    /// First blocked event (seconds).
    pub first: i64,
    /// Last blocked event (seconds).
    pub last: i64,
    /// Days with a blocked event.
    pub days: u64,
}

/// Events of one day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    /// Day index (event time / 24 h).
    pub day: i64,
    /// Events judged.
    pub judged: u64,
    /// Events blocked.
    pub blocked: u64,
    /// Labelled attack events blocked that day (with `labels`).
    pub attack_blocked: u64,
    /// Blocked events that are not labelled attack events: `blocked − attack_blocked`.
    pub benign_blocked: u64,
}

/// Whether the policy would have cut one alert's or campaign's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathCut {
    /// Alert or campaign id.
    pub id: String,
    /// Detection rule or campaign kind.
    pub what: String,
    /// The identities involved.
    pub identities: Vec<String>,
    /// Steps (events) judged.
    pub steps: u64,
    /// Steps the policy blocks.
    pub blocked: u64,
    /// At least one step blocked: the path is cut.
    pub cut: bool,
    /// The first blocked step, or why nothing was blocked.
    pub why: String,
}

/// The result of a what-if replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Event counts.
    pub counts: Counts,
    /// Blocked paths, most events first.
    pub blocked: Vec<BlockedPath>,
    /// Per day.
    pub days: Vec<Day>,
    /// Alerts (with `alerts`).
    pub alerts: Vec<PathCut>,
    /// Campaigns (with `labels`).
    pub campaigns: Vec<PathCut>,
}

/// Kind and environment of the identities the replay saw, by name.
type Identities = HashMap<String, (&'static str, Option<String>)>;

fn identities_of(engine: &Engine) -> Identities {
    let g = engine.graph();
    let syms = engine.symbols();
    g.identities
        .iter()
        .map(|(&s, p)| {
            let env = g.identity_env(s).map(str::to_string);
            (syms.resolve(s).to_string(), (p.kind.name(), env))
        })
        .collect()
}

/// A judge for names the replay saw (unknown identities count as kind `unknown`).
struct Judging {
    judge: Judge,
    ids: Identities,
}

impl Judging {
    fn judge(&self, identity: &str, src: Option<&str>, dst: &str, port: u16) -> Verdict {
        let (kind, env) = self
            .ids
            .get(identity)
            .map_or(("unknown", None), |(k, e)| (*k, e.as_deref()));
        self.judge.judge(&Reach {
            identity,
            kind,
            env,
            src,
            dst,
            port,
        })
    }

    fn explain(&self, v: Verdict) -> (String, Option<String>) {
        match v {
            Verdict::Blocked(Block::Denied(i)) => (
                Block::Denied(i).name().to_string(),
                Some(self.judge.policy().denies[i].reason.clone()),
            ),
            Verdict::Blocked(b) => (b.name().to_string(), None),
            Verdict::Allowed => ("allowed".into(), None),
            Verdict::OutOfScope => ("out-of-scope".into(), None),
        }
    }
}

/// Replays the inputs and judges everything reached against the policy.
pub fn check(policy: &Policy, opts: &CheckOptions) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let from_ms = opts.from.unwrap_or(i64::MIN / 1000).saturating_mul(1000);
    let mut alerts = vec![];
    if let Some(p) = &opts.alerts {
        alerts = reachwatch_hunt::alerts::read_alert_lines(p)?;
    }
    let campaigns = match &opts.labels {
        Some(p) => reachwatch_gen::read_labels(p)
            .with_context(|| format!("cannot read the labels {}", p.display()))?,
        None => vec![],
    };
    replay_prepared(
        &opts.replay,
        &opts.formats,
        |engine| engine.record_reach(from_ms),
        |_| {},
        |engine| {
            let cx = Judging {
                judge: Judge::new(policy),
                ids: identities_of(engine),
            };
            judge_log(&cx, engine, &mut report);
            report.alerts = alerts.iter().map(|a| alert_cut(&cx, a)).collect();
            report.campaigns = campaigns
                .iter()
                .map(|c| campaign_cut(&cx, c, opts.from, &mut report.days))
                .collect();
            Ok(())
        },
    )?;
    for d in &mut report.days {
        d.benign_blocked = d.blocked.saturating_sub(d.attack_blocked);
    }
    Ok(report)
}

/// A blocked path's key: identity, source, destination, reason.
type PathKey = (String, String, String, String);

/// Judges the engine's reach record into counts, blocked paths and days.
fn judge_log(cx: &Judging, engine: &Engine, report: &mut CheckReport) {
    let Some(log) = engine.reach_log() else {
        return;
    };
    let syms = engine.symbols();
    let mut paths: BTreeMap<PathKey, (BlockedPath, BTreeSet<i64>)> = BTreeMap::new();
    let mut days: BTreeMap<i64, Day> = BTreeMap::new();
    let c = &mut report.counts;
    for (k, u) in log {
        let identity = syms.resolve(k.identity);
        let src = k.src.map(|s| syms.resolve(s));
        let dst = syms.resolve(k.dst);
        let v = cx.judge(identity, src, dst, k.port);
        if v == Verdict::OutOfScope {
            c.out_of_scope += u.count;
            continue;
        }
        c.judged += u.count;
        let day = days.entry(k.day).or_insert_with(|| Day {
            day: k.day,
            ..Day::default()
        });
        day.judged += u.count;
        if v == Verdict::Allowed {
            c.allowed += u.count;
            continue;
        }
        c.blocked += u.count;
        day.blocked += u.count;
        if k.flow {
            c.blocked_flows += u.count;
        } else {
            c.blocked_auth += u.count;
        }
        let (reason, detail) = cx.explain(v);
        let src = src.unwrap_or_default().to_string();
        let key = (
            identity.to_string(),
            src.clone(),
            dst.to_string(),
            reason.clone(),
        );
        let (p, pdays) = paths.entry(key).or_insert_with(|| {
            (
                BlockedPath {
                    identity: identity.to_string(),
                    src,
                    dst: dst.to_string(),
                    reason,
                    detail,
                    ports: BTreeSet::new(),
                    events: 0,
                    first: i64::MAX,
                    last: i64::MIN,
                    days: 0,
                },
                BTreeSet::new(),
            )
        });
        p.ports.insert(k.port);
        p.events += u.count;
        p.first = p.first.min(u.first.div_euclid(1000));
        p.last = p.last.max(u.last.div_euclid(1000));
        pdays.insert(k.day);
    }
    report.blocked = paths
        .into_values()
        .map(|(mut p, d)| {
            p.days = d.len() as u64;
            p
        })
        .collect();
    report.blocked.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| (&a.identity, &a.src, &a.dst).cmp(&(&b.identity, &b.src, &b.dst)))
    });
    report.days = days.into_values().collect();
}

/// Is one path (steps of identity, source, destination, port) cut, and why (not)?
fn path_cut<'a>(
    cx: &Judging,
    id: &str,
    what: &str,
    steps: impl Iterator<Item = (&'a str, Option<&'a str>, &'a str, u16)>,
) -> (PathCut, Vec<usize>) {
    let mut judged = 0;
    let mut blocked_at = vec![];
    let mut first_block = None;
    let mut identities = BTreeSet::new();
    let mut scopes = BTreeSet::new();
    let mut allowed = BTreeSet::new();
    for (i, (identity, src, dst, port)) in steps.enumerate() {
        judged += 1;
        identities.insert(identity.to_string());
        let v = cx.judge(identity, src, dst, port);
        match v {
            Verdict::Blocked(_) => {
                blocked_at.push(i);
                if first_block.is_none() {
                    let (reason, detail) = cx.explain(v);
                    let port = if port == 0 {
                        String::new()
                    } else {
                        format!(":{port}")
                    };
                    first_block = Some(format!(
                        "{identity} {} → {dst}{port} blocked ({reason}{})",
                        src.unwrap_or("?"),
                        detail.map(|d| format!(": {d}")).unwrap_or_default()
                    ));
                }
            }
            Verdict::OutOfScope => {
                let kind = cx.ids.get(identity).map_or("unknown", |(k, _)| k);
                scopes.insert(format!("{identity} ({kind}) is outside the policy's scope"));
            }
            Verdict::Allowed => {
                let port = if port == 0 {
                    "auth".to_string()
                } else {
                    format!("port {port}")
                };
                allowed.insert(format!("{identity} {} → {dst} {port}", src.unwrap_or("?")));
            }
        }
    }
    let why = first_block.unwrap_or_else(|| {
        let mut parts: Vec<String> = scopes.into_iter().collect();
        if !allowed.is_empty() {
            let list: Vec<String> = allowed.iter().take(3).cloned().collect();
            parts.push(format!(
                "every other step is on an allowed path: {}{}",
                list.join("; "),
                if allowed.len() > 3 { "; …" } else { "" }
            ));
        }
        if parts.is_empty() {
            "no step to judge".into()
        } else {
            parts.join("; ")
        }
    });
    (
        PathCut {
            id: id.to_string(),
            what: what.to_string(),
            identities: identities.into_iter().collect(),
            steps: judged,
            blocked: blocked_at.len() as u64,
            cut: !blocked_at.is_empty(),
            why,
        },
        blocked_at,
    )
}

/// An alert's path: its observations and credential-switching hops, failures left out (they
/// reached nothing).
fn alert_cut(cx: &Judging, a: &Alert) -> PathCut {
    let steps = a
        .evidence
        .path
        .iter()
        .chain(&a.evidence.observations)
        .filter(|s| s.via != "auth_failure")
        .map(|s| {
            let port = s
                .service
                .as_deref()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            (s.identity.as_str(), s.src.as_deref(), s.dst.as_str(), port)
        });
    path_cut(cx, &a.id, &a.rule, steps).0
}

/// A labelled campaign's events; blocked ones at or after `from` count towards their day.
fn campaign_cut(cx: &Judging, c: &Campaign, from: Option<i64>, days: &mut [Day]) -> PathCut {
    let steps = c.events.iter().map(|e| {
        (
            e.identity.as_str(),
            Some(e.src.as_str()),
            e.dst.as_str(),
            e.port.unwrap_or(0),
        )
    });
    let (cut, blocked_at) = path_cut(cx, &c.id, &c.kind, steps);
    for i in blocked_at {
        let t = c.events[i].time;
        if from.is_some_and(|f| t < f) {
            continue;
        }
        let day = t.div_euclid(DAY_SECONDS);
        if let Some(d) = days.iter_mut().find(|d| d.day == day) {
            d.attack_blocked += 1;
        }
    }
    cut
}
