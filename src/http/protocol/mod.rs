//! Machine-facing endpoints, stateless and answering in the RFC formats: discovery,
//! JWKS, token, userinfo, revocation, introspection, dynamic client registration, the
//! health probes, `/metrics`, and the admin API.

use axum::{
    Router,
    routing::{get, post},
};

use super::paths;
use crate::AppState;
use cors::preflight;

pub(super) mod admin_api;
mod cors;
mod discovery;
mod health;
mod introspect;
mod jwks;
pub(super) mod metrics;
mod registration;
mod revoke;
mod token;
mod userinfo;

pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(metrics::router(state))
        .merge(admin_api::router())
        .route(paths::DISCOVERY, get(discovery::discovery_get))
        .route(paths::JWKS, get(jwks::jwks_get))
        .route(paths::TOKEN, post(token::token_post).options(preflight))
        .route(
            paths::USERINFO,
            get(userinfo::userinfo)
                .post(userinfo::userinfo)
                .options(preflight),
        )
        .route(paths::REVOKE, post(revoke::revoke_post).options(preflight))
        .route(paths::INTROSPECT, post(introspect::introspect_post))
        .route(
            paths::CLIENT_REGISTRATION,
            post(registration::register_post),
        )
        .route(
            paths::CLIENT_CONFIGURATION,
            get(registration::configuration_get)
                .put(registration::configuration_put)
                .delete(registration::configuration_delete),
        )
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
}
