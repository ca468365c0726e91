//! The JSON half of the passkey endpoints: refusals as `{"error", "message"}` with a
//! 4xx, answers that no cache keeps, and reading the bodies the script sends.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::{accounts::second_factor::passkeys::PasskeyError, http::page::PageError};

use super::*;

/// A JSON refusal: a stable `error` code for the script and a `message` for the person.
pub(super) struct Refusal {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "message": self.message});
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}

pub(super) type JsonResult = Result<Response, Refusal>;

/// A JSON answer that no cache keeps (it carries a challenge or where to go next).
pub(super) fn json_answer(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

pub(super) const OTHER_WAYS_SIGN_IN: &str = "Sign in with your password instead, or try again.";
pub(super) const OTHER_WAYS_SECOND_FACTOR: &str =
    "Use a code from your authenticator app or a recovery code instead, or try again.";

pub(super) fn unavailable() -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "Something went wrong on our side. Please try again in a moment.",
    )
}

pub(super) fn session_failed(e: tower_sessions::session::Error) -> Refusal {
    tracing::error!(error = %e, "browser session failure");
    unavailable()
}

pub(super) fn csrf_refused() -> Refusal {
    Refusal::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "This page has expired. Reload it and try again.",
    )
}

pub(super) fn bad_body(e: &JsonRejection) -> Refusal {
    tracing::debug!(error = %e, "a passkey request body was refused");
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Your browser sent something we could not read. Reload the page and try again.",
    )
}

/// What a domain failure tells the person; `other_ways` names the alternatives.
pub(super) fn refused(e: PasskeyError, other_ways: &str) -> Refusal {
    match e {
        PasskeyError::Unavailable => Refusal::new(
            StatusCode::NOT_FOUND,
            "unavailable",
            format!("Passkeys are not available on this server. {other_ways}"),
        ),
        PasskeyError::Refused(message) => Refusal::new(StatusCode::BAD_REQUEST, "refused", message),
        PasskeyError::Failed => Refusal::new(
            StatusCode::BAD_REQUEST,
            "failed",
            format!("That passkey could not be checked, or the attempt had expired. {other_ways}"),
        ),
        PasskeyError::Unknown => Refusal::new(
            StatusCode::BAD_REQUEST,
            "unknown_passkey",
            format!("We do not know that passkey: it may have been removed. {other_ways}"),
        ),
        PasskeyError::WrongAccount => Refusal::new(
            StatusCode::FORBIDDEN,
            "wrong_account",
            "The app asked you to sign in with a different account. Sign in with that \
             account, or go back to the app.",
        ),
        PasskeyError::Disabled => Refusal::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "This account is disabled. Contact your administrator.",
        ),
        PasskeyError::Locked(until) => Refusal::new(
            StatusCode::FORBIDDEN,
            "locked",
            crate::accounts::lockout::locked_sentence(until),
        ),
        PasskeyError::Storage(e) => {
            tracing::error!(error = %e, "passkey storage failed");
            unavailable()
        }
        PasskeyError::Mail(e) => {
            tracing::error!(error = %e, "a mail template failed");
            unavailable()
        }
    }
}

pub(super) fn no_ceremony(other_ways: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "no_ceremony",
        format!("This passkey attempt has expired or was already used. {other_ways}"),
    )
}

/// A redirect answered as JSON for the script to follow: the `Location` of `response`.
pub(super) fn follow(response: Response) -> Response {
    let to = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(crate::http::paths::ACCOUNT)
        .to_owned();
    json_answer(json!({ "redirect": to }))
}

pub(super) fn page_failed(e: &PageError) -> Refusal {
    tracing::warn!(error = ?e, "a passkey sign-in could not continue");
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "expired",
        "This sign-in has expired. Go back to the app and try again.",
    )
}

#[derive(Deserialize)]
pub(super) struct BeginForm {
    #[serde(default)]
    pub(super) csrf: Option<String>,
    /// The passkey's name (registration only).
    #[serde(default)]
    pub(super) name: String,
    /// The pending authorization request (passwordless sign-in only).
    #[serde(default)]
    pub(super) request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct FinishForm {
    #[serde(default)]
    pub(super) csrf: Option<String>,
    /// What `navigator.credentials.create` or `.get` returned, as JSON.
    #[serde(default)]
    pub(super) credential: Value,
}

pub(super) async fn checked<T>(
    session: &Session,
    body: Result<Json<T>, JsonRejection>,
    sent: impl Fn(&T) -> Option<&str>,
) -> Result<T, Refusal> {
    let Json(body) = body.map_err(|e| bad_body(&e))?;
    if csrf::check(session, sent(&body)).await.is_err() {
        return Err(csrf_refused());
    }
    Ok(body)
}

pub(super) fn parse_credential<T: serde::de::DeserializeOwned>(
    value: Value,
    other_ways: &str,
) -> Result<T, Refusal> {
    serde_json::from_value(value).map_err(|e| {
        tracing::debug!(error = %e, "a passkey answer did not parse");
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_credential",
            format!("Your browser's passkey answer could not be read. {other_ways}"),
        )
    })
}
