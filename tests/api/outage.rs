//! Fail closed, recover fast: with PostgreSQL cut off (through a TCP proxy in the test,
//! so the shared cluster stays up for everyone else), `/readyz` says 503 within a
//! second, the token and userinfo endpoints answer 503 in RFC 6749 JSON with
//! `Retry-After` within about `database.acquire_timeout`, a person gets a page, and
//! `/healthz` stays 200; once the database is back, the same server is ready and issues
//! tokens again within a few seconds, with no restart.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use portcullis::{AppState, clock::Clock, config::Config, oidc::clients::ClientRegistration};
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};

use crate::helpers::{Backend, fresh_database, postgres_available};

/// A TCP proxy to PostgreSQL that the test can cut (every connection closed, new ones
/// refused, as when the database is down), black-hole (every connection closed, new
/// ones accepted and never answered, as when its host is unreachable) and restore.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let hang = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (o, h, l) = (open.clone(), hang.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if h.load(Ordering::SeqCst) {
                    // Held open, never answered, until the link is aborted.
                    let link = tokio::spawn(async move {
                        let _client = client;
                        std::future::pending::<()>().await;
                    });
                    l.lock().await.push(link);
                    continue;
                }
                if !o.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().await.push(link);
            }
        });
        Self {
            port,
            open,
            hang,
            links,
        }
    }

    /// Closes every connection through the proxy; new ones are accepted and then
    /// never answered.
    async fn black_hole(&self) {
        self.hang.store(true, Ordering::SeqCst);
        self.cut().await;
    }

    /// Closes every connection through the proxy and refuses new ones.
    async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    async fn restore(&self) {
        self.hang.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_gone_requests_get_503_fast_and_the_server_recovers_by_itself() {
    if !postgres_available() {
        return;
    }
    let (direct, _) = fresh_database(Backend::Postgres).await;
    let mut url = url::Url::parse(&direct).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let outbox = tempfile::tempdir().unwrap();
    let toml = format!(
        "issuer = \"{base}\"\nbind = \"{addr}\"\ndatabase_url = \"{url}\"\n\
         [database]\nacquire_timeout = \"2s\"\n\
         [mail]\noutbox_dir = \"{}\"\n\
         [security.rate_limits]\ntoken_per_ip = \"1000/s\"\ntoken_per_client = \"1000/s\"\n",
        outbox.path().display()
    );
    let config = Config::from_toml(&toml).unwrap();
    let (client, secret) = {
        // The client goes in directly, not through the proxy.
        let mut direct_config = config.clone();
        direct_config.database_url = portcullis::config::DatabaseUrl::parse(&direct).unwrap();
        portcullis::commands::client_add(
            &direct_config,
            ClientRegistration {
                name: "Machine".into(),
                grant_types: vec!["client_credentials".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
    };
    let secret = secret.unwrap();
    let state = AppState::start_with_clock(config, Clock::system())
        .await
        .unwrap();
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = portcullis::serve(serving, listener, std::future::pending()).await;
    });
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = || async {
        let started = Instant::now();
        let r = http
            .post(format!("{base}/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        (status, retry, body, started.elapsed())
    };
    let get = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let started = Instant::now();
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            (r.status().as_u16(), r, started.elapsed())
        }
    };

    let (status, _, body, _) = token().await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get("/readyz").await.0, 200);

    proxy.cut().await;
    let cut_at = Instant::now();

    let (status, r, readyz_took) = get("/readyz").await;
    assert_eq!(status, 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        readyz_took < Duration::from_secs(1),
        "/readyz took {readyz_took:?}"
    );

    let (status, retry, body, token_took) = token().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(
        token_took < Duration::from_millis(3500),
        "/token took {token_took:?}"
    );

    let started = Instant::now();
    let r = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let userinfo_took = started.elapsed();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(
        userinfo_took < Duration::from_millis(3500),
        "/userinfo took {userinfo_took:?}"
    );

    // A person signing in gets a page saying to try again, never a bare 500. (The
    // sign-in page itself needs no database: the CSRF token is in a cookie.)
    let (status, r, _) = get("/login").await;
    assert_eq!(status, 200, "the sign-in form");
    let html = r.text().await.unwrap();
    let csrf = crate::helpers::hidden(&html, "csrf").expect("csrf");
    let started = Instant::now();
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "ada"),
            ("password", "pw"),
        ])
        .send()
        .await
        .unwrap();
    let page_took = started.elapsed();
    assert_eq!(r.status().as_u16(), 503, "signing in");
    assert!(r.headers().contains_key("retry-after"));
    let html = r.text().await.unwrap();
    assert!(html.contains("try again"), "{html}");
    assert!(
        page_took < Duration::from_millis(3500),
        "signing in took {page_took:?}"
    );

    let (status, _, healthz_took) = get("/healthz").await;
    assert_eq!(status, 200, "alive, though not ready");
    assert!(healthz_took < Duration::from_millis(200));
    // The key ring keeps its keys while the database is away.
    assert!(
        state.keys.jwks().contains("\"kid\""),
        "{}",
        state.keys.jwks()
    );

    proxy.restore().await;
    let restored_at = Instant::now();
    let ready_after = loop {
        if get("/readyz").await.0 == 200 {
            break restored_at.elapsed();
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(10),
            "not ready 10 s on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let issuing_after = loop {
        let (status, _, _, _) = token().await;
        if status == 200 {
            break restored_at.elapsed();
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(10),
            "no tokens 10 s on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "outage figures (database refusing): /readyz 503 in {readyz_took:?}, /token 503 \
         in {token_took:?}, /userinfo 503 in {userinfo_took:?}, sign-in 503 in \
         {page_took:?} (acquire_timeout 2s); after restore: ready in {ready_after:?}, \
         tokens in {issuing_after:?} (outage lasted {:?})",
        restored_at - cut_at
    );
    assert!(issuing_after < Duration::from_secs(5));

    // Now the database's host stops answering at all: nothing fails fast any more, so
    // only the timeouts bound the wait — the probe's own, and the pool's acquire.
    proxy.black_hole().await;
    let cut_at = Instant::now();
    let (status, _, readyz_took) = get("/readyz").await;
    assert_eq!(status, 503);
    assert!(
        readyz_took < Duration::from_secs(1),
        "/readyz took {readyz_took:?}"
    );
    let (status, retry, body, token_took) = token().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(
        token_took < Duration::from_millis(3500),
        "/token took {token_took:?} with acquire_timeout 2s"
    );
    assert_eq!(get("/healthz").await.0, 200);
    proxy.restore().await;
    let restored_at = Instant::now();
    let issuing_after = loop {
        let (status, _, _, _) = token().await;
        if status == 200 {
            break restored_at.elapsed();
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(10),
            "no tokens 10 s on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready = get("/readyz").await.0;
    eprintln!(
        "outage figures (database host unreachable): /readyz 503 in {readyz_took:?}, \
         /token 503 in {token_took:?}; after restore: tokens in {issuing_after:?}, \
         /readyz {ready} (outage lasted {:?})",
        restored_at - cut_at
    );
    assert_eq!(ready, 200);
    assert!(issuing_after < Duration::from_secs(5));
}
