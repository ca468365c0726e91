//! The admin API at `/admin/api/v1`: everything the console does, as JSON, for scripts.
//!
//! - Callers bear an access token Portcullis issued with the `portcullis:admin` scope
//!   (`auth::AdminCaller`): a client's own (client_credentials) token, or the token of a
//!   person who is an admin now.
//! - Errors are RFC 9457 problem details (`problem::Problem`); lists are paginated
//!   (`page`); bodies and queries are read by `ApiJson` and `ApiQuery`, whose refusals
//!   are problems too.
//! - Each area registers its routes with `utoipa_axum::routes!`, which puts the route
//!   and its OpenAPI path in at once: the document at `/admin/api/openapi.json` is made
//!   from the same handlers and cannot drift from them.
//!
//! Handlers only translate: every change goes through the same domain services the
//! console and the CLI call, so all three validate alike.

use axum::{Json, Router, routing::get};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use auth::SecurityScheme;

// FOUNDATION: the allows go once the areas use these (the lead removes them at merge).
#[allow(dead_code)]
pub(super) mod auth;
#[allow(dead_code)]
pub(super) mod extract;
#[allow(dead_code)]
pub(super) mod page;
#[allow(dead_code)]
pub(super) mod problem;

mod audit;
mod clients;
mod keys;
mod overview;
mod registration;
mod users;
mod webhooks;

/// Where the API lives, and where its document is.
pub(super) const PREFIX: &str = "/admin/api/v1";
pub(super) const OPENAPI: &str = "/admin/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis admin API",
        description = "Everything the admin console does, as JSON. Authenticate with \
                       `Authorization: Bearer <access token>` carrying the \
                       `portcullis:admin` scope. Errors are RFC 9457 problem details.",
        version = "1"
    ),
    modifiers(&SecurityScheme),
    components(schemas(problem::Problem, problem::FieldError, page::PageInfo)),
    tags(
        (name = "overview", description = "Counts at a glance"),
        (name = "clients", description = "Client apps"),
        (name = "users", description = "People and their roles"),
        (name = "audit", description = "The security event log"),
        (name = "keys", description = "The signing key ring"),
        (name = "webhooks", description = "Audit events delivered to your endpoints"),
        (name = "registration", description = "Initial access tokens for dynamic client registration")
    )
)]
struct AdminApi;

/// Every area's routes under `PREFIX`, and the OpenAPI document made from them.
fn v1() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::<AppState>::new()
        .merge(overview::routes())
        .merge(clients::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(keys::routes())
        .merge(webhooks::routes())
        .merge(registration::routes());
    let (router, api) = OpenApiRouter::with_openapi(AdminApi::openapi())
        .nest(PREFIX, v1)
        .split_for_parts();
    (router, api)
}

pub(super) fn router() -> Router<AppState> {
    let (router, api) = v1();
    let api = std::sync::Arc::new(api);
    router
        .route(
            OPENAPI,
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        // Anything else under the prefix: a problem, not the people's 404 page.
        .route(
            &format!("{PREFIX}/{{*rest}}"),
            axum::routing::any(problem::not_found),
        )
        // What the API answers is about people, clients and secrets: no cache keeps it.
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
}
