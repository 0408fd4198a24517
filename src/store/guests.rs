//! Guests: external collaborators an admin registered. A member whose email is a guest's
//! is `guest` rather than `unmatched`, on every hub.

use diesel::prelude::*;

use super::schema::{guests, members};
use super::{AnyConnection, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = guests)]
pub struct GuestRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_ci: String,
    pub partner_business_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// Registers a guest and turns the unmatched members with its email into guests; returns
/// the guest as stored. `Conflict` when a guest has that email already.
pub fn insert(conn: &mut AnyConnection, g: &GuestRow) -> StoreResult<GuestRow> {
    if is_guest(conn, &g.email_ci)? {
        return Err(StoreError::Conflict(
            "a guest with that email is registered already",
        ));
    }
    let seq: i64 = diesel::insert_into(guests::table)
        .values(g)
        .returning(guests::seq)
        .get_result(conn)?;
    diesel::update(
        members::table
            .filter(members::email_ci.eq(&g.email_ci))
            .filter(members::state.eq("unmatched")),
    )
    .set(members::state.eq("guest"))
    .execute(conn)?;
    Ok(GuestRow { seq, ..g.clone() })
}

/// Removes a guest; its members become `unmatched` again. False when there is no such guest.
pub fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let Some(email_ci) = guests::table
        .filter(guests::id.eq(id))
        .select(guests::email_ci)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    diesel::delete(guests::table.filter(guests::id.eq(id))).execute(conn)?;
    diesel::update(
        members::table
            .filter(members::email_ci.eq(&email_ci))
            .filter(members::state.eq("guest")),
    )
    .set(members::state.eq("unmatched"))
    .execute(conn)?;
    Ok(true)
}

/// Guests after `after_seq`, oldest first.
pub fn list(conn: &mut AnyConnection, after_seq: i64, limit: i64) -> StoreResult<Vec<GuestRow>> {
    Ok(guests::table
        .filter(guests::seq.gt(after_seq))
        .order(guests::seq.asc())
        .limit(limit)
        .select(GuestRow::as_select())
        .load(conn)?)
}

/// Is a guest registered with this (case-folded) email?
pub fn is_guest(conn: &mut AnyConnection, email_ci: &str) -> StoreResult<bool> {
    Ok(guests::table
        .filter(guests::email_ci.eq(email_ci))
        .select(guests::seq)
        .first::<i64>(conn)
        .optional()?
        .is_some())
}
