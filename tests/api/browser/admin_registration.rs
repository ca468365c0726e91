//! The console's registration page: an admin makes an initial access token (shown
//! once, and it registers a client) and revokes it.

use std::path::PathBuf;

use super::{
    Browser,
    admin::sign_in_to_console,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    with_browser,
};
use crate::{
    admin::add_admin,
    both_backends,
    helpers::{Backend, TestApp},
};

both_backends!(an_admin_makes_a_token_shown_once_and_revokes_it);

async fn make_token(b: &Browser, label: &str) -> String {
    b.find("#label").await.send_keys(label).await.expect("type");
    b.find("#max_uses")
        .await
        .send_keys("1")
        .await
        .expect("type");
    b.click_button("Make token").await;
    b.text(".secret-once pre").await.trim().to_owned()
}

async fn an_admin_makes_a_token_shown_once_and_revokes_it(app: TestApp) {
    with_browser(app, |app, b| async move {
        add_admin(&app, "grace").await;
        sign_in_to_console(&app, &b, "grace", "/admin/registration").await;
        assert_eq!(b.text("h1").await, "Client registration");
        let token = make_token(&b, "partner").await;
        assert_eq!(token.len(), 43, "{token}");
        assert!(b.text("table.data").await.contains("partner"));
        // Shown once: a reload does not show it again.
        b.goto(&app.url("/admin/registration")).await;
        assert!(!b.has(".secret-once").await);
        // It registers a client.
        let r = app
            .http
            .post(app.url("/oauth/register"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"redirect_uris": ["https://app.example/cb"]}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        // A refused form keeps what was typed, with the error by the field.
        b.find("#label")
            .await
            .send_keys("second")
            .await
            .expect("type");
        b.find("#max_uses")
            .await
            .send_keys("lots")
            .await
            .expect("type");
        b.click_button("Make token").await;
        assert_eq!(b.status().await, 400);
        assert!(b.text("#max_uses-error").await.contains("whole number"));
        assert_eq!(b.value("#label").await, "second");
        // Make one more, and revoke it.
        b.goto(&app.url("/admin/registration")).await;
        let second = make_token(&b, "to revoke").await;
        b.click_button("Revoke").await;
        assert!(b.text("table.data").await.contains("revoked"));
        let r = app
            .http
            .post(app.url("/oauth/register"))
            .bearer_auth(&second)
            .json(&serde_json::json!({"redirect_uris": ["https://app.example/cb"]}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// Screenshots of `/admin/registration` (with a token just made, and a refused form),
/// desktop and phone: a no-op unless PORTCULLIS_SCREENSHOTS names a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_registration() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        add_admin(&app, "grace").await;
        sign_in_to_console(&app, &b, "grace", "/admin/registration").await;
        make_token(&b, "Partner app (staging)").await;
        for (size, name) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            viewport(&b, size).await;
            shoot(&b, &dir, &format!("admin-registration-{name}.png")).await;
        }
        b.goto(&app.url("/admin/registration")).await;
        b.find("#max_uses")
            .await
            .send_keys("-3")
            .await
            .expect("type");
        b.click_button("Make token").await;
        for (size, name) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            viewport(&b, size).await;
            shoot(&b, &dir, &format!("admin-registration-refused-{name}.png")).await;
        }
    })
    .await;
}
