//! A relying party built on the openidconnect crate, and a person signing in through
//! our real login and consent forms over HTTP (the browser tests do it in Chromium).

use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RevocationUrl, Scope,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
};
use url::Url;

use crate::helpers::{PASSWORD, TestApp};

pub type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// An app registered at Portcullis, seen through the openidconnect crate.
pub struct Rp {
    pub client: Client,
    pub http: openidconnect::reqwest::Client,
    pub secret: Option<String>,
}

/// One authorization request's secrets, kept by the app.
pub struct Started {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    pub async fn discover(
        app: &TestApp,
        client_id: &str,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> Self {
        let http = oidc_http();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.base.clone()).expect("issuer"),
            &http,
        )
        .await
        .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).expect("redirect"))
        .set_revocation_url(RevocationUrl::new(app.url("/revoke")).expect("url"))
        .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).expect("url"));
        Self {
            client,
            http,
            secret: secret.map(str::to_owned),
        }
    }

    pub fn start(&self, scopes: &[&str]) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(Scope::new((*s).into()));
        }
        let (url, state, nonce) = req.url();
        Started {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<openidconnect::core::CoreTokenResponse, String> {
        self.client
            .exchange_code(AuthorizationCode::new(code.into()))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub async fn userinfo(
        &self,
        token: &str,
    ) -> Result<openidconnect::core::CoreUserInfoClaims, String> {
        self.client
            .user_info(AccessToken::new(token.into()), None)
            .expect("userinfo endpoint")
            .request_async(&self.http)
            .await
            .map_err(|e| format!("{e:?}"))
    }
}

/// The query of the callback URL the browser was sent to.
pub fn callback_params(url: &str) -> std::collections::HashMap<String, String> {
    Url::parse(url)
        .expect("callback url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The value of a hidden input in an HTML page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&quot;", "\""),
    )
}

/// What a person does in the browser, over plain HTTP with a cookie jar: follows
/// redirects within Portcullis, signs in as `username`, and allows consent when
/// `consent` is true. Returns the URL the app was sent to.
pub async fn sign_in(app: &TestApp, start_url: &str, username: &str, consent: bool) -> String {
    let mut url = start_url.to_owned();
    for _ in 0..10 {
        if !url.starts_with(&app.base) {
            return url;
        }
        let r = app.http.get(&url).send().await.expect("get");
        if r.status().is_redirection() {
            url = absolute(app, r.headers()["location"].to_str().expect("location"));
            continue;
        }
        let status = r.status();
        let html = r.text().await.expect("html");
        let csrf =
            hidden(&html, "csrf").unwrap_or_else(|| panic!("no form at {url} ({status}): {html}"));
        let request = hidden(&html, "request").expect("request id");
        let form: Vec<(&str, &str)> = if url.contains("/login") {
            vec![
                ("csrf", &csrf),
                ("request", &request),
                ("login", username),
                ("password", PASSWORD),
            ]
        } else {
            vec![
                ("csrf", &csrf),
                ("request", &request),
                ("decision", if consent { "allow" } else { "deny" }),
            ]
        };
        let path = if url.contains("/login") {
            "/login"
        } else {
            "/consent"
        };
        let r = app
            .http
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .expect("post");
        assert!(
            r.status().is_redirection(),
            "{path} answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        url = absolute(app, r.headers()["location"].to_str().expect("location"));
    }
    panic!("too many redirects");
}

fn absolute(app: &TestApp, location: &str) -> String {
    if location.starts_with('/') {
        app.url(location)
    } else {
        location.to_owned()
    }
}
