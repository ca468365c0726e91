//! Rate limits per client IP and per client, over HTTP: past its budget a person gets
//! the 429 page and an app the RFC 6749 JSON error, both with Retry-After; the refused
//! request never reaches its handler (no password is hashed, no event recorded); GETs
//! and other paths are not counted. The limits are in memory, so one engine is enough;
//! the measured flood is `a_flood_of_wrong_passwords_does_not_starve_a_real_sign_in`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, hidden, web_app};

/// Generous everywhere but where a test sets its own.
fn limits(own: &str) -> String {
    let mut out = String::from("[security.rate_limits]\n");
    for (name, default) in [
        ("authorize", "1000/s"),
        ("sign_in", "1000/s"),
        ("second_factor", "1000/s"),
        ("account_mail", "1000/s"),
        ("token_per_ip", "1000/s"),
        ("token_per_client", "1000/s"),
    ] {
        let line = own
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{name} = \"{default}\""));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn spawn(own: &str) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, &limits(own)).await
}

async fn sign_in_attempt(app: &TestApp, password: &str) -> reqwest::Response {
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    app.post_form(
        "/login",
        &[("csrf", &csrf), ("login", "ada"), ("password", password)],
    )
    .await
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_budget_sign_in_gets_the_429_page_before_any_password_is_checked() {
    let app = spawn("sign_in = \"3/min\"").await;
    let ada = app.add_user("ada").await;
    for _ in 0..3 {
        assert_eq!(
            sign_in_attempt(&app, "wrong password here").await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    // Even the right password: the limiter does not know or ask.
    let r = sign_in_attempt(&app, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&r);
    assert!((1..=20).contains(&wait), "one request back in 20 s: {wait}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = r.text().await.expect("page");
    assert!(html.contains("Too many attempts"), "{html}");
    assert!(html.contains("Wait "), "{html}");
    // Three attempts reached the handler; the fourth was refused ahead of it.
    let events = app.state.audit.for_user(ada.id, 50).await.expect("events");
    assert_eq!(events.iter().filter(|e| e.event == "sign_in").count(), 3);
    // Looking at the page is not counted.
    for _ in 0..5 {
        assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    }
}

/// Each cookieless authorization request may keep a pending sign-in: one address gets
/// only so many, then the 429 page, so it cannot make us store without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_past_their_budget_get_the_429_page_and_store_nothing() {
    let app = spawn("authorize = \"3/min\"").await;
    let (client, _) = app.add_client(web_app("http://localhost/cb")).await;
    let path = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri=http%3A%2F%2Flocalhost%2Fcb\
         &scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        client.client_id
    );
    let rows = || async { app.state.store.sessions.count().await.expect("count") };
    for _ in 0..3 {
        let bare = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let r = bare.get(app.url(&path)).send().await.expect("request");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "to the sign-in page");
    }
    let before = rows().await;
    assert_eq!(
        before, 3,
        "each cookieless request kept its pending sign-in"
    );
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = bare.get(app.url(&path)).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    assert!(r.text().await.expect("page").contains("Too many attempts"));
    assert_eq!(rows().await, before, "a refused request stores nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_factor_and_account_mail_forms_have_their_own_budgets() {
    let app = spawn("second_factor = \"1/min\"\naccount_mail = \"2/min\"").await;
    let post = |path: &'static str| {
        let app = &app;
        async move { app.post_form(path, &[("login", "ada")]).await.status() }
    };
    assert_ne!(
        post("/login/second-factor").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        post("/login/second-factor").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(post("/reset-password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post("/register").await, StatusCode::TOO_MANY_REQUESTS);
    for path in [
        "/reset-password",
        "/verify-email/resend",
        "/register",
        "/reset-password/new",
    ] {
        assert_eq!(post(path).await, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    // Sign-in is another budget, untouched.
    assert_ne!(post("/login").await, StatusCode::TOO_MANY_REQUESTS);
}

async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = app.http.post(app.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.expect("token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_budget_the_token_endpoint_answers_rfc_6749_json_with_429() {
    let app = spawn("token_per_ip = \"2/min\"").await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
    ];
    for _ in 0..2 {
        let r = token_request(&app, &form, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = token_request(&app, &form, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&r);
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("retry after")),
        "{body}"
    );
    // Revocation and introspection count on their own.
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", "x"), ("client_id", "nobody")])
        .send()
        .await
        .expect("revoke");
    assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_has_its_own_budget_however_it_names_itself() {
    let app = spawn("token_per_client = \"2/min\"").await;
    let form = [("grant_type", "client_credentials")];
    // Once by Basic credentials and once in the form: the same client, the same budget.
    let r = token_request(&app, &form, Some(("app-one", "secret"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let named = [
        ("grant_type", "client_credentials"),
        ("client_id", "app-one"),
    ];
    assert_eq!(
        token_request(&app, &named, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = token_request(&app, &form, Some(("app-one", "secret"))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    // Another client from the same address still gets through.
    let other = [
        ("grant_type", "client_credentials"),
        ("client_id", "app-two"),
    ];
    assert_eq!(
        token_request(&app, &other, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The figure for the note: a flood of 1,000 wrong-password POSTs from one address,
/// and how long a real sign-in from another takes meanwhile, with the default limits
/// and with them out of the way. Run with
/// `cargo test --release --test api flood -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints figures, takes a while"]
async fn a_flood_of_wrong_passwords_does_not_starve_a_real_sign_in() {
    for (label, overlay) in [
        ("default limits", String::new()),
        ("no limits", limits("sign_in = \"100000/s\"")),
    ] {
        let overlay = format!("[http]\ntrusted_proxies = [\"127.0.0.1\"]\n{overlay}");
        // The defaults, but the test helper relaxes limits unless told: name them.
        let overlay = if overlay.contains("[security.rate_limits]") {
            overlay
        } else {
            format!(
                "{overlay}\n[security.rate_limits]\nsign_in = \"10/min, burst 20\"\n\
                 second_factor = \"10/min\"\naccount_mail = \"5/min, burst 10\"\n\
                 token_per_ip = \"600/min, burst 120\"\ntoken_per_client = \"1200/min, burst 240\"\n"
            )
        };
        let app = TestApp::spawn_with(Backend::Sqlite, &overlay).await;
        app.add_user("ada").await;
        app.add_user("bob").await;
        let baseline = real_sign_in(&app).await;
        let flood = tokio::spawn(flood(app.base.clone(), 1000));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut during = Vec::new();
        for _ in 0..3 {
            during.push(real_sign_in(&app).await);
        }
        let (statuses, took) = flood.await.expect("flood");
        println!(
            "{label}: real sign-in alone {baseline:?}; during the flood {during:?}; \
             the flood's 1,000 answers {statuses:?} in {took:?}"
        );
    }
}

/// One person signing in from 203.0.113.5 (through the trusted proxy): the time from
/// the form's POST to its answer, which must be the redirect of a sign-in.
async fn real_sign_in(app: &TestApp) -> Duration {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = http
        .get(app.url("/login"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let started = Instant::now();
    let r = http
        .post(app.url("/login"))
        .header("x-forwarded-for", "203.0.113.5")
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "bob"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the real sign-in worked");
    took
}

/// `n` wrong-password POSTs from 198.51.100.7, 50 at a time; the count of each status
/// and how long they took.
async fn flood(base: String, n: usize) -> (std::collections::BTreeMap<u16, usize>, Duration) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = http
        .get(format!("{base}/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (http, base, csrf) = (http.clone(), base.clone(), csrf.clone());
        let permit = semaphore.clone().acquire_owned().await.expect("permit");
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let login = format!("user{}", i % 50);
            http.post(format!("{base}/login"))
                .header("x-forwarded-for", "198.51.100.7")
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("login", &login),
                    ("password", "guess"),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap_or(0)).or_insert(0) += 1;
    }
    (statuses, started.elapsed())
}
