//! `/admin/registration`: the initial access tokens that let apps register themselves
//! (RFC 7591): the list, a form that makes one (shown once), and revoking one.

use std::time::Duration;

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::guard::{self, Admin, Chrome};
use crate::{
    AppState,
    http::{
        browser::csrf,
        extract::PageForm,
        page::{PageError, render},
    },
    oidc::dynamic::{self, TokenError, TokenRequest},
    storage::StoredInitialToken,
};

const PAGE: &str = "/admin/registration";
/// Where the token just made waits for the page after the redirect, to be shown once.
const FRESH_TOKEN: &str = "admin.registration.fresh_token";
/// The lifetimes the form offers: (value, label, seconds).
const LIFETIMES: &[(&str, &str, u64)] = &[
    ("1h", "1 hour", 3600),
    ("1d", "1 day", 86_400),
    ("7d", "7 days", 7 * 86_400),
    ("30d", "30 days", 30 * 86_400),
    ("90d", "90 days", 90 * 86_400),
];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(registration_page).post(token_create))
        .route("/admin/registration/tokens/{id}/revoke", post(token_revoke))
}

/// A row of the list, as shown.
struct TokenRow {
    id: String,
    label: String,
    created_by: String,
    expires: String,
    uses: String,
    state: &'static str,
    live: bool,
}

fn when(unix: i64) -> String {
    match u64::try_from(unix) {
        Ok(s) => humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s))
            .to_string()
            .replace('T', " ")
            .replace('Z', " UTC"),
        Err(_) => "—".into(),
    }
}

impl TokenRow {
    fn new(t: StoredInitialToken, now: i64) -> Self {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at <= now {
            "expired"
        } else if t.max_uses.is_some_and(|m| t.uses >= m) {
            "used up"
        } else {
            "active"
        };
        Self {
            id: t.id,
            label: if t.label.is_empty() {
                "—".into()
            } else {
                t.label
            },
            created_by: t.created_by,
            expires: when(t.expires_at),
            uses: match t.max_uses {
                Some(m) => format!("{} of {m}", t.uses),
                None => t.uses.to_string(),
            },
            state,
            live: state == "active",
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/registration_tokens.html")]
struct RegistrationPage {
    chrome: Chrome,
    mode: &'static str,
    tokens: Vec<TokenRow>,
    fresh: Option<String>,
    lifetimes: &'static [(&'static str, &'static str, u64)],
    /// What was typed, kept when the form is refused.
    form_label: String,
    form_expires: String,
    form_uses: String,
    error_field: &'static str,
    error: String,
}

impl RegistrationPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        (self.error_field == field).then_some(self.error.as_str())
    }

    fn expires_is(&self, value: &str) -> bool {
        self.form_expires == value
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    admin: &Admin,
    fresh: Option<String>,
) -> Result<RegistrationPage, PageError> {
    let tokens = state.store.registrations.list_tokens(200, 0).await?;
    let now = state.clock.now();
    Ok(RegistrationPage {
        chrome: Chrome::new(session, admin, "registration").await?,
        mode: match state.config.registration.mode {
            crate::config::RegistrationMode::Closed => "closed",
            crate::config::RegistrationMode::InitialToken => "initial_token",
            crate::config::RegistrationMode::Open => "open",
        },
        tokens: tokens.into_iter().map(|t| TokenRow::new(t, now)).collect(),
        fresh,
        lifetimes: LIFETIMES,
        form_label: String::new(),
        form_expires: "1d".into(),
        form_uses: String::new(),
        error_field: "",
        error: String::new(),
    })
}

/// `GET /admin/registration`: the tokens, and the one just made, this once.
async fn registration_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, PageError> {
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    let fresh = session
        .remove::<String>(FRESH_TOKEN)
        .await
        .map_err(|_| PageError::unavailable())?;
    let page = page(&state, &session, &admin, fresh).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_in: String,
    #[serde(default)]
    max_uses: String,
}

/// `POST /admin/registration`: makes a token, then back to the page, which shows it once.
async fn token_create(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    form: Result<PageForm<CreateForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    csrf::check(&session, form.csrf.as_deref()).await?;
    let mut refused = page(&state, &session, &admin, None).await?;
    refused.form_label = form.label.clone();
    refused.form_expires = form.expires_in.clone();
    refused.form_uses = form.max_uses.clone();
    let Some(&(_, _, seconds)) = LIFETIMES.iter().find(|(v, _, _)| *v == form.expires_in) else {
        refused.error_field = "expires_in";
        refused.error = "Choose how long the token works.".into();
        return Ok(render(StatusCode::BAD_REQUEST, &refused));
    };
    let max_uses = match form.max_uses.trim() {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                refused.error_field = "max_uses";
                refused.error = "Enter a whole number, or leave it empty for no limit.".into();
                return Ok(render(StatusCode::BAD_REQUEST, &refused));
            }
        },
    };
    let req = TokenRequest {
        expires_in: Duration::from_secs(seconds),
        max_uses,
        label: form.label,
    };
    match dynamic::create_token(
        &state.store,
        &state.audit,
        admin.actor(),
        req,
        state.clock.now(),
    )
    .await
    {
        Ok(made) => {
            session
                .insert(FRESH_TOKEN, made.secret)
                .await
                .map_err(|_| PageError::unavailable())?;
            Ok(Redirect::to(PAGE).into_response())
        }
        Err(TokenError::Field(f)) => {
            refused.error_field = f.field;
            refused.error = match f.field {
                "max_uses" => "Enter a number from 1 to 1,000,000, or leave it empty.".into(),
                "label" => "Use at most 100 characters, without control characters.".into(),
                _ => "Choose how long the token works.".into(),
            };
            Ok(render(StatusCode::BAD_REQUEST, &refused))
        }
        Err(TokenError::Storage(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /admin/registration/tokens/{id}/revoke`: a sensitive action (a recent sign-in).
async fn token_revoke(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(id): Path<String>,
    form: Result<PageForm<RevokeForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    csrf::check(&session, form.csrf.as_deref()).await?;
    if let Some(again) = guard::recent(&state, &session, &admin, PAGE).await? {
        return Ok(again);
    }
    match dynamic::revoke_token(
        &state.store,
        &state.audit,
        admin.actor(),
        &id,
        state.clock.now(),
    )
    .await?
    {
        Some(_) => Ok(Redirect::to(PAGE).into_response()),
        None => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "No such token",
            "There is no registration token with that id. Go back to the list.",
        )),
    }
}
