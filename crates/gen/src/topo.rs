//! The simulated enterprise: hosts, identities and who is supposed to reach what.

use crate::options::Topology;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Domain suffix of every identity.
pub(crate) const DOMAIN: &str = "@DOM1";

/// A host and its fixed habits.
pub(crate) struct Host {
    pub name: String,
    /// First second at which the host exists (0 for hosts present from the start).
    pub since: i64,
    /// Preferred domain controller.
    pub dc: u32,
    /// Offset of hourly routines within the hour, in seconds.
    pub phase: i64,
    pub is_ws: bool,
}

/// A service account with fixed sources and destinations.
pub(crate) struct Svc {
    pub ident: u32,
    pub srcs: Vec<u32>,
    pub dsts: Vec<u32>,
    /// Deploy tiers (deploy accounts only); `dsts` is their union.
    pub tiers: Vec<Vec<u32>>,
}

/// An administrator's second account.
pub(crate) struct Admin {
    pub ident: u32,
    pub ws: u32,
    pub jump: u32,
    pub servers: Vec<u32>,
}

/// Hosts by role, identities and the service schedules' reach.
#[derive(Default)]
pub(crate) struct Topo {
    pub hosts: Vec<Host>,
    pub idents: Vec<String>,
    /// Computer account identity of each host.
    pub comp: Vec<u32>,
    pub dc: Vec<u32>,
    pub web: Vec<u32>,
    pub app: Vec<u32>,
    pub db: Vec<u32>,
    pub k8s: Vec<u32>,
    pub stg_web: Vec<u32>,
    pub stg_app: Vec<u32>,
    pub stg_db: Vec<u32>,
    pub dev_app: Vec<u32>,
    pub dev_db: Vec<u32>,
    pub ci: Vec<u32>,
    pub ci_dev: Vec<u32>,
    pub backup: Vec<u32>,
    pub monitor: Vec<u32>,
    pub batch: Vec<u32>,
    pub jump: Vec<u32>,
    pub fs: Vec<u32>,
    pub proxy: Vec<u32>,
    pub ws: Vec<u32>,
    /// Every host that is not a workstation.
    pub servers: Vec<u32>,
    pub monitors: Vec<Svc>,
    pub backups: Vec<Svc>,
    pub deploys: Vec<Svc>,
    pub deploy_devs: Vec<Svc>,
    pub sqls: Vec<Svc>,
    pub batches: Vec<Svc>,
    pub k8s_sas: Vec<Svc>,
    /// Human identity of the owner of each workstation (aligned with `ws`).
    pub humans: Vec<u32>,
    pub admins: Vec<Admin>,
    /// The PROD-APP host that joins during the detection period.
    pub new_host: u32,
    /// The PROD-WEB host svc_deploy skips until a detection day.
    pub deploy_skip: Option<u32>,
    /// Next number of each host name prefix.
    next_number: BTreeMap<&'static str, usize>,
}

/// Elements of `v` whose position is `j` modulo `g` (never empty for a non-empty `v`).
fn part(v: &[u32], g: usize, j: usize) -> Vec<u32> {
    let p: Vec<u32> = v
        .iter()
        .enumerate()
        .filter(|(i, _)| i % g == j)
        .map(|(_, &h)| h)
        .collect();
    if p.is_empty() && !v.is_empty() {
        vec![v[j % v.len()]]
    } else {
        p
    }
}

/// `base` with a two-digit suffix from the second one on (`svc_sql_app`, `svc_sql_app02`, …).
fn numbered(base: &str, i: usize) -> String {
    if i == 0 {
        format!("{base}{DOMAIN}")
    } else {
        format!("{base}{:02}{DOMAIN}", i + 1)
    }
}

const K8S_NAMES: [(&str, &str); 6] = [
    ("payments", "api"),
    ("orders", "worker"),
    ("billing", "api"),
    ("inventory", "worker"),
    ("search", "api"),
    ("shipping", "worker"),
];

impl Topo {
    fn ident(&mut self, name: String) -> u32 {
        self.idents.push(name);
        (self.idents.len() - 1) as u32
    }

    /// The next name with `prefix` (`PREFIX-01`, `PREFIX-02`, …): prefixes shared by several
    /// roles number on across them.
    fn next_name(&mut self, prefix: &'static str, width: usize) -> String {
        let i = self.next_number.entry(prefix).or_insert(1);
        *i += 1;
        format!("{prefix}-{:0width$}", *i - 1)
    }

    fn add_hosts(&mut self, prefix: &'static str, n: usize, width: usize, is_ws: bool) -> Vec<u32> {
        (0..n)
            .map(|_| {
                let name = self.next_name(prefix, width);
                self.hosts.push(Host {
                    name,
                    since: 0,
                    dc: 0,
                    phase: 0,
                    is_ws,
                });
                (self.hosts.len() - 1) as u32
            })
            .collect()
    }

    /// Name of host `h`.
    pub fn host(&self, h: u32) -> &str {
        &self.hosts[h as usize].name
    }

    /// Hosts that exist from the start (attacks only use these).
    pub fn base(&self, v: &[u32]) -> Vec<u32> {
        v.iter()
            .copied()
            .filter(|&h| self.hosts[h as usize].since == 0)
            .collect()
    }

    /// Builds the enterprise for scale `size` in the given shape.
    pub fn build(size: f64, shape: Topology, rng: &mut ChaCha8Rng) -> Topo {
        let n = |base: f64| ((base * size).round() as usize).max(1);
        let g = n(1.0);
        let mut t = Topo::default();
        let (app_prefix, ws_prefix) = match shape {
            Topology::Tiered => {
                t.dc = t.add_hosts("DC", n(3.0), 2, false);
                t.web = t.add_hosts("PROD-WEB", n(8.0), 2, false);
                t.app = t.add_hosts("PROD-APP", n(6.0), 2, false);
                t.db = t.add_hosts("PROD-DB", n(3.0), 2, false);
                t.k8s = t.add_hosts("PROD-K8S", n(4.0), 2, false);
                t.stg_web = t.add_hosts("STG-WEB", n(2.0), 2, false);
                t.stg_app = t.add_hosts("STG-APP", n(2.0), 2, false);
                t.stg_db = t.add_hosts("STG-DB", n(1.0), 2, false);
                t.dev_app = t.add_hosts("DEV-APP", n(4.0), 2, false);
                t.dev_db = t.add_hosts("DEV-DB", n(1.0), 2, false);
                t.ci = t.add_hosts("CI-RUNNER", n(2.0), 2, false);
                t.ci_dev = t.add_hosts("CI-DEV", n(1.0), 2, false);
                t.backup = t.add_hosts("BACKUP", g, 2, false);
                t.monitor = t.add_hosts("MONITOR", g, 2, false);
                t.batch = t.add_hosts("BATCH", g, 2, false);
                t.jump = t.add_hosts("JUMP", n(1.0), 2, false);
                t.fs = t.add_hosts("FS", n(1.0), 2, false);
                t.proxy = t.add_hosts("PROXY", n(1.0), 2, false);
                ("PROD-APP", ("WS", n(150.0)))
            }
            Topology::Flat => {
                // No staging tier; test servers share the production servers' names and numbers.
                t.dc = t.add_hosts("DC", n(2.0), 2, false);
                t.web = t.add_hosts("WEB", n(4.0), 2, false);
                t.app = t.add_hosts("APP", n(10.0), 2, false);
                t.db = t.add_hosts("DB", n(2.0), 2, false);
                t.k8s = t.add_hosts("NODE", n(6.0), 2, false);
                t.dev_app = t.add_hosts("APP", n(3.0), 2, false);
                t.dev_db = t.add_hosts("DB", n(1.0), 2, false);
                t.ci = t.add_hosts("BUILD", n(1.0), 2, false);
                t.ci_dev = t.add_hosts("BUILD", n(1.0), 2, false);
                t.backup = t.add_hosts("BACKUP", g, 2, false);
                t.monitor = t.add_hosts("MON", g, 2, false);
                t.batch = t.add_hosts("SCHED", g, 2, false);
                t.jump = t.add_hosts("JUMP", n(2.0), 2, false);
                t.fs = t.add_hosts("FILES", n(2.0), 2, false);
                t.proxy = t.add_hosts("PROXY", n(1.0), 2, false);
                ("APP", ("PC", n(220.0)))
            }
        };
        // The host that joins later takes the next free application server number.
        let name = t.next_name(app_prefix, 2);
        t.hosts.push(Host {
            name,
            since: i64::MAX,
            dc: 0,
            phase: 0,
            is_ws: false,
        });
        t.new_host = (t.hosts.len() - 1) as u32;
        t.app.push(t.new_host);
        t.servers = (0..t.hosts.len() as u32).collect();
        t.ws = t.add_hosts(ws_prefix.0, ws_prefix.1, 4, true);

        let ndc = t.dc.len();
        for h in 0..t.hosts.len() {
            let mut dc = t.dc[rng.gen_range(0..ndc)];
            if ndc > 1 && dc as usize == h {
                dc = t.dc[(t.dc.iter().position(|&d| d == dc).unwrap_or(0) + 1) % ndc];
            }
            t.hosts[h].dc = dc;
            t.hosts[h].phase = rng.gen_range(0..3600);
        }
        for h in 0..t.hosts.len() {
            let name = format!("{}${DOMAIN}", t.hosts[h].name);
            let id = t.ident(name);
            t.comp.push(id);
        }

        let monitored: Vec<u32> = t
            .servers
            .iter()
            .copied()
            .filter(|h| !t.monitor.contains(h))
            .collect();
        let backed_up: Vec<u32> = [
            &t.web, &t.app, &t.db, &t.k8s, &t.stg_web, &t.stg_app, &t.stg_db, &t.fs,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        for j in 0..g {
            let ident = t.ident(numbered("svc_monitor", j));
            let svc = Svc {
                ident,
                srcs: vec![t.monitor[j]],
                dsts: part(&monitored, g, j),
                tiers: vec![],
            };
            t.monitors.push(svc);
        }
        for j in 0..g {
            let ident = t.ident(numbered("svc_backup", j));
            let svc = Svc {
                ident,
                srcs: vec![t.backup[j]],
                dsts: part(&backed_up, g, j),
                tiers: vec![],
            };
            t.backups.push(svc);
        }
        for j in 0..g {
            let ident = t.ident(numbered("svc_deploy", j));
            let tiers = vec![part(&t.web, g, j), part(&t.app, g, j)];
            let svc = Svc {
                ident,
                srcs: part(&t.ci, g, j),
                dsts: tiers.concat(),
                tiers,
            };
            t.deploys.push(svc);
        }
        for j in 0..g {
            // Flat: no environment in the name, the test deploy account numbers on.
            let ident = t.ident(match shape {
                Topology::Tiered => numbered("svc_deploy_dev", j),
                Topology::Flat => numbered("svc_deploy", g + j),
            });
            let tiers: Vec<Vec<u32>> = [&t.dev_app, &t.dev_db, &t.stg_web, &t.stg_app, &t.stg_db]
                .into_iter()
                .map(|v| part(v, g, j))
                .filter(|tier| !tier.is_empty())
                .collect();
            let svc = Svc {
                ident,
                srcs: part(&t.ci_dev, g, j),
                dsts: tiers.concat(),
                tiers,
            };
            t.deploy_devs.push(svc);
        }
        for j in 0..g {
            let ident = t.ident(numbered("svc_sql_app", j));
            let svc = Svc {
                ident,
                srcs: part(&t.app, g, j),
                dsts: part(&t.db, g, j),
                tiers: vec![],
            };
            t.sqls.push(svc);
        }
        for j in 0..g {
            let ident = t.ident(numbered("svc_batch", j));
            let svc = Svc {
                ident,
                srcs: vec![t.batch[j]],
                dsts: vec![part(&t.db, g, j)[0], part(&t.fs, g, j)[0]],
                tiers: vec![],
            };
            t.batches.push(svc);
        }
        let k8s_accounts = match shape {
            Topology::Tiered => n(2.0),
            Topology::Flat => n(4.0),
        };
        for i in 0..k8s_accounts {
            let (ns, sa) = K8S_NAMES[i % K8S_NAMES.len()];
            let round = match i / K8S_NAMES.len() {
                0 => String::new(),
                r => format!("{:02}", r + 1),
            };
            let name = match shape {
                Topology::Tiered => format!("system:serviceaccount:{ns}{round}:{sa}{DOMAIN}"),
                Topology::Flat => format!("sa-{ns}{round}-{sa}{DOMAIN}"),
            };
            let ident = t.ident(name);
            let grp = i % g;
            let svc = Svc {
                ident,
                srcs: part(&t.k8s, g, grp),
                dsts: part(&t.db, g, grp),
                tiers: vec![],
            };
            t.k8s_sas.push(svc);
        }
        for i in 0..t.ws.len() {
            let id = t.ident(format!("U{:04}{DOMAIN}", i + 1));
            t.humans.push(id);
        }
        let admin_targets: Vec<u32> = [
            &t.web, &t.app, &t.db, &t.k8s, &t.stg_web, &t.stg_app, &t.stg_db, &t.dev_app,
            &t.dev_db, &t.fs,
        ]
        .into_iter()
        .flatten()
        .copied()
        .filter(|&h| h != t.new_host)
        .collect();
        let admins = match shape {
            Topology::Tiered => n(3.0),
            Topology::Flat => n(4.0),
        };
        for i in 0..admins {
            let ident = t.ident(format!("adm_U{:04}{DOMAIN}", i + 1));
            let k = rng.gen_range(3..=6).min(admin_targets.len());
            let servers = admin_targets.choose_multiple(rng, k).copied().collect();
            t.admins.push(Admin {
                ident,
                ws: t.ws[i % t.ws.len()],
                jump: t.jump[i % t.jump.len()],
                servers,
            });
        }
        let web0 = &t.deploys[0].tiers[0];
        if web0.len() >= 2 {
            t.deploy_skip = web0.last().copied();
        }
        t
    }
}
