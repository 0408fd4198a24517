//! The service layer: every change to hubbridge's state goes through a function here, which
//! owns the database transaction. The SCIM edge, the admin API, the engine and the command
//! line parse and authorise, then call these; none of them writes to the store directly.
//! Errors are [`ServiceError`]s, which each edge maps to its own error format.

pub mod directory;
pub mod error;
pub mod guests;
pub mod hubs;
pub mod members;
pub mod tokens;

pub use error::{Invalid, ServiceError, ServiceResult};

/// Who is making a change, for the log and (later) the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The identity provider, through a SCIM bearer token.
    ScimToken { id: String, name: String },
    /// An administrator, through the admin API (the token's subject).
    Admin { subject: String },
    /// The engine, running a task.
    Task { id: String },
    /// An operator at the command line.
    Cli,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::ScimToken { name, .. } => write!(f, "scim-token:{name}"),
            Actor::Admin { subject } => write!(f, "admin:{subject}"),
            Actor::Task { id } => write!(f, "task:{id}"),
            Actor::Cli => f.write_str("cli"),
        }
    }
}
