//! Liveness and readiness probes for load balancers and orchestrators.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::AppState;

/// `GET /healthz`: the process is up and serving.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 when it does not, so a load balancer
/// sends traffic elsewhere.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
    }
}
