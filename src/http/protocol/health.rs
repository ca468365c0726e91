//! Liveness and readiness probes for load balancers and orchestrators.

use axum::{Extension, Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::{AppState, http::Draining};

/// `GET /healthz`: the process is up and serving.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 when it does not, or once shutdown has
/// begun, so a load balancer sends traffic elsewhere.
pub(super) async fn readyz(
    State(state): State<AppState>,
    draining: Option<Extension<Draining>>,
) -> impl IntoResponse {
    if draining.is_some_and(|Extension(d)| d.is_draining()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "shutting down" })),
        );
    }
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
