//! The token endpoint.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::cors;
use crate::{
    AppState,
    http::{
        error::no_store,
        extract::{FormParams, authenticate_client},
    },
    oidc::{
        error::{Error, OAuthError},
        values::GrantType,
    },
};

/// `POST /token` — RFC 6749 sections 3.2, 4.1.3, 4.4 and 6; OIDC Core section 3.1.3;
/// RFC 7636 section 4.5.
pub(super) async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, OAuthError>,
) -> Response {
    let refused = |e: OAuthError| async {
        let mut response = e.into_response();
        cors::allow(&state, &mut response, &headers, None).await;
        response
    };
    let params = match form {
        Ok(FormParams(p)) => p,
        Err(e) => return refused(e).await,
    };
    let client = match authenticate_client(&state, &headers, &params, true).await {
        Ok(c) => c,
        Err(e) => return refused(e).await,
    };
    let grants = &state.grants;
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|e| Error::from(OAuthError::invalid_request(e)))
    };
    let result = async {
        let grant_type = one("grant_type")?;
        match grant_type.map(|g| (g, GrantType::parse(g))) {
            Some((_, Some(GrantType::AuthorizationCode))) => {
                grants
                    .exchange_code(
                        &client,
                        one("code")?,
                        one("redirect_uri")?,
                        one("code_verifier")?,
                    )
                    .await
            }
            Some((_, Some(GrantType::RefreshToken))) => {
                grants
                    .refresh(&client, one("refresh_token")?, one("scope")?)
                    .await
            }
            Some((_, Some(GrantType::ClientCredentials))) => {
                grants.client_credentials(&client, one("scope")?).await
            }
            Some((_, None)) => {
                Err(OAuthError::unsupported_grant_type("this grant type is not supported").into())
            }
            None => Err(OAuthError::invalid_request("grant_type is required").into()),
        }
    }
    .await;
    let mut response = match result {
        Ok(tokens) => Json(tokens).into_response(),
        Err(e) => e.into_response(),
    };
    no_store(&mut response);
    cors::allow(&state, &mut response, &headers, Some(&client)).await;
    response
}
