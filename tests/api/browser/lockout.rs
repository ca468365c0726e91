//! Lockout and rate limits in Chromium: five wrong passwords lock the account, the
//! right one then reads the same, the page's reset link leads on, and an admin unlock
//! lets the person in; past the sign-in limit the 429 page says to wait. With
//! PORTCULLIS_SCREENSHOTS set, also writes both pages at desktop and phone size.

use std::path::PathBuf;

use super::{
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    with_browser,
};
use crate::helpers::{Backend, PASSWORD, TestApp};

const LOCKED: &str = "Too many attempts. Try again in 1 minute, or reset your password.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_reads_the_same_for_the_right_password_until_unlocked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        b.goto(&app.url("/login")).await;
        for _ in 0..4 {
            b.fill_login("ada", "not the password").await;
            assert!(b.text("#login-error").await.contains("is not right"));
        }
        b.fill_login("ada", "not the password").await;
        assert_eq!(b.text("#login-error").await, LOCKED);
        assert_eq!(b.status().await, 429);
        b.fill_login("ada", PASSWORD).await;
        assert_eq!(
            b.text("#login-error").await,
            LOCKED,
            "the right password too"
        );
        assert_eq!(
            b.find("#password")
                .await
                .attr("aria-describedby")
                .await
                .expect("attr")
                .as_deref(),
            Some("login-error")
        );
        if let Some(dir) = screenshot_dir() {
            viewport(&b, DESKTOP).await;
            shoot(&b, &dir, "login-locked.png").await;
            viewport(&b, PHONE).await;
            shoot(&b, &dir, "login-locked-mobile.png").await;
            viewport(&b, DESKTOP).await;
        }
        b.find("#login-error a").await.click().await.expect("click");
        b.wait_for_url("the reset page", |u| u.path() == "/reset-password")
            .await;
        portcullis::commands::user::user_unlock(&app.config(), "ada")
            .await
            .expect("unlock");
        b.goto(&app.url("/login")).await;
        b.fill_login("ada", PASSWORD).await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_sign_in_limit_the_page_says_to_wait() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        "[security.rate_limits]\nsign_in = \"1/min\"\nsecond_factor = \"1/min\"\n\
         account_mail = \"1/min\"\ntoken_per_ip = \"1/min\"\ntoken_per_client = \"1/min\"\n",
    )
    .await;
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        b.goto(&app.url("/login")).await;
        b.fill_login("ada", "not the password").await;
        assert!(b.text("#login-error").await.contains("is not right"));
        b.fill_login("ada", PASSWORD).await;
        assert_eq!(b.status().await, 429);
        assert_eq!(b.text("h1").await, "Too many attempts");
        let message = b.text(".alert").await;
        assert!(
            message.contains("Wait 59 seconds") || message.contains("Wait 60 seconds"),
            "{message}"
        );
        if let Some(dir) = screenshot_dir() {
            viewport(&b, DESKTOP).await;
            shoot(&b, &dir, "too-many-requests.png").await;
            viewport(&b, PHONE).await;
            shoot(&b, &dir, "too-many-requests-mobile.png").await;
        }
    })
    .await;
}

fn screenshot_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("PORTCULLIS_SCREENSHOTS")?);
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    Some(dir)
}
