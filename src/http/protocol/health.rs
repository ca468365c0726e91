//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{AppState, http::Draining};

/// How long `/readyz` waits for the database, under the 1 s a Kubernetes probe
/// waits by default, and independent of `database.acquire_timeout`, which is for
/// requests that may wait a little longer for a busy pool.
const READY_CHECK: Duration = Duration::from_millis(800);

/// `GET /healthz`: the process is up and serving. It never asks the database, so an
/// outage makes an instance unready, not dead: an orchestrator that restarted it would
/// gain nothing and lose its keys and caches.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers within `READY_CHECK`; 503 when it does not, or
/// once shutdown has begun, so a load balancer sends traffic elsewhere until it does.
pub(super) async fn readyz(
    State(state): State<AppState>,
    draining: Option<Extension<Draining>>,
) -> Response {
    if draining.is_some_and(|Extension(d)| d.is_draining()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "shutting down" })),
        )
            .into_response();
    }
    match state.store.db.ping(READY_CHECK).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
