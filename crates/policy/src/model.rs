//! The policy model and its judge, shared with the engine (which reports reach outside a policy
//! as the `policy-violation` detection): they live in `reachwatch-model` so that one
//! implementation decides whether a reach is allowed.

pub use reachwatch_model::policy::*;
