//! Signing up in Chromium: from an app's sign-in page to /register, the mailed link
//! from the outbox folder, sign-in, consent and back to the app with tokens; plus
//! screenshots of the sign-up pages.

use std::path::PathBuf;

use openidconnect::{OAuth2TokenResponse, TokenResponse};

use super::{
    callback, exchange,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    web_rp, with_browser,
};
use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp},
};

both_backends!(a_newcomer_signs_up_confirms_their_address_and_reaches_the_app);

async fn a_newcomer_signs_up_confirms_their_address_and_reaches_the_app(app: TestApp) {
    with_browser(app, |app, b| async move {
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid", "profile", "email"]);
        b.goto(&started.url).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        b.find("a[href^='/register']")
            .await
            .click()
            .await
            .expect("click");
        b.wait_for_url("the sign-up page", |u| u.path() == "/register")
            .await;
        assert_eq!(b.text("h1").await, "Create an account");
        assert_eq!(b.text(".lead").await, "to continue to Test App");

        // A weak password first: refused next to its field, the rest kept.
        b.find("#username")
            .await
            .send_keys("grace")
            .await
            .expect("type");
        b.find("#email")
            .await
            .send_keys("grace@example.com")
            .await
            .expect("type");
        b.find("#display_name")
            .await
            .send_keys("Grace Hopper")
            .await
            .expect("type");
        b.find("#password")
            .await
            .send_keys("qwertyuiop")
            .await
            .expect("type");
        b.click_button("Create account").await;
        b.wait_for_url("the form again", |u| u.path() == "/register")
            .await;
        assert!(
            b.text("#password-error").await.contains("most common"),
            "{}",
            b.text("#password-error").await
        );
        assert_eq!(b.value("#username").await, "grace");
        assert_eq!(b.value("#email").await, "grace@example.com");
        assert_eq!(b.value("#password").await, "", "never the password");

        b.find("#password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("type");
        b.click_button("Create account").await;
        b.wait_for_url("check your mail", |u| u.path() == "/register")
            .await;
        assert_eq!(b.text("h1").await, "Check your email");

        let mail = app.mail_to("grace@example.com").await;
        b.goto(&mail.link()).await;
        b.wait_for_url("the confirmation", |u| u.path() == "/verify-email")
            .await;
        assert_eq!(b.text("h1").await, "Your address is confirmed");
        b.find("a.button").await.click().await.expect("continue");

        b.sign_in_as("grace").await;
        b.consent("Allow").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        let nonce = started.nonce.clone();
        let tokens = exchange(&rp, &params, started).await;
        let claims = tokens
            .id_token()
            .expect("ID token")
            .claims(&rp.client.id_token_verifier(), &nonce)
            .expect("verifies")
            .clone();
        assert_eq!(
            claims.email().map(|e| e.as_str()),
            Some("grace@example.com")
        );
        assert_eq!(claims.email_verified(), Some(true), "confirmed by the link");
        let info = rp
            .userinfo(tokens.access_token().secret())
            .await
            .expect("userinfo");
        assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("grace"));
    })
    .await;
}

/// Screenshots of the sign-up pages: a no-op unless PORTCULLIS_SCREENSHOTS names a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_sign_up_pages() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        eprintln!("skipped: set PORTCULLIS_SCREENSHOTS to a folder to write the screenshots");
        return;
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        app.add_user("ada").await;
        for (size, suffix) in [(DESKTOP, ""), (PHONE, "-mobile")] {
            viewport(&b, size).await;
            b.goto(&format!("{}/register", app.base)).await;
            shoot(&b, &dir, &format!("register{suffix}.png")).await;
            b.find("#username")
                .await
                .send_keys("ada")
                .await
                .expect("type");
            b.find("#email")
                .await
                .send_keys("ada@example")
                .await
                .expect("type");
            b.find("#password")
                .await
                .send_keys("short")
                .await
                .expect("type");
            b.click_button("Create account").await;
            b.wait_for_url("errors", |u| u.path() == "/register").await;
            shoot(&b, &dir, &format!("register-error{suffix}.png")).await;
            let name = if suffix.is_empty() {
                "grace"
            } else {
                "grace.h"
            };
            let email = format!("{name}@example.com");
            b.goto(&format!("{}/register", app.base)).await;
            b.find("#username")
                .await
                .send_keys(name)
                .await
                .expect("type");
            b.find("#email")
                .await
                .send_keys(&email)
                .await
                .expect("type");
            b.find("#password")
                .await
                .send_keys(PASSWORD)
                .await
                .expect("type");
            b.click_button("Create account").await;
            b.wait_for_url("check your mail", |u| u.path() == "/register")
                .await;
            shoot(&b, &dir, &format!("register-sent{suffix}.png")).await;
            let mail = app.mail_to(&email).await;
            b.goto(&mail.link()).await;
            b.wait_for_url("confirmed", |u| u.path() == "/verify-email")
                .await;
            shoot(&b, &dir, &format!("verified{suffix}.png")).await;
            b.goto(&mail.link()).await;
            b.wait_for_url("used link", |u| u.path() == "/verify-email")
                .await;
            shoot(&b, &dir, &format!("verify-link-used{suffix}.png")).await;
        }
    })
    .await;
}
