//! The OpenID Provider configuration document: exactly what is implemented.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::http::paths;
use crate::{AppState, oidc::scopes};

#[derive(Serialize)]
pub(super) struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    code_challenge_methods_supported: [&'static str; 1],
    claims_supported: Vec<&'static str>,
    /// OIDC Discovery section 3; the values are documented in `oidc::acr`.
    acr_values_supported: [&'static str; 2],
    prompt_values_supported: [&'static str; 3],
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    require_request_uri_registration: bool,
    /// RFC 8414 section 2; absent when `registration.mode` is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
}

impl ProviderMetadata {
    pub(super) fn new(state: &AppState) -> Self {
        let issuer = &state.config.issuer;
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: issuer.endpoint(paths::AUTHORIZE),
            token_endpoint: issuer.endpoint(paths::TOKEN),
            userinfo_endpoint: issuer.endpoint(paths::USERINFO),
            jwks_uri: issuer.endpoint(paths::JWKS),
            end_session_endpoint: issuer.endpoint(paths::END_SESSION),
            revocation_endpoint: issuer.endpoint(paths::REVOKE),
            introspection_endpoint: issuer.endpoint(paths::INTROSPECT),
            scopes_supported: scopes::SUPPORTED.to_vec(),
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
            token_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            revocation_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            introspection_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
            ],
            code_challenge_methods_supported: ["S256"],
            claims_supported: scopes::CLAIMS_SUPPORTED.to_vec(),
            acr_values_supported: crate::oidc::acr::SUPPORTED,
            prompt_values_supported: ["none", "login", "consent"],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            require_request_uri_registration: false,
            registration_endpoint: (state.config.registration.mode
                != crate::config::RegistrationMode::Closed)
                .then(|| issuer.endpoint(paths::CLIENT_REGISTRATION)),
        }
    }
}

/// `GET /.well-known/openid-configuration` — OpenID Connect Discovery 1.0 section 4.
pub(super) async fn discovery_get(State(state): State<AppState>) -> Response {
    let mut response = Json(ProviderMetadata::new(&state)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
