//! The HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (alive: the driver makes
//! progress) and `/readyz` (ready: state restored and inputs assigned).

use crate::Telemetry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
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
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: String,
}

impl Server {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the endpoints on `addr` (`host:port`) on a background thread.
pub fn serve(
    addr: &str,
    telemetry: Arc<Telemetry>,
    health: Arc<Health>,
) -> std::io::Result<Server> {
    let server = Arc::new(
        tiny_http::Server::http(addr)
            .map_err(|e| std::io::Error::other(format!("cannot listen on {addr}: {e}")))?,
    );
    let bound = server
        .server_addr()
        .to_ip()
        .map_or_else(|| addr.to_string(), |a| a.to_string());
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for req in s.incoming_requests() {
                let header = |v: &str| {
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], v.as_bytes())
                        .expect("valid header")
                };
                let (code, body, ctype) = match req.url() {
                    "/metrics" => (
                        200,
                        telemetry.render(),
                        "text/plain; version=0.0.4; charset=utf-8",
                    ),
                    "/healthz" => match health.stalled_for() {
                        None => (200, "ok\n".to_string(), "text/plain"),
                        Some(d) => (
                            503,
                            format!("stalled: no progress for {} s\n", d.as_secs()),
                            "text/plain",
                        ),
                    },
                    "/readyz" if health.is_ready() => (200, "ready\n".to_string(), "text/plain"),
                    "/readyz" => (503, "not ready\n".to_string(), "text/plain"),
                    _ => (
                        404,
                        "not found: try /metrics, /healthz or /readyz\n".to_string(),
                        "text/plain",
                    ),
                };
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(header(ctype));
                let _ = req.respond(resp);
            }
        })?;
    Ok(Server {
        server,
        thread: Some(thread),
        addr: bound,
    })
}

#[cfg(test)]
mod tests {
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
