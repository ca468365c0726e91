//! Passkeys (WebAuthn): the ceremonies behind the account page and sign-in.

use axum::Router;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
