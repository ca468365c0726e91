//! Deleting the account: a page of its own that says what will happen and asks for
//! the password again and a ticked box.

use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{EXPIRED, csrf_ok, me, not_refused, view::DeletePage, view::field_id};
use crate::{
    AppState,
    accounts::manage::ManageError,
    http::{
        browser::{csrf, flow},
        extract::{PageForm, RequestOrigin},
        page::{MessagePage, PageError, render},
    },
};

/// `GET /account/delete`: what deleting means, and the form that does it.
pub(super) async fn delete_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let me = match me(&state, &session).await? {
        Ok(me) => me,
        Err(to_login) => return Ok(to_login),
    };
    let page = DeletePage {
        csrf: csrf::token(&session).await?,
        username: me.user.username,
        alert: None,
        errors: Vec::new(),
        confirmed: false,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /account/delete`: deletes the account and signs this browser out.
pub(super) async fn delete_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<DeleteForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me(&state, &session).await? {
        Ok(me) => me,
        Err(to_login) => return Ok(to_login),
    };
    let confirmed = form.confirm.as_deref() == Some("yes");
    let mut page = DeletePage {
        csrf: String::new(),
        username: me.user.username.clone(),
        alert: None,
        errors: Vec::new(),
        confirmed,
    };
    if !csrf_ok(&session, form.csrf.as_deref()).await {
        page.csrf = csrf::token(&session).await?;
        page.alert = Some(EXPIRED.into());
        page.confirmed = false;
        return Ok(render(StatusCode::FORBIDDEN, &page));
    }
    match state
        .accounts
        .delete_account(me.user.id, &form.password, confirmed, &origin)
        .await
    {
        Ok(()) => {
            flow::sign_out(&session).await?;
            Ok(render(
                StatusCode::OK,
                &MessagePage {
                    title: "Your account is deleted".into(),
                    message: "You are signed out everywhere, every app’s access has ended, \
                              and your personal details are removed. We sent a last email \
                              to confirm it."
                        .into(),
                },
            ))
        }
        Err(ManageError::Refused(refusal)) => {
            page.csrf = csrf::token(&session).await?;
            page.errors.push((field_id(refusal.field), refusal.message));
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}
