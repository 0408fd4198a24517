//! SCIM bearer tokens: issue, list, revoke, and authenticate a presented token. The SCIM
//! edge (which caches verified tokens), the CLI and the admin API all come here.
//!
//! Only a token's SHA-256 is stored; the secret is shown once, when it is issued.

use super::{Actor, ServiceError, ServiceResult};
use crate::crypto::{self, Secret};
use crate::store::{now_micros, tokens, Store, StoreError};

/// A token as an operator sees it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<tokens::TokenRow> for TokenInfo {
    fn from(row: tokens::TokenRow) -> Self {
        TokenInfo {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Clone)]
pub struct Tokens {
    store: Store,
}

impl Tokens {
    pub fn new(store: Store) -> Self {
        Tokens { store }
    }

    /// Creates a token named `name` (trimmed; 1 to 200 characters, no control characters).
    /// Returns it with its secret, which is stored nowhere.
    pub async fn issue(&self, actor: &Actor, name: &str) -> ServiceResult<(TokenInfo, Secret)> {
        let name = name.trim().to_string();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid_value(format!(
                "a token name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
            )));
        }
        let secret = crypto::generate_scim_token();
        let hash = crypto::hash_token(secret.expose());
        let id = crypto::new_id();
        let now = now_micros();
        let (row_id, row_name) = (id.clone(), name.clone());
        self.store
            .write(move |c| tokens::insert(c, &row_id, &row_name, &hash, now))
            .await?;
        tracing::info!(token.id = %id, token.name = %name, actor = %actor, "SCIM token issued");
        let info = TokenInfo {
            id,
            name,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((info, secret))
    }

    /// Every token, oldest first, revoked ones included.
    pub async fn list(&self) -> ServiceResult<Vec<TokenInfo>> {
        let rows = self.store.read(tokens::list).await?;
        Ok(rows.into_iter().map(TokenInfo::from).collect())
    }

    /// Revokes a token; revoking a revoked token again is harmless.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        let key = id.to_string();
        match self
            .store
            .write(move |c| tokens::revoke(c, &key, now_micros()))
            .await
        {
            Ok(()) => {
                tracing::info!(token.id = %id, actor = %actor, "SCIM token revoked");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(ServiceError::not_found(format!(
                "no SCIM token with id {id}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The actor of a live token with this SHA-256, or `None` (unknown or revoked).
    pub async fn authenticate(&self, hash: Vec<u8>) -> ServiceResult<Option<Actor>> {
        let row = self
            .store
            .read(move |c| tokens::find_active_by_hash(c, &hash))
            .await?;
        Ok(row.map(|r| Actor::ScimToken {
            id: r.id,
            name: r.name,
        }))
    }

    /// Records that a token was used (for `token list`), in the background: a failure
    /// only logs.
    pub fn touch_later(&self, id: String) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let r = store
                .write(move |c| tokens::touch(c, &id, now_micros()))
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "could not record SCIM token use");
            }
        });
    }
}
