//! The account page, `/account`, and its sections: profile, email, password, sessions, connected apps, security activity, delete.

use axum::Router;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
