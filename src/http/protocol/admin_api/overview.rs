//! The admin API's overview: counts at a glance.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{auth::AdminCaller, problem::Problem};
use crate::{AppState, audit::admin};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// This server at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OverviewView {
    pub users: u64,
    pub clients: u64,
    /// Browser sessions not yet expired.
    pub active_sessions: u64,
    /// Successful sign-ins in the last 24 hours.
    pub sign_ins_24h: u64,
    /// Failed sign-ins in the last 24 hours.
    pub failed_sign_ins_24h: u64,
    /// The kid of the key that signs now.
    pub signing_kid: String,
}

/// Counts at a glance.
#[utoipa::path(
    get,
    path = "/overview",
    tag = "overview",
    responses(
        (status = 200, description = "The counts", body = OverviewView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 503, description = "The database cannot answer just now", body = Problem),
    )
)]
async fn overview(
    State(state): State<AppState>,
    _caller: AdminCaller,
) -> Result<Json<OverviewView>, Problem> {
    let o = admin::overview(&state, state.clock.now()).await?;
    Ok(Json(OverviewView {
        users: o.users,
        clients: o.clients,
        active_sessions: o.active_sessions,
        sign_ins_24h: o.sign_ins_24h,
        failed_sign_ins_24h: o.failed_sign_ins_24h,
        signing_kid: state.keys.signing_kid(),
    }))
}
