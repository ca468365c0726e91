//! The two error shapes at the edge: an RFC 6749 section 5.2 JSON error for machines,
//! and an HTML page for people (`pages::PageError`). Internal causes are logged once,
//! in `oidc::Error::into_oauth`, and never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::oidc::error::{Error, ErrorCode, NO_TOKEN, OAuthError};

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// What a 503 tells its caller to wait before trying again, in seconds (RFC 9110
/// section 10.2.3): about how long a database restart or failover takes.
pub(super) const RETRY_AFTER_SECS: &str = "5";

/// Marks a 503 with `Retry-After`, so clients back off instead of hammering.
pub(super) fn retry_after(response: &mut Response) {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
}

/// Headers every token, introspection and error response carries (RFC 6749 section 5.1).
pub(super) fn no_store(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(super) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The `WWW-Authenticate` challenge: Basic for client authentication (RFC 6749
/// section 5.2), Bearer for resource requests (RFC 6750 section 3).
fn challenge(e: &OAuthError) -> Option<String> {
    let quoted = e.description.replace(['"', '\\'], "'");
    match e.code {
        ErrorCode::InvalidClient => Some(r#"Basic realm="portcullis", charset="UTF-8""#.into()),
        // RFC 6750 section 3.1: no credentials at all, so no error code in the challenge.
        ErrorCode::InvalidToken if e.description == NO_TOKEN => {
            Some(r#"Bearer realm="portcullis""#.into())
        }
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope => Some(format!(
            r#"Bearer realm="portcullis", error="{}", error_description="{quoted}""#,
            e.code.as_str()
        )),
        _ => None,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (status_of(self.code), Json(body)).into_response();
        if let Some(c) = challenge(&self).and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        no_store(&mut response);
        retry_after(&mut response);
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.into_oauth().into_response()
    }
}
