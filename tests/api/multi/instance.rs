//! One instance of the real `portcullis serve` binary, set up by environment as an
//! operator's container would be, and killed when dropped so that a failing test leaves
//! no process behind.

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long a start may take before the test gives up: migrations and the first key
/// on a debug build take well under a second, a loaded CI machine a few.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The settings every instance of one cluster shares.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub database_url: String,
    /// The proxy's URL: one issuer for all.
    pub issuer: String,
    pub outbox: PathBuf,
}

impl Settings {
    /// The binary with these settings in its environment (and nothing inherited that
    /// names a setting), for `serve` or any CLI command.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        c.args(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PORTCULLIS_") {
                c.env_remove(name);
            }
        }
        c.env("PORTCULLIS_DATABASE_URL", &self.database_url)
            .env("PORTCULLIS_ISSUER", &self.issuer)
            .env("PORTCULLIS_MAIL__OUTBOX_DIR", &self.outbox)
            .env("PORTCULLIS_SECURITY__PASSWORD_HASH_CONCURRENCY", "2")
            // Instances share the server's connection limit (PostgreSQL's default
            // max_connections is 100), as in production: 7 tests x 2 instances x the
            // default 16 could exceed it while the rest of the suite runs.
            .env("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "4")
            .env("RUST_LOG", "info");
        // Every request comes from 127.0.0.1 (the proxy): the per-IP limits are out of
        // the way, as tests/api/helpers.rs does for the in-process server.
        for limit in [
            "AUTHORIZE",
            "SIGN_IN",
            "SECOND_FACTOR",
            "ACCOUNT_MAIL",
            "TOKEN_PER_IP",
            "TOKEN_PER_CLIENT",
        ] {
            c.env(
                format!("PORTCULLIS_SECURITY__RATE_LIMITS__{limit}"),
                "1000/s",
            );
        }
        c
    }
}

/// A running (or killed) `portcullis serve`.
pub(crate) struct Instance {
    /// `http://127.0.0.1:<port>`: the instance itself, not the proxy.
    pub base: String,
    pub name: &'static str,
    port: u16,
    settings: Settings,
    log: PathBuf,
    child: Option<Child>,
}

/// A port nothing listens on now. Another process could take it before the instance
/// binds it; on a test machine that does not happen in practice.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Instance {
    /// Starts the binary; returns at once (see `wait_ready`). Its output goes to
    /// `<log_dir>/<name>.log`, printed when a test fails.
    pub(crate) fn start(
        name: &'static str,
        settings: &Settings,
        log_dir: &std::path::Path,
    ) -> Self {
        let port = free_port();
        let mut instance = Self {
            base: format!("http://127.0.0.1:{port}"),
            name,
            port,
            settings: settings.clone(),
            log: log_dir.join(format!("{name}.log")),
            child: None,
        };
        instance.spawn();
        instance
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("instance log");
        let child = self
            .settings
            .command(&["serve"])
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn portcullis serve");
        self.child = Some(child);
    }

    /// Waits until `/readyz` answers 200; panics with the instance's log if it exits or
    /// takes longer than `READY_WITHIN`.
    pub(crate) async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited ({status}):\n{}", self.name, self.log_text());
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "{} not ready within {READY_WITHIN:?}:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no drain, no goodbye, as when a node dies.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the binary again on the same port (the proxy still points there).
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Kills the process; prints its log when the test failed, or always when
/// `MULTI_INSTANCE_LOGS` is set (to read what the instances said in a passing run).
impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() || std::env::var_os("MULTI_INSTANCE_LOGS").is_some() {
            eprintln!("--- log of {} ---\n{}", self.name, self.log_text());
        }
    }
}
