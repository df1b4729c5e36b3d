//! The HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (alive) and `/readyz`
//! (ready: state restored and inputs assigned), optionally with more pages mounted beside them
//! (the web view under `/ui/`). It runs on a thread of its own with a small Tokio runtime
//! ([`crate::http`]), so it never competes with the pipeline's threads for a runtime.

use crate::http::{serve_router, HttpServer};
use crate::Telemetry;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Liveness and readiness flags, set by the pipeline.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    /// Marks the pipeline ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Is it ready?
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// A running endpoint; stops when dropped.
pub type Server = HttpServer;

fn text(code: StatusCode, ctype: &'static str, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

/// The metrics routes, with `extra` (routes of their own, e.g. the web view nested under
/// `/ui`) merged in; anything else is a 404 that names the endpoints.
pub fn metrics_router(telemetry: Arc<Telemetry>, health: Arc<Health>, extra: Router) -> Router {
    let plain = "text/plain";
    Router::new()
        .route(
            "/metrics",
            any(move || {
                let t = telemetry.clone();
                async move {
                    text(
                        StatusCode::OK,
                        "text/plain; version=0.0.4; charset=utf-8",
                        t.render(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            any(move || async move { text(StatusCode::OK, plain, "ok\n".into()) }),
        )
        .route(
            "/readyz",
            any(move || {
                let ready = health.is_ready();
                async move {
                    match ready {
                        true => text(StatusCode::OK, plain, "ready\n".into()),
                        false => text(StatusCode::SERVICE_UNAVAILABLE, plain, "not ready\n".into()),
                    }
                }
            }),
        )
        .merge(extra)
        .fallback(move || async move {
            text(
                StatusCode::NOT_FOUND,
                plain,
                "not found: try /metrics, /healthz or /readyz\n".into(),
            )
        })
}

/// Serves the endpoints on `addr` (`host:port`) on a background thread.
pub fn serve(
    addr: &str,
    telemetry: Arc<Telemetry>,
    health: Arc<Health>,
) -> std::io::Result<Server> {
    serve_with(addr, telemetry, health, Router::new())
}

/// Serves the endpoints and the routes of `extra` on `addr` on a background thread.
pub fn serve_with(
    addr: &str,
    telemetry: Arc<Telemetry>,
    health: Arc<Health>,
    extra: Router,
) -> std::io::Result<Server> {
    serve_router(
        addr,
        "metrics-http",
        metrics_router(telemetry, health, extra),
    )
}
