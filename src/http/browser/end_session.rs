//! RP-initiated logout.

use askama::Template;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{csrf, flow};
use crate::{
    AppState,
    audit::Origin,
    http::{
        extract::{RequestOrigin, control_characters, parse_form, query_params},
        page::{MessagePage, PageError, render},
    },
    oidc::{
        authorize::{RawParams, redirect_with},
        values::ClientId,
    },
};

#[derive(Template)]
#[template(path = "logout.html")]
pub(super) struct LogoutPage {
    pub csrf: String,
    pub client_name: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// `GET /logout` — OpenID Connect RP-Initiated Logout 1.0 section 2.
pub(super) async fn end_session_get(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    uri: axum::http::Uri,
) -> Response {
    let params = match query_params(uri.query()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    end_session(&state, &session, &origin, params, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /logout` — the same request as a form, or our own confirmation form.
pub(super) async fn end_session_post(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_form = crate::http::extract::is_form(&headers);
    if !is_form {
        return PageError::bad_request("Sign-out failed", "The request could not be read.")
            .into_response();
    }
    let params = match parse_form(&body) {
        Ok(p) => p,
        Err(_) => return control_characters().into_response(),
    };
    end_session(&state, &session, &origin, params, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn invalid(message: &'static str) -> PageError {
    PageError::bad_request(
        "This sign-out link is not valid",
        format!("{message} Go back to the app you came from and sign out there."),
    )
}

async fn end_session(
    state: &AppState,
    session: &Session,
    origin: &Origin,
    params: RawParams,
    posted: bool,
) -> Result<Response, PageError> {
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|_| invalid("A value was sent more than once."))
    };
    let hint =
        match one("id_token_hint")? {
            None => None,
            // An expired ID token is still a good hint (section 2: the OP should accept it).
            Some(t) => {
                Some(state.grants.id_token_hint(t).await.ok_or_else(|| {
                    invalid("The app sent a sign-out request we could not verify.")
                })?)
            }
        };
    let hinted_client = hint.as_ref().and_then(|h| h.audience.first().cloned());
    let client_id = match (one("client_id")?, hinted_client) {
        (Some(sent), Some(hinted)) if sent != hinted => {
            return Err(invalid("The sign-out request names two different apps."));
        }
        (Some(sent), _) => Some(sent.to_owned()),
        (None, hinted) => hinted,
    };
    let client = match client_id.as_deref().and_then(ClientId::parse) {
        Some(id) => state.store.clients.find_by_client_id(id.as_str()).await?,
        None => None,
    };
    let redirect = match one("post_logout_redirect_uri")? {
        None => None,
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(invalid(
                    "The app asked to send you to an address it has not registered.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    let logout_state = one("state")?.filter(|s| s.len() <= 2048).map(str::to_owned);

    // Without proof that the app sent this request, ask the person first, so that a
    // link on another site cannot sign them out.
    let confirmed = posted && one("confirm")? == Some("yes");
    if confirmed {
        csrf::check(session, one("csrf")?).await?;
    }
    // Section 2: the hint proves the app sent this only if it names this session's
    // person (and session, when it carries a sid); otherwise the person is asked.
    let who = flow::signed_in(session).await?;
    let hint_is_this_session = match (&hint, &who) {
        (Some(h), Some(w)) => {
            h.subject == w.user_id.to_string() && h.sid.as_ref().is_none_or(|sid| *sid == w.sid)
        }
        // Nobody is signed in here: there is nothing to end, only the app to return to.
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !hint_is_this_session && !confirmed {
        let page = LogoutPage {
            csrf: csrf::token(session).await?,
            client_name: client.as_ref().map(|c| c.name.clone()),
            client_id: client.as_ref().map(|c| c.client_id.clone()),
            post_logout_redirect_uri: redirect,
            state: logout_state,
        };
        return Ok(render(StatusCode::OK, &page));
    }

    flow::sign_out(session).await?;
    if let Some(w) = &who {
        state
            .accounts
            .record_sign_out(
                w.user_id,
                origin,
                client.as_ref().map(|c| c.client_id.as_str()),
            )
            .await;
    }
    if let Some(uri) = redirect {
        let params: Vec<(&str, &str)> = logout_state
            .as_deref()
            .map(|s| vec![("state", s)])
            .unwrap_or_default();
        if let Some(url) = redirect_with(&uri, &params) {
            return Ok(Redirect::to(&url).into_response());
        }
    }
    Ok(render(
        StatusCode::OK,
        &MessagePage {
            title: "You have signed out".into(),
            message: "You are no longer signed in here. You can close this page.".into(),
        },
    ))
}
