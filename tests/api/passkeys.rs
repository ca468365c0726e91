//! Passkeys over HTTP and in the store, on both engines: the passkeys table, the
//! ceremony endpoints' refusals (JSON, 4xx, nothing written), the account page's
//! rename and remove forms, and the script and its CSP. The ceremonies themselves,
//! with a virtual authenticator, are in `browser/passkeys.rs`.

use std::time::Duration;

use portcullis::storage::{NewPasskey, StorageError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, hidden, postgres_available};

/// Runs `$name(app)` on both engines, with the issuer at `localhost` so that the
/// server offers passkeys.
macro_rules! both_on_localhost {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(TestApp::spawn_at(Backend::Sqlite, "localhost", "").await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !postgres_available() {
                    return;
                }
                super::$name(TestApp::spawn_at(Backend::Postgres, "localhost", "").await).await;
            }
        }
    )+};
}

both_on_localhost!(
    passkeys_are_stored_per_person_and_a_credential_belongs_to_one,
    the_ceremony_endpoints_refuse_in_json_and_a_finish_is_single_use,
    registration_needs_a_recent_sign_in_and_a_sensible_name,
    passkeys_are_renamed_and_removed_only_by_their_owner,
    the_script_is_ours_and_the_pages_allow_only_our_scripts,
);

crate::both_backends!(an_ip_address_issuer_offers_no_passkeys);

fn now() -> i64 {
    portcullis::clock::Clock::system().now()
}

/// A stored credential the store does not look inside.
fn fake(user: uuid::Uuid, credential_id: &str) -> (uuid::Uuid, String) {
    (user, credential_id.to_owned())
}

async fn add_passkey(
    app: &TestApp,
    user: uuid::Uuid,
    credential_id: &str,
    name: &str,
) -> uuid::Uuid {
    let (user_id, credential_id) = fake(user, credential_id);
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    let id = app
        .state
        .store
        .passkeys
        .insert_in(
            &mut tx,
            &NewPasskey {
                user_id,
                credential_id: &credential_id,
                name,
                credential: "{}",
            },
            now(),
        )
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    id
}

async fn passkeys_are_stored_per_person_and_a_credential_belongs_to_one(app: TestApp) {
    let ada = app.add_user("ada").await;
    let bob = app.add_user("bob").await;
    let store = &app.state.store.passkeys;
    assert_eq!(store.count_for_user(ada.id).await.expect("count"), 0);
    assert!(
        !app.state
            .accounts
            .second_factors(ada.id)
            .await
            .expect("methods")
            .any()
    );

    let first = add_passkey(&app, ada.id, "cred-1", "Laptop").await;
    let second = add_passkey(&app, ada.id, "cred-2", "Phone").await;
    let methods = app
        .state
        .accounts
        .second_factors(ada.id)
        .await
        .expect("methods");
    assert_eq!(methods.passkeys, 2);
    assert!(
        methods.any(),
        "a person with only passkeys has a second factor"
    );

    // One credential id, one owner: bob cannot register ada's authenticator's id.
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    let again = store
        .insert_in(
            &mut tx,
            &NewPasskey {
                user_id: bob.id,
                credential_id: "cred-1",
                name: "Stolen",
                credential: "{}",
            },
            now(),
        )
        .await;
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    drop(tx);
    assert_eq!(store.count_for_user(bob.id).await.expect("count"), 0);

    let listed = store.list_for_user(ada.id).await.expect("list");
    let names: Vec<_> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Laptop") && names.contains(&"Phone"));
    let found = store
        .find_by_credential_id("cred-2")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(
        (found.id, found.user_id, found.last_used_at),
        (second, ada.id, None)
    );
    assert!(
        store
            .find_by_credential_id("nope")
            .await
            .expect("find")
            .is_none()
    );

    // Only the owner renames or removes; a use updates the credential and the time.
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    assert!(
        !store
            .rename_in(&mut tx, bob.id, first, "Mine")
            .await
            .expect("rename")
    );
    assert!(
        store
            .rename_in(&mut tx, ada.id, first, "Work laptop")
            .await
            .expect("rename")
    );
    assert!(
        store
            .record_use_in(&mut tx, first, "{\"used\":1}", 1234)
            .await
            .expect("use")
    );
    assert_eq!(
        store
            .delete_in(&mut tx, bob.id, second)
            .await
            .expect("delete"),
        None
    );
    assert_eq!(
        store
            .delete_in(&mut tx, ada.id, second)
            .await
            .expect("delete")
            .as_deref(),
        Some("Phone")
    );
    assert!(
        !store
            .record_use_in(&mut tx, second, "{}", 1235)
            .await
            .expect("use"),
        "removed"
    );
    tx.commit().await.expect("commit");
    let left = store.list_for_user(ada.id).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "Work laptop");
    assert_eq!(left[0].credential, "{\"used\":1}");
    assert_eq!(left[0].last_used_at, Some(1234));

    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    assert_eq!(
        store
            .delete_all_for_user_in(&mut tx, ada.id)
            .await
            .expect("all"),
        1
    );
    tx.commit().await.expect("commit");
    assert!(
        !app.state
            .accounts
            .second_factors(ada.id)
            .await
            .expect("methods")
            .any()
    );
}

/// The CSRF token of a fresh `GET /login` in this cookie jar.
async fn login_csrf(app: &TestApp) -> String {
    let html = app.get("/login").await.text().await.expect("html");
    hidden(&html, "csrf").expect("csrf")
}

async fn sign_in(app: &TestApp, login: &str) -> String {
    let csrf = login_csrf(app).await;
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{login} signs in");
    csrf
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("post");
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = r.json().await.unwrap_or(Value::Null);
    assert!(
        kind.starts_with("application/json"),
        "{path} answered {status} as {kind}"
    );
    (status, body)
}

/// Asserts a JSON refusal with `status` and `error`, whose message is for a person.
fn refused(answer: &(StatusCode, Value), status: StatusCode, error: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], error, "{}", answer.1);
    let message = answer.1["message"].as_str().expect("a message");
    assert!(message.ends_with('.') && message.len() > 20, "{message}");
}

async fn the_ceremony_endpoints_refuse_in_json_and_a_finish_is_single_use(app: TestApp) {
    // No CSRF token, or the wrong one.
    let csrf = login_csrf(&app).await;
    for body in [json!({}), json!({"csrf": "wrong"})] {
        let answer = post_json(&app, "/login/passkey/begin", &body).await;
        refused(&answer, StatusCode::FORBIDDEN, "csrf");
    }
    // Not JSON at all, or JSON of the wrong shape: a JSON 400, never a 500.
    for raw in ["not json", "{\"csrf\": 5}", "[]", "{\"csrf\": \"\u{0}\"}"] {
        let r = app
            .http
            .post(app.url("/login/passkey/begin"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("post");
        assert!(r.status().is_client_error(), "{raw}: {}", r.status());
        let body: Value = r.json().await.expect("json");
        assert!(body["message"].is_string(), "{raw}: {body}");
    }
    let r = app
        .http
        .post(app.url("/login/passkey/begin"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no content type");

    // Finishing what was never begun.
    let answer = post_json(
        &app,
        "/login/passkey/finish",
        &json!({"csrf": csrf, "credential": {}}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "no_ceremony");
    assert!(
        answer.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("password"),
        "offers the password"
    );

    // A passwordless begin: a challenge, no credentials named (discoverable), a modal.
    let (status, options) = post_json(&app, "/login/passkey/begin", &json!({"csrf": csrf})).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let pk = &options["publicKey"];
    assert!(
        pk["challenge"].as_str().is_some_and(|c| c.len() >= 43),
        "{options}"
    );
    assert_eq!(pk["rpId"], "localhost");
    assert_eq!(pk["userVerification"], "required");
    assert!(
        pk["allowCredentials"].as_array().is_none_or(Vec::is_empty),
        "{options}"
    );
    assert!(
        options.get("mediation").is_none_or(Value::is_null),
        "{options}"
    );

    // A made-up answer spends the ceremony, and the same answer again finds nothing.
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": "AAAA"},
    });
    let answer = post_json(
        &app,
        "/login/passkey/finish",
        &json!({"csrf": csrf, "credential": forged}),
    )
    .await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    assert!(
        ["unknown_passkey", "failed"].contains(&answer.1["error"].as_str().unwrap_or_default()),
        "{}",
        answer.1
    );
    let answer = post_json(
        &app,
        "/login/passkey/finish",
        &json!({"csrf": csrf, "credential": forged}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "no_ceremony");

    // A ceremony left for longer than three minutes has expired, whatever comes back.
    post_json(&app, "/login/passkey/begin", &json!({"csrf": csrf})).await;
    app.clock.advance(Duration::from_secs(181));
    let answer = post_json(
        &app,
        "/login/passkey/finish",
        &json!({"csrf": csrf, "credential": forged}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "failed");
    assert!(
        answer.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{}",
        answer.1
    );

    // An answer that is not a credential at all.
    post_json(&app, "/login/passkey/begin", &json!({"csrf": csrf})).await;
    let answer = post_json(
        &app,
        "/login/passkey/finish",
        &json!({"csrf": csrf, "credential": "\u{0}"}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "invalid_credential");

    // A pending request that does not exist.
    let answer = post_json(
        &app,
        "/login/passkey/begin",
        &json!({"csrf": csrf, "request": "nope"}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "expired");

    // The second factor needs a half sign-in.
    let answer = post_json(
        &app,
        "/login/second-factor/passkey/begin",
        &json!({"csrf": csrf}),
    )
    .await;
    refused(&answer, StatusCode::UNAUTHORIZED, "login_required");
    let answer = post_json(
        &app,
        "/login/second-factor/passkey/finish",
        &json!({"csrf": csrf, "credential": forged}),
    )
    .await;
    refused(&answer, StatusCode::UNAUTHORIZED, "login_required");

    // Nobody was signed in by any of it.
    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
}

async fn registration_needs_a_recent_sign_in_and_a_sensible_name(app: TestApp) {
    let ada = app.add_user("ada").await;
    let csrf = login_csrf(&app).await;
    let answer = post_json(
        &app,
        "/account/passkeys/begin",
        &json!({"csrf": csrf, "name": "Key"}),
    )
    .await;
    refused(&answer, StatusCode::UNAUTHORIZED, "login_required");

    let csrf = sign_in(&app, "ada").await;
    for name in ["", "   ", "a\u{0}b", "evil\u{202e}gpj.exe", &"x".repeat(65)] {
        let answer = post_json(
            &app,
            "/account/passkeys/begin",
            &json!({"csrf": csrf, "name": name}),
        )
        .await;
        refused(&answer, StatusCode::BAD_REQUEST, "refused");
    }
    let (status, options) = post_json(
        &app,
        "/account/passkeys/begin",
        &json!({"csrf": csrf, "name": "Work laptop"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], "ada");
    assert_eq!(
        pk["authenticatorSelection"]["residentKey"], "required",
        "discoverable"
    );
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");

    // A registration answer that is not one: refused, nothing stored, and spent.
    let answer = post_json(
        &app,
        "/account/passkeys/finish",
        &json!({"csrf": csrf, "credential": {"id": "x"}}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "invalid_credential");
    let answer = post_json(
        &app,
        "/account/passkeys/finish",
        &json!({"csrf": csrf, "credential": {"id": "x"}}),
    )
    .await;
    refused(&answer, StatusCode::BAD_REQUEST, "no_ceremony");
    assert_eq!(
        app.state
            .store
            .passkeys
            .count_for_user(ada.id)
            .await
            .expect("count"),
        0
    );

    // Eleven minutes on, the sign-in is not recent enough to add a passkey.
    app.clock.advance(Duration::from_secs(11 * 60));
    let answer = post_json(
        &app,
        "/account/passkeys/begin",
        &json!({"csrf": csrf, "name": "Work laptop"}),
    )
    .await;
    refused(&answer, StatusCode::FORBIDDEN, "sign_in_again");
    let html = app.get("/account").await.text().await.expect("html");
    assert!(
        html.contains("id=\"passkeys-sign-in-again\""),
        "the page says to sign in again"
    );
    assert!(!html.contains("id=\"passkey-register\""));
    sign_in(&app, "ada").await;
    let html = app.get("/account").await.text().await.expect("html");
    assert!(
        html.contains("id=\"passkey-register\" hidden"),
        "the form waits for the script"
    );
    assert!(
        html.contains("id=\"passkey-needs-js\""),
        "and says it needs JavaScript"
    );
}

async fn account_csrf(app: &TestApp) -> String {
    let html = app.get("/account").await.text().await.expect("html");
    hidden(&html, "csrf").expect("csrf")
}

async fn passkeys_are_renamed_and_removed_only_by_their_owner(app: TestApp) {
    let ada = app.add_user("ada").await;
    let bob = app.add_user("bob").await;
    // Signed in first: with a passkey, the password alone would lead to the second
    // factor.
    sign_in(&app, "ada").await;
    let mine = add_passkey(&app, ada.id, "cred-a", "Laptop").await;
    let theirs = add_passkey(&app, bob.id, "cred-b", "Bob's key").await;
    let html = app.get("/account").await.text().await.expect("html");
    assert!(
        html.contains("Laptop") && html.contains("Not used yet"),
        "listed"
    );
    assert!(!html.contains("Bob&#x27;s key") && !html.contains("Bob's key"));
    let csrf = account_csrf(&app).await;
    let (mine_s, theirs_s) = (mine.to_string(), theirs.to_string());

    // Someone else's passkey, a made-up id, an empty name, no CSRF token.
    for (path, form, status) in [
        (
            "/account/passkeys/remove",
            vec![("csrf", csrf.as_str()), ("id", theirs_s.as_str())],
            StatusCode::NOT_FOUND,
        ),
        (
            "/account/passkeys/rename",
            vec![
                ("csrf", csrf.as_str()),
                ("id", theirs_s.as_str()),
                ("name", "Mine"),
            ],
            StatusCode::NOT_FOUND,
        ),
        (
            "/account/passkeys/remove",
            vec![("csrf", csrf.as_str()), ("id", "not-an-id")],
            StatusCode::NOT_FOUND,
        ),
        (
            "/account/passkeys/rename",
            vec![
                ("csrf", csrf.as_str()),
                ("id", mine_s.as_str()),
                ("name", " "),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/account/passkeys/remove",
            vec![("id", mine_s.as_str())],
            StatusCode::FORBIDDEN,
        ),
    ] {
        let r = app.post_form(path, &form).await;
        assert_eq!(r.status(), status, "{path} {form:?}");
        let html = r.text().await.expect("html");
        assert!(
            html.contains("role=\"alert\""),
            "{path}: says what is wrong"
        );
    }
    let r = app
        .post_form(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("id", &mine_s), ("name", "\u{7}")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "control characters are refused"
    );
    assert_eq!(
        app.state
            .store
            .passkeys
            .count_for_user(bob.id)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        app.state
            .store
            .passkeys
            .list_for_user(ada.id)
            .await
            .expect("list")[0]
            .name,
        "Laptop"
    );

    let r = app
        .post_form(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("id", &mine_s), ("name", "  Work laptop ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account#passkeys");
    assert_eq!(
        app.state
            .store
            .passkeys
            .list_for_user(ada.id)
            .await
            .expect("list")[0]
            .name,
        "Work laptop"
    );

    let r = app
        .post_form(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("id", &mine_s)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get("/account").await.text().await.expect("html");
    assert!(html.contains("Work laptop” is removed"), "said");
    assert_eq!(
        app.state
            .store
            .passkeys
            .count_for_user(ada.id)
            .await
            .expect("count"),
        0
    );
    let events = app.state.audit.for_user(ada.id, 20).await.expect("events");
    assert!(
        events.iter().any(|e| e.event == "passkey_removed"),
        "{events:?}"
    );
    // Removed twice: nothing there any more.
    let r = app
        .post_form(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("id", &mine_s)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Renaming and removing need a recent sign-in too.
    let spare = add_passkey(&app, ada.id, "cred-c", "Spare")
        .await
        .to_string();
    app.clock.advance(Duration::from_secs(11 * 60));
    let r = app
        .post_form(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("id", &spare)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_form(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("id", &spare), ("name", "Other")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("sign in again first")
    );
    let left = app
        .state
        .store
        .passkeys
        .list_for_user(ada.id)
        .await
        .expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "Spare");
}

async fn the_script_is_ours_and_the_pages_allow_only_our_scripts(app: TestApp) {
    let r = app.get("/static/passkeys.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        r.text()
            .await
            .expect("js")
            .contains("navigator.credentials.get")
    );
    let r = app.get("/login").await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = r.text().await.expect("html");
    assert!(
        html.contains("<div id=\"passkey-sign-in\""),
        "the button's block"
    );
    assert!(
        html.contains("data-request=\"\" hidden>"),
        "hidden until the script runs"
    );
    assert!(html.contains("<script src=\"/static/passkeys.js\" defer></script>"));
    assert!(!html.contains("<script>"), "nothing inline");
}

async fn an_ip_address_issuer_offers_no_passkeys(app: TestApp) {
    let csrf = login_csrf(&app).await;
    let answer = post_json(&app, "/login/passkey/begin", &json!({"csrf": csrf})).await;
    refused(&answer, StatusCode::NOT_FOUND, "unavailable");
    app.add_user("ada").await;
    sign_in(&app, "ada").await;
    let html = app.get("/account").await.text().await.expect("html");
    assert!(html.contains("Passkeys are not available on this server."));
}
