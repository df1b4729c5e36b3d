//! Least-reach policy from the learned reach graph, and a what-if replay of history against it.
//!
//! [`generate()`] turns the reach graph (what each identity used, from where, to which hosts and
//! ports, with first/last seen and counts) into a [`Policy`]: per identity its allowed sources
//! and (destination, ports), each with its evidence; identities with identical reach share a
//! grant; the inventory's environments and forbidden zones are hard denies. The policy is written
//! as reachwatch YAML ([`file`]) or rendered for enforcement points ([`render`]: Kubernetes and
//! Cilium network policies, AWS security-group rules, nftables). [`check()`] replays logs
//! through the engine's join with no scoring and judges every reach against a policy: what it
//! would have blocked (the breakage list), per day, and which alerts' and campaigns' paths it
//! would have cut.

pub mod check;
pub mod file;
pub mod generate;
pub mod graph;
pub mod model;
pub mod render;
pub mod report;
pub mod time;

pub use check::{check, CheckOptions, CheckReport};
pub use generate::{generate, GenerateOptions};
pub use graph::ReachMap;
pub use model::{Judge, Policy, Verdict};
