//! Password reset: asking for a link at `/reset-password`, and choosing a new password from it.

use axum::Router;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
