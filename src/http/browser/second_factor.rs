//! The second-factor page: after the password, before any consent or code. A person
//! with a second factor types a code from their authenticator app or a recovery code
//! (one field: the two have different shapes); a passkey, when they have one, is
//! offered beside it (`passkeys.js` fills the slot).
//!
//! Every wrong answer (wrong, malformed, replayed or expired) gets the same plain
//! message, counts towards lockout and is recorded; the fifth in one attempt ends it.

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{csrf, flow, login::LoginPage};
use crate::{
    AppState,
    accounts::manage::ManageError,
    http::{
        extract::{PageForm, RequestOrigin},
        page::{PageError, render},
        paths,
    },
};

/// How long a half sign-in waits for its second factor (seconds).
const HALF_LIFE: i64 = 5 * 60;
/// Wrong codes that end one attempt.
const MAX_FAILURES: u8 = 5;
/// Where a person who must have a second factor but has none sets one up.
pub(super) const ENROL: &str = "/account/two-factor/totp";

const WRONG: &str = "That code didn't work. Check the code and try again: a code from your \
                     app changes every 30 seconds, and each recovery code works once.";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        paths::SECOND_FACTOR,
        get(second_factor_page).post(second_factor_submit),
    )
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub(super) struct SecondFactorPage {
    pub csrf: String,
    pub request: Option<String>,
    pub error: Option<&'static str>,
    /// The person has a passkey: offer it (the slot `passkeys.js` looks for).
    pub passkeys: bool,
    /// The person has an authenticator app.
    pub totp: bool,
}

#[derive(Template)]
#[template(path = "second_factor_locked.html")]
pub(super) struct LockedPage {
    /// `lockout::locked_sentence`.
    pub sentence: String,
}

#[derive(Deserialize)]
pub(super) struct SecondFactorQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct SecondFactorForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "second_factor_expired.html")]
pub(super) struct ExpiredPage {
    /// Where to sign in again: for the same request, when there is one.
    pub again: String,
}

fn expired(request: Option<&str>) -> Response {
    let again = match request {
        Some(id) => flow::page_url(paths::LOGIN, id),
        None => paths::LOGIN.to_owned(),
    };
    render(StatusCode::BAD_REQUEST, &ExpiredPage { again })
}

fn locked(now: i64, until: i64) -> Response {
    let sentence = crate::accounts::lockout::locked_sentence((until - now).max(1));
    render(StatusCode::TOO_MANY_REQUESTS, &LockedPage { sentence })
}

fn manage_failed(e: ManageError) -> PageError {
    match e {
        ManageError::Storage(e) => e.into(),
        other => {
            tracing::error!(error = %other, "second factor check failed");
            PageError::unavailable()
        }
    }
}

/// The half sign-in of this browser, if it is still young enough; an expired one is
/// ended. A person already signed in with a password alone, whom the flow sends here
/// (a second factor is now due for an app), starts one from that sign-in.
async fn current_half(
    state: &AppState,
    session: &Session,
    request: Option<&str>,
) -> Result<Option<flow::HalfSignedIn>, PageError> {
    let now = state.clock.now();
    if let Some(half) = flow::half_signed_in(session).await? {
        if now - half.who.auth_time > HALF_LIFE {
            flow::abandon_second_factor(session).await?;
            return Ok(None);
        }
        return Ok(Some(half));
    }
    let Some(who) = flow::signed_in(session).await? else {
        return Ok(None);
    };
    if who.amr.iter().any(|a| a == "mfa") || request.is_none() {
        return Ok(None);
    }
    // The half sign-in's clock starts now, not at the password typed long ago (the
    // time is set again when the second factor is given).
    let who = crate::accounts::AuthenticatedUser {
        auth_time: now,
        ..who
    };
    flow::await_second_factor(session, &who, request).await?;
    flow::half_signed_in(session).await
}

/// `GET /login/second-factor`: asks for the second factor of the half sign-in.
pub(super) async fn second_factor_page(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    Query(q): Query<SecondFactorQuery>,
) -> Result<Response, PageError> {
    let Some(half) = current_half(&state, &session, q.request.as_deref()).await? else {
        // Already past the second step in this browser: on with the request.
        if let (Some(id), Some(_)) = (&q.request, flow::signed_in(&session).await?) {
            return flow::proceed(&state, &session, id).await;
        }
        return Ok(expired(q.request.as_deref()));
    };
    let user = half.who.user_id;
    let methods = state.accounts.second_factors(user).await?;
    if !methods.any() {
        // Must have one, has none: set one up, then the sign-in goes on.
        flow::abandon_second_factor(&session).await?;
        flow::sign_in(&session, &half.who, &origin).await?;
        let to = match &half.request {
            Some(id) => flow::page_url(ENROL, id),
            None => ENROL.to_owned(),
        };
        return Ok(Redirect::to(&to).into_response());
    }
    if let Some(until) = state.accounts.locked_until(user).await? {
        return Ok(locked(state.clock.now(), until));
    }
    let page = SecondFactorPage {
        csrf: csrf::token(&session).await?,
        request: half.request.clone(),
        error: None,
        passkeys: methods.passkeys > 0,
        totp: methods.totp,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /login/second-factor`: checks the code; right, signs in (RFC 8176 `amr`
/// "otp" and "mfa") and continues the request; wrong, says so, and the fifth wrong
/// code ends the attempt.
pub(super) async fn second_factor_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<SecondFactorForm>, PageError>,
) -> Result<Response, PageError> {
    let Some(mut half) = current_half(&state, &session, None).await? else {
        return Ok(expired(None));
    };
    // A form that cannot be read (a control character in the code) gets the same
    // plain message as a wrong code, but is not counted: without its CSRF token it
    // cannot be told from a forged post.
    let Ok(PageForm(form)) = form else {
        return retry(&state, &session, &half).await;
    };
    csrf::check(&session, form.csrf.as_deref()).await?;
    let user = half.who.user_id;
    let now = state.clock.now();
    if let Some(until) = state.accounts.locked_until(user).await? {
        return Ok(locked(now, until));
    }
    let client_id = match &half.request {
        Some(id) => flow::pending(&session, id)
            .await
            .ok()
            .map(|p| p.request.client_id.as_str().to_owned()),
        None => None,
    };
    let passed = state
        .accounts
        .pass_second_factor(user, &form.code, &origin, client_id.as_deref())
        .await
        .map_err(manage_failed)?;
    if let Some(passed) = passed {
        let request = half.request.clone();
        let who =
            flow::complete_second_factor(&session, half, &[passed.amr()], &origin, now).await?;
        state.accounts.count_success(user).await?;
        state
            .accounts
            .record_second_factor_sign_in(user, passed, &who.amr, &origin, client_id.as_deref())
            .await;
        return flow::after_sign_in(&state, &session, request.as_deref()).await;
    }
    if let Some(until) = state.accounts.count_failure(user, &origin).await? {
        flow::abandon_second_factor(&session).await?;
        return Ok(locked(now, until));
    }
    half.failures = half.failures.saturating_add(1);
    if half.failures >= MAX_FAILURES {
        flow::abandon_second_factor(&session).await?;
        let page = LoginPage {
            csrf: csrf::token(&session).await?,
            request: half.request,
            client_name: None,
            login: String::new(),
            error: Some(
                "That was too many wrong codes, so this sign-in has ended. Sign in again \
                 to try once more.",
            ),
            registration_open: super::login::registration_open(&state),
            locked_for: None,
        };
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    flow::update_half(&session, &half).await?;
    retry(&state, &session, &half).await
}

/// The page again, saying the code didn't work.
async fn retry(
    state: &AppState,
    session: &Session,
    half: &flow::HalfSignedIn,
) -> Result<Response, PageError> {
    let methods = state.accounts.second_factors(half.who.user_id).await?;
    let page = SecondFactorPage {
        csrf: csrf::token(session).await?,
        request: half.request.clone(),
        error: Some(WRONG),
        passkeys: methods.passkeys > 0,
        totp: methods.totp,
    };
    Ok(render(StatusCode::BAD_REQUEST, &page))
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::SecondFactorPage;

    #[test]
    fn the_passkey_slot_is_there_only_for_a_person_with_a_passkey() {
        let page = |passkeys| SecondFactorPage {
            csrf: "c".into(),
            request: Some("r1".into()),
            error: None,
            passkeys,
            totp: true,
        };
        let html = page(true).render().expect("renders");
        assert!(
            html.contains(r#"<div id="passkey-second-factor" data-request="r1" hidden>"#),
            "{html}"
        );
        assert!(html.contains(r#"<script src="/static/passkeys.js" defer></script>"#));
        assert!(html.contains("Use a passkey"));
        let html = page(false).render().expect("renders");
        assert!(!html.contains("passkey-second-factor") && !html.contains("<script"));
    }
}
