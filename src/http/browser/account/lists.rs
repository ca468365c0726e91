//! The account page's lists and their buttons: signed-in browsers and connected apps.

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{flash, me_checked, not_refused, see_section};
use crate::{
    AppState,
    accounts::manage::EndedSession,
    http::{
        browser::flow,
        extract::{PageForm, RequestOrigin},
        page::PageError,
        paths,
    },
};

#[derive(Deserialize)]
pub(super) struct EndSessionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    sid: String,
}

/// `POST /account/sessions/end`: signs out one browser (this one included) and ends
/// what its apps were given.
pub(super) async fn end_session_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<EndSessionForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let ended = match state
        .accounts
        .end_session(me.user.id, &form.sid, &me.who.sid, &origin)
        .await
    {
        Ok(ended) => ended,
        Err(e) => return not_refused(&session, e).await,
    };
    let message = match ended {
        EndedSession::This => {
            flow::sign_out(&session).await?;
            return Ok(Redirect::to(paths::LOGIN).into_response());
        }
        EndedSession::Other => "That browser is signed out, and its apps' access ended.",
        EndedSession::NotFound => "That browser was already signed out.",
    };
    flash(&session, "sessions", message).await?;
    Ok(see_section("sessions"))
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /account/sessions/end-others`: signs out every browser but this one.
pub(super) async fn end_other_sessions_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<CsrfOnly>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let ended = match state
        .accounts
        .end_other_sessions(me.user.id, &me.who.sid, &origin)
        .await
    {
        Ok(n) => n,
        Err(e) => return not_refused(&session, e).await,
    };
    let message = match ended {
        0 => "You were not signed in anywhere else.".to_owned(),
        1 => "1 other browser is signed out.".to_owned(),
        n => format!("{n} other browsers are signed out."),
    };
    flash(&session, "sessions", message).await?;
    Ok(see_section("sessions"))
}

#[derive(Deserialize)]
pub(super) struct RemoveAppForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    client_id: String,
}

/// `POST /account/apps/remove`: takes back an app's access and revokes its tokens.
pub(super) async fn remove_app_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<RemoveAppForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let removed = match state
        .accounts
        .remove_app(me.user.id, &form.client_id, &origin)
        .await
    {
        Ok(removed) => removed,
        Err(e) => return not_refused(&session, e).await,
    };
    let message = match removed {
        Some(name) => format!("{name} no longer has access to your account."),
        None => "That app had no access to remove.".to_owned(),
    };
    flash(&session, "apps", message).await?;
    Ok(see_section("apps"))
}
