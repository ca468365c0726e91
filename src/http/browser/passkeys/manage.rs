//! The account page's passkey section: its rows, and the rename and remove forms, which
//! need no JavaScript.

use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::{
    AppState,
    accounts::{AuthenticatedUser, second_factor::passkeys::PasskeyError},
    http::{
        extract::{PageForm, RequestOrigin},
        page::PageError,
    },
    storage::StoredPasskey,
};

use super::super::account;
use super::*;

/// The account page's passkey section, as `templates/account_passkeys.html` shows it.
pub(in crate::http::browser) struct PasskeySection {
    /// This server offers passkeys at all.
    pub available: bool,
    /// The sign-in is recent enough to add, rename or remove passkeys.
    pub recent: bool,
    pub rows: Vec<PasskeyRow>,
    /// What is wrong, by the id of the field it is about (`passkey-name` or
    /// `rename-<id>`).
    pub error: Option<(String, String)>,
}

pub(in crate::http::browser) struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: Option<String>,
}

impl PasskeySection {
    /// The message beside field `id`, if it is wrong.
    pub(in crate::http::browser) fn error_for(&self, id: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(field, _)| field == id)
            .map(|(_, m)| m.as_str())
    }
}

pub(super) fn row(p: StoredPasskey) -> PasskeyRow {
    PasskeyRow {
        id: p.id.to_string(),
        name: p.name,
        added: account::view::human_time(p.created_at),
        last_used: p.last_used_at.map(account::view::human_time),
    }
}

/// The section for the signed-in `who`.
pub(in crate::http::browser) async fn section(
    state: &AppState,
    who: &AuthenticatedUser,
) -> Result<PasskeySection, PageError> {
    let rows = state
        .passkeys
        .list(who.user_id)
        .await
        .map_err(|e| match e {
            PasskeyError::Storage(e) => PageError::from(e),
            _ => PageError::unavailable(),
        })?;
    Ok(PasskeySection {
        available: state.passkeys.available(),
        recent: is_recent(state, who),
        rows: rows.into_iter().map(row).collect(),
        error: None,
    })
}

#[derive(Deserialize)]
pub(super) struct RenameForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    id: String,
}

/// The account page again, with `message` beside `field` in the passkey section.
pub(super) async fn refuse_page(
    state: &AppState,
    session: &Session,
    me: &account::Me,
    status: StatusCode,
    field: String,
    message: impl Into<String>,
) -> Result<Response, PageError> {
    account::passkey_refusal(state, session, me, status, field, message.into()).await
}

pub(super) const NOT_RECENT: &str =
    "To change your passkeys, sign in again first: it has been a while since you did.";
pub(super) const NO_SUCH: &str =
    "That passkey is not on your account any more. Nothing was changed.";

/// `POST /account/passkeys/rename`: gives one of the person's passkeys a new name.
pub(super) async fn rename_submit(
    State(state): State<AppState>,
    session: Session,
    form: Result<PageForm<RenameForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match account::me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let field = format!("rename-{}", form.id);
    if !is_recent(&state, &me.who) {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::FORBIDDEN,
            SECTION.into(),
            NOT_RECENT,
        )
        .await;
    }
    let Ok(id) = Uuid::parse_str(&form.id) else {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::NOT_FOUND,
            "passkeys".into(),
            NO_SUCH,
        )
        .await;
    };
    match state.passkeys.rename(me.user.id, id, &form.name).await {
        Ok(true) => {
            account::flash(&session, SECTION, "The passkey is renamed.").await?;
            Ok(account::see_section(SECTION))
        }
        Ok(false) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::NOT_FOUND,
                "passkeys".into(),
                NO_SUCH,
            )
            .await
        }
        Err(PasskeyError::Refused(message)) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::BAD_REQUEST,
                field,
                message,
            )
            .await
        }
        Err(PasskeyError::Storage(e)) => Err(e.into()),
        Err(_) => Err(PageError::unavailable()),
    }
}

/// `POST /account/passkeys/remove`: removes one of the person's passkeys; it signs in
/// nowhere from now on.
pub(super) async fn remove_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<RemoveForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match account::me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    if !is_recent(&state, &me.who) {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::FORBIDDEN,
            SECTION.into(),
            NOT_RECENT,
        )
        .await;
    }
    let Ok(id) = Uuid::parse_str(&form.id) else {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::NOT_FOUND,
            "passkeys".into(),
            NO_SUCH,
        )
        .await;
    };
    match state.passkeys.remove(me.user.id, id, &origin).await {
        Ok(Some(name)) => {
            let message = format!("Your passkey “{name}” is removed. It cannot sign in any more.");
            account::flash(&session, SECTION, message).await?;
            Ok(account::see_section(SECTION))
        }
        Ok(None) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::NOT_FOUND,
                "passkeys".into(),
                NO_SUCH,
            )
            .await
        }
        Err(PasskeyError::Storage(e)) => Err(e.into()),
        Err(_) => Err(PageError::unavailable()),
    }
}
