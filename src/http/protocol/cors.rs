//! CORS for browser-based clients: the token, userinfo and revocation endpoints answer
//! cross-origin only to the origins of a client's registered redirect URIs.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use url::Url;

use crate::{AppState, storage::StoredClient};

fn origin_of(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Whether `origin` is the origin of one of `client`'s redirect URIs.
pub(super) fn client_allows(client: &StoredClient, origin: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|u| origin_of(u).as_deref() == Some(origin))
}

/// Lets the browser read `response` if the request's origin belongs to `client`.
pub(super) fn allow(response: &mut Response, request: &HeaderMap, client: Option<&StoredClient>) {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    let (Some(origin), Some(client)) = (request_origin(request), client) else {
        return;
    };
    if client_allows(client, origin)
        && let Ok(v) = HeaderValue::from_str(origin)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
}

/// `OPTIONS` preflight: allowed for an origin some client registered; the real request
/// is then checked against its own client.
pub(super) async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = request_origin(&headers) else {
        return response;
    };
    let known = match state.store.clients.list().await {
        Ok(clients) => clients.iter().any(|c| client_allows(c, origin)),
        Err(e) => {
            tracing::warn!(error = %e, "CORS preflight: cannot read clients");
            false
        }
    };
    if known && let Ok(v) = HeaderValue::from_str(origin) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}
