//! CSRF protection for our forms: a per-session token in a hidden field, compared in
//! constant time on every POST (the synchronizer token pattern).

use tower_sessions::Session;

use crate::{
    crypto::{constant_time_eq, random},
    http::page::PageError,
};

const KEY: &str = "csrf";

/// The session's CSRF token, created on first use.
pub(super) async fn token(session: &Session) -> Result<String, PageError> {
    if let Ok(Some(t)) = session.get::<String>(KEY).await {
        return Ok(t);
    }
    let t = random::secret();
    session.insert(KEY, &t).await.map_err(|e| {
        tracing::error!(error = %e, "session write failed");
        PageError::unavailable()
    })?;
    Ok(t)
}

/// Refuses a form whose token is missing or does not match the session's.
pub(super) async fn check(session: &Session, sent: Option<&str>) -> Result<(), PageError> {
    let expected = session.get::<String>(KEY).await.ok().flatten();
    match (expected, sent) {
        (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()) => Ok(()),
        _ => Err(PageError::new(
            axum::http::StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security, this form could not be accepted, and nothing was changed. \
             Go back, reload the page and try again; if you were signing in to an app, start \
             again from the app.",
        )),
    }
}
