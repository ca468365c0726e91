//! `TestApp`: the real server on a random port over a fresh database — a SQLite file,
//! or a PostgreSQL database of its own when PORTCULLIS_TEST_DATABASE_URL is set — with
//! typed helpers for the protocol endpoints and for a person signing in over HTTP.

use std::{sync::Arc, time::Duration};

use portcullis::{
    AppState,
    clock::Clock,
    config::{Config, DatabaseUrl},
    oidc::clients::ClientRegistration,
    storage::{Db, StoredClient, StoredUser},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Instantiates each named test body, an `async fn name(app: TestApp)` beside the call,
/// as a `sqlite` and a `postgres` test in a module named after it. The postgres one needs
/// PORTCULLIS_TEST_DATABASE_URL; under CI it fails without it, elsewhere it is skipped
/// with a note.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{Backend, TestApp, postgres_available};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(TestApp::spawn(Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !postgres_available() {
                    return;
                }
                super::$name(TestApp::spawn(Backend::Postgres).await).await;
            }
        }
    )+};
}

/// Whether the PostgreSQL variant can run; panics under CI when it cannot.
pub(crate) fn postgres_available() -> bool {
    if std::env::var("PORTCULLIS_TEST_DATABASE_URL").is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "PORTCULLIS_TEST_DATABASE_URL must be set under CI: every store test runs on PostgreSQL too"
    );
    eprintln!("skipped: PORTCULLIS_TEST_DATABASE_URL is not set");
    false
}

/// A fresh, empty database URL on `backend`, and what keeps it alive.
pub(crate) async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/nested/portcullis.db", dir.path().display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let admin = std::env::var("PORTCULLIS_TEST_DATABASE_URL").expect("postgres url");
            let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("connect to PORTCULLIS_TEST_DATABASE_URL");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin).expect("postgres url");
            url.set_path(&name);
            (url.to_string(), None)
        }
    }
}

pub(crate) struct TestApp {
    pub base: String,
    pub state: AppState,
    /// The server's clock, a test clock: moving it moves the server's `now`.
    pub clock: Clock,
    pub database_url: String,
    /// A client that keeps cookies and does not follow redirects, like a careful browser.
    pub http: reqwest::Client,
    /// Where the server writes mail (no SMTP configured): one `.eml` per message.
    pub outbox: std::path::PathBuf,
    _dir: Option<Arc<tempfile::TempDir>>,
    _outbox_dir: Arc<tempfile::TempDir>,
}

pub(crate) const PASSWORD: &str = "correct horse battery";

/// HTTP Basic client credentials to send, if any: (client_id, secret).
pub(crate) type BasicAuth<'a> = Option<(&'a str, &'a str)>;

impl TestApp {
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, "").await
    }

    /// Spawns with extra TOML settings laid over the defaults.
    pub(crate) async fn spawn_with(backend: Backend, overlay: &str) -> Self {
        Self::spawn_at(backend, "127.0.0.1", overlay).await
    }

    /// As `spawn_with`, with the issuer (and `base`) naming `host` instead of the
    /// loopback address it listens on: browsers offer WebAuthn to `localhost`, never to
    /// an IP address.
    pub(crate) async fn spawn_at(backend: Backend, host: &str, overlay: &str) -> Self {
        let (database_url, dir) = fresh_database(backend).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{host}:{}", addr.port());
        let outbox_dir = tempfile::tempdir().expect("outbox dir");
        let outbox = outbox_dir.path().join("outbox");
        let outbox_line = format!("outbox_dir = \"{}\"\n", outbox.display());
        // The outbox folder goes into the overlay's [mail] table, or a new one.
        let overlay = if overlay.contains("[mail]\n") {
            overlay.replacen("[mail]\n", &format!("[mail]\n{outbox_line}"), 1)
        } else {
            format!("{overlay}\n[mail]\n{outbox_line}")
        };
        // Two hashing slots, into the overlay's [security] table or a new one.
        let hashing = "password_hash_concurrency = 2\n";
        let overlay = if overlay.contains("[security]\n") {
            overlay.replacen("[security]\n", &format!("[security]\n{hashing}"), 1)
        } else {
            format!("{overlay}\n[security]\n{hashing}")
        };
        // Every test comes from 127.0.0.1: the rate limits are out of the way unless a
        // test sets its own (tests/api/rate_limits.rs).
        let overlay = if overlay.contains("[security.rate_limits]") {
            overlay
        } else {
            format!(
                "{overlay}\n[security.rate_limits]\nauthorize = \"1000/s\"\nsign_in = \"1000/s\"\n\
                 second_factor = \"1000/s\"\naccount_mail = \"1000/s\"\n\
                 token_per_ip = \"1000/s\"\ntoken_per_client = \"1000/s\"\n"
            )
        };
        // An overlay may name its own issuer (an https one, served here over http).
        let issuer = if overlay.starts_with("issuer = ") {
            String::new()
        } else {
            format!("issuer = \"{base}\"\n")
        };
        let toml =
            format!("{issuer}bind = \"{addr}\"\ndatabase_url = \"{database_url}\"\n{overlay}\n");
        let config = Config::from_toml(&toml).expect("test config");
        let clock = Clock::test();
        let state = AppState::start_with_clock(config, clock.clone())
            .await
            .expect("start");
        let serving = state.clone();
        tokio::spawn(async move {
            let _ = portcullis::serve(serving, listener, std::future::pending()).await;
        });
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .user_agent("portcullis-tests/1 (like a browser)")
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            base,
            state,
            clock,
            database_url,
            http,
            outbox,
            _dir: dir.map(Arc::new),
            _outbox_dir: Arc::new(outbox_dir),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn config(&self) -> Config {
        (*self.state.config).clone()
    }

    /// A second connection to the same database, as another instance would have.
    pub(crate) async fn second_db(&self) -> Db {
        let url = DatabaseUrl::parse(&self.database_url).expect("url");
        Db::connect(&url, 2).await.expect("connect")
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

    /// Registers a client; returns it with its secret.
    pub(crate) async fn add_client(
        &self,
        registration: ClientRegistration,
    ) -> (StoredClient, Option<String>) {
        portcullis::commands::client_add(&self.config(), registration)
            .await
            .expect("add client")
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("get")
    }

    pub(crate) async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts `form` to `path` as a browser submits a form: no client authentication.
    pub(crate) async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// Posts `form` to a protocol endpoint, with HTTP Basic client authentication when
    /// `auth` is given. The body is `Null` when it is not JSON.
    async fn post_protocol(
        &self,
        path: &str,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = auth {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    /// A token request (RFC 6749 section 3.2).
    pub(crate) async fn post_token(
        &self,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        self.post_protocol("/token", auth, form).await
    }

    /// An introspection request (RFC 7662 section 2.1).
    pub(crate) async fn introspect(
        &self,
        auth: BasicAuth<'_>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.post_protocol("/introspect", auth, form).await;
        (status, body)
    }

    /// A revocation request (RFC 7009 section 2.1), as the app's secret holder would
    /// post it (the oauth2 crate refuses a plain-http revocation URL, which is all a test
    /// server has).
    pub(crate) async fn revoke(&self, auth: BasicAuth<'_>, form: &[(&str, &str)]) -> StatusCode {
        self.post_protocol("/revoke", auth, form).await.0
    }

    /// A userinfo request with `token` as a bearer token (RFC 6750 section 2.1).
    pub(crate) async fn userinfo(&self, token: &str) -> (StatusCode, HeaderMap, Value) {
        let r = self
            .http
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo");
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    /// What a person does in the browser, over plain HTTP with a cookie jar: follows
    /// redirects within Portcullis, signs in as `username`, and allows consent when
    /// `consent` is true. Returns the URL the app was sent to.
    pub(crate) async fn sign_in(&self, start_url: &str, username: &str, consent: bool) -> String {
        let mut url = start_url.to_owned();
        for _ in 0..10 {
            if !url.starts_with(&self.base) {
                return url;
            }
            let r = self.http.get(&url).send().await.expect("get");
            if r.status().is_redirection() {
                url = self.absolute(r.headers()["location"].to_str().expect("location"));
                continue;
            }
            let status = r.status();
            let html = r.text().await.expect("html");
            let csrf = hidden(&html, "csrf")
                .unwrap_or_else(|| panic!("no form at {url} ({status}): {html}"));
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
            let r = self.post_form(path, &form).await;
            assert!(
                r.status().is_redirection(),
                "{path} answered {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
            url = self.absolute(r.headers()["location"].to_str().expect("location"));
        }
        panic!("too many redirects");
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            self.url(location)
        } else {
            location.to_owned()
        }
    }
}

/// A confidential web app registration with one redirect URI.
pub(crate) fn web_app(redirect_uri: &str) -> ClientRegistration {
    ClientRegistration {
        name: "Test App".into(),
        redirect_uris: vec![redirect_uri.into()],
        ..Default::default()
    }
}

/// The value of a hidden input in an HTML page.
pub(crate) fn hidden(html: &str, name: &str) -> Option<String> {
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

/// `body` with the server's random-port base URL replaced by `http://issuer`, so that
/// its snapshot is the same on every run and engine.
pub(crate) fn redact_issuer(app: &TestApp, body: &Value) -> Value {
    let text = body.to_string().replace(&app.base, "http://issuer");
    serde_json::from_str(&text).expect("still JSON")
}
