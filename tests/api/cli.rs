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

/// What Kubernetes gives a pod for Services named portcullis, portcullis-metrics and
/// portcullis-db in its namespace.
const POD_ENVIRONMENT: &[(&str, &str)] = &[
    ("PORTCULLIS_PORT", "tcp://10.0.0.1:8080"),
    ("PORTCULLIS_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
    ("PORTCULLIS_PORT_8080_TCP_PROTO", "tcp"),
    ("PORTCULLIS_PORT_8080_TCP_PORT", "8080"),
    ("PORTCULLIS_PORT_8080_TCP_ADDR", "10.0.0.1"),
    ("PORTCULLIS_SERVICE_HOST", "10.0.0.1"),
    ("PORTCULLIS_SERVICE_PORT", "8080"),
    ("PORTCULLIS_SERVICE_PORT_HTTP", "8080"),
    ("PORTCULLIS_METRICS_SERVICE_HOST", "10.0.0.2"),
    ("PORTCULLIS_METRICS_SERVICE_PORT", "9090"),
    ("PORTCULLIS_METRICS_PORT", "tcp://10.0.0.2:9090"),
    ("PORTCULLIS_METRICS_PORT_9090_TCP_ADDR", "10.0.0.2"),
    ("PORTCULLIS_DB_SERVICE_HOST", "10.0.0.3"),
    ("PORTCULLIS_DB_PORT", "tcp://10.0.0.3:5432"),
    ("PORTCULLIS_DB_PORT_5432_TCP", "tcp://10.0.0.3:5432"),
];

/// Kubernetes gives every pod `<SERVICE>_PORT=tcp://…` and friends for each Service in
/// its namespace: a Service named portcullis must not stop Portcullis from starting
/// (each variable is named once, in the log), while a misspelt
/// `PORTCULLIS_<SECTION>__<KEY>` or an unknown key in a file is still refused.
#[tokio::test]
async fn kubernetes_service_variables_do_not_stop_a_start() {
    let cli = Cli::new(Backend::Sqlite).await;
    let out = cli
        .command(&["migrate"])
        .envs(POD_ENVIRONMENT.iter().copied())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for (name, _) in POD_ENVIRONMENT {
        let lines = err
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .any(|w| w == format!("variable={name}"))
                    || l.contains(&format!("\"variable\":\"{name}\""))
            })
            .count();
        assert_eq!(lines, 1, "{name} is named once in the log: {err}");
    }
    assert!(err.contains("not a setting"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "a log that is not a terminal gets no colour: {err:?}"
    );
    let out = cli
        .command(&["migrate"])
        .envs(POD_ENVIRONMENT.iter().copied())
        .env("PORTCULLIS_TOKENS__ACESS_TOKEN_TTL", "15m")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a misspelt setting is refused");
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("acess_token_ttl"), "{err}");

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[tokens]\naccess_ttl = \"5m\"\n").expect("write");
    let out = cli
        .command(&["--config", &file.display().to_string(), "migrate"])
        .envs(POD_ENVIRONMENT.iter().copied())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown key in a file is refused"
    );
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("access_ttl"), "{err}");
}

/// `config check` prints what the layers come to, secrets redacted, and the
/// variables ignored; a bad setting is one line and exit code 2, as at start.
#[tokio::test]
async fn config_check_prints_the_effective_settings_without_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "issuer = \"https://id.example.com\"\n[tokens]\naccess_token_ttl = \"5m\"\n\
         [metrics]\ntoken = \"metrics-token-0123456789\"\n",
    )
    .expect("write");
    let run = |extra: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["--config", &file.display().to_string(), "config", "check"])
            .env(
                "PORTCULLIS_DATABASE_URL",
                "postgres://portcullis:hunter2@db.internal:5432/portcullis?password=hunter3",
            )
            .env(
                "PORTCULLIS_SMTP_URL",
                "smtps://mailer:swordfish@mail.example.com",
            )
            .env(
                "PORTCULLIS_KEYS__ENCRYPTION_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .env("PORTCULLIS_TOKENS__CODE_TTL", "30s")
            .env("RUST_LOG", "warn")
            .envs(POD_ENVIRONMENT.iter().copied())
            .envs(extra.iter().copied())
            .output()
            .expect("run")
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for secret in [
        "hunter2",
        "hunter3",
        "swordfish",
        "AAAAAAAA",
        "metrics-token-0123456789",
    ] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
        assert!(!stderr(&out).contains(secret), "{secret} logged");
    }
    for shown in [
        "issuer = \"https://id.example.com\"",
        "database_url = \"postgres://portcullis:<redacted>@db.internal:5432/portcullis?password=<redacted>\"",
        "smtp_url = \"smtps://mailer:<redacted>@mail.example.com\"",
        "encryption_key = \"<redacted>\"",
        "token = \"<redacted>\"",
        "access_token_ttl = \"5m\"",
        "code_ttl = \"30s\"",
        "#   PORTCULLIS_SERVICE_HOST",
        "trusts no proxy",
    ] {
        assert!(text.contains(shown), "{shown} missing from: {text}");
    }
    let settings: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        settings.parse::<toml::Table>().is_ok(),
        "the settings part is TOML: {settings}"
    );

    let out = run(&[("PORTCULLIS_TOKENS__CODE_TTL", "11m")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "",
        "nothing printed for settings that do not load"
    );
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("`tokens.code_ttl`"), "{err}");
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
