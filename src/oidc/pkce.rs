//! PKCE (RFC 7636), S256 only: `plain` gives no protection once the request leaks.

use crate::crypto::{constant_time_eq, sha256_b64url};

/// RFC 7636 section 4.1: 43 to 128 characters of [A-Z] [a-z] [0-9] - . _ ~
fn is_unreserved_43_to_128(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a `code_challenge` is well formed: an S256 challenge is base64url of 32
/// bytes, 43 characters (RFC 7636 section 4.2).
pub fn challenge_is_well_formed(challenge: &str) -> bool {
    challenge.len() == 43 && is_unreserved_43_to_128(challenge)
}

/// Whether `verifier` is well formed and hashes to `challenge`.
pub fn verify(challenge: &str, verifier: &str) -> bool {
    is_unreserved_43_to_128(verifier)
        && constant_time_eq(
            sha256_b64url(verifier.as_bytes()).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_example_verifies() {
        assert!(challenge_is_well_formed(CHALLENGE));
        assert!(verify(CHALLENGE, VERIFIER));
    }

    #[test]
    fn a_wrong_short_or_malformed_verifier_does_not() {
        assert!(!verify(
            CHALLENGE,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"
        ));
        assert!(!verify(CHALLENGE, "short"));
        assert!(!verify(CHALLENGE, &format!("{VERIFIER} ")));
        assert!(!verify(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn a_plain_looking_challenge_is_not_well_formed() {
        assert!(!challenge_is_well_formed("abc"));
        assert!(!challenge_is_well_formed(&"a".repeat(128)));
        assert!(!challenge_is_well_formed(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
