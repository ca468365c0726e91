//! Who may call the admin API, and the shape of its answers: 401 without a token, 403
//! for a token that may not administer, problem documents for every refusal, and an
//! OpenAPI 3.1 document whose every operation is really served (and guarded).

use openidconnect::OAuth2TokenResponse as _;
use portcullis::{oidc::clients::ClientRegistration, storage::RoleStore};
use reqwest::{Method, StatusCode};

use super::{Api, add_admin, call};
use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::Rp,
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

both_backends!(
    no_token_or_a_bad_one_is_401_with_a_bearer_challenge,
    a_token_without_the_admin_scope_is_403,
    a_client_allowed_the_admin_scope_reads_the_key_ring,
    a_persons_token_works_only_while_they_are_an_admin,
    unknown_paths_and_bad_queries_are_problems,
);

async fn no_token_or_a_bad_one_is_401_with_a_bearer_challenge(app: TestApp) {
    let none = call(&app, Method::GET, "/keys", None, None).await;
    none.assert_problem(StatusCode::UNAUTHORIZED);
    let challenge = none.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    // RFC 6750 section 3.1: no error code when the request had no credentials.
    assert!(!challenge.contains("error="), "{challenge}");

    for bad in [
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "tok\u{e9}n",
    ] {
        let answer = call(&app, Method::GET, "/keys", Some(bad), None).await;
        answer.assert_problem(StatusCode::UNAUTHORIZED);
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }

    // A token in the query is not read (RFC 6750 section 2.3 is not offered).
    let api = Api::new(&app).await;
    let r = app
        .http
        .get(app.url(&format!("/admin/api/v1/keys?access_token={}", api.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Basic credentials are not a bearer token.
    let r = app
        .http
        .get(app.url("/admin/api/v1/keys"))
        .basic_auth("someone", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A live token stops working once it expires.
    assert_eq!(api.get("/keys").await.status, StatusCode::OK);
    app.clock.advance(std::time::Duration::from_secs(24 * 3600));
    api.get("/keys")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

async fn a_token_without_the_admin_scope_is_403(app: TestApp) {
    let (client, secret) = app
        .add_client(ClientRegistration {
            name: "Reporting job".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["reports:read".into()],
            ..Default::default()
        })
        .await;
    let secret = secret.unwrap();
    let (status, _, body) = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let answer = call(&app, Method::GET, "/keys", Some(token), None).await;
    answer.assert_problem(StatusCode::FORBIDDEN);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="portcullis:admin""#),
        "{challenge}"
    );

    // Nor can such a client give itself the scope at the token endpoint.
    let (status, _, body) = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "portcullis:admin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_scope");
}

async fn a_client_allowed_the_admin_scope_reads_the_key_ring(app: TestApp) {
    let api = Api::new(&app).await;
    let answer = api.get("/keys").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let items = answer.body["items"].as_array().unwrap();
    let active: Vec<_> = items.iter().filter(|k| k["state"] == "active").collect();
    assert_eq!(active.len(), 1, "{}", answer.body);
    let jwks = app.get_json("/jwks.json").await.1;
    assert_eq!(jwks["keys"][0]["kid"], active[0]["kid"]);
}

async fn a_persons_token_works_only_while_they_are_an_admin(mut app: TestApp) {
    let admin = add_admin(&app, "grace").await;
    app.add_user("ada").await;
    let mut reg = web_app(CALLBACK);
    reg.scopes = vec!["openid".into(), "portcullis:admin".into()];
    let (client, secret) = app.add_client(reg).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;

    // Someone who is not an admin may hold a token with the scope; it opens nothing.
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "portcullis:admin"], "ada")
        .await;
    let ada_token = tokens.access_token().secret().clone();
    let answer = call(&app, Method::GET, "/keys", Some(&ada_token), None).await;
    answer.assert_problem(StatusCode::FORBIDDEN);

    // An admin's does, until the role is taken away (signed in from another browser).
    app.http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "portcullis:admin"], "grace")
        .await;
    let grace_token = tokens.access_token().secret().clone();
    let answer = call(&app, Method::GET, "/keys", Some(&grace_token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    let mut tx = app.state.store.db.begin_write().await.unwrap();
    RoleStore::set_in(&mut tx, admin.id, "", &[], app.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    call(&app, Method::GET, "/keys", Some(&grace_token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

async fn unknown_paths_and_bad_queries_are_problems(app: TestApp) {
    let api = Api::new(&app).await;
    api.get("/no-such-thing")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    api.get("/keys/and/more")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    // A body that is not JSON where JSON is expected is refused in the same shape (the
    // areas' own tests cover their bodies); here: the document itself is JSON.
    let r = app.get("/admin/api/openapi.json").await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The OpenAPI document: 3.1, with the bearer scheme, and every operation it lists is
/// served, guarded: called without a token, each answers 401 with a problem. A route
/// added without its document entry, or a documented one without a route, fails here
/// (utoipa-axum registers both at once; this proves that stays so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_and_guarded() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let (status, doc) = app.get_json("/admin/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    let mut checked = 0;
    for (path, operations) in paths {
        assert!(path.starts_with("/admin/api/v1/"), "{path}");
        for (method, operation) in operations.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} does not document its 401"
            );
            // Path parameters get a value that names nothing.
            let concrete: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "00000000-0000-0000-0000-000000000000"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let url = app.url(&concrete);
            let r = app.http.request(method.clone(), &url).send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1);
}
