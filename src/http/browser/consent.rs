//! The consent page.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{csrf, flow};
use crate::{
    AppState,
    http::extract::{PageForm, RequestOrigin},
    http::{
        page::{PageError, render},
        paths,
    },
    oidc::{error::ErrorCode, scopes},
};

pub(super) struct ScopeLine {
    pub title: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(super) struct ConsentPage {
    pub csrf: String,
    pub request: String,
    pub client_name: String,
    pub username: String,
    pub scopes: Vec<ScopeLine>,
}

#[derive(Deserialize)]
pub(super) struct ConsentQuery {
    request: String,
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// `GET /consent`: what the app asks for, in plain words.
pub(super) async fn consent_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ConsentQuery>,
) -> Result<Response, PageError> {
    let p = flow::pending(&session, &q.request).await?;
    let Some(who) = flow::signed_in(&session).await? else {
        return flow::proceed(&state, &session, &q.request).await;
    };
    let username = state
        .accounts
        .user(who.user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    let scopes = p
        .request
        .scopes
        .iter()
        .map(|s| {
            let (title, detail) = scopes::describe(s);
            ScopeLine { title, detail }
        })
        .collect();
    let page = ConsentPage {
        csrf: csrf::token(&session).await?,
        request: q.request,
        client_name: p.request.client_name,
        username,
        scopes,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /consent`: allow remembers the grant and continues; deny tells the app
/// `access_denied` (RFC 6749 section 4.1.2.1).
pub(super) async fn consent_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<ConsentForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    csrf::check(&session, form.csrf.as_deref()).await?;
    let p = flow::pending(&session, &form.request).await?;
    let Some(who) = flow::signed_in(&session).await? else {
        return flow::proceed(&state, &session, &form.request).await;
    };
    match form.decision.as_str() {
        "allow" => {
            state
                .accounts
                .record_consent(
                    who.user_id,
                    p.request.client_id.as_str(),
                    &p.request.scopes,
                    &origin,
                )
                .await?;
            flow::update(&session, &form.request, |p| p.consented = true).await?;
            flow::proceed(&state, &session, &form.request).await
        }
        "deny" => {
            flow::forget(&session, &form.request).await?;
            Ok(flow::error_to_client(
                &state,
                &p.request
                    .error(ErrorCode::AccessDenied, "the user denied the request"),
            ))
        }
        _ => Ok(Redirect::to(&flow::page_url(paths::CONSENT, &form.request)).into_response()),
    }
}
