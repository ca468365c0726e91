//! The revocation endpoint.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::cors;
use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, client_and_token},
    },
    oidc::error::OAuthError,
};

/// `POST /revoke` — RFC 7009. Unknown, foreign-signed or expired tokens get 200: the
/// client's goal, a dead token, is met. Revoking a refresh token revokes its whole grant
/// and the access tokens issued with it (section 2.1).
pub(super) async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, OAuthError>,
) -> Response {
    let (mut response, client) = match client_and_token(&state, &headers, form, true).await {
        Ok((client, token)) => match state.grants.revoke(&client, &token).await {
            Ok(()) => (StatusCode::OK.into_response(), Some(client)),
            Err(e) => (e.into_response(), Some(client)),
        },
        Err((e, client)) => (e.into_response(), client),
    };
    no_store(&mut response);
    cors::allow(&state, &mut response, &headers, client.as_ref()).await;
    response
}
