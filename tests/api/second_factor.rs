//! TOTP, recovery codes and the second-factor step over HTTP, on both engines:
//! enrolment computed from the shown key, sign-in through a real code flow (amr in the
//! ID token), replay and drift, recovery codes, five wrong codes, removal, the
//! required second factor, and hostile input. The same in Chromium is in
//! `browser/totp.rs`.

use std::time::Duration;

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;
use totp_rs::{Algorithm, Secret, Totp};

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "https://app.example.com/cb";

/// One browser: its own cookies, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            http,
            base: app.base.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("get")
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// The page at `path` and its CSRF token.
    async fn page(&self, path: &str) -> (StatusCode, String, String) {
        let r = self.get(path).await;
        let status = r.status();
        let html = r.text().await.expect("html");
        let csrf = hidden(&html, "csrf").unwrap_or_default();
        (status, html, csrf)
    }

    /// Types the password on `/login[?request=ID]`; returns where it leads.
    async fn password(&self, login_path: &str, username: &str) -> String {
        let (_, html, csrf) = self.page(login_path).await;
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("login", username),
            ("password", PASSWORD),
        ];
        let request = hidden(&html, "request");
        if let Some(r) = &request {
            form.push(("request", r));
        }
        let r = self.post("/login", &form).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap_or_default()
        );
        location(&r)
    }

    /// Types `code` on the second-factor page at `path`.
    async fn code(&self, path: &str, code: &str) -> reqwest::Response {
        let (status, html, csrf) = self.page(path).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        self.post(path, &[("csrf", &csrf), ("code", code)]).await
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

fn totp(base32: &str) -> Totp {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(base32).expect("base32"))
        .build()
        .expect("totp")
}

/// The code of `base32` at `offset` seconds from the app's clock.
fn code_at(app: &TestApp, base32: &str, offset: i64) -> String {
    let t = u64::try_from(app.clock.now() + offset).expect("positive");
    totp(base32).generate(t).to_string()
}

/// Moves the test clock past the steps used so far, to just after the start of a step,
/// so the next code is fresh and the wall clock (which the test clock follows) does not
/// cross into the next step while the test compares codes.
fn next_step(app: &TestApp) {
    let into_step = u64::try_from(app.clock.now().rem_euclid(30)).expect("positive");
    app.clock.advance(Duration::from_secs(90 - into_step + 1));
}

/// Signs `username` in on `browser` (no app) and enrols an authenticator app from the
/// key the page shows; returns the key and the recovery codes shown once.
async fn enrol(app: &TestApp, browser: &Browser, username: &str) -> (String, Vec<String>) {
    let (key, _, codes) = enrol_with_code(app, browser, username).await;
    (key, codes)
}

/// The same, with the code that switched the app on.
async fn enrol_with_code(
    app: &TestApp,
    browser: &Browser,
    username: &str,
) -> (String, String, Vec<String>) {
    assert_eq!(browser.password("/login", username).await, "/account");
    let (status, html, csrf) = browser.page("/account/two-factor/totp").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<svg"), "an inline QR code: {html}");
    assert!(!html.contains("<script"), "no script: {html}");
    let key = html
        .split("id=\"totp-key\"><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the key")
        .replace(' ', "");
    assert_eq!(key.len(), 32, "160 bits in base32: {key}");
    let first = code_at(app, &key, 0);
    let r = browser
        .post(
            "/account/two-factor/totp",
            &[("csrf", &csrf), ("code", &first)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.expect("html");
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{html}");
    (key, first, codes)
}

/// Starts a code flow for `rp` in a fresh browser and types the password; returns the
/// browser and the second-factor page it was sent to.
async fn half_signed_in(
    app: &TestApp,
    rp: &Rp,
) -> (
    Browser,
    openidconnect::Nonce,
    openidconnect::PkceCodeVerifier,
    String,
) {
    let started = rp.start(&["openid"]);
    let browser = Browser::new(app);
    let r = browser.get(&started.url).await;
    let login = location(&r);
    assert!(login.starts_with("/login?request="), "{login}");
    let next = browser.password(&login, "ada").await;
    assert!(next.starts_with("/login/second-factor?request="), "{next}");
    (browser, started.nonce, started.verifier, next)
}

/// Follows redirects within Portcullis, allowing consent, to the app's callback.
async fn to_callback(browser: &Browser, mut r: reqwest::Response) -> String {
    for _ in 0..6 {
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let to = location(&r);
        if !to.starts_with('/') {
            return to;
        }
        let (_, html, csrf) = browser.page(&to).await;
        let request = hidden(&html, "request").expect("consent form");
        r = browser
            .post(
                "/consent",
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("decision", "allow"),
                ],
            )
            .await;
    }
    panic!("no callback");
}

async fn rp_for(app: &TestApp) -> Rp {
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    Rp::discover(app, &client.client_id, secret.as_deref(), CALLBACK).await
}

async fn sign_in_with_totp_puts_otp_and_mfa_in_the_id_token(app: TestApp) {
    app.add_user("ada").await;
    let (key, first, _) = enrol_with_code(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    let (browser, nonce, verifier, page) = half_signed_in(&app, &rp).await;

    // The code that confirmed enrolment is used up: it is refused again.
    let r = browser.code(&page, &first).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("html").contains("That code didn"));

    next_step(&app);
    let r = browser.code(&page, &code_at(&app, &key, 0)).await;
    let callback = to_callback(&browser, r).await;
    let code = callback_params(&callback)["code"].clone();
    let tokens = rp.exchange(&code, verifier).await.expect("exchange");
    let verifier = rp.client.id_token_verifier();
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&verifier, &nonce)
        .expect("valid id token");
    let amr: Vec<String> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert!(!tokens.access_token().secret().is_empty());
}

async fn a_replayed_code_is_refused_and_drift_of_one_step_is_accepted(app: TestApp) {
    app.add_user("ada").await;
    let (key, _) = enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;

    // Two steps ahead or behind: refused.
    next_step(&app);
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    for offset in [60, -60] {
        let r = browser.code(&page, &code_at(&app, &key, offset)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "offset {offset}");
    }
    // One step behind: accepted.
    let r = browser.code(&page, &code_at(&app, &key, -30)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // One step ahead, in a new sign-in: accepted; the same code again: refused.
    next_step(&app);
    let ahead = code_at(&app, &key, 30);
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    let r = browser.code(&page, &ahead).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    let r = browser.code(&page, &ahead).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "replayed");
    // And a code of the current step, now older than the last one used: refused too.
    let r = browser.code(&page, &code_at(&app, &key, 0)).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "older than the last used"
    );
}

async fn a_recovery_code_works_once_and_mails_the_owner(app: TestApp) {
    let ada = app.add_user("ada").await;
    let (_, codes) = enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    let added = app.mail_to("ada@example.com").await;
    assert!(
        added.subject.contains("second factor was added"),
        "{}",
        added.subject
    );

    let (browser, nonce, verifier, page) = half_signed_in(&app, &rp).await;
    // Typed in upper case with spaces for hyphens: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = browser.code(&page, &typed).await;
    let callback = to_callback(&browser, r).await;
    let tokens = rp
        .exchange(&callback_params(&callback)["code"], verifier)
        .await
        .expect("exchange");
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.client.id_token_verifier(), &nonce)
        .expect("valid");
    let amr: Vec<String> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    let used = app.nth_mail_to("ada@example.com", 2).await;
    assert!(
        used.subject.contains("recovery code was used"),
        "{}",
        used.subject
    );
    assert!(
        used.text.contains("9 unused recovery codes"),
        "{}",
        used.text
    );
    assert!(!used.text.contains(&codes[3]), "never the code itself");

    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    let r = browser.code(&page, &codes[3]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "used once");

    let events = app.state.audit.for_user(ada.id, 50).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for kind in [
        "totp_enabled",
        "recovery_codes_generated",
        "recovery_code_used",
        "second_factor_failed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let text =
        serde_json::to_string(&events.iter().map(|e| &e.detail).collect::<Vec<_>>()).expect("json");
    assert!(
        !codes.iter().any(|c| text.contains(c.as_str())),
        "no code in the trail"
    );
    let b = Browser::new(&app);
    let next = b.password("/login", "ada").await;
    assert_eq!(next, "/login/second-factor");
    let r = b.code(&next, &codes[4]).await;
    assert_eq!(location(&r), "/account");
    let (_, html, _) = b.page("/account").await;
    assert!(html.contains("8 unused codes left"), "{html}");
}

/// Every form of the two-step pages: without the right CSRF token it changes nothing
/// (403 page), a 100 KB body is a 413 page, a NUL is a 400 page; the app stays on and
/// the recovery codes stay as they were, on both engines.
async fn the_two_step_forms_refuse_a_bad_csrf_token_an_oversized_body_and_nul(app: TestApp) {
    let ada = app.add_user("ada").await;
    let browser = Browser::new(&app);
    let (key, _) = enrol(&app, &browser, "ada").await;
    let code = code_at(&app, &key, 1);
    let forms: [(&str, &str, &str); 5] = [
        ("/account/two-factor/totp", "code", code.as_str()),
        (
            "/account/two-factor/totp/remove",
            "password_or_code",
            PASSWORD,
        ),
        (
            "/account/two-factor/recovery-codes",
            "password_or_code",
            PASSWORD,
        ),
        (
            "/account/two-factor/recovery-codes/download",
            "codes",
            "aaaa-bbbb",
        ),
        ("/account/two-factor/continue", "request", "x"),
    ];
    let big = "a".repeat(100 * 1024);
    for (path, field, value) in forms {
        for csrf in [None, Some(""), Some("wrong")] {
            let mut form = vec![(field, value)];
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            let r = browser.post(path, &form).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
            let html = r.text().await.expect("html");
            assert!(html.contains("nothing was changed"), "{path}: {html}");
        }
        let (_, _, csrf) = browser.page("/account").await;
        let r = browser.post(path, &[("csrf", &csrf), (field, &big)]).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path} 100 KB");
        let r = browser
            .post(path, &[("csrf", &csrf), (field, "12\u{0}3456")])
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} NUL");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/html"),
            "{path}: a page"
        );
    }
    let methods = app
        .state
        .accounts
        .second_factors(ada.id)
        .await
        .expect("read");
    assert!(methods.totp, "the app is still on");
    assert_eq!(
        methods.recovery_codes_left, 10,
        "the codes are as they were"
    );
    // The sign-in step's form too: a half sign-in refuses a forged post.
    let other = Browser::new(&app);
    assert_eq!(
        other.password("/login", "ada").await,
        "/login/second-factor"
    );
    let r = other
        .post("/login/second-factor", &[("code", &code_at(&app, &key, 1))])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = other.post("/login/second-factor", &[("code", &big)]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        other.page("/account").await.0 != StatusCode::OK,
        "still not signed in"
    );
}

/// With a lockout threshold above five, the fifth wrong code of one attempt still
/// ends it.
async fn five_wrong_codes_end_the_attempt(backend: crate::helpers::Backend) {
    let app = TestApp::spawn_with(backend, "[security]\nlockout_threshold = 20\n").await;
    app.add_user("ada").await;
    let (key, _) = enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    next_step(&app);
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    for i in 1..=4 {
        let r = browser.code(&page, "000000").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "attempt {i}");
        assert!(r.text().await.expect("html").contains("That code didn"));
    }
    let r = browser.code(&page, "000001").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("html");
    assert!(html.contains("too many wrong codes"), "{html}");
    assert!(
        html.contains("action=\"/login\""),
        "back to sign-in: {html}"
    );
    // The attempt is over: even the right code does not sign in now.
    let (status, html, _) = browser.page(&page).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This sign-in has expired"), "{html}");
    let r = browser
        .post(&page, &[("csrf", "x"), ("code", &code_at(&app, &key, 0))])
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
}

/// With the default threshold (five), the fifth wrong code locks the account: the
/// attempt ends, and neither the right code nor the right password gets in until the
/// lock is lifted.
async fn the_fifth_wrong_code_locks_the_account(app: TestApp) {
    app.add_user("ada").await;
    let (key, _) = enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    next_step(&app);
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    for _ in 1..=4 {
        assert_eq!(
            browser.code(&page, "000000").await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let r = browser.code(&page, "000001").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = r.text().await.expect("html");
    assert!(html.contains("Too many attempts"), "{html}");
    let r = browser
        .post(&page, &[("csrf", "x"), ("code", &code_at(&app, &key, 0))])
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER, "the attempt is over");
    let again = Browser::new(&app);
    let (_, html, csrf) = again.page("/login").await;
    assert!(html.contains("csrf"));
    let r = again
        .post(
            "/login",
            &[("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "locked");
    assert!(r.text().await.expect("html").contains("Too many attempts"));
}

async fn hostile_codes_get_the_plain_message(app: TestApp) {
    app.add_user("ada").await;
    enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    let long = "1".repeat(10 * 1024);
    for hostile in [
        "12345\u{0}6",
        long.as_str(),
        "١٢٣٤٥٦",
        "１２３４５６",
        "",
        "' OR 1=1 --",
    ] {
        // A fresh attempt each time, and no lock: five wrong codes would end one,
        // and lock the account.
        app.state
            .accounts
            .unlock_by_admin("ada")
            .await
            .expect("unlock");
        let (browser, _, _, page) = half_signed_in(&app, &rp).await;
        let r = browser.code(&page, hostile).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{hostile:?}");
        let html = r.text().await.expect("html");
        assert!(html.contains("That code didn"), "{hostile:?}: {html}");
    }
}

async fn a_half_sign_in_expires_after_five_minutes(app: TestApp) {
    app.add_user("ada").await;
    let (key, _) = enrol(&app, &Browser::new(&app), "ada").await;
    let rp = rp_for(&app).await;
    let (browser, _, _, page) = half_signed_in(&app, &rp).await;
    app.clock.advance(Duration::from_secs(6 * 60));
    let (_, html, csrf) = browser.page(&page).await;
    assert!(html.contains("This sign-in has expired"), "{html}");
    assert!(
        html.contains("href=\"/login?request="),
        "signs in again for the app: {html}"
    );
    let r = browser
        .post(&page, &[("csrf", &csrf), ("code", &code_at(&app, &key, 0))])
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

async fn removal_needs_the_password_or_a_current_code(app: TestApp) {
    app.add_user("ada").await;
    let browser = Browser::new(&app);
    let (key, _) = enrol(&app, &browser, "ada").await;
    let (_, html, _) = browser.page("/account").await;
    assert!(html.contains("10 unused codes left"), "{html}");

    let (_, _, csrf) = browser.page("/account/two-factor/totp/remove").await;
    for wrong in ["", "not my password", "000000"] {
        let r = browser
            .post(
                "/account/two-factor/totp/remove",
                &[("csrf", &csrf), ("password_or_code", wrong)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{wrong:?}");
    }
    assert!(
        app.state
            .accounts
            .second_factors(app_user(&app).await)
            .await
            .expect("m")
            .totp
    );

    // A current code works (a fresh step: the enrolment's own is used up).
    next_step(&app);
    let r = browser
        .post(
            "/account/two-factor/totp/remove",
            &[
                ("csrf", &csrf),
                ("password_or_code", &code_at(&app, &key, 0)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let m = app
        .state
        .accounts
        .second_factors(app_user(&app).await)
        .await
        .expect("m");
    assert!(!m.totp && m.recovery_codes_left == 0, "{m:?}");
    let removed = app.nth_mail_to("ada@example.com", 2).await;
    assert!(removed.subject.contains("removed"), "{}", removed.subject);

    // And with the password, after enrolling again.
    let (_, html, csrf) = browser.page("/account/two-factor/totp").await;
    let key = html
        .split("id=\"totp-key\"><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("key")
        .replace(' ', "");
    let r = browser
        .post(
            "/account/two-factor/totp",
            &[("csrf", &csrf), ("code", &code_at(&app, &key, 0))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = browser
        .post(
            "/account/two-factor/totp/remove",
            &[("csrf", &csrf), ("password_or_code", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        !app.state
            .accounts
            .second_factors(app_user(&app).await)
            .await
            .expect("m")
            .totp
    );
}

async fn app_user(app: &TestApp) -> uuid::Uuid {
    app.state
        .accounts
        .find_by_login("ada")
        .await
        .expect("find")
        .expect("ada")
        .id
}

async fn recovery_codes_are_regenerated_and_downloaded(app: TestApp) {
    app.add_user("ada").await;
    let browser = Browser::new(&app);
    let (_, old) = enrol(&app, &browser, "ada").await;
    let (_, _, csrf) = browser.page("/account/two-factor/recovery-codes").await;
    let r = browser
        .post(
            "/account/two-factor/recovery-codes",
            &[("csrf", &csrf), ("password_or_code", "wrong password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = browser
        .post(
            "/account/two-factor/recovery-codes",
            &[("csrf", &csrf), ("password_or_code", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    let text = hidden(&html, "codes").expect("the download form");
    let new: Vec<&str> = text.split(' ').collect();
    assert_eq!(new.len(), 10);
    assert!(old.iter().all(|c| !new.contains(&c.as_str())));

    let r = browser
        .post(
            "/account/two-factor/recovery-codes/download",
            &[
                ("csrf", &csrf),
                ("codes", &format!("{text} <script>alert(1)</script>")),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("h")
            .starts_with("attachment")
    );
    let body = r.text().await.expect("body");
    assert!(new.iter().all(|c| body.contains(c)));
    assert!(
        !body.contains("<script>"),
        "only code-shaped lines are echoed: {body}"
    );

    // Old codes no longer sign in.
    let rp = rp_for(&app).await;
    let (b, _, _, page) = half_signed_in(&app, &rp).await;
    let r = b.code(&page, &old[0]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = b.code(&page, new[0]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

both_backends!(
    the_two_step_forms_refuse_a_bad_csrf_token_an_oversized_body_and_nul,
    sign_in_with_totp_puts_otp_and_mfa_in_the_id_token,
    a_replayed_code_is_refused_and_drift_of_one_step_is_accepted,
    a_recovery_code_works_once_and_mails_the_owner,
    the_fifth_wrong_code_locks_the_account,
    hostile_codes_get_the_plain_message,
    a_half_sign_in_expires_after_five_minutes,
    removal_needs_the_password_or_a_current_code,
    recovery_codes_are_regenerated_and_downloaded,
);

/// Runs `async fn name(backend: Backend)` on SQLite and on PostgreSQL, for tests that
/// spawn their own `TestApp` with settings.
macro_rules! with_settings {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{Backend, postgres_available};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !postgres_available() {
                    return;
                }
                super::$name(Backend::Postgres).await;
            }
        }
    )+};
}

with_settings!(
    five_wrong_codes_end_the_attempt,
    everyone_must_set_up_a_second_factor_right_after_the_password,
    admins_must_and_other_people_need_not,
    with_an_encryption_key_the_totp_key_is_sealed_at_rest,
);

async fn with_an_encryption_key_the_totp_key_is_sealed_at_rest(backend: crate::helpers::Backend) {
    // 32 bytes of 0x07, base64.
    let overlay = "[keys]\nencryption_key = \"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\"\n";
    let app = TestApp::spawn_with(backend, overlay).await;
    let ada = app.add_user("ada").await;
    let (key, _) = enrol(&app, &Browser::new(&app), "ada").await;
    let stored = app
        .state
        .store
        .totp
        .find(ada.id)
        .await
        .expect("find")
        .expect("row");
    assert!(
        stored.secret.starts_with("aes256gcm:"),
        "sealed: {}",
        stored.secret
    );
    assert!(!stored.secret.contains(&key));
    next_step(&app);
    let browser = Browser::new(&app);
    let next = browser.password("/login", "ada").await;
    let r = browser.code(&next, &code_at(&app, &key, 0)).await;
    assert_eq!(
        location(&r),
        "/account",
        "the sealed key still checks codes"
    );
}

/// Enrols on the page at `path` (already signed in with the password) and saves the
/// codes; returns the answer to "continue" and the key.
async fn enrol_during_sign_in(
    app: &TestApp,
    browser: &Browser,
    path: &str,
) -> (reqwest::Response, String) {
    let (status, html, csrf) = browser.page(path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("needs a second step"), "{html}");
    let key = html
        .split("id=\"totp-key\"><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("key")
        .replace(' ', "");
    let mut form = vec![("csrf", csrf.clone()), ("code", code_at(app, &key, 0))];
    if let Some(request) = hidden(&html, "request") {
        form.push(("request", request));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = browser.post("/account/two-factor/totp", &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let mut form = vec![("csrf", csrf)];
    if let Some(request) = hidden(&html, "request") {
        form.push(("request", request));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (
        browser.post("/account/two-factor/continue", &form).await,
        key,
    )
}

async fn everyone_must_set_up_a_second_factor_right_after_the_password(
    backend: crate::helpers::Backend,
) {
    let app = TestApp::spawn_with(
        backend,
        "[accounts]\nrequire_second_factor = \"everyone\"\n",
    )
    .await;
    app.add_user("ada").await;
    app.add_user("bob").await;

    // Signing in for no app: to enrolment, then the account page.
    let browser = Browser::new(&app);
    assert_eq!(
        browser.password("/login", "ada").await,
        "/account/two-factor/totp"
    );
    let (status, html, csrf) = browser.page("/account/two-factor/totp").await;
    assert_eq!(status, StatusCode::OK);
    let key = html
        .split("id=\"totp-key\"><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("key")
        .replace(' ', "");
    let r = browser
        .post(
            "/account/two-factor/totp",
            &[("csrf", &csrf), ("code", &code_at(&app, &key, 0))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // For an app: no code until the second factor is set up, then amr says so.
    let rp = rp_for(&app).await;
    let started = rp.start(&["openid"]);
    let url = format!("{}&acr_values=urn%3Aportcullis%3Aacr%3Amfa", started.url);
    let browser = Browser::new(&app);
    let login = location(&browser.get(&url).await);
    let next = browser.password(&login, "bob").await;
    let r = browser.get(&next).await;
    assert!(next.starts_with("/login/second-factor?request="), "{next}");
    let enrol_at = location(&r);
    assert!(
        enrol_at.starts_with("/account/two-factor/totp?request="),
        "{enrol_at}"
    );
    let (r, _) = enrol_during_sign_in(&app, &browser, &enrol_at).await;
    let callback = to_callback(&browser, r).await;
    let tokens = rp
        .exchange(&callback_params(&callback)["code"], started.verifier)
        .await
        .expect("exchange");
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.client.id_token_verifier(), &started.nonce)
        .expect("valid");
    let amr: Vec<String> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:portcullis:acr:mfa")
    );
}

async fn admins_must_and_other_people_need_not(backend: crate::helpers::Backend) {
    let app =
        TestApp::spawn_with(backend, "[accounts]\nrequire_second_factor = \"admins\"\n").await;
    portcullis::commands::user_add(
        &app.config(),
        "root",
        "root@example.com",
        PASSWORD.into(),
        &["admin".to_owned()],
    )
    .await
    .expect("admin");
    app.add_user("ada").await;
    assert_eq!(
        Browser::new(&app).password("/login", "root").await,
        "/account/two-factor/totp"
    );
    assert_eq!(
        Browser::new(&app).password("/login", "ada").await,
        "/account"
    );
}

async fn acr_values_and_a_client_flag_ask_for_a_second_factor(app: TestApp) {
    app.add_user("ada").await;
    let rp = rp_for(&app).await;

    // No acr_values: no acr in the ID token, and a password is enough.
    let (tokens, nonce) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.client.id_token_verifier(), &nonce)
        .expect("valid");
    assert!(claims.auth_context_ref().is_none());

    // acr_values naming pwd (and mfa): a password is enough, and the token says pwd.
    let started = rp.start(&["openid"]);
    let url = format!(
        "{}&acr_values=urn%3Aportcullis%3Aacr%3Amfa+urn%3Aportcullis%3Aacr%3Apwd",
        started.url
    );
    let callback = app.sign_in(&url, "ada", true).await;
    let tokens = rp
        .exchange(&callback_params(&callback)["code"], started.verifier)
        .await
        .expect("exchange");
    let claims = tokens
        .id_token()
        .expect("id token")
        .claims(&rp.client.id_token_verifier(), &started.nonce)
        .expect("valid");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:portcullis:acr:pwd")
    );
    // The refreshed ID token says the same.
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let (auth_id, auth_secret) = rp.auth().expect("confidential");
    let (status, _, body) = app
        .post_token(
            Some((auth_id, auth_secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = body["id_token"].as_str().expect("id token");
    let payload = id_token.split('.').nth(1).expect("payload");
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(payload["acr"], "urn:portcullis:acr:pwd");

    // A client that requires a second factor: ada, signed in with her password in
    // this browser already, is sent to set one up before any code.
    let mut strict = web_app(CALLBACK);
    strict.require_second_factor = true;
    let (client, secret) = app.add_client(strict).await;
    let strict = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let started = strict.start(&["openid"]);
    let r = app.http.get(&started.url).send().await.expect("authorize");
    let to = location(&r);
    assert!(to.starts_with("/login/second-factor?request="), "{to}");
    let r = app.get(&to).await;
    assert!(location(&r).starts_with("/account/two-factor/totp?request="));
}

async fn two_uses_of_one_step_at_once_let_exactly_one_through(app: TestApp) {
    let ada = app.add_user("ada").await;
    let totp = &app.state.store.totp;
    let now = app.clock.now();
    assert!(totp.start(ada.id, "KEY", now).await.expect("start"));
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    assert!(
        totp.confirm_in(&mut tx, ada.id, "KEY", 10, now)
            .await
            .expect("confirm")
    );
    tx.commit().await.expect("commit");
    let other = portcullis::storage::Store::new(app.second_db().await);
    let (a, b) = tokio::join!(totp.use_step(ada.id, 11), other.totp.use_step(ada.id, 11));
    assert!(a.expect("a") ^ b.expect("b"), "exactly one of two");
    assert!(!totp.use_step(ada.id, 11).await.expect("again"));
    assert!(!totp.use_step(ada.id, 9).await.expect("older"));
    assert!(totp.use_step(ada.id, 12).await.expect("later"));
    // A pending key is not replaced once confirmed.
    assert!(!totp.start(ada.id, "OTHER", now).await.expect("start"));

    let codes = &app.state.store.recovery_codes;
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    codes
        .replace_in(&mut tx, ada.id, &["h1".to_owned(), "h2".to_owned()], now)
        .await
        .expect("replace");
    tx.commit().await.expect("commit");
    assert_eq!(codes.count_left(ada.id).await.expect("count"), 2);
    let mut t1 = app.state.store.db.begin_write().await.expect("tx");
    assert!(
        codes
            .consume_in(&mut t1, ada.id, "h1", now)
            .await
            .expect("use")
    );
    t1.commit().await.expect("commit");
    let mut t2 = app.state.store.db.begin_write().await.expect("tx");
    assert!(
        !codes
            .consume_in(&mut t2, ada.id, "h1", now)
            .await
            .expect("reuse")
    );
    t2.commit().await.expect("commit");
    assert_eq!(codes.count_left(ada.id).await.expect("count"), 1);
}

both_backends!(
    acr_values_and_a_client_flag_ask_for_a_second_factor,
    two_uses_of_one_step_at_once_let_exactly_one_through,
);

async fn an_admin_resets_the_second_factor_of_someone_who_lost_it(app: TestApp) {
    let ada = app.add_user("ada").await;
    enrol(&app, &Browser::new(&app), "ada").await;
    let (user, removed) =
        portcullis::commands::user::user_reset_second_factor(&app.config(), "ADA")
            .await
            .expect("reset");
    assert!(removed);
    assert_eq!(user.id, ada.id);
    let m = app
        .state
        .accounts
        .second_factors(ada.id)
        .await
        .expect("methods");
    assert!(!m.totp && m.recovery_codes_left == 0, "{m:?}");
    let mail = app.nth_mail_to("ada@example.com", 2).await;
    assert!(mail.text.contains("by an administrator"), "{}", mail.text);
    assert_eq!(
        Browser::new(&app).password("/login", "ada").await,
        "/account"
    );
    let (_, again) = portcullis::commands::user::user_reset_second_factor(&app.config(), "ada")
        .await
        .expect("reset");
    assert!(!again, "nothing left to remove");
    assert!(
        portcullis::commands::user::user_reset_second_factor(&app.config(), "nobody")
            .await
            .is_err()
    );
}

both_backends!(an_admin_resets_the_second_factor_of_someone_who_lost_it);
