//! `ServiceError`: how a service-layer operation fails, in terms of the operation, not of
//! any protocol. The SCIM edge maps it to an RFC 7644 error body, the admin API to
//! problem+json (RFC 9457), the CLI to a message.

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// The input is refused: `kind` says in what way, `detail` what to change.
    Invalid {
        kind: Invalid,
        detail: String,
    },
    NotFound(String),
    /// A value that must be unique is already used by another resource.
    Conflict(String),
    /// The resource changed since the version the caller named.
    PreconditionFailed(String),
    /// Well-formed but refused for a reason the caller can fix (a Meta token lacking
    /// scopes, a missing setting): `problem` is a stable slug (the admin API's problem type
    /// `/problems/{problem}`), `extra` members say what exactly (`missing_scopes`, ...).
    Unprocessable {
        problem: &'static str,
        detail: String,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// Retry later: the database is unreachable, or a statement reached its time limit.
    Unavailable(String),
    /// A bug or broken invariant. The cause was logged when the error was made; callers
    /// show a generic message.
    Internal,
}

/// In what way input is refused. The SCIM edge turns each into its `scimType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// A value is of the wrong type, empty where required, too long or too many.
    Value,
    /// The request is not well formed.
    Syntax,
    /// An attribute path names nothing that exists.
    Path,
    /// A path with a filter matched no value.
    NoTarget,
    /// An attribute that cannot be changed this way.
    Mutability,
    /// A filter expression is malformed or unsupported.
    Filter,
    /// The request would produce or return too many things.
    TooMany,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn invalid(kind: Invalid, detail: impl Into<String>) -> Self {
        ServiceError::Invalid {
            kind,
            detail: detail.into(),
        }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::invalid(Invalid::Value, detail)
    }

    pub fn unprocessable(problem: &'static str, detail: impl Into<String>) -> Self {
        ServiceError::Unprocessable {
            problem,
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ServiceError::NotFound(detail.into())
    }

    /// Logs `cause` once, here; the caller sees only that something went wrong inside.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ServiceError::Internal
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Invalid { detail, .. }
            | ServiceError::NotFound(detail)
            | ServiceError::Conflict(detail)
            | ServiceError::PreconditionFailed(detail)
            | ServiceError::Unavailable(detail)
            | ServiceError::Unprocessable { detail, .. } => f.write_str(detail),
            ServiceError::Internal => f.write_str("internal error; see the server log"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound | StoreError::Database(diesel::result::Error::NotFound) => {
                ServiceError::not_found("resource not found")
            }
            StoreError::Conflict(what) => {
                ServiceError::Conflict(format!("{what} is already in use by another resource"))
            }
            StoreError::VersionMismatch => ServiceError::PreconditionFailed(
                "the resource changed since the version given in If-Match".into(),
            ),
            StoreError::MissingReference(kind, id) => {
                ServiceError::invalid_value(format!("members: {id:?} is not the id of a {kind}"))
            }
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ServiceError::Unavailable("the database is unavailable; retry later".into())
            }
            StoreError::Database(diesel::result::Error::DatabaseError(_, ref info))
                if info.message().contains("statement timeout") =>
            {
                tracing::warn!(error = %e, "statement stopped at its time limit");
                ServiceError::Unavailable("the database took too long; retry later".into())
            }
            StoreError::Timeout => {
                tracing::warn!(error = %e, "statement stopped at its time limit");
                ServiceError::Unavailable(
                    "the query took too long and was stopped; retry later or narrow the filter"
                        .into(),
                )
            }
            other => ServiceError::internal(&other),
        }
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}
