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
        extract::{FormParams, client_and_token},
    },
    oidc::{
        error::{Error, OAuthError},
        tokens::{self, Kind},
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
    let mut response = match client_and_token(&state, &headers, form, false).await {
        Ok((client, token)) => match introspect(&state, &client, &token).await {
            Ok(body) => Json(body).into_response(),
            Err(e) => e.into_response(),
        },
        Err((e, _)) => e.into_response(),
    };
    no_store(&mut response);
    response
}

async fn introspect(state: &AppState, client: &StoredClient, token: &str) -> Result<Value, Error> {
    let inactive = json!({ "active": false });
    let now = now();
    let Some((kind, v)) =
        tokens::verify_any(&state.keys, state.config.issuer.as_str(), token).await
    else {
        return Ok(inactive);
    };
    let Some(jti) = v.str("jti").filter(|_| !v.is_expired(now)) else {
        return Ok(inactive);
    };
    let grants = &state.store.grants;
    let live = match kind {
        Kind::Access => grants.access_token_is_live(jti, now).await?,
        Kind::Refresh => {
            v.str("client_id") == Some(client.client_id.as_str())
                && grants.refresh_token_is_live(jti, now).await?
        }
    };
    if !live {
        return Ok(inactive);
    }
    let mut body = json!({
        "active": true,
        "token_type": if kind == Kind::Access { "Bearer" } else { "refresh_token" },
        "client_id": v.str("client_id"),
        "sub": v.str("sub"),
        "exp": v.int("exp"),
        "iat": v.int("iat"),
        "iss": v.str("iss"),
        "jti": jti,
    });
    if kind == Kind::Access {
        body["scope"] = json!(v.str("scope"));
        body["aud"] = v.claims.get("aud").cloned().unwrap_or(Value::Null);
    }
    Ok(body)
}
