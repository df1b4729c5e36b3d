//! The axum routes. Pages render on the runtime's blocking pool (rendering is CPU work), and
//! each response says how long it took in a `Server-Timing` header.

use crate::pages::{self, Page};
use crate::{Site, Snapshot};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

/// The pages of `site`, at its base path (merge the result into another router to serve them
/// beside other routes).
pub fn router(site: Arc<Site>) -> Router {
    let base = site.base().to_string();
    let mut r = Router::new()
        .route(&format!("{base}/"), get(list))
        .route(&format!("{base}/alerts/{{id}}"), get(alert))
        .route(&format!("{base}/identities/{{name}}"), get(identity))
        .route(&format!("{base}/map"), get(map));
    if !base.is_empty() {
        let to = format!("{base}/");
        r = r.route(&base, get(move || async move { Redirect::permanent(&to) }));
    }
    r.with_state(site)
}

async fn render(
    site: Arc<Site>,
    f: impl FnOnce(&Snapshot, &str) -> Page + Send + 'static,
) -> Response {
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let snapshot = site.snapshot();
        f(&snapshot, site.base())
    })
    .await;
    let page = match result {
        Ok(p) => p,
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    };
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let mut resp = (
        StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, page.content_type)],
        page.body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={took:.1}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

async fn list(State(site): State<Arc<Site>>, RawQuery(q): RawQuery) -> Response {
    render(site, move |s, base| {
        pages::list::render(s, base, q.as_deref())
    })
    .await
}

async fn alert(State(site): State<Arc<Site>>, Path(id): Path<String>) -> Response {
    render(site, move |s, base| match id.strip_suffix(".svg") {
        Some(id) if s.alerts.get(id).is_some() => pages::alert::svg(s, base, id),
        _ => pages::alert::render(s, base, &id),
    })
    .await
}

async fn identity(State(site): State<Arc<Site>>, Path(name): Path<String>) -> Response {
    render(site, move |s, base| pages::identity::render(s, base, &name)).await
}

async fn map(State(site): State<Arc<Site>>, RawQuery(q): RawQuery) -> Response {
    render(site, move |s, base| {
        pages::map::render(s, base, q.as_deref())
    })
    .await
}
