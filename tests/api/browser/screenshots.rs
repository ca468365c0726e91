//! Screenshots of every page for the README: run with
//! `PORTCULLIS_SCREENSHOTS=docs/screenshots cargo test --test api screenshots`.

use std::path::{Path, PathBuf};

use super::{Browser, callback, with_browser};
use crate::{
    helpers::{Backend, TestApp, web_app},
    rp::Rp,
};

pub(super) const DESKTOP: (u32, u32) = (1280, 800);
pub(super) const PHONE: (u32, u32) = (390, 844);

/// Sizes the viewport (not the window) to `width` × `height` CSS pixels.
pub(super) async fn viewport(b: &Browser, (width, height): (u32, u32)) {
    b.client
        .set_window_size(width, height)
        .await
        .expect("window size");
    let inner = b
        .client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .expect("inner size");
    let (w, h) = (
        inner[0].as_u64().expect("width"),
        inner[1].as_u64().expect("height"),
    );
    if (w, h) != (u64::from(width), u64::from(height)) {
        // Headless windows may still have a frame: grow the window by the difference.
        let grow = |want: u32, got: u64| want + (u64::from(want).saturating_sub(got)) as u32;
        b.client
            .set_window_size(grow(width, w), grow(height, h))
            .await
            .expect("window size");
    }
    let inner = b
        .client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .expect("inner size");
    assert_eq!(
        (inner[0].as_u64(), inner[1].as_u64()),
        (Some(u64::from(width)), Some(u64::from(height))),
        "the viewport is {width}×{height}"
    );
}

pub(super) async fn shoot(b: &Browser, dir: &Path, name: &str) {
    // The page has loaded; wait for its fonts too, so text is never half-drawn.
    b.client
        .execute_async(
            "const done = arguments[arguments.length - 1];\n\
             document.fonts.ready.then(() => done(true));",
            vec![],
        )
        .await
        .expect("fonts");
    let png = b.client.screenshot().await.expect("screenshot");
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("wrote {}", path.display());
}

/// Writes the screenshots into the folder PORTCULLIS_SCREENSHOTS names, if it is set.
pub(super) async fn run() {
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

        viewport(&b, DESKTOP).await;
        b.goto(&rp.start(&["openid", "profile", "email"]).url).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        shoot(&b, &dir, "login.png").await;
        viewport(&b, PHONE).await;
        shoot(&b, &dir, "login-mobile.png").await;
        viewport(&b, DESKTOP).await;

        b.fill_login("ada", "not my password").await;
        b.find("#login-error").await;
        shoot(&b, &dir, "login-error.png").await;

        b.fill_login("ada", crate::helpers::PASSWORD).await;
        b.wait_for_url("the consent page", |u| u.path() == "/consent")
            .await;
        shoot(&b, &dir, "consent.png").await;
        viewport(&b, PHONE).await;
        shoot(&b, &dir, "consent-mobile.png").await;
        viewport(&b, DESKTOP).await;
        b.click_button("Allow").await;
        b.wait_for_callback(&callback(&app)).await;

        let stray = Rp::discover(
            &app,
            &client.client_id,
            secret.as_deref(),
            "https://attacker.example/cb",
        )
        .await;
        b.goto(&stray.start(&["openid"]).url).await;
        assert_eq!(b.text("h1").await, "This sign-in link is not valid");
        shoot(&b, &dir, "error.png").await;

        b.goto(&app.url("/logout")).await;
        assert_eq!(b.text("h1").await, "Sign out?");
        shoot(&b, &dir, "logout.png").await;
        b.click_button("Sign out").await;
        b.wait_for_url("the signed-out page", |u| u.path() == "/logout")
            .await;
        assert_eq!(b.text("h1").await, "You have signed out");
        shoot(&b, &dir, "signed-out.png").await;
    })
    .await;
}
