//! The pages, each rendered from a [`Snapshot`] to a whole HTML document (or an SVG), with no
//! scripts: the alert list, an alert, an identity, the reach map.

pub mod alert;
pub mod identity;
pub mod list;
pub mod map;

use crate::html::{page, Esc};
use crate::Snapshot;

/// A rendered response.
#[derive(Clone, Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// The document.
    pub body: String,
}

/// Content type of the pages.
pub const HTML: &str = "text/html; charset=utf-8";
/// Content type of standalone pictures.
pub const SVG: &str = "image/svg+xml";

impl Page {
    /// A 200 HTML page.
    pub fn html(body: String) -> Page {
        Page {
            status: 200,
            content_type: HTML,
            body,
        }
    }

    /// A 404 page saying what was not found, with a way back.
    pub fn not_found(base: &str, what: &str) -> Page {
        Page {
            status: 404,
            content_type: HTML,
            body: page(
                base,
                "Not found",
                &format!(
                    "<h1>Not found</h1><p class=\"error\">{}</p><p><a href=\"{base}/\">All alerts</a></p>",
                    Esc(what)
                ),
            ),
        }
    }
}

/// Warnings about the inputs, shown on top of the pages that depend on them.
pub fn input_warnings(s: &Snapshot) -> String {
    let mut out = String::new();
    let a = &s.alerts;
    if a.problem_count() > 0 {
        out.push_str(&format!(
            "<div class=\"warn\" title=\"lines of the alert file that are not native reachwatch alerts; the alerts around them are shown\">{} line(s) of the alert file could not be read:<br>{}</div>",
            a.problem_count(),
            a.problems()
                .iter()
                .map(|p| Esc(p).to_string())
                .collect::<Vec<_>>()
                .join("<br>")
        ));
    }
    if let Some(e) = &s.graph_error {
        out.push_str(&format!(
            "<div class=\"warn\">The reach graph could not be read: {}</div>",
            Esc(e)
        ));
    }
    out
}
