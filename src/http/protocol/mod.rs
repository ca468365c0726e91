//! Machine-facing endpoints, answering in the RFC formats: discovery, JWKS, token,
//! userinfo, revocation and introspection. The browser-facing ones (authorize, end
//! session) live with the pages, behind the session layer.

use axum::{
    Router,
    routing::{get, post},
};

use crate::AppState;

pub mod authorize;
pub mod discovery;
pub mod end_session;
pub mod introspect;
pub mod jwks;
pub mod revoke;
pub mod token;
pub mod userinfo;

use super::middleware::cors::preflight;

/// The paths of our endpoints, relative to the issuer.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/jwks.json";
    pub const AUTHORIZE: &str = "/authorize";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const REVOKE: &str = "/revoke";
    pub const INTROSPECT: &str = "/introspect";
    pub const END_SESSION: &str = "/logout";
}

pub fn router() -> Router<AppState> {
    Router::new()
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
}
