//! TOTP in Chromium: enrolment from the account page with codes computed from the key
//! the page shows, sign-in with a code (a replayed one refused), a recovery code that
//! works once; and the screenshots of every two-step page.

use std::{path::PathBuf, time::Duration};

use openidconnect::TokenResponse;
use totp_rs::{Algorithm, Secret};

use super::{
    Browser, callback, exchange,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    web_rp, with_browser, with_params,
};
use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp},
};

both_backends!(a_person_enrols_an_app_and_signs_in_with_codes_and_a_recovery_code);

/// The code of `key` (as the page shows it, in groups) `offset` seconds from now.
fn code(app: &TestApp, key: &str, offset: i64) -> String {
    let totp = totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(key.replace(' ', "")).expect("base32"))
        .build()
        .expect("totp");
    totp.generate(u64::try_from(app.clock.now() + offset).expect("positive"))
        .to_string()
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let field = b.find(css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// From the account page: set up an authenticator app; returns the key, the code that
/// switched it on, and the recovery codes.
async fn enrol(app: &TestApp, b: &Browser) -> (String, String, Vec<String>) {
    b.goto(&app.url("/account")).await;
    assert!(b.text("#totp-status").await.starts_with("Off."));
    b.find("#set-up-totp").await.click().await.expect("click");
    b.wait_for_url("the setup page", |u| u.path() == "/account/two-factor/totp")
        .await;
    assert!(b.has(".qr svg").await, "a QR code");
    let key = b.text("#totp-key").await;
    assert_eq!(key.split(' ').count(), 8, "eight groups of four: {key}");
    let first = code(app, &key, 0);
    type_into(b, "#totp_code", &first).await;
    b.click_button("Turn on").await;
    assert_eq!(b.text("h1").await, "Your recovery codes");
    let list = b.text("#recovery-codes").await;
    let codes: Vec<String> = list.lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), 10, "{list}");
    (key, first, codes)
}

async fn a_person_enrols_an_app_and_signs_in_with_codes_and_a_recovery_code(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        b.goto(&app.url("/login")).await;
        b.sign_in_as("ada").await;
        let (key, first, codes) = enrol(&app, &b).await;
        b.click_button("I’ve saved them — continue").await;
        assert!(b.text("#totp-status").await.starts_with("On."));
        assert!(
            b.text("#recovery-status")
                .await
                .starts_with("10 unused codes left")
        );

        // Sign in again for an app: the password, then the code.
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "login")]))
            .await;
        b.sign_in_as("ada").await;
        b.wait_for_url("the second-factor page", |u| {
            u.path() == "/login/second-factor"
        })
        .await;
        // The code that switched the app on is used up (even if the clock has moved on
        // a step since: its step is still within the drift allowed).
        type_into(&b, "#code", &first).await;
        b.click_button("Continue").await;
        assert!(b.text("#code-error").await.starts_with("That code didn"));
        assert_eq!(b.status().await, 400);
        app.clock.advance(Duration::from_secs(60));
        type_into(&b, "#code", &code(&app, &key, 0)).await;
        b.click_button("Continue").await;
        b.consent("Allow").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        let nonce = started.nonce.clone();
        let tokens = exchange(&rp, &params, started).await;
        let claims = tokens
            .id_token()
            .expect("id token")
            .claims(&rp.client.id_token_verifier(), &nonce)
            .expect("valid");
        let amr: Vec<&str> = claims
            .auth_method_refs()
            .expect("amr")
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(amr, ["pwd", "otp", "mfa"]);

        // A recovery code, typed with spaces: once.
        for attempt in 0..2 {
            let started = rp.start(&["openid"]);
            b.goto(&with_params(&started.url, &[("prompt", "login")]))
                .await;
            b.sign_in_as("ada").await;
            b.wait_for_url("the second-factor page", |u| {
                u.path() == "/login/second-factor"
            })
            .await;
            type_into(&b, "#code", &codes[0].replace('-', " ")).await;
            b.click_button("Continue").await;
            if attempt == 0 {
                b.wait_for_callback(&callback(&app)).await;
            } else {
                assert!(b.text("#code-error").await.starts_with("That code didn"));
            }
        }
        let mail = app.nth_mail_to("ada@example.com", 2).await;
        assert!(
            mail.subject.contains("recovery code was used"),
            "{}",
            mail.subject
        );
    })
    .await;
}

/// Screenshots of the two-step pages, desktop and phone: a no-op unless
/// PORTCULLIS_SCREENSHOTS names a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_two_step_pages() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        eprintln!("skipped: set PORTCULLIS_SCREENSHOTS to a folder to write the screenshots");
        return;
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        let both = |name: &'static str| {
            let (b, dir) = (&b, dir.clone());
            async move {
                viewport(b, DESKTOP).await;
                shoot(b, &dir, &format!("{name}.png")).await;
                viewport(b, PHONE).await;
                shoot(b, &dir, &format!("{name}-mobile.png")).await;
                viewport(b, DESKTOP).await;
            }
        };
        app.add_user("ada").await;
        b.goto(&app.url("/login")).await;
        b.sign_in_as("ada").await;
        b.goto(&app.url("/account/two-factor/totp")).await;
        both("totp-setup").await;
        let key = b.text("#totp-key").await;
        type_into(&b, "#totp_code", "123").await;
        b.click_button("Turn on").await;
        both("totp-setup-error").await;
        type_into(&b, "#totp_code", &code(&app, &key, 0)).await;
        b.click_button("Turn on").await;
        both("recovery-codes").await;
        b.click_button("I’ve saved them — continue").await;
        b.goto(&app.url("/account#two-factor")).await;
        b.client
            .execute(
                "document.getElementById('two-factor').scrollIntoView()",
                vec![],
            )
            .await
            .expect("scroll");
        both("account-two-factor").await;
        b.goto(&app.url("/account/two-factor/totp/remove")).await;
        both("totp-remove").await;

        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "login")]))
            .await;
        b.sign_in_as("ada").await;
        b.wait_for_url("the second-factor page", |u| {
            u.path() == "/login/second-factor"
        })
        .await;
        both("second-factor").await;
        type_into(&b, "#code", "000000").await;
        b.click_button("Continue").await;
        both("second-factor-error").await;
        app.clock.advance(Duration::from_secs(6 * 60));
        b.goto(&app.url("/login/second-factor")).await;
        both("second-factor-expired").await;
        // Wrong codes lock the account at the fifth failure in a row, counting the
        // one above (the default threshold).
        let started = rp.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "login")]))
            .await;
        b.sign_in_as("ada").await;
        b.wait_for_url("the second-factor page", |u| {
            u.path() == "/login/second-factor"
        })
        .await;
        for _ in 0..5 {
            if b.text("h1").await.contains("Too many attempts") {
                break;
            }
            type_into(&b, "#code", "000000").await;
            b.click_button("Continue").await;
        }
        assert!(b.text("h1").await.contains("Too many attempts"));
        both("second-factor-locked").await;
        let _ = PASSWORD;
    })
    .await;
}
