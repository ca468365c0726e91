//! The server loop: background jobs, then our own accept loop over hyper until shutdown.
//!
//! Not `axum::serve`, because it gives no way to let a client half-close: hyper then
//! drops a connection whose client shut its write side after sending the request
//! (`nc -N`, or `Connection: close` then `shutdown(SHUT_WR)`), and the request, though
//! complete, never gets its answer (RFC 9112 section 9.6 lets the client close first).

use std::{io, net::SocketAddr, time::Duration};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::TokioIo,
    server::graceful::{GracefulShutdown, Watcher},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer;

use crate::{AppState, app::StartError};

/// How long the requests in flight may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after the listener failed (out of file
/// descriptors, say): long enough for some to be freed, short enough not to be noticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves until `shutdown` completes, then finishes the requests in flight (for at
/// most `DRAIN_TIMEOUT`) and closes the database.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    state.spawn_purger();
    state.spawn_mail_worker()?;
    let db = state.store.db.clone();
    let app = super::build_router(state);
    let mut http = http1::Builder::new();
    http.half_close(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            // Shutdown first: once it has begun, connections still queued are not taken.
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    spawn_connection(&http, &app, graceful.watcher(), stream, remote);
                }
                Err(e) => accept_failed(&e).await,
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?DRAIN_TIMEOUT,
            "requests still in flight at the end of shutdown were cut off"
        );
    }
    db.close().await;
    Ok(())
}

/// Serves one connection on its own task, its requests carrying `ConnectInfo`.
fn spawn_connection(
    http: &http1::Builder,
    app: &Router,
    watcher: Watcher,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let service = TowerToHyperService::new(Extension(ConnectInfo(remote)).layer(app.clone()));
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::spawn(async move {
        if let Err(e) = watcher.watch(connection).await {
            // A client that goes away mid-request, or sends garbage: theirs, not ours.
            tracing::debug!(error = %e, %remote, "connection ended with an error");
        }
    });
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
