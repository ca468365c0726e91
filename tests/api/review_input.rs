//! The review's input fixes: HTTP Basic credentials decoded exactly (RFC 6749 section
//! 2.3.1), control characters refused at the edge with the same answer on both engines,
//! and usernames and email addresses unique by their Unicode keys.

use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis::{accounts::AccountError, commands::CommandError, crypto::Secret};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "http://127.0.0.1:1/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// NUL, another C0 control, a tab and DEL: each refused the same way.
const CONTROLS: [&str; 4] = ["%00", "%01", "%09", "%7F"];

/// A confidential client_credentials client registered for client_secret_basic.
async fn machine(app: &TestApp) -> (String, String) {
    let (client, secret) = app
        .add_client(portcullis::oidc::clients::ClientRegistration {
            name: "Machine".into(),
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    (client.client_id, secret.expect("secret"))
}

/// A client_credentials request with `authorization` as the whole Authorization header.
async fn token_with(app: &TestApp, authorization: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", authorization)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn basic(decoded: &str) -> String {
    format!("Basic {}", STANDARD.encode(decoded))
}

/// Every byte of `text` as `%XX`, upper or lower case hex.
fn escaped(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// Posts `body` as it is, declared a form.
async fn post_raw(
    app: &TestApp,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.expect("post")
}

/// Asserts `r` is the error page for people: 400 HTML, no redirect.
async fn assert_page(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    assert!(r.headers().get("location").is_none(), "{what}");
    let content_type = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    let html = r.text().await.expect("html");
    assert!(
        html.contains("characters that are not allowed"),
        "{what}: {html}"
    );
}

/// Asserts `r` is an RFC 6749 `invalid_request` in JSON.
async fn assert_invalid_request(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
}

both_backends!(
    basic_credentials_are_decoded_exactly_or_refused,
    control_characters_get_a_400_in_the_endpoints_own_format,
    usernames_and_emails_are_unique_and_found_by_their_unicode_keys,
);

async fn basic_credentials_are_decoded_exactly_or_refused(app: TestApp) {
    let (id, secret) = machine(&app).await;
    let (status, body) = token_with(&app, &basic(&format!("{id}:{secret}"))).await;
    assert_eq!(status, 200, "{body}");
    for (upper, case) in [(true, "upper"), (false, "lower")] {
        let every = format!("{}:{}", escaped(&id, upper), escaped(&secret, upper));
        let (status, body) = token_with(&app, &basic(&every)).await;
        assert_eq!(
            status, 200,
            "every character %-escaped, {case} case: {body}"
        );
    }
    let (head, tail) = secret.split_at(10);
    for (decoded, what) in [
        (format!("{id}:{head}&{tail}"), "a raw & inside the secret"),
        (
            format!("{id}:{secret}&x"),
            "the secret and a raw & after it",
        ),
        (format!("{id}:{secret}=x"), "a raw = after the secret"),
        (format!("{id}&x:{secret}"), "a raw & after the id"),
        (format!("{id}:{secret}%"), "a bare %"),
        (format!("{id}:{secret}%4"), "a % and one hex digit"),
        (format!("{id}:%zz{secret}"), "a % and no hex digits"),
        (format!("{id}:{secret}%C3"), "an escape that is not UTF-8"),
        (format!("{id}:{secret}\0"), "a raw NUL in the secret"),
        (format!("{id}\0:{secret}"), "a raw NUL in the id"),
        (format!("{id}:{secret}%00"), "an escaped NUL"),
        (format!("{id}:{secret}\t"), "a raw tab"),
        (format!("{id}{secret}"), "no colon"),
    ] {
        let (status, body) = token_with(&app, &basic(&decoded)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }
}

async fn control_characters_get_a_400_in_the_endpoints_own_format(app: TestApp) {
    app.add_user("ada").await;
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let secret = secret.expect("secret");
    let auth = Some((client.client_id.as_str(), secret.as_str()));
    let id = client.client_id.as_str();
    let valid = format!(
        "client_id={id}&redirect_uri={}&response_type=code&scope=openid&state=s\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    );

    for c in CONTROLS {
        for query in [
            format!("client_id={c}"),
            format!("client_id=a{c}b"),
            format!("{valid}&state=x{c}"),
            format!("{valid}&x{c}=1"),
        ] {
            assert_page(app.get(&format!("/authorize?{query}")).await, &query).await;
            assert_page(post_raw(&app, "/authorize", None, &query).await, &query).await;
        }
        let logout = format!("client_id={c}");
        assert_page(app.get(&format!("/logout?{logout}")).await, "GET /logout").await;
        assert_page(
            post_raw(&app, "/logout", None, &logout).await,
            "POST /logout",
        )
        .await;

        let what = format!("POST /token client_id={c}");
        assert_invalid_request(
            post_raw(
                &app,
                "/token",
                None,
                &format!("grant_type=client_credentials&client_id={c}"),
            )
            .await,
            &what,
        )
        .await;
        for field in [
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "client_id",
            "client_secret",
            "scope",
            "refresh_token",
            "unknown",
        ] {
            let body = format!("grant_type=authorization_code&code=x&{field}=a{c}b");
            assert_invalid_request(post_raw(&app, "/token", auth, &body).await, &body).await;
        }
        let body = format!("grant_type=client_credentials&a{c}=1");
        assert_invalid_request(post_raw(&app, "/token", auth, &body).await, &body).await;
        for path in ["/revoke", "/introspect"] {
            let body = format!("token={c}");
            assert_invalid_request(post_raw(&app, path, auth, &body).await, path).await;
        }
    }

    let r = app.get("/login").await;
    assert_eq!(r.status(), 200);
    let csrf = hidden(&r.text().await.expect("html"), "csrf").expect("csrf");
    for c in ["%00", "%09"] {
        let body = format!(
            "csrf={}&login=ada{c}&password={}",
            url::form_urlencoded::byte_serialize(csrf.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>(),
        );
        assert_page(post_raw(&app, "/login", None, &body).await, "POST /login").await;
    }

    let rp = Rp::discover(&app, id, Some(&secret), CALLBACK).await;
    let started = rp.start(&["openid"]);
    let callback = app.sign_in(&started.url, "ada", true).await;
    assert!(callback_params(&callback).contains_key("code"), "signed in");
    for c in ["%00", "%09"] {
        let query = format!("{valid}&nonce=n{c}");
        assert_page(app.get(&format!("/authorize?{query}")).await, &query).await;
    }
    let r = app.get(&format!("/authorize?{valid}&nonce=n")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().expect("ascii");
    assert!(
        callback_params(location).contains_key("code"),
        "the same request with a plain nonce gets a code: {location}"
    );
}

async fn usernames_and_emails_are_unique_and_found_by_their_unicode_keys(app: TestApp) {
    let add = |username: &str, email: &str| {
        let (config, username, email) = (app.config(), username.to_owned(), email.to_owned());
        async move {
            portcullis::commands::user_add(&config, &username, &email, Secret::new(PASSWORD), &[])
                .await
        }
    };
    let taken = |result: Result<_, CommandError>, what: &str| match result {
        Err(CommandError::Account(AccountError::Taken(field))) => field == what,
        _ => false,
    };
    let arger = add("Ärger", "arger@example.com").await.expect("Ärger");
    assert!(
        taken(add("ärger", "other@example.com").await, "username"),
        "Ärger and ärger are one username"
    );
    assert!(
        taken(add("ÄRGER", "third@example.com").await, "username"),
        "ÄRGER too"
    );
    add("\u{e9}lodie", "elodie@example.com")
        .await
        .expect("élodie");
    assert!(
        taken(
            add("e\u{301}lodie", "elodie2@example.com").await,
            "username"
        ),
        "composed and decomposed é are one username"
    );
    let uni = add("uni", "ünï@example.test").await.expect("uni");
    assert!(
        taken(add("someone", "ÜNÏ@EXAMPLE.TEST").await, "email"),
        "an email in other case is taken"
    );

    let accounts = &app.state.accounts;
    let found = |login: &str| {
        let (accounts, login) = (accounts.clone(), login.to_owned());
        async move {
            accounts
                .find_by_login(&login)
                .await
                .expect("find")
                .map(|u| u.id)
        }
    };
    assert_eq!(found("ärger").await, Some(arger.id));
    assert_eq!(found("ARGER@EXAMPLE.COM").await, Some(arger.id));
    assert_eq!(found("ÜNÏ@EXAMPLE.TEST").await, Some(uni.id));
    assert_eq!(
        found("üni@example.test").await,
        None,
        "a near miss finds no one"
    );

    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let started = rp.start(&["openid"]);
    let callback = app.sign_in(&started.url, "ÜNÏ@EXAMPLE.TEST", true).await;
    let code = callback_params(&callback)["code"].clone();
    let tokens = rp
        .exchange(&code, started.verifier)
        .await
        .expect("exchange");
    let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
        .secret()
        .clone();
    let (status, _, body) = app.userinfo(&access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], uni.id.to_string(), "signed in as uni");
}
