//! The token endpoint's answers to wrong, missing and hostile requests (RFC 6749
//! section 5.2, RFC 7636 section 4.6, RFC 9700).

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

/// A registered confidential client: (client_id, secret).
async fn client(app: &TestApp, grant_types: &[&str]) -> (String, String) {
    let mut reg = web_app(CALLBACK);
    reg.grant_types = grant_types.iter().map(|g| g.to_string()).collect();
    reg.token_endpoint_auth_methods =
        vec!["client_secret_basic".into(), "client_secret_post".into()];
    reg.scopes = vec![
        "openid".into(),
        "profile".into(),
        "email".into(),
        "api:read".into(),
    ];
    let (c, s) = app.add_client(reg).await;
    (c.client_id, s.expect("secret"))
}

fn assert_error(got: &(StatusCode, HeaderMap, Value), status: u16, error: &str) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.2);
    assert_eq!(got.2["error"], error, "{:?}", got.2);
    assert!(got.2["error_description"].is_string());
    assert_eq!(got.1["cache-control"], "no-store");
}

/// A fresh code for `client_id` via the login and consent forms, and its PKCE verifier.
async fn code_for(app: &TestApp, client_id: &str, secret: &str) -> (String, String) {
    let rp = Rp::discover(app, client_id, Some(secret), CALLBACK).await;
    let started = rp.start(&["openid", "email"]);
    let callback = app.sign_in(&started.url, "ada", true).await;
    (
        callback_params(&callback)["code"].clone(),
        started.verifier.secret().clone(),
    )
}

both_backends!(
    malformed_requests_get_rfc_6749_errors,
    failed_client_authentication_is_401_with_a_challenge,
    client_secret_post_works_and_client_credentials_issue_a_token_for_the_client,
    a_reused_code_is_refused_and_revokes_what_it_issued,
    pkce_and_redirect_uri_are_checked,
    a_refresh_may_narrow_the_scope_but_never_widen_it,
    an_expired_code_is_refused,
);

async fn malformed_requests_get_rfc_6749_errors(app: TestApp) {
    let (id, secret) = client(&app, &[]).await;
    let auth = Some((id.as_str(), secret.as_str()));
    let empty = app.post_token(auth, &[]).await;
    assert_error(&empty, 400, "invalid_request");
    insta::assert_json_snapshot!("token_invalid_request", empty.2);
    let password = app
        .post_token(
            auth,
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
        )
        .await;
    assert_error(&password, 400, "unsupported_grant_type");
    insta::assert_json_snapshot!("token_unsupported_grant_type", password.2);
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("grant_type", "refresh_token"),
            ],
        )
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &app.post_token(auth, &[("grant_type", "authorization_code")])
            .await,
        400,
        "invalid_request",
    );
    let unknown_code = app
        .post_token(
            auth,
            &[("grant_type", "authorization_code"), ("code", "nope")],
        )
        .await;
    assert_error(&unknown_code, 400, "invalid_grant");
    insta::assert_json_snapshot!("token_invalid_grant", unknown_code.2);
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &"x".repeat(5000)),
            ],
        )
        .await,
        400,
        "invalid_grant",
    );
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&id, Some(&secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
}

async fn failed_client_authentication_is_401_with_a_challenge(app: TestApp) {
    let (id, secret) = client(&app, &[]).await;
    let form = [("grant_type", "authorization_code"), ("code", "x")];
    for (auth, what) in [
        (None, "no credentials"),
        (Some((id.as_str(), "wrong")), "wrong secret"),
        (Some(("unknown", secret.as_str())), "unknown client"),
    ] {
        let got = app.post_token(auth, &form).await;
        assert_error(&got, 401, "invalid_client");
        assert!(
            got.1["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("Basic"),
            "{what}"
        );
        insta::assert_json_snapshot!(
            format!("token_invalid_client_{}", what.replace(' ', "_")),
            got.2
        );
    }
    let got = app
        .post_token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    assert_error(&got, 401, "invalid_client");
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", "Basic !!!notbase64")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let both = app
        .post_token(
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_error(&both, 400, "invalid_request");
}

async fn client_secret_post_works_and_client_credentials_issue_a_token_for_the_client(
    app: TestApp,
) {
    let (id, secret) = client(&app, &["client_credentials"]).await;
    let got = app
        .post_token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "api:read"),
            ],
        )
        .await;
    assert_eq!(got.0, 200, "{:?}", got.2);
    assert_eq!(got.1["cache-control"], "no-store");
    assert_eq!(got.2["token_type"], "Bearer");
    assert_eq!(got.2["scope"], "api:read");
    assert!(got.2.get("refresh_token").is_none() && got.2.get("id_token").is_none());
    let (_, introspected) = app
        .introspect(
            Some((&id, &secret)),
            &[("token", got.2["access_token"].as_str().expect("token"))],
        )
        .await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], id);
    assert_error(
        &app.post_token(
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await,
        400,
        "invalid_scope",
    );
    let (other, other_secret) = client(&app, &[]).await;
    assert_error(
        &app.post_token(
            Some((&other, &other_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await,
        400,
        "unauthorized_client",
    );
}

async fn a_reused_code_is_refused_and_revokes_what_it_issued(app: TestApp) {
    app.add_user("ada").await;
    let (id, secret) = client(&app, &[]).await;
    let (code, verifier) = code_for(&app, &id, &secret).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let first = app.post_token(Some((&id, &secret)), &form).await;
    assert_eq!(first.0, 200, "{:?}", first.2);
    let access = first.2["access_token"].as_str().expect("access").to_owned();
    assert_eq!(app.userinfo(&access).await.0, 200);
    assert_error(
        &app.post_token(Some((&id, &secret)), &form).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        app.userinfo(&access).await.0,
        401,
        "the first exchange's access token is revoked"
    );
    let refresh = first.2["refresh_token"].as_str().expect("refresh");
    assert_error(
        &app.post_token(
            Some((&id, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        400,
        "invalid_grant",
    );
}

async fn pkce_and_redirect_uri_are_checked(app: TestApp) {
    app.add_user("ada").await;
    let (id, secret) = client(&app, &[]).await;
    let auth = Some((id.as_str(), secret.as_str()));
    let (code, verifier) = code_for(&app, &id, &secret).await;
    let wrong = "x".repeat(43);
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &wrong),
            ],
        )
        .await,
        400,
        "invalid_grant",
    );
    let (code, _) = code_for(&app, &id, &secret).await;
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
        )
        .await,
        400,
        "invalid_request",
    );
    let (code, verifier2) = code_for(&app, &id, &secret).await;
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:1/other"),
                ("code_verifier", &verifier2),
            ],
        )
        .await,
        400,
        "invalid_grant",
    );
    // Another client cannot use this client's code.
    let (code, verifier3) = code_for(&app, &id, &secret).await;
    let (other, other_secret) = client(&app, &[]).await;
    assert_error(
        &app.post_token(
            Some((&other, &other_secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier3),
            ],
        )
        .await,
        400,
        "invalid_grant",
    );
    let _ = verifier;
}

async fn a_refresh_may_narrow_the_scope_but_never_widen_it(app: TestApp) {
    app.add_user("ada").await;
    let (id, secret) = client(&app, &[]).await;
    let auth = Some((id.as_str(), secret.as_str()));
    let (code, verifier) = code_for(&app, &id, &secret).await;
    let first = app
        .post_token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let refresh = first.2["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let access = first.2["access_token"].as_str().expect("access").to_owned();
    assert_error(
        &app.post_token(
            auth,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "openid profile"),
            ],
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_error(
        &app.post_token(
            auth,
            &[("grant_type", "refresh_token"), ("refresh_token", &access)],
        )
        .await,
        400,
        "invalid_grant",
    );
    let narrowed = app
        .post_token(
            auth,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(narrowed.0, 200, "{:?}", narrowed.2);
    assert_eq!(narrowed.2["scope"], "openid");
    // The rotated refresh token keeps the original grant's scope.
    let next = narrowed.2["refresh_token"].as_str().expect("rotated");
    let again = app
        .post_token(
            auth,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", next),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(again.0, 200, "{:?}", again.2);
    let (other, other_secret) = client(&app, &[]).await;
    let stolen = again.2["refresh_token"].as_str().expect("rotated");
    assert_error(
        &app.post_token(
            Some((&other, &other_secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
        )
        .await,
        400,
        "invalid_grant",
    );
}

/// A code lives `tokens.code_ttl` (60 s): one presented a second later is refused.
async fn an_expired_code_is_refused(app: TestApp) {
    app.add_user("ada").await;
    let (id, secret) = client(&app, &[]).await;
    let (code, verifier) = code_for(&app, &id, &secret).await;
    app.clock
        .advance(app.state.config.tokens.code_ttl + std::time::Duration::from_secs(1));
    let got = app
        .post_token(
            Some((&id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_error(&got, 400, "invalid_grant");
}
