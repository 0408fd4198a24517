//! Members: people as Meta shows them in a hub's business, one row per email.

use diesel::prelude::*;

use super::schema::members;
use super::{AnyConnection, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = members, primary_key(seq), treat_none_as_null = true)]
pub struct MemberRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub hub_seq: i64,
    pub email: String,
    pub email_ci: String,
    pub name: Option<String>,
    pub business_user_id: Option<String>,
    pub invitation_id: Option<String>,
    /// `active`, `invited`, `invite_expired`, `removed`.
    pub meta_status: String,
    pub business_role: Option<String>,
    /// JSON `{"<asset id>": {"kind": "...", "tasks": [...]}}`.
    pub assets: String,
    /// `unmatched`, `onboarded`, `guest`, `exempted`.
    pub state: String,
    pub user_id: Option<String>,
    pub hub_role: Option<String>,
    pub exemption_reason: Option<String>,
    pub exemption_by: Option<String>,
    pub exemption_at: Option<i64>,
    pub partner_business_id: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub updated_at: i64,
}

/// The member matched to a directory user on a hub.
pub fn for_user(
    conn: &mut AnyConnection,
    hub_seq: i64,
    user_id: &str,
) -> StoreResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::user_id.eq(user_id))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// The member with this (case-folded) email on a hub.
pub fn by_email(
    conn: &mut AnyConnection,
    hub_seq: i64,
    email_ci: &str,
) -> StoreResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::email_ci.eq(email_ci))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a new member (`seq` 0) or updates it; returns it as stored.
pub fn save(conn: &mut AnyConnection, row: &MemberRow) -> StoreResult<MemberRow> {
    if row.seq == 0 {
        let seq: i64 = diesel::insert_into(members::table)
            .values(row)
            .returning(members::seq)
            .get_result(conn)?;
        return Ok(MemberRow { seq, ..row.clone() });
    }
    diesel::update(members::table.filter(members::seq.eq(row.seq)))
        .set(row)
        .execute(conn)?;
    Ok(row.clone())
}

/// A hub's members, by email.
pub fn of_hub(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Vec<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .order(members::email_ci.asc())
        .select(MemberRow::as_select())
        .load(conn)?)
}
