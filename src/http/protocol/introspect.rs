//! The introspection endpoint.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, authenticate_client},
    },
    oidc::{
        error::{Error, OAuthError},
        tokens::{self, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP},
    },
    storage::{StoredClient, now},
};

/// `POST /introspect` — RFC 7662. Only confidential clients may ask. A live token
/// gets `active: true` and its claims; anything else exactly `{"active": false}`.
/// Refresh tokens are introspectable only by the client they were issued to.
pub async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, OAuthError>,
) -> Response {
    let params = match form {
        Ok(FormParams(p)) => p,
        Err(e) => return e.into_response(),
    };
    let client = match authenticate_client(&state, &headers, &params, false).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let result = match params.one("token") {
        Err(e) => Err(OAuthError::invalid_request(e).into()),
        Ok(None) => Err(OAuthError::invalid_request("token is required").into()),
        Ok(Some(token)) => introspect(&state, &client, token).await,
    };
    let mut response = match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    };
    no_store(&mut response);
    response
}

async fn introspect(state: &AppState, client: &StoredClient, token: &str) -> Result<Value, Error> {
    let inactive = json!({ "active": false });
    let issuer = state.config.issuer.as_str();
    let now = now();
    if let Some(v) = tokens::verify(&state.keys, issuer, token, ACCESS_TOKEN_TYP).await {
        let live = match v.str("jti") {
            Some(jti) if !v.is_expired(now) => {
                state.store.grants.access_token_is_live(jti, now).await?
            }
            _ => false,
        };
        if !live {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": v.str("client_id"),
            "sub": v.str("sub"),
            "scope": v.str("scope"),
            "exp": v.int("exp"),
            "iat": v.int("iat"),
            "iss": v.str("iss"),
            "aud": v.claims.get("aud"),
            "jti": v.str("jti"),
        }));
    }
    if let Some(v) = tokens::verify(&state.keys, issuer, token, REFRESH_TOKEN_TYP).await {
        let live = match v.str("jti") {
            Some(jti)
                if !v.is_expired(now) && v.str("client_id") == Some(client.client_id.as_str()) =>
            {
                state.store.grants.refresh_token_is_live(jti, now).await?
            }
            _ => false,
        };
        if !live {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": v.str("client_id"),
            "sub": v.str("sub"),
            "exp": v.int("exp"),
            "iat": v.int("iat"),
            "iss": v.str("iss"),
            "jti": v.str("jti"),
        }));
    }
    Ok(inactive)
}
