//! The browser-facing protocol fixes, seen from the app and the person: `redirect_uri`
//! at the token endpoint (RFC 6749 section 4.1.3), `id_token_hint` and `max_age=0` at
//! the authorization endpoint (OIDC Core section 3.1.2.1), a logout hint bound to the
//! session (RP-Initiated Logout section 2), POSTed authorization requests sent on with
//! a 303, native apps asked every time (RFC 8252 section 8.6), and the exact
//! post-logout address.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::TokenResponse;
use reqwest::{StatusCode, header::SET_COOKIE};
use url::Url;

use crate::{
    both_backends,
    browser::with_params,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::{Rp, Started, callback_params},
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";
const SIGNED_OUT: &str = "https://app.example/signed-out";

both_backends!(
    a_token_request_without_the_redirect_uri_it_had_is_refused,
    prompt_none_with_someone_elses_hint_is_refused_and_ones_own_hint_gets_a_code,
    an_id_token_hint_we_did_not_sign_is_an_invalid_request,
    a_hint_for_someone_else_asks_for_their_sign_in_and_refuses_anyone_else,
    max_age_zero_needs_a_fresh_sign_in_even_in_the_same_second,
    a_logout_hint_for_another_person_or_session_asks_first,
    a_cross_site_post_to_authorize_continues_in_the_persons_own_session,
    a_posted_authorization_request_is_single_use_and_expires,
    a_post_to_authorize_from_an_unknown_client_is_refused_at_once,
    a_native_app_is_asked_every_time_even_after_consent,
    a_public_web_app_on_https_keeps_silent_renewal,
    logout_without_state_returns_to_exactly_the_registered_address,
);

/// A confidential web app at `CALLBACK` that may be returned to at `SIGNED_OUT`.
async fn confidential(app: &TestApp) -> Rp {
    let mut reg = web_app(CALLBACK);
    reg.post_logout_redirect_uris = vec![SIGNED_OUT.into()];
    let (client, secret) = app.add_client(reg).await;
    Rp::discover(app, &client.client_id, secret.as_deref(), CALLBACK).await
}

/// A public app at `redirect_uri`.
async fn public(app: &TestApp, redirect_uri: &str) -> Rp {
    let mut reg = web_app(redirect_uri);
    reg.public = true;
    let (client, _) = app.add_client(reg).await;
    Rp::discover(app, &client.client_id, None, redirect_uri).await
}

/// Signs `username` in through `rp` in the test's browser, whoever was signed in
/// before (`prompt=login`), consenting; returns the ID token.
async fn id_token_of(app: &TestApp, rp: &Rp, username: &str) -> String {
    let started = rp.start(&["openid"]);
    let url = with_params(&started.url, &[("prompt", "login")]);
    let callback = app.sign_in(&url, username, true).await;
    let tokens = rp
        .exchange(&callback_params(&callback)["code"], started.verifier)
        .await
        .expect("exchange");
    tokens.id_token().expect("id token").to_string()
}

/// Part `index` of a JWT (0: header, 1: claims), read without verifying it.
fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).expect("part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// The `sub` an ID token names.
fn subject(id_token: &str) -> String {
    jwt_part(id_token, 1)["sub"]
        .as_str()
        .expect("sub")
        .to_owned()
}

/// Where the server sends the browser for `url`, without following it.
async fn location(app: &TestApp, url: &str) -> String {
    let r = app.http.get(url).send().await.expect("get");
    assert!(
        r.status().is_redirection(),
        "{url} answered {}: {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// `prompt=none` added to a fresh authorization request, with `extra`.
fn silent(started: &Started, extra: &[(&str, &str)]) -> String {
    let mut params = vec![("prompt", "none")];
    params.extend_from_slice(extra);
    with_params(&started.url, &params)
}

/// The callback's query, after asserting that the browser was sent to `redirect_uri`.
fn callback_at(redirect_uri: &str, location: &str) -> std::collections::HashMap<String, String> {
    assert!(location.starts_with(redirect_uri), "{location}");
    callback_params(location)
}

/// Asserts that the app was sent `error` and no code, with its state echoed.
fn assert_refused(redirect_uri: &str, location: &str, started: &Started, error: &str) {
    let params = callback_at(redirect_uri, location);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert!(!params.contains_key("code"), "{location}");
    assert_eq!(params["state"], *started.state.secret());
}

/// Asserts that the app was sent a code, with its state echoed.
fn assert_code(redirect_uri: &str, location: &str, started: &Started) -> String {
    let params = callback_at(redirect_uri, location);
    assert!(!params.contains_key("error"), "{location}");
    assert_eq!(params["state"], *started.state.secret());
    params.get("code").expect("a code").clone()
}

/// Asserts the answer is a redirect to the pending request's login page.
fn assert_login_page(location: &str) -> String {
    assert!(location.starts_with("/login?request="), "{location}");
    let url = Url::parse(&format!("http://x{location}")).expect("url");
    url.query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .expect("request id")
}

async fn a_token_request_without_the_redirect_uri_it_had_is_refused(app: TestApp) {
    app.add_user("ada").await;
    // One registered URI: the token endpoint could guess it, but must not when the
    // authorization request named it.
    let rp = confidential(&app).await;
    let auth = rp.auth();
    let code = |url: String| {
        let app = &app;
        async move {
            let callback = app.sign_in(&url, "ada", true).await;
            callback_params(&callback)["code"].clone()
        }
    };
    let exchange = |code: String, verifier: String, redirect_uri: Option<&'static str>| {
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("code_verifier", verifier),
            ];
            if let Some(uri) = redirect_uri {
                form.push(("redirect_uri", uri.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_token(auth, &form).await
        }
    };

    let started = rp.start(&["openid"]);
    assert!(
        started.url.contains("redirect_uri="),
        "the request names it"
    );
    let c = code(started.url.clone()).await;
    let (status, _, body) = exchange(c, started.verifier.secret().clone(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let started = rp.start(&["openid"]);
    let c = code(started.url.clone()).await;
    let other = Some("http://127.0.0.1:1/other");
    let (status, _, body) = exchange(c, started.verifier.secret().clone(), other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let started = rp.start(&["openid"]);
    let c = code(started.url.clone()).await;
    let (status, _, body) = exchange(c, started.verifier.secret().clone(), Some(CALLBACK)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string() && body["access_token"].is_string());

    // A request that left redirect_uri out (one registered URI) may leave it out again.
    let started = rp.start(&["openid"]);
    let mut url = Url::parse(&started.url).expect("url");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "redirect_uri")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let c = code(url.to_string()).await;
    let (status, _, body) = exchange(c, started.verifier.secret().clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn prompt_none_with_someone_elses_hint_is_refused_and_ones_own_hint_gets_a_code(
    app: TestApp,
) {
    let ada = app.add_user("ada").await;
    app.add_user("bob").await;
    let rp = confidential(&app).await;
    let bobs = id_token_of(&app, &rp, "bob").await;
    let adas = id_token_of(&app, &rp, "ada").await;

    // Ada is signed in; the app asks silently for Bob.
    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("id_token_hint", &bobs)])).await;
    assert_refused(CALLBACK, &to, &started, "login_required");

    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("id_token_hint", &adas)])).await;
    let code = assert_code(CALLBACK, &to, &started);
    let tokens = rp
        .exchange(&code, started.verifier)
        .await
        .expect("exchange");
    let id_token = tokens.id_token().expect("id token").to_string();
    assert_eq!(subject(&id_token), ada.id.to_string(), "the code is Ada's");

    // Past their lifetime the hints still say who the app expects.
    app.clock
        .advance(app.config().tokens.id_token_ttl + Duration::from_secs(60));
    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("id_token_hint", &adas)])).await;
    assert_code(CALLBACK, &to, &started);
    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("id_token_hint", &bobs)])).await;
    assert_refused(CALLBACK, &to, &started, "login_required");
}

async fn an_id_token_hint_we_did_not_sign_is_an_invalid_request(app: TestApp) {
    use josekit::{
        jws::{JwsHeader, RS256},
        jwt::{self, JwtPayload},
    };

    let ada = app.add_user("ada").await;
    let rp = confidential(&app).await;
    let adas = id_token_of(&app, &rp, "ada").await;

    // Ada's own claims, under our key's kid, signed with a key that is not ours.
    let kid = jwt_part(&adas, 0)["kid"].as_str().expect("kid").to_owned();
    let pair = RS256.generate_key_pair(2048).expect("key pair");
    let signer = RS256
        .signer_from_der(pair.to_der_private_key())
        .expect("signer");
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(&kid);
    let mut payload = JwtPayload::new();
    payload.set_issuer(&app.base);
    payload.set_subject(ada.id.to_string());
    payload.set_audience(vec![rp.client.client_id().as_str()]);
    let now = std::time::SystemTime::now();
    payload.set_issued_at(&now);
    payload.set_expires_at(&(now + Duration::from_secs(600)));
    let forged = jwt::encode_with_signer(&payload, &header, &signer).expect("jwt");

    // Our own token with its claims changed under the old signature.
    let tampered = {
        let mut parts: Vec<String> = adas.split('.').map(str::to_owned).collect();
        let mut claims = jwt_part(&adas, 1);
        claims["sub"] = "someone-else".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };

    let junk = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";
    for hint in [forged.as_str(), tampered.as_str(), junk] {
        for prompt in [Some("none"), None] {
            let started = rp.start(&["openid"]);
            let mut extra = vec![("id_token_hint", hint)];
            if let Some(p) = prompt {
                extra.push(("prompt", p));
            }
            let to = location(&app, &with_params(&started.url, &extra)).await;
            assert_refused(CALLBACK, &to, &started, "invalid_request");
        }
    }
}

async fn a_hint_for_someone_else_asks_for_their_sign_in_and_refuses_anyone_else(app: TestApp) {
    app.add_user("ada").await;
    let bob = app.add_user("bob").await;
    let rp = confidential(&app).await;
    let bobs = id_token_of(&app, &rp, "bob").await;
    id_token_of(&app, &rp, "ada").await;

    // Ada is signed in; the app asks, interactively, for Bob.
    let started = rp.start(&["openid"]);
    let to = location(
        &app,
        &with_params(&started.url, &[("id_token_hint", &bobs)]),
    )
    .await;
    let request = assert_login_page(&to);
    let page = app.get(&to).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");

    let submit = |csrf: String, login: &'static str| {
        let (app, request) = (&app, &request);
        async move {
            app.post_form(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("request", request),
                    ("login", login),
                    ("password", PASSWORD),
                ],
            )
            .await
        }
    };
    let refused = submit(hidden(&html, "csrf").expect("csrf"), "ada").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = refused.text().await.expect("html");
    assert!(html.contains("different account"), "{html}");

    let accepted = submit(hidden(&html, "csrf").expect("csrf"), "bob").await;
    assert!(accepted.status().is_redirection(), "{}", accepted.status());
    let to = accepted.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    // Bob consented to this app before: straight back with his code.
    let code = assert_code(CALLBACK, &to, &started);
    let tokens = rp
        .exchange(&code, started.verifier)
        .await
        .expect("exchange");
    let id_token = tokens.id_token().expect("id token").to_string();
    assert_eq!(subject(&id_token), bob.id.to_string());
}

async fn max_age_zero_needs_a_fresh_sign_in_even_in_the_same_second(app: TestApp) {
    app.add_user("ada").await;
    let rp = confidential(&app).await;
    let started = rp.start(&["openid"]);
    let callback = app.sign_in(&started.url, "ada", true).await;
    assert!(callback_params(&callback).contains_key("code"));

    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("max_age", "0")])).await;
    assert_refused(CALLBACK, &to, &started, "login_required");

    // A longer max_age is met by the sign-in just now.
    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[("max_age", "60")])).await;
    assert_code(CALLBACK, &to, &started);

    let started = rp.start(&["openid"]);
    let url = with_params(&started.url, &[("max_age", "0")]);
    let to = location(&app, &url).await;
    assert_login_page(&to);
    // Signing in there satisfies it.
    let callback = app.sign_in(&app.url(&to), "ada", true).await;
    assert_code(CALLBACK, &callback, &started);
}

/// Asserts that Ada is still signed in in the test's browser: a silent request gets a
/// code.
async fn assert_still_signed_in(app: &TestApp, rp: &Rp) {
    let started = rp.start(&["openid"]);
    let to = location(app, &silent(&started, &[])).await;
    assert_code(CALLBACK, &to, &started);
}

fn logout_url(app: &TestApp, id_token: &str) -> String {
    with_params(
        &app.url("/logout"),
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "xyz"),
        ],
    )
}

async fn a_logout_hint_for_another_person_or_session_asks_first(app: TestApp) {
    app.add_user("ada").await;
    app.add_user("bob").await;
    let rp = confidential(&app).await;
    let bobs = id_token_of(&app, &rp, "bob").await;
    let adas_earlier = id_token_of(&app, &rp, "ada").await;
    // Ada signs in again: a new session, whose sid the earlier token does not carry.
    let adas = id_token_of(&app, &rp, "ada").await;

    for (hint, whose) in [(&bobs, "Bob's"), (&adas_earlier, "Ada's earlier session's")] {
        let r = app
            .http
            .get(logout_url(&app, hint))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{whose} hint");
        let html = r.text().await.expect("html");
        assert!(
            html.contains(r#"<form method="post" action="/logout">"#),
            "{whose} hint: asked to confirm: {html}"
        );
        assert_still_signed_in(&app, &rp).await;
    }

    let to = location(&app, &logout_url(&app, &adas)).await;
    assert_eq!(to, format!("{SIGNED_OUT}?state=xyz"));
    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[])).await;
    assert_refused(CALLBACK, &to, &started, "login_required");
}

/// A browser on another site: no cookies of ours, no redirects followed.
fn other_site() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The request's parameters, as a form on another site would post them.
fn as_form(started: &Started) -> Vec<(String, String)> {
    Url::parse(&started.url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Posts `form` to /authorize from another site; returns the 303's Location.
async fn post_cross_site(app: &TestApp, form: &[(String, String)]) -> String {
    let r = other_site()
        .post(app.url("/authorize"))
        .form(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers().get(SET_COOKIE).is_none(),
        "no session is started: {:?}",
        r.headers()
    );
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(to.starts_with("/authorize?posted_request="), "{to}");
    to
}

/// Asserts `r` is our "expired" error page.
async fn assert_expired(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("html");
    assert!(html.contains("expired"), "{html}");
}

async fn a_cross_site_post_to_authorize_continues_in_the_persons_own_session(app: TestApp) {
    app.add_user("ada").await;
    let rp = confidential(&app).await;
    let started = rp.start(&["openid"]);
    app.sign_in(&started.url, "ada", true).await;

    let started = rp.start(&["openid"]);
    let to = post_cross_site(&app, &as_form(&started)).await;
    // The browser follows the 303 with a GET, which carries the person's cookie.
    let to = location(&app, &app.url(&to)).await;
    let code = assert_code(CALLBACK, &to, &started);
    let tokens = rp
        .exchange(&code, started.verifier)
        .await
        .expect("exchange");
    assert!(tokens.id_token().is_some());
}

async fn a_posted_authorization_request_is_single_use_and_expires(app: TestApp) {
    app.add_user("ada").await;
    let rp = confidential(&app).await;
    let started = rp.start(&["openid"]);
    app.sign_in(&started.url, "ada", true).await;

    let started = rp.start(&["openid"]);
    let to = app.url(&post_cross_site(&app, &as_form(&started)).await);
    assert_code(CALLBACK, &location(&app, &to).await, &started);
    assert_expired(app.http.get(&to).send().await.expect("get")).await;

    let started = rp.start(&["openid"]);
    let to = app.url(&post_cross_site(&app, &as_form(&started)).await);
    app.clock.advance(Duration::from_secs(301));
    assert_expired(app.http.get(&to).send().await.expect("get")).await;
}

/// How many POSTed requests are kept.
async fn posted_requests(app: &TestApp) -> i64 {
    use portcullis::storage::Db;
    let sql = "SELECT COUNT(*) FROM authorization_posts";
    match &app.state.store.db {
        Db::Sqlite { reads, .. } => sqlx::query_scalar(sql).fetch_one(reads).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .expect("count")
}

async fn a_post_to_authorize_from_an_unknown_client_is_refused_at_once(app: TestApp) {
    let rp = confidential(&app).await;
    let started = rp.start(&["openid"]);
    let mut form = as_form(&started);
    for (k, v) in &mut form {
        if k == "client_id" {
            *v = "no-such-client".into();
        }
    }
    let r = other_site()
        .post(app.url("/authorize"))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = r.text().await.expect("html");
    assert!(html.contains("not registered"), "{html}");
    assert_eq!(posted_requests(&app).await, 0, "nothing is kept");
}

async fn a_native_app_is_asked_every_time_even_after_consent(app: TestApp) {
    app.add_user("ada").await;
    for redirect_uri in ["http://127.0.0.1:8765/cb", "com.example.app:/cb"] {
        let rp = public(&app, redirect_uri).await;
        let started = rp.start(&["openid"]);
        let callback = app.sign_in(&started.url, "ada", true).await;
        let code = assert_code(redirect_uri, &callback, &started);
        rp.exchange(&code, started.verifier)
            .await
            .expect("exchange");

        let started = rp.start(&["openid"]);
        let to = location(&app, &silent(&started, &[])).await;
        assert_refused(redirect_uri, &to, &started, "consent_required");

        let started = rp.start(&["openid"]);
        let to = location(&app, &started.url).await;
        assert!(to.starts_with("/consent?request="), "{redirect_uri}: {to}");
    }
}

async fn a_public_web_app_on_https_keeps_silent_renewal(app: TestApp) {
    app.add_user("ada").await;
    let redirect_uri = "https://app.example/cb";
    let rp = public(&app, redirect_uri).await;
    let started = rp.start(&["openid"]);
    let callback = app.sign_in(&started.url, "ada", true).await;
    assert_code(redirect_uri, &callback, &started);

    let started = rp.start(&["openid"]);
    let to = location(&app, &silent(&started, &[])).await;
    let code = assert_code(redirect_uri, &to, &started);
    rp.exchange(&code, started.verifier)
        .await
        .expect("exchange");
}

async fn logout_without_state_returns_to_exactly_the_registered_address(app: TestApp) {
    app.add_user("ada").await;
    let addresses = [
        SIGNED_OUT,
        "https://app.example",
        "https://app.example/bye?from=op",
    ];
    let mut reg = web_app(CALLBACK);
    reg.post_logout_redirect_uris = addresses.iter().map(|a| a.to_string()).collect();
    let (client, secret) = app.add_client(reg).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;

    for address in addresses {
        let id_token = id_token_of(&app, &rp, "ada").await;
        let url = with_params(
            &app.url("/logout"),
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", address),
            ],
        );
        assert_eq!(location(&app, &url).await, address);
        let started = rp.start(&["openid"]);
        let to = location(&app, &silent(&started, &[])).await;
        assert_refused(CALLBACK, &to, &started, "login_required");
    }
}
