//! The review's protocol fixes at the endpoints: who may introspect a token (RFC 7662
//! section 4), the userinfo endpoint's audience (RFC 9068 section 4), client
//! authentication only by the registered method (RFC 7591 section 2), CORS on errors,
//! and signing keys sealed at start once an encryption key is set.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use josekit::jwt::JwtPayload;
use portcullis::oidc::clients::ClientRegistration;
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Map, Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, postgres_available, web_app},
    rp::Rp,
};

const CALLBACK: &str = "http://127.0.0.1:1/cb";

/// What a signed-in person's app holds: its credentials and the person's tokens.
struct SignedIn {
    client_id: String,
    secret: String,
    access: String,
    refresh: String,
}

impl SignedIn {
    fn auth(&self) -> Option<(&str, &str)> {
        Some((self.client_id.as_str(), self.secret.as_str()))
    }
}

/// Registers a web app and signs `username` in at it with the openid and email scopes.
async fn signed_in(app: &TestApp, username: &str) -> SignedIn {
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let secret = secret.expect("secret");
    let rp = Rp::discover(app, &client.client_id, Some(&secret), CALLBACK).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(app, &["openid", "email"], username)
        .await;
    SignedIn {
        client_id: client.client_id,
        secret,
        access: openidconnect::OAuth2TokenResponse::access_token(&tokens)
            .secret()
            .clone(),
        refresh: openidconnect::OAuth2TokenResponse::refresh_token(&tokens)
            .expect("refresh token")
            .secret()
            .clone(),
    }
}

/// A confidential client_credentials-only client: (client_id, secret).
async fn machine(app: &TestApp, methods: &[&str], audiences: &[&str]) -> (String, String) {
    let (client, secret) = app
        .add_client(ClientRegistration {
            name: "Machine".into(),
            grant_types: vec!["client_credentials".into()],
            token_endpoint_auth_methods: methods.iter().map(|m| m.to_string()).collect(),
            resource_audiences: audiences.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        })
        .await;
    (client.client_id, secret.expect("secret"))
}

/// The claims of a JWT, read without checking it.
fn claims_of(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

/// `claims` signed as an access token with the server's own signing key.
fn signed_access_token(app: &TestApp, claims: Map<String, Value>) -> String {
    let payload = JwtPayload::from_map(claims).expect("payload");
    app.state.keys.sign(&payload, "at+jwt").expect("sign")
}

fn assert_invalid_token(got: &(StatusCode, HeaderMap, Value), what: &str) {
    assert_eq!(got.0, 401, "{what}: {:?}", got.2);
    let challenge = got.1["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
}

fn assert_invalid_client(got: &(StatusCode, HeaderMap, Value), what: &str) {
    assert_eq!(got.0, 401, "{what}: {:?}", got.2);
    assert_eq!(got.2["error"], "invalid_client", "{what}");
}

both_backends!(
    a_client_credentials_client_cannot_introspect_another_clients_token,
    a_disabled_persons_tokens_introspect_as_inactive_and_userinfo_refuses_them,
    userinfo_refuses_a_live_token_whose_audience_is_not_the_issuer,
    a_client_authenticates_only_by_the_methods_it_registered,
    cors_headers_come_on_errors_for_registered_origins_only,
    keys_stored_in_the_clear_are_sealed_when_an_encryption_key_is_set,
);

async fn a_client_credentials_client_cannot_introspect_another_clients_token(app: TestApp) {
    app.add_user("ada").await;
    let web = signed_in(&app, "ada").await;
    let (worker, worker_secret) = machine(&app, &[], &[]).await;
    let worker_auth = Some((worker.as_str(), worker_secret.as_str()));
    let audience = app.state.config.tokens.access_token_audience.clone();
    assert_eq!(audience, app.base, "the issuer by default");
    let (api, api_secret) = machine(&app, &[], &[&audience]).await;
    let api_auth = Some((api.as_str(), api_secret.as_str()));
    let (other_api, other_secret) = machine(&app, &[], &["https://elsewhere.example"]).await;
    let other_auth = Some((other_api.as_str(), other_secret.as_str()));
    let access = [("token", web.access.as_str())];
    let refresh = [("token", web.refresh.as_str())];

    let (status, theirs) = app.introspect(worker_auth, &access).await;
    assert_eq!(status, 200);
    assert_eq!(theirs, json!({"active": false}), "another client's token");
    let (_, own) = app.introspect(web.auth(), &access).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["client_id"], web.client_id.as_str());
    let (_, served) = app.introspect(api_auth, &access).await;
    assert_eq!(
        served["active"], true,
        "a resource server for its aud: {served}"
    );
    assert_eq!(served["aud"], audience.as_str());
    let (_, elsewhere) = app.introspect(other_auth, &access).await;
    assert_eq!(
        elsewhere,
        json!({"active": false}),
        "a resource server for another audience"
    );
    let (_, refresh_at_api) = app.introspect(api_auth, &refresh).await;
    assert_eq!(
        refresh_at_api,
        json!({"active": false}),
        "a refresh token is its own client's only"
    );

    let got = app
        .post_token(worker_auth, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(got.0, 200, "{:?}", got.2);
    let machine_token = [("token", got.2["access_token"].as_str().expect("token"))];
    let (_, mine) = app.introspect(worker_auth, &machine_token).await;
    assert_eq!(mine["active"], true, "its own token: {mine}");
    assert_eq!(mine["sub"], worker.as_str());
    let (_, by_web) = app.introspect(web.auth(), &machine_token).await;
    assert_eq!(by_web, json!({"active": false}));
    let (_, by_api) = app.introspect(api_auth, &machine_token).await;
    assert_eq!(by_api["active"], true, "{by_api}");
}

async fn a_disabled_persons_tokens_introspect_as_inactive_and_userinfo_refuses_them(app: TestApp) {
    let ada = app.add_user("ada").await;
    let web = signed_in(&app, "ada").await;
    let audience = app.state.config.tokens.access_token_audience.clone();
    let (api, api_secret) = machine(&app, &[], &[&audience]).await;
    let api_auth = Some((api.as_str(), api_secret.as_str()));
    let access = [("token", web.access.as_str())];
    let refresh = [("token", web.refresh.as_str())];
    assert_eq!(app.introspect(web.auth(), &access).await.1["active"], true);
    assert_eq!(app.introspect(web.auth(), &refresh).await.1["active"], true);
    assert_eq!(app.userinfo(&web.access).await.0, 200);
    let set_disabled = |disabled: bool| {
        let users = app.state.store.users.clone();
        let now = app.clock.now();
        async move {
            users
                .set_disabled(ada.id, disabled, now)
                .await
                .expect("set")
        }
    };

    set_disabled(true).await;
    let inactive = json!({"active": false});
    assert_eq!(app.introspect(web.auth(), &access).await.1, inactive);
    assert_eq!(app.introspect(web.auth(), &refresh).await.1, inactive);
    assert_eq!(app.introspect(api_auth, &access).await.1, inactive);
    assert_invalid_token(&app.userinfo(&web.access).await, "a disabled person");
    set_disabled(false).await;
    assert_eq!(
        app.introspect(web.auth(), &access).await.1["active"],
        true,
        "enabled again: inactive was the person, not a revocation"
    );
    set_disabled(true).await;
    let refreshed = app
        .post_token(
            web.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &web.refresh),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 400, "{:?}", refreshed.2);
    assert_eq!(refreshed.2["error"], "invalid_grant");
    // The refusal did not spend the refresh token: enabled again, it still works once.
    set_disabled(false).await;
    let again = app
        .post_token(
            web.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &web.refresh),
            ],
        )
        .await;
    assert_eq!(again.0, 200, "{:?}", again.2);
}

async fn userinfo_refuses_a_live_token_whose_audience_is_not_the_issuer(app: TestApp) {
    app.add_user("ada").await;
    let web = signed_in(&app, "ada").await;
    let claims = claims_of(&web.access);
    assert_eq!(claims["aud"], app.base.as_str());
    let (status, _, body) = app.userinfo(&web.access).await;
    assert_eq!(status, 200, "{body}");
    let resigned = signed_access_token(&app, claims.clone());
    assert_eq!(
        app.userinfo(&resigned).await.0,
        200,
        "the same claims re-signed are the same live token"
    );
    let with_aud = |aud: Option<Value>| {
        let mut c = claims.clone();
        match aud {
            Some(aud) => c.insert("aud".into(), aud),
            None => c.remove("aud"),
        };
        signed_access_token(&app, c)
    };
    for (aud, what) in [
        (Some(json!("https://elsewhere.example")), "another audience"),
        (
            Some(json!(["https://elsewhere.example"])),
            "a list without it",
        ),
        (Some(json!([])), "an empty list"),
        (
            Some(json!(format!("{}/", app.base))),
            "not exactly the issuer",
        ),
        (None, "no audience"),
    ] {
        assert_invalid_token(&app.userinfo(&with_aud(aud)).await, what);
    }
    let both = with_aud(Some(json!(["https://elsewhere.example", app.base])));
    assert_eq!(app.userinfo(&both).await.0, 200, "a list naming the issuer");
}

async fn a_configured_access_token_audience_still_reaches_userinfo(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[tokens]\naccess_token_audience = \"https://api.example\"",
    )
    .await;
    app.add_user("ada").await;
    let web = signed_in(&app, "ada").await;
    assert_eq!(
        claims_of(&web.access)["aud"],
        json!(["https://api.example", app.base])
    );
    let (status, _, body) = app.userinfo(&web.access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "ada@example.com");
    let (api, api_secret) = machine(&app, &[], &["https://api.example"]).await;
    let (_, served) = app
        .introspect(Some((&api, &api_secret)), &[("token", web.access.as_str())])
        .await;
    assert_eq!(served["active"], true, "{served}");
    let (worker, worker_secret) = machine(&app, &[], &[]).await;
    let got = app
        .post_token(
            Some((&worker, &worker_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(got.0, 200, "{:?}", got.2);
    let machine_token = got.2["access_token"].as_str().expect("token");
    assert_eq!(
        claims_of(machine_token)["aud"],
        "https://api.example",
        "no openid scope: the API alone"
    );
    assert_invalid_token(
        &app.userinfo(machine_token).await,
        "a token for the API only",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_access_token_audience_still_reaches_userinfo_on_sqlite() {
    a_configured_access_token_audience_still_reaches_userinfo(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_access_token_audience_still_reaches_userinfo_on_postgres() {
    if postgres_available() {
        a_configured_access_token_audience_still_reaches_userinfo(Backend::Postgres).await;
    }
}

/// A client_credentials request authenticated with HTTP Basic.
async fn by_basic(app: &TestApp, id: &str, secret: &str) -> (StatusCode, HeaderMap, Value) {
    app.post_token(Some((id, secret)), &[("grant_type", "client_credentials")])
        .await
}

/// A client_credentials request authenticated with the secret in the form.
async fn by_post(app: &TestApp, id: &str, secret: &str) -> (StatusCode, HeaderMap, Value) {
    app.post_token(
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await
}

async fn a_client_authenticates_only_by_the_methods_it_registered(app: TestApp) {
    let (basic_only, s) = machine(&app, &[], &[]).await;
    assert_eq!(by_basic(&app, &basic_only, &s).await.0, 200);
    assert_invalid_client(
        &by_post(&app, &basic_only, &s).await,
        "the default is client_secret_basic only",
    );
    let (status, _) = app
        .introspect(
            None,
            &[
                ("client_id", &basic_only),
                ("client_secret", &s),
                ("token", "x"),
            ],
        )
        .await;
    assert_eq!(status, 401, "the same at the introspection endpoint");

    let (post_only, s) = machine(&app, &["client_secret_post"], &[]).await;
    assert_eq!(by_post(&app, &post_only, &s).await.0, 200);
    assert_invalid_client(
        &by_basic(&app, &post_only, &s).await,
        "client_secret_post only",
    );

    let (both, s) = machine(&app, &["client_secret_basic", "client_secret_post"], &[]).await;
    assert_eq!(by_basic(&app, &both, &s).await.0, 200);
    assert_eq!(by_post(&app, &both, &s).await.0, 200);

    let refused = |public: bool, methods: &[&str]| {
        let config = app.config();
        let registration = ClientRegistration {
            name: "Refused".into(),
            redirect_uris: vec![CALLBACK.into()],
            public,
            token_endpoint_auth_methods: methods.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        };
        async move { portcullis::commands::client_add(&config, registration).await }
    };
    for (public, methods) in [
        (false, &["none"][..]),
        (false, &["client_secret_basic", "none"][..]),
        (true, &["client_secret_basic"][..]),
        (true, &["client_secret_post"][..]),
        (true, &["none", "client_secret_post"][..]),
        (false, &["private_key_jwt"][..]),
    ] {
        assert!(
            refused(public, methods).await.is_err(),
            "public={public} {methods:?} is refused"
        );
    }
    assert!(refused(true, &["none"]).await.is_ok());
}

async fn cors_headers_come_on_errors_for_registered_origins_only(app: TestApp) {
    const ORIGIN: &str = "http://localhost:5173";
    const EVIL: &str = "https://evil.example";
    let (client, secret) = app.add_client(web_app("http://localhost:5173/cb")).await;
    let secret = secret.expect("secret");
    let send = |method: reqwest::Method, path: &str, origin: &str| {
        app.http
            .request(method, app.url(path))
            .header("origin", origin)
    };
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let exposes_challenge = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|h| h.trim().eq_ignore_ascii_case("www-authenticate"))
            })
    };

    for origin in [ORIGIN, EVIL] {
        let registered = origin == ORIGIN;
        let token = send(reqwest::Method::POST, "/token", origin)
            .basic_auth(&client.client_id, Some("wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .await
            .expect("token");
        assert_eq!(token.status(), 401, "{origin}");
        assert!(token.headers().contains_key("www-authenticate"));
        let userinfo = send(reqwest::Method::GET, "/userinfo", origin)
            .bearer_auth("not-a-token")
            .send()
            .await
            .expect("userinfo");
        assert_eq!(userinfo.status(), 401, "{origin}");
        let revoke = send(reqwest::Method::POST, "/revoke", origin)
            .basic_auth("unknown-client", Some(&secret))
            .form(&[("token", "x")])
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoke.status(), 401, "{origin}");
        for (what, r) in [
            ("token", &token),
            ("userinfo", &userinfo),
            ("revoke", &revoke),
        ] {
            assert_eq!(r.headers()["vary"], "Origin", "{what}");
            if registered {
                assert_eq!(allowed(r).as_deref(), Some(ORIGIN), "{what}");
                assert!(exposes_challenge(r), "{what} exposes WWW-Authenticate");
            } else {
                assert_eq!(allowed(r), None, "{what} from {origin}");
            }
        }
        let preflight = send(reqwest::Method::OPTIONS, "/token", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .expect("options");
        assert_eq!(preflight.status(), 204, "{origin}");
        if registered {
            assert_eq!(allowed(&preflight).as_deref(), Some(ORIGIN));
            assert!(
                preflight
                    .headers()
                    .contains_key("access-control-allow-methods")
            );
        } else {
            assert_eq!(allowed(&preflight), None);
            assert!(
                !preflight
                    .headers()
                    .contains_key("access-control-allow-methods")
            );
        }
    }
}

async fn keys_stored_in_the_clear_are_sealed_when_an_encryption_key_is_set(app: TestApp) {
    let stored = |app: &TestApp| {
        let keys = app.state.store.keys.clone();
        let now = app.clock.now();
        async move { keys.published(now).await.expect("keys") }
    };
    let clear = stored(&app).await;
    assert!(!clear.is_empty());
    for key in &clear {
        assert!(
            key.private_key.expose().contains("PRIVATE KEY"),
            "no encryption key: stored in the clear"
        );
    }
    let mut config = app.config();
    config.keys.encryption_key = Some(portcullis::config::EncryptionKey([7; 32]));
    let sealed_state = portcullis::AppState::with_db(
        config.clone(),
        app.state.store.db.clone(),
        app.clock.clone(),
    )
    .await
    .expect("starts with the key");
    let sealed = stored(&app).await;
    assert_eq!(
        sealed.iter().map(|k| &k.kid).collect::<Vec<_>>(),
        clear.iter().map(|k| &k.kid).collect::<Vec<_>>()
    );
    for key in &sealed {
        let text = key.private_key.expose();
        assert!(text.starts_with("aes256gcm:"), "{} sealed", key.kid);
        assert!(!text.contains("PRIVATE KEY"));
    }
    assert_eq!(sealed_state.keys.signing_kid(), clear[0].kid);
    let mut payload = JwtPayload::new();
    payload.set_subject("sealed");
    let token = sealed_state.keys.sign(&payload, "JWT").expect("signs");
    assert!(sealed_state.keys.verify(&token).await.is_ok());
    assert!(
        app.state.keys.verify(&token).await.is_ok(),
        "the same key as before it was sealed"
    );

    let again =
        portcullis::AppState::with_db(config, app.state.store.db.clone(), app.clock.clone())
            .await
            .expect("starts again");
    let resealed = stored(&app).await;
    for (before, after) in sealed.iter().zip(&resealed) {
        assert_eq!(
            before.private_key.expose(),
            after.private_key.expose(),
            "a sealed key is not sealed twice"
        );
    }
    assert!(again.keys.verify(&token).await.is_ok());
}
