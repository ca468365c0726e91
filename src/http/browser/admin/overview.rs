//! `/admin`: counts at a glance, and a way into each section.

use axum::{
    extract::State,
    http::{StatusCode, Uri},
    response::Response,
};
use tower_sessions::Session;

use super::guard::{self, Chrome};
use crate::{
    AppState,
    audit::admin::{self, Overview},
    http::page::{PageError, render},
};

#[derive(askama::Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    counts: Overview,
    signing_kid: String,
}

pub(super) async fn overview_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, PageError> {
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    let counts = admin::overview(&state, state.clock.now()).await?;
    let page = OverviewPage {
        chrome: Chrome::new(&session, &admin, "overview").await?,
        counts,
        signing_kid: state.keys.signing_kid(),
    };
    Ok(render(StatusCode::OK, &page))
}
