//! Pages for people, and the browser-facing protocol endpoints that share their
//! session (authorize, end session): server-rendered HTML that works without
//! JavaScript, behind the session layer, every form with a CSRF token.

use axum::{Router, routing::get};
use time::Duration;
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use super::paths;
use crate::AppState;

mod account;
mod admin;
mod authorize;
mod consent;
mod csrf;
mod end_session;
mod flow;
mod login;
mod passkeys;
mod register;
mod reset;
mod second_factor;
mod session;
mod verify;

/// The cookie that carries the browser session id, over http.
const SESSION_COOKIE: &str = "portcullis_session";
/// The same under https: the `__Host-` prefix makes browsers insist on Secure, Path=/
/// and no Domain, so no other host under our domain can set or shadow it.
const HOST_SESSION_COOKIE: &str = "__Host-portcullis_session";

/// The browser routes, behind the session layer: cookies HttpOnly, SameSite=Lax (the
/// authorization request arrives as a top-level cross-site GET), Secure under https.
/// What is kept, and for how long, is `session::DbSessions`'s business.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    let https = state.config.issuer.is_https();
    // The cookie lasts as long as a session can; the row's own expiry decides sooner
    // (`session::DbSessions`), and it is moved on by use without the cookie being re-sent.
    let sessions_config = &state.config.sessions;
    let cookie_life = Duration::seconds(crate::storage::secs(
        sessions_config.ttl.max(sessions_config.absolute_ttl),
    ));
    let store = session::DbSessions::new(
        state.store.sessions.clone(),
        state.clock.clone(),
        sessions_config,
    );
    let sessions = SessionManagerLayer::new(store)
        .with_name(if https {
            HOST_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        })
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(https)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(cookie_life));
    Router::new()
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            paths::END_SESSION,
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route(
            paths::LOGIN,
            get(login::login_page).post(login::login_submit),
        )
        .route(
            paths::CONSENT,
            get(consent::consent_page).post(consent::consent_submit),
        )
        .merge(register::routes())
        .merge(verify::routes())
        .merge(reset::routes())
        .merge(account::routes())
        .merge(second_factor::routes())
        .merge(passkeys::routes())
        .merge(admin::routes())
        .layer(axum::middleware::from_fn_with_state(
            csrf::CookieSettings::new(https),
            csrf::layer,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn(session_store_failed))
}

/// The session layer answers a session it could not save (the database is gone) with
/// a bare 500 of its own; a person gets our "please try again" page and a 503 instead,
/// like every other failure of the database. A 500 with a body is ours and passes.
async fn session_store_failed(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let response = next.run(request).await;
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return super::page::PageError::unavailable().into_response();
    }
    response
}
