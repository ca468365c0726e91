//! The admin API's keys routes: the signing key ring as every instance reads it.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{auth::AdminCaller, extract::ApiJson, problem::Problem};
use crate::{AppState, audit::admin};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
}

/// One signing key and its life (Unix seconds).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyView {
    pub kid: String,
    /// `published`, `active`, `retired` or `removed`.
    pub state: &'static str,
    pub created_at: i64,
    /// When it starts (or started) signing.
    pub activate_at: i64,
    /// When it stops signing; absent while no later key exists.
    pub retire_at: Option<i64>,
    /// When it leaves the JWKS; absent while no later key exists.
    pub unpublish_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyList {
    pub items: Vec<KeyView>,
}

/// The key ring: every key, the latest activation first.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    responses(
        (status = 200, description = "The key ring", body = KeyList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
    )
)]
async fn list_keys(State(state): State<AppState>, _caller: AdminCaller) -> Json<KeyList> {
    list(&state)
}

fn list(state: &AppState) -> Json<KeyList> {
    let items = state
        .keys
        .states(state.clock.now())
        .into_iter()
        .map(|k| KeyView {
            kid: k.kid,
            state: k.state.as_str(),
            created_at: k.created_at,
            activate_at: k.activate_at,
            retire_at: k.retire_at,
            unpublish_at: k.unpublish_at,
        })
        .collect();
    Json(KeyList { items })
}

/// Which rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateRequest {
    /// False (the default): schedule a new key, published now, signing after
    /// `keys.publish_ahead`. True: the emergency rotation; a new key signs at once and
    /// every other key is removed, so tokens they signed stop verifying.
    #[serde(default)]
    pub now: bool,
}

/// The key a rotation added (or found already waiting).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RotationView {
    pub kid: String,
    /// When it signs (Unix seconds).
    pub activate_at: i64,
    /// False when a key was already waiting to activate and this is that one.
    pub added: bool,
    /// The ring after the rotation, the latest activation first.
    pub keys: Vec<KeyView>,
}

/// Rotates the signing key: what `portcullis keys rotate [--now]` does, recorded with
/// the caller as actor.
#[utoipa::path(
    post,
    path = "/keys/rotate",
    tag = "keys",
    request_body = RotateRequest,
    responses(
        (status = 202, description = "The new key (published now; signing from activate_at)", body = RotationView),
        (status = 400, description = "The body could not be read", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 503, description = "The database cannot answer just now", body = Problem),
    )
)]
async fn rotate_keys(
    State(state): State<AppState>,
    caller: AdminCaller,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<(StatusCode, Json<RotationView>), Problem> {
    let now = state.clock.now();
    let rotation = admin::rotate_keys(&state, caller.actor(), body.now, now)
        .await
        .map_err(|e| match e {
            crate::crypto::keys::KeyError::Storage(e) => Problem::from(e),
            other => {
                tracing::error!(error = %other, "key rotation failed");
                Problem::unavailable()
            }
        })?;
    let Json(KeyList { items }) = list(&state);
    Ok((
        StatusCode::ACCEPTED,
        Json(RotationView {
            kid: rotation.kid,
            activate_at: rotation.activate_at,
            added: rotation.added,
            keys: items,
        }),
    ))
}
