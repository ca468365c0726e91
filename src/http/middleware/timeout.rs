//! The request timeout (`http.request_timeout`): a request still unanswered after it
//! gets a plain 503, never a hang. The connection's own limits (headers, idle time,
//! how many at once) are in `http::serve`.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Answers 503 when `next` takes longer than `limit`. What the handler was doing is
/// dropped: a transaction it held is rolled back, so nothing is half written.
pub(in crate::http) async fn limit_time(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "a request took longer than the request timeout");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server took too long to answer this request. Please try again.\n",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
