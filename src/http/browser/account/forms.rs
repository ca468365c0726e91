//! The account page's own forms: profile, email address, password.

use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{flash, me_checked, not_refused, overview, see_section, view::ProfileFields};
use crate::{
    AppState,
    accounts::manage::{ManageError, PasswordChange, ProfileInput},
    http::{
        extract::{PageForm, RequestOrigin},
        page::{PageError, render},
    },
};

#[derive(Deserialize)]
pub(super) struct ProfileForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
}

/// `POST /account/profile`: saves the display, given and family names.
pub(super) async fn profile_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<ProfileForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let input = ProfileInput {
        display_name: &form.display_name,
        given_name: &form.given_name,
        family_name: &form.family_name,
    };
    match state
        .accounts
        .update_profile(me.user.id, &input, &origin)
        .await
    {
        Ok(_) => {
            flash(&session, "profile", "Your profile is saved.").await?;
            Ok(see_section("profile"))
        }
        Err(ManageError::Refused(refusal)) => {
            let mut page = overview(&state, &session, &me).await?;
            page.profile = ProfileFields {
                display_name: form.display_name,
                given_name: form.given_name,
                family_name: form.family_name,
            };
            page.refuse(refusal);
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    new_email: String,
}

/// `POST /account/email`: asks for a new address, confirmed by a mailed link.
pub(super) async fn email_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<EmailForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    match state
        .accounts
        .request_email_change(me.user.id, &form.new_email, &origin)
        .await
    {
        Ok(address) => {
            let message = format!("We sent a link to {address}.");
            flash(&session, "email", message).await?;
            Ok(see_section("email"))
        }
        Err(ManageError::Refused(refusal)) => {
            let mut page = overview(&state, &session, &me).await?;
            page.new_email = form.new_email;
            page.refuse(refusal);
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: changes the password; every other browser is signed out
/// and every app's tokens are revoked.
pub(super) async fn password_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<PasswordForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let change = PasswordChange {
        current: &form.current_password,
        new: &form.new_password,
        confirm: &form.confirm_password,
    };
    match state
        .accounts
        .change_password(me.user.id, change, &me.who.sid, &origin)
        .await
    {
        Ok(_) => {
            // A new session id after a credential change (OWASP Session Management);
            // the sign-in itself, and its sid, stay.
            session.cycle_id().await.map_err(|e| {
                tracing::error!(error = %e, "session write failed");
                PageError::unavailable()
            })?;
            flash(
                &session,
                "password",
                "Your password is changed. Every other browser and every app signed in \
                 with it was signed out.",
            )
            .await?;
            Ok(see_section("password"))
        }
        Err(ManageError::Refused(refusal)) => {
            let mut page = overview(&state, &session, &me).await?;
            page.refuse(refusal);
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}
