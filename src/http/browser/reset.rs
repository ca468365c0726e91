//! Password reset pages: asking for a link at `/reset-password`, and choosing a new
//! password from it at `/reset-password/new`.
//!
//! The mailed link is `/reset-password?token=…`. Opening it keeps only the token's
//! hash in the browser session (`ResetLink`) and redirects to `/reset-password/new`, so
//! the token leaves the address bar and the page the person types their password
//! into, and nothing that page loads or links to can see it (besides `no-referrer`).
//! The link is spent only when the new password is set.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::csrf;
use crate::{
    AppState,
    accounts::{
        links::duration_words,
        reset::{DeadLink, LOGIN_MAX_CHARS, LinkState, ResetError, ResetLink},
    },
    crypto::{PasswordError, Secret},
    http::{
        extract::{PageForm, RequestOrigin, query_params},
        page::{PageError, render},
        paths,
    },
    mail::MailError,
};

/// The session key of the reset link this browser opened.
const LINK: &str = "reset_link";
/// The least time the answer to "send me a link" takes. The work for an account that
/// exists and for one that does not differs by a few database statements; waiting
/// out this floor hides that difference behind the same answer time.
const ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(100);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::RESET_PASSWORD, get(reset_page).post(reset_request))
        .route(
            paths::RESET_PASSWORD_NEW,
            get(new_password_page).post(new_password_submit),
        )
}

/// The form that asks for a link.
#[derive(Template)]
#[template(path = "reset_request.html")]
pub(super) struct ResetRequestPage {
    pub csrf: String,
    pub login: String,
    /// What is wrong with the field.
    pub error: Option<&'static str>,
    /// What is wrong with the form as a whole.
    pub alert: Option<&'static str>,
}

/// The same answer for every address: a link went out if there is an account.
#[derive(Template)]
#[template(path = "reset_sent.html")]
pub(super) struct ResetSentPage {
    pub login: String,
    pub valid_for: String,
}

/// The form for the new password.
#[derive(Template)]
#[template(path = "reset_form.html")]
pub(super) struct ResetFormPage {
    pub csrf: String,
    /// For password managers, which store the new password under it.
    pub username: String,
    pub min_length: usize,
    pub password_error: Option<String>,
    pub confirm_error: Option<&'static str>,
    pub alert: Option<&'static str>,
}

/// A link that leads nowhere any more.
#[derive(Template)]
#[template(path = "reset_link.html")]
pub(super) struct ResetLinkPage {
    pub message: &'static str,
    pub valid_for: String,
}

/// The password is set.
#[derive(Template)]
#[template(path = "reset_done.html")]
pub(super) struct ResetDonePage {
    pub username: String,
}

#[derive(Deserialize)]
pub(super) struct RequestForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
pub(super) struct NewPasswordForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Why the new-password form cannot be shown, in plain words.
#[derive(Clone, Copy)]
enum NoForm {
    Dead(DeadLink),
    /// This browser's session holds no link (cookies off, or the session ended).
    NotOpened,
}

impl NoForm {
    fn page(self, state: &AppState) -> Response {
        let (status, message) = match self {
            Self::Dead(DeadLink::Expired) => (StatusCode::GONE, "This link has expired."),
            Self::Dead(DeadLink::Used) => (
                StatusCode::GONE,
                "This link has already been used, or a newer one was sent since.",
            ),
            Self::Dead(DeadLink::Unknown) => (
                StatusCode::BAD_REQUEST,
                "This link is not valid. Check that you opened the whole link from the email.",
            ),
            Self::NotOpened => (
                StatusCode::BAD_REQUEST,
                "We could not find the link you opened in this browser. Open the link \
                 from the email again.",
            ),
        };
        let page = ResetLinkPage {
            message,
            valid_for: valid_for(state),
        };
        render(status, &page)
    }
}

fn valid_for(state: &AppState) -> String {
    duration_words(state.config.accounts.reset_ttl)
}

fn session_failed(e: tower_sessions::session::Error) -> PageError {
    tracing::error!(error = %e, "browser session failure");
    PageError::unavailable()
}

fn mail_failed(e: MailError) -> PageError {
    match e {
        MailError::Storage(e) => e.into(),
        MailError::Template(e) => {
            tracing::error!(error = %e, "a mail template failed");
            PageError::unavailable()
        }
    }
}

/// `GET /reset-password`: the form that asks for a link or, with `?token=`, the
/// mailed link itself, which goes on to the new-password form.
pub(super) async fn reset_page(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let params = query_params(query.as_deref())?;
    let token = match params.one("token") {
        Ok(Some(token)) => token,
        Ok(None) => {
            let page = ResetRequestPage {
                csrf: csrf::token(&session).await?,
                login: String::new(),
                error: None,
                alert: None,
            };
            return Ok(render(StatusCode::OK, &page));
        }
        Err(_) => return Ok(NoForm::Dead(DeadLink::Unknown).page(&state)),
    };
    let Some(link) = ResetLink::from_token(token) else {
        return Ok(NoForm::Dead(DeadLink::Unknown).page(&state));
    };
    match state.accounts.reset_link_state(&link).await? {
        LinkState::Usable { .. } => {
            session.insert(LINK, &link).await.map_err(session_failed)?;
            Ok(Redirect::to(paths::RESET_PASSWORD_NEW).into_response())
        }
        LinkState::Dead(dead) => Ok(NoForm::Dead(dead).page(&state)),
    }
}

/// `POST /reset-password`: sends a link if the address or username has an enabled
/// account, and answers the same either way.
pub(super) async fn reset_request(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<RequestForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let login = form.login.trim().to_owned();
    let retry = |status, error, alert, csrf| {
        let page = ResetRequestPage {
            csrf,
            login: form.login.clone(),
            error,
            alert,
        };
        render(status, &page)
    };
    if csrf::check(&session, form.csrf.as_deref()).await.is_err() {
        return Ok(retry(
            StatusCode::FORBIDDEN,
            None,
            Some(
                "This form had expired, so nothing was sent. Check the address and send it again.",
            ),
            csrf::token(&session).await?,
        ));
    }
    let field_error = if login.is_empty() {
        Some("Enter the email address or username of your account.")
    } else if login.chars().count() > LOGIN_MAX_CHARS {
        Some("That is longer than any email address or username: 254 characters at most.")
    } else {
        None
    };
    if let Some(error) = field_error {
        return Ok(retry(
            StatusCode::BAD_REQUEST,
            Some(error),
            None,
            csrf::token(&session).await?,
        ));
    }
    let started = tokio::time::Instant::now();
    state
        .accounts
        .request_reset(&login, &origin)
        .await
        .map_err(mail_failed)?;
    tokio::time::sleep_until(started + ANSWER_FLOOR).await;
    let page = ResetSentPage {
        login,
        valid_for: valid_for(&state),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The link this browser opened, if any.
async fn opened(session: &Session) -> Result<Option<ResetLink>, PageError> {
    session.get(LINK).await.map_err(session_failed)
}

async fn forget(session: &Session) -> Result<(), PageError> {
    session
        .remove::<ResetLink>(LINK)
        .await
        .map(|_| ())
        .map_err(session_failed)
}

/// `GET /reset-password/new`: the new-password form for the link this browser opened.
pub(super) async fn new_password_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let Some(link) = opened(&session).await? else {
        return Ok(NoForm::NotOpened.page(&state));
    };
    match state.accounts.reset_link_state(&link).await? {
        LinkState::Usable { username } => {
            let page = ResetFormPage {
                csrf: csrf::token(&session).await?,
                username,
                min_length: state.accounts.password_policy().min_length(),
                password_error: None,
                confirm_error: None,
                alert: None,
            };
            Ok(render(StatusCode::OK, &page))
        }
        LinkState::Dead(dead) => {
            forget(&session).await?;
            Ok(NoForm::Dead(dead).page(&state))
        }
    }
}

/// `POST /reset-password/new`: sets the new password, spends the link, and signs the
/// person out everywhere. The new password is never shown back.
pub(super) async fn new_password_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<NewPasswordForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let Some(link) = opened(&session).await? else {
        return Ok(NoForm::NotOpened.page(&state));
    };
    let username = match state.accounts.reset_link_state(&link).await? {
        LinkState::Usable { username } => username,
        LinkState::Dead(dead) => {
            forget(&session).await?;
            return Ok(NoForm::Dead(dead).page(&state));
        }
    };
    let min_length = state.accounts.password_policy().min_length();
    let retry = |status, password_error, confirm_error, alert, csrf| {
        let page = ResetFormPage {
            csrf,
            username: username.clone(),
            min_length,
            password_error,
            confirm_error,
            alert,
        };
        render(status, &page)
    };
    if csrf::check(&session, form.csrf.as_deref()).await.is_err() {
        return Ok(retry(
            StatusCode::FORBIDDEN,
            None,
            None,
            Some("This form had expired, so your password was not changed. Enter it again."),
            csrf::token(&session).await?,
        ));
    }
    if !form.password.is_empty() && form.password != form.confirm {
        return Ok(retry(
            StatusCode::BAD_REQUEST,
            None,
            Some("The two passwords are not the same. Type the new password in both fields."),
            None,
            csrf::token(&session).await?,
        ));
    }
    let outcome = state
        .accounts
        .reset_password(&link, Secret::new(form.password.clone()), &origin)
        .await;
    match outcome {
        Ok(username) => {
            forget(&session).await?;
            Ok(render(StatusCode::OK, &ResetDonePage { username }))
        }
        Err(ResetError::Refused(refusal)) => Ok(retry(
            StatusCode::BAD_REQUEST,
            Some(refusal.to_string()),
            None,
            None,
            csrf::token(&session).await?,
        )),
        Err(ResetError::Link(dead)) => {
            forget(&session).await?;
            Ok(NoForm::Dead(dead).page(&state))
        }
        Err(ResetError::Password(PasswordError::Busy)) => Ok(retry(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            None,
            Some("Too many people are changing passwords right now. Wait a moment and try again."),
            csrf::token(&session).await?,
        )),
        Err(ResetError::Password(e)) => Err(e.into()),
        Err(ResetError::Mail(e)) => Err(mail_failed(e)),
    }
}
