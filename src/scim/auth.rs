//! SCIM bearer-token authentication.
//!
//! The token's SHA-256 is looked up in `scim_tokens` (unique index, so the comparison is a
//! database equality on a hash that reveals nothing about the token; a cached hash is
//! compared in constant time). Verified tokens are cached for `scim.token_cache_ttl_secs`,
//! so a revocation takes effect within that time (at once when revoked through this
//! process's admin API); `last_used_at` is refreshed in the
//! background at most once per cache period. Failures are never cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::error::ScimError;
use crate::crypto;
use crate::service::tokens::Tokens;
use crate::service::Actor;

/// Verified token hashes, with the actor and when each was verified.
type Verified = HashMap<Vec<u8>, (Actor, Instant)>;

#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<RwLock<Verified>>,
    ttl: Duration,
    tokens: Tokens,
}

impl TokenCache {
    pub fn new(tokens: Tokens, ttl: Duration) -> Self {
        TokenCache {
            inner: Arc::new(RwLock::new(HashMap::new())),
            ttl,
            tokens,
        }
    }

    fn cached(&self, hash: &[u8]) -> Option<Actor> {
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let (key, (actor, at)) = map.get_key_value(hash)?;
        (crypto::hashes_equal(key, hash) && at.elapsed() < self.ttl).then(|| actor.clone())
    }

    /// Forgets a token verified earlier (it was just revoked here): its next use is checked
    /// against the database again.
    pub fn forget(&self, token_id: &str) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (actor, _)| !matches!(actor, Actor::ScimToken { id, .. } if id == token_id));
    }

    /// The tokens service this cache verifies with.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The actor for a presented token, or 401.
    pub async fn verify(&self, token: &str) -> Result<Actor, ScimError> {
        let hash = crypto::hash_token(token);
        if let Some(actor) = self.cached(&hash) {
            return Ok(actor);
        }
        let Some(actor) = self.tokens.authenticate(hash.clone()).await? else {
            return Err(ScimError::unauthorized(
                "the bearer token is unknown or revoked",
            ));
        };
        {
            let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
            if map.len() > 10_000 {
                map.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            map.insert(hash, (actor.clone(), Instant::now()));
        }
        if let Actor::ScimToken { id, .. } = &actor {
            self.tokens.touch_later(id.clone());
        }
        Ok(actor)
    }
}

fn bearer(req: &ServiceRequest) -> Result<String, ScimError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ScimError::unauthenticated("missing Authorization: Bearer <token> header")
    })?;
    let value = value
        .to_str()
        .map_err(|_| ScimError::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| {
        ScimError::unauthorized("the Authorization header must be Bearer <token>")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ScimError::unauthorized(
            "the Authorization header must be Bearer <token>",
        ));
    }
    Ok(token.trim().to_string())
}

/// Middleware for the SCIM scope: authenticates, then stores the [`Actor`] in the request.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let cache = req
        .app_data::<web::Data<TokenCache>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("token cache missing"))?;
    let outcome = match bearer(&req) {
        Ok(token) => cache.verify(&token).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => {
            if e.status.as_u16() == 401 {
                tracing::info!(reason = %e.detail, "SCIM request refused");
            }
            Ok(req.into_response(e.error_response()).map_into_right_body())
        }
    }
}
