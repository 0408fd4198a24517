//! Integration tests: one binary, the real server on a random port, real HTTP, and every
//! SCIM test run against both SQLite and PostgreSQL; `contract` runs the real Graph client
//! against the real sandbox over HTTP.

mod helpers;

mod admin;
mod admin_input;
mod auth;
mod authorization;
mod bad_input;
mod cli;
mod conformance;
mod contract;
mod crash;
mod discovery;
mod engine;
mod filters;
mod folding;
mod groups;
mod hardening;
mod lifecycle;
mod members;
mod patch;
mod queue;
mod resilience;
mod sync;
mod users;
