//! A relying party built on the openidconnect crate, as an app sees Portcullis; the
//! person signing in is `TestApp::sign_in` (the browser tests do it in Chromium).

use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RevocationUrl, Scope,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
};
use url::Url;

use crate::helpers::{BasicAuth, TestApp};

pub(crate) type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub(crate) fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// An app registered at Portcullis, seen through the openidconnect crate.
pub(crate) struct Rp {
    pub client: Client,
    pub http: openidconnect::reqwest::Client,
    pub secret: Option<String>,
}

/// One authorization request's secrets, kept by the app.
pub(crate) struct Started {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    pub(crate) async fn discover(
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

    pub(crate) fn start(&self, scopes: &[&str]) -> Started {
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

    pub(crate) async fn exchange(
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

    /// Signs `username` in for `scopes` through the forms, consenting, and exchanges the
    /// code: the tokens, and the nonce the ID token must carry.
    pub(crate) async fn sign_in_and_exchange(
        &self,
        app: &TestApp,
        scopes: &[&str],
        username: &str,
    ) -> (openidconnect::core::CoreTokenResponse, Nonce) {
        let started = self.start(scopes);
        let callback = app.sign_in(&started.url, username, true).await;
        let tokens = self
            .exchange(&callback_params(&callback)["code"], started.verifier)
            .await
            .expect("exchange");
        (tokens, started.nonce)
    }

    /// The app's HTTP Basic credentials, when it has a secret.
    pub(crate) fn auth(&self) -> BasicAuth<'_> {
        let id = self.client.client_id().as_str();
        self.secret.as_deref().map(|secret| (id, secret))
    }

    pub(crate) async fn userinfo(
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
pub(crate) fn callback_params(url: &str) -> std::collections::HashMap<String, String> {
    Url::parse(url)
        .expect("callback url")
        .query_pairs()
        .into_owned()
        .collect()
}
