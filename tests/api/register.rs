//! Signing up at /register, confirming the address from the mailed link, and the
//! sign-in page's refusal until then — over HTTP, on both engines.

use std::time::Duration;

use reqwest::StatusCode;

use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, hidden, postgres_available},
};

both_backends!(
    signing_up_sends_a_link_that_confirms_the_address_and_opens_sign_in,
    a_taken_username_is_said_and_nothing_is_written,
    a_registered_address_gets_the_same_answer_and_its_owner_is_told,
    bad_input_is_refused_next_to_its_field_and_nothing_is_written,
    a_verification_link_works_once_and_expires,
    a_new_link_can_be_asked_for_at_a_bounded_rate,
    signing_up_from_an_app_continues_to_it_after_confirming,
    a_100_kb_form_to_any_account_page_is_a_413_page_and_writes_nothing,
);

/// GETs /register and posts the form with `fields` (csrf filled in).
pub(crate) async fn register(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let page = app.get("/register").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = hidden(&page.text().await.expect("html"), "csrf").expect("csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = app.post_form("/register", &form).await;
    let status = r.status();
    (status, r.text().await.expect("html"))
}

fn person<'a>(username: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("username", username),
        ("email", email),
        ("display_name", "Grace Hopper"),
        ("password", PASSWORD),
    ]
}

/// Signs in at /login with no pending request; returns the status and page.
async fn login(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    let page = app.get("/login").await.text().await.expect("html");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await;
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

async fn events(app: &TestApp) -> Vec<(String, String)> {
    app.state
        .audit
        .recent(100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.event, e.outcome))
        .collect()
}

async fn signing_up_sends_a_link_that_confirms_the_address_and_opens_sign_in(app: TestApp) {
    let (status, html) = register(&app, &person("grace", "grace@example.com")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Check your email"), "{html}");
    assert!(html.contains("grace@example.com"));

    let user = app
        .state
        .accounts
        .find_by_login("grace")
        .await
        .expect("find")
        .expect("created");
    assert!(!user.email_verified);
    assert!(user.self_registered);
    assert_eq!(user.display_name.as_deref(), Some("Grace Hopper"));

    let mail = app.mail_to("grace@example.com").await;
    assert!(
        mail.subject.contains("Confirm your email address"),
        "{}",
        mail.subject
    );
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    assert!(mail.text.contains("Hello Grace Hopper"), "{}", mail.text);
    assert!(!mail.html.is_empty(), "an HTML part too");
    let link = mail.link();
    assert!(link.starts_with(&app.url("/verify-email?token=")), "{link}");
    assert!(!mail.raw.contains(PASSWORD), "no password in mail");

    // Until the address is confirmed, the right password gets "check your email".
    let (status, html) = login(&app, "grace", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Check your email"), "{html}");
    assert!(
        html.contains("g••••@example.com"),
        "the address, masked: {html}"
    );
    // A wrong password says nothing about the address.
    let (status, html) = login(&app, "grace", "not the password at all").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!html.contains("Check your email"));

    let r = app.get(&mail.link_path()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("Your address is confirmed")
    );
    let user = app
        .state
        .accounts
        .user(user.id)
        .await
        .expect("user")
        .expect("user");
    assert!(user.email_verified);

    let (status, html) = login(&app, "grace@EXAMPLE.com", PASSWORD).await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status}: {html}"
    );

    let seen = events(&app).await;
    for (event, outcome) in [
        ("registered", "success"),
        ("email_verification_sent", "success"),
        ("email_verified", "success"),
        ("sign_in", "failure"),
        ("sign_in", "success"),
    ] {
        assert!(
            seen.contains(&(event.to_owned(), outcome.to_owned())),
            "{event} {outcome} in {seen:?}"
        );
    }
    let refused = app
        .state
        .audit
        .for_user(user.id, 50)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.event == "sign_in" && e.detail["reason"] == "email_not_verified")
        .expect("refusal recorded");
    assert_eq!(refused.outcome, "failure");
    assert_eq!(refused.detail["reason"], "email_not_verified");
    let recorded = format!("{:?}", app.state.audit.recent(100).await.expect("audit"));
    assert!(!recorded.contains(PASSWORD));
    assert!(!recorded.contains(link.rsplit('=').next().expect("token")));
}

async fn a_taken_username_is_said_and_nothing_is_written(app: TestApp) {
    app.add_user("ada").await;
    let before = app.state.store.users.count().await.expect("count");
    // Taken in another case and Unicode form is taken too.
    let (status, html) = register(&app, &person("ADA", "someone@example.com")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This username is taken"), "{html}");
    assert!(
        html.contains("value=\"someone@example.com\""),
        "what was typed is kept"
    );
    assert!(!html.contains(PASSWORD), "never the password");
    assert_eq!(app.state.store.users.count().await.expect("count"), before);
    app.mail_settled().await;
    assert!(app.mails_to("someone@example.com").is_empty());
}

async fn a_registered_address_gets_the_same_answer_and_its_owner_is_told(app: TestApp) {
    app.add_user("ada").await;
    let before = app.state.store.users.count().await.expect("count");
    let (status_taken, taken) = register(&app, &person("newcomer", "Ada@Example.com")).await;
    let (status_new, fresh) = register(&app, &person("other", "ada2@example.com")).await;
    assert_eq!(status_taken, status_new);
    let strip = |html: &str, email: &str| {
        let csrf = hidden(html, "csrf").unwrap_or_default();
        html.replace(&csrf, "CSRF").replace(email, "EMAIL")
    };
    assert_eq!(
        strip(&taken, "Ada@Example.com"),
        strip(&fresh, "ada2@example.com"),
        "the same page whether or not the address has an account"
    );
    assert_eq!(
        app.state.store.users.count().await.expect("count"),
        before + 1,
        "only the new address made an account"
    );
    let told = app.mail_to("ada@example.com").await;
    assert!(told.subject.contains("tried to create"), "{}", told.subject);
    assert!(told.text.contains("No new account was made"));
    assert!(
        app.state
            .accounts
            .find_by_login("newcomer")
            .await
            .expect("find")
            .is_none()
    );
}

/// Form fields, the id of the error that must appear, and words it must say.
type BadCase<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

async fn bad_input_is_refused_next_to_its_field_and_nothing_is_written(app: TestApp) {
    let before = app.state.store.users.count().await.expect("count");
    let long = "x".repeat(65);
    let long_name = "n".repeat(101);
    let cases: Vec<BadCase<'_>> = vec![
        (
            person("", "a@example.com"),
            "username-error",
            "Choose a username.",
        ),
        (
            person("a b", "a@example.com"),
            "username-error",
            "without spaces or @",
        ),
        (
            person(&long, "a@example.com"),
            "username-error",
            "at most 64",
        ),
        (
            person("z\u{200B}oe", "a@example.com"),
            "username-error",
            "without spaces",
        ),
        (
            person("zoe", "not-an-address"),
            "email-error",
            "like name@example.com",
        ),
        (
            person("zoe", "zoe@localhost"),
            "email-error",
            "like name@example.com",
        ),
        (
            vec![
                ("username", "zoe"),
                ("email", "zoe@example.com"),
                ("password", "short"),
            ],
            "password-error",
            "at least 10 characters",
        ),
        (
            vec![
                ("username", "zoe"),
                ("email", "zoe@example.com"),
                ("password", ""),
            ],
            "password-error",
            "Enter a password",
        ),
        (
            vec![
                ("username", "zoe"),
                ("email", "zoe@example.com"),
                ("display_name", &long_name),
                ("password", PASSWORD),
            ],
            "display-name-error",
            "at most 100",
        ),
    ];
    for (fields, id, says) in cases {
        let (status, html) = register(&app, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}: {html}");
        assert!(html.contains(&format!("id=\"{id}\"")), "{fields:?}: {html}");
        assert!(
            html.contains(says),
            "{fields:?} should say {says:?}: {html}"
        );
        assert!(html.contains("aria-invalid=\"true\""));
        if !PASSWORD.is_empty() {
            assert!(!html.contains(PASSWORD), "never the password");
        }
    }
    // Control characters anywhere: refused before anything is read.
    let (status, html) = register(&app, &person("zo\u{0}e", "zoe@example.com")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("characters that are not allowed"), "{html}");
    // A missing or wrong CSRF token.
    let r = app
        .post_form("/register", &person("zoe", "zoe@example.com"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut forged = person("zoe", "zoe@example.com");
    forged.push(("csrf", "forged"));
    let r = app.post_form("/register", &forged).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.state.store.users.count().await.expect("count"), before);
    app.mail_settled().await;
    assert!(app.mails_to("zoe@example.com").is_empty());
}

async fn a_verification_link_works_once_and_expires(app: TestApp) {
    register(&app, &person("grace", "grace@example.com")).await;
    let first = app.mail_to("grace@example.com").await;
    let r = app.get(&first.link_path()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = app.get(&first.link_path()).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .expect("html")
            .contains("This link does not work")
    );

    register(&app, &person("linus", "linus@example.com")).await;
    let mail = app.mail_to("linus@example.com").await;
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let late = app.get(&mail.link_path()).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    let html = late.text().await.expect("html");
    assert!(html.contains("This link has expired"), "{html}");
    assert!(html.contains("Send a new one?"), "{html}");
    let linus = app
        .state
        .accounts
        .find_by_login("linus")
        .await
        .expect("f")
        .expect("u");
    assert!(!linus.email_verified, "an expired link confirms nothing");

    for bad in [
        "/verify-email",
        "/verify-email?token=",
        "/verify-email?token=nope",
        "/verify-email?token=%C3%A4",
        "/verify-email?token=a&token=b",
    ] {
        let r = app.get(bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app.get("/verify-email?token=a%00b").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// A browser of its own: a fresh cookie jar, no redirects followed.
fn another_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn post_in(
    browser: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = browser
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("post");
    let status = r.status();
    (status, r.text().await.expect("html"))
}

async fn page_in(browser: &reqwest::Client, app: &TestApp, path: &str) -> String {
    browser
        .get(app.url(path))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html")
}

async fn a_new_link_can_be_asked_for_at_a_bounded_rate(app: TestApp) {
    register(&app, &person("grace", "grace@example.com")).await;
    let first = app.mail_to("grace@example.com").await;
    // Another browser signs in with the right password and asks for a new link.
    let browser = another_browser();
    let page = page_in(&browser, &app, "/login").await;
    let csrf = hidden(&page, "csrf").expect("csrf");
    let (status, html) = post_in(
        &browser,
        &app,
        "/login",
        &[("csrf", &csrf), ("login", "grace"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = hidden(&html, "csrf").expect("resend form");
    let form = [("csrf", csrf.as_str())];
    // The sign-up's own mail went out a moment ago: not yet.
    let (status, _) = post_in(&browser, &app, "/verify-email/resend", &form).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::from_secs(61));
    let resend = || post_in(&browser, &app, "/verify-email/resend", &form);
    let (status, html) = resend().await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("We sent a new link"));
    assert!(html.contains("g••••@example.com"), "{html}");
    let second = app.nth_mail_to("grace@example.com", 2).await;
    assert_ne!(first.link(), second.link());
    let (status, html) = resend().await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(html.contains("Wait a minute"));
    // The older link died when the newer was sent.
    let r = app.get(&first.link_path()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.clock.advance(Duration::from_secs(61));
    let (status, _) = resend().await;
    assert_eq!(status, StatusCode::OK);
    let third = app.nth_mail_to("grace@example.com", 3).await;
    assert_eq!(app.get(&third.link_path()).await.status(), StatusCode::OK);
    // A browser that has proved no account has nothing to resend.
    let stranger = another_browser();
    let page = page_in(&stranger, &app, "/login").await;
    let csrf = hidden(&page, "csrf").expect("csrf");
    let (status, html) = post_in(&stranger, &app, "/verify-email/resend", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("Sign in to get a new link"));
}

async fn signing_up_from_an_app_continues_to_it_after_confirming(app: TestApp) {
    let (client, _) = app
        .add_client(crate::helpers::web_app("http://localhost:3000/cb"))
        .await;
    let start = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb&scope=openid&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGtSwkNJIg&code_challenge_method=S256",
        client.client_id
    );
    let r = app.get(&start).await;
    assert!(r.status().is_redirection());
    let login_url = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let login_page = app.get(&login_url).await.text().await.expect("html");
    let request = hidden(&login_page, "request").expect("request");
    assert!(
        login_page.contains(&format!("/register?request={request}")),
        "{login_page}"
    );
    let page = app
        .get(&format!("/register?request={request}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(page.contains("to continue to"), "{page}");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let mut form = vec![("csrf", csrf.as_str()), ("request", request.as_str())];
    form.extend(person("grace", "grace@example.com"));
    let r = app.post_form("/register", &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mail = app.mail_to("grace@example.com").await;
    let html = app.get(&mail.link_path()).await.text().await.expect("html");
    assert!(html.contains("Continue to Test App"), "{html}");
    assert!(
        html.contains(&format!("/login?request={request}")),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_registration_hides_the_link_and_answers_404() {
    let app = TestApp::spawn_with(Backend::Sqlite, "[accounts]\nregistration = \"closed\"\n").await;
    let login = app.get("/login").await.text().await.expect("html");
    assert!(!login.contains("/register"), "no link: {login}");
    assert!(login.contains("Forgot your password?"));
    assert_eq!(app.get("/register").await.status(), StatusCode::NOT_FOUND);
    let r = app
        .post_form("/register", &person("grace", "grace@example.com"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        app.state
            .accounts
            .find_by_login("grace")
            .await
            .expect("f")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_domains_may_register() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        "[accounts]\nallowed_email_domains = [\"Example.org\"]\n",
    )
    .await;
    let (status, html) = register(&app, &person("grace", "grace@example.com")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Use an address at example.org."), "{html}");
    let (status, html) = register(&app, &person("grace", "grace@EXAMPLE.org")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_required_verification_signing_up_signs_in() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && !postgres_available() {
            continue;
        }
        let app =
            TestApp::spawn_with(backend, "[accounts]\nrequire_verified_email = false\n").await;
        let page = app.get("/register").await.text().await.expect("html");
        let csrf = hidden(&page, "csrf").expect("csrf");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(person("grace", "grace@example.com"));
        let r = app.post_form("/register", &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/account");
        // The mail still goes out, and the address stays unconfirmed until it is used.
        app.mail_to("grace@example.com").await;
        let (status, _) = login(&app, "grace", PASSWORD).await;
        assert!(status.is_success() || status.is_redirection());
    }
}

/// With SMTP configured the same journey runs through real mail: the verification link
/// arrives over SMTP, nothing lands in the outbox folder, and it confirms the address.
async fn signing_up_over_smtp_confirms_through_the_mailed_link(backend: Backend) {
    let receiver = crate::smtp_receiver::SmtpReceiver::start().await;
    let app = TestApp::spawn_with(backend, &receiver.overlay("relay:secret")).await;
    let (status, html) = register(&app, &person("grace", "grace@example.com")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].rcpt_to, ["grace@example.com"]);
    assert_eq!(got[0].auth, Some(("relay".into(), "secret".into())));
    let mail = got[0].mail();
    assert!(mail.subject.contains("Confirm your email address"));
    let r = app.get(&mail.link_path()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("Your address is confirmed")
    );
    let (status, _) = login(&app, "grace", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed in, on to the account page"
    );
    app.mail_settled().await;
    assert!(
        app.mails_to("grace@example.com").is_empty(),
        "nothing in the folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_over_smtp_sqlite() {
    signing_up_over_smtp_confirms_through_the_mailed_link(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_over_smtp_postgres() {
    if postgres_available() {
        signing_up_over_smtp_confirms_through_the_mailed_link(Backend::Postgres).await;
    }
}

/// Every form the account pages added, sent 100 KB by a signed-in person: a 413 error
/// page before anything is read, nothing written, the same on both engines.
async fn a_100_kb_form_to_any_account_page_is_a_413_page_and_writes_nothing(app: TestApp) {
    let ada = app.add_user("ada").await;
    let (_, _) = login(&app, "ada", PASSWORD).await;
    let before = app.state.audit.recent(1000).await.expect("audit").len();
    let users = app.state.store.users.count().await.expect("count");
    let huge = "a".repeat(100 * 1024);
    for path in [
        "/register",
        "/verify-email/resend",
        "/reset-password",
        "/reset-password/new",
        "/account/profile",
        "/account/email",
        "/account/password",
        "/account/sessions/end",
        "/account/sessions/end-others",
        "/account/apps/remove",
        "/account/delete",
    ] {
        let r = app
            .post_form(
                path,
                &[("csrf", "x"), ("username", &huge), ("display_name", &huge)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let html = r.text().await.expect("html");
        assert!(
            html.contains("<h1>"),
            "an error page for a person at {path}: {html}"
        );
    }
    assert_eq!(
        app.state.audit.recent(1000).await.expect("audit").len(),
        before
    );
    assert_eq!(app.state.store.users.count().await.expect("count"), users);
    let after = app
        .state
        .accounts
        .user(ada.id)
        .await
        .expect("user")
        .expect("ada");
    assert_eq!(after.display_name, None, "nothing saved");
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}
