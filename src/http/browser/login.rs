//! The sign-in page.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{csrf, flow};
use crate::{
    AppState,
    accounts::{LoginError, PasswordAccepted, lockout},
    crypto::{PasswordError, Secret},
    http::extract::{PageForm, RequestOrigin},
    http::page::{PageError, render},
    http::paths,
};

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub csrf: String,
    pub request: Option<String>,
    pub client_name: Option<String>,
    pub login: String,
    pub error: Option<&'static str>,
    /// The account is locked for about this long ("3 minutes"): said instead of `error`.
    pub locked_for: Option<String>,
    /// Whether to offer "Create an account" (`accounts.registration = "open"`).
    pub registration_open: bool,
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

pub(super) fn registration_open(state: &AppState) -> bool {
    state.config.accounts.registration == crate::config::Registration::Open
}

/// `GET /login`: the form, for a pending authorization request or on its own.
pub(super) async fn login_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let (client_name, login) = match &q.request {
        Some(id) => {
            let p = flow::pending(&session, id).await?;
            (
                Some(p.request.client_name),
                p.request.login_hint.unwrap_or_default(),
            )
        }
        None => (None, String::new()),
    };
    let page = LoginPage {
        csrf: csrf::token(&session).await?,
        request: q.request,
        client_name,
        login,
        error: None,
        locked_for: None,
        registration_open: registration_open(&state),
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /login`: checks the password, then continues the pending request.
pub(super) async fn login_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<LoginForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    csrf::check(&session, form.csrf.as_deref()).await?;
    let pending = match &form.request {
        Some(id) => Some(flow::pending(&session, id).await?.request),
        None => None,
    };
    let client_name = pending.as_ref().map(|r| r.client_name.clone());
    let retry = |status: StatusCode, error: &'static str, csrf: String| {
        let page = LoginPage {
            csrf,
            request: form.request.clone(),
            client_name: client_name.clone(),
            login: form.login.clone(),
            error: Some(error),
            locked_for: None,
            registration_open: registration_open(&state),
        };
        render(status, &page)
    };
    if form.login.trim().is_empty() || form.password.is_empty() {
        return Ok(retry(
            StatusCode::BAD_REQUEST,
            "Enter your username or email and your password.",
            csrf::token(&session).await?,
        ));
    }
    let outcome = state
        .accounts
        .login(
            &form.login,
            Secret::new(form.password.clone()),
            &origin,
            pending.as_ref().map(|r| r.client_id.as_str()),
        )
        .await;
    let PasswordAccepted {
        who,
        second_factor_due,
    } = match outcome {
        Ok(accepted) => accepted,
        Err(LoginError::InvalidCredentials) => {
            return Ok(retry(
                StatusCode::BAD_REQUEST,
                "That username or password is not right. Check them and try again.",
                csrf::token(&session).await?,
            ));
        }
        Err(LoginError::Disabled) => {
            return Ok(retry(
                StatusCode::FORBIDDEN,
                "This account is disabled. Contact your administrator.",
                csrf::token(&session).await?,
            ));
        }
        Err(LoginError::Locked { until, .. }) => {
            // The same answer whatever the password was: it was not looked at.
            let wait = (until - state.clock.now()).max(1);
            let page = LoginPage {
                csrf: csrf::token(&session).await?,
                request: form.request.clone(),
                client_name: client_name.clone(),
                login: form.login.clone(),
                error: None,
                // Empty: locked until a reset, with no time to wait for.
                locked_for: Some(if lockout::until_reset(wait) {
                    String::new()
                } else {
                    lockout::minutes_words(wait)
                }),
                registration_open: registration_open(&state),
            };
            let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
            if !lockout::until_reset(wait) {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            return Ok(response);
        }
        Err(LoginError::EmailNotVerified(user)) => {
            // The password was right: this browser may ask for a new link for this
            // account (and only this one), without typing anything again.
            super::verify::remember_unverified(&session, user.id).await?;
            let page = super::verify::UnverifiedPage {
                csrf: csrf::token(&session).await?,
                email: super::verify::mask_email(&user.email),
                request: form.request.clone(),
                notice: None,
                error: None,
            };
            return Ok(render(StatusCode::FORBIDDEN, &page));
        }
        Err(LoginError::Password(PasswordError::Busy)) => {
            return Ok(retry(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many people are signing in right now. Wait a moment and try again.",
                csrf::token(&session).await?,
            ));
        }
        Err(LoginError::Password(e)) => return Err(e.into()),
        Err(LoginError::Storage(e)) => return Err(e.into()),
    };
    // The app named who should sign in (id_token_hint): anyone else is not signed in
    // for it (OIDC Core section 3.1.2.1).
    let expected = pending.as_ref().and_then(|r| r.expected_subject.as_deref());
    if expected.is_some_and(|sub| sub != who.user_id.to_string()) {
        return Ok(retry(
            StatusCode::FORBIDDEN,
            "The app asked you to sign in with a different account. Sign in with that \
             account, or go back to the app.",
            csrf::token(&session).await?,
        ));
    }
    super::verify::forget_unverified(&session).await?;
    // A person with a second factor is not signed in until they give it.
    if second_factor_due {
        flow::await_second_factor(&session, &who, form.request.as_deref()).await?;
        let to = match &form.request {
            Some(id) => flow::page_url(paths::SECOND_FACTOR, id),
            None => paths::SECOND_FACTOR.to_owned(),
        };
        return Ok(Redirect::to(&to).into_response());
    }
    flow::sign_in(&session, &who, &origin).await?;
    // Must have a second factor and has none: set one up first (for an app's request,
    // `proceed` sends them there too, by way of the second-factor page).
    if form.request.is_none() && state.accounts.must_enrol(who.user_id).await? {
        return Ok(Redirect::to(super::second_factor::ENROL).into_response());
    }
    flow::after_sign_in(&state, &session, form.request.as_deref()).await
}
