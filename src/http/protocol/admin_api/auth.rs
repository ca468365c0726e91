//! Who may call the admin API: the bearer of a live access token Portcullis issued with
//! the `portcullis:admin` scope and the issuer as its audience. A client's own token
//! (client_credentials, `sub` is the client) acts as that client; a person's token
//! acts as them only while they are an active admin, so removing someone's admin role
//! ends their API access at once, whatever tokens they hold.

use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme as Scheme,
};
use uuid::Uuid;

use super::problem::Problem;
use crate::{AppState, audit::Actor, oidc::scopes::ADMIN_SCOPE, storage::StoredUser};

/// The role that makes a person an admin.
pub(in crate::http) const ADMIN_ROLE: &str = "admin";

/// An authorized caller of the admin API.
#[derive(Debug)]
pub(in crate::http) enum AdminCaller {
    /// A client acting for itself (client_credentials).
    Client(String),
    /// An admin person, through an app they signed in to.
    Person(Box<StoredUser>),
}

impl AdminCaller {
    /// The caller as the actor of the audit events its changes write.
    pub(in crate::http) fn actor(&self) -> Actor {
        match self {
            Self::Client(id) => Actor::Client(id.clone()),
            Self::Person(user) => Actor::User(user.id),
        }
    }

    /// The person calling, if it is one (an admin cannot remove their own admin role).
    pub(in crate::http) fn person_id(&self) -> Option<Uuid> {
        match self {
            Self::Client(_) => None,
            Self::Person(user) => Some(user.id),
        }
    }
}

/// A refusal: 401 with `WWW-Authenticate` (RFC 6750 section 3) or 403 for a token
/// without the scope or a person who is not an admin; the body a problem either way.
#[derive(Debug)]
pub(in crate::http) struct Refused {
    status: StatusCode,
    challenge: String,
    detail: &'static str,
}

impl Refused {
    fn missing() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            challenge: r#"Bearer realm="portcullis-admin""#.into(),
            detail: "an access token with the portcullis:admin scope is required",
        }
    }

    fn invalid(detail: &'static str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            challenge: format!(
                r#"Bearer realm="portcullis-admin", error="invalid_token", error_description="{detail}""#
            ),
            detail,
        }
    }

    fn forbidden(detail: &'static str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            challenge: format!(
                r#"Bearer realm="portcullis-admin", error="insufficient_scope", scope="{ADMIN_SCOPE}""#
            ),
            detail,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = Problem::new(self.status, self.detail).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A failure to check (the database is away) is a 503 problem, not a refusal.
pub(in crate::http) enum AuthRejection {
    Refused(Refused),
    Unavailable(Problem),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Refused(r) => r.into_response(),
            Self::Unavailable(p) => p.into_response(),
        }
    }
}

impl From<crate::storage::StorageError> for AuthRejection {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let refused = |r| Err(AuthRejection::Refused(r));
        // Only the header (RFC 6750 section 2.1): the API takes JSON bodies and never
        // reads a token from a query.
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return refused(Refused::missing());
        };
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
        else {
            return refused(Refused::invalid(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        let Some(access) = state.access_tokens.validate(token).await? else {
            return refused(Refused::invalid(
                "the access token is invalid, expired or revoked",
            ));
        };
        if !access.has_audience(state.config.issuer.as_str()) {
            return refused(Refused::invalid(
                "the access token is not meant for this server",
            ));
        }
        if !access.scopes().contains(ADMIN_SCOPE) {
            return refused(Refused::forbidden(
                "the access token lacks the portcullis:admin scope",
            ));
        }
        let sub = access.claims.str("sub").unwrap_or_default();
        let client_id = access.client_id().unwrap_or_default();
        if !client_id.is_empty() && sub == client_id {
            return Ok(Self::Client(client_id.to_owned()));
        }
        let Ok(user_id) = Uuid::parse_str(sub) else {
            return refused(Refused::invalid("the access token names no one"));
        };
        match state.accounts.user(user_id).await? {
            Some(user) if !user.disabled && user.deleted_at.is_none() => {
                if user.roles.iter().any(|r| r == ADMIN_ROLE) {
                    Ok(Self::Person(Box::new(user)))
                } else {
                    refused(Refused::forbidden(
                        "only administrators may use the admin API",
                    ))
                }
            }
            _ => refused(Refused::invalid("the access token's account is not active")),
        }
    }
}

/// The document's security scheme: a bearer token, obtained by client_credentials (or
/// a person's sign-in) with the `portcullis:admin` scope.
pub(super) struct SecurityScheme;

impl utoipa::Modify for SecurityScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            Scheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from this server's token endpoint with the \
                         portcullis:admin scope.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_credentials",
            Scheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
                ClientCredentials::new(
                    "/token",
                    Scopes::from_iter([(ADMIN_SCOPE, "administer this server")]),
                ),
            )])),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new::<
            &str,
            [&str; 0],
            &str,
        >("bearer", [])]);
    }
}
