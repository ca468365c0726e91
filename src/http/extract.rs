//! Typed extractors and request parsing for the protocol endpoints: form bodies, client
//! authentication (RFC 6749 section 2.3), bearer tokens (RFC 6750 section 2).

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::STANDARD};

use super::{client_ip::ClientIp, page::PageError};
use crate::{
    AppState,
    audit::Origin,
    oidc::{
        authorize::{ControlCharacter, RawParams, check_text},
        clients::{allows_auth_method, secret_matches},
        error::OAuthError,
        values::{AuthMethod, ClientId},
    },
    storage::StoredClient,
};

/// Where a request came from, for audit events and the account page's session list:
/// the client's address (`ClientIp`: the peer, or whom a trusted proxy names) and the
/// `User-Agent` header. Never refuses a request.
pub(super) struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = match parts.extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => Some(ip.to_string()),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string()),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self(Origin { ip, user_agent }))
    }
}

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
        parse_form(&body)
            .map(Self)
            .map_err(|e| OAuthError::invalid_request(e.to_string()))
    }
}

/// An `application/x-www-form-urlencoded` body as name/value pairs; refused when any
/// name or value holds a control character.
pub(super) fn parse_form(body: &[u8]) -> Result<RawParams, ControlCharacter> {
    RawParams::new(url::form_urlencoded::parse(body).into_owned().collect())
}

/// A form posted by one of our pages, deserialised into `T` once every field has been
/// checked for control characters; the rejection is the page's own error.
pub(super) struct PageForm<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let unreadable = || {
            PageError::bad_request(
                "This form could not be read",
                "The form could not be read. Please go back and try again.",
            )
        };
        if !is_form(req.headers()) {
            return Err(unreadable());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| unreadable())?;
        let params = parse_form(&body).map_err(|_| control_characters())?;
        let fields: serde_json::Map<String, serde_json::Value> = params
            .into_pairs()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(fields))
            .map(Self)
            .map_err(|_| unreadable())
    }
}

/// The page told to a person whose link or form carried control characters.
pub(super) fn control_characters() -> PageError {
    PageError::bad_request(
        "This request is not valid",
        "It contains characters that are not allowed, such as invisible control characters. \
         Go back and try again.",
    )
}

/// The query string of a request as parameters, refused when anything in it holds a
/// control character.
pub(super) fn query_params(query: Option<&str>) -> Result<RawParams, PageError> {
    RawParams::new(
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
    )
    .map_err(|_| control_characters())
}

fn param<'a>(params: &'a RawParams, name: &str) -> Result<Option<&'a str>, OAuthError> {
    params.one(name).map_err(OAuthError::invalid_request)
}

/// `client_id:client_secret` from an HTTP Basic header, each form-urlencoded (RFC 6749
/// section 2.3.1). `Ok(None)` when there is no Basic header.
pub(super) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
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
    let id = form_unescape(id).ok_or_else(malformed)?;
    let secret = form_unescape(secret).ok_or_else(malformed)?;
    if check_text(&id).is_err() || check_text(&secret).is_err() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

/// Decodes one `application/x-www-form-urlencoded` component exactly (RFC 6749
/// section 2.3.1, appendix B): `+` is a space, `%XX` a byte, the result UTF-8. A `%`
/// without two hex digits, or a raw `&` or `=` (which the encoding always escapes), is
/// malformed.
fn form_unescape(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'&' | b'=' => return None,
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
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
    let (client_id, secret, method) = match (&basic, form_secret) {
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
            (
                id.as_str(),
                Some(secret.as_str()),
                AuthMethod::ClientSecretBasic,
            )
        }
        (None, secret) => (
            form_id
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?,
            secret,
            if secret.is_some() {
                AuthMethod::ClientSecretPost
            } else {
                AuthMethod::None
            },
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
    let authenticated = match (client.public, secret) {
        (false, Some(s)) => secret_matches(&client, s),
        (true, None) => allow_public,
        _ => false,
    };
    // RFC 7591 section 2: the client authenticates the way it registered, and only so.
    if !authenticated || !allows_auth_method(&client, method) {
        return Err(failed());
    }
    // A self-registered client's secret may expire (RFC 7591 client_secret_expires_at).
    if !client.public {
        let expires_at = crate::oidc::dynamic::secret_expires_at(&state.store, &client)
            .await
            .map_err(|e| crate::oidc::error::Error::from(e).into_oauth())?;
        if expires_at.is_some_and(|at| state.clock.now() >= at) {
            return Err(OAuthError::invalid_client("the client secret has expired"));
        }
    }
    Ok(client)
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

#[cfg(test)]
mod tests {
    use super::form_unescape;

    #[test]
    fn basic_credentials_decode_form_encoding_exactly() {
        assert_eq!(form_unescape("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(form_unescape("%C3%84rger").as_deref(), Some("Ärger"));
        assert_eq!(form_unescape("s%26t%3D").as_deref(), Some("s&t="));
        assert_eq!(form_unescape("plain-._~").as_deref(), Some("plain-._~"));
    }

    #[test]
    fn malformed_basic_credentials_are_refused_not_cut_short() {
        for bad in ["sec&ret", "a=b", "%", "%4", "%zz", "%C3"] {
            assert_eq!(form_unescape(bad), None, "{bad}");
        }
    }
}
