//! The only module that knows axum: routes, extractors, and the two error shapes
//! (RFC 6749 JSON for machines, an HTML page for people).
//!
//! `browser` (behind the session layer and CSRF) and `protocol` (stateless, machine
//! facing) never import each other; what both need is here: `paths`, `page`, `error`,
//! `extract`, `middleware`.

use axum::{Router, routing::get};

use crate::AppState;

mod assets;
mod browser;
mod client_ip;
mod error;
mod extract;
mod middleware;
mod page;
mod paths;
mod protocol;
mod serve;

pub use serve::{Draining, TlsError, check_tls, serve};

/// A known path with the wrong method: 405 with an RFC 6749-shaped body, which the
/// protocol's callers expect and a person never meets through our own pages.
async fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response =
        crate::oidc::error::OAuthError::invalid_request("this method is not allowed here")
            .into_response();
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Every route of Portcullis, with its middleware, over `state`.
pub fn build_router(state: AppState) -> Router {
    let https = state.config.issuer.is_https();
    let limits = std::sync::Arc::new(middleware::rate_limit::RateLimits::new(
        &state.config.security.rate_limits,
    ));
    let proxies = client_ip::Proxies::new(&state.config.http);
    let request_timeout = state.config.http.request_timeout;
    let router = Router::new()
        .merge(protocol::router(&state))
        .merge(browser::router(&state))
        .route(paths::STYLESHEET, get(assets::stylesheet))
        .route(paths::PASSKEYS_SCRIPT, get(assets::passkeys_script))
        .fallback(page::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the body limit (the body is read and bounded), before every handler.
        .layer(axum::middleware::from_fn_with_state(
            limits,
            middleware::rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn(
            middleware::body_limit::limit_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            proxies.clone(),
            client_ip::attach,
        ))
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            middleware::timeout::limit_time,
        ))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        // Counts and logs what every layer inside answered (429, 503 and 404 too).
        .layer(axum::middleware::from_fn(middleware::http_metrics::observe))
        // Outermost: every answer has an id, every log line of the request its span.
        .layer(axum::middleware::from_fn_with_state(
            proxies,
            middleware::request_id::assign,
        ))
        .with_state(state);
    if https {
        // Served over https: browsers must never fall back to plain http (RFC 6797).
        router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    }
}
