//! Authorization requests (RFC 6749 section 4.1.1, OIDC Core section 3.1.2), validated
//! once into `AuthorizationRequest`, and the responses that go back to the client.
//!
//! Never redirect on an error before the redirect URI is validated: until the client and
//! its exact redirect URI are known, errors are `Unredirectable` and shown as a page.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    error::ErrorCode,
    pkce,
    scopes::Scopes,
    values::{ClientId, GrantType, RedirectUri, ResponseType},
};
use crate::storage::StoredClient;

/// Longest `state`, `nonce` or hint we carry; longer is refused, not truncated.
const MAX_PARAM_LEN: usize = 2048;

#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is wrong: tell the person, never redirect.
    Unredirectable(&'static str),
    /// Tell the client, at its validated redirect URI.
    Redirect(ErrorRedirect),
}

/// An error response bound for a validated redirect URI.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: RedirectUri,
    pub error: ErrorCode,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    pub fn to_url(&self, issuer: &str) -> Option<String> {
        let mut params = vec![
            ("error", self.error.as_str()),
            ("error_description", self.description.as_str()),
        ];
        if let Some(s) = &self.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        redirect_with(self.redirect_uri.as_str(), &params)
    }
}

/// `redirect_uri` with `params` added to its query (RFC 6749 section 4.1.2: the
/// registered URI's own query is kept), encoded by the URL builder.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(redirect_uri).ok()?;
    // With nothing to add, the registered string itself: touching the query would add a
    // bare `?`, and parsing may normalise, and either would no longer match exactly.
    if params.is_empty() {
        return Some(redirect_uri.to_owned());
    }
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.into())
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    #[default]
    Default,
    None,
    Login,
    Consent,
}

/// A request that passed every check, kept in the browser session while the person
/// signs in and consents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub client_name: String,
    pub first_party: bool,
    pub redirect_uri: RedirectUri,
    /// The request named its redirect_uri, so the token request must too (RFC 6749
    /// section 4.1.3).
    #[serde(default)]
    pub redirect_uri_sent: bool,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a verified `id_token_hint`: only that person may be signed in.
    #[serde(default)]
    pub expected_subject: Option<String>,
    /// The client is a native app (public, redirecting to loopback or a private-use
    /// scheme): every request needs the person's interaction (RFC 8252 section 8.6).
    #[serde(default)]
    pub native_app: bool,
    /// When the request arrived: a `prompt=login` needs a sign-in after this.
    pub received_at: i64,
    /// The `acr_values` we know, in the order asked; `None` when the request sent
    /// none (then the ID token has no `acr`). See `oidc::acr`.
    #[serde(default)]
    pub acr_values: Option<Vec<String>>,
    /// The client requires a second factor of everyone who signs in to it.
    #[serde(default)]
    pub require_second_factor: bool,
}

impl AuthorizationRequest {
    pub fn error(&self, error: ErrorCode, description: impl Into<String>) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description: description.into(),
            state: self.state.clone(),
        }
    }

    /// The success response: code, state, iss (RFC 9207).
    pub fn code_redirect(&self, code: &str, issuer: &str) -> Option<String> {
        let mut params = vec![("code", code)];
        if let Some(s) = &self.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        redirect_with(self.redirect_uri.as_str(), &params)
    }
}

/// The query or form parameters of a request, as sent.
pub struct RawParams(Vec<(String, String)>);

/// Text that carries a control character (C0 or DEL): refused at the edge, before it
/// can reach a database (PostgreSQL refuses NUL in text) or a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request contains control characters")]
pub struct ControlCharacter;

/// Refuses `text` if it holds NUL or another control character (U+0000 to U+001F, U+007F).
pub fn check_text(text: &str) -> Result<(), ControlCharacter> {
    if text.chars().any(|c| c.is_ascii_control()) {
        Err(ControlCharacter)
    } else {
        Ok(())
    }
}

impl RawParams {
    /// The parameters as sent, if no name or value holds a control character.
    pub fn new(pairs: Vec<(String, String)>) -> Result<Self, ControlCharacter> {
        for (name, value) in &pairs {
            check_text(name)?;
            check_text(value)?;
        }
        Ok(Self(pairs))
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }

    /// The one value of `name`; `Err` if it was sent more than once (RFC 6749 section
    /// 3.1: parameters MUST NOT be included more than once). Empty counts as absent.
    pub fn one(&self, name: &str) -> Result<Option<&str>, String> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("`{name}` was sent more than once"));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }
}

/// Finds the client's redirect URI for this request: the exact registered string, or
/// the only registered one when none is sent.
pub fn resolve_redirect_uri(
    client: &StoredClient,
    sent: Option<&str>,
) -> Result<RedirectUri, AuthorizeError> {
    match sent {
        Some(uri) => client
            .redirect_uris
            .iter()
            .find(|r| r.as_str() == uri)
            .map(|r| RedirectUri::registered(r))
            .ok_or(AuthorizeError::Unredirectable(
                "The app sent you here with a return address it has not registered.",
            )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok(RedirectUri::registered(only)),
            [] => Err(AuthorizeError::Unredirectable(
                "This app is not set up to sign people in.",
            )),
            _ => Err(AuthorizeError::Unredirectable(
                "The app did not say where to return you after signing in.",
            )),
        },
    }
}

/// Validates an authorization request against its client. `client` is `None` when the
/// `client_id` is unknown.
pub fn validate(
    params: &RawParams,
    client: Option<&StoredClient>,
    now: i64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let unredirectable = AuthorizeError::Unredirectable;
    let client_id = params
        .one("client_id")
        .map_err(|_| unredirectable("The sign-in link is malformed: it names the app twice."))?;
    if client_id.is_none() {
        return Err(unredirectable(
            "The sign-in link is missing the app's identifier.",
        ));
    }
    let client = client.ok_or(unredirectable(
        "The app that sent you here is not registered.",
    ))?;
    let sent_uri = params.one("redirect_uri").map_err(|_| {
        unredirectable("The sign-in link is malformed: it names two return addresses.")
    })?;
    let redirect_uri = resolve_redirect_uri(client, sent_uri)?;
    if !super::clients::allows_grant(client, GrantType::AuthorizationCode) {
        return Err(unredirectable("This app is not set up to sign people in."));
    }

    // From here on, errors go back to the client. State first, so it is echoed.
    let state = params.one("state").ok().flatten().map(str::to_owned);
    let fail = |error: ErrorCode, description: &str| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: state.clone().filter(|s| s.len() <= MAX_PARAM_LEN),
        })
    };
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|e| fail(ErrorCode::InvalidRequest, &e))
    };

    one("state")?;
    if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
        return Err(fail(ErrorCode::InvalidRequest, "state is too long"));
    }
    if one("request")?.is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if one("request_uri")?.is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match one("response_type")?.map(ResponseType::parse) {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some(Some(ResponseType::Code)) => {}
        Some(None) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    match one("response_mode")? {
        None | Some("query") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
    }

    let requested = match one("scope")? {
        None => return Err(fail(ErrorCode::InvalidScope, "scope is required")),
        Some(raw) => {
            Scopes::parse(raw).ok_or_else(|| fail(ErrorCode::InvalidScope, "scope is malformed"))?
        }
    };
    if requested.is_empty() {
        return Err(fail(ErrorCode::InvalidScope, "scope is required"));
    }
    if let Some(denied) = requested
        .iter()
        .find(|s| !client.allowed_scopes.iter().any(|a| a == s))
    {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!("this client may not request `{denied}`"),
        ));
    }

    let code_challenge = one("code_challenge")?;
    match (code_challenge, one("code_challenge_method")?) {
        (None, Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(_), None | Some("plain")) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256; plain is not accepted",
            ));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        (Some(c), Some(_)) if !pkce::challenge_is_well_formed(c) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge is not a base64url SHA-256 value",
            ));
        }
        (None, None) if client.public => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with S256",
            ));
        }
        _ => {}
    }

    let nonce = one("nonce")?.map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_PARAM_LEN) {
        return Err(fail(ErrorCode::InvalidRequest, "nonce is too long"));
    }

    let prompt = match one("prompt")? {
        None => Prompt::Default,
        Some(raw) => {
            let values: Vec<&str> = raw.split(' ').filter(|v| !v.is_empty()).collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "prompt=none cannot be combined with other values",
                ));
            }
            if let Some(bad) = values
                .iter()
                .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
            {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    &format!("unsupported prompt value `{bad}`"),
                ));
            }
            if values.contains(&"none") {
                Prompt::None
            } else if values.contains(&"login") {
                Prompt::Login
            } else if values.contains(&"consent") {
                Prompt::Consent
            } else {
                Prompt::Default
            }
        }
    };

    let max_age = match one("max_age")? {
        None => None,
        Some(raw) => Some(raw.parse::<u32>().map(i64::from).map_err(|_| {
            fail(
                ErrorCode::InvalidRequest,
                "max_age must be a number of seconds",
            )
        })?),
    };
    let login_hint = one("login_hint")?
        .filter(|h| h.len() <= 254)
        .map(str::to_owned);

    let acr_values = one("acr_values")?.map(super::acr::parse);
    let native_app = client.public && super::clients::is_native_redirect(redirect_uri.as_str());
    Ok(AuthorizationRequest {
        client_id: ClientId::parse(&client.client_id).ok_or(unredirectable(
            "The app that sent you here is not registered.",
        ))?,
        client_name: client.name.clone(),
        first_party: client.first_party,
        redirect_uri,
        redirect_uri_sent: sent_uri.is_some(),
        scopes: requested,
        state,
        nonce,
        code_challenge: code_challenge.map(str::to_owned),
        prompt,
        max_age,
        login_hint,
        expected_subject: None,
        native_app,
        received_at: now,
        acr_values,
        require_second_factor: client.require_second_factor,
    })
}

#[cfg(test)]
mod tests;
