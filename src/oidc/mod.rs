//! The protocol's rules, with no HTTP and no SQL in them: client registration,
//! scopes and claims, validated authorization requests, PKCE, grants and token minting.

pub mod access;
pub mod acr;
pub mod authorize;
pub mod clients;
pub mod dynamic;
pub mod error;
pub mod grant;
pub mod pkce;
pub mod registration;
pub mod scopes;
pub mod tokens;
pub mod values;
