//! Detection quality against labels: which campaigns were detected, how many alerts were false,
//! for reachwatch and for the "new terms" reference detector on the same data; and the ranking
//! each makes of everything it scored (see [`ranking`] for how average precision is computed).

pub mod ranking;

pub use ranking::{Ranking, Scored};

use crate::replay::{replay_prepared, ReplayFormats, ReplayOptions, ReplaySummary};
use anyhow::{Context, Result};
use reachwatch_engine::newterms::NewTerms;
use reachwatch_engine::Engine;
use reachwatch_formats::lines::{decode_guarded, for_each_line};
use reachwatch_formats::{decoder, Format, Stream};
use reachwatch_gen::Campaign;
use reachwatch_model::{Alert, Classifier, Event, Interner, Ts};
use serde::Serialize;
use std::path::Path;

/// How close in time (seconds) an alert must be to a campaign event to detect it.
pub const MATCH_WINDOW_SECS: f64 = 3600.0;

/// The parts of an alert that evaluation looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct Flagged {
    /// Alert time (seconds).
    pub time: f64,
    /// Identity.
    pub identity: String,
    /// Hosts the alert names (source, destination, grouped destinations).
    pub hosts: Vec<String>,
}

impl From<&Alert> for Flagged {
    fn from(a: &Alert) -> Self {
        let mut hosts: Vec<String> = a.src.iter().cloned().collect();
        hosts.push(a.dst.clone());
        hosts.extend(a.evidence.destinations.iter().cloned());
        for step in a.evidence.path.iter().chain(&a.evidence.observations) {
            hosts.extend(step.src.iter().cloned());
            hosts.push(step.dst.clone());
        }
        Flagged {
            time: a.time.0,
            identity: a.identity.clone(),
            hosts,
        }
    }
}

/// One row of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    /// Detector name.
    pub detector: String,
    /// Labelled campaigns.
    pub campaigns: usize,
    /// Campaigns detected.
    pub detected: usize,
    /// Alerts after the learning period.
    pub alerts: usize,
    /// Alerts that match no campaign.
    pub false_alerts: usize,
    /// Days after the learning period.
    pub days: f64,
    /// False alerts per day.
    pub false_per_day: f64,
    /// Kinds of the campaigns missed.
    pub missed: Vec<String>,
    /// The ranking of everything the detector scored, when known.
    pub ranking: Option<Ranking>,
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Does the alert name the campaign's identity and one of its hosts, close in time?
pub fn matches(f: &Flagged, c: &Campaign, window: f64) -> bool {
    c.identities.iter().any(|i| eq(i, &f.identity))
        && f.hosts.iter().any(|h| c.hosts.iter().any(|ch| eq(ch, h)))
        && c.events
            .iter()
            .any(|e| (e.time as f64 - f.time).abs() <= window)
}

/// Scores alerts against campaigns. Alerts before `learn_end_secs` are ignored.
pub fn evaluate(
    detector: &str,
    flagged: &[Flagged],
    campaigns: &[Campaign],
    learn_end_secs: f64,
    end_secs: f64,
) -> EvalRow {
    let after: Vec<&Flagged> = flagged
        .iter()
        .filter(|f| f.time >= learn_end_secs)
        .collect();
    let mut missed = vec![];
    let mut detected = 0;
    for c in campaigns {
        if after.iter().any(|f| matches(f, c, MATCH_WINDOW_SECS)) {
            detected += 1;
        } else {
            missed.push(c.kind.clone());
        }
    }
    let false_alerts = after
        .iter()
        .filter(|f| !campaigns.iter().any(|c| matches(f, c, MATCH_WINDOW_SECS)))
        .count();
    let days = ((end_secs - learn_end_secs) / 86_400.0).max(1e-9);
    EvalRow {
        detector: detector.into(),
        campaigns: campaigns.len(),
        detected,
        alerts: after.len(),
        false_alerts,
        days,
        false_per_day: false_alerts as f64 / days,
        missed,
        ranking: None,
    }
}

/// A replay with every scored observation recorded, grouped into ranked items.
pub struct ScoredReplay {
    /// What the replay did.
    pub summary: ReplaySummary,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Every scored observation, grouped per identity and clock hour ([`ranking::items`]).
    pub items: Vec<Scored>,
    /// The learning period the replay ran with (ms).
    pub learn: Ts,
}

impl ScoredReplay {
    /// End of learning and last event time, in seconds.
    pub fn span_secs(&self) -> (f64, f64) {
        let s = |t: Option<Ts>| t.unwrap_or(0) as f64 / 1000.0;
        (s(self.summary.learn_end), s(self.summary.last_time))
    }
}

/// Replays with the engine recording every observation it scores.
pub fn replay_scored(opts: &ReplayOptions) -> Result<ScoredReplay> {
    let mut alerts = vec![];
    let mut items = vec![];
    let summary = replay_prepared(
        opts,
        &ReplayFormats::default(),
        Engine::record_scores,
        |a| alerts.push(a.clone()),
        |engine| {
            let syms = engine.symbols();
            items = ranking::items(engine.scores().iter().map(|o| {
                ranking::ScoredStep {
                    flagged: Flagged {
                        time: o.time as f64 / 1000.0,
                        identity: syms.resolve(o.identity).to_string(),
                        hosts: o
                            .src
                            .into_iter()
                            .chain([o.dst])
                            .map(|h| syms.resolve(h).to_string())
                            .collect(),
                    },
                    score: f64::from(o.score),
                }
            }));
            Ok(())
        },
    )?;
    Ok(ScoredReplay {
        summary,
        alerts,
        items,
        learn: opts.rules.settings.learn,
    })
}

/// The reachwatch row (alerts and ranking of a scored replay) and the new-terms row (over the
/// authentications in `auth`, with the same learning period) for a scenario's campaigns.
pub fn compare(run: &ScoredReplay, campaigns: &[Campaign], auth: &Path) -> Result<[EvalRow; 2]> {
    let (learn_end, end) = run.span_secs();
    let flagged: Vec<Flagged> = run.alerts.iter().map(Flagged::from).collect();
    let mut rw = evaluate("reachwatch", &flagged, campaigns, learn_end, end);
    rw.ranking = Some(ranking::rank(&run.items, campaigns, learn_end, rw.days));
    let nt_flagged = new_terms(auth, Format::Lanl, run.learn)?;
    let mut nt = evaluate("new-terms", &nt_flagged, campaigns, learn_end, end);
    let nt_items = ranking::binary_items(&nt_flagged);
    nt.ranking = Some(ranking::rank(&nt_items, campaigns, learn_end, nt.days));
    Ok([rw, nt])
}

/// Runs the new-terms reference detector over an auth file.
pub fn new_terms(auth: &Path, format: Format, learn: Ts) -> Result<Vec<Flagged>> {
    let file =
        std::fs::File::open(auth).with_context(|| format!("cannot open {}", auth.display()))?;
    let mut dec = decoder(format, Stream::Auth);
    let mut syms = Interner::new();
    let mut nt = NewTerms::new(learn, Classifier::default());
    let mut out = vec![];
    for_each_line(file, |_, line, too_long| {
        if too_long {
            return;
        }
        if let Ok(Some(Event::Auth(a))) = decode_guarded(dec.as_mut(), line, &mut syms) {
            if let Some(t) = nt.observe(&a, &syms) {
                out.push(Flagged {
                    time: t.time as f64 / 1000.0,
                    identity: syms.resolve(t.identity).to_string(),
                    hosts: t
                        .src
                        .iter()
                        .map(|&s| syms.resolve(s).to_string())
                        .chain([syms.resolve(t.dst).to_string()])
                        .collect(),
                });
            }
        }
    })?;
    Ok(out)
}

/// Renders rows as a fixed-width table (`-` where a figure is undefined).
pub fn render(rows: &[EvalRow]) -> String {
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let mut s = format!(
        "{:<12} {:>9} {:>8} {:>7} {:>6} {:>9} {:>6} {:>13} {:>12}  missed\n",
        "detector",
        "campaigns",
        "detected",
        "alerts",
        "false",
        "false/day",
        "AP",
        "false/day@100",
        "false/day@50"
    );
    for r in rows {
        let rk = r.ranking.as_ref();
        s.push_str(&format!(
            "{:<12} {:>9} {:>8} {:>7} {:>6} {:>9.2} {:>6} {:>13} {:>12}  {}\n",
            r.detector,
            r.campaigns,
            r.detected,
            r.alerts,
            r.false_alerts,
            r.false_per_day,
            opt(rk.and_then(|k| k.average_precision), 3),
            opt(rk.and_then(|k| k.false_per_day_at_full_recall), 2),
            opt(rk.and_then(|k| k.false_per_day_at_half_recall), 2),
            if r.missed.is_empty() {
                "-".to_string()
            } else {
                r.missed.join(",")
            }
        ));
    }
    s
}
