//! `ScimError`: every failure of the SCIM API, rendered as an RFC 7644 §3.12 error body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::schema::ERROR_SCHEMA;
use crate::service::{Invalid, ServiceError};
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
        ServiceError::from(e).into()
    }
}

impl From<ServiceError> for ScimError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { kind, detail } => ScimError::bad(
                match kind {
                    Invalid::Value => "invalidValue",
                    Invalid::Syntax => "invalidSyntax",
                    Invalid::Path => "invalidPath",
                    Invalid::NoTarget => "noTarget",
                    Invalid::Mutability => "mutability",
                    Invalid::Filter => "invalidFilter",
                    Invalid::TooMany => "tooMany",
                },
                detail,
            ),
            ServiceError::NotFound(detail) => ScimError::not_found(detail),
            ServiceError::Conflict(detail) => ScimError::uniqueness(detail),
            ServiceError::PreconditionFailed(detail) => ScimError::precondition_failed(detail),
            ServiceError::Unavailable(detail) => ScimError::unavailable(detail),
            ServiceError::Unprocessable { detail, .. } => ScimError::invalid_value(detail),
            ServiceError::Internal => ScimError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "internal server error; see the server log",
            ),
        }
    }
}

/// For code of the SCIM edge that runs inside a service call (a PATCH applied by the
/// directory): its 400s keep their `scimType` through the round trip.
impl From<ScimError> for ServiceError {
    fn from(e: ScimError) -> Self {
        let kind = match e.scim_type {
            Some("invalidValue") => Invalid::Value,
            Some("invalidSyntax") => Invalid::Syntax,
            Some("invalidPath") => Invalid::Path,
            Some("noTarget") => Invalid::NoTarget,
            Some("mutability") => Invalid::Mutability,
            Some("invalidFilter") => Invalid::Filter,
            Some("tooMany") => Invalid::TooMany,
            Some("uniqueness") => return ServiceError::Conflict(e.detail),
            _ => match e.status {
                StatusCode::NOT_FOUND => return ServiceError::NotFound(e.detail),
                StatusCode::PRECONDITION_FAILED => {
                    return ServiceError::PreconditionFailed(e.detail)
                }
                StatusCode::SERVICE_UNAVAILABLE => return ServiceError::Unavailable(e.detail),
                StatusCode::BAD_REQUEST => Invalid::Value,
                _ => return ServiceError::Internal,
            },
        };
        ServiceError::invalid(kind, e.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_their_scim_type_through_the_service_layer() {
        let errors = [
            ScimError::invalid_value("v"),
            ScimError::invalid_syntax("s"),
            ScimError::invalid_path("p"),
            ScimError::no_target("t"),
            ScimError::mutability("m"),
            ScimError::invalid_filter("f"),
            ScimError::too_many("n"),
            ScimError::uniqueness("u"),
            ScimError::not_found("nf"),
            ScimError::precondition_failed("pf"),
            ScimError::unavailable("un"),
        ];
        for e in errors {
            assert_eq!(ScimError::from(ServiceError::from(e.clone())), e);
        }
    }

    #[test]
    fn a_store_error_becomes_the_scim_answer_operators_expect() {
        let cases = [
            (StoreError::NotFound, 404, None),
            (StoreError::Conflict("userName"), 409, Some("uniqueness")),
            (StoreError::VersionMismatch, 412, None),
            (
                StoreError::MissingReference("User", "x".into()),
                400,
                Some("invalidValue"),
            ),
            (StoreError::Unavailable("down".into()), 503, None),
            (StoreError::Timeout, 503, None),
        ];
        for (store, status, scim_type) in cases {
            let e = ScimError::from(store);
            assert_eq!((e.status.as_u16(), e.scim_type), (status, scim_type));
        }
    }
}
