//! reachwatch's web view: server-rendered HTML and SVG pages over an alert file and a reach
//! graph, with no scripts and nothing fetched from elsewhere (the style sheet is embedded in
//! every page, each picture carries its own), so pages work offline and can be saved.
//!
//! Pages ([`router`]): `/` the alert list with filters and counts by rule; `/alerts/{id}` an
//! alert's neighbourhood, features, baseline and observations (`/alerts/{id}.svg`: the picture
//! alone); `/identities/{name}` an identity's reach over time, blast radius and alerts; `/map`
//! the reach map, aggregated with drill-down. Layouts are fixed-column and ordered by data, so
//! the same input always gives the same picture.
//!
//! The pages render from a [`Snapshot`] held by a [`Site`]; [`watch`] reloads it when the
//! inputs change (a pipeline appending alerts, a checkpoint rewritten).

pub mod alerts;
pub mod filter;
pub mod graph;
pub mod html;
pub mod mapview;
pub mod neighbourhood;
pub mod pages;
pub mod picture;
pub mod policy;
mod routes;
pub mod svg;
pub mod timeline;
mod watch;

pub use alerts::AlertStore;
pub use axum::Router;
pub use graph::ReachGraph;
pub use pages::Page;
pub use routes::router;
pub use watch::{fingerprint, watch};

use std::sync::{Arc, RwLock};

/// What the pages show: the alerts and, when given, the reach graph.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The alerts.
    pub alerts: AlertStore,
    /// The reach graph.
    pub graph: Option<ReachGraph>,
    /// Why the graph could not be read, when it could not (the alerts are still shown).
    pub graph_error: Option<String>,
    /// Where the alerts come from (for messages).
    pub origin: String,
    /// A least-reach policy to show beside the reach it governs, when given.
    pub policy: Option<reachwatch_model::policy::Judge>,
}

/// The site: its base path and the snapshot it serves, replaced whole on reload.
#[derive(Debug)]
pub struct Site {
    base: String,
    current: RwLock<Arc<Snapshot>>,
}

impl Site {
    /// A site under `base` (`""` at the root, `"/ui"` beside the metrics).
    pub fn new(base: &str, snapshot: Snapshot) -> Site {
        Site {
            base: base.trim_end_matches('/').to_string(),
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The base path, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serves a new snapshot from now on.
    pub fn replace(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.current.write() {
            Ok(mut s) => *s = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

/// An alert as a standalone document for a ticket or a chat: `svg` gives the neighbourhood
/// picture, otherwise the whole alert page (its style embedded). `None` if there is no such
/// alert.
pub fn render_alert(s: &Snapshot, id: &str, svg: bool) -> Option<String> {
    s.alerts.get(id)?;
    let page = if svg {
        pages::alert::svg(s, "", id)
    } else {
        pages::alert::render(s, "", id)
    };
    Some(page.body)
}
