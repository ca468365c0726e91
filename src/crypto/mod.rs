//! Cryptography, with no HTTP in it: the key ring that signs and publishes keys, JWT
//! signing and verification, password hashing, secret digests, randomness, and the
//! `Secret` type that keeps secrets out of logs.

pub mod keys;
pub mod password;
pub mod random;
pub mod secret;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use keys::{KeyError, KeyRing};
pub use password::{PasswordError, PasswordHasher};
pub use secret::Secret;

/// SHA-256 of `input`, base64url without padding: how codes and client secrets are
/// stored (they are 256-bit random, so a fast hash is enough) and the PKCE S256 transform.
pub fn sha256_b64url(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input))
}

/// Equality in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn b64url(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_transform_matches_rfc_7636_appendix_b() {
        assert_eq!(
            sha256_b64url(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
