//! Pages for people: server-rendered HTML that works without JavaScript, and the
//! browser-facing protocol endpoints that share their session.

use askama::Template;
use axum::{
    Router,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use time::Duration;
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::AppState;

pub mod assets;
pub mod consent;
pub mod csrf;
pub mod flow;
pub mod login;
pub mod session;

use super::protocol::{authorize, end_session, paths};

/// The cookie that carries the browser session id.
pub const SESSION_COOKIE: &str = "portcullis_session";

/// The browser routes, behind the session layer: cookies HttpOnly, SameSite=Lax (the
/// authorization request arrives as a top-level cross-site GET), Secure under https.
pub fn router(state: &AppState) -> Router<AppState> {
    let ttl = Duration::seconds(crate::storage::secs(state.config.sessions.ttl));
    let sessions = SessionManagerLayer::new(session::DbSessions::new(state.store.sessions.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.issuer.is_https())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(ttl));
    Router::new()
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            paths::END_SESSION,
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route("/login", get(login::login_page).post(login::login_submit))
        .route(
            "/consent",
            get(consent::consent_page).post(consent::consent_submit),
        )
        .layer(sessions)
}

/// A rendered page, or the error page if the template fails. Pages carry CSRF tokens
/// and personal details, so no cache keeps them.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            super::error::no_store(&mut response);
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
pub struct MessagePage {
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

/// An error told to a person, in plain words, never with internal detail.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    pub fn unavailable() -> Self {
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
        super::error::no_store(&mut response);
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

/// Any path we do not serve.
pub async fn not_found() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Check the link, or go back to the app you came from.",
    )
}
