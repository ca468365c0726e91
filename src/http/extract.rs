//! Typed extractors and request parsing for the protocol endpoints: form bodies, client
//! authentication (RFC 6749 section 2.3), bearer tokens (RFC 6750 section 2).

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, header},
};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    AppState,
    oidc::{authorize::RawParams, clients::secret_matches, error::OAuthError, values::ClientId},
    storage::StoredClient,
};

/// An `application/x-www-form-urlencoded` body as name/value pairs; anything else is an
/// RFC 6749 `invalid_request`.
pub(super) struct FormParams(pub RawParams);

/// Whether the request body is declared `application/x-www-form-urlencoded`.
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
        Ok(Self(parse_form(&body)))
    }
}

pub(super) fn parse_form(body: &[u8]) -> RawParams {
    RawParams(url::form_urlencoded::parse(body).into_owned().collect())
}

fn param<'a>(params: &'a RawParams, name: &str) -> Result<Option<&'a str>, OAuthError> {
    params.one(name).map_err(OAuthError::invalid_request)
}

/// `client_id:client_secret` from an HTTP Basic header, each form-urlencoded (RFC 6749
/// section 2.3.1). `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("the Basic credentials are malformed");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Authenticates the client of a token, revocation or introspection request:
/// `client_secret_basic`, `client_secret_post`, or — when `allow_public` — `none` for a
/// public client naming itself with `client_id`. Exactly one method may be used.
pub(super) async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &RawParams,
    allow_public: bool,
) -> Result<StoredClient, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = param(params, "client_id")?;
    let form_secret = param(params, "client_secret")?;
    let failed = || OAuthError::invalid_client("client authentication failed");
    let (client_id, secret) = match (&basic, form_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use only one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            (id.as_str(), Some(secret.as_str()))
        }
        (None, secret) => (
            form_id
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?,
            secret,
        ),
    };
    let client_id = ClientId::parse(client_id).ok_or_else(failed)?;
    let client = state
        .store
        .clients
        .find_by_client_id(client_id.as_str())
        .await
        .map_err(|e| crate::oidc::error::Error::from(e).into_oauth())?
        .ok_or_else(failed)?;
    match (client.public, secret) {
        (false, Some(s)) if secret_matches(&client, s) => Ok(client),
        (true, None) if allow_public => Ok(client),
        _ => Err(failed()),
    }
}

/// The bearer token of a resource request: the Authorization header or the
/// `access_token` form field (RFC 6750 sections 2.1, 2.2), never both.
pub(super) fn bearer_token(
    headers: &HeaderMap,
    form: Option<&RawParams>,
) -> Result<Option<String>, OAuthError> {
    let from_header = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Err(_)) => {
            return Err(OAuthError::invalid_request(
                "the Authorization header is malformed",
            ));
        }
        Some(Ok(v)) => match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(token.trim().to_owned())
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "the Authorization header is not a Bearer token",
                ));
            }
        },
    };
    let from_form = match form {
        Some(f) => param(f, "access_token")?.map(str::to_owned),
        None => None,
    };
    match (from_header, from_form) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token one way only")),
        (token, None) | (None, token) => Ok(token.filter(|t| !t.is_empty())),
    }
}

/// The authenticated client and the `token` parameter of a revocation or
/// introspection request (RFC 7009 section 2.1, RFC 7662 section 2.1).
pub(super) async fn client_and_token(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormParams, OAuthError>,
    allow_public: bool,
) -> Result<(StoredClient, String), (OAuthError, Option<StoredClient>)> {
    let FormParams(params) = form.map_err(|e| (e, None))?;
    let client = authenticate_client(state, headers, &params, allow_public)
        .await
        .map_err(|e| (e, None))?;
    match params.one("token") {
        Ok(Some(token)) => Ok((client, token.to_owned())),
        Ok(None) => Err((
            OAuthError::invalid_request("token is required"),
            Some(client),
        )),
        Err(e) => Err((OAuthError::invalid_request(e), Some(client))),
    }
}
