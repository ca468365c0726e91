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
        extract::{FormParams, authenticate_client},
        middleware::cors,
    },
    oidc::{
        error::{Error, OAuthError},
        tokens::{self, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP},
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
    let params = match form {
        Ok(FormParams(p)) => p,
        Err(e) => return e.into_response(),
    };
    let client = match authenticate_client(&state, &headers, &params, true).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let result = match params.one("token") {
        Err(e) => Err(OAuthError::invalid_request(e).into()),
        Ok(None) => Err(OAuthError::invalid_request("token is required").into()),
        Ok(Some(token)) => revoke(&state, &client, token).await,
    };
    let mut response = match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    };
    no_store(&mut response);
    cors::allow(&mut response, &headers, Some(&client));
    response
}

async fn revoke(state: &AppState, client: &StoredClient, token: &str) -> Result<(), Error> {
    let issuer = state.config.issuer.as_str();
    let now = now();
    let (verified, is_refresh) =
        match tokens::verify(&state.keys, issuer, token, ACCESS_TOKEN_TYP).await {
            Some(v) => (v, false),
            None => match tokens::verify(&state.keys, issuer, token, REFRESH_TOKEN_TYP).await {
                Some(v) => (v, true),
                None => return Ok(()),
            },
        };
    if verified.str("client_id") != Some(client.client_id.as_str()) {
        return Err(OAuthError::invalid_request("the token was not issued to this client").into());
    }
    let Some(jti) = verified.str("jti") else {
        return Ok(());
    };
    if is_refresh {
        if let Some(grant_id) = state.store.grants.grant_of_refresh_token(jti).await? {
            state.store.grants.revoke_grant(&grant_id, now).await?;
        }
    } else {
        state.store.grants.revoke_access_token(jti, now).await?;
    }
    Ok(())
}
