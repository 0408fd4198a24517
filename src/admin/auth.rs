//! Admin API authentication: `Authorization: Bearer <JWT>`, HS256 keyed with
//! `admin.jwt_secret`, or RS256 / ES256 with a public key of `admin.jwks_file` (the key named
//! by the token's `kid`, or the only key of its algorithm). `exp` is required; `iss` / `aud`
//! are checked when configured. The claims name the admin (`sub`), their workspace role and
//! optionally their email.

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

/// A public key of `admin.jwks_file`.
struct PublicKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies admin tokens.
pub struct JwtVerifier {
    key: Option<DecodingKey>,
    public: Vec<PublicKey>,
    validation: Validation,
}

impl JwtVerifier {
    /// Fails when `admin.jwks_file` cannot be read or holds a key that is neither RSA nor
    /// P-256 (the error names the setting).
    pub fn new(settings: &AdminSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.expose();
        let key = (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes()));
        let public = if settings.jwks_file.is_empty() {
            Vec::new()
        } else {
            load_jwks(&settings.jwks_file)?
        };
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
        Ok(JwtVerifier {
            key,
            public,
            validation,
        })
    }

    /// The key a token's header asks for, among those configured.
    fn key_for(&self, token: &str) -> Result<(Algorithm, &DecodingKey), Problem> {
        if self.key.is_none() && self.public.is_empty() {
            return Err(Problem::unauthorized(
                "admin tokens cannot be verified: neither admin.jwt_secret nor admin.jwks_file \
                 is configured",
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Problem::unauthorized("the admin token is not valid"))?;
        match header.alg {
            Algorithm::HS256 => self.key.as_ref().map(|k| (header.alg, k)).ok_or_else(|| {
                Problem::unauthorized(
                    "HS256 admin tokens are not accepted: admin.jwt_secret is not set",
                )
            }),
            Algorithm::RS256 | Algorithm::ES256 => {
                let mut of_alg = self.public.iter().filter(|k| k.alg == header.alg);
                let found = match &header.kid {
                    Some(kid) => of_alg.find(|k| k.kid.as_deref() == Some(kid.as_str())),
                    None => of_alg.next().filter(|_| {
                        self.public.iter().filter(|k| k.alg == header.alg).count() == 1
                    }),
                };
                found.map(|k| (header.alg, &k.key)).ok_or_else(|| {
                    Problem::unauthorized(
                        "no key of admin.jwks_file matches the admin token (its kid and alg)",
                    )
                })
            }
            _ => Err(Problem::unauthorized(
                "the admin token's algorithm is not accepted (HS256, RS256 or ES256)",
            )),
        }
    }

    pub fn verify(&self, token: &str) -> Result<Admin, Problem> {
        let (alg, key) = self.key_for(token)?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
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

/// The RS256 (RSA) and ES256 (P-256) public keys of a JWKS file.
fn load_jwks(path: &str) -> anyhow::Result<Vec<PublicKey>> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("admin.jwks_file {path}: cannot be read: {e}"))?;
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("admin.jwks_file {path}: not a JWKS ({e})"))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone();
        let named = kid.as_deref().unwrap_or("without a kid");
        let (alg, expected) = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                (Algorithm::ES256, KeyAlgorithm::ES256)
            }
            _ => anyhow::bail!(
                "admin.jwks_file {path}: key {named} is neither an RSA key (RS256) nor a P-256 \
                 key (ES256)"
            ),
        };
        if jwk.common.key_algorithm.is_some_and(|a| a != expected) {
            anyhow::bail!("admin.jwks_file {path}: key {named} names an algorithm it cannot have");
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| anyhow::anyhow!("admin.jwks_file {path}: key {named}: {e}"))?;
        keys.push(PublicKey { kid, alg, key });
    }
    if keys.is_empty() {
        anyhow::bail!("admin.jwks_file {path}: holds no key");
    }
    Ok(keys)
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
