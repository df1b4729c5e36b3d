//! Reloading: a thread looks at the inputs' sizes and modification times every so often and,
//! when they changed, loads a new snapshot and serves it. A load that fails keeps the snapshot
//! being served (and says why in the log).

use crate::{Site, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// What identifies the state of a set of files and directories (the files directly inside a
/// directory count): names, sizes and modification times.
pub fn fingerprint(inputs: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = vec![];
    let mut add = |p: &Path| {
        if let Ok(m) = std::fs::metadata(p) {
            out.push((p.to_path_buf(), m.len(), m.modified().ok()));
        }
    };
    for p in inputs {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|e| e.is_file())
                .collect();
            entries.sort();
            entries.iter().for_each(|e| add(e));
        } else {
            add(p);
        }
    }
    out
}

/// Watches `inputs` every `every` and replaces the site's snapshot with `load()` when they
/// change. The thread ends when the site is dropped.
pub fn watch(
    site: &Arc<Site>,
    inputs: Vec<PathBuf>,
    every: Duration,
    load: impl Fn() -> anyhow::Result<Snapshot> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let site: Weak<Site> = Arc::downgrade(site);
    // Taken now: a change made while the thread starts is a change.
    let mut seen = fingerprint(&inputs);
    std::thread::Builder::new()
        .name("web-reload".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(site) = site.upgrade() else {
                return;
            };
            let now = fingerprint(&inputs);
            if now == seen {
                continue;
            }
            seen = now;
            match load() {
                Ok(s) => {
                    tracing::info!(alerts = s.alerts.all().len(), "web view reloaded");
                    site.replace(s);
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "web view not reloaded"),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlertStore;

    #[test]
    fn a_changed_file_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alerts.jsonl");
        std::fs::write(&file, "").unwrap();
        let site = Arc::new(Site::new("", Snapshot::default()));
        let f = file.clone();
        let _t = watch(
            &site,
            vec![file.clone()],
            Duration::from_millis(20),
            move || {
                Ok(Snapshot {
                    alerts: AlertStore::load(&f)?,
                    ..Snapshot::default()
                })
            },
        )
        .unwrap();
        let a = crate::alerts::tests::alert("x", 1.0, "svc_a", "fan-out");
        std::fs::write(&file, serde_json::to_string(&a).unwrap() + "\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while site.snapshot().alerts.get("x").is_none() {
            assert!(std::time::Instant::now() < deadline, "not reloaded");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
