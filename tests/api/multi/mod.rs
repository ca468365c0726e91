//! Two instances of the real binary on one PostgreSQL database behind a round-robin
//! proxy (`proxy`), with the pieces the multi-instance scenarios share: the cluster, a
//! protocol client for one endpoint (the proxy or one instance), and a browser that
//! signs in through the forms.

pub(crate) mod instance;
pub(crate) mod proxy;

use openidconnect::{
    ClientId, ClientSecret, IntrospectionUrl, IssuerUrl, RedirectUrl, RevocationUrl,
    core::{CoreClient, CoreProviderMetadata},
};
use portcullis::{
    config::Config,
    oidc::clients::ClientRegistration,
    storage::{StoredClient, StoredUser},
};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use self::{
    instance::{Instance, Settings},
    proxy::{Outcome, Proxy, Served},
};
use crate::{
    helpers::{BasicAuth, PASSWORD, fresh_database, hidden},
    rp::{Rp, oidc_http},
};

/// Two instances, `a` (index 0) and `b` (index 1), and the proxy in front of them.
/// Fields drop in order: the instances are killed (printing their logs if the test
/// failed) before the folder holding those logs goes.
pub(crate) struct Cluster {
    pub instances: [Instance; 2],
    pub proxy: Proxy,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts both instances together on a fresh, empty database — so both race to
    /// migrate it and to make the first signing key — waits until both are ready, and
    /// asserts that they then publish the same JWKS and sign with the same key.
    pub(crate) async fn start() -> Self {
        let (database_url, _) = fresh_database(crate::helpers::Backend::Postgres).await;
        let (listener, issuer) = Proxy::bind().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            database_url,
            issuer,
            outbox: dir.path().join("outbox"),
        };
        let mut instances = [
            Instance::start("a", &settings, dir.path()),
            Instance::start("b", &settings, dir.path()),
        ];
        for instance in &mut instances {
            instance.wait_ready().await;
        }
        let bases = instances.iter().map(|i| i.base.clone()).collect();
        let cluster = Self {
            proxy: Proxy::start(listener, bases),
            instances,
            settings,
            _dir: dir,
        };
        cluster.assert_one_key_ring().await;
        cluster
    }

    /// The first-key race: two instances started together on an empty database must
    /// agree on the keys, or one's tokens fail against the other's JWKS.
    async fn assert_one_key_ring(&self) {
        let a = self.at(0).jwks().await;
        let b = self.at(1).jwks().await;
        assert_eq!(
            a, b,
            "two instances started together publish different JWKS (the first-key race)"
        );
        assert_eq!(
            a["keys"].as_array().map(Vec::len),
            Some(1),
            "one first signing key, not one per instance: {a}"
        );
    }

    /// The proxy: what browsers and apps talk to.
    pub(crate) fn via_proxy(&self) -> Endpoint {
        Endpoint::new(&self.proxy.base)
    }

    /// Instance `index` itself, bypassing the proxy.
    pub(crate) fn at(&self, index: usize) -> Endpoint {
        Endpoint::new(&self.instances[index].base)
    }

    /// Settings for the library's CLI commands: the cluster's database and issuer.
    fn config(&self) -> Config {
        Config::from_toml(&format!(
            "issuer = \"{}\"\ndatabase_url = \"{}\"\n",
            self.settings.issuer, self.settings.database_url
        ))
        .expect("config")
    }

    pub(crate) async fn add_user(&self, username: &str) -> StoredUser {
        portcullis::commands::user_add(
            &self.config(),
            username,
            &format!("{username}@example.com"),
            PASSWORD.into(),
            &[],
        )
        .await
        .expect("add user")
    }

    /// Registers a client; returns its client_id and secret.
    pub(crate) async fn add_client(&self, registration: ClientRegistration) -> (String, String) {
        let (client, secret): (StoredClient, _) =
            portcullis::commands::client_add(&self.config(), registration)
                .await
                .expect("add client");
        (client.client_id, secret.expect("a confidential client"))
    }

    /// An app that discovered the issuer (through the proxy) with the openidconnect
    /// crate.
    pub(crate) async fn rp(&self, client_id: &str, secret: &str, redirect_uri: &str) -> Rp {
        let http = oidc_http();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(self.settings.issuer.clone()).expect("issuer"),
            &http,
        )
        .await
        .expect("discovery");
        let url = |path: &str| format!("{}{path}", self.settings.issuer);
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.into()),
            Some(ClientSecret::new(secret.into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).expect("redirect"))
        .set_revocation_url(RevocationUrl::new(url("/revoke")).expect("url"))
        .set_introspection_url(IntrospectionUrl::new(url("/introspect")).expect("url"));
        Rp {
            client,
            http,
            secret: Some(secret.to_owned()),
        }
    }
}

/// Asserts that consecutive requests in `served` went to alternate instances, each
/// answered at the first try, and returns which instance served each.
pub(crate) fn assert_alternated(served: &[Served]) -> Vec<usize> {
    assert!(
        served.len() >= 2,
        "too few requests to alternate: {served:?}"
    );
    for s in served {
        assert!(
            matches!(s.outcome, Outcome::Answered(_)),
            "every request answered at the first try: {served:?}"
        );
    }
    for pair in served.windows(2) {
        assert_ne!(
            pair[0].upstream, pair[1].upstream,
            "the proxy alternates request by request: {served:?}"
        );
    }
    served.iter().map(|s| s.upstream).collect()
}

/// The protocol endpoints at one base URL (the proxy or one instance), as an app's
/// backend calls them.
pub(crate) struct Endpoint {
    base: String,
    http: reqwest::Client,
}

impl Endpoint {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts `form` with HTTP Basic client authentication; the body is `Null` when it
    /// is not JSON. `Err` when no answer came (the connection failed).
    pub(crate) async fn try_post(
        &self,
        path: &str,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = auth {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn post(
        &self,
        path: &str,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.try_post(path, auth, form)
            .await
            .unwrap_or_else(|e| panic!("{}{path}: {e}", self.base))
    }

    /// A token request (RFC 6749 section 3.2).
    pub(crate) async fn token(
        &self,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post("/token", auth, form).await
    }

    /// An introspection request (RFC 7662 section 2.1): whether `token` is active.
    pub(crate) async fn active(&self, auth: BasicAuth<'_>, token: &str) -> bool {
        let (status, body) = self.post("/introspect", auth, &[("token", token)]).await;
        assert_eq!(status, 200, "{}/introspect: {body}", self.base);
        body["active"].as_bool().expect("active")
    }

    /// A revocation request (RFC 7009 section 2.1).
    pub(crate) async fn revoke(&self, auth: BasicAuth<'_>, token: &str) -> StatusCode {
        self.post("/revoke", auth, &[("token", token)]).await.0
    }

    /// The userinfo status for `token` as a bearer token (RFC 6750 section 2.1).
    pub(crate) async fn try_userinfo(&self, token: &str) -> Result<StatusCode, reqwest::Error> {
        let r = self
            .http
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await?;
        Ok(r.status())
    }

    pub(crate) async fn userinfo(&self, token: &str) -> StatusCode {
        self.try_userinfo(token)
            .await
            .unwrap_or_else(|e| panic!("{}/userinfo: {e}", self.base))
    }

    /// The published JWKS (RFC 7517).
    pub(crate) async fn jwks(&self) -> Value {
        let r = self
            .http
            .get(self.url("/jwks.json"))
            .send()
            .await
            .expect("jwks");
        assert_eq!(r.status(), 200);
        r.json().await.expect("jwks json")
    }
}

/// A person's browser: a cookie jar, following redirects by hand. Cookies are kept
/// per host, not per port, so the session made through the proxy is also sent to
/// either instance asked directly.
pub(crate) struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .user_agent("portcullis-tests/1 (like a browser)")
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// Where the server sends the browser for `url`, made absolute.
    pub(crate) async fn location(&self, url: &str) -> String {
        let r = self.http.get(url).send().await.expect("get");
        assert!(
            r.status().is_redirection(),
            "{url} answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        resolve(url, r.headers()["location"].to_str().expect("location"))
    }

    /// Follows `start_url` through the login and consent forms as `username`,
    /// allowing; returns the URL the app was sent to (the first one off the start URL's
    /// origin).
    pub(crate) async fn sign_in(&self, start_url: &str, username: &str) -> String {
        let start = Url::parse(start_url).expect("start url");
        let origin = start.origin().ascii_serialization();
        let mut url = start_url.to_owned();
        for _ in 0..10 {
            if !url.starts_with(&origin) {
                return url;
            }
            let r = self.http.get(&url).send().await.expect("get");
            if r.status().is_redirection() {
                url = resolve(&url, r.headers()["location"].to_str().expect("location"));
                continue;
            }
            let status = r.status();
            let html = r.text().await.expect("html");
            let csrf = hidden(&html, "csrf")
                .unwrap_or_else(|| panic!("no form at {url} ({status}): {html}"));
            let request = hidden(&html, "request").expect("request id");
            let on_login = Url::parse(&url).expect("url").path() == "/login";
            let (path, form) = if on_login {
                (
                    "/login",
                    vec![
                        ("csrf", csrf.as_str()),
                        ("request", request.as_str()),
                        ("login", username),
                        ("password", PASSWORD),
                    ],
                )
            } else {
                (
                    "/consent",
                    vec![
                        ("csrf", csrf.as_str()),
                        ("request", request.as_str()),
                        ("decision", "allow"),
                    ],
                )
            };
            let r = self
                .http
                .post(format!("{origin}{path}"))
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
            url = resolve(&url, r.headers()["location"].to_str().expect("location"));
        }
        panic!("too many redirects");
    }
}

/// `location` resolved against `base`, as a browser does.
fn resolve(base: &str, location: &str) -> String {
    Url::parse(base)
        .and_then(|b| b.join(location))
        .expect("a location")
        .to_string()
}

/// `url` with `params` added to its query.
pub(crate) fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(url).expect("url");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// `url` with its origin (scheme, host, port) replaced by `base`'s: the same request
/// sent to one instance directly.
pub(crate) fn at_base(url: &str, base: &str) -> String {
    let url = Url::parse(url).expect("url");
    let mut moved = Url::parse(base).expect("base");
    moved.set_path(url.path());
    moved.set_query(url.query());
    moved.to_string()
}
