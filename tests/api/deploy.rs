//! The real binary as it is deployed: graceful shutdown with a request in flight, the
//! `health` probe a container's HEALTHCHECK runs, and a run as a non-root user from a
//! read-only root with only its state directory writable (what the Dockerfile and the
//! systemd unit set up; this machine has no container engine to run the image).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::helpers::{Backend, fresh_database, postgres_available};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// `portcullis serve` on a free port over a fresh database, its standard error read
/// line by line on a thread so a test can wait for a line.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    log: mpsc::Receiver<String>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

impl Server {
    /// Starts it with `env` on top of its bind, issuer and database, and waits for
    /// the banner.
    pub(crate) async fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        let (database_url, dir) = fresh_database(backend).await;
        let port = free_port();
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("PORTCULLIS_DATABASE_URL", &database_url)
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_ISSUER", format!("http://127.0.0.1:{port}"))
            .env("RUST_LOG", "warn,portcullis=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &dir {
            command.env(
                "PORTCULLIS_MAIL__OUTBOX_DIR",
                dir.path().join("outbox").display().to_string(),
            );
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn portcullis");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let banner = stdout.next().and_then(Result::ok).unwrap_or_default();
        assert!(banner.contains("Portcullis is serving"), "{banner}");
        std::thread::spawn(move || for _ in stdout.by_ref() {});
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// The first log line containing every one of `words`, within `within`.
    pub(crate) fn wait_for_log(&self, words: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if words.iter().all(|w| line.contains(w)) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line with {words:?} within {within:?}; saw {seen:#?}");
    }

    /// Waits for the process to end, and says how.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < within, "did not stop within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn health(port: u16) -> Output {
    Command::new(BIN)
        .arg("health")
        .env("PORTCULLIS_BIND", format!("0.0.0.0:{port}"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run health")
}

/// A request whose body is still arriving when SIGTERM comes is answered; nothing new
/// is accepted; the process exits 0.
async fn a_request_in_flight_at_sigterm_gets_its_answer(backend: Backend) {
    let mut server = Server::start(backend, &[("PORTCULLIS_HTTP__SHUTDOWN_TIMEOUT", "5s")]).await;
    let out = health(server.port);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "healthy");

    let body = "grant_type=client_credentials";
    let mut socket = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        socket,
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .expect("send the start");
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    server.wait_for_log(&["shutting down"], Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "no new connection is accepted once shutdown began"
    );
    socket
        .write_all(&body.as_bytes()[10..])
        .expect("send the rest");
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 401") || answer.starts_with("HTTP/1.1 400"),
        "the request in flight is answered: {answer:?}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "and told the connection ends: {answer}"
    );
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "graceful exit: {status}");
    let out = health(server.port);
    assert_eq!(out.status.code(), Some(1), "a stopped server is unhealthy");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unhealthy"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_gets_its_answer_on_sqlite() {
    a_request_in_flight_at_sigterm_gets_its_answer(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_gets_its_answer_on_postgres() {
    if postgres_available() {
        a_request_in_flight_at_sigterm_gets_its_answer(Backend::Postgres).await;
    }
}

/// In a mount namespace of its own: the state directory bound onto itself (so it stays
/// writable), the root remounted read-only, a probe that writing elsewhere fails, then
/// the server as nobody (65534) with no capabilities, its database in the state dir.
const READ_ONLY_ROOT: &str = r#"
state="$1"; bin="$2"; port="$3"
mount --bind "$state" "$state"
mount -o remount,bind,ro /
drop="setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all --bounding-set=-all"
if $drop sh -c 'echo x > /var/tmp/portcullis-probe' 2>/dev/null; then
    echo "the root is writable" >&2; exit 97
fi
cd "$state"
exec $drop env -i PATH=/usr/bin:/bin RUST_LOG=warn \
    PORTCULLIS_BIND="127.0.0.1:$port" PORTCULLIS_ISSUER="http://127.0.0.1:$port" \
    PORTCULLIS_DATABASE_URL="sqlite://$state/portcullis.db" \
    PORTCULLIS_MAIL__OUTBOX_DIR="$state/outbox" \
    "$bin" serve
"#;

#[tokio::test]
async fn it_serves_as_nobody_from_a_read_only_root_writing_only_its_state_directory() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let root = Command::new("id").arg("-u").output().expect("id");
    let unshare = Command::new("unshare").args(["-m", "true"]).status();
    if String::from_utf8_lossy(&root.stdout).trim() != "0" || !unshare.is_ok_and(|s| s.success()) {
        eprintln!("skipped: needs root and `unshare -m` to build a read-only root");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("state dir");
    chown(&state, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let port = free_port();
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-euc", READ_ONLY_ROOT, "sh"])
        .arg(&state)
        .arg(BIN)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let url = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    let healthy = loop {
        if let Ok(r) = reqwest::get(&url).await {
            break r.status().as_u16();
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err);
            panic!("it stopped: {status}: {err}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(healthy, 200);
    let jwks = reqwest::get(format!("http://127.0.0.1:{port}/jwks.json"))
        .await
        .expect("jwks");
    assert_eq!(jwks.status(), 200, "a signing key was made and stored");
    let db = state.join("portcullis.db");
    let meta = std::fs::metadata(&db).expect("the database is in the state directory");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        65534,
        "and written by the unprivileged user"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

/// With `http.shutdown_delay`, SIGTERM first makes `/readyz` answer 503 while new
/// connections are still served (liveness stays 200), then the process stops.
#[tokio::test]
async fn readiness_fails_at_sigterm_while_connections_are_still_taken_for_the_delay() {
    let mut server = Server::start(
        Backend::Sqlite,
        &[("PORTCULLIS_HTTP__SHUTDOWN_DELAY", "2s")],
    )
    .await;
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let ready = client.get(url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let signalled = Instant::now();
    server.signal("TERM");
    server.wait_for_log(&["shutdown delay"], Duration::from_secs(5));
    let ready = client
        .get(url("/readyz"))
        .send()
        .await
        .expect("a new connection");
    assert_eq!(ready.status(), 503, "not ready once shutdown began");
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["reason"], "shutting down");
    let live = client.get(url("/healthz")).send().await.expect("healthz");
    assert_eq!(live.status(), 200, "still alive while it drains");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "it waited out the delay"
    );
}

/// The unit file parses and names directives systemd knows (`systemd-analyze verify`,
/// with the binary built here in place of /usr/local/bin); skipped without systemd.
#[test]
fn the_systemd_unit_verifies() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: no systemd-analyze");
        return;
    };
    assert!(probe.status.success());
    let unit = include_str!("../../deploy/portcullis.service");
    for directive in [
        "DynamicUser=yes",
        "StateDirectory=portcullis",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(directive), "{directive}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("portcullis.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/portcullis", BIN)).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}
