//! Signing up: a new unverified account, its verification mail, and what an address that is already registered gets.

#[allow(unused_imports)]
use super::Accounts;
