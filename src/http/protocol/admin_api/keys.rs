//! The admin API's keys routes: the signing key ring as every instance reads it.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{auth::AdminCaller, problem::Problem};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys))
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
