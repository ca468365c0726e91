//! CSRF protection for our forms: a token in a hidden field, compared in constant time
//! on every POST.
//!
//! A browser that has a session keeps its token there (the synchronizer token pattern).
//! A visitor without one must not make us store anything (anyone could fill the
//! database with `GET /login`), so their token is a random value in a cookie of its own,
//! sent back in the form (the double-submit cookie pattern): a page elsewhere can
//! neither read that cookie nor set it, the more so under https, where it is
//! `__Host-`-prefixed (Secure, Path=/, no Domain: no sibling host can plant one).
//! A form is accepted with either token, so a form shown before a session began (a
//! sign-in started in another tab, say) still works after.
//!
//! `layer` puts the request's cookie where `token` and `check` find it (a task-local
//! for the request), and sends a new cookie when `token` had to make one.

use std::sync::{Mutex, PoisonError};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use tower_sessions::{
    Session,
    cookie::{Cookie, SameSite},
};

use crate::{
    crypto::{constant_time_eq, random},
    http::page::PageError,
};

const KEY: &str = "csrf";

/// The cookie names, over http and under https.
const COOKIE: &str = "portcullis_csrf";
const HOST_COOKIE: &str = "__Host-portcullis_csrf";

/// A token is what `random::secret` makes; anything else in the cookie is replaced.
fn plausible(token: &str) -> bool {
    (32..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF cookie of one request: the one the browser sent, and one made for it.
#[derive(Debug)]
struct RequestCookie {
    sent: Option<String>,
    issued: Mutex<Option<String>>,
}

tokio::task_local! {
    static REQUEST_COOKIE: RequestCookie;
}

/// How the cookie is set: its name and whether it is Secure (under an https issuer).
#[derive(Clone, Copy, Debug)]
pub(super) struct CookieSettings {
    https: bool,
}

impl CookieSettings {
    pub(super) fn new(https: bool) -> Self {
        Self { https }
    }

    fn name(self) -> &'static str {
        if self.https { HOST_COOKIE } else { COOKIE }
    }
}

/// Middleware: makes the request's CSRF cookie known to `token` and `check`, and sets
/// the cookie on the answer when `token` made a new one.
pub(super) async fn layer(
    State(settings): State<CookieSettings>,
    request: Request,
    next: Next,
) -> Response {
    let sent = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == settings.name())
        .map(|c| c.value().to_owned())
        .filter(|v| plausible(v));
    let cookie = RequestCookie {
        sent,
        issued: Mutex::new(None),
    };
    let (mut response, cookie) = REQUEST_COOKIE
        .scope(cookie, async {
            let response = next.run(request).await;
            let issued = REQUEST_COOKIE
                .try_with(|c| {
                    c.issued
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take()
                })
                .ok()
                .flatten();
            (response, issued)
        })
        .await;
    if let Some(value) = cookie {
        // Lax, like the session: the sign-in page is reached by a top-level navigation
        // that began at the app. No Max-Age: it lasts as long as the browser session.
        let cookie = Cookie::build((settings.name(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(settings.https)
            .path("/")
            .build();
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The cookie-bound token of this request: the browser's, or a new one to be set.
/// `None` outside `layer`.
fn cookie_token() -> Option<String> {
    REQUEST_COOKIE
        .try_with(|c| {
            c.sent.clone().unwrap_or_else(|| {
                c.issued
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(random::secret)
                    .clone()
            })
        })
        .ok()
}

fn session_failed(e: tower_sessions::session::Error) -> PageError {
    tracing::error!(error = %e, "session write failed");
    PageError::unavailable()
}

/// The token for a form on this page: the session's when there is a session to keep
/// it in, or else the cookie's, so a visitor costs us no stored row.
pub(super) async fn token(session: &Session) -> Result<String, PageError> {
    if let Some(t) = session.get::<String>(KEY).await.map_err(session_failed)? {
        return Ok(t);
    }
    if session.is_empty().await
        && let Some(t) = cookie_token()
    {
        return Ok(t);
    }
    let t = random::secret();
    session.insert(KEY, &t).await.map_err(session_failed)?;
    Ok(t)
}

/// Refuses a form whose token is missing or matches neither the session's token nor
/// the CSRF cookie the browser sent.
pub(super) async fn check(session: &Session, sent: Option<&str>) -> Result<(), PageError> {
    let in_session = session.get::<String>(KEY).await.ok().flatten();
    let in_cookie = REQUEST_COOKIE.try_with(|c| c.sent.clone()).ok().flatten();
    let matches = |expected: &Option<String>| match (expected, sent) {
        (Some(e), Some(s)) => constant_time_eq(e.as_bytes(), s.as_bytes()),
        _ => false,
    };
    // Both are compared, so the time taken says nothing about which one was there.
    let (a, b) = (matches(&in_session), matches(&in_cookie));
    if a | b {
        Ok(())
    } else {
        Err(PageError::new(
            axum::http::StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security, this form could not be accepted, and nothing was changed. \
             Go back, reload the page and try again; if you were signing in to an app, start \
             again from the app.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_of_ours_is_taken_from_the_cookie() {
        assert!(plausible(&random::secret()));
        for bad in [
            "",
            "short",
            &"a".repeat(65),
            "a b c d e f g h i j k l m n o p q r s t",
        ] {
            assert!(!plausible(bad), "{bad:?}");
        }
        assert!(!plausible(&format!("{}\u{0}", "a".repeat(40))));
    }
}
