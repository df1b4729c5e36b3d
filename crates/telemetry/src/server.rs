//! The HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (alive: the driver makes
//! progress) and `/readyz` (ready: state restored and inputs assigned), optionally with more pages mounted beside them
//! (the web view under `/ui/`). It runs on a thread of its own with a small Tokio runtime
//! ([`crate::http`]), so it never competes with the pipeline's threads for a runtime.

use crate::http::{serve_router, HttpServer};
use crate::Telemetry;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Liveness and readiness, set by the pipeline.
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    started: Instant,
    /// Milliseconds after `started` of the driver's last round, once it is watched.
    last_beat_ms: AtomicU64,
    /// No round for this long means stuck (0: not watched).
    stall_after_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            ready: AtomicBool::new(false),
            started: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            stall_after_ms: AtomicU64::new(0),
        }
    }
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

    /// From now on, the driver counts as stuck when it makes no round for `stall_after`.
    pub fn watch(&self, stall_after: Duration) {
        self.beat();
        self.stall_after_ms
            .store(stall_after.as_millis().max(1) as u64, Ordering::SeqCst);
    }

    /// The driver made a round.
    pub fn beat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_beat_ms.store(ms, Ordering::SeqCst);
    }

    /// How long the driver has made no round, when it is watched and stuck.
    pub fn stalled_for(&self) -> Option<Duration> {
        let stall = self.stall_after_ms.load(Ordering::SeqCst);
        let since = (self.started.elapsed().as_millis() as u64)
            .saturating_sub(self.last_beat_ms.load(Ordering::SeqCst));
        (stall > 0 && since > stall).then(|| Duration::from_millis(since))
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
        .route("/healthz", {
            let health = health.clone();
            any(move || {
                let stalled = health.stalled_for();
                async move {
                    match stalled {
                        None => text(StatusCode::OK, plain, "ok\n".into()),
                        Some(d) => text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            plain,
                            format!("stalled: no progress for {} s\n", d.as_secs()),
                        ),
                    }
                }
            })
        })
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

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn a_watched_driver_without_rounds_is_stalled() {
        let h = Health::default();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(h.stalled_for(), None, "not watched");
        h.watch(Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(1200));
        assert!(h.stalled_for().is_some_and(|d| d >= Duration::from_secs(1)));
        h.beat();
        assert_eq!(h.stalled_for(), None, "a round clears it");
    }
}
