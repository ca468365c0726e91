//! Signing in through the pages as a person does: the login form, the consent page, and
//! what `prompt` and `login_hint` change.

use openidconnect::{OAuth2TokenResponse, TokenResponse};

use super::{callback, exchange, sign_in_and_allow, web_rp, with_browser, with_params};
use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::Rp,
};

/// What the login page says for any wrong username or password.
const WRONG: &str = "That username or password is not right";

both_backends!(
    a_person_signs_in_consents_and_the_app_gets_verified_tokens,
    the_second_time_the_same_browser_goes_straight_back_with_a_code,
    a_wrong_password_and_an_unknown_user_read_the_same,
    login_hint_fills_in_the_username,
    deny_tells_the_app_access_denied,
    prompt_none_answers_login_required_then_consent_required,
    prompt_login_asks_a_signed_in_person_again,
    a_first_party_app_needs_no_consent,
);

async fn a_person_signs_in_consents_and_the_app_gets_verified_tokens(app: TestApp) {
    with_browser(app, |app, b| async move {
        let user = app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid", "profile", "email"]);
        b.goto(&started.url).await;

        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        assert_eq!(b.text("h1").await, "Sign in");
        assert_eq!(
            b.text(".lead").await,
            "to continue to Test App",
            "names the app"
        );
        b.fill_login("ada", crate::helpers::PASSWORD).await;

        b.wait_for_url("the consent page", |u| u.path() == "/consent")
            .await;
        assert_eq!(b.text("h1").await, "Test App wants to");
        let asks = b.text(".scopes").await;
        for line in [
            "Know who you are",
            "See your profile",
            "See your email address",
        ] {
            assert!(asks.contains(line), "consent lists “{line}”: {asks}");
        }
        assert!(
            b.text(".small").await.contains("ada"),
            "consent says who is signed in"
        );
        b.click_button("Allow").await;

        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(
            params["state"],
            *started.state.secret(),
            "state is echoed exactly"
        );
        assert_eq!(params["iss"], app.base, "RFC 9207 iss");
        assert!(!params.contains_key("error"), "{params:?}");

        let nonce = started.nonce.clone();
        let tokens = exchange(&rp, &params, started).await;
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&rp.client.id_token_verifier(), &nonce)
            .expect("the ID token verifies, nonce included");
        assert_eq!(claims.subject().as_str(), user.id.to_string());
        let info = rp
            .userinfo(tokens.access_token().secret())
            .await
            .expect("userinfo");
        assert_eq!(info.subject(), claims.subject());
        assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));
    })
    .await;
}

async fn the_second_time_the_same_browser_goes_straight_back_with_a_code(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let first = rp.start(&["openid", "email"]);
        sign_in_and_allow(&b, &app, &first, "ada").await;

        let second = rp.start(&["openid", "email"]);
        b.goto(&second.url).await;
        let url = b.url().await;
        assert!(
            url.as_str().starts_with(&callback(&app)),
            "no login and no consent page the second time, but {url}"
        );
        let params = crate::rp::callback_params(url.as_str());
        assert_eq!(params["state"], *second.state.secret());
        assert!(params.contains_key("code"), "{params:?}");
        exchange(&rp, &params, second).await;
    })
    .await;
}

async fn a_wrong_password_and_an_unknown_user_read_the_same(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        b.goto(&rp.start(&["openid"]).url).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;

        b.fill_login("ada", "not the password").await;
        let wrong_password = b.text("#login-error").await;
        assert!(wrong_password.starts_with(WRONG), "{wrong_password}");
        assert_eq!(b.status().await, 400);
        assert_eq!(b.value("#login").await, "ada", "the username is kept");
        assert_eq!(
            b.value("#password").await,
            "",
            "the password is not sent back"
        );
        let described = b.find("#password").await.attr("aria-describedby").await;
        assert_eq!(
            described.expect("attr").as_deref(),
            Some("login-error"),
            "the message is tied to the fields for screen readers"
        );

        b.fill_login("nobody", "whatever it is").await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        let unknown_user = b.text("#login-error").await;
        assert_eq!(
            unknown_user, wrong_password,
            "nothing tells who has an account"
        );
        assert_eq!(b.value("#login").await, "nobody");
        assert!(
            b.has("form[action='/login'] #password").await,
            "the form is still there"
        );

        // And the person can still sign in from here.
        b.fill_login("ada", crate::helpers::PASSWORD).await;
        b.wait_for_url("the consent page", |u| u.path() == "/consent")
            .await;
    })
    .await;
}

async fn login_hint_fills_in_the_username(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        b.goto(&with_params(
            &rp.start(&["openid"]).url,
            &[("login_hint", "ada")],
        ))
        .await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        assert_eq!(b.value("#login").await, "ada");
        let focused = b
            .client
            .active_element()
            .await
            .expect("focus")
            .attr("id")
            .await;
        assert_eq!(
            focused.expect("id").as_deref(),
            Some("password"),
            "ready for the password"
        );
    })
    .await;
}

async fn deny_tells_the_app_access_denied(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        b.goto(&started.url).await;
        b.sign_in_as("ada").await;
        b.consent("Deny").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["error"], "access_denied");
        assert_eq!(params["state"], *started.state.secret());
        assert_eq!(params["iss"], app.base);
        assert!(!params.contains_key("code"), "{params:?}");
    })
    .await;
}

async fn prompt_none_answers_login_required_then_consent_required(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "none")]))
            .await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["error"], "login_required", "{params:?}");
        assert_eq!(params["state"], *started.state.secret());
        assert_eq!(params["iss"], app.base);

        // Signed in through this app; another app has no consent yet.
        sign_in_and_allow(&b, &app, &rp.start(&["openid"]), "ada").await;
        let (other, _) = app.add_client(web_app(&callback(&app))).await;
        let other = Rp::discover(&app, &other.client_id, None, &callback(&app)).await;
        let started = other.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "none")]))
            .await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["error"], "consent_required", "{params:?}");
        assert_eq!(params["state"], *started.state.secret());
        assert_eq!(params["iss"], app.base);
    })
    .await;
}

async fn prompt_login_asks_a_signed_in_person_again(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        sign_in_and_allow(&b, &app, &rp.start(&["openid"]), "ada").await;

        let started = rp.start(&["openid"]);
        b.goto(&with_params(&started.url, &[("prompt", "login")]))
            .await;
        b.sign_in_as("ada").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["state"], *started.state.secret());
        exchange(&rp, &params, started).await;
    })
    .await;
}

async fn a_first_party_app_needs_no_consent(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let mut registration = web_app(&callback(&app));
        registration.first_party = true;
        let (client, secret) = app.add_client(registration).await;
        let secret = secret.as_deref();
        let rp = Rp::discover(&app, &client.client_id, secret, &callback(&app)).await;
        let started = rp.start(&["openid", "profile"]);
        b.goto(&started.url).await;
        b.sign_in_as("ada").await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["state"], *started.state.secret());
        exchange(&rp, &params, started).await;
    })
    .await;
}
