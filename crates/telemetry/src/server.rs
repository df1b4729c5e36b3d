//! The HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (alive) and `/readyz`
//! (ready: state restored and inputs assigned).

use crate::Telemetry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

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
                    "/healthz" => (200, "ok\n".to_string(), "text/plain"),
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
