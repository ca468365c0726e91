//! Password reset: a link only to an existing, enabled account, the same answer either way, and a new password that signs the person out everywhere.

#[allow(unused_imports)]
use super::Accounts;
