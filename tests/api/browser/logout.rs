//! RP-initiated logout in the browser: with an ID token hint straight back to the app
//! (never to an address it did not register), without one only after the person
//! confirms.

use openidconnect::TokenResponse;
use openidconnect::core::CoreTokenResponse;

use super::{Browser, callback, exchange, sign_in_and_allow, with_browser, with_params};
use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::Rp,
};

/// An app that may be returned to at `{base}/signed-out` after logout.
async fn logout_rp(app: &TestApp) -> Rp {
    let mut registration = web_app(&callback(app));
    registration.post_logout_redirect_uris = vec![format!("{}/signed-out", app.base)];
    let (client, secret) = app.add_client(registration).await;
    Rp::discover(app, &client.client_id, secret.as_deref(), &callback(app)).await
}

/// Signs `ada` in through `rp` and returns the app's tokens.
async fn signed_in(b: &Browser, app: &TestApp, rp: &Rp) -> CoreTokenResponse {
    app.add_user("ada").await;
    let started = rp.start(&["openid"]);
    let params = sign_in_and_allow(b, app, &started, "ada").await;
    exchange(rp, &params, started).await
}

/// Asserts nobody is signed in in this browser, asking the way an app would: prompt=none.
async fn assert_signed_out(b: &Browser, app: &TestApp, rp: &Rp) {
    b.goto(&with_params(
        &rp.start(&["openid"]).url,
        &[("prompt", "none")],
    ))
    .await;
    let params = b.wait_for_callback(&callback(app)).await;
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("login_required"),
        "{params:?}"
    );
}

fn logout_url(app: &TestApp, id_token: &str, post_logout: &str) -> String {
    with_params(
        &app.url("/logout"),
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", post_logout),
            ("state", "xyz"),
        ],
    )
}

both_backends!(
    logout_with_a_hint_returns_only_to_a_registered_address,
    logout_without_a_hint_asks_first,
);

async fn logout_with_a_hint_returns_only_to_a_registered_address(app: TestApp) {
    with_browser(app, |app, b| async move {
        let rp = logout_rp(&app).await;
        let tokens = signed_in(&b, &app, &rp).await;
        let id_token = tokens.id_token().expect("id token").to_string();

        b.goto(&logout_url(
            &app,
            &id_token,
            "https://attacker.example/signed-out",
        ))
        .await;
        let url = b.url().await;
        assert!(
            url.as_str().starts_with(&app.url("/logout?")),
            "no redirect: {url}"
        );
        assert_eq!(b.text("h1").await, "This sign-out link is not valid");
        assert_eq!(b.status().await, 400);
        let message = b.text(".alert").await;
        assert!(message.contains("not registered"), "{message}");

        let back = app.url("/signed-out");
        b.goto(&logout_url(&app, &id_token, &back)).await;
        let url = b
            .wait_for_url("the app", |u| u.path() == "/signed-out")
            .await;
        assert_eq!(url.as_str(), format!("{back}?state=xyz"));
        assert_signed_out(&b, &app, &rp).await;
    })
    .await;
}

async fn logout_without_a_hint_asks_first(app: TestApp) {
    with_browser(app, |app, b| async move {
        let rp = logout_rp(&app).await;
        signed_in(&b, &app, &rp).await;
        b.goto(&app.url("/logout")).await;
        assert_eq!(b.text("h1").await, "Sign out?");
        assert_eq!(b.status().await, 200);
        b.click_button("Sign out").await;
        b.wait_for_url("the signed-out page", |u| u.path() == "/logout")
            .await;
        assert_eq!(b.text("h1").await, "You have signed out");
        assert!(b.text("main").await.contains("no longer signed in"));
        assert_signed_out(&b, &app, &rp).await;
    })
    .await;
}
