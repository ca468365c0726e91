//! `/admin`: counts at a glance.

use axum::{
    extract::State,
    http::{StatusCode, Uri},
    response::Response,
};
use tower_sessions::Session;

use super::guard::{self, Chrome};
use crate::{
    AppState,
    http::page::{PageError, render},
};

#[derive(askama::Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
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
    let page = OverviewPage {
        chrome: Chrome::new(&session, &admin, "overview").await?,
    };
    Ok(render(StatusCode::OK, &page))
}
