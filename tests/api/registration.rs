//! Dynamic client registration (RFC 7591) and client configuration (RFC 7592) at
//! `/oauth/register`, with initial access tokens from the admin API and the CLI.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    admin::Api,
    both_backends,
    helpers::{Backend, TestApp, postgres_available},
    rp::Rp,
};

both_backends!(
    a_client_registered_with_an_api_token_signs_a_person_in_and_manages_itself,
    a_cli_token_registers_a_public_client_up_to_its_uses,
    missing_wrong_expired_and_revoked_tokens_get_invalid_token,
    every_refused_request_gets_its_rfc_7591_error_and_changes_nothing,
);

const CB: &str = "https://app.example/cb";

/// Calls the registration endpoint (or a configuration endpoint, `path`).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn register(app: &TestApp, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let (status, headers, body) =
        call(app, Method::POST, "/oauth/register", token, Some(body)).await;
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{body}"
    );
    (status, body)
}

async fn api_token(api: &Api<'_>, body: Value) -> String {
    let made = api.post("/registration/tokens", body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["token"].as_str().expect("token").to_owned()
}

/// The path of a registration_client_uri.
fn config_path(app: &TestApp, reg: &Value) -> String {
    let uri = reg["registration_client_uri"].as_str().expect("uri");
    uri.strip_prefix(&app.base)
        .expect("under the issuer")
        .to_owned()
}

async fn a_client_registered_with_an_api_token_signs_a_person_in_and_manages_itself(app: TestApp) {
    let api = Api::new(&app).await;
    let token = api_token(&api, json!({"expires_in": 3600, "label": "partner"})).await;
    let (status, reg) = register(
        &app,
        Some(&token),
        json!({
            "redirect_uris": [CB],
            "client_name": "Partner app",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile",
            "contacts": ["dev@app.example"],
            "client_uri": "https://app.example/",
            "made_up_member": "ignored",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["client_name"], "Partner app");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert!(reg.get("made_up_member").is_none(), "{reg}");
    assert!(reg["client_id_issued_at"].is_i64());
    let client_id = reg["client_id"].as_str().expect("id").to_owned();
    let secret = reg["client_secret"].as_str().expect("secret").to_owned();
    let rat = reg["registration_access_token"]
        .as_str()
        .expect("rat")
        .to_owned();
    let path = config_path(&app, &reg);
    assert_eq!(path, format!("/oauth/register/{client_id}"));

    // A real code flow with the registered client.
    app.add_user("alice").await;
    let rp = Rp::discover(&app, &client_id, Some(&secret), CB).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "profile"], "alice")
        .await;
    use openidconnect::OAuth2TokenResponse;
    assert!(!tokens.access_token().secret().is_empty());
    // A scope outside what it registered is refused at /authorize.
    let started = rp.start(&["openid", "email"]);
    let r = app.http.get(&started.url).send().await.expect("authorize");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        location.starts_with(CB) && location.contains("error=invalid_scope"),
        "{location}"
    );

    // RFC 7592: read.
    let (status, _, read) = call(&app, Method::GET, &path, Some(&rat), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["client_name"], "Partner app");
    assert!(read.get("client_secret").is_none());
    // Another client's path with this token: refused like an unknown client.
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/oauth/register/someone-else",
        Some(&rat),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Update: a new registration access token, the old one dead, the secret kept.
    let (status, _, updated) = call(
        &app,
        Method::PUT,
        &path,
        Some(&rat),
        Some(json!({
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": [CB, "https://app.example/cb2"],
            "client_name": "Partner app 2",
            "grant_types": ["authorization_code"],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["client_name"], "Partner app 2");
    assert!(updated.get("client_secret").is_none(), "kept, not reissued");
    let rat2 = updated["registration_access_token"]
        .as_str()
        .expect("new rat")
        .to_owned();
    assert_ne!(rat, rat2);
    let (status, headers, body) = call(&app, Method::GET, &path, Some(&rat), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
    assert!(headers.get("www-authenticate").is_some());
    let stored = app
        .state
        .store
        .clients
        .find_by_client_id(&client_id)
        .await
        .expect("db")
        .expect("client");
    assert_eq!(stored.name, "Partner app 2");
    assert_eq!(stored.redirect_uris.len(), 2);
    // A PUT naming another client_id is refused, and changes nothing.
    let (status, _, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&rat2),
        Some(json!({"client_id": "other", "redirect_uris": [CB]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata");

    // Delete: 204, then the client is gone and its token too.
    let (status, _, _) = call(&app, Method::DELETE, &path, Some(&rat2), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&app, Method::GET, &path, Some(&rat2), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        app.state
            .store
            .clients
            .find_by_client_id(&client_id)
            .await
            .expect("db")
            .is_none()
    );

    // The audit trail has each step.
    let events: Vec<String> = app
        .state
        .audit
        .recent(50)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    for kind in [
        "initial_access_token_created",
        "client_registered",
        "client_registration_updated",
        "client_registration_deleted",
    ] {
        assert!(events.iter().any(|e| e == kind), "{kind} in {events:?}");
    }
}

async fn a_cli_token_registers_a_public_client_up_to_its_uses(app: TestApp) {
    let made = portcullis::commands::client::client_token(
        &app.config(),
        portcullis::oidc::dynamic::TokenRequest {
            expires_in: Duration::from_secs(3600),
            max_uses: Some(1),
            label: "one app".into(),
        },
    )
    .await
    .expect("token");
    let body = json!({
        "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1:7777/cb"],
        "token_endpoint_auth_method": "none",
        "client_name": "Native app",
    });
    let (status, reg) = register(&app, Some(&made.secret), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    assert!(reg.get("client_secret").is_none());
    assert!(reg.get("client_secret_expires_at").is_none());
    // The PKCE code flow of a public client.
    app.add_user("bob").await;
    let rp = Rp::discover(
        &app,
        reg["client_id"].as_str().expect("id"),
        None,
        "http://127.0.0.1:7777/cb",
    )
    .await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "bob").await;
    assert!(tokens.extra_fields().id_token().is_some());
    // Used up.
    let (status, again) = register(&app, Some(&made.secret), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{again}");
    assert_eq!(again["error"], "invalid_token");
}

async fn missing_wrong_expired_and_revoked_tokens_get_invalid_token(app: TestApp) {
    let api = Api::new(&app).await;
    let body = json!({"redirect_uris": [CB]});
    let short = api_token(&api, json!({"expires_in": 60})).await;
    let revoked = api.post("/registration/tokens", json!({})).await;
    let revoked_id = revoked.body["id"].as_str().expect("id").to_owned();
    let revoked = revoked.body["token"].as_str().expect("token").to_owned();
    assert_eq!(
        api.delete(&format!("/registration/tokens/{revoked_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    api.delete("/registration/tokens/nope")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.clock.advance(Duration::from_secs(61));
    for token in [
        None,
        Some("wrong"),
        Some(short.as_str()),
        Some(revoked.as_str()),
    ] {
        let (status, answer) = register(&app, token, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {answer}");
        assert_eq!(answer["error"], "invalid_token");
    }
    // A malformed Authorization header too.
    let r = app
        .http
        .post(app.url("/oauth/register"))
        .header("authorization", "Basic abc")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The list shows their states; an admin API call without a token is refused.
    let list = api.get("/registration/tokens").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let states: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    assert!(
        states.contains(&"revoked") && states.contains(&"expired"),
        "{states:?}"
    );
    assert!(list.body["items"][0].get("token").is_none());
    crate::admin::call(&app, Method::GET, "/registration/tokens", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    for bad in [
        json!({"expires_in": 0}),
        json!({"max_uses": 0}),
        json!({"label": "a\u{0}b"}),
        json!({"expires_in": 99999999}),
    ] {
        let refused = api.post("/registration/tokens", bad.clone()).await;
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.refused_fields().len(), 1, "{bad}");
    }
    api.post("/registration/tokens", json!({"bogus": 1}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}

async fn every_refused_request_gets_its_rfc_7591_error_and_changes_nothing(app: TestApp) {
    let api = Api::new(&app).await;
    let token = api_token(&api, json!({"max_uses": 1})).await;
    let before = app.state.store.clients.count().await.expect("count");
    let cases = [
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["myapp:/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [CB], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "grant_types": ["refresh_token"], "response_types": ["code"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "scope": "openid portcullis:admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "client_name": "Bank\u{0}"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "client_name": "\u{202E}kanb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "logo_uri": "javascript:x"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "jwks": {"keys": []}, "jwks_uri": "https://app.example/j"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "software_statement": "e30.e30.x"}),
            "invalid_software_statement",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let (status, answer) = register(&app, Some(&token), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], code, "{body}: {answer}");
        assert!(answer["error_description"].is_string());
    }
    // Not JSON, and too large.
    let r = app
        .http
        .post(app.url("/oauth/register"))
        .bearer_auth(&token)
        .body("redirect_uris=x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let big = json!({"redirect_uris": [CB], "client_name": "x".repeat(20_000)});
    let (status, answer) = register(&app, Some(&token), big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "invalid_client_metadata");
    let r = app
        .http
        .post(app.url("/oauth/register"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.state.store.clients.count().await.expect("count"),
        before
    );
    // None of the refusals spent the one use.
    let (status, answer) = register(&app, Some(&token), json!({"redirect_uris": [CB]})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn spawn_mode(backend: Backend, mode: &str) -> TestApp {
    TestApp::spawn_with(backend, &format!("[registration]\nmode = \"{mode}\"\n")).await
}

async fn closed_mode_has_no_endpoint_and_open_mode_needs_no_token(backend: Backend) {
    let closed = spawn_mode(backend, "closed").await;
    let (status, doc) = closed.get_json("/.well-known/openid-configuration").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    let (status, _, _) = call(
        &closed,
        Method::POST,
        "/oauth/register",
        None,
        Some(json!({"redirect_uris": [CB]})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&closed, Method::GET, "/oauth/register/x", Some("t"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let open = TestApp::spawn_with(
        backend,
        "[registration]\nmode = \"open\"\nclient_secret_lifetime = \"1h\"\n",
    )
    .await;
    let (_, doc) = open.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/oauth/register", open.base)
    );
    let (status, reg) = register(&open, None, json!({"redirect_uris": [CB]})).await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["client_name"], "app.example");
    // Its secret works until client_secret_expires_at, then not.
    let issued = reg["client_id_issued_at"].as_i64().expect("issued");
    assert_eq!(
        reg["client_secret_expires_at"].as_i64(),
        Some(issued + 3600)
    );
    let id = reg["client_id"].as_str().expect("id");
    let secret = reg["client_secret"].as_str().expect("secret");
    let form = [("token", "anything")];
    assert_eq!(open.revoke(Some((id, secret)), &form).await, StatusCode::OK);
    open.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        open.revoke(Some((id, secret)), &form).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_open_modes_sqlite() {
    closed_mode_has_no_endpoint_and_open_mode_needs_no_token(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_open_modes_postgres() {
    if postgres_available() {
        closed_mode_has_no_endpoint_and_open_mode_needs_no_token(Backend::Postgres).await;
    }
}
