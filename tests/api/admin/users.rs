//! The admin API's users routes: search, create, read, change, delete, roles and the
//! account actions, each happy and refused; disabling ends what the person holds; the
//! `roles` scope puts `roles` and `client_roles` in the tokens and userinfo.

use base64::Engine as _;
use openidconnect::OAuth2TokenResponse as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, add_admin, call};
use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::Rp,
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

both_backends!(
    search_finds_people_by_any_name_in_any_case_and_pages,
    create_refuses_bad_fields_by_name_and_taken_names_with_409,
    a_user_is_read_changed_and_deleted,
    routes_refuse_without_a_token_and_name_no_one_with_a_bad_id,
    roles_are_set_everywhere_and_per_client_and_found_by_role,
    the_last_admin_and_ones_own_admin_role_are_protected,
    disabling_ends_sessions_and_kills_the_users_tokens,
    the_roles_scope_puts_roles_in_every_token_and_a_change_shows_at_refresh,
);

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn search_finds_people_by_any_name_in_any_case_and_pages(app: TestApp) {
    let api = Api::new(&app).await;
    for name in ["ada", "adalbert", "grace", "linus"] {
        app.add_user(name).await;
    }
    let found = api.get("/users?q=ADA").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let names: Vec<_> = found.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ada", "adalbert"]);
    assert!(found.body["items"][0].get("password_hash").is_none());

    // By email, and paged.
    let page = api.get("/users?q=example.com&limit=2").await;
    assert_eq!(page.body["page"]["total"], 4, "{}", page.body);
    assert_eq!(page.body["page"]["next_offset"], 2);
    let last = api.get("/users?q=example.com&limit=2&offset=2").await;
    assert_eq!(last.body["items"].as_array().unwrap().len(), 2);
    assert!(last.body["page"].get("next_offset").is_none());

    // LIKE's wildcards are plain characters here.
    let none = api.get("/users?q=%25").await;
    assert_eq!(none.body["page"]["total"], 0, "{}", none.body);

    // Hostile or oversized queries are refused by name, never a 500.
    let nul = api.get("/users?q=a%00b").await;
    nul.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nul.refused_fields(), ["q"]);
    let long = api.get(&format!("/users?q={}", "x".repeat(201))).await;
    long.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    api.get("/users?limit=0")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    api.get("/users?limit=abc")
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}

async fn create_refuses_bad_fields_by_name_and_taken_names_with_409(app: TestApp) {
    let api = Api::new(&app).await;
    let made = api
        .post(
            "/users",
            json!({"username": "ada", "email": "ada@example.com",
                   "password": "tangerine orbit whisper", "roles": ["billing"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["roles"], json!(["billing"]));
    assert!(
        made.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(made.body["id"].as_str().unwrap())
    );

    for (body, field) in [
        (
            json!({"username": "a b", "email": "x@example.com", "password": "tangerine orbit whisper"}),
            "username",
        ),
        (
            json!({"username": "nul\u{0}", "email": "x@example.com", "password": "tangerine orbit whisper"}),
            "username",
        ),
        (
            json!({"username": "bob", "email": "nope", "password": "tangerine orbit whisper"}),
            "email",
        ),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "tangerine orbit whisper", "roles": ["ad min"]}),
            "roles",
        ),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "tangerine orbit whisper", "display_name": "\u{1b}[2J"}),
            "display_name",
        ),
    ] {
        let answer = api.post("/users", body.clone()).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.refused_fields(), [field], "{body}");
    }

    // Taken, compared by the identity keys (case folded).
    let taken = api
        .post("/users", json!({"username": "ADA", "email": "other@example.com", "password": "tangerine orbit whisper"}))
        .await;
    taken.assert_problem(StatusCode::CONFLICT);
    assert_eq!(taken.refused_fields(), ["username"]);
    let taken = api
        .post("/users", json!({"username": "bob", "email": "Ada@Example.com", "password": "tangerine orbit whisper"}))
        .await;
    taken.assert_problem(StatusCode::CONFLICT);
    assert_eq!(taken.refused_fields(), ["email"]);

    // Unknown fields and unreadable bodies are 400.
    api.post(
        "/users",
        json!({"username": "bob", "email": "b@example.com", "admin": true}),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST);
    api.post("/users", json!("nope"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);

    // Without a password: an invitation (the reset mail), and nobody knows the password.
    let invited = api
        .post(
            "/users",
            json!({"username": "bob", "email": "bob@example.com"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
}

async fn a_user_is_read_changed_and_deleted(app: TestApp) {
    let api = Api::new(&app).await;
    let ada = app.add_user("ada").await;
    app.add_user("grace").await;
    let path = format!("/users/{}", ada.id);
    let detail = api.get(&path).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["username"], "ada");
    for key in ["sessions", "apps", "recent_events", "client_roles"] {
        assert!(detail.body[key].is_array(), "{key}: {}", detail.body);
    }
    assert_eq!(detail.body["second_factors"]["totp"], false);

    let changed = api
        .patch(
            &path,
            json!({"username": "ada.l", "display_name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["username"], "ada.l");
    assert_eq!(changed.body["display_name"], "Ada Lovelace");

    let taken = api
        .patch(&path, json!({"email": "GRACE@example.com"}))
        .await;
    taken.assert_problem(StatusCode::CONFLICT);
    assert_eq!(taken.refused_fields(), ["email"]);
    let bad = api.patch(&path, json!({"given_name": "a\u{202e}b"})).await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.refused_fields(), ["given_name"]);
    let bad = api.patch(&path, json!({"username": ""})).await;
    assert_eq!(bad.refused_fields(), ["username"]);
    api.patch(&path, json!({"password": "x"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    // Nothing of the refused changes stuck.
    assert_eq!(api.get(&path).await.body["email"], "ada@example.com");

    // The account actions answer on a live account.
    assert_eq!(
        api.post(&format!("{path}/unlock"), json!({})).await.body["changed"],
        false
    );
    assert_eq!(
        api.post(&format!("{path}/sign-out"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.post(&format!("{path}/password-reset"), json!({}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    api.delete(&format!("{path}/second-factors/totp"))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    api.delete(&format!("{path}/second-factors/sms"))
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    assert_eq!(api.delete(&path).await.status, StatusCode::NO_CONTENT);
    let tomb = api.get(&path).await;
    assert!(tomb.body["deleted_at"].is_i64(), "{}", tomb.body);
    assert_eq!(tomb.body["email"], "");
    api.delete(&path).await.assert_problem(StatusCode::CONFLICT);
    api.post(&format!("{path}/enable"), json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
}

async fn routes_refuse_without_a_token_and_name_no_one_with_a_bad_id(app: TestApp) {
    let ada = app.add_user("ada").await;
    let path = format!("/users/{}", ada.id);
    for (method, p) in [
        (Method::GET, "/users".to_owned()),
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/disable")),
        (Method::GET, "/roles/admin/users".to_owned()),
    ] {
        call(&app, method, &p, None, None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    }
    let unknown = uuid::Uuid::new_v4();
    let api = Api::new(&app).await;
    for p in [
        format!("/users/{unknown}"),
        "/users/not-a-uuid".to_owned(),
        "/users/%00".to_owned(),
    ] {
        api.get(&p).await.assert_problem(StatusCode::NOT_FOUND);
    }
    api.post(&format!("/users/{unknown}/disable"), json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    api.put(&format!("/users/{unknown}/roles"), json!({"roles": []}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    api.get("/roles/bad%20role/users")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

async fn roles_are_set_everywhere_and_per_client_and_found_by_role(app: TestApp) {
    let api = Api::new(&app).await;
    let ada = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    let path = format!("/users/{}/roles", ada.id);
    let set = api
        .put(
            &path,
            json!({"roles": ["support", "billing", "support"],
                   "client_roles": {client.client_id.clone(): ["editor"]}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["roles"], json!(["billing", "support"]));
    assert_eq!(
        set.body["client_roles"][&client.client_id],
        json!(["editor"])
    );

    let who = api.get("/roles/support/users").await;
    assert_eq!(who.body["items"][0]["username"], "ada", "{}", who.body);
    let who = api
        .get(&format!(
            "/roles/editor/users?client_id={}",
            client.client_id
        ))
        .await;
    assert_eq!(who.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/roles/editor/users").await.body["items"],
        json!([])
    );

    for (body, field) in [
        (json!({"roles": ["no spaces"]}), "roles"),
        (json!({"roles": ["x\u{0}"]}), "roles"),
        (
            json!({"roles": [], "client_roles": {"no-such-client": ["a"]}}),
            "client_roles",
        ),
        (
            json!({"roles": [], "client_roles": {client.client_id.clone(): ["b@d"]}}),
            "client_roles",
        ),
    ] {
        let answer = api.put(&path, body.clone()).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.refused_fields(), [field], "{body}");
    }
    api.put(&path, json!({"client_roles": {}}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    // Leaving a client out takes its roles away.
    let cleared = api.put(&path, json!({"roles": ["billing"]})).await;
    assert_eq!(cleared.body["client_roles"], json!({}), "{}", cleared.body);
}

async fn the_last_admin_and_ones_own_admin_role_are_protected(app: TestApp) {
    let grace = add_admin(&app, "grace").await;
    let script = Api::new(&app).await;
    // The script (a client) may not remove the only admin, by any door.
    let path = format!("/users/{}", grace.id);
    let last = script
        .put(&format!("{path}/roles"), json!({"roles": []}))
        .await;
    last.assert_problem(StatusCode::CONFLICT);
    assert!(
        last.body["detail"]
            .as_str()
            .unwrap()
            .contains("last active admin")
    );
    script
        .post(&format!("{path}/disable"), json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    script
        .delete(&path)
        .await
        .assert_problem(StatusCode::CONFLICT);

    // With a second admin, grace's own token still cannot take her own role away.
    let linus = add_admin(&app, "linus").await;
    let mut reg = web_app(CALLBACK);
    reg.scopes = vec!["openid".into(), "portcullis:admin".into()];
    let (client, secret) = app.add_client(reg).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "portcullis:admin"], "grace")
        .await;
    let grace_api = Api {
        app: &app,
        token: tokens.access_token().secret().clone(),
    };
    let own = grace_api
        .put(&format!("{path}/roles"), json!({"roles": []}))
        .await;
    own.assert_problem(StatusCode::CONFLICT);
    assert!(
        own.body["detail"]
            .as_str()
            .unwrap()
            .contains("your own admin role")
    );
    grace_api
        .post(&format!("{path}/disable"), json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT);
    // Nothing changed.
    assert_eq!(grace_api.get(&path).await.body["roles"], json!(["admin"]));
    // Another admin's, she may.
    let other = grace_api
        .put(&format!("/users/{}/roles", linus.id), json!({"roles": []}))
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
}

async fn disabling_ends_sessions_and_kills_the_users_tokens(app: TestApp) {
    let ada = app.add_user("ada").await;
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    assert!(rp.userinfo(&access).await.is_ok());

    let api = Api::new(&app).await;
    let path = format!("/users/{}", ada.id);
    assert_eq!(
        api.get(&path).await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let done = api.post(&format!("{path}/disable"), json!({})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["sessions_ended"], 1);
    assert_eq!(api.get(&path).await.body["sessions"], json!([]));

    assert!(
        rp.userinfo(&access).await.is_err(),
        "the access token is dead"
    );
    let (status, _, body) = app
        .post_token(
            Some((&client.client_id, secret.as_deref().unwrap())),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    // Again: nothing to do. Enabled again, the old tokens stay dead.
    assert_eq!(
        api.post(&format!("{path}/disable"), json!({})).await.body["changed"],
        false
    );
    assert_eq!(
        api.post(&format!("{path}/enable"), json!({})).await.body["changed"],
        true
    );
    assert!(rp.userinfo(&access).await.is_err());
}

async fn the_roles_scope_puts_roles_in_every_token_and_a_change_shows_at_refresh(app: TestApp) {
    let ada = app.add_user("ada").await;
    let reg = || {
        let mut reg = web_app(CALLBACK);
        reg.scopes = vec!["openid".into(), "roles".into()];
        reg
    };
    let (client, secret) = app.add_client(reg()).await;
    let (other, _) = app.add_client(reg()).await;
    let api = Api::new(&app).await;
    api.put(
        &format!("/users/{}/roles", ada.id),
        json!({"roles": ["support"], "client_roles": {
            client.client_id.clone(): ["editor"], other.client_id.clone(): ["owner"]}}),
    )
    .await;

    let (_, discovery) = app.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("roles"))
    );
    for claim in ["roles", "client_roles"] {
        assert!(
            discovery["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim))
        );
    }

    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "roles"], "ada")
        .await;
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["roles"], json!(["support"]), "{id}");
    assert_eq!(
        id["client_roles"],
        json!(["editor"]),
        "only this client's: {id}"
    );
    let access = tokens.access_token().secret().clone();
    let at = jwt_claims(&access);
    assert_eq!(at["roles"], json!(["support"]));
    assert_eq!(at["client_roles"], json!(["editor"]));
    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["roles"], json!(["support"]), "{info}");
    assert_eq!(info["client_roles"], json!(["editor"]));

    // A change: userinfo reads it live, the tokens at the next refresh.
    api.put(
        &format!("/users/{}/roles", ada.id),
        json!({"roles": ["billing"], "client_roles": {}}),
    )
    .await;
    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["roles"], json!(["billing"]), "{info}");
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let (status, _, body) = app
        .post_token(
            Some((&client.client_id, secret.as_deref().unwrap())),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["roles"], json!(["billing"]));
    assert_eq!(at["client_roles"], json!([]));
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["roles"], json!(["billing"]));
}
