//! `TestApp`: the real server on a random port over a fresh database — a SQLite file,
//! or a PostgreSQL database of its own when PORTCULLIS_TEST_DATABASE_URL is set.

use std::{sync::Arc, time::Duration};

use portcullis::{
    AppState,
    config::{Config, DatabaseUrl},
    oidc::clients::ClientRegistration,
    storage::{Db, StoredClient, StoredUser},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each test body, a `sqlite` and a `postgres` test in a module named
/// after the test. The postgres one needs PORTCULLIS_TEST_DATABASE_URL; under CI it
/// fails without it, elsewhere it is skipped with a note.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_available() { return; }
                super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
            }
        }
    )*};
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_available() { return; }
                let $app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await;
                $body
            }
        }
    )*};
}

/// Whether the PostgreSQL variant can run; panics under CI when it cannot.
pub fn postgres_available() -> bool {
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
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
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

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub database_url: String,
    /// A client that keeps cookies and does not follow redirects, like a careful browser.
    pub http: reqwest::Client,
    _dir: Option<Arc<tempfile::TempDir>>,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, "").await
    }

    /// Spawns with extra TOML settings laid over the defaults.
    pub async fn spawn_with(backend: Backend, overlay: &str) -> Self {
        let (database_url, dir) = fresh_database(backend).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let toml = format!(
            "issuer = \"{base}\"\nbind = \"{addr}\"\ndatabase_url = \"{database_url}\"\n{overlay}\n\
             [security]\npassword_hash_concurrency = 2\n"
        );
        let config = Config::from_toml(&toml).expect("test config");
        let state = AppState::start(config).await.expect("start");
        let serving = state.clone();
        tokio::spawn(async move {
            let _ = portcullis::serve(serving, listener, std::future::pending()).await;
        });
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            base,
            state,
            database_url,
            http,
            _dir: dir.map(Arc::new),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn config(&self) -> Config {
        (*self.state.config).clone()
    }

    /// A second connection to the same database, as another instance would have.
    pub async fn second_db(&self) -> Db {
        let url = DatabaseUrl::parse(&self.database_url).expect("url");
        Db::connect(&url, 2).await.expect("connect")
    }

    pub async fn add_user(&self, username: &str) -> StoredUser {
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
    pub async fn add_client(
        &self,
        registration: ClientRegistration,
    ) -> (StoredClient, Option<String>) {
        portcullis::commands::client_add(&self.config(), registration)
            .await
            .expect("add client")
    }

    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// A confidential web app registration with one redirect URI.
pub fn web_app(redirect_uri: &str) -> ClientRegistration {
    ClientRegistration {
        name: "Test App".into(),
        redirect_uris: vec![redirect_uri.into()],
        ..Default::default()
    }
}
