//! The client registration endpoint (RFC 7591 section 3) and each self-registered
//! client's configuration endpoint (RFC 7592 section 2). JSON in and out, never cached;
//! errors in RFC 7591 section 3.2.2's shape, and 401 `invalid_token` (RFC 6750
//! section 3.1) for a missing or wrong initial or registration access token.

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    AppState,
    config::RegistrationMode,
    http::{error::no_store, paths},
    oidc::dynamic::{self, DynamicError, Registration},
};

/// The largest request body read: metadata is a few hundred bytes; 16 KiB leaves room
/// for a `jwks` and is far from anything that costs.
const MAX_BODY: usize = 16 * 1024;

/// `POST /oauth/register` — RFC 7591 section 3.1. With `registration.mode =
/// "initial_token"` the request bears an initial access token; `"open"` needs none;
/// `"closed"` has no endpoint (404).
pub(super) async fn register_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let policy = &state.config.registration;
    if policy.mode == RegistrationMode::Closed {
        return StatusCode::NOT_FOUND.into_response();
    }
    let token = match bearer(&headers) {
        Ok(t) => t,
        Err(e) => return answer_error(e),
    };
    let initial_token = match policy.mode {
        RegistrationMode::InitialToken => match token {
            Some(t) => Some(t),
            None => {
                return answer_error(DynamicError::InvalidToken(
                    "an initial access token is required to register a client",
                ));
            }
        },
        _ => None,
    };
    let metadata = match read_json(&headers, body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let now = state.clock.now();
    match dynamic::register(
        &state.store,
        &state.audit,
        policy,
        initial_token.as_deref(),
        &metadata,
        now,
    )
    .await
    {
        Ok(reg) => answer(&state, StatusCode::CREATED, reg),
        Err(e) => answer_error(e),
    }
}

/// `GET /oauth/register/{client_id}` — RFC 7592 section 2.1: the registration as
/// stored. The registration access token is not repeated: only its hash is kept.
pub(super) async fn configuration_get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if state.config.registration.mode == RegistrationMode::Closed {
        return StatusCode::NOT_FOUND.into_response();
    }
    match authorized(&state, &client_id, &headers).await {
        Ok((client, reg)) => answer(&state, StatusCode::OK, dynamic::read(&client, reg)),
        Err(e) => answer_error(e),
    }
}

/// `PUT /oauth/register/{client_id}` — RFC 7592 section 2.2: replaces the metadata;
/// the answer carries a new registration access token, the old one no longer works.
pub(super) async fn configuration_put(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if state.config.registration.mode == RegistrationMode::Closed {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (client, reg) = match authorized(&state, &client_id, &headers).await {
        Ok(found) => found,
        Err(e) => return answer_error(e),
    };
    let metadata = match read_json(&headers, body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let now = state.clock.now();
    let policy = &state.config.registration;
    match dynamic::update(
        &state.store,
        &state.audit,
        policy,
        &client,
        reg,
        &metadata,
        now,
    )
    .await
    {
        Ok(reg) => answer(&state, StatusCode::OK, reg),
        Err(e) => answer_error(e),
    }
}

/// `DELETE /oauth/register/{client_id}` — RFC 7592 section 2.3: 204, and the client,
/// its grants and its tokens are gone.
pub(super) async fn configuration_delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if state.config.registration.mode == RegistrationMode::Closed {
        return StatusCode::NOT_FOUND.into_response();
    }
    let client = match authorized(&state, &client_id, &headers).await {
        Ok((client, _)) => client,
        Err(e) => return answer_error(e),
    };
    match dynamic::delete(&state.store, &state.audit, &client, state.clock.now()).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(&mut response);
            response
        }
        Err(e) => answer_error(e),
    }
}

async fn authorized(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<
    (
        crate::storage::StoredClient,
        crate::storage::StoredRegistration,
    ),
    DynamicError,
> {
    let token = bearer(headers)?;
    dynamic::authorize(&state.store, client_id, token.as_deref()).await
}

/// The bearer token of the Authorization header (RFC 6750 section 2.1), if any.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, DynamicError> {
    const MALFORMED: &str = "the Authorization header must be `Bearer <token>`";
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| DynamicError::InvalidToken(MALFORMED))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(DynamicError::InvalidToken(MALFORMED)),
    }
}

/// The request's JSON body, at most `MAX_BODY`; anything else is refused in the
/// endpoint's own error shape.
async fn read_json(headers: &HeaderMap, body: Body) -> Result<Value, Response> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "send the client metadata as application/json",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_client_metadata",
            "the client metadata is larger than 16 KiB",
        )
    })?;
    serde_json::from_slice::<Value>(&bytes).map_err(|_| {
        error_response(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the request body is not valid JSON",
        )
    })
}

/// RFC 7591 section 3.2.1's answer: the metadata as registered, plus the credentials.
fn answer(state: &AppState, status: StatusCode, reg: Registration) -> Response {
    let mut body = match reg.metadata {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    body.insert("client_id".into(), Value::from(reg.client_id.clone()));
    body.insert(
        "client_id_issued_at".into(),
        Value::from(reg.client_id_issued_at),
    );
    if let Some(secret) = reg.client_secret {
        body.insert("client_secret".into(), Value::from(secret));
    }
    if reg.confidential {
        body.insert(
            "client_secret_expires_at".into(),
            Value::from(reg.client_secret_expires_at),
        );
    }
    if let Some(token) = reg.registration_access_token {
        body.insert("registration_access_token".into(), Value::from(token));
    }
    let uri =
        state
            .config
            .issuer
            .endpoint(&format!("{}/{}", paths::CLIENT_REGISTRATION, reg.client_id));
    body.insert("registration_client_uri".into(), Value::from(uri));
    let mut response = (status, Json(Value::Object(body))).into_response();
    no_store(&mut response);
    response
}

fn answer_error(e: DynamicError) -> Response {
    match e {
        DynamicError::Metadata(m) => {
            let mut response = error_response(StatusCode::BAD_REQUEST, m.code(), &m.to_string());
            no_store(&mut response);
            response
        }
        DynamicError::InvalidToken(detail) => {
            let mut response = error_response(StatusCode::UNAUTHORIZED, "invalid_token", detail);
            let challenge =
                format!(r#"Bearer error="invalid_token", error_description="{detail}""#);
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            response
        }
        DynamicError::Storage(e) => {
            tracing::error!(error = %e, "client registration: storage failed");
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service cannot answer just now; try again shortly",
            );
            crate::http::error::retry_after(&mut response);
            response
        }
    }
}

fn error_response(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    no_store(&mut response);
    response
}
