//! The console's keys pages: `/admin/keys` (the ring as this instance holds it, and the
//! "Schedule a rotation" button), `/admin/keys/replace` (the emergency rotation, behind
//! a confirm page). Both rotations are `audit::admin::rotate_keys`, the CLI's
//! `keys rotate [--now]`, and both ask for a recent sign-in.

use axum::{
    Router,
    extract::{Query, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::guard::{self, Chrome};
use crate::{
    AppState,
    audit::{admin, filter::format_time},
    http::{
        browser::csrf,
        extract::PageForm,
        page::{PageError, render},
    },
};

const KEYS: &str = "/admin/keys";
const REPLACE: &str = "/admin/keys/replace";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(KEYS, get(keys_page))
        .route("/admin/keys/rotate", axum::routing::post(rotate))
        .route(REPLACE, get(replace_page).post(replace))
}

/// One key, ready to show.
struct KeyRow {
    kid: String,
    state: &'static str,
    created: String,
    activates: String,
    retires: String,
    unpublishes: String,
}

#[derive(askama::Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    signing: String,
    notice: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "admin/keys_replace.html")]
struct ReplacePage {
    chrome: Chrome,
    error: Option<&'static str>,
}

/// What the last rotation did, shown once after the redirect.
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
    kid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    confirm: Option<String>,
}

fn time(at: Option<i64>) -> String {
    at.map(format_time).unwrap_or_else(|| "—".to_owned())
}

async fn keys_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    let keys = state
        .keys
        .states(state.clock.now())
        .into_iter()
        .map(|k| KeyRow {
            state: k.state.as_str(),
            created: format_time(k.created_at),
            activates: format_time(k.activate_at),
            retires: time(k.retire_at),
            unpublishes: time(k.unpublish_at),
            kid: k.kid,
        })
        .collect();
    // Only a kid, never anything else from the address, goes into the notice.
    let kid = done
        .kid
        .filter(|k| {
            k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_default();
    let notice = match done.done.as_deref() {
        Some("scheduled") => Some(format!(
            "Key {kid} is published now and starts signing at the time shown. Other \
             instances see it within their reload interval."
        )),
        Some("waiting") => Some(format!(
            "A rotation was already scheduled: key {kid} starts signing at the time shown."
        )),
        Some("replaced") => Some(format!(
            "Key {kid} signs now. Every other key was removed: tokens they signed no \
             longer verify."
        )),
        _ => None,
    };
    let page = KeysPage {
        chrome: Chrome::new(&session, &admin, "keys").await?,
        keys,
        signing: state.keys.signing_kid(),
        notice,
    };
    Ok(render(StatusCode::OK, &page))
}

fn rotation_failed(e: crate::crypto::keys::KeyError) -> PageError {
    match e {
        crate::crypto::keys::KeyError::Storage(e) => e.into(),
        other => {
            tracing::error!(error = %other, "key rotation from the console failed");
            PageError::unavailable()
        }
    }
}

async fn rotate(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    form: Result<PageForm<ActionForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    csrf::check(&session, form.csrf.as_deref()).await?;
    if let Some(response) = guard::recent(&state, &session, &admin, KEYS).await? {
        return Ok(response);
    }
    let rotation = admin::rotate_keys(&state, admin.actor(), false, state.clock.now())
        .await
        .map_err(rotation_failed)?;
    let done = if rotation.added {
        "scheduled"
    } else {
        "waiting"
    };
    Ok(Redirect::to(&format!("{KEYS}?done={done}&kid={}", rotation.kid)).into_response())
}

async fn replace_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, PageError> {
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    if let Some(response) = guard::recent(&state, &session, &admin, REPLACE).await? {
        return Ok(response);
    }
    let page = ReplacePage {
        chrome: Chrome::new(&session, &admin, "keys").await?,
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn replace(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    form: Result<PageForm<ActionForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    csrf::check(&session, form.csrf.as_deref()).await?;
    if let Some(response) = guard::recent(&state, &session, &admin, REPLACE).await? {
        return Ok(response);
    }
    if form.confirm.as_deref() != Some("replace") {
        let page = ReplacePage {
            chrome: Chrome::new(&session, &admin, "keys").await?,
            error: Some("Tick the box to confirm: this cannot be undone."),
        };
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let rotation = admin::rotate_keys(&state, admin.actor(), true, state.clock.now())
        .await
        .map_err(rotation_failed)?;
    Ok(Redirect::to(&format!("{KEYS}?done=replaced&kid={}", rotation.kid)).into_response())
}
