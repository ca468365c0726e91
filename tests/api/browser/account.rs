//! The account page in Chromium: its sessions and connected apps, whose buttons are
//! proven by what the app's tokens do afterwards, and deleting an account end to end.
//! Also the account pages' screenshots (with PORTCULLIS_SCREENSHOTS).

use std::{path::PathBuf, time::Instant};

use fantoccini::Locator;
use openidconnect::OAuth2TokenResponse;
use serde_json::json;

use super::{
    Browser, POLL, WAIT, callback, exchange,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    sign_in_and_allow, web_rp, with_browser,
};
use crate::{
    account::{AppTokens, FIREFOX, Person, app_tokens},
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, web_app},
    rp::Rp,
};

impl Browser {
    /// Clicks the element `css` (a button or link) and waits for the page it leads to.
    async fn click_and_wait(&self, css: &str) {
        let element = self.find(css).await;
        self.client
            .execute("window.portcullisLeaving = true", vec![])
            .await
            .expect("mark the page");
        element.click().await.expect("click");
        let deadline = Instant::now() + WAIT;
        loop {
            let arrived = self
                .client
                .execute(
                    "return !window.portcullisLeaving && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true));
            if arrived {
                return;
            }
            assert!(Instant::now() < deadline, "clicking `{css}` led nowhere");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Signs in at /login with no app, and waits for the account page.
    async fn sign_in_to_account(&self, username: &str) {
        self.goto(&format!("{}/account", self.base)).await;
        self.sign_in_as(username).await;
        self.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
        assert_eq!(self.text("h1").await, "Your account");
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .len()
    }
}

both_backends!(
    signing_out_another_browser_ends_the_apps_it_signed_in_to,
    removing_an_apps_access_ends_its_tokens,
    deleting_an_account_in_the_browser,
);

async fn signing_out_another_browser_ends_the_apps_it_signed_in_to(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        // The app signs Ada in through another browser (the test's HTTP client).
        let tokens = app_tokens(&app, "Notes", &["openid"], "ada").await;
        let elsewhere = Person::other(&app, FIREFOX);
        elsewhere.sign_in("ada", PASSWORD).await;

        b.sign_in_to_account("ada").await;
        assert_eq!(b.count("li.row.session").await, 3, "three browsers");
        assert_eq!(b.count("li.row.session.current").await, 1);
        assert!(
            b.text("li.row.session.current")
                .await
                .contains("Headless Chrome on Linux")
        );
        assert!(b.text("#sessions").await.contains("Firefox on Linux"));

        // The session the app signed in through is the one that is neither this
        // browser nor Firefox.
        let rows = b
            .client
            .find_all(Locator::Css("li.row.session:not(.current)"))
            .await
            .expect("rows");
        let mut target = None;
        for (i, row) in rows.iter().enumerate() {
            if !row.text().await.expect("text").contains("Firefox") {
                target = Some(i + 1);
            }
        }
        let nth = target.expect("the app's session is listed");
        b.click_and_wait(&format!(
            "li.row.session:not(.current):nth-of-type({}) button",
            nth + 1
        ))
        .await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
        assert!(
            b.text("#sessions .notice")
                .await
                .contains("That browser is signed out")
        );
        assert_eq!(b.count("li.row.session").await, 2);
        tokens
            .assert_dead(&app, "the signed-out browser's app")
            .await;
        assert!(elsewhere.is_signed_in().await, "Firefox was not touched");

        b.click_button("Sign out everywhere else").await;
        assert!(
            b.text("#sessions .notice")
                .await
                .contains("1 other browser is signed out.")
        );
        assert!(!elsewhere.is_signed_in().await);
        assert_eq!(b.count("li.row.session").await, 1);
    })
    .await;
}

async fn removing_an_apps_access_ends_its_tokens(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid", "email"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let t = exchange(&rp, &params, started).await;
        let tokens = AppTokens {
            access: t.access_token().secret().clone(),
            refresh: t.refresh_token().expect("refresh token").secret().clone(),
            id_token: String::new(),
            rp,
        };
        tokens.assert_alive(&app, "before").await;

        b.goto(&app.url("/account")).await;
        let apps = b.text("#apps").await;
        assert!(apps.contains("Test App"), "{apps}");
        assert!(apps.contains("See your email address"), "{apps}");
        b.click_button("Remove access for Test App").await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
        assert_eq!(
            b.text("#apps .notice").await,
            "Test App no longer has access to your account."
        );
        assert!(!b.text("#apps").await.contains("Allowed "));
        tokens.assert_dead(&app, "the removed app").await;
        assert_eq!(b.text("h1").await, "Your account", "still signed in here");
    })
    .await;
}

async fn deleting_an_account_in_the_browser(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let t = exchange(&rp, &params, started).await;
        let tokens = AppTokens {
            access: t.access_token().secret().clone(),
            refresh: t.refresh_token().expect("refresh token").secret().clone(),
            id_token: String::new(),
            rp,
        };

        b.goto(&app.url("/account")).await;
        b.click_and_wait("a[href='/account/delete']").await;
        assert_eq!(b.text("h1").await, "Delete your account?");
        b.find("#current_password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("type");
        b.click_button("Delete my account").await;
        assert!(
            b.text("#confirm_delete-error")
                .await
                .contains("Tick the box")
        );
        assert_eq!(
            b.value("#current_password").await,
            "",
            "the password is not kept"
        );
        assert_eq!(
            b.find("#confirm_delete")
                .await
                .attr("aria-describedby")
                .await
                .expect("attr")
                .as_deref(),
            Some("confirm_delete-error")
        );

        b.find("#current_password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("type");
        b.find("#confirm_delete").await.click().await.expect("tick");
        b.click_button("Delete my account").await;
        assert_eq!(b.text("h1").await, "Your account is deleted");

        tokens.assert_dead(&app, "after deletion").await;
        b.goto(&app.url("/account")).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        b.fill_login("ada", PASSWORD).await;
        assert!(b.text("#login-error").await.contains("not right"));
    })
    .await;
}

/// Screenshots of the account pages, desktop and phone: a no-op unless
/// PORTCULLIS_SCREENSHOTS names a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_account_pages() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        eprintln!("skipped: set PORTCULLIS_SCREENSHOTS to a folder to write the screenshots");
        return;
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        app.add_user("ada").await;
        let mut registration = web_app(&callback(&app));
        registration.name = "Acme Notes".into();
        let (client, secret) = app.add_client(registration).await;
        let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), &callback(&app)).await;
        let laptop = Person::other(&app, FIREFOX);
        laptop.sign_in("ada", PASSWORD).await;

        viewport(&b, DESKTOP).await;
        let started = rp.start(&["openid", "profile", "email"]);
        sign_in_and_allow(&b, &app, &started, "ada").await;
        b.goto(&app.url("/account")).await;
        for (id, value) in [
            ("#display_name", "Ada Lovelace"),
            ("#given_name", "Ada"),
            ("#family_name", "Lovelace"),
        ] {
            b.find(id).await.send_keys(value).await.expect("type");
        }
        b.click_button("Save profile").await;
        b.find("#new_email")
            .await
            .send_keys("ada@lovelace.example")
            .await
            .expect("type");
        b.click_button("Change email address").await;

        // Resizing does not reload: the one-time message stays on screen.
        full_page(&b, DESKTOP.0).await;
        shoot(&b, &dir, "account.png").await;
        full_page(&b, PHONE.0).await;
        shoot(&b, &dir, "account-mobile.png").await;

        viewport(&b, DESKTOP).await;
        b.goto(&app.url("/account#password")).await;
        b.find("#current_password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("type");
        b.find("#new_password")
            .await
            .send_keys("short")
            .await
            .expect("type");
        b.find("#confirm_password")
            .await
            .send_keys("short")
            .await
            .expect("type");
        b.click_button("Change password").await;
        b.find("#new_password-error").await;
        shoot(&b, &dir, "account-password-error.png").await;
        viewport(&b, PHONE).await;
        shoot(&b, &dir, "account-password-error-mobile.png").await;

        viewport(&b, DESKTOP).await;
        b.goto(&app.url("/account")).await;
        let field = b.find("#given_name").await;
        field.clear().await.expect("clear");
        field.send_keys(&"Augusta ".repeat(13)).await.expect("type");
        b.click_button("Save profile").await;
        b.find("#given_name-error").await;
        shoot(&b, &dir, "account-profile-error.png").await;

        b.goto(&app.url("/account/delete")).await;
        shoot(&b, &dir, "account-delete.png").await;
        viewport(&b, PHONE).await;
        shoot(&b, &dir, "account-delete-mobile.png").await;
        viewport(&b, DESKTOP).await;
        b.find("#current_password")
            .await
            .send_keys("not my password")
            .await
            .expect("type");
        b.find("#confirm_delete").await.click().await.expect("tick");
        b.click_button("Delete my account").await;
        b.find("#current_password-error").await;
        shoot(&b, &dir, "account-delete-error.png").await;
        b.find("#current_password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("type");
        b.click_button("Delete my account").await;
        assert_eq!(b.text("h1").await, "Your account is deleted");
        shoot(&b, &dir, "account-deleted.png").await;
        viewport(&b, PHONE).await;
        shoot(&b, &dir, "account-deleted-mobile.png").await;
    })
    .await;
}

/// Makes the viewport `width` wide and as tall as the page, so a screenshot holds it all.
async fn full_page(b: &Browser, width: u32) {
    viewport(b, (width, 800)).await;
    let height = b
        .client
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .expect("height")
        .as_u64()
        .expect("a number");
    viewport(b, (width, u32::try_from(height).expect("height"))).await;
}
