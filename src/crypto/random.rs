//! Unguessable values from the operating system's RNG.

use rand::{RngCore, rngs::OsRng};

/// Fills `buf` from the OS RNG: the one source of randomness in Portcullis.
pub fn fill(buf: &mut [u8]) {
    OsRng.fill_bytes(buf);
}

/// `bytes` random bytes, base64url without padding.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    super::b64url(&buf)
}

/// A 256-bit secret: codes, client secrets, CSRF tokens.
pub fn secret() -> String {
    token(32)
}

/// A 128-bit identifier: jti, grant and session ids, client ids.
pub fn id() -> String {
    token(16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_256_bits_and_differ() {
        let (a, b) = (super::secret(), super::secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
