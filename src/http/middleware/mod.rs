//! Middleware shared by every route: security headers, request ids and the request's
//! log span (`request_id`), request metrics and the answered-request log line
//! (`http_metrics`), the body limit (`body_limit`), the rate limits (`rate_limit`) and
//! the request timeout (`timeout`).

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};

pub(super) mod body_limit;
pub(super) mod http_metrics;
pub(super) mod rate_limit;
pub(super) mod request_id;
pub(super) mod timeout;

/// The page policy: no inline script or style, nothing framed, nothing leaked in the
/// Referer. Scripts only from our own `/static/` (the passkey ceremonies), which may
/// call back only to us. `form-action` is left open on purpose: Chromium applies it to the redirect
/// that follows a form post, which here is the client's redirect URI.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response.
pub(super) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
