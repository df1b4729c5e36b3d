//! `reachwatch policy generate` and `reachwatch policy check`: least-reach policy from the reach
//! graph, and a what-if replay of history against it. Wiring only: the work is in
//! `reachwatch-policy`.

use crate::args::{host_map, parse_duration, EngineArgs, LogArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use reachwatch_model::Ts;
use reachwatch_policy::render::{self, k8s, Addresses};
use reachwatch_policy::Judge;
use reachwatch_policy::{file, report, CheckOptions, GenerateOptions, Policy, ReachMap};
use reachwatch_replay::{ReplayFormats, ReplayOptions};
use reachwatch_rules::RuleSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `reachwatch policy` subcommands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Write least-reach allow policy from the reach graph: per identity, the sources and the
    /// (destination, port) pairs it used in the window, each with its evidence; the inventory's
    /// environments and forbidden zones are hard denies (findings), never allows.
    Generate(GenerateArgs),
    /// Replay history against a proposed policy (no detection thresholds): what it would have
    /// blocked, by identity and path and per day, and which alert or campaign paths it would
    /// have cut.
    Check(CheckArgs),
}

/// Output formats of `policy generate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// reachwatch policy YAML (what `policy check` reads).
    Yaml,
    /// Kubernetes NetworkPolicy egress rules for service-account identities.
    Kubernetes,
    /// CiliumNetworkPolicy egress rules for service-account identities.
    Cilium,
    /// AWS security-group ingress rules per destination host (authorize-security-group-ingress
    /// input, JSON).
    Aws,
    /// nftables inbound rules per destination host.
    Nftables,
}

/// Arguments of `policy generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Reach graph: a directory from `replay --graph-out`, or a `reachwatch run` checkpoint
    /// directory.
    #[arg(long, required_unless_present = "policy", conflicts_with = "policy")]
    pub graph: Option<PathBuf>,
    /// Render an existing (reviewed) reachwatch policy file instead of reading a graph.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Allow only edges used in this window before the graph's last activity, e.g. `30d`.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub window: Ts,
    /// Identities of this kind: machine, human, unknown or any.
    #[arg(long, default_value = "machine")]
    pub kind: String,
    /// Only identities of this environment (repeatable).
    #[arg(long = "env")]
    pub envs: Vec<String>,
    /// Only this identity (repeatable), whatever --kind and --env say.
    #[arg(long = "identity")]
    pub identities: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: PolicyFormat,
    /// Output file (default: standard output); for nftables a directory, one HOST.nft per
    /// destination host.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// IP-to-host map, CSV `ip,host` lines, for the network formats (with the inventory's
    /// addresses).
    #[arg(long)]
    pub hosts: Option<PathBuf>,
    /// Pod label a NetworkPolicy selects a service account's workloads by (value: the
    /// account's name).
    #[arg(long, default_value = k8s::DEFAULT_POD_LABEL)]
    pub pod_label: String,
    /// Rules directory whose inventory gives environments, forbidden zones and addresses
    /// (default: the built-in rules).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

/// Arguments of `policy check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The proposed policy (reachwatch policy YAML from `policy generate`).
    #[arg(long)]
    pub policy: PathBuf,
    /// Inputs, their formats and the IP-to-host map (as `replay`).
    #[command(flatten)]
    pub input: LogArgs,
    /// Alerts (native JSON lines) whose paths to check.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// Labelled campaigns (`labels.jsonl` of `reachwatch generate`) whose paths to check.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Judge only events at or after this time, in seconds on the input's clock (default: the
    /// end of the policy's evidence, `generated.to`; 0 for everything).
    #[arg(long)]
    pub from: Option<i64>,
    /// Also write the whole report as JSON here.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Rules and the settings the command line overrides (the join's windows).
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs a `policy` subcommand.
pub fn run(cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Generate(a) => generate(a),
        PolicyCommand::Check(a) => check(a),
    }
}

fn write_out(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn generate(a: GenerateArgs) -> Result<()> {
    let rules = crate::rules_cmd::load(a.rules.as_deref())?;
    let policy = match (&a.policy, &a.graph) {
        (Some(p), _) => file::load(p)?,
        (None, Some(g)) => {
            let map = ReachMap::load(g)?;
            let kind = (!a.kind.eq_ignore_ascii_case("any")).then(|| a.kind.to_ascii_lowercase());
            if let Some(k) = &kind {
                if !["machine", "human", "unknown"].contains(&k.as_str()) {
                    bail!("--kind {k}: expected machine, human, unknown or any");
                }
            }
            let opts = GenerateOptions {
                window_seconds: a.window / 1000,
                kind,
                envs: a.envs.clone(),
                identities: a.identities.clone(),
                graph: g.display().to_string(),
            };
            reachwatch_policy::generate(&map, &rules.inventory, &opts)
        }
        (None, None) => bail!("give --graph DIR (or --policy FILE)"),
    };
    summarise(&policy);
    let hosts = host_map(&rules, a.hosts.as_deref())?;
    let addresses = Addresses::from_host_map(&hosts);
    let out = a.out.as_deref();
    match a.format {
        PolicyFormat::Yaml => write_out(out, &file::to_yaml(&policy)),
        PolicyFormat::Kubernetes => write_out(
            out,
            &k8s::render(
                &policy,
                &addresses,
                k8s::Flavour::NetworkPolicy,
                &a.pod_label,
            ),
        ),
        PolicyFormat::Cilium => write_out(
            out,
            &k8s::render(&policy, &addresses, k8s::Flavour::Cilium, &a.pod_label),
        ),
        PolicyFormat::Aws => {
            let (json, missing) = render::aws::render(&policy, &addresses);
            if !missing.is_empty() {
                eprintln!(
                    "policy: {} (source, destination) pairs left out of the security-group rules: no address known for the source (give --hosts)",
                    missing.len()
                );
            }
            write_out(out, &format!("{}\n", serde_json::to_string_pretty(&json)?))
        }
        PolicyFormat::Nftables => {
            let sets = render::nft::render(&policy, &addresses);
            match out {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    for (host, text) in &sets {
                        let name: String = host
                            .chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                                    c
                                } else {
                                    '_'
                                }
                            })
                            .collect();
                        write_out(Some(&dir.join(format!("{name}.nft"))), text)?;
                    }
                    eprintln!(
                        "policy: {} nftables rulesets in {}",
                        sets.len(),
                        dir.display()
                    );
                    Ok(())
                }
                None => {
                    for (host, text) in &sets {
                        println!("# ===== host {host} =====\n{text}");
                    }
                    Ok(())
                }
            }
        }
    }
}

/// A one-line summary and the hard-deny findings on standard error.
fn summarise(p: &Policy) {
    let identities: usize = p.grants.iter().map(|g| g.members.len()).sum();
    let allows: usize = p.grants.iter().map(|g| g.allow.len()).sum();
    eprintln!(
        "policy: {identities} identities in {} grants, {allows} allowed destinations, {} hard denies",
        p.grants.len(),
        p.denies.len()
    );
    for d in p.denies.iter().take(20) {
        eprintln!(
            "  finding: {} {} → {}: {} ({} observations)",
            d.identity,
            d.src.as_deref().unwrap_or("any source"),
            d.dst,
            d.reason,
            d.count
        );
    }
    if p.denies.len() > 20 {
        eprintln!("  … {} more in the policy's denies", p.denies.len() - 20);
    }
}

/// A least-reach policy file, indexed for judging (`--policy`, `engine.policy`,
/// `serve --policy`).
pub fn load_judge(path: &Path) -> Result<Judge> {
    Ok(Judge::new(&file::load(path)?))
}

/// The rules with a least-reach policy file whose violations the engine reports, if one is given.
pub fn with_policy(rules: Arc<RuleSet>, path: Option<&Path>) -> Result<Arc<RuleSet>> {
    let Some(path) = path else {
        return Ok(rules);
    };
    let judge = Arc::new(load_judge(path)?);
    Ok(Arc::new(
        Arc::unwrap_or_clone(rules).with_policy(Some(judge)),
    ))
}

fn check(a: CheckArgs) -> Result<()> {
    a.input.check()?;
    let policy = file::load(&a.policy)?;
    let rules = a.engine.rules()?;
    let hosts = host_map(&rules, a.input.hosts.as_deref())?;
    let opts = CheckOptions {
        replay: ReplayOptions {
            format: a.input.format,
            auth: a.input.auth,
            flows: a.input.flows,
            alerts: None,
            dead_letter: None,
            base_time: None,
            rules,
            progress: None,
        },
        formats: ReplayFormats {
            auth: a.input.auth_format,
            flows: a.input.flows_format,
            hosts: (!hosts.is_empty()).then_some(hosts),
            ..ReplayFormats::default()
        },
        from: Some(a.from.unwrap_or(policy.generated.to + 1)),
        alerts: a.alerts,
        labels: a.labels,
    };
    let r = reachwatch_policy::check(&policy, &opts)?;
    print!("{}", report::text(&r));
    if let Some(p) = a.report_json {
        std::fs::write(&p, serde_json::to_vec_pretty(&r)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
