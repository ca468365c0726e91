//! Every path we serve, relative to the issuer, in one place. The page paths are a
//! contract (ARCHITECTURE.md: "Pages").

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks.json";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const END_SESSION: &str = "/logout";
pub const LOGIN: &str = "/login";
pub const CONSENT: &str = "/consent";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const STYLESHEET: &str = "/static/portcullis.css";
