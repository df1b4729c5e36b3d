//! The alerts shown: a native alert JSON lines file (what `replay --alerts` or `run`'s file sink
//! writes), newest first. A line that is not an alert is skipped and reported with its line
//! number; the alerts around it are kept. A last line without its newline is taken to be still
//! being written and is left for the next load. An id seen twice (a file sink may repeat alerts
//! after a crash) is shown once.

use anyhow::{Context, Result};
use reachwatch_model::Alert;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How many unreadable lines are described (all are counted).
const PROBLEMS_KEPT: usize = 20;

/// Alerts, newest first, with lookups by id and identity.
#[derive(Debug, Default)]
pub struct AlertStore {
    alerts: Vec<Alert>,
    by_id: HashMap<String, usize>,
    by_identity: HashMap<String, Vec<usize>>,
    problems: Vec<String>,
    problem_count: usize,
    duplicates: usize,
}

impl AlertStore {
    /// Reads a file; a missing file is an error (see [`AlertStore::load_if_present`]).
    pub fn load(path: &Path) -> Result<AlertStore> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(AlertStore::parse(
            &String::from_utf8_lossy(&text),
            &path.display().to_string(),
        ))
    }

    /// Reads a file that may not exist yet (a pipeline's alert sink before its first alert).
    pub fn load_if_present(path: &Path) -> Result<AlertStore> {
        if path.exists() {
            AlertStore::load(path)
        } else {
            Ok(AlertStore::default())
        }
    }

    /// Parses alert JSON lines; `origin` names the input in problem reports.
    pub fn parse(text: &str, origin: &str) -> AlertStore {
        let mut store = AlertStore::default();
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (no, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Alert>(line) {
                Ok(a) => store.push(a),
                Err(_) if !complete && no + 1 == lines.len() => {}
                Err(e) => {
                    store.problem_count += 1;
                    if store.problems.len() < PROBLEMS_KEPT {
                        store.problems.push(format!(
                            "{origin}:{}: not a native reachwatch alert: {e}",
                            no + 1
                        ));
                    }
                }
            }
        }
        store.index();
        store
    }

    /// Builds a store from alerts already in memory.
    pub fn from_alerts(alerts: impl IntoIterator<Item = Alert>) -> AlertStore {
        let mut store = AlertStore::default();
        for a in alerts {
            store.push(a);
        }
        store.index();
        store
    }

    /// Adds an alert unless its id is already there.
    fn push(&mut self, a: Alert) {
        if self.by_id.contains_key(&a.id) {
            self.duplicates += 1;
        } else {
            self.by_id.insert(a.id.clone(), self.alerts.len());
            self.alerts.push(a);
        }
    }

    /// Sorts newest first (ties by id) and indexes.
    fn index(&mut self) {
        self.alerts
            .sort_by(|a, b| b.time.0.total_cmp(&a.time.0).then_with(|| a.id.cmp(&b.id)));
        self.by_id = self
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        self.by_identity.clear();
        for (i, a) in self.alerts.iter().enumerate() {
            self.by_identity
                .entry(a.identity.to_lowercase())
                .or_default()
                .push(i);
        }
    }

    /// Every alert, newest first.
    pub fn all(&self) -> &[Alert] {
        &self.alerts
    }

    /// The alert with this id.
    pub fn get(&self, id: &str) -> Option<&Alert> {
        self.by_id.get(id).map(|&i| &self.alerts[i])
    }

    /// The alerts of an identity (case-insensitive), newest first.
    pub fn of_identity(&self, name: &str) -> impl Iterator<Item = &Alert> {
        self.by_identity
            .get(&name.to_lowercase())
            .into_iter()
            .flatten()
            .map(|&i| &self.alerts[i])
    }

    /// Alerts per rule, by rule name.
    pub fn counts_by_rule(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for a in &self.alerts {
            *out.entry(a.rule.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// Descriptions of the first unreadable lines (`file:line: why`).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// How many lines could not be read.
    pub fn problem_count(&self) -> usize {
        self.problem_count
    }

    /// How many lines repeated an id already read.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use reachwatch_model::alert::{Evidence, Seconds, Severity};

    /// A minimal alert.
    pub fn alert(id: &str, time: f64, identity: &str, rule: &str) -> Alert {
        Alert {
            id: id.into(),
            time: Seconds(time),
            timestamp: None,
            identity: identity.into(),
            identity_kind: "machine".into(),
            src: Some("SRC-1".into()),
            dst: "DST-1".into(),
            service: None,
            rule: rule.into(),
            severity: Severity::High,
            score: 75,
            attack: vec![],
            summary: format!("{identity}: something new"),
            late: false,
            late_by: None,
            evidence: Evidence::default(),
        }
    }

    fn line(a: &Alert) -> String {
        serde_json::to_string(a).unwrap()
    }

    #[test]
    fn bad_lines_are_reported_and_the_good_ones_around_them_kept() {
        let text = format!(
            "{}\nnot json\n{{\"id\":1}}\n\n{}\n{}\n",
            line(&alert("a", 10.0, "svc_x", "fan-out")),
            line(&alert("b", 30.0, "SVC_X", "new-source")),
            line(&alert("a", 10.0, "svc_x", "fan-out")),
        );
        let s = AlertStore::parse(&text, "f.jsonl");
        let ids: Vec<&str> = s.all().iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["b", "a"], "newest first");
        assert_eq!(s.problem_count(), 2);
        assert!(
            s.problems()[0].starts_with("f.jsonl:2: "),
            "{:?}",
            s.problems()
        );
        assert!(
            s.problems()[1].starts_with("f.jsonl:3: "),
            "{:?}",
            s.problems()
        );
        assert_eq!(s.duplicates(), 1);
        assert_eq!(s.of_identity("Svc_X").count(), 2);
        assert_eq!(s.get("a").unwrap().rule, "fan-out");
        assert_eq!(s.counts_by_rule()["new-source"], 1);
    }

    #[test]
    fn a_last_line_being_written_is_not_a_problem() {
        let full = line(&alert("a", 10.0, "svc_x", "fan-out"));
        let text = format!("{full}\n{}", &full[..full.len() / 2]);
        let s = AlertStore::parse(&text, "f");
        assert_eq!(s.all().len(), 1);
        assert_eq!(s.problem_count(), 0);
    }
}
