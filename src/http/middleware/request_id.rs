//! `X-Request-Id`: every response carries one, and every log line written while its
//! request is served carries the same (`request_id`, a field of the request's span).
//!
//! The id is the one a trusted proxy (`http.trusted_proxies`) sent, when it is sane —
//! visible ASCII, at most 128 characters — so a request can be followed from the edge
//! through us; from anyone else, or when not sane, it is a fresh UUID v7 (time-ordered,
//! 74 random bits). A client cannot choose what our logs call its request.
//!
//! This is the outermost layer, so that every answer has the id: the timeout's 503,
//! the rate limits' 429, the 404 of an unknown path, and errors alike.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use crate::http::client_ip::Proxies;

/// The header, in requests (from a proxy) and in every response.
pub(in crate::http) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a proxy.
const MAX_LEN: usize = 128;

/// What the request's log lines name its route when no route matched (a 404).
pub(in crate::http) const UNMATCHED: &str = "unmatched";

/// The request's route template (`MatchedPath`), or `UNMATCHED`: what metrics and
/// logs name a request by, never its raw path.
pub(in crate::http) fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned())
}

/// Gives the request its id and runs it inside the `request` span that names it;
/// puts the id on the response.
pub(in crate::http) async fn assign(
    State(proxies): State<Proxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let trusted = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| proxies.trusts(peer.ip().to_canonical()));
    let id = trusted
        .then(|| request.headers().get(&X_REQUEST_ID))
        .flatten()
        .and_then(sane)
        .unwrap_or_else(generated);
    // Handlers that read the header see the one id the logs use.
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %request.method(),
        route = %route_of(&request),
        // The path only: the query carries codes, tokens and state.
        path = %request.uri().path(),
    );
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// A proxy's id, when it is one we may copy into logs and headers as it is.
fn sane(value: &HeaderValue) -> Option<HeaderValue> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    ok.then(|| value.clone())
}

/// A fresh id: a UUID v7.
fn generated() -> HeaderValue {
    let id = uuid::Uuid::now_v7().to_string();
    // A UUID's text is always a valid header value.
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_ascii_up_to_128_characters_is_sane() {
        let ok = |s: &str| sane(&HeaderValue::from_str(s).expect("value")).is_some();
        assert!(ok("abc-123_XYZ.:/=+"));
        assert!(ok(&"a".repeat(128)));
        assert!(!ok(&"a".repeat(129)));
        assert!(!ok(""));
        assert!(!ok("has space"));
        assert!(!ok("tab\there"));
        let obs = HeaderValue::from_bytes(b"caf\xc3\xa9").expect("obs-text");
        assert!(sane(&obs).is_none(), "non-ASCII bytes are refused");
    }

    #[test]
    fn generated_ids_are_uuids_and_differ() {
        let (a, b) = (generated(), generated());
        assert_ne!(a, b);
        let a = a.to_str().expect("ascii");
        assert_eq!(uuid::Uuid::parse_str(a).expect("uuid").get_version_num(), 7);
    }
}
