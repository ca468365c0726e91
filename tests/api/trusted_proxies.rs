//! The client IP behind a proxy, over HTTP: `X-Forwarded-For` / `Forwarded` are
//! believed only from a peer in `http.trusted_proxies`, and then the right-most address
//! that is not a trusted proxy is the client — for the rate limits and for the audit
//! trail alike. Garbage is ignored. (That the setting comes from the environment as a
//! TOML list is a unit test in `config::http`.)

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, TestApp, hidden};

const TIGHT: &str = "[security.rate_limits]\nsign_in = \"2/min\"\nsecond_factor = \"1000/s\"\n\
                     account_mail = \"1000/s\"\ntoken_per_ip = \"1000/s\"\n\
                     token_per_client = \"1000/s\"\n";

async fn spawn(http: &str) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, &format!("[http]\n{http}\n{TIGHT}")).await
}

/// A sign-in POST (no CSRF needed: the limiter counts it before the handler looks).
async fn post_login(app: &TestApp, header: (&str, &str)) -> StatusCode {
    app.http
        .post(app.url("/login"))
        .header(header.0, header.1)
        .form(&[("login", "ada"), ("password", "x")])
        .send()
        .await
        .expect("post")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarding_header_from_an_untrusted_peer_is_ignored() {
    let app = spawn("trusted_proxies = []").await;
    // A fresh address each time would be a fresh budget, if it were believed.
    let claims = ["203.0.113.1", "203.0.113.2", "203.0.113.3"];
    for (i, claim) in claims.into_iter().enumerate() {
        let got = post_login(&app, ("x-forwarded-for", claim)).await;
        if i < 2 {
            assert_ne!(got, StatusCode::TOO_MANY_REQUESTS, "{claim}");
        } else {
            assert_eq!(
                got,
                StatusCode::TOO_MANY_REQUESTS,
                "the peer's budget is spent"
            );
        }
    }
    let forwarded = ("forwarded", "for=203.0.113.4");
    assert_eq!(
        post_login(&app, forwarded).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_names_the_peer_unless_a_trusted_proxy_names_the_client() {
    for (trusted, want) in [("[]", "127.0.0.1"), ("[\"127.0.0.1\"]", "203.0.113.77")] {
        let app = TestApp::spawn_with(
            Backend::Sqlite,
            &format!("[http]\ntrusted_proxies = {trusted}\n"),
        )
        .await;
        let ada = app.add_user("ada").await;
        let html = app.get("/login").await.text().await.expect("page");
        let csrf = hidden(&html, "csrf").expect("csrf");
        let r = app
            .http
            .post(app.url("/login"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.77")
            .form(&[
                ("csrf", csrf.as_str()),
                ("login", "ada"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let events = app.state.audit.for_user(ada.id, 10).await.expect("events");
        let sign_in = events.iter().find(|e| e.event == "sign_in").expect("event");
        assert_eq!(sign_in.ip.as_deref(), Some(want), "trusted = {trusted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_gives_each_client_its_own_budget() {
    let app = spawn("trusted_proxies = [\"127.0.0.0/8\"]").await;
    let one = ("x-forwarded-for", "198.51.100.1, 203.0.113.1");
    assert_ne!(post_login(&app, one).await, StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post_login(&app, one).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(post_login(&app, one).await, StatusCode::TOO_MANY_REQUESTS);
    // What the client wrote left of the proxy's entry changes nothing.
    let forged = ("x-forwarded-for", "10.9.9.9, 203.0.113.1");
    assert_eq!(
        post_login(&app, forged).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let two = ("x-forwarded-for", "203.0.113.2");
    assert_ne!(post_login(&app, two).await, StatusCode::TOO_MANY_REQUESTS);
    // Garbage is ignored: those requests count as the proxy itself, one budget.
    let garbage = ("x-forwarded-for", "not an address");
    assert_ne!(
        post_login(&app, garbage).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let also_garbage = ("x-forwarded-for", "999.1.1.1");
    assert_ne!(
        post_login(&app, also_garbage).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        post_login(&app, ("x-forwarded-for", "")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The Forwarded header is not the one configured, so it names no one.
    let other = ("forwarded", "for=203.0.113.9");
    assert_eq!(post_login(&app, other).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_is_read_when_it_is_the_configured_header() {
    let app = spawn("trusted_proxies = [\"127.0.0.1\"]\nclient_ip_header = \"forwarded\"").await;
    let one = ("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https");
    assert_ne!(post_login(&app, one).await, StatusCode::TOO_MANY_REQUESTS);
    // Another address in the same /64: the same budget.
    let same_net = ("forwarded", "for=\"[2001:db8:cafe::99]\"");
    assert_ne!(
        post_login(&app, same_net).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(post_login(&app, one).await, StatusCode::TOO_MANY_REQUESTS);
    let other = ("forwarded", "for=192.0.2.60");
    assert_ne!(post_login(&app, other).await, StatusCode::TOO_MANY_REQUESTS);
    // X-Forwarded-For is not believed now.
    let xff = ("x-forwarded-for", "192.0.2.61");
    assert_ne!(post_login(&app, xff).await, StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(
        post_login(&app, ("x-forwarded-for", "192.0.2.62")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        post_login(&app, ("x-forwarded-for", "192.0.2.63")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "all three counted as the proxy"
    );
}
