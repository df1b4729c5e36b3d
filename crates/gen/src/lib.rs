//! Synthetic enterprise generator for reachwatch.
//!
//! [`generate`] simulates a small enterprise (domain controllers, prod/staging/dev tiers,
//! infrastructure hosts, workstations) whose machine identities, service accounts, Kubernetes
//! service accounts and people authenticate on realistic schedules, and writes labelled logs in
//! the LANL layout: `auth.txt`, `flows.txt`, `redteam.txt`, plus `labels.jsonl` (one
//! [`Campaign`] per line) and `scenario.json`. Output depends only on the [`GenConfig`]: the same
//! config gives byte-identical files on any machine.
//!
//! Three options change the enterprise without touching the defaults' output: [`NameStyle`]
//! (descriptive or LANL-style anonymised names, rendered last, so the events are the same under
//! every style), [`Topology`] (tiered or flat) and [`CampaignSet`] (the eight classic campaigns,
//! or the extended set with variants, newer kinds and benign changes that naive detectors flag).

mod attack;
mod day;
mod event;
mod extended;
mod kinds;
mod names;
mod options;
mod topo;
mod variety;

pub use attack::KINDS as CAMPAIGN_KINDS;
pub use extended::EXTENDED_KINDS as EXTENDED_CAMPAIGN_KINDS;
pub use options::{CampaignSet, NameStyle, Topology};

use event::{Auth, DayBuf, Flow, AUTH_TYPES, DAY, LOGON_TYPES, ORIENTATIONS};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use topo::Topo;

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of simulated days (day 0 is a Monday).
    pub days: u32,
    /// Days of the learning period; changes and attacks happen only after it.
    pub learn_days: u32,
    /// Scale factor for host and identity counts (and so for volume); 1.0 ≈ 190 hosts.
    pub size: f64,
    /// Whether to inject the attack campaigns.
    pub attacks: bool,
    /// How names are written.
    #[serde(default, skip_serializing_if = "NameStyle::is_default")]
    pub names: NameStyle,
    /// The enterprise's shape.
    #[serde(default, skip_serializing_if = "Topology::is_default")]
    pub topology: Topology,
    /// Which campaigns (and benign changes) happen.
    #[serde(default, skip_serializing_if = "CampaignSet::is_default")]
    pub campaigns: CampaignSet,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            days: 14,
            learn_days: 7,
            size: 1.0,
            attacks: true,
            names: NameStyle::default(),
            topology: Topology::default(),
            campaigns: CampaignSet::default(),
        }
    }
}

impl GenConfig {
    /// Checks the config, returning `InvalidInput` with a description of the first problem.
    pub fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if !self.size.is_finite() || self.size <= 0.0 || self.size > 1000.0 {
            return bad(format!(
                "size must be a finite number in (0, 1000], got {}",
                self.size
            ));
        }
        if self.days == 0 {
            return bad("days must be at least 1".into());
        }
        if self.attacks && (self.learn_days == 0 || self.days <= self.learn_days) {
            return bad(format!(
                "with attacks on, days > learn_days >= 1 is required (days {}, learn_days {})",
                self.days, self.learn_days
            ));
        }
        Ok(())
    }
}

/// Counts of what [`generate`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenSummary {
    /// Lines in `auth.txt`.
    pub auth_events: u64,
    /// Lines in `flows.txt`.
    pub flow_events: u64,
    /// Attack campaigns in `labels.jsonl`.
    pub campaigns: usize,
    /// Hosts in the enterprise (including the one that joins later).
    pub hosts: usize,
    /// Distinct identities (computer accounts, service accounts, people).
    pub identities: usize,
}

/// One labelled attack campaign (a line of `labels.jsonl`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Campaign {
    /// `c1`, `c2`, … in start-time order.
    pub id: String,
    /// One of [`CAMPAIGN_KINDS`] (classic set) or [`EXTENDED_CAMPAIGN_KINDS`].
    pub kind: String,
    /// Which variant of its kind (extended set only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Identities as written in `auth.txt` (`name@DOM1`); for unauthenticated flows the source
    /// host's computer account.
    pub identities: Vec<String>,
    /// Every host involved, sources and destinations.
    pub hosts: Vec<String>,
    /// Time of the first event.
    pub start: i64,
    /// Time of the last event.
    pub end: i64,
    /// Every injected event, by time.
    pub events: Vec<CampaignEvent>,
}

/// One injected event of a [`Campaign`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CampaignEvent {
    /// Time in seconds, as in the log files.
    pub time: i64,
    /// `"auth"` (a line of `auth.txt` and `redteam.txt`) or `"flow"` (a line of `flows.txt`).
    pub kind: String,
    /// The identity that authenticated, or on whose behalf the flow ran.
    pub identity: String,
    /// Source host.
    pub src: String,
    /// Destination host.
    pub dst: String,
    /// Destination port of flow events; `None` for auth events.
    pub port: Option<u16>,
}

/// Reads `labels.jsonl` back.
pub fn read_labels(path: &Path) -> io::Result<Vec<Campaign>> {
    let mut out = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let c = serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push(c);
    }
    Ok(out)
}

/// A benign change recorded in `scenario.json`.
#[derive(Serialize)]
struct BenignChange {
    time: i64,
    description: String,
}

/// Start of day `d`.
fn day_start(d: u32) -> i64 {
    1 + d as i64 * DAY
}

/// Writes auth.txt, flows.txt, redteam.txt, labels.jsonl and scenario.json into `dir` (created if missing).
pub fn generate(cfg: &GenConfig, dir: &Path) -> io::Result<GenSummary> {
    cfg.validate()?;
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut topo = Topo::build(cfg.size, cfg.topology, &mut rng);
    names::render(&mut topo, cfg.names, cfg.seed);

    // Benign changes during the detection period.
    let det: Vec<u32> = (cfg.learn_days..cfg.days).collect();
    let mut changes = Vec::new();
    let mut benign = day::Benign {
        include_day: u32::MAX,
        second_ws: None,
        variety: None,
    };
    if !det.is_empty() {
        let join_day = *det.choose(&mut rng).expect("detection days");
        let join = day_start(join_day) + 9 * 3600 + rng.gen_range(0..7200);
        topo.hosts[topo.new_host as usize].since = join;
        changes.push(BenignChange {
            time: join,
            description: if cfg.names == NameStyle::AnonymizedAll {
                format!(
                    "new server {} joins (its computer account and its tier's service accounts reach it like its tier peers)",
                    topo.host(topo.new_host)
                )
            } else {
                format!(
                    "new server {} joins (computer account, svc_monitor, svc_backup, svc_deploy and svc_sql_app reach it like its tier peers)",
                    topo.host(topo.new_host)
                )
            },
        });
        if let Some(h) = topo.deploy_skip {
            benign.include_day = *det.choose(&mut rng).expect("detection days");
            changes.push(BenignChange {
                time: day_start(benign.include_day),
                description: format!(
                    "{} deploys start including {}, skipped during the learning period",
                    topo.idents[topo.deploys[0].ident as usize],
                    topo.host(h)
                ),
            });
        }
        if topo.ws.len() > 1 {
            let weekdays: Vec<u32> = det.iter().copied().filter(|d| d % 7 < 5).collect();
            let d = *weekdays.choose(&mut rng).unwrap_or(&det[0]);
            let i = rng.gen_range(0..topo.ws.len());
            let mut j = rng.gen_range(0..topo.ws.len() - 1);
            if j >= i {
                j += 1;
            }
            benign.second_ws = Some((d, i, topo.ws[j]));
            changes.push(BenignChange {
                time: day_start(d),
                description: format!(
                    "{} also works on a second workstation {} for the day",
                    topo.idents[topo.humans[i] as usize],
                    topo.host(topo.ws[j])
                ),
            });
        }
    }

    // Attack campaigns, fully planned up front; then the extended set's benign changes, on days
    // their identities are in no campaign.
    let mut busy = extended::Busy::new(det.clone());
    let planned = match (cfg.attacks, cfg.campaigns) {
        (false, _) => Vec::new(),
        (true, CampaignSet::Classic) => attack::plan(&topo, cfg.learn_days, cfg.days, &mut rng),
        (true, CampaignSet::Extended) => {
            extended::plan(&topo, cfg.learn_days, cfg.days, &mut rng, &mut busy)
        }
    };
    if cfg.campaigns == CampaignSet::Extended && !det.is_empty() {
        let (variety, more) = variety::plan(&topo, &mut rng, &mut busy);
        benign.variety = Some(variety);
        changes.extend(
            more.into_iter()
                .map(|(time, description)| BenignChange { time, description }),
        );
    }
    let labels: Vec<Campaign> = planned
        .iter()
        .enumerate()
        .map(|(i, (p, fi))| p.label(i + 1, &topo, fi))
        .collect();
    {
        let mut w = BufWriter::new(File::create(dir.join("labels.jsonl"))?);
        for c in &labels {
            serde_json::to_writer(&mut w, c)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    let attack_auth: Vec<Auth> = planned
        .iter()
        .flat_map(|(p, _)| p.auth.iter().copied())
        .collect();
    let attack_flows: Vec<Flow> = planned
        .iter()
        .flat_map(|(p, _)| p.flows.iter().copied())
        .collect();

    let since: Vec<i64> = topo.hosts.iter().map(|h| h.since).collect();
    let cap = 1 << 20;
    let mut wa = BufWriter::with_capacity(cap, File::create(dir.join("auth.txt"))?);
    let mut wf = BufWriter::with_capacity(cap, File::create(dir.join("flows.txt"))?);
    let mut wr = BufWriter::with_capacity(1 << 16, File::create(dir.join("redteam.txt"))?);
    let mut summary = GenSummary {
        campaigns: labels.len(),
        hosts: topo.hosts.len(),
        identities: topo.idents.len(),
        ..GenSummary::default()
    };
    let mut outages = Vec::new();
    let mut buf = DayBuf {
        start: 0,
        auth: Vec::new(),
        flows: Vec::new(),
    };
    let mut ib = itoa::Buffer::new();
    for d in 0..cfg.days {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(d as u64 + 1);
        let (s, e) = (day_start(d), day_start(d + 1));
        buf.start = s;
        buf.auth.clear();
        buf.flows.clear();
        day::benign_day(&topo, &benign, d, &mut rng, &mut buf);
        let mut red: Vec<Auth> = attack_auth
            .iter()
            .copied()
            .filter(|a| a.t >= s && a.t < e)
            .collect();
        red.sort_by_key(|a| a.t);
        buf.auth.extend_from_slice(&red);
        buf.flows
            .extend(attack_flows.iter().copied().filter(|f| f.t >= s && f.t < e));

        // Missing data: about one day in four loses a 30–120 minute window, never over an attack.
        let mut gap = (i64::MAX, i64::MAX);
        if rng.gen_bool(0.25) {
            let len = rng.gen_range(1800..=7200);
            let busy: Vec<i64> = red
                .iter()
                .map(|a| a.t)
                .chain(
                    attack_flows
                        .iter()
                        .map(|f| f.t)
                        .filter(|&t| t >= s && t < e),
                )
                .collect();
            for _ in 0..20 {
                let g0 = s + rng.gen_range(0..DAY - len);
                if busy.iter().all(|&t| t < g0 - 600 || t >= g0 + len + 600) {
                    gap = (g0, g0 + len);
                    outages.push(serde_json::json!({ "start": g0, "end": g0 + len }));
                    break;
                }
            }
        }
        let keep = |t: i64, src: u32, dst: u32| {
            (t < gap.0 || t >= gap.1) && since[src as usize] <= t && since[dst as usize] <= t
        };

        buf.auth.sort_by_key(|a| a.t);
        buf.flows.sort_by_key(|f| f.t);
        for a in buf.auth.iter().filter(|a| keep(a.t, a.src, a.dst)) {
            write_auth(&mut wa, &mut ib, &topo, a)?;
            summary.auth_events += 1;
        }
        for f in buf.flows.iter().filter(|f| keep(f.t, f.src, f.dst)) {
            write_flow(&mut wf, &mut ib, &topo, f)?;
            summary.flow_events += 1;
        }
        for a in &red {
            wr.write_all(ib.format(a.t).as_bytes())?;
            wr.write_all(b",")?;
            wr.write_all(topo.idents[a.ident as usize].as_bytes())?;
            wr.write_all(b",")?;
            wr.write_all(topo.host(a.src).as_bytes())?;
            wr.write_all(b",")?;
            wr.write_all(topo.host(a.dst).as_bytes())?;
            wr.write_all(b"\n")?;
        }
    }
    wa.flush()?;
    wf.flush()?;
    wr.flush()?;

    let scenario = serde_json::json!({
        "config": cfg,
        "summary": summary,
        "day_seconds": DAY,
        "first_second": 1,
        "learning_period": { "start": 1, "end": day_start(cfg.learn_days.min(cfg.days)) },
        "benign_changes": changes,
        "outages": outages,
        "campaigns": labels.iter().map(|c| serde_json::json!({
            "id": c.id, "kind": c.kind, "start": c.start, "end": c.end,
            "identities": c.identities, "hosts": c.hosts,
        })).collect::<Vec<_>>(),
    });
    let mut w = BufWriter::new(File::create(dir.join("scenario.json"))?);
    serde_json::to_writer_pretty(&mut w, &scenario)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(summary)
}

fn write_auth<W: Write>(w: &mut W, ib: &mut itoa::Buffer, topo: &Topo, a: &Auth) -> io::Result<()> {
    let id = topo.idents[a.ident as usize].as_bytes();
    w.write_all(ib.format(a.t).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(id)?;
    w.write_all(b",")?;
    w.write_all(id)?;
    w.write_all(b",")?;
    w.write_all(topo.host(a.src).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(topo.host(a.dst).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(AUTH_TYPES[a.at as usize].as_bytes())?;
    w.write_all(b",")?;
    w.write_all(LOGON_TYPES[a.lt as usize].as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ORIENTATIONS[a.or as usize].as_bytes())?;
    w.write_all(if a.ok { b",Success\n" } else { b",Fail\n" })
}

fn write_flow<W: Write>(w: &mut W, ib: &mut itoa::Buffer, topo: &Topo, f: &Flow) -> io::Result<()> {
    w.write_all(ib.format(f.t).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ib.format(f.dur).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(topo.host(f.src).as_bytes())?;
    w.write_all(b",N")?;
    w.write_all(ib.format(f.sport).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(topo.host(f.dst).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ib.format(f.dport).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ib.format(f.proto).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ib.format(f.packets).as_bytes())?;
    w.write_all(b",")?;
    w.write_all(ib.format(f.bytes).as_bytes())?;
    w.write_all(b"\n")
}
