//! Authorization requests (RFC 6749 section 4.1.1, OIDC Core section 3.1.2), validated
//! once into `AuthorizationRequest`, and the responses that go back to the client.
//!
//! Never redirect on an error before the redirect URI is validated: until the client and
//! its exact redirect URI are known, errors are `Unredirectable` and shown as a page.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{pkce, scopes};
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
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    pub fn to_url(&self, issuer: &str) -> Option<String> {
        let mut params = vec![
            ("error", self.error),
            ("error_description", self.description.as_str()),
        ];
        if let Some(s) = &self.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        redirect_with(&self.redirect_uri, &params)
    }
}

/// `redirect_uri` with `params` added to its query (RFC 6749 section 4.1.2: the
/// registered URI's own query is kept), encoded by the URL builder.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = Url::parse(redirect_uri).ok()?;
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
    pub client_id: String,
    pub client_name: String,
    pub first_party: bool,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// When the request arrived: a `prompt=login` needs a sign-in after this.
    pub received_at: i64,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> String {
        scopes::join(&self.scopes)
    }

    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    pub fn error(&self, error: &'static str, description: impl Into<String>) -> ErrorRedirect {
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
        redirect_with(&self.redirect_uri, &params)
    }
}

/// The query or form parameters of a request, as sent.
pub struct RawParams(pub Vec<(String, String)>);

impl RawParams {
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
pub fn resolve_redirect_uri<'a>(
    client: &'a StoredClient,
    sent: Option<&str>,
) -> Result<&'a str, AuthorizeError> {
    match sent {
        Some(uri) => client
            .redirect_uris
            .iter()
            .find(|r| r.as_str() == uri)
            .map(String::as_str)
            .ok_or(AuthorizeError::Unredirectable(
                "The app sent you here with a return address it has not registered.",
            )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok(only),
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
    let redirect_uri = resolve_redirect_uri(client, sent_uri)?.to_owned();
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(unredirectable("This app is not set up to sign people in."));
    }

    // From here on, errors go back to the client. State first, so it is echoed.
    let state = params.one("state").ok().flatten().map(str::to_owned);
    let fail = |error: &'static str, description: &str| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: state.clone().filter(|s| s.len() <= MAX_PARAM_LEN),
        })
    };
    let one = |name: &str| params.one(name).map_err(|e| fail("invalid_request", &e));

    one("state")?;
    if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
        return Err(fail("invalid_request", "state is too long"));
    }
    if one("request")?.is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if one("request_uri")?.is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match one("response_type")? {
        None => return Err(fail("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    match one("response_mode")? {
        None | Some("query") => {}
        Some(_) => {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
    }

    let requested = match one("scope")? {
        None => return Err(fail("invalid_scope", "scope is required")),
        Some(raw) => {
            scopes::parse(raw).ok_or_else(|| fail("invalid_scope", "scope is malformed"))?
        }
    };
    if requested.is_empty() {
        return Err(fail("invalid_scope", "scope is required"));
    }
    if let Some(denied) = requested
        .iter()
        .find(|s| !client.allowed_scopes.contains(s))
    {
        return Err(fail(
            "invalid_scope",
            &format!("this client may not request `{denied}`"),
        ));
    }

    let code_challenge = one("code_challenge")?;
    match (code_challenge, one("code_challenge_method")?) {
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(_), None | Some("plain")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256; plain is not accepted",
            ));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (Some(c), Some(_)) if !pkce::challenge_is_well_formed(c) => {
            return Err(fail(
                "invalid_request",
                "code_challenge is not a base64url SHA-256 value",
            ));
        }
        (None, None) if client.public => {
            return Err(fail(
                "invalid_request",
                "PKCE is required: send code_challenge with S256",
            ));
        }
        _ => {}
    }

    let nonce = one("nonce")?.map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_PARAM_LEN) {
        return Err(fail("invalid_request", "nonce is too long"));
    }

    let prompt = match one("prompt")? {
        None => Prompt::Default,
        Some(raw) => {
            let values: Vec<&str> = raw.split(' ').filter(|v| !v.is_empty()).collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(fail(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
            if let Some(bad) = values
                .iter()
                .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
            {
                return Err(fail(
                    "invalid_request",
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
        Some(raw) => Some(
            raw.parse::<u32>()
                .map(i64::from)
                .map_err(|_| fail("invalid_request", "max_age must be a number of seconds"))?,
        ),
    };
    let login_hint = one("login_hint")?
        .filter(|h| h.len() <= 254)
        .map(str::to_owned);

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        first_party: client.first_party,
        redirect_uri,
        scopes: requested,
        state,
        nonce,
        code_challenge: code_challenge.map(str::to_owned),
        prompt,
        max_age,
        login_hint,
        received_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> StoredClient {
        StoredClient {
            client_id: "c1".into(),
            secret_hash: None,
            name: "App".into(),
            redirect_uris: vec![
                "https://app.example/cb".into(),
                "https://app.example/cb2?x=1".into(),
            ],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into()],
            public,
            token_endpoint_auth_method: "none".into(),
            allowed_scopes: vec!["openid".into(), "email".into()],
            first_party: false,
            created_at: 0,
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(extra: &[(&str, &str)]) -> RawParams {
        let mut p: Vec<(String, String)> = [
            ("client_id", "c1"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "s t&a=te"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k.to_string(), v.to_string()));
            }
        }
        RawParams(p)
    }

    fn error_of(extra: &[(&str, &str)], public: bool) -> &'static str {
        match validate(&params(extra), Some(&client(public)), 0) {
            Err(AuthorizeError::Redirect(e)) => {
                assert_eq!(e.state.as_deref(), Some("s t&a=te"), "state is echoed");
                e.error
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_validates() {
        let r = validate(&params(&[]), Some(&client(true)), 5).expect("valid");
        assert_eq!(r.scopes, vec!["openid", "email"]);
        assert_eq!(r.received_at, 5);
        assert!(r.is_openid());
    }

    #[test]
    fn client_and_redirect_uri_errors_never_redirect() {
        let c = client(true);
        assert!(matches!(
            validate(&params(&[]), None, 0),
            Err(AuthorizeError::Unredirectable(_))
        ));
        for uri in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://evil.example/cb",
            "https://app.example/cb2",
        ] {
            let r = validate(&params(&[("redirect_uri", uri)]), Some(&c), 0);
            assert!(matches!(r, Err(AuthorizeError::Unredirectable(_))), "{uri}");
        }
        let r = validate(&params(&[("redirect_uri", "")]), Some(&c), 0);
        assert!(
            matches!(r, Err(AuthorizeError::Unredirectable(_))),
            "two registered, none sent"
        );
        let mut dup = params(&[]);
        dup.0
            .push(("redirect_uri".into(), "https://app.example/cb".into()));
        assert!(matches!(
            validate(&dup, Some(&c), 0),
            Err(AuthorizeError::Unredirectable(_))
        ));
    }

    #[test]
    fn the_only_registered_redirect_uri_is_the_default() {
        let mut c = client(true);
        c.redirect_uris.truncate(1);
        let r = validate(&params(&[("redirect_uri", "")]), Some(&c), 0).expect("valid");
        assert_eq!(r.redirect_uri, "https://app.example/cb");
    }

    #[test]
    fn other_errors_go_back_to_the_client_with_the_right_code() {
        assert_eq!(
            error_of(&[("response_type", "token")], true),
            "unsupported_response_type"
        );
        assert_eq!(error_of(&[("response_type", "")], true), "invalid_request");
        assert_eq!(
            error_of(&[("scope", "openid admin")], true),
            "invalid_scope"
        );
        assert_eq!(error_of(&[("scope", "")], true), "invalid_scope");
        assert_eq!(
            error_of(
                &[("code_challenge", ""), ("code_challenge_method", "")],
                true
            ),
            "invalid_request"
        );
        assert_eq!(
            error_of(&[("code_challenge_method", "plain")], true),
            "invalid_request"
        );
        assert_eq!(
            error_of(&[("code_challenge_method", "")], true),
            "invalid_request"
        );
        assert_eq!(
            error_of(&[("code_challenge", "tooshort")], true),
            "invalid_request"
        );
        assert_eq!(
            error_of(&[("prompt", "none login")], true),
            "invalid_request"
        );
        assert_eq!(error_of(&[("max_age", "-1")], true), "invalid_request");
        assert_eq!(
            error_of(&[("request", "eyJ")], true),
            "request_not_supported"
        );
        assert_eq!(
            error_of(&[("response_mode", "fragment")], true),
            "invalid_request"
        );
    }

    #[test]
    fn a_confidential_client_may_omit_pkce_and_unknown_parameters_are_ignored() {
        let r = validate(
            &params(&[
                ("code_challenge", ""),
                ("code_challenge_method", ""),
                ("foo", "bar"),
            ]),
            Some(&client(false)),
            0,
        );
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn redirects_keep_the_registered_query_and_encode_values() {
        let url = redirect_with(
            "https://app.example/cb2?x=1",
            &[("code", "a b"), ("state", "&=#")],
        )
        .expect("url");
        assert_eq!(url, "https://app.example/cb2?x=1&code=a+b&state=%26%3D%23");
    }
}
