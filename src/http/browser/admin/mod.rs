//! The admin console at `/admin`: server-rendered pages for people with the `admin`
//! role, behind the same session layer and CSRF check as every other page.
//!
//! - `guard::admin` lets an admin in; a signed-out browser signs in first and comes back
//!   here; anyone else gets a 403 page.
//! - `guard::recent` makes sensitive actions (rotating a secret, deleting, role changes)
//!   ask for a sign-in no older than `admin.reauth_after`.
//! - Every page extends `templates/admin/console.html`, whose header (`guard::Chrome`) is
//!   the console's navigation.
//!
//! Handlers only translate forms: the changes are the domain services the admin API
//! and the CLI call too, and each writes its audit event with the admin as actor.

use axum::{Router, routing::get};

use crate::AppState;

// FOUNDATION: the allow goes once the areas use it (the lead removes it at merge).
#[allow(dead_code)]
pub(super) mod guard;

mod audit;
mod clients;
mod keys;
mod overview;
mod registration;
mod users;
mod webhooks;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(guard::CONSOLE, get(overview::overview_page))
        .merge(clients::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(keys::routes())
        .merge(webhooks::routes())
        .merge(registration::routes())
}
