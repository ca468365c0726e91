//! The integration tests: the real server on a random port, over SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod browser;
mod cli;
mod cli_users;
mod connections;
mod discovery;
mod endpoints;
mod flow;
mod health;
mod keys;
mod limits;
mod mailbox;
mod review_endpoints;
mod review_flow;
mod review_input;
mod rp;
mod store;
mod token;
mod transactions;
