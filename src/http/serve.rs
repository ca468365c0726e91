//! The server loop: background jobs, then our own accept loop over hyper until shutdown.
//!
//! Not `axum::serve`, because it gives no way to let a client half-close: hyper then
//! drops a connection whose client shut its write side after sending the request
//! (`nc -N`, or `Connection: close` then `shutdown(SHUT_WR)`), and the request, though
//! complete, never gets its answer (RFC 9112 section 9.6 lets the client close first).
//!
//! It is also where a connection's limits live (`[http]`): at most `max_connections` at
//! once, and a watchdog per connection (`watch`) that closes it when its client is too
//! slow to send a request's headers, or sits idle between requests too long. Only
//! HTTP/1.1 is served; were HTTP/2 added, its limits (streams per connection, header
//! list size, keep-alive pings) would be set here too.
//!
//! With `[tls]` set, each accepted connection is first a TLS handshake (`tls`), on the
//! connection's own task and bounded by `header_read_timeout`, so a slow or silent
//! client never holds up the loop.

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::TokioIo,
    server::graceful::{GracefulShutdown, Watcher},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tower_layer::Layer;

use crate::{AppState, app::StartError, config::HttpSettings};

mod tls;
mod watch;

pub use tls::{TlsError, check as check_tls};

/// Set once shutdown has begun: `/readyz` answers 503 during `http.shutdown_delay`,
/// so a load balancer stops sending traffic before the listener closes.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How long to wait before accepting again after the listener failed (out of file
/// descriptors, say): long enough for some to be freed, short enough not to be noticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until `shutdown` completes, then finishes the requests in flight (for at
/// most `http.shutdown_timeout`) and closes the database. Over https when `[tls]` is
/// set: a certificate or key that cannot be used is a start error.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let tls = match state.config.tls.files() {
        Some(files) => Some(Arc::new(tls::Tls::load(files)?)),
        None => None,
    };
    let reloader = tls.as_ref().map(tls::Tls::spawn_reloader);
    crate::jobs::spawn_all(&state);
    state.spawn_mail_worker()?;
    let metrics_listener = spawn_metrics_listener(&state).await?;
    let db = state.store.db.clone();
    let limits = Limits::from(&state.config.http);
    let drain_timeout = state.config.http.shutdown_timeout;
    let state_delay = state.config.http.shutdown_delay;
    let draining = Draining::default();
    let app = super::build_router(state).layer(Extension(draining.clone()));
    let mut http = http1::Builder::new();
    // hyper's own header-read timer would also close a keep-alive connection once it
    // has been idle for the header timeout, so the two could not differ: the watchdog
    // keeps both instead.
    http.half_close(true).header_read_timeout(None);
    // A cap on connections, not on the kernel's queue: past it we stop accepting, so a
    // client's connection waits, already open, in the listen backlog until one closes.
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let announced = draining.clone();
    let delay = state_delay;
    // Once asked to stop, `/readyz` says 503 at once; connections are still taken for
    // `shutdown_delay`, while load balancers and Kubernetes endpoints catch up.
    let mut shutdown = std::pin::pin!(async move {
        shutdown.await;
        announced.begin();
        if !delay.is_zero() {
            tracing::info!(delay = ?delay, "not ready any more; still serving new connections for the shutdown delay");
            tokio::time::sleep(delay).await;
        }
    });
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; were it, nothing more could be served.
                Err(_) => break,
            },
        };
        tokio::select! {
            // Shutdown first: once it has begun, connections still queued are not taken.
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let acceptor = tls.as_ref().map(|t| t.acceptor());
                    let connection = Connection { stream, remote, slot, limits, acceptor };
                    spawn_connection(&http, &app, graceful.watcher(), connection);
                }
                Err(e) => accept_failed(&e).await,
            },
        }
    }
    drop(listener);
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?drain_timeout,
            "requests still in flight at the end of shutdown were cut off"
        );
    }
    if let Some(task) = metrics_listener {
        task.abort();
    }
    db.close().await;
    Ok(())
}

/// Serves `/metrics` alone on `metrics.bind`, when set, until the server stops. A
/// scrape is one short request from a monitoring network, so this listener has none of
/// the main port's connection limits.
async fn spawn_metrics_listener(
    state: &AppState,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    let Some(addr) = state.config.metrics.bind else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let app = super::protocol::metrics::metrics_only(state.clone());
    tracing::info!(%addr, "serving /metrics");
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    })))
}

/// What one connection is allowed, from `[http]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

impl From<&HttpSettings> for Limits {
    fn from(s: &HttpSettings) -> Self {
        Self {
            header_read_timeout: s.header_read_timeout,
            keep_alive_timeout: s.keep_alive_timeout,
            max_connections: s.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        }
    }
}

/// An accepted connection and the slot it holds until it closes.
struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    slot: OwnedSemaphorePermit,
    limits: Limits,
    /// Set when serving https: the handshake comes first.
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves one connection on its own task (after its TLS handshake, if any), its
/// requests carrying `ConnectInfo`, until it ends or its watchdog closes it.
fn spawn_connection(http: &http1::Builder, app: &Router, watcher: Watcher, c: Connection) {
    let Connection {
        stream,
        remote,
        slot,
        limits,
        acceptor,
    } = c;
    let http = http.clone();
    let app = app.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let Some(acceptor) = acceptor else {
            return serve_connection(&http, app, watcher, stream, remote, limits).await;
        };
        match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => serve_connection(&http, app, watcher, stream, remote, limits).await,
            // Scanners, plain http sent to the https port, clients that distrust us.
            Ok(Err(e)) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
            Err(_) => tracing::debug!(%remote, "TLS handshake did not finish in time"),
        }
    });
}

async fn serve_connection<S>(
    http: &http1::Builder,
    app: Router,
    watcher: Watcher,
    stream: S,
    remote: SocketAddr,
    limits: Limits,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = watch::Activity::new();
    let app = Extension(ConnectInfo(remote)).layer(app);
    let service = watch::InFlight::new(TowerToHyperService::new(app), activity.clone());
    let io = TokioIo::new(watch::Watched::new(stream, activity.clone()));
    let connection = http.serve_connection(io, service);
    tokio::select! {
        ended = watcher.watch(connection) => {
            if let Err(e) = ended {
                // A client that goes away mid-request, or sends garbage: theirs.
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        }
        why = watch::expired(&activity, limits) => {
            // Dropping the connection closes the socket; nothing is in flight.
            tracing::debug!(%remote, reason = why, "connection closed");
        }
    }
}

/// An accept error ends only the attempt, never the loop. A connection the client
/// abandoned before we took it is retried at once; anything else (EMFILE, ENFILE,
/// ENOBUFS) is logged and waited out.
async fn accept_failed(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        tracing::debug!(error = %e, "a connection was lost before it was accepted");
        return;
    }
    tracing::error!(error = %e, backoff = ?ACCEPT_BACKOFF, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}
