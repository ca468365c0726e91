//! The sign-up page, `/register`: linked from the sign-in page when
//! `accounts.registration = "open"`, and a 404 otherwise.

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

use super::{csrf, flow, verify};
use crate::{
    AppState,
    accounts::{
        AuthenticatedUser,
        registration::{Field, SignUp, SignUpError, SignedUp},
    },
    audit::{Event, EventKind},
    crypto::{PasswordError, Secret},
    http::{
        extract::{PageForm, RequestOrigin},
        page::{PageError, not_found, render},
        paths,
    },
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(paths::REGISTER, get(register_page).post(register_submit))
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    csrf: String,
    request: Option<String>,
    client_name: Option<String>,
    username: String,
    email: String,
    display_name: String,
    min_length: usize,
    /// A problem with the whole form (not one field).
    error: Option<String>,
    username_error: Option<String>,
    email_error: Option<String>,
    display_name_error: Option<String>,
    password_error: Option<String>,
}

impl RegisterPage {
    /// The first field with something wrong, which gets the focus.
    fn first_wrong(&self) -> &'static str {
        if self.username_error.is_some() {
            "username"
        } else if self.email_error.is_some() {
            "email"
        } else if self.display_name_error.is_some() {
            "display_name"
        } else if self.password_error.is_some() {
            "password"
        } else {
            ""
        }
    }

    /// Whether any field has an error: the summary at the top then says so.
    fn has_field_error(&self) -> bool {
        self.username_error.is_some()
            || self.email_error.is_some()
            || self.display_name_error.is_some()
            || self.password_error.is_some()
    }
}

#[derive(Deserialize)]
struct RegisterQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

/// The longest any field is echoed back into the form.
const ECHO_MAX: usize = 300;

fn echo(s: &str) -> String {
    s.chars().take(ECHO_MAX).collect()
}

/// `GET /register`.
async fn register_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    if !state.accounts.registration_open() {
        return Ok(not_found().await.into_response());
    }
    let client_name = match &q.request {
        Some(id) => Some(flow::pending(&session, id).await?.request.client_name),
        None => None,
    };
    let page = RegisterPage {
        csrf: csrf::token(&session).await?,
        request: q.request,
        client_name,
        username: String::new(),
        email: String::new(),
        display_name: String::new(),
        min_length: state.accounts.password_policy().min_length(),
        error: None,
        username_error: None,
        email_error: None,
        display_name_error: None,
        password_error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /register`: creates the account, sends the verification mail, and either
/// asks the person to check their mail or (when addresses need no confirming) signs
/// them in and continues to the app.
async fn register_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<RegisterForm>, PageError>,
) -> Result<Response, PageError> {
    if !state.accounts.registration_open() {
        return Ok(not_found().await.into_response());
    }
    let PageForm(form) = form?;
    csrf::check(&session, form.csrf.as_deref()).await?;
    let pending = match &form.request {
        Some(id) => Some(flow::pending(&session, id).await?),
        None => None,
    };
    let outcome = state
        .accounts
        .sign_up(
            SignUp {
                username: &form.username,
                email: &form.email,
                display_name: &form.display_name,
                password: Secret::new(form.password.clone()),
            },
            &origin,
        )
        .await;
    let mut page = RegisterPage {
        csrf: String::new(),
        request: form.request.clone(),
        client_name: pending.as_ref().map(|p| p.request.client_name.clone()),
        username: echo(&form.username),
        email: echo(&form.email),
        display_name: echo(&form.display_name),
        min_length: state.accounts.password_policy().min_length(),
        error: None,
        username_error: None,
        email_error: None,
        display_name_error: None,
        password_error: None,
    };
    let status = match outcome {
        Ok(done) => return signed_up(&state, &session, &origin, &form, done).await,
        Err(SignUpError::Invalid(wrong)) => {
            for (field, message) in wrong {
                let slot = match field {
                    Field::Username => &mut page.username_error,
                    Field::Email => &mut page.email_error,
                    Field::DisplayName => &mut page.display_name_error,
                    Field::Password => &mut page.password_error,
                };
                *slot = Some(message);
            }
            StatusCode::BAD_REQUEST
        }
        Err(SignUpError::Password(PasswordError::Busy)) => {
            page.error =
                Some("Many people are signing up right now. Wait a moment and try again.".into());
            StatusCode::SERVICE_UNAVAILABLE
        }
        Err(SignUpError::Closed) => return Ok(not_found().await.into_response()),
        Err(SignUpError::Password(e)) => return Err(e.into()),
        Err(SignUpError::Storage(e)) => return Err(e.into()),
        Err(SignUpError::Mail(e)) => {
            tracing::error!(error = %e, "could not queue the verification mail");
            return Err(PageError::unavailable());
        }
    };
    page.csrf = csrf::token(&session).await?;
    Ok(render(status, &page))
}

/// After a sign-up: "check your mail" (the same for a new address and a registered
/// one), or, when addresses need no confirming, signed in and on to the app.
async fn signed_up(
    state: &AppState,
    session: &Session,
    origin: &crate::audit::Origin,
    form: &RegisterForm,
    done: SignedUp,
) -> Result<Response, PageError> {
    let require = state.config.accounts.require_verified_email;
    match (&done, require) {
        (SignedUp::Created(user), false) => {
            let who = AuthenticatedUser::by_password(user.id, state.clock.now());
            flow::sign_in(session, &who, origin).await?;
            let event = Event::by_user(EventKind::SignIn, user.id)
                .from(origin)
                .with("amr", who.amr.clone())
                .with("after", "registration");
            state.audit.record(event, state.clock.now()).await;
            return Ok(match &form.request {
                Some(id) => {
                    flow::update(session, id, |p| p.signed_in = true).await?;
                    flow::proceed(state, session, id).await?
                }
                None => Redirect::to(paths::ACCOUNT).into_response(),
            });
        }
        (SignedUp::Created(user), true) => verify::remember_unverified(session, user.id).await?,
        (SignedUp::AddressTaken, _) => verify::remember_nobody(session).await?,
    }
    if let Some(id) = &form.request {
        verify::remember_signed_up_for(session, id).await?;
    }
    let page = verify::UnverifiedPage {
        csrf: csrf::token(session).await?,
        email: echo(form.email.trim()),
        request: form.request.clone(),
        notice: None,
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}
