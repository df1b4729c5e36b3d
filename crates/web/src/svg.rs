//! SVG drawing primitives shared by the pictures: a document with its own style sheet (so a
//! picture saved alone looks the same), boxes with a label and a hover explanation, curved
//! edges, and text. Every value is escaped.

use crate::html::{clip, Esc};
use std::fmt::Write as _;

/// The pictures' style sheet, inside each SVG.
const STYLE: &str = "\
text{font:12px 'DejaVu Sans',Helvetica,Arial,sans-serif;fill:#1f2937}\
.node rect{stroke-width:1.3}\
.host rect{fill:#f3f4f6;stroke:#9ca3af}\
.host.alert rect{fill:#fee2e2;stroke:#dc2626;stroke-width:2}\
.host.jewel rect{stroke:#7c3aed;stroke-width:2}\
.identity rect{fill:#111827;stroke:#111827}.identity text{fill:#fff;font-weight:bold}\
.peer rect,.hop-identity rect{fill:#eef2ff;stroke:#6366f1}\
.more rect{fill:#fff;stroke:#d1d5db;stroke-dasharray:3 3}.more text{fill:#6b7280}\
.group rect{fill:#f3f4f6;stroke:#6b7280}.group.alerted rect{fill:#fee2e2;stroke:#dc2626}\
.edge{fill:none;pointer-events:stroke}\
.edge.baseline{stroke:#9ca3af;stroke-width:1.5}\
.edge.new{stroke:#dc2626;stroke-width:2.6}\
.edge.failed{stroke-dasharray:7 4}\
.edge.hop-in{stroke:#ea580c;stroke-width:2.6;stroke-dasharray:2 4}\
.edge.peer{stroke:#818cf8;stroke-width:1.4;stroke-dasharray:5 3}\
.edge.use{stroke:#94a3b8;stroke-opacity:.75}\
.edge.crossing{stroke:#ea580c;stroke-opacity:.9}\
.label{fill:#b91c1c;font-size:11px}\
.col{fill:#6b7280;font-size:11px;font-weight:bold}\
.axis{stroke:#9ca3af}.tick{fill:#6b7280;font-size:10px}\
.dot{fill:#475569}.dot.jewel{fill:#7c3aed}.dot.alert{fill:#dc2626}";

/// An SVG document being written.
pub struct Svg {
    out: String,
}

/// Height of a box.
pub const BOX_H: f64 = 22.0;

impl Svg {
    /// A document of the given size, with a title (its accessible name) and the arrow markers.
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\"><title>{}</title><style>{STYLE}</style>\
             <defs>{}{}{}</defs>",
            Esc(title),
            marker("rw-arrow-red", "#dc2626"),
            marker("rw-arrow-grey", "#9ca3af"),
            marker("rw-arrow-orange", "#ea580c"),
        );
        Svg { out }
    }

    /// Raw markup (already escaped).
    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A labelled box at (`x`, `y`) (top left) of width `w`: `class` on its group, `attrs`
    /// (already escaped) for tests and tools, `tip` on hover, `label` clipped to fit.
    #[allow(clippy::too_many_arguments)]
    pub fn node(
        &mut self,
        class: &str,
        attrs: &str,
        x: f64,
        y: f64,
        w: f64,
        label: &str,
        tip: &str,
        href: Option<&str>,
    ) {
        let chars = ((w - 10.0) / 7.0).max(3.0) as usize;
        if let Some(h) = href {
            let _ = write!(self.out, "<a href=\"{}\">", Esc(h));
        }
        let _ = write!(
            self.out,
            "<g class=\"node {class}\" {attrs}><title>{}</title>\
             <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BOX_H}\" rx=\"4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
            Esc(tip),
            x + w / 2.0,
            y + 15.0,
            Esc(&clip(label, chars)),
        );
        if href.is_some() {
            self.out.push_str("</a>");
        }
    }

    /// A path with `class`, `attrs` (already escaped), `d` and a hover explanation; `arrow`
    /// names a marker for its end.
    pub fn path(&mut self, class: &str, attrs: &str, d: &str, tip: &str, arrow: Option<&str>) {
        let end = arrow.map_or(String::new(), |m| format!(" marker-end=\"url(#{m})\""));
        let _ = write!(
            self.out,
            "<path class=\"edge {class}\" {attrs} d=\"{d}\"{end}><title>{}</title></path>",
            Esc(tip)
        );
    }

    /// Text at (`x`, `y`) with `class` and `anchor` (`start`, `middle`, `end`).
    pub fn text(&mut self, class: &str, x: f64, y: f64, anchor: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            Esc(text)
        );
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

fn marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerUnits=\"userSpaceOnUse\" \
         markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
    )
}

/// A horizontal S-curve from (`x1`, `y1`) to (`x2`, `y2`), as path data.
pub fn curve(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    let mx = (x1 + x2) / 2.0;
    format!("M{x1:.1},{y1:.1} C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}")
}

/// More of a path: an S-curve from the current point (`x1`, `y1`) to (`x2`, `y2`).
pub fn curve_on(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    let mx = (x1 + x2) / 2.0;
    format!(" C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}")
}

/// An attribute with an escaped value: ` name="value"`.
pub fn attr(name: &str, value: &str) -> String {
    format!(" {name}=\"{}\"", Esc(value))
}
