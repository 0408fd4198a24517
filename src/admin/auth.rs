//! Admin API authentication: `Authorization: Bearer <JWT>`, HS256 keyed with
//! `admin.jwt_secret`. `exp` is required; `iss` / `aud` are checked when configured. The
//! claims name the admin (`sub`), their workspace role and optionally their email.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::config::AdminSettings;

/// Workspace roles. `guest` and `login_only` may not use the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    Owner,
    SuperAdmin,
    Admin,
    User,
    Guest,
    LoginOnly,
}

impl WorkspaceRole {
    pub fn may_use_admin_api(self) -> bool {
        !matches!(self, WorkspaceRole::Guest | WorkspaceRole::LoginOnly)
    }

    /// Manages every hub.
    pub fn sees_every_hub(self) -> bool {
        matches!(self, WorkspaceRole::Owner | WorkspaceRole::SuperAdmin)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: WorkspaceRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The authenticated admin of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub subject: String,
    pub role: WorkspaceRole,
    pub email: Option<String>,
}

/// Verifies admin tokens.
pub struct JwtVerifier {
    key: Option<DecodingKey>,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(settings: &AdminSettings) -> Self {
        let secret = settings.jwt_secret.expose();
        let key = (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes()));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        if !settings.jwt_issuer.is_empty() {
            validation.set_issuer(&[settings.jwt_issuer.as_str()]);
        }
        if settings.jwt_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[settings.jwt_audience.as_str()]);
        }
        JwtVerifier { key, validation }
    }

    pub fn verify(&self, token: &str) -> Result<Admin, Problem> {
        let key = self.key.as_ref().ok_or_else(|| {
            Problem::unauthorized(
                "admin tokens cannot be verified: admin.jwt_secret is not configured",
            )
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            Problem::unauthorized(match e.kind() {
                K::ExpiredSignature => "the admin token has expired",
                K::InvalidIssuer => "the admin token's issuer is not accepted",
                K::InvalidAudience => "the admin token's audience is not accepted",
                K::MissingRequiredClaim(_) => "the admin token lacks a required claim (exp, sub)",
                _ => "the admin token is not valid",
            })
        })?;
        let c = data.claims;
        if !c.role.may_use_admin_api() {
            return Err(Problem::forbidden(
                "guests and login-only members may not use the admin API",
            ));
        }
        Ok(Admin {
            subject: c.sub,
            role: c.role,
            email: c.email,
        })
    }
}

/// Mints an HS256 admin token (`hubbridge admin-token`).
pub fn mint(
    settings: &AdminSettings,
    subject: &str,
    role: WorkspaceRole,
    email: Option<&str>,
    ttl: std::time::Duration,
) -> anyhow::Result<String> {
    let secret = settings.jwt_secret.expose();
    if secret.is_empty() {
        anyhow::bail!(
            "admin.jwt_secret is not set: set it (at least 32 bytes) to mint admin tokens"
        );
    }
    let exp = chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = Claims {
        sub: subject.to_string(),
        role,
        email: email.map(str::to_string),
        exp,
        iss: Some(settings.jwt_issuer.clone()).filter(|s| !s.is_empty()),
        aud: Some(settings.jwt_audience.clone()).filter(|s| !s.is_empty()),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

fn bearer(req: &ServiceRequest) -> Result<String, Problem> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("missing Authorization: Bearer <token> header"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not valid text"))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_string())
        }
        _ => Err(Problem::unauthorized(
            "the Authorization header must be Bearer <token>",
        )),
    }
}

/// Middleware of the admin scope: authenticates, then stores the [`Admin`] in the request.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verifier = req
        .app_data::<web::Data<JwtVerifier>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("admin verifier missing"))?;
    match bearer(&req).and_then(|t| verifier.verify(&t)) {
        Ok(admin) => {
            req.extensions_mut().insert(admin);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(p) => {
            tracing::info!(reason = %p.detail, status = p.status.as_u16(), "admin request refused");
            Ok(req.into_response(p.error_response()).map_into_right_body())
        }
    }
}
