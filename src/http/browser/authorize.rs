//! The authorization endpoint.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;

use super::flow;
use crate::{
    AppState,
    http::{
        extract::{control_characters, parse_form, query_params},
        page::PageError,
    },
    oidc::{
        authorize::{AuthorizeError, RawParams, validate},
        values::ClientId,
    },
};

/// `GET /authorize` — RFC 6749 section 4.1.1, OIDC Core section 3.1.2.1.
pub(super) async fn authorize_get(
    State(state): State<AppState>,
    session: Session,
    uri: axum::http::Uri,
) -> Response {
    match query_params(uri.query()) {
        Ok(params) => authorize(&state, &session, params).await,
        Err(e) => e.into_response(),
    }
}

/// `POST /authorize` — OIDC Core section 3.1.2.1: the same request as a form.
pub(super) async fn authorize_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_form = crate::http::extract::is_form(&headers);
    if !is_form {
        return PageError::bad_request(
            "This sign-in link is not valid",
            "The app sent a request we cannot read.",
        )
        .into_response();
    }
    match parse_form(&body) {
        Ok(params) => authorize(&state, &session, params).await,
        Err(_) => control_characters().into_response(),
    }
}

async fn authorize(state: &AppState, session: &Session, params: RawParams) -> Response {
    let client_id = params
        .one("client_id")
        .ok()
        .flatten()
        .and_then(ClientId::parse);
    let client = match client_id {
        Some(id) => match state.store.clients.find_by_client_id(id.as_str()).await {
            Ok(c) => c,
            Err(e) => return PageError::from(e).into_response(),
        },
        None => None,
    };
    let request = match validate(&params, client.as_ref(), state.clock.now()) {
        Ok(r) => r,
        Err(AuthorizeError::Unredirectable(message)) => {
            let message = format!("{message} Go back to the app you came from and try again.");
            return PageError::bad_request("This sign-in link is not valid", message)
                .into_response();
        }
        Err(AuthorizeError::Redirect(e)) => return flow::error_to_client(state, &e),
    };
    let id = match flow::remember(session, request).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    flow::proceed(state, session, &id)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
