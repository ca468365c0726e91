//! The revocation endpoint.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, client_and_token},
        middleware::cors,
    },
    oidc::{
        error::{Error, OAuthError},
        tokens::{self, Kind},
    },
    storage::{StoredClient, now},
};

/// `POST /revoke` — RFC 7009. Unknown, foreign-signed or expired tokens get 200: the
/// client's goal, a dead token, is met. Revoking a refresh token revokes its whole grant
/// and the access tokens issued with it (section 2.1).
pub async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, OAuthError>,
) -> Response {
    let (mut response, client) = match client_and_token(&state, &headers, form, true).await {
        Ok((client, token)) => match revoke(&state, &client, &token).await {
            Ok(()) => (StatusCode::OK.into_response(), Some(client)),
            Err(e) => (e.into_response(), Some(client)),
        },
        Err((e, client)) => (e.into_response(), client),
    };
    no_store(&mut response);
    cors::allow(&mut response, &headers, client.as_ref());
    response
}

async fn revoke(state: &AppState, client: &StoredClient, token: &str) -> Result<(), Error> {
    let Some((kind, verified)) =
        tokens::verify_any(&state.keys, state.config.issuer.as_str(), token).await
    else {
        return Ok(());
    };
    if verified.str("client_id") != Some(client.client_id.as_str()) {
        return Err(OAuthError::invalid_request("the token was not issued to this client").into());
    }
    let Some(jti) = verified.str("jti") else {
        return Ok(());
    };
    let grants = &state.store.grants;
    match kind {
        Kind::Refresh => {
            if let Some(grant) = grants.grant_of_refresh_token(jti).await? {
                grants.revoke_grant(&grant.id, now()).await?;
            }
        }
        Kind::Access => grants.revoke_access_token(jti, now()).await?,
    }
    Ok(())
}
