//! `ScimError`: every failure of the SCIM API, rendered as an RFC 7644 §3.12 error body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::schema::ERROR_SCHEMA;
use crate::store::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// 401 only: credentials were presented and are wrong (RFC 6750 `error="invalid_token"`),
    /// as opposed to none presented at all.
    invalid_token: bool,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            invalid_token: false,
        }
    }
    fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad("invalidFilter", detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad("invalidSyntax", detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad("invalidPath", detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad("noTarget", detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad("mutability", detail)
    }
    pub fn invalid_vers(detail: impl Into<String>) -> Self {
        Self::bad("invalidVers", detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad("tooMany", detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }
    /// A bearer token was presented but is unknown, revoked or malformed.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ScimError {
            invalid_token: true,
            ..Self::new(StatusCode::UNAUTHORIZED, None, detail)
        }
    }
    /// No credentials at all.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, None, detail)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, detail)
    }
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, None, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
    }
    /// The client sees an opaque message; the cause is logged once, here.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error while serving a SCIM request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal server error; see the server log",
        )
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: no error code when no credentials were sent.
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                if self.invalid_token {
                    "Bearer realm=\"hubbridge SCIM\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"hubbridge SCIM\""
                },
            ));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header((header::RETRY_AFTER, "5"));
        }
        resp.body(body.to_string())
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound | StoreError::Database(diesel::result::Error::NotFound) => {
                ScimError::not_found("resource not found")
            }
            StoreError::Conflict(what) => {
                ScimError::uniqueness(format!("{what} is already in use by another resource"))
            }
            StoreError::VersionMismatch => ScimError::precondition_failed(
                "the resource changed since the version given in If-Match",
            ),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ScimError::unavailable("the database is unavailable; retry later")
            }
            StoreError::Database(diesel::result::Error::DatabaseError(_, ref info))
                if info.message().contains("statement timeout") =>
            {
                tracing::warn!(error = %e, "statement stopped at its time limit");
                ScimError::unavailable("the database took too long; retry later")
            }
            StoreError::Timeout => {
                tracing::warn!(error = %e, "statement stopped at its time limit");
                ScimError::unavailable(
                    "the query took too long and was stopped; retry later or narrow the filter",
                )
            }
            other => ScimError::internal(&other),
        }
    }
}
