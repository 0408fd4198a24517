//! SCIM bearer tokens: create, list, revoke, look up by hash, record use.

use diesel::prelude::*;

use super::schema::scim_tokens::dsl as t;
use super::{AnyConnection, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::scim_tokens)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    token_hash: &[u8],
    now: i64,
) -> StoreResult<()> {
    diesel::insert_into(t::scim_tokens)
        .values((
            t::id.eq(id),
            t::name.eq(name),
            t::token_hash.eq(token_hash),
            t::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<TokenRow>> {
    Ok(t::scim_tokens
        .select(TokenRow::as_select())
        .order((t::created_at.asc(), t::id.asc()))
        .load(conn)?)
}

/// Marks a token revoked. `NotFound` when no such token; revoking twice is harmless.
pub fn revoke(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<()> {
    let n = diesel::update(
        t::scim_tokens
            .filter(t::id.eq(id))
            .filter(t::revoked_at.is_null()),
    )
    .set(t::revoked_at.eq(Some(now)))
    .execute(conn)?;
    if n == 0 {
        let exists: i64 = t::scim_tokens
            .filter(t::id.eq(id))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
    }
    Ok(())
}

/// The live (not revoked) token with this hash.
pub fn find_active_by_hash(
    conn: &mut AnyConnection,
    token_hash: &[u8],
) -> StoreResult<Option<TokenRow>> {
    Ok(t::scim_tokens
        .filter(t::token_hash.eq(token_hash))
        .filter(t::revoked_at.is_null())
        .select(TokenRow::as_select())
        .get_result(conn)
        .optional()?)
}

pub fn touch(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<()> {
    diesel::update(t::scim_tokens.filter(t::id.eq(id)))
        .set(t::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}
