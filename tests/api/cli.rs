//! The `portcullis` binary: the CLI contract, its errors, and first start.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Output, Stdio},
    time::Duration,
};

use crate::helpers::{Backend, fresh_database, postgres_available};

struct Cli {
    database_url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Cli {
    async fn new(backend: Backend) -> Self {
        let (database_url, dir) = fresh_database(backend).await;
        Self {
            database_url,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        c.args(args)
            .env("PORTCULLIS_DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self.command(args).spawn().expect("spawn portcullis");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn the_cli_contract_holds(backend: Backend) {
    let cli = Cli::new(backend).await;
    let out = cli.run(
        &[
            "client",
            "add",
            "--name",
            "Web",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    let obj = json.as_object().expect("object");
    assert_eq!(obj.len(), 2, "exactly client_id and client_secret: {json}");
    assert!(obj["client_id"].is_string());
    assert_eq!(obj["client_secret"].as_str().expect("secret").len(), 43);

    let out = cli.run(
        &[
            "client",
            "add",
            "--name",
            "SPA",
            "--redirect-uri",
            "http://localhost:5173/cb",
            "--public",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert!(json["client_secret"].is_null());

    let out = cli.run(
        &[
            "client",
            "add",
            "--name",
            "M2M",
            "--grant-type",
            "client_credentials",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("client_secret: "));

    let out = cli.run(&["client", "list", "--json"], "");
    let list: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(list.as_array().expect("array").len(), 3);

    let out = cli.run(
        &[
            "user",
            "add",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("added user admin"));

    let out = cli.run(&["keys", "rotate"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("new signing key"));
}

async fn bad_input_gets_one_line_and_writes_nothing(backend: Backend) {
    let cli = Cli::new(backend).await;
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &[
                "client",
                "add",
                "--name",
                "X",
                "--redirect-uri",
                "/relative",
            ],
            "",
            "not an absolute URI",
        ),
        (
            &[
                "client",
                "add",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb#frag",
            ],
            "",
            "fragment",
        ),
        (
            &[
                "client",
                "add",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb",
                "--grant-type",
                "password",
            ],
            "",
            "unknown grant type",
        ),
        (
            &[
                "user",
                "add",
                "--username",
                "ada",
                "--email",
                "ada@example.com",
                "--password-stdin",
            ],
            "\n",
            "password is empty",
        ),
        (
            &[
                "user",
                "add",
                "--username",
                "ada",
                "--email",
                "not-an-email",
                "--password-stdin",
            ],
            "a long password\n",
            "email",
        ),
    ];
    for (args, stdin, expected) in cases {
        let out = cli.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "one line for {args:?}: {err}"
        );
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let out = cli.run(&["client", "list", "--json"], "");
    assert_eq!(stdout(&out).trim(), "[]", "nothing was written");

    let ok = cli.run(
        &[
            "user",
            "add",
            "--username",
            "ada",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let dup = cli.run(
        &[
            "user",
            "add",
            "--username",
            "Ada",
            "--email",
            "ada2@example.com",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(!dup.status.success());
    assert!(
        stderr(&dup).contains("username is already taken"),
        "{}",
        stderr(&dup)
    );
}

#[tokio::test]
async fn the_cli_contract_holds_on_sqlite() {
    the_cli_contract_holds(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_cli_contract_holds_on_postgres() {
    if postgres_available() {
        the_cli_contract_holds(Backend::Postgres).await;
    }
}

#[tokio::test]
async fn bad_cli_input_gets_one_line_and_writes_nothing_on_sqlite() {
    bad_input_gets_one_line_and_writes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn bad_cli_input_gets_one_line_and_writes_nothing_on_postgres() {
    if postgres_available() {
        bad_input_gets_one_line_and_writes_nothing(Backend::Postgres).await;
    }
}

/// Kubernetes gives every pod `<SERVICE>_PORT=tcp://…` and friends for each Service in
/// its namespace: a Service named portcullis must not stop Portcullis from starting, while
/// a misspelt `PORTCULLIS_<SECTION>__<KEY>` is still refused.
#[tokio::test]
async fn kubernetes_service_variables_do_not_stop_a_start() {
    let cli = Cli::new(Backend::Sqlite).await;
    let out = cli
        .command(&["migrate"])
        .env("PORTCULLIS_PORT", "tcp://10.0.0.1:8080")
        .env("PORTCULLIS_PORT_8080_TCP", "tcp://10.0.0.1:8080")
        .env("PORTCULLIS_SERVICE_HOST", "10.0.0.1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("PORTCULLIS_SERVICE_HOST") && err.contains("not a setting"),
        "each is named once in the log: {err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "a log that is not a terminal gets no colour: {err:?}"
    );
    let out = cli
        .command(&["migrate"])
        .env("PORTCULLIS_TOKENS__CODE_TLL", "60s")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a misspelt setting is refused");
    assert!(stderr(&out).contains("code_tll"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_bad_setting_is_one_line_naming_it_with_exit_code_2() {
    let cli = Cli::new(Backend::Sqlite).await;
    let cases = [
        ("PORTCULLIS_ISSUER", "not a url", "`issuer`"),
        (
            "PORTCULLIS_ISSUER",
            "https://id.example.com/?q=1",
            "`issuer`",
        ),
        ("PORTCULLIS_DATABASE_URL", "mysql://db/x", "`database_url`"),
        (
            "PORTCULLIS_TOKENS__ACCESS_TOKEN_TTL",
            "soon",
            "`tokens.access_token_ttl`",
        ),
        ("PORTCULLIS_BIND", "everywhere", "`bind`"),
    ];
    for (key, value, named) in cases {
        let out = cli
            .command(&["migrate"])
            .env(key, value)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{key}={value}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(named), "{key}={value}: {err}");
    }
    let out = cli
        .command(&["--config", "/no/such/file.toml", "migrate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn serve_creates_the_database_and_key_then_stops_gracefully_on_sigterm() {
    let cli = Cli::new(Backend::Sqlite).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut child = cli
        .command(&["serve"])
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", &issuer)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = lines.next().expect("a line").expect("utf-8");
    assert!(banner.contains(&issuer), "{banner}");
    let rest: Vec<String> = (0..5)
        .filter_map(|_| lines.next().and_then(Result::ok))
        .collect();
    assert!(
        rest.iter().any(|l| l.contains("portcullis user add")),
        "{rest:?}"
    );
    let jwks: serde_json::Value = reqwest::get(format!("{issuer}/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(jwks["keys"].as_array().expect("keys").len(), 1);
    let db_file = cli.database_url.trim_start_matches("sqlite://").to_owned();
    assert!(
        std::path::Path::new(&db_file).is_file(),
        "{db_file} created"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "graceful exit: {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}
