//! Email verification: following a mailed link (`/verify-email`) and asking for a new one.

use axum::Router;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
