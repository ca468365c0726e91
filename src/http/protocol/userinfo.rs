//! The userinfo endpoint.

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use super::cors;
use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, bearer_token},
    },
    oidc::{
        error::{Error, NO_TOKEN, OAuthError},
        tokens,
    },
};

/// `GET` and `POST /userinfo` — OIDC Core section 5.3; bearer token per RFC 6750.
pub(super) async fn userinfo(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let is_form = crate::http::extract::is_form(&headers);
    let form = if request.method() == Method::POST && is_form {
        match <FormParams as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await
        {
            Ok(FormParams(p)) => Some(p),
            Err(e) => {
                let mut response = e.into_response();
                cors::allow(&state, &mut response, &headers, None).await;
                return response;
            }
        }
    } else {
        None
    };
    let result = claims(&state, &headers, form.as_ref()).await;
    let (mut response, client_id) = match result {
        Ok((claims, client_id)) => (Json(claims).into_response(), Some(client_id)),
        Err(e) => (e.into_response(), None),
    };
    no_store(&mut response);
    if headers.contains_key(header::ORIGIN) {
        let client = match client_id {
            Some(id) => state
                .store
                .clients
                .find_by_client_id(&id)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        cors::allow(&state, &mut response, &headers, client.as_ref()).await;
    }
    response
}

async fn claims(
    state: &AppState,
    headers: &HeaderMap,
    form: Option<&crate::oidc::authorize::RawParams>,
) -> Result<(serde_json::Map<String, serde_json::Value>, String), Error> {
    let token = bearer_token(headers, form)?.ok_or_else(|| OAuthError::invalid_token(NO_TOKEN))?;
    let invalid = || OAuthError::invalid_token("the access token is invalid, expired or revoked");
    let access = state
        .access_tokens
        .validate(&token)
        .await?
        .ok_or_else(invalid)?;
    // RFC 9068 section 4: a resource server accepts only tokens meant for it; the
    // userinfo endpoint's audience is the issuer.
    if !access.has_audience(state.config.issuer.as_str()) {
        return Err(invalid().into());
    }
    let scopes = access.scopes();
    if !scopes.has_openid() {
        return Err(
            OAuthError::insufficient_scope("the access token lacks the openid scope").into(),
        );
    }
    let verified = &access.claims;
    let user_id = verified
        .str("sub")
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(invalid)?;
    let user = match state.accounts.user(user_id).await? {
        // A deleted account's tombstone is disabled too; both checks say what is meant.
        Some(u) if !u.disabled && u.deleted_at.is_none() => u,
        _ => return Err(invalid().into()),
    };
    let client_id = verified.str("client_id").unwrap_or_default().to_owned();
    let mut claims = tokens::user_claims(&user, &scopes);
    // Read live: a role change shows here at once.
    let roles = tokens::TokenRoles {
        client_roles: state.store.roles.in_client(user.id, &client_id).await?,
        roles: user.roles.clone(),
    };
    tokens::insert_roles(&mut claims, &scopes, &roles);
    Ok((claims, client_id))
}
