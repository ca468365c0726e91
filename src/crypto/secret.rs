//! `Secret`: a value that never prints itself — passwords, client secrets, database and
//! SMTP URLs with credentials in them.

use std::fmt;

/// Holds a secret so that it cannot reach a log or an error message by accident: its
/// `Debug` prints `[redacted]` and it has no `Display`. Reading it takes a call to
/// `expose`, which is easy to find in review. `==` is not constant-time: compare
/// secrets an attacker supplies with `crypto::constant_time_eq`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl Secret<String> {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl<T> Secret<T> {
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value itself, for the one place that needs to own it.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Serialising is the one deliberate way out: the token response that hands a client
/// its tokens.
impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_redacted_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
    }

    #[test]
    fn a_secret_gives_its_value_only_when_asked() {
        let s: Secret = "hunter2".into();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.into_exposed(), "hunter2");
    }

    #[test]
    fn a_secret_may_hold_any_type() {
        let key = Secret::from([7_u8; 4]);
        assert_eq!(format!("{key:?}"), "[redacted]");
        assert_eq!(key.expose(), &[7, 7, 7, 7]);
    }
}
