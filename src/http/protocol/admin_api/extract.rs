//! The admin API's body and query extractors: like axum's `Json` and `Query`, but a
//! refusal is a problem document that says what could not be read.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// A JSON object body; anything else (or JSON that does not fit) is a 400 problem. Control
/// characters are for the domain's validation to refuse, with the field named.
pub(in crate::http) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.starts_with("application/json") || v.starts_with("application/merge-patch+json")
            });
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json",
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| Problem::bad_request("the request body could not be read"))?;
        // Every body of the API is a JSON object; an array would otherwise fill a
        // struct by position, or leave it all defaults.
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(Problem::bad_request("the body must be a JSON object"));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| Problem::bad_request(format!("the body is not valid: {e}")))
    }
}

/// A query string; one that does not fit is a 400 problem naming what is wrong.
pub(in crate::http) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(q)| Self(q))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}
