//! The account page, `/account`, and its sections: profile, email, password, sessions,
//! connected apps, security activity, delete. One overview page; each section's form
//! posts to its own path, and a change ends in a redirect back to the overview with a
//! one-time message (Post/Redirect/Get). A refused form is shown again with what is
//! wrong next to the field and what was typed kept (never a password).
//!
//! Every POST checks, before anything is written, that the session is still signed in
//! and its person still active (else to the sign-in page), then the CSRF token.

mod delete;
mod forms;
mod lists;
pub(super) mod two_factor;
pub(super) mod view;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use tower_sessions::Session;

use super::{csrf, flow};
use crate::{
    AppState,
    accounts::{AuthenticatedUser, manage::ManageError},
    http::{
        page::{PageError, render},
        paths,
    },
    storage::StoredUser,
};
use view::{AccountPage, Flash, Overview};

const PROFILE: &str = "/account/profile";
const EMAIL: &str = "/account/email";
const PASSWORD: &str = "/account/password";
const END_SESSION: &str = "/account/sessions/end";
const END_OTHER_SESSIONS: &str = "/account/sessions/end-others";
const REMOVE_APP: &str = "/account/apps/remove";
const DELETE: &str = "/account/delete";

/// The session key of the one-time message.
const FLASH: &str = "account_flash";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::HOME, get(home))
        .route(paths::ACCOUNT, get(account_page))
        .route(PROFILE, post(forms::profile_submit))
        .route(EMAIL, post(forms::email_submit))
        .route(PASSWORD, post(forms::password_submit))
        .route(END_SESSION, post(lists::end_session_submit))
        .route(END_OTHER_SESSIONS, post(lists::end_other_sessions_submit))
        .route(REMOVE_APP, post(lists::remove_app_submit))
        .route(DELETE, get(delete::delete_page).post(delete::delete_submit))
        .merge(two_factor::routes())
}

/// The person signed in to this browser, still active.
pub(super) struct Me {
    pub who: AuthenticatedUser,
    pub user: StoredUser,
}

/// The signed-in, active person, or the redirect to sign in. A session whose person
/// was disabled or deleted since is ended here.
async fn me(state: &AppState, session: &Session) -> Result<Result<Me, Response>, PageError> {
    let Some(who) = flow::signed_in(session).await? else {
        return Ok(Err(to_login()));
    };
    match state.accounts.active_user(who.user_id).await {
        Ok(user) => Ok(Ok(Me { who, user })),
        Err(ManageError::Inactive) => {
            flow::sign_out(session).await?;
            Ok(Err(to_login()))
        }
        Err(e) => Err(failed(e)),
    }
}

fn to_login() -> Response {
    Redirect::to(paths::LOGIN).into_response()
}

/// Back to the overview, at `section`.
pub(super) fn see_section(section: &str) -> Response {
    Redirect::to(&format!("{}#{section}", paths::ACCOUNT)).into_response()
}

/// Keeps `message` for the next view of the overview, in `section`.
pub(super) async fn flash(
    session: &Session,
    section: &str,
    message: impl Into<String>,
) -> Result<(), PageError> {
    let flash = Flash {
        section: section.to_owned(),
        message: message.into(),
    };
    session.insert(FLASH, flash).await.map_err(|e| {
        tracing::error!(error = %e, "session write failed");
        PageError::unavailable()
    })
}

/// A failure that is not the person's input, as a page.
fn failed(e: ManageError) -> PageError {
    match e {
        ManageError::Busy => PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Too many people are signing in right now. Wait a moment and try again.",
        ),
        ManageError::Storage(e) => e.into(),
        ManageError::Password(e) => e.into(),
        ManageError::Inactive | ManageError::Refused(_) | ManageError::Mail(_) => {
            if let ManageError::Mail(e) = &e {
                tracing::error!(error = %e, "a mail template failed");
            }
            PageError::unavailable()
        }
    }
}

/// What a failed change answers when it is not a refusal of the input: the sign-in
/// page for a person no longer active, an error page otherwise.
async fn not_refused(session: &Session, e: ManageError) -> Result<Response, PageError> {
    match e {
        ManageError::Inactive => {
            flow::sign_out(session).await?;
            Ok(to_login())
        }
        other => Err(failed(other)),
    }
}

/// The CSRF check of an account form: `false` when the token is missing or wrong.
async fn csrf_ok(session: &Session, sent: Option<&str>) -> bool {
    csrf::check(session, sent).await.is_ok()
}

/// What every section's form checks first: a signed-in, active person (else to
/// sign-in) and the form's CSRF token (else the overview, saying nothing changed).
pub(super) async fn me_checked(
    state: &AppState,
    session: &Session,
    sent_csrf: Option<&str>,
) -> Result<Result<Me, Response>, PageError> {
    let me = match me(state, session).await? {
        Ok(me) => me,
        Err(to_login) => return Ok(Err(to_login)),
    };
    if !csrf_ok(session, sent_csrf).await {
        let mut page = overview(state, session, &me).await?;
        page.alert = Some(EXPIRED.into());
        return Ok(Err(render(StatusCode::FORBIDDEN, &page)));
    }
    Ok(Ok(me))
}

/// What the page says when a form's CSRF token did not match; nothing was written,
/// and what the form carried is not shown again (it may not be the person's).
const EXPIRED: &str = "This form had expired, so nothing was changed. Please fill it in again.";

/// The overview with the person's data as stored.
async fn overview(state: &AppState, session: &Session, me: &Me) -> Result<AccountPage, PageError> {
    let accounts = &state.accounts;
    let id = me.user.id;
    let data = Overview {
        pending_email: accounts.pending_email(&me.user).await?,
        sessions: accounts.sessions(id, &me.who.sid).await.map_err(failed)?,
        apps: accounts.connected_apps(id).await.map_err(failed)?,
        activity: accounts.security_activity(id).await.map_err(failed)?,
        passkeys: super::passkeys::section(state, &me.who).await?,
        second_factors: accounts.second_factors(id).await?,
        user: me.user.clone(),
    };
    Ok(AccountPage::new(
        csrf::token(session).await?,
        data,
        accounts.password_policy().min_length(),
    ))
}

/// The overview again, answering a refused passkey form with `message` beside
/// `field` of the passkey section (see `browser::passkeys`).
pub(super) async fn passkey_refusal(
    state: &AppState,
    session: &Session,
    me: &Me,
    status: StatusCode,
    field: String,
    message: String,
) -> Result<Response, PageError> {
    let mut page = overview(state, session, me).await?;
    page.passkeys.error = Some((field, message));
    Ok(render(status, &page))
}

/// `GET /`: the account page for a signed-in person, the sign-in page for anyone else.
async fn home(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    Ok(match me(&state, &session).await? {
        Ok(_) => Redirect::to(paths::ACCOUNT).into_response(),
        Err(to_login) => to_login,
    })
}

/// `GET /account`: the overview, with the one-time message of the last change.
async fn account_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let me = match me(&state, &session).await? {
        Ok(me) => me,
        Err(to_login) => return Ok(to_login),
    };
    let mut page = overview(&state, &session, &me).await?;
    page.flash = session.remove::<Flash>(FLASH).await.ok().flatten();
    Ok(render(StatusCode::OK, &page))
}
