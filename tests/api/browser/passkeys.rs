//! Passkeys in Chromium with a virtual authenticator (WebDriver's WebAuthn extension,
//! W3C WebAuthn Level 3 section 11): registered on the account page, then used without
//! a password and as the second factor after one, through a real app; a removed passkey
//! and a refused ceremony get a message that offers the password.

use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::TokenResponse;
use serde_json::{Value, json};
use url::Url;

use super::{Browser, DRIVER, callback, exchange, screenshots, web_rp, with_browser};
use crate::helpers::{Backend, PASSWORD, TestApp};

/// Adds a CTAP2 platform authenticator that holds resident keys and verifies its
/// user. Returns its id.
async fn add_authenticator(b: &Browser) -> String {
    let driver = match DRIVER.get() {
        Some(Ok(url)) => url.clone(),
        _ => panic!("no chromedriver"),
    };
    let session = b.client.session_id().await.expect("session").expect("id");
    let body = json!({
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": true,
        "hasUserVerification": true,
        "isUserVerified": true,
        "defaultBackupEligibility": false,
    });
    let answer: Value = reqwest::Client::new()
        .post(format!("{driver}/session/{session}/webauthn/authenticator"))
        .json(&body)
        .send()
        .await
        .expect("add authenticator")
        .json()
        .await
        .expect("json");
    answer["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no authenticator: {answer}"))
        .to_owned()
}

/// The app served at `localhost`, where browsers offer WebAuthn.
async fn spawn() -> TestApp {
    TestApp::spawn_at(Backend::Sqlite, "localhost", "").await
}

/// On the account page (signed in): adds a passkey called `name`.
async fn register(b: &Browser, name: &str) {
    b.wait_for_url("the account page", |u| u.path() == "/account")
        .await;
    let field = b.find("#passkey-name").await;
    assert!(
        field.is_displayed().await.expect("shown"),
        "the form is shown with JS"
    );
    assert!(
        !b.find("#passkey-needs-js")
            .await
            .is_displayed()
            .await
            .expect("hint")
    );
    field.send_keys(name).await.expect("type the name");
    b.client
        .execute("window.portcullisLeaving = true", vec![])
        .await
        .expect("mark the page");
    b.find("#passkey-add").await.click().await.expect("click");
    // The script posts, asks the authenticator, posts again, then loads the page.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = b
            .client
            .execute(
                "const e = document.getElementById('passkey-name-error');\n\
                 if (!window.portcullisLeaving && document.readyState === 'complete') return 'left';\n\
                 return e && !e.hidden ? 'error: ' + e.textContent : 'waiting';",
                vec![],
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|_| "waiting".into());
        if state == "left" {
            break;
        }
        assert!(
            !state.starts_with("error"),
            "adding the passkey failed: {state}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "adding the passkey led nowhere"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Every test's person adds their first second factor here, which comes with
    // recovery codes, shown once before the account page.
    assert_eq!(
        b.url().await.path(),
        "/account/two-factor/recovery-codes/new"
    );
    {
        assert!(b.text("h1").await.contains("recovery codes"));
        assert!(b.text(".notice").await.contains("Your passkey is added"));
        let codes = b.text("#recovery-codes").await;
        assert_eq!(
            codes.lines().filter(|l| !l.trim().is_empty()).count(),
            10,
            "{codes}"
        );
        b.find("#codes-saved")
            .await
            .click()
            .await
            .expect("continue");
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
    }
    let notice = b.text("#passkeys .notice").await;
    assert!(notice.contains(&format!("“{name}” is added")), "{notice}");
}

/// Signs this browser out by forgetting its cookies.
async fn forget_session(b: &Browser) {
    b.client.delete_all_cookies().await.expect("cookies");
}

/// The `amr` of an ID token, read from its payload (the signature is the RP's check).
fn amr(id_token: &str) -> Vec<String> {
    let payload = id_token.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    claims["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

/// Clicks the passkey button inside `block` (which the script has shown).
async fn press(b: &Browser, block: &str) {
    let button = b.find(&format!("{block} button")).await;
    assert!(
        button.is_displayed().await.expect("shown"),
        "the script shows {block}"
    );
    button.click().await.expect("click");
}

/// Our second-factor page, or until it is merged the bare room behind its path: gives
/// it the block that page renders for a person with passkeys (and the CSRF field it
/// reads), and the script.
async fn second_factor_block(b: &Browser, request: &str) {
    let script = r#"
        const [request, done] = [arguments[0], arguments[arguments.length - 1]];
        if (document.getElementById("passkey-second-factor")) { return done(true); }
        fetch("/login").then(r => r.text()).then(html => {
          const csrf = html.match(/name="csrf" value="([^"]+)"/)[1];
          document.body.insertAdjacentHTML("beforeend",
            `<form><input type="hidden" name="csrf" value="${csrf}"></form>` +
            `<div id="passkey-second-factor" data-request="${request}" hidden>` +
            `<button type="button">Use your passkey</button></div>`);
          const s = document.createElement("script");
          s.src = "/static/passkeys.js";
          s.onload = () => done(true);
          document.head.appendChild(s);
        });
    "#;
    b.client
        .execute_async(script, vec![json!(request)])
        .await
        .expect("the second-factor block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_is_registered_then_signs_in_without_a_password_and_after_one() {
    let app = spawn().await;
    with_browser(app, |app, b| async move {
        let ada = app.add_user("ada").await;
        add_authenticator(&b).await;
        b.goto(&app.url("/login")).await;
        b.sign_in_as("ada").await;
        register(&b, "Test key").await;
        assert!(b.text("#passkeys .rows").await.contains("Not used yet"));
        let mail = app.mail_to("ada@example.com").await;
        assert!(mail.subject.contains("passkey"), "{}", mail.subject);
        assert!(mail.text.contains("Test key"));
        let events = app.state.audit.for_user(ada.id, 20).await.expect("events");
        assert!(events.iter().any(|e| e.event == "passkey_added"));

        // Passwordless, for an app: the passkey alone signs in, and says how.
        let rp = web_rp(&app).await;
        forget_session(&b).await;
        let started = rp.start(&["openid"]);
        b.goto(&started.url).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        press(&b, "#passkey-sign-in").await;
        b.consent("Allow").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        let tokens = exchange(&rp, &params, started).await;
        let id_token = tokens.id_token().expect("id token").to_string();
        let methods = amr(&id_token);
        assert!(methods.contains(&"hwk".to_owned()), "{methods:?}");
        assert!(methods.contains(&"mfa".to_owned()), "{methods:?}");
        assert!(!methods.contains(&"pwd".to_owned()), "{methods:?}");

        // After the password, the passkey is the second factor.
        forget_session(&b).await;
        let started = rp.start(&["openid"]);
        b.goto(&started.url).await;
        b.sign_in_as("ada").await;
        let at = b
            .wait_for_url("the second-factor page", |u| {
                u.path() == "/login/second-factor"
            })
            .await;
        let request = query(&at, "request");
        second_factor_block(&b, &request).await;
        press(&b, "#passkey-second-factor").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        let tokens = exchange(&rp, &params, started).await;
        let methods = amr(&tokens.id_token().expect("id token").to_string());
        for m in ["pwd", "hwk", "user", "mfa"] {
            assert!(methods.contains(&m.to_owned()), "{m} in {methods:?}");
        }
        let stored = app
            .state
            .store
            .passkeys
            .list_for_user(ada.id)
            .await
            .expect("list");
        assert!(stored[0].last_used_at.is_some(), "its use is recorded");

        // A disabled account's passkey signs no one in.
        portcullis::commands::user::user_set_disabled(&app.config(), "ada", true)
            .await
            .expect("disable");
        forget_session(&b).await;
        b.goto(&app.url("/login")).await;
        press(&b, "#passkey-sign-in").await;
        let error = shown_text(&b, "#passkey-error").await;
        assert!(error.contains("disabled"), "{error}");
        assert_eq!(b.url().await.path(), "/login");
        b.goto(&app.url("/account")).await;
        b.wait_for_url("the sign-in page", |u| u.path() == "/login")
            .await;
    })
    .await;
}

/// The text of `css` once the script has shown it.
async fn shown_text(b: &Browser, css: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let element = b.find(css).await;
        if element.is_displayed().await.unwrap_or(false) {
            let text = element.text().await.expect("text");
            if !text.is_empty() {
                return text;
            }
        }
        if std::time::Instant::now() >= deadline {
            let html = element.html(false).await.unwrap_or_default();
            panic!("{css} was never shown at {}: {html}", b.url().await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn query(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_passkey_and_a_refused_ceremony_are_told_and_offer_the_password() {
    let app = spawn().await;
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        add_authenticator(&b).await;
        b.goto(&app.url("/login")).await;
        b.sign_in_as("ada").await;
        register(&b, "Old key").await;
        b.click_button("Remove Old key").await;
        let notice = b.text("#passkeys .notice").await;
        assert!(notice.contains("“Old key” is removed"), "{notice}");
        assert!(b.has("#no-passkeys").await);

        // The authenticator still has it; we do not.
        forget_session(&b).await;
        b.goto(&app.url("/login")).await;
        press(&b, "#passkey-sign-in").await;
        let error = shown_text(&b, "#passkey-error").await;
        assert!(error.contains("removed"), "{error}");
        assert!(error.contains("password"), "{error}");
        assert_eq!(b.url().await.path(), "/login", "still on the sign-in page");
        // The password still works.
        b.fill_login("ada", PASSWORD).await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
    })
    .await;

    // A ceremony the person cancels (or lets time out) ends in NotAllowedError, which
    // the browser's own dialog raises; here the page's `credentials.get` raises it.
    let app = spawn().await;
    with_browser(app, |app, b| async move {
        b.goto(&app.url("/login")).await;
        b.client
            .execute(
                "navigator.credentials.get = () => Promise.reject(\n\
                   new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError'));",
                vec![],
            )
            .await
            .expect("cancel every ceremony");
        press(&b, "#passkey-sign-in").await;
        let error = shown_text(&b, "#passkey-error").await;
        assert!(error.contains("cancelled"), "{error}");
        assert!(error.contains("password"), "{error}");
        assert!(b.has("#password").await, "the password form is right there");
    })
    .await;
}

/// Screenshots of the account page's passkey section and the sign-in page with its
/// passkey button, desktop and phone: a no-op unless PORTCULLIS_SCREENSHOTS names a
/// folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_passkey_pages() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        return;
    };
    let app = spawn().await;
    with_browser(app, move |app, b| async move {
        app.add_user("ada").await;
        add_authenticator(&b).await;
        b.goto(&app.url("/login")).await;
        b.sign_in_as("ada").await;
        register(&b, "MacBook").await;
        for (size, suffix) in [(screenshots::DESKTOP, ""), (screenshots::PHONE, "-mobile")] {
            screenshots::viewport(&b, size).await;
            b.goto(&app.url("/login")).await;
            b.find("#passkey-sign-in button").await;
            screenshots::shoot(&b, &dir, &format!("sign-in-passkey{suffix}.png")).await;
            b.goto(&app.url("/account#passkeys")).await;
            b.find("#passkeys").await;
            b.client
                .execute(
                    "document.getElementById('passkeys').scrollIntoView()",
                    vec![],
                )
                .await
                .expect("scroll");
            screenshots::shoot(&b, &dir, &format!("account-passkeys{suffix}.png")).await;
        }
    })
    .await;
}
