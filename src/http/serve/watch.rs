//! A connection's watchdog: what it has been doing (`Activity`, kept by the socket
//! wrapper `Watched` and the service wrapper `InFlight`), and `expired`, which returns
//! once it has waited too long for headers or sat idle too long.
//!
//! While a request is being answered the watchdog never fires: the request timeout
//! (`http::middleware::timeout`) bounds that part.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
    time::Instant,
};

use super::Limits;

/// What a connection has been doing, shared by its socket, its service and its watchdog.
#[derive(Clone, Debug)]
pub(super) struct Activity {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

#[derive(Debug)]
struct State {
    /// Requests handed to the router and not yet answered.
    in_flight: usize,
    /// Since when nothing has been in flight (or the connection was accepted).
    idle_since: Instant,
    /// When the first byte of the next request arrived, until it is handed over.
    reading_since: Option<Instant>,
    /// Whether a request has been answered on this connection already.
    served: bool,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                reading_since: None,
                served: false,
            })),
            changed: Arc::new(Notify::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; were it poisoned, the counts are still sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) {
        let mut s = self.state();
        if s.in_flight == 0 && s.reading_since.is_none() {
            s.reading_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        let mut s = self.state();
        if s.in_flight == 0 {
            // The end of an answer still going out: the idle time starts after it.
            s.idle_since = Instant::now();
        }
    }

    fn begin(&self) {
        let mut s = self.state();
        s.in_flight += 1;
        s.reading_since = None;
        drop(s);
        self.changed.notify_one();
    }

    fn end(&self) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.served = true;
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.reading_since = None;
        }
        drop(s);
        self.changed.notify_one();
    }

    /// When the connection is to be closed, and why; `None` while a request is in flight.
    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        let s = self.state();
        let (since, limit, why) = if s.in_flight > 0 {
            return None;
        } else if let Some(started) = s.reading_since {
            (
                started,
                limits.header_read_timeout,
                "the request's headers did not arrive in time",
            )
        } else if !s.served {
            (
                s.idle_since,
                limits.header_read_timeout,
                "no request arrived in time",
            )
        } else {
            (
                s.idle_since,
                limits.keep_alive_timeout,
                "idle for the keep-alive timeout",
            )
        };
        // A limit too far away to add is no limit (settings are bounded; never panic).
        since.checked_add(limit).map(|at| (at, why))
    }
}

/// Returns, with the reason, once the connection has waited too long for a request's
/// headers (`header_read_timeout`, also for a first request that never comes) or has
/// been idle between requests too long (`keep_alive_timeout`).
pub(super) async fn expired(activity: &Activity, limits: Limits) -> &'static str {
    loop {
        let changed = activity.changed.notified();
        match activity.deadline(limits) {
            Some((at, why)) if at <= Instant::now() => return why,
            Some((at, _)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                }
            }
            // In flight: the request timeout bounds it; wait for it to end.
            None => changed.await,
        }
    }
}

/// The socket, telling `Activity` when bytes arrive or leave.
#[derive(Debug)]
pub(super) struct Watched<T> {
    inner: T,
    activity: Activity,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The service, telling `Activity` when a request is handed over and answered.
#[derive(Clone, Debug)]
pub(super) struct InFlight<S> {
    inner: S,
    activity: Activity,
}

impl<S> InFlight<S> {
    pub(super) fn new(inner: S, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

/// Counts a request as in flight for as long as it lives, however it ends.
struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> hyper::service::Service<R> for InFlight<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, request: R) -> Self::Future {
        self.activity.begin();
        let busy = Busy(self.activity.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(busy);
            answered
        })
    }
}
