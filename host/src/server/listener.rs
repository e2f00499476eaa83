//! The HTTP listener: our own accept loop over hyper, with the timeouts and
//! limits a service facing hostile clients needs (axum's `serve` has none).
//!
//! - **Connection limit** (`max-connections`): past it, a new connection is
//!   closed at once (counted), so descriptors stay for the journal, SQLite
//!   and plugins. The default stays below the process's `RLIMIT_NOFILE`.
//! - **Header-read timeout** (`header-timeout`): a connection that has not
//!   sent a request's complete headers within it is closed, however slowly
//!   it trickles bytes (slowloris). It also bounds how long a connection may
//!   wait before its first request, for HTTP/1 and HTTP/2 alike.
//! - **Idle timeout** (`idle-timeout`): a connection with no request in
//!   progress and no bytes in either direction for this long is closed. For
//!   HTTP/1, hyper's header timeout already runs while a keep-alive
//!   connection waits for its next request, so there the shorter of the two
//!   applies; HTTP/2 connections (no header timer) rely on this one.
//! - **Body-read timeout** (`body-timeout`): a request body not received in
//!   full within it ends in an error ([`BodyTimeout`]), which readers answer
//!   with 408; the handler and its in-flight permit are freed.
//! - **Header size** (`max-header-size`): HTTP/1 headers past it get 431;
//!   HTTP/2 header lists past it are refused.
//! - **HTTP/2 streams** (`http2-max-streams`) per connection, with small
//!   flow-control windows so unread request data held per connection is
//!   bounded (256 KiB).
//! - **Accept errors** (EMFILE, ENFILE, ...) pause the loop briefly instead
//!   of spinning or stopping it.
//!
//! Each is counted in [`crate::metrics::HttpMetrics`] for `/metrics`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::ingest::BodyTimeout;

/// Descriptors kept out of the default connection limit: the journal's
/// segments, SQLite files, the plugin cache, the notify files, the runtime's
/// own (epoll, eventfd, signal pipes) and the listener.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection limit when the descriptor limit cannot be read, and the
/// most the default ever is.
pub const MAX_DEFAULT_CONNECTIONS: u64 = 4096;

/// How long shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Limits and timeouts of the listener (the `[server]` keys of the same
/// names; see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerOptions {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time to receive a request's headers (and the first request).
    pub header_timeout: Duration,
    /// Time a connection may sit with nothing to do.
    pub idle_timeout: Duration,
    /// Time to receive a request's body, from its headers.
    pub body_timeout: Duration,
    /// Largest request head (HTTP/1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub http2_max_streams: u32,
}

impl ListenerOptions {
    /// Safe defaults: a 10 s header timeout, 60 s idle, 30 s body, 64 KiB
    /// of headers, 32 HTTP/2 streams, and [`default_max_connections`].
    pub fn defaults() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            http2_max_streams: 32,
        }
    }
}

/// The default connection limit: the process's soft `RLIMIT_NOFILE` less
/// [`RESERVED_DESCRIPTORS`] (at least 16), at most
/// [`MAX_DEFAULT_CONNECTIONS`].
pub fn default_max_connections() -> usize {
    let limit = descriptor_limit().unwrap_or(MAX_DEFAULT_CONNECTIONS + RESERVED_DESCRIPTORS);
    let connections = limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, MAX_DEFAULT_CONNECTIONS);
    usize::try_from(connections).unwrap_or(16)
}

/// The soft limit on open descriptors, when it can be read and is finite.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit through a valid pointer.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop accepting
/// and give open connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ListenerOptions,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let options = Arc::new(options);
    let http = &metrics.http;
    http.connection_limit
        .store(options.max_connections as u64, Relaxed);
    let builder = Arc::new(builder(&options));
    let slots = Arc::new(Semaphore::new(
        options.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut backoff = Duration::from_millis(5);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(5);
                a
            }
            Err(error) if is_per_connection(&error) => {
                debug!(%error, "a connection failed before it was accepted");
                continue;
            }
            Err(error) => {
                // EMFILE and the like: nothing to accept with; wait for
                // descriptors to come back rather than spin.
                http.accept_errors.fetch_add(1, Relaxed);
                warn!(%error, pause_ms = backoff.as_millis() as u64, "accept failed; pausing the listener");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            http.refused.fetch_add(1, Relaxed);
            debug!(%remote, limit = options.max_connections, "connection limit reached; closed");
            drop(stream);
            continue;
        };
        http.accepted.fetch_add(1, Relaxed);
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let (builder, app, options, metrics) = (
            builder.clone(),
            app.clone(),
            options.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            metrics.http.open.fetch_add(1, Relaxed);
            serve_connection(stream, remote, &builder, app, &options, &metrics, watcher).await;
            metrics.http.open.fetch_sub(1, Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    info!(
        open = graceful.count(),
        "stopped accepting; waiting for open connections"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "connections still open after the grace period are dropped"
        );
    }
}

/// Errors about one incoming connection (it was reset before we took it),
/// after which accepting goes on at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

fn builder(options: &ListenerOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(options.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.http2_max_streams)
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
        .initial_stream_window_size(64 << 10)
        .initial_connection_window_size(256 << 10)
        .max_pending_accept_reset_streams(Some(20));
    builder
}

/// What the watchdog knows about one connection.
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_ms: AtomicU64,
    /// Requests started (headers received).
    started: AtomicU64,
    /// Requests whose response is not finished.
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Relaxed);
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    builder: &auto::Builder<TokioExecutor>,
    app: Router,
    options: &ListenerOptions,
    metrics: &Arc<crate::metrics::Metrics>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        last_ms: AtomicU64::new(0),
        started: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let service = {
        let activity = activity.clone();
        let metrics = metrics.clone();
        let body_timeout = options.body_timeout;
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            activity.started.fetch_add(1, Relaxed);
            activity.in_flight.fetch_add(1, Relaxed);
            let busy = InFlight(activity.clone());
            let mut request =
                request.map(|body| Body::new(TimedBody::new(body, body_timeout, metrics.clone())));
            request.extensions_mut().insert(ConnectInfo(remote));
            let call = app.clone().oneshot(request);
            async move {
                let response = call.await;
                drop(busy);
                response
            }
        })
    };
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let connection = watcher.watch(
        builder
            .serve_connection_with_upgrades(io, service)
            .into_owned(),
    );
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                let timeout = error
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout);
                if timeout {
                    metrics.http.header_timeouts.fetch_add(1, Relaxed);
                    debug!(%remote, "request headers not received in time; connection closed");
                } else {
                    debug!(%remote, %error, "connection ended with an error");
                }
            }
        }
        kind = watchdog(&activity, options) => {
            match kind {
                Expired::Header => metrics.http.header_timeouts.fetch_add(1, Relaxed),
                Expired::Idle => metrics.http.idle_timeouts.fetch_add(1, Relaxed),
            };
            debug!(%remote, ?kind, "connection closed by timeout");
        }
    }
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy)]
enum Expired {
    Header,
    Idle,
}

/// Resolves when the connection has waited too long for its first request
/// (header timeout), or sat idle too long afterwards.
async fn watchdog(activity: &Activity, options: &ListenerOptions) -> Expired {
    let tick = (options.header_timeout.min(options.idle_timeout) / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        let age = activity.opened.elapsed();
        if activity.started.load(Relaxed) == 0 {
            if age >= options.header_timeout {
                return Expired::Header;
            }
            continue;
        }
        let last = Duration::from_millis(activity.last_ms.load(Relaxed));
        if activity.in_flight.load(Relaxed) == 0 && age.saturating_sub(last) >= options.idle_timeout
        {
            return Expired::Idle;
        }
    }
}

/// Marks a request finished when dropped (also when its handler is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
        self.0.touch();
    }
}

/// A socket that notes when bytes move, for the idle timeout.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that fails with [`BodyTimeout`] when it has not ended
/// within the body timeout of the request's arrival.
struct TimedBody {
    inner: Incoming,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration, metrics: Arc<crate::metrics::Metrics>) -> Self {
        let deadline =
            (!http_body::Body::is_end_stream(&inner)).then(|| Box::pin(tokio::time::sleep(limit)));
        Self {
            inner,
            limit,
            deadline,
            metrics,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.deadline = None;
            this.metrics.http.body_timeouts.fetch_add(1, Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_limit_leaves_descriptors_in_reserve() {
        let limit = default_max_connections() as u64;
        assert!((16..=MAX_DEFAULT_CONNECTIONS).contains(&limit));
        if let Some(nofile) = descriptor_limit()
            && nofile > RESERVED_DESCRIPTORS + 16
        {
            assert!(
                limit + RESERVED_DESCRIPTORS <= nofile,
                "{limit} of {nofile}"
            );
        }
    }
}
