//! Contract tests: the real `meta` client against the real `sandbox` over HTTP on 127.0.0.1.
//! One test binary; a module per area. Each test starts its own sandbox on port 0.

mod assets;
mod errors;
mod helpers;
mod pacing;
mod people;
mod sandbox;
mod tokens;
