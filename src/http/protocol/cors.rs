//! CORS for browser-based clients: the token, userinfo and revocation endpoints answer
//! cross-origin only to the origins of registered redirect URIs — on errors too, so a
//! single-page app can read why it was refused (an expired token is not a network error).

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{AppState, oidc::clients::web_origin, storage::StoredClient};

fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Whether `origin` is the origin of one of `client`'s redirect URIs.
fn client_allows(client: &StoredClient, origin: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|u| web_origin(u).as_deref() == Some(origin))
}

/// Whether some client registered a redirect URI at `origin` (one indexed lookup).
async fn registered(state: &AppState, origin: &str) -> bool {
    match state.store.clients.origin_is_registered(origin).await {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(error = %e, "CORS: cannot read client origins");
            false
        }
    }
}

/// Lets the browser read `response`: when the request is the client's own, if its
/// origin is one of that client's; when no client is known (authentication failed, no
/// token), if some client registered the origin.
pub(super) async fn allow(
    state: &AppState,
    response: &mut Response,
    request: &HeaderMap,
    client: Option<&StoredClient>,
) {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = request_origin(request) else {
        return;
    };
    let allowed = match client {
        Some(client) => client_allows(client, origin),
        None => registered(state, origin).await,
    };
    if allowed && let Ok(v) = HeaderValue::from_str(origin) {
        let h = response.headers_mut();
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
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = request_origin(&headers) else {
        return response;
    };
    if registered(&state, origin).await
        && let Ok(v) = HeaderValue::from_str(origin)
    {
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
