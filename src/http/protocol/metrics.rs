//! `/metrics`: every metric in the Prometheus text exposition format (version 0.0.4).
//!
//! Served on a listener of its own at `metrics.bind` (`metrics_only`), which is meant
//! to be reachable only from the monitoring network, or on the main port when
//! `metrics.token` is set, to requests that send it as a bearer token (RFC 6750 section
//! 2.1). With neither, the main port's `/metrics` is a 404 like any unknown path. Never
//! cached, and not counted by the rate limits (a scrape every few seconds is normal).

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use subtle::ConstantTimeEq;

use super::paths;
use crate::{AppState, crypto::Secret};

/// The exposition format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` on the main port when `metrics.token` is set; no route otherwise.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    if state.config.metrics.token.is_some() {
        Router::new().route(paths::METRICS, get(metrics_get))
    } else {
        Router::new()
    }
}

/// The router of the `metrics.bind` listener: `/metrics`, and 404 for anything else.
pub(in crate::http) fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route(paths::METRICS, get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Only /metrics is served here.\n") })
        .with_state(state)
}

/// `GET /metrics` on the main port: only with `Authorization: Bearer <metrics.token>`.
async fn metrics_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.config.metrics.token {
        Some(token) if bearer_matches(&headers, token) => scrape(State(state)).await,
        _ => {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "The metrics token is required: send Authorization: Bearer <metrics.token>.\n",
            )
                .into_response();
            let h = response.headers_mut();
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}

/// The rendered metrics, never cached.
async fn scrape(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.store).await;
    (
        [
            (header::CONTENT_TYPE, TEXT_FORMAT),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Whether the request's bearer token is `token`, compared in constant time (over
/// digests, so that not even the length is told by timing).
fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(sent) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, sent)| sent.trim())
    else {
        return false;
    };
    let sent = crate::crypto::sha256_b64url(sent.as_bytes());
    let want = crate::crypto::sha256_b64url(token.expose().as_bytes());
    sent.as_bytes().ct_eq(want.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("value"),
        );
        h
    }

    #[test]
    fn only_the_exact_token_as_a_bearer_passes() {
        let token = Secret::new("0123456789abcdef0123");
        assert!(bearer_matches(&with("Bearer 0123456789abcdef0123"), &token));
        assert!(bearer_matches(&with("bearer 0123456789abcdef0123"), &token));
        assert!(!bearer_matches(&with("Bearer 0123456789abcdef012"), &token));
        assert!(!bearer_matches(&with("Basic 0123456789abcdef0123"), &token));
        assert!(!bearer_matches(&with("Bearer"), &token));
        assert!(!bearer_matches(&with("0123456789abcdef0123"), &token));
        assert!(!bearer_matches(&HeaderMap::new(), &token));
    }
}
