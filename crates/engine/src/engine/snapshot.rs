//! Engine snapshots: everything learned and held, in a versioned byte string.

use super::{builtin_with, Engine, State};
use crate::config::EngineConfig;
use reachwatch_model::Classifier;
use reachwatch_rules::RuleSet;
use std::sync::Arc;

/// Magic bytes and format version at the head of an engine snapshot.
const SNAPSHOT_MAGIC: &[u8; 8] = b"RWENGv07";
/// Magic bytes shared by every version (the last two bytes are the version).
const MAGIC_PREFIX: &[u8; 6] = b"RWENGv";

/// A snapshot that could not be read.
#[derive(Debug)]
pub struct SnapshotError(String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SnapshotError {}

impl Engine {
    /// Serialises the engine's whole state (symbols, buffers, graph, incidents, counters) into a
    /// versioned byte string. Settings are not included: they are given again on restore.
    pub fn snapshot(&self) -> Vec<u8> {
        let out = SNAPSHOT_MAGIC.to_vec();
        postcard::to_extend(&self.st, out).expect("engine state serialises")
    }

    /// An engine restored from [`Engine::snapshot`] bytes with the built-in rules, these
    /// settings and this classifier.
    pub fn restore(
        bytes: &[u8],
        cfg: EngineConfig,
        classifier: Classifier,
    ) -> Result<Engine, SnapshotError> {
        let mut engine = Self::restore_with_rules(bytes, Arc::new(builtin_with(cfg)))?;
        engine.classifier = classifier;
        Ok(engine)
    }

    /// An engine restored from [`Engine::snapshot`] bytes, running (possibly new) rules.
    pub fn restore_with_rules(bytes: &[u8], rules: Arc<RuleSet>) -> Result<Engine, SnapshotError> {
        let body = bytes.strip_prefix(SNAPSHOT_MAGIC).ok_or_else(|| {
            SnapshotError(match bytes.strip_prefix(MAGIC_PREFIX) {
                Some(v) => format!(
                    "engine snapshot format v{} cannot be restored by this version (format v07, \
                     with bounded state and the structure learned from behaviour): start afresh \
                     and let the engine learn again",
                    String::from_utf8_lossy(&v[..v.len().min(2)])
                ),
                None => "not a reachwatch engine snapshot".into(),
            })
        })?;
        let mut st: State = postcard::from_bytes(body)
            .map_err(|e| SnapshotError(format!("corrupt engine snapshot: {e}")))?;
        st.reorder
            .set_limits(rules.settings.lateness, rules.settings.max_skew);
        Ok(Engine {
            classifier: rules.classifier(),
            rules,
            time_base: 0,
            st,
            scores: None,
            compact_at: 0,
            reach: None,
            policy_verdicts: Default::default(),
        })
    }
}
