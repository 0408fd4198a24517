//! hubbridge: a SCIM 2.0 provisioning bridge from an identity provider to Meta Business
//! Manager. See `docs/` and the README for what each module owns.

pub mod access;
pub mod admin;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod meta;
pub mod sandbox;
pub mod scim;
pub mod service;
pub mod startup;
pub mod store;
pub mod tasks;
pub mod telemetry;
