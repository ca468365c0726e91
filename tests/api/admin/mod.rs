//! The admin console's API (`/admin/api/v1`) and what it relies on: who may call it,
//! its problem documents, its OpenAPI document. Each area has its file here; the
//! console's pages are driven in a real browser in `browser/admin*.rs`.

// FOUNDATION: the allow goes once the areas use every helper (the lead removes it).
#![allow(dead_code)]

mod api;
mod audit;
mod users;

use portcullis::{oidc::clients::ClientRegistration, storage::StoredUser};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp};

/// Adds a person with the `admin` role.
pub(crate) async fn add_admin(app: &TestApp, username: &str) -> StoredUser {
    portcullis::commands::user_add(
        &app.config(),
        username,
        &format!("{username}@example.com"),
        PASSWORD.into(),
        &["admin".to_owned()],
    )
    .await
    .expect("add admin")
}

/// A client allowed the `portcullis:admin` scope, and a client_credentials token of it
/// with that scope: what a script calling the API holds.
pub(crate) async fn admin_token(app: &TestApp) -> String {
    let (client, secret) = app
        .add_client(ClientRegistration {
            name: "Admin script".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["portcullis:admin".into()],
            ..Default::default()
        })
        .await;
    let secret = secret.expect("a confidential client");
    let (status, _, body) = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "portcullis:admin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("a token").to_owned()
}

/// An answer of the admin API: status, headers, and the body as JSON (`Null` if none).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The answer is a problem document (RFC 9457) with `status`.
    pub(crate) fn assert_problem(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
        assert!(self.body["title"].is_string(), "{}", self.body);
    }

    /// The fields a 422 problem names.
    pub(crate) fn refused_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Calls the admin API at `path` (under `/admin/api/v1`) with `token` and a JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let url = app.url(&format!("/admin/api/v1{path}"));
    let mut req = app.http.request(method, &url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// A script's session with the API: one token, JSON in and out.
pub(crate) struct Api<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl<'a> Api<'a> {
    /// A client_credentials session with the `portcullis:admin` scope.
    pub(crate) async fn new(app: &'a TestApp) -> Self {
        let token = admin_token(app).await;
        Self { app, token }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        call(self.app, Method::GET, path, Some(&self.token), None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        call(self.app, Method::POST, path, Some(&self.token), Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> Answer {
        call(self.app, Method::PATCH, path, Some(&self.token), Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Answer {
        call(self.app, Method::PUT, path, Some(&self.token), Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Answer {
        call(self.app, Method::DELETE, path, Some(&self.token), None).await
    }
}
