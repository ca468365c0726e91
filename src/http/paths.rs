//! Every path we serve, relative to the issuer, in one place. The page paths are a
//! contract (ARCHITECTURE.md: "Pages").

pub(super) const DISCOVERY: &str = "/.well-known/openid-configuration";
pub(super) const JWKS: &str = "/jwks.json";
pub(super) const AUTHORIZE: &str = "/authorize";
pub(super) const TOKEN: &str = "/token";
pub(super) const USERINFO: &str = "/userinfo";
pub(super) const REVOKE: &str = "/revoke";
pub(super) const INTROSPECT: &str = "/introspect";
pub(super) const END_SESSION: &str = "/logout";
pub(super) const LOGIN: &str = "/login";
pub(super) const CONSENT: &str = "/consent";
/// After the password, for a person with a second factor.
pub(super) const SECOND_FACTOR: &str = "/login/second-factor";
pub(super) const HEALTHZ: &str = "/healthz";
pub(super) const READYZ: &str = "/readyz";
/// Prometheus metrics: on the main port only with `metrics.token` set.
pub(super) const METRICS: &str = "/metrics";
pub(super) const STYLESHEET: &str = "/static/portcullis.css";
pub(super) const PASSKEYS_SCRIPT: &str = "/static/passkeys.js";
pub(super) const HOME: &str = "/";
pub(super) const REGISTER: &str = "/register";
pub(super) const VERIFY_EMAIL: &str = "/verify-email";
pub(super) const RESEND_VERIFICATION: &str = "/verify-email/resend";
pub(super) const RESET_PASSWORD: &str = "/reset-password";
/// Where an opened reset link leads: the new-password form.
pub(super) const RESET_PASSWORD_NEW: &str = "/reset-password/new";
pub(super) const ACCOUNT: &str = "/account";
/// Dynamic client registration (RFC 7591 section 3); a client's configuration endpoint
/// is `CLIENT_REGISTRATION/{client_id}` (RFC 7592 section 2).
pub(super) const CLIENT_REGISTRATION: &str = "/oauth/register";
pub(super) const CLIENT_CONFIGURATION: &str = "/oauth/register/{client_id}";
