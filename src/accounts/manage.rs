//! What a signed-in person does to their own account: profile, email change, password change, sessions, connected apps, security activity, and deletion.

#[allow(unused_imports)]
use super::Accounts;
