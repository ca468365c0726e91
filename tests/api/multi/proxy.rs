//! A round-robin reverse proxy, as a load balancer in front of several instances: each
//! HTTP request (not each connection: clients keep theirs alive) goes to the next
//! instance, and a request an instance refuses to connect for goes to the next one
//! (nginx's `proxy_next_upstream error`). Host, cookies and Location pass untouched, so
//! the instances see what they would behind a real proxy. Every request is logged with
//! the instance that served it, so a test can assert that the traffic really alternated.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};

/// What became of one request at one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The instance answered with this status.
    Answered(u16),
    /// The instance refused the connection; the request went to the next one.
    Refused,
    /// The connection failed after the request was sent (the instance died with it in
    /// flight): the client got 502.
    Lost,
}

/// One attempt to serve one request.
#[derive(Clone, Debug)]
pub(crate) struct Served {
    /// The index of the instance, in the order the proxy was given them.
    pub upstream: usize,
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub outcome: Outcome,
}

struct Shared {
    upstreams: Vec<String>,
    next: AtomicUsize,
    client: reqwest::Client,
    log: Mutex<Vec<Served>>,
}

/// The proxy, listening on a port of its own until dropped.
pub(crate) struct Proxy {
    /// `http://127.0.0.1:<port>`: the issuer every instance serves.
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Binds a port; forwards nothing until `start` names the instances. The port
    /// comes first because the instances must be told the issuer, which is this URL.
    pub(crate) async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        (listener, base)
    }

    /// Serves on `listener`, forwarding to `upstreams` (base URLs) in turn.
    pub(crate) fn start(listener: tokio::net::TcpListener, upstreams: Vec<String>) -> Self {
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("forwarding client");
        let shared = Arc::new(Shared {
            upstreams,
            next: AtomicUsize::new(0),
            client,
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, task }
    }

    /// How many attempts are logged so far: a mark to take `since` from.
    pub(crate) fn mark(&self) -> usize {
        self.shared.log.lock().expect("log").len()
    }

    /// Every attempt logged after `mark`.
    pub(crate) fn since(&self, mark: usize) -> Vec<Served> {
        self.shared.log.lock().expect("log")[mark..].to_vec()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Headers that belong to one hop, not to the request (RFC 9110 section 7.6.1), and
/// the length, which the forwarding client sets for the body it sends.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::CONTENT_LENGTH,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ]
    .contains(name)
}

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !hop_by_hop(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let headers = end_to_end(&parts.headers);
    let count = shared.upstreams.len();
    let first = shared.next.fetch_add(1, Ordering::SeqCst);
    for attempt in 0..count {
        let upstream = (first + attempt) % count;
        let sent = shared
            .client
            .request(
                parts.method.clone(),
                format!("{}{target}", shared.upstreams[upstream]),
            )
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        let log = |outcome| {
            shared.log.lock().expect("log").push(Served {
                upstream,
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                outcome,
            });
        };
        match sent {
            Ok(answer) => {
                let status = answer.status();
                let headers = end_to_end(answer.headers());
                let body: Bytes = match answer.bytes().await {
                    Ok(body) => body,
                    Err(_) => {
                        log(Outcome::Lost);
                        return StatusCode::BAD_GATEWAY.into_response();
                    }
                };
                log(Outcome::Answered(status.as_u16()));
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                return response;
            }
            Err(e) if e.is_connect() => log(Outcome::Refused),
            Err(_) => {
                log(Outcome::Lost);
                return StatusCode::BAD_GATEWAY.into_response();
            }
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}

/// The proxy itself: a test that trusts it to alternate must know that it does.
mod tests {
    use axum::{
        http::{HeaderMap, header},
        response::IntoResponse,
        routing::get,
    };
    use serde_json::{Value, json};

    use super::{Outcome, Proxy};
    use crate::multi::instance::free_port;

    /// An upstream that answers with its name and the Host and Cookie it was sent, a
    /// relative Location and a cookie of its own.
    async fn echo(name: &'static str) -> String {
        let app = axum::Router::new().route(
            "/echo",
            get(move |headers: HeaderMap| async move {
                let seen = |h| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                (
                    [
                        (header::LOCATION, "/next?x=%2F"),
                        (header::SET_COOKIE, "id=abc; Path=/; HttpOnly"),
                    ],
                    axum::Json(json!({
                        "upstream": name,
                        "host": seen(header::HOST),
                        "cookie": seen(header::COOKIE),
                    })),
                )
                    .into_response()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    }

    #[tokio::test]
    async fn the_proxy_alternates_per_request_passes_refused_ones_on_and_keeps_headers() {
        let (a, b) = (echo("a").await, echo("b").await);
        let dead = format!("http://127.0.0.1:{}", free_port());
        let (listener, base) = Proxy::bind().await;
        let proxy = Proxy::start(listener, vec![a, dead, b]);
        // One client, one kept-alive connection, requests one after another.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let mut upstreams = Vec::new();
        for _ in 0..6 {
            let r = http
                .get(format!("{base}/echo"))
                .header(header::COOKIE, "session=s1")
                .send()
                .await
                .expect("through the proxy");
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()[header::LOCATION], "/next?x=%2F");
            assert_eq!(r.headers()[header::SET_COOKIE], "id=abc; Path=/; HttpOnly");
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["host"], base.trim_start_matches("http://"));
            assert_eq!(body["cookie"], "session=s1");
            upstreams.push(body["upstream"].as_str().expect("name").to_owned());
        }
        // a, dead (passed on to b), b, a, dead (to b), b.
        assert_eq!(upstreams, ["a", "b", "b", "a", "b", "b"]);
        let log = proxy.since(0);
        assert_eq!(
            log.iter().filter(|s| s.outcome == Outcome::Refused).count(),
            2
        );
        assert!(
            log.iter()
                .filter(|s| s.upstream == 1)
                .all(|s| s.outcome == Outcome::Refused)
        );
    }
}
