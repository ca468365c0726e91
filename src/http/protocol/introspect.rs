//! The introspection endpoint.

use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, client_and_token},
    },
    oidc::error::OAuthError,
};
use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

/// `POST /introspect` — RFC 7662. Only confidential clients may ask. A live token
/// gets `active: true` and its claims; anything else exactly `{"active": false}`.
/// Refresh tokens are introspectable only by the client they were issued to.
pub(super) async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, OAuthError>,
) -> Response {
    let mut response = match client_and_token(&state, &headers, form, false).await {
        Ok((client, token)) => match state.grants.introspect(&client, &token).await {
            Ok(body) => Json(body).into_response(),
            Err(e) => e.into_response(),
        },
        Err((e, _)) => e.into_response(),
    };
    no_store(&mut response);
    response
}
