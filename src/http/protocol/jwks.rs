//! The JSON Web Key Set: every published verification key.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

/// `GET /jwks.json` — RFC 7517 section 5; OIDC Core section 10.1.1. Cacheable for a
/// minute: a relying party that meets an unknown `kid` fetches it again.
pub(super) async fn jwks_get(State(state): State<AppState>) -> Response {
    let mut response = state.keys.jwks().to_string().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
