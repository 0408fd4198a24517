//! Integration tests: one binary, the real server on a random port, real HTTP, and every
//! test run against both SQLite and PostgreSQL.

mod helpers;

mod auth;
mod bad_input;
mod cli;
mod discovery;
mod filters;
mod groups;
mod lifecycle;
mod patch;
mod users;
