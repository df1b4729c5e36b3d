//! A small HTTP server for an axum [`Router`] on a thread of its own: a single-threaded Tokio
//! runtime (handlers that compute much move the work to its blocking pool), at most
//! [`MAX_CONNECTIONS`] open connections (more wait in the listen backlog), and connections idle
//! for [`IDLE_TIMEOUT`] closed, so slow or stuck clients cannot hold the endpoint. It stops when
//! the [`HttpServer`] is dropped.

use axum::Router;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once; further clients wait in the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 64;

/// A connection with neither a read nor a write for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long requests in progress may still finish once the server is stopped.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running server; stops when dropped (requests in progress get [`STOP_GRACE`] to finish).
pub struct HttpServer {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    addr: String,
}

impl HttpServer {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `router` on `addr` (`host:port`; port 0 picks a free one) on a thread named `name`.
pub fn serve_router(addr: &str, name: &str, router: Router) -> io::Result<HttpServer> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            runtime.block_on(run(listener, router, stopped));
            // Dropping the runtime ends connections still open after the grace period.
        })?;
    Ok(HttpServer {
        stop,
        thread: Some(thread),
        addr: bound,
    })
}

async fn run(listener: std::net::TcpListener, router: Router, stopped: watch::Receiver<bool>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve HTTP");
            return;
        }
    };
    let limited = Limited {
        inner: listener,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    let serving =
        axum::serve(limited, router).with_graceful_shutdown(until_stopped(stopped.clone()));
    tokio::select! {
        _ = serving => {}
        _ = async { until_stopped(stopped).await; tokio::time::sleep(STOP_GRACE).await } => {}
    }
}

/// Resolves once the server is told to stop (or its handle is gone).
async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// A listener that hands out at most as many connections as it has permits.
struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for Limited {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = loop {
            if let Ok(p) = self.permits.clone().acquire_owned().await {
                break p;
            }
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (Connection::new(stream, permit), addr);
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: holds its permit until closed, and fails once idle too long.
struct Connection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    deadline: Pin<Box<Sleep>>,
}

impl Connection {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit) -> Connection {
        Connection {
            stream,
            _permit: permit,
            deadline: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
        }
    }

    /// Something moved: the idle clock starts again.
    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
    }

    /// The stream is not ready: pending, or an error once the idle time is up.
    fn pending_or_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn after<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending_or_idle(cx),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.after(cx, poll)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        this.after(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn connections_beyond_the_limit_wait_until_one_closes() {
        let router = Router::new().route("/x", axum::routing::get(|| async { "hello" }));
        let server = serve_router("127.0.0.1:0", "test-http", router).unwrap();
        let addr = server.addr().to_string();
        // Fill every slot with a connection that sends nothing.
        let idle: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(&addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        // The next client is accepted by the kernel but not served while the slots are full.
        let mut waiting = std::net::TcpStream::connect(&addr).unwrap();
        waiting
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        write!(
            waiting,
            "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = [0u8; 64];
        let err = waiting.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        // One slot frees: the waiting request is answered.
        drop(idle);
        waiting
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut text = String::new();
        waiting.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("hello"), "{text}");
        assert!(get(&addr).ends_with("hello"));
    }

    #[test]
    fn dropping_the_server_stops_it_even_with_idle_connections_open() {
        let server = serve_router("127.0.0.1:0", "test-http", Router::new()).unwrap();
        let addr = server.addr().to_string();
        let _idle = std::net::TcpStream::connect(&addr).unwrap();
        let started = std::time::Instant::now();
        drop(server);
        assert!(started.elapsed() < STOP_GRACE + Duration::from_secs(2));
        assert!(std::net::TcpStream::connect(&addr).is_err());
    }
}
