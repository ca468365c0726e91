//! RFC 9457 problem details: the admin API's one error shape.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, as `application/problem+json` (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fields that were refused, and why (an extension member).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One refused field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct FieldError {
    /// The field's name as the request spells it (`redirect_uris`, `roles`).
    pub field: String,
    pub message: String,
}

impl Problem {
    pub(in crate::http) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }

    /// 400: the request could not be read (malformed JSON, a bad query).
    pub(in crate::http) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 422: the request was read, and a field of it is refused.
    pub(in crate::http) fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, message.clone());
        p.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        p
    }

    /// 409: the change conflicts with what is stored (a name taken, the last admin).
    pub(in crate::http) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub(in crate::http) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 503: the database (or another dependency) is away; try again.
    pub(in crate::http) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service cannot answer just now; try again shortly",
        )
    }
}

impl From<crate::storage::StorageError> for Problem {
    fn from(e: crate::storage::StorageError) -> Self {
        match e {
            crate::storage::StorageError::Conflict(what) => {
                Self::conflict(format!("{what} is already taken"))
            }
            other => {
                tracing::error!(error = %other, "storage failure in the admin API");
                Self::unavailable()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A path under the API that names nothing.
pub(super) async fn not_found() -> Problem {
    Problem::not_found("there is nothing at this path of the admin API")
}
