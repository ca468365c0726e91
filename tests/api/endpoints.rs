//! What the authorization, userinfo, introspection and logout endpoints, CORS and the
//! pages answer to wrong, missing and hostile requests.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    both_backends,
    helpers::{TestApp, hidden, web_app},
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "https://app.example.com/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_query(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st&te"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/authorize?{q}")
}

/// The error the client was sent back with, after checking state and iss came too.
async fn redirected_error(app: &TestApp, path: &str) -> String {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with(CALLBACK), "{location}");
    let params = callback_params(&location);
    assert_eq!(params["state"], "st&te");
    assert_eq!(params["iss"], app.base);
    assert!(params.contains_key("error_description"));
    params["error"].clone()
}

async fn a_page_not_a_redirect(app: &TestApp, path: &str) -> String {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    assert!(r.headers().get("location").is_none());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    r.text().await.expect("html")
}

both_backends!(
    client_and_redirect_uri_errors_show_a_page_and_never_redirect,
    other_authorization_errors_go_back_to_the_client,
    a_request_without_openid_is_plain_oauth_with_no_id_token,
    userinfo_refuses_missing_forged_and_doubled_tokens,
    introspection_needs_a_confidential_client_and_says_little_about_dead_tokens,
    cors_answers_only_the_clients_own_origins,
    pages_are_protected_by_csrf_headers_and_cookie_flags,
    logout_checks_its_redirect_and_asks_when_the_app_is_not_proven,
    a_wrong_method_gets_405_in_the_protocols_format,
);

async fn client_and_redirect_uri_errors_show_a_page_and_never_redirect(app: TestApp) {
    let mut reg = web_app(CALLBACK);
    reg.public = true;
    let (client, _) = app.add_client(reg).await;
    let id = client.client_id.as_str();
    let html = a_page_not_a_redirect(&app, &authorize_query("unknown", &[])).await;
    assert!(html.contains("not registered"), "{html}");
    a_page_not_a_redirect(&app, &authorize_query("", &[])).await;
    for uri in [
        "https://evil.example/cb",
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x=1",
        "/cb",
    ] {
        let html =
            a_page_not_a_redirect(&app, &authorize_query(id, &[("redirect_uri", uri)])).await;
        assert!(html.contains("return address"), "{uri}: {html}");
        assert!(
            !html.contains("evil.example"),
            "the bad URI is not echoed as a link"
        );
    }
    let hostile = authorize_query(id, &[("redirect_uri", "javascript:alert(1)")]);
    assert!(
        !a_page_not_a_redirect(&app, &hostile)
            .await
            .contains("javascript:")
    );
}

async fn other_authorization_errors_go_back_to_the_client(app: TestApp) {
    let mut reg = web_app(CALLBACK);
    reg.public = true;
    let (client, _) = app.add_client(reg).await;
    let id = client.client_id.as_str();
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("response_type", "token")])).await,
        "unsupported_response_type"
    );
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("response_type", "")])).await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("scope", "openid admin")])).await,
        "invalid_scope"
    );
    assert_eq!(
        redirected_error(
            &app,
            &authorize_query(id, &[("code_challenge", ""), ("code_challenge_method", "")])
        )
        .await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(
            &app,
            &authorize_query(id, &[("code_challenge_method", "plain")])
        )
        .await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("prompt", "none")])).await,
        "login_required"
    );
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("request_uri", "urn:x")])).await,
        "request_uri_not_supported"
    );
    assert_eq!(
        redirected_error(&app, &authorize_query(id, &[("max_age", "soon")])).await,
        "invalid_request"
    );
}

async fn a_request_without_openid_is_plain_oauth_with_no_id_token(app: TestApp) {
    app.add_user("ada").await;
    let mut reg = web_app("http://127.0.0.1:1/cb");
    reg.scopes = vec!["openid".into(), "api:read".into()];
    let (client, secret) = app.add_client(reg).await;
    let secret = secret.expect("secret");
    let rp = Rp::discover(
        &app,
        &client.client_id,
        Some(&secret),
        "http://127.0.0.1:1/cb",
    )
    .await;
    let mut started = rp.start(&[]);
    started.url = started.url.replace("scope=openid", "scope=api%3Aread");
    let callback = app.sign_in(&started.url, "ada", true).await;
    let code = callback_params(&callback)["code"].clone();
    let (_, _, r) = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:1/cb"),
                ("code_verifier", started.verifier.secret()),
            ],
        )
        .await;
    assert_eq!(r["scope"], "api:read", "{r}");
    assert!(r.get("id_token").is_none(), "{r}");
    let (status, _, _) = app
        .userinfo(r["access_token"].as_str().expect("token"))
        .await;
    assert_eq!(status, 403, "no openid scope: insufficient_scope");
}

async fn userinfo_refuses_missing_forged_and_doubled_tokens(app: TestApp) {
    app.add_user("ada").await;
    let (client, secret) = app.add_client(web_app("http://127.0.0.1:1/cb")).await;
    let rp = Rp::discover(
        &app,
        &client.client_id,
        secret.as_deref(),
        "http://127.0.0.1:1/cb",
    )
    .await;
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "email"], "ada")
        .await;
    let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
        .secret()
        .clone();

    let r = app.get("/userinfo").await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "RFC 6750 3.1: {challenge}"
    );
    let body: Value = r.json().await.expect("json");
    insta::assert_json_snapshot!("userinfo_without_a_token", body);
    let mut forged = access.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let id_token = openidconnect::TokenResponse::id_token(&tokens)
        .expect("id token")
        .to_string();
    for bad in [forged.as_str(), "garbage", "a.b.c", id_token.as_str()] {
        let (status, headers, _) = app.userinfo(bad).await;
        assert_eq!(status, 401, "{bad}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .expect("ascii")
                .contains("invalid_token")
        );
    }
    let r = app
        .post_form("/userinfo", &[("access_token", access.as_str())])
        .await;
    assert_eq!(r.status(), 200, "the token in a form body works");
    assert_eq!(
        r.json::<Value>().await.expect("json")["email"],
        "ada@example.com"
    );
    let r = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(&access)
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400, "two ways at once is invalid_request");
    let r = app.get(&format!("/userinfo?access_token={access}")).await;
    assert_eq!(r.status(), 401, "tokens in the URL are not accepted");
}

async fn introspection_needs_a_confidential_client_and_says_little_about_dead_tokens(app: TestApp) {
    app.add_user("ada").await;
    let (client, secret) = app.add_client(web_app("http://127.0.0.1:1/cb")).await;
    let secret = secret.expect("secret");
    let mut spa = web_app("http://localhost:5173/cb");
    spa.public = true;
    let (public, _) = app.add_client(spa).await;
    let (status, _) = app
        .introspect(
            None,
            &[("client_id", public.client_id.as_str()), ("token", "x")],
        )
        .await;
    assert_eq!(status, 401, "a public client may not introspect");
    let auth = Some((client.client_id.as_str(), secret.as_str()));
    let (_, garbage) = app.introspect(auth, &[("token", "garbage")]).await;
    assert_eq!(garbage, serde_json::json!({"active": false}));
    insta::assert_json_snapshot!("introspection_of_a_dead_token", garbage);
    let (status, _) = app.introspect(auth, &[("nothing", "")]).await;
    assert_eq!(status, 400);

    let rp = Rp::discover(
        &app,
        &client.client_id,
        Some(&secret),
        "http://127.0.0.1:1/cb",
    )
    .await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let refresh = openidconnect::OAuth2TokenResponse::refresh_token(&tokens)
        .expect("refresh")
        .secret()
        .clone();
    let (_, own) = app.introspect(auth, &[("token", refresh.as_str())]).await;
    assert_eq!(own["active"], true, "{own}");
    let (other, other_secret) = app.add_client(web_app("http://127.0.0.1:2/cb")).await;
    let other_auth = Some((
        other.client_id.as_str(),
        other_secret.as_deref().expect("secret"),
    ));
    let (_, theirs) = app
        .introspect(other_auth, &[("token", refresh.as_str())])
        .await;
    assert_eq!(
        theirs,
        serde_json::json!({"active": false}),
        "another client's refresh token"
    );
}

async fn cors_answers_only_the_clients_own_origins(app: TestApp) {
    let mut spa = web_app("http://localhost:5173/cb");
    spa.public = true;
    let (client, _) = app.add_client(spa).await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/token"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .expect("options")
        }
    };
    let ok = preflight("http://localhost:5173").await;
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let evil = preflight("https://evil.example").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", "http://localhost:5173")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", "x"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:5173",
        "errors are readable too"
    );
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", "https://evil.example")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", "x"),
        ])
        .send()
        .await
        .expect("post");
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

async fn pages_are_protected_by_csrf_headers_and_cookie_flags(app: TestApp) {
    let r = app.get("/login").await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http issuer: no Secure flag"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    let html = r.text().await.expect("html");
    assert!(
        html.contains(r#"autocomplete="username""#)
            && html.contains(r#"autocomplete="current-password""#)
    );
    assert!(html.contains(r#"<label for="login">"#) && html.contains(r#"<label for="password">"#));
    let csrf = hidden(&html, "csrf").expect("csrf");
    app.add_user("ada").await;
    let without = app
        .post_form(
            "/login",
            &[("login", "ada"), ("password", crate::helpers::PASSWORD)],
        )
        .await;
    assert_eq!(without.status(), 403);
    assert!(
        without
            .text()
            .await
            .expect("html")
            .contains("This form has expired")
    );
    let wrong = app
        .post_form(
            "/login",
            &[
                ("csrf", "forged"),
                ("login", "ada"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    let bad_password = app
        .post_form(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("login", "ada"),
                ("password", "wrong password"),
            ],
        )
        .await;
    let unknown_user = app
        .post_form(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("login", "nobody"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(bad_password.status(), unknown_user.status());
    let (a, b) = (
        bad_password.text().await.expect("html"),
        unknown_user.text().await.expect("html"),
    );
    assert!(a.contains("That username or password is not right"));
    assert_eq!(
        a.replace("nobody", "ada"),
        b.replace("nobody", "ada"),
        "the same page for both"
    );
    let ok = app
        .post_form(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("login", "ADA@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303, "email, any case, signs in");
    assert_eq!(
        ok.headers()["location"],
        "/account",
        "and shows the account page"
    );
}

async fn logout_checks_its_redirect_and_asks_when_the_app_is_not_proven(app: TestApp) {
    let mut reg = web_app(CALLBACK);
    reg.post_logout_redirect_uris = vec!["https://app.example.com/bye".into()];
    let (client, _) = app.add_client(reg).await;
    let q = |uri: &str| {
        format!(
            "/logout?client_id={}&post_logout_redirect_uri={}",
            client.client_id,
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        )
    };
    let r = app.get(&q("https://evil.example/bye")).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let r = app.get("/logout?id_token_hint=not.a.token").await;
    assert_eq!(r.status(), 400);
    let r = app.get(&q("https://app.example.com/bye")).await;
    assert_eq!(r.status(), 200, "no id_token_hint: ask first");
    let html = r.text().await.expect("html");
    assert!(html.contains("Sign out?"));
    let csrf = hidden(&html, "csrf").expect("csrf");
    let forged = app
        .post_form("/logout", &[("confirm", "yes"), ("csrf", "nope")])
        .await;
    assert_eq!(forged.status(), 403);
    let done = app
        .post_form(
            "/logout",
            &[
                ("confirm", "yes"),
                ("csrf", csrf.as_str()),
                ("client_id", client.client_id.as_str()),
                ("post_logout_redirect_uri", "https://app.example.com/bye"),
                ("state", "s1"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()["location"],
        "https://app.example.com/bye?state=s1"
    );
}

async fn a_wrong_method_gets_405_in_the_protocols_format(app: TestApp) {
    let r = app.get("/token").await;
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    let r = app
        .http
        .delete(app.url("/authorize"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 405);
}
