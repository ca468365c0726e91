//! The JSON Web Key Set: every published verification key.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

/// `GET /jwks.json` — RFC 7517 section 5; OIDC Core section 10.1.1. Cacheable for
/// `keys.jwks_max_age`: a new key is published `keys.publish_ahead` (at least that plus
/// the reload interval) before it signs, so a relying party's cached copy always holds
/// the key of any token it meets. A relying party that meets an unknown `kid` anyway
/// fetches it again.
pub(super) async fn jwks_get(State(state): State<AppState>) -> Response {
    let mut response = state.keys.jwks().to_string().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let max_age = state.config.keys.jwks_max_age.as_secs();
    if let Ok(v) = HeaderValue::try_from(format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
