//! Liveness, readiness, and what unknown paths and hostile requests get.

use crate::{both_backends, helpers::TestApp};

both_backends!(
    healthz_and_readyz_answer_while_the_database_is_up,
    readyz_is_503_when_the_database_is_gone,
    an_unknown_path_is_a_plain_404_page_with_security_headers,
    an_oversized_body_is_refused_with_413,
);

async fn healthz_and_readyz_answer_while_the_database_is_up(app: TestApp) {
    assert_eq!(app.get_json("/healthz").await.0, 200);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
}

async fn readyz_is_503_when_the_database_is_gone(app: TestApp) {
    app.state.store.db.close().await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
}

async fn an_unknown_path_is_a_plain_404_page_with_security_headers(app: TestApp) {
    let r = app.get("/nope/../../etc/passwd").await;
    assert_eq!(r.status(), 404);
    let h = r.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(r.text().await.expect("body").contains("Page not found"));
}

async fn an_oversized_body_is_refused_with_413(app: TestApp) {
    let body = "a".repeat(200 * 1024);
    let r = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
}

/// Under an https issuer, cookies are Secure and every response carries HSTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_gets_secure_cookies_and_hsts() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let mut config = app.config();
    config.issuer = portcullis::config::Issuer::parse("https://id.example.com").expect("issuer");
    let state =
        portcullis::AppState::with_db(config, app.state.store.db.clone(), app.clock.clone())
            .await
            .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(portcullis::serve(state, listener, std::future::pending()));
    let r = app
        .http
        .get(format!("http://{addr}/login"))
        .send()
        .await
        .expect("get");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .expect("ascii")
            .contains("max-age=")
    );
    let plain = app.http.get(app.url("/healthz")).send().await.expect("get");
    assert!(
        plain.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
}
