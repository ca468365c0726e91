//! The log of the real binary, read from a pipe: `log.format = "json"` is one JSON
//! object per line, request lines carry the id the response's `X-Request-Id` says (a
//! proxy's id only from a trusted proxy), and a whole code flow leaves neither its
//! password, its code, its tokens nor its client secret in the log. A text log written
//! to a pipe has no colour escapes.

use std::{
    io::{BufRead, BufReader, Write},
    net::IpAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest as _;

use crate::helpers::{Backend, PASSWORD, fresh_database, hidden, postgres_available};

const CALLBACK: &str = "https://app.example.com/cb";

/// `portcullis serve` on a free port, its standard error read line by line.
struct Server {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    client_id: String,
    client_secret: String,
    _dir: tempfile::TempDir,
    _db: Option<tempfile::TempDir>,
}

impl Server {
    /// Sets up a user `ada` and a first-party client with the CLI, then serves, with
    /// `format` logs and 127.0.0.2 as the one trusted proxy.
    async fn start(backend: Backend, format: &str) -> Self {
        let (database_url, db) = fresh_database(backend).await;
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("portcullis.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\ntrusted_proxies = [\"127.0.0.2\"]\n[mail]\noutbox_dir = \"{}\"\n",
                dir.path().join("outbox").display()
            ),
        )
        .expect("config");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let command = |args: &[&str]| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
            c.arg("--config")
                .arg(&config)
                .args(args)
                .env("PORTCULLIS_DATABASE_URL", &database_url)
                .env("PORTCULLIS_ISSUER", &base)
                .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
                .env("PORTCULLIS_LOG__FORMAT", format)
                .env("RUST_LOG", "info")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c
        };
        let mut add = command(&[
            "user",
            "add",
            "--username",
            "ada",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ])
        .spawn()
        .expect("user add");
        add.stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("password");
        let out = add.wait_with_output().expect("user add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = command(&[
            "client",
            "add",
            "--name",
            "Web",
            "--redirect-uri",
            CALLBACK,
            "--first-party",
            "--json",
        ])
        .output()
        .expect("client add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let client: Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut child = command(&["serve"])
            .stdout(Stdio::null())
            .spawn()
            .expect("serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => sink.lock().expect("lock").push(l),
                    Err(_) => break,
                }
            }
        });
        let server = Self {
            child,
            base,
            lines,
            reader: Some(reader),
            client_id: client["client_id"].as_str().expect("id").to_owned(),
            client_secret: client["client_secret"].as_str().expect("secret").to_owned(),
            _dir: dir,
            _db: db,
        };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(server.url("/healthz")).await
                && r.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not start: {:?}",
            server.lines.lock().expect("lock")
        );
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server (SIGTERM) and returns every line it logged.
    fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exited = self.child.wait().expect("wait");
        assert!(exited.success(), "{exited}");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader");
        }
        std::mem::take(&mut *self.lines.lock().expect("lock"))
    }
}

fn browser(from: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// What a whole code flow put on the wire that must never reach the log.
struct Flow {
    secrets: Vec<String>,
    token_request_id: String,
}

/// Signs ada in, redeems the code (with PKCE), refreshes, and replays the code.
async fn code_flow(server: &Server) -> Flow {
    let http = browser(None);
    let verifier = "a-pkce-verifier-that-is-long-enough-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&server.url("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &server.client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid profile")
        .append_pair("state", "state-value-1")
        .append_pair("nonce", "nonce-value-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut next = url.to_string();
    let mut code = None;
    for _ in 0..10 {
        if next.starts_with(CALLBACK) {
            let cb = url::Url::parse(&next).expect("callback");
            code = cb
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned());
            break;
        }
        let r = http.get(&next).send().await.expect("get");
        if r.status().is_redirection() {
            let location = r.headers()["location"].to_str().expect("location");
            next = if location.starts_with('/') {
                server.url(location)
            } else {
                location.to_owned()
            };
            continue;
        }
        let html = r.text().await.expect("page");
        let csrf = hidden(&html, "csrf").expect("a login form");
        let request = hidden(&html, "request").expect("request");
        let r = http
            .post(server.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("request", &request),
                ("login", "ada"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("login");
        assert!(r.status().is_redirection(), "{}", r.status());
        let location = r.headers()["location"].to_str().expect("location");
        next = if location.starts_with('/') {
            server.url(location)
        } else {
            location.to_owned()
        };
    }
    let code = code.expect("a code");
    let token = |form: Vec<(&'static str, String)>| {
        http.post(server.url("/token"))
            .basic_auth(&server.client_id, Some(&server.client_secret))
            .form(&form)
            .send()
    };
    let exchange = || {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", CALLBACK.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let r = token(exchange()).await.expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let token_request_id = request_id(&r);
    let tokens: Value = r.json().await.expect("json");
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let r = token(vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh.clone()),
    ])
    .await
    .expect("refresh");
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.expect("json");
    let replay = token(exchange()).await.expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let mut secrets = vec![
        PASSWORD.to_owned(),
        server.client_secret.clone(),
        code,
        verifier.to_owned(),
        refresh,
    ];
    for set in [&tokens, &refreshed] {
        for name in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = set[name].as_str() {
                secrets.push(t.to_owned());
            }
        }
    }
    Flow {
        secrets,
        token_request_id,
    }
}

async fn json_logs_carry_request_ids_and_no_secrets(backend: Backend) {
    let server = Server::start(backend, "json").await;
    let flow = code_flow(&server).await;
    let proxy = browser(Some("127.0.0.2".parse().expect("ip")));
    let r = proxy
        .get(server.url("/login"))
        .header("x-request-id", "edge-abc-123")
        .send()
        .await
        .expect("from the proxy");
    assert_eq!(
        request_id(&r),
        "edge-abc-123",
        "a trusted proxy's id is kept"
    );
    let r = browser(None)
        .get(server.url("/login"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .expect("from a client");
    let ours = request_id(&r);
    assert_ne!(ours, "chosen-by-the-client");
    let lines = server.stop();

    let parsed: Vec<Value> = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(parsed.len() > 5, "{lines:#?}");
    for line in &parsed {
        for key in ["time", "level", "target", "message"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    let answered = |id: &str| {
        parsed
            .iter()
            .find(|l| l["request_id"] == id && l["status"].is_number())
            .cloned()
            .unwrap_or_else(|| panic!("no answered line for {id}: {lines:#?}"))
    };
    let token_line = answered(&flow.token_request_id);
    assert_eq!(token_line["route"], "/token");
    assert_eq!(token_line["method"], "POST");
    assert_eq!(token_line["status"], 200);
    assert!(token_line["latency_ms"].is_number(), "{token_line}");
    assert_eq!(answered("edge-abc-123")["route"], "/login");
    assert_eq!(answered(&ours)["route"], "/login");
    // The code replay is logged under the request that made it.
    assert!(
        parsed.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("code reused"))
            && l["route"] == "/token"
            && l["request_id"].as_str().is_some_and(|id| !id.is_empty())),
        "{lines:#?}"
    );
    let all = lines.join("\n");
    assert!(!all.contains("chosen-by-the-client"));
    assert!(!all.contains("state-value-1"), "no query string is logged");
    for secret in &flow.secrets {
        assert!(!all.contains(secret.as_str()), "{secret} is in the log");
    }
    assert!(!all.contains('\u{1b}'), "no colour in JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_no_secrets_on_sqlite() {
    json_logs_carry_request_ids_and_no_secrets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_no_secrets_on_postgres() {
    if postgres_available() {
        json_logs_carry_request_ids_and_no_secrets(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_log_to_a_pipe_is_readable_and_has_no_colour() {
    let server = Server::start(Backend::Sqlite, "text").await;
    let r = reqwest::get(server.url("/login")).await.expect("get");
    let id = request_id(&r);
    let lines = server.stop();
    let line = lines
        .iter()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no line for {id}: {lines:#?}"));
    assert!(
        line.contains("INFO") && line.contains("route=/login") && line.contains("status=200"),
        "{line}"
    );
    assert!(
        serde_json::from_str::<Value>(line).is_err(),
        "text, not JSON"
    );
    assert!(!lines.iter().any(|l| l.contains('\u{1b}')), "{lines:#?}");
}
