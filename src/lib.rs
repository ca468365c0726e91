//! Portcullis: an OpenID Connect provider. `build_router` is the one wiring that the
//! binary and every test use.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod observe;
pub mod oidc;
pub mod storage;

pub use app::AppState;
pub use http::build_router;
pub use http::serve;
