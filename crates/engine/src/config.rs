//! Engine settings: windows and thresholds, as compiled from the `settings:` section of the rules.

/// Windows, thresholds and limits. `EngineConfig::default()` is the settings of the embedded
/// default rules (`rules/`).
pub type EngineConfig = reachwatch_rules::Settings;
