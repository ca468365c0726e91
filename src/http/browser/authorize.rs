//! The authorization endpoint.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::flow;
use crate::{
    AppState,
    crypto::random,
    http::{
        extract::{control_characters, parse_form, query_params},
        page::PageError,
        paths,
    },
    oidc::{
        authorize::{AuthorizationRequest, AuthorizeError, RawParams, validate},
        error::ErrorCode,
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

/// `POST /authorize` — OIDC Core section 3.1.2.1: the same request as a form. It is
/// kept under a random id and the browser is sent on with a 303 to a GET: a cross-site
/// POST carries no SameSite=Lax cookie, so answering here would start a new session
/// over the person's own. This handler never touches the session.
pub(super) async fn authorize_post(
    State(state): State<AppState>,
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
    let params = match parse_form(&body) {
        Ok(params) => params,
        Err(_) => return control_characters().into_response(),
    };
    if let Err(response) = checked(&state, &params).await {
        return response;
    }
    let id = random::id();
    let expires_at = state.clock.now() + POSTED_REQUEST_TTL;
    let pairs = params.into_pairs();
    if let Err(e) = state
        .store
        .authorization_posts
        .insert(&id, &pairs, expires_at)
        .await
    {
        return PageError::from(e).into_response();
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair(POSTED, &id);
    Redirect::to(&format!("{}?{}", paths::AUTHORIZE, target.finish())).into_response()
}

/// How long a POSTed request waits for the browser's GET.
const POSTED_REQUEST_TTL: i64 = 300;
/// The query parameter of that GET.
const POSTED: &str = "posted_request";

/// The request behind `GET /authorize?posted_request=ID`, once.
async fn posted(state: &AppState, params: &RawParams) -> Result<Option<RawParams>, PageError> {
    let Ok(Some(id)) = params.one(POSTED) else {
        return Ok(None);
    };
    let expired = || {
        PageError::bad_request(
            "This sign-in has expired",
            "We could not find the sign-in the app started. Go back to the app and try again.",
        )
    };
    let pairs = state
        .store
        .authorization_posts
        .take(id, state.clock.now())
        .await?
        .ok_or_else(expired)?;
    RawParams::new(pairs).map(Some).map_err(|_| expired())
}

/// The client and request checks, for a POST before it is kept: what fails them is
/// answered at once (an error page, or an error sent back to the app).
async fn checked(state: &AppState, params: &RawParams) -> Result<AuthorizationRequest, Response> {
    let client_id = params
        .one("client_id")
        .ok()
        .flatten()
        .and_then(ClientId::parse);
    let client = match client_id {
        Some(id) => match state.store.clients.find_by_client_id(id.as_str()).await {
            Ok(c) => c,
            Err(e) => return Err(PageError::from(e).into_response()),
        },
        None => None,
    };
    let mut request = match validate(params, client.as_ref(), state.clock.now()) {
        Ok(r) => r,
        Err(AuthorizeError::Unredirectable(message)) => {
            let message = format!("{message} Go back to the app you came from and try again.");
            return Err(
                PageError::bad_request("This sign-in link is not valid", message).into_response(),
            );
        }
        Err(AuthorizeError::Redirect(e)) => return Err(flow::error_to_client(state, &e)),
    };
    // OIDC Core section 3.1.2.1: the hint names who the app expects. One we did not
    // sign is refused; an expired one of ours still identifies the person.
    if let Ok(Some(hint)) = params.one("id_token_hint") {
        match state.grants.id_token_hint(hint).await {
            Some(h) => request.expected_subject = Some(h.subject),
            None => {
                let e = request.error(
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not an ID token issued here",
                );
                return Err(flow::error_to_client(state, &e));
            }
        }
    }
    Ok(request)
}

async fn authorize(state: &AppState, session: &Session, params: RawParams) -> Response {
    let params = match posted(state, &params).await {
        Ok(Some(kept)) => kept,
        Ok(None) => params,
        Err(e) => return e.into_response(),
    };
    let request = match checked(state, &params).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let id = match flow::remember(session, request).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    flow::proceed(state, session, &id)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
