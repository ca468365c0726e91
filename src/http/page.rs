//! The page side of the two error shapes, and HTML rendering shared by every page:
//! `render`, the message and error pages, and `PageError`, an error told to a person
//! in plain words.

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use super::error::{no_store, retry_after};

/// A rendered page, or the error page if the template fails. Pages carry CSRF tokens
/// and personal details, so no cache keeps them.
pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Something went wrong on our side.</p>"),
            )
                .into_response()
        }
    }
}

/// A page that tells the person something went right.
#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage {
    pub title: String,
    pub message: String,
}

/// An error told to a person, in plain words, never with internal detail.
#[derive(Debug)]
pub(super) struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub(super) fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    pub(super) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "We could not finish this just now. Wait a moment and try again.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            title: self.title.into(),
            message: self.message,
        };
        let mut response = render(self.status, &page);
        retry_after(&mut response);
        response
    }
}

impl From<crate::storage::StorageError> for PageError {
    fn from(e: crate::storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::unavailable()
    }
}

impl From<crate::crypto::PasswordError> for PageError {
    fn from(e: crate::crypto::PasswordError) -> Self {
        if let crate::crypto::PasswordError::Internal(cause) = &e {
            tracing::error!(error = %cause, "password hashing failure");
        }
        Self::unavailable()
    }
}

impl From<crate::oidc::error::Error> for PageError {
    fn from(e: crate::oidc::error::Error) -> Self {
        tracing::error!(error = %e, "a sign-in step failed");
        Self::unavailable()
    }
}

/// Any path we do not serve.
pub(super) async fn not_found() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Check the link, or go back to the app you came from.",
    )
}
