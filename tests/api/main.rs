//! The integration tests: the real server on a random port, over SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod account;
mod admin;
mod audit;
mod backup;
mod browser;
mod cli;
mod cli_users;
mod connection_limits;
mod connections;
mod deploy;
mod discovery;
mod endpoints;
mod flow;
mod health;
mod jobs;
mod keys;
mod limits;
mod lockout;
mod logs;
mod mail;
mod mailbox;
mod metrics;
mod migrations;
mod multi;
mod multi_instance;
mod outage;
mod passkeys;
mod rate_limits;
mod register;
mod registration;
mod reset;
mod review_endpoints;
mod review_flow;
mod review_input;
mod rp;
mod second_factor;
mod session_abuse;
mod smtp_receiver;
mod store;
mod tls;
mod token;
mod transactions;
mod trusted_proxies;
