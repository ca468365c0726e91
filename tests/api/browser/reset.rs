//! Password reset in Chromium, through the pages and the mailed link: a forgotten
//! password is replaced, the old one and the old tokens stop working.

use std::{path::PathBuf, time::Duration};

use fantoccini::Locator;
use openidconnect::OAuth2TokenResponse;

use super::{
    Browser, exchange,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    sign_in_and_allow, web_rp, with_browser,
};
use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp},
};

const NEW_PASSWORD: &str = "violet tandem quarry lighthouse";

impl Browser {
    /// Clicks the link whose visible text is `text` and waits for the page it opens.
    async fn click_link(&self, text: &str, path: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no “{text}” link: {e}"))
            .click()
            .await
            .expect("click");
        self.wait_for_url(path, |u| u.path() == path).await;
    }

    /// Types `text` into the (cleared) field `css`.
    async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Fills in the new-password form and submits it.
    async fn choose_password(&self, password: &str, confirm: &str) {
        self.type_into("#password", password).await;
        self.type_into("#confirm", confirm).await;
        self.click_button("Set the new password").await;
    }

    /// From the sign-in page: asks for a reset link for `login`.
    async fn ask_for_reset(&self, login: &str) {
        self.click_link("Forgot your password?", "/reset-password")
            .await;
        assert_eq!(self.text("h1").await, "Reset your password");
        self.type_into("#login", login).await;
        self.click_button("Send the link").await;
        assert_eq!(self.text("h1").await, "Check your email");
    }
}

both_backends!(a_forgotten_password_is_replaced_and_the_old_one_and_its_tokens_die);

async fn a_forgotten_password_is_replaced_and_the_old_one_and_its_tokens_die(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid", "email"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let tokens = exchange(&rp, &params, started).await;
        let refresh = tokens
            .refresh_token()
            .expect("refresh token")
            .secret()
            .clone();

        b.goto(&app.url("/login")).await;
        b.ask_for_reset("ada@example.com").await;
        let mail = app.mail_to("ada@example.com").await;
        b.goto(&mail.link()).await;
        let url = b
            .wait_for_url("the new-password form", |u| {
                u.path() == "/reset-password/new"
            })
            .await;
        assert_eq!(url.query(), None, "the token left the address bar");
        assert_eq!(b.text("h1").await, "Choose a new password");
        assert!(b.text(".lead").await.contains("ada"), "says whose account");

        b.choose_password("short", "short").await;
        assert_eq!(b.status().await, 400);
        assert_eq!(
            b.text("#password-error").await,
            "Use at least 10 characters."
        );
        assert_eq!(b.value("#password").await, "", "the password is not kept");
        b.choose_password(NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(b.text("h1").await, "Your password is set");

        b.click_link("Sign in", "/login").await;
        b.fill_login("ada", PASSWORD).await;
        assert!(
            b.text("#login-error")
                .await
                .starts_with("That username or password is not right"),
            "the old password is refused"
        );
        b.fill_login("ada", NEW_PASSWORD).await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;

        let (status, _, body) = app
            .post_token(
                rp.auth(),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["error"], "invalid_grant",
            "the old refresh token is dead"
        );
        let changed = app.nth_mail_to("ada@example.com", 2).await;
        assert!(
            changed.subject.contains("password was changed"),
            "{}",
            changed.subject
        );

        // Following the link again says it was used.
        b.goto(&mail.link()).await;
        assert!(
            b.text(".alert")
                .await
                .starts_with("This link has already been used"),
            "a used link says so"
        );
        assert_eq!(b.status().await, 410);
    })
    .await;
}

/// Shoots the page on screen at desktop and phone size.
async fn both_sizes(b: &Browser, dir: &std::path::Path, name: &str) {
    viewport(b, DESKTOP).await;
    shoot(b, dir, &format!("{name}.png")).await;
    viewport(b, PHONE).await;
    shoot(b, dir, &format!("{name}-mobile.png")).await;
    viewport(b, DESKTOP).await;
}

/// Screenshots of the reset pages: a no-op unless PORTCULLIS_SCREENSHOTS names a
/// folder (`PORTCULLIS_SCREENSHOTS=docs/screenshots cargo test --test api
/// screenshots_of_the_reset_pages`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_reset_pages() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        eprintln!("skipped: set PORTCULLIS_SCREENSHOTS to a folder to write the screenshots");
        return;
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        app.add_user("ada").await;
        viewport(&b, DESKTOP).await;
        b.goto(&app.url("/login")).await;
        b.click_link("Forgot your password?", "/reset-password")
            .await;
        both_sizes(&b, &dir, "reset-request").await;
        b.type_into("#login", "ada@example.com").await;
        b.click_button("Send the link").await;
        both_sizes(&b, &dir, "reset-sent").await;

        let mail = app.mail_to("ada@example.com").await;
        b.goto(&mail.link()).await;
        b.wait_for_url("the form", |u| u.path() == "/reset-password/new")
            .await;
        both_sizes(&b, &dir, "reset-form").await;
        b.choose_password("short", "short").await;
        b.find("#password-error").await;
        both_sizes(&b, &dir, "reset-weak").await;
        b.choose_password(NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(b.text("h1").await, "Your password is set");
        both_sizes(&b, &dir, "reset-done").await;

        app.clock.advance(Duration::from_secs(61));
        b.goto(&app.url("/login")).await;
        b.ask_for_reset("ada").await;
        let mail = app.nth_mail_to("ada@example.com", 3).await;
        app.clock.advance(Duration::from_secs(31 * 60));
        b.goto(&mail.link()).await;
        assert!(b.text(".alert").await.starts_with("This link has expired."));
        both_sizes(&b, &dir, "reset-expired").await;
    })
    .await;
}
