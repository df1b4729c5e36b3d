//! Types shared by every reachwatch crate: interned symbols, authentication and flow events,
//! identity classification and the alert record. No IO, no clock.

pub mod alert;
pub mod classify;
pub mod event;
pub mod intern;
pub mod policy;
pub mod time;

pub use alert::{Alert, Baseline, Evidence, FeatureHit, Peers, Seconds, Severity, Step};
pub use classify::{Classifier, IdentityKind};
pub use event::{AuthEvent, AuthProtocol, Event, FlowEvent, LogonType, Orientation, Outcome};
pub use intern::{mark_symbols, name_hash, remap_symbols, Interner, Sym};
pub use time::Ts;
