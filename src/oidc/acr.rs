//! Authentication context classes (OIDC Core sections 2, 3.1.2.1 and 5.5.1.1): what
//! `acr_values` may ask for and what the ID token's `acr` says was done.
//!
//! - `urn:portcullis:acr:pwd`: a password only.
//! - `urn:portcullis:acr:mfa`: a password and a second factor (an authenticator app's
//!   code, a recovery code, or a passkey).
//!
//! A request whose `acr_values` names only `mfa` makes a password-only session pass
//! its second factor (or set one up) before a code is issued; naming `pwd` as well, or
//! nothing we know, asks for nothing more (acr_values are voluntary claims). `acr` is
//! put in the ID token only when the request sent `acr_values`.

/// A password alone.
pub const PWD: &str = "urn:portcullis:acr:pwd";
/// A password and a second factor.
pub const MFA: &str = "urn:portcullis:acr:mfa";
/// What discovery advertises as `acr_values_supported`, weakest first.
pub const SUPPORTED: [&str; 2] = [PWD, MFA];

/// The values we know from a space-separated `acr_values`, in the order asked.
pub fn parse(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in raw.split(' ').filter(|v| SUPPORTED.contains(v)) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Whether the values asked for accept nothing less than a second factor.
pub fn wants_mfa(values: &[String]) -> bool {
    values.iter().any(|v| v == MFA) && !values.iter().any(|v| v == PWD)
}

/// The class a sign-in with `amr` (RFC 8176 values) achieved.
pub fn achieved(amr: &[String]) -> &'static str {
    if amr.iter().any(|a| a == "mfa") {
        MFA
    } else {
        PWD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_values_are_kept_once_in_order() {
        assert_eq!(
            parse("urn:portcullis:acr:mfa  x urn:portcullis:acr:pwd urn:portcullis:acr:mfa"),
            [MFA, PWD]
        );
        assert!(parse("urn:other 0").is_empty());
    }

    #[test]
    fn mfa_alone_asks_for_a_second_factor_and_with_pwd_does_not() {
        assert!(wants_mfa(&[MFA.to_owned()]));
        assert!(!wants_mfa(&[MFA.to_owned(), PWD.to_owned()]));
        assert!(!wants_mfa(&[]));
    }

    #[test]
    fn the_achieved_class_follows_amr() {
        assert_eq!(achieved(&["pwd".into()]), PWD);
        assert_eq!(achieved(&["pwd".into(), "otp".into(), "mfa".into()]), MFA);
    }
}
