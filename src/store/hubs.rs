//! Hubs (connected Meta businesses) and their access grants.

use diesel::prelude::*;

use super::schema::{grants, hubs};
use super::{unique_as, AnyConnection, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = hubs)]
pub struct HubRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub label: String,
    pub business_id: String,
    pub business_name: String,
    pub app_id: String,
    pub login_method: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub owner: String,
    /// Sealed (`crypto::SecretBox`, the hub id as associated data).
    pub access_token: Vec<u8>,
    pub app_secret: Option<Vec<u8>>,
    pub safeguard_percent: i32,
    pub safeguard_window_minutes: i32,
    pub safeguard_max_removals: Option<i32>,
    pub sync_interval_hours: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Hub statuses.
pub mod status {
    pub const ACTIVE: &str = "active";
    pub const NEEDS_REAUTH: &str = "needs_reauth";
    pub const RESTRICTED: &str = "restricted";
    pub const DISCONNECTED: &str = "disconnected";
}

/// Inserts a hub (its `seq` is assigned); `Conflict("business_id")` when that business is
/// connected already.
pub fn insert(conn: &mut AnyConnection, hub: &HubRow) -> StoreResult<HubRow> {
    let seq: i64 = diesel::insert_into(hubs::table)
        .values(hub)
        .returning(hubs::seq)
        .get_result(conn)
        .map_err(unique_as("business_id"))?;
    Ok(HubRow { seq, ..hub.clone() })
}

pub fn find(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<HubRow>> {
    Ok(hubs::table
        .filter(hubs::id.eq(id))
        .select(HubRow::as_select())
        .first(conn)
        .optional()?)
}

/// The connected (not disconnected) hub of a business.
pub fn find_by_business(
    conn: &mut AnyConnection,
    business_id: &str,
) -> StoreResult<Option<HubRow>> {
    Ok(hubs::table
        .filter(hubs::business_id.eq(business_id))
        .filter(hubs::status.ne(status::DISCONNECTED))
        .select(HubRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_seq(conn: &mut AnyConnection, seq: i64) -> StoreResult<Option<HubRow>> {
    Ok(hubs::table
        .filter(hubs::seq.eq(seq))
        .select(HubRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets a hub's status and reason.
pub fn set_status(
    conn: &mut AnyConnection,
    seq: i64,
    status: &str,
    reason: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    diesel::update(hubs::table.filter(hubs::seq.eq(seq)))
        .set((
            hubs::status.eq(status),
            hubs::status_reason.eq(reason),
            hubs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub hub_seq: i64,
    pub group_seq: Option<i64>,
    pub user_seq: Option<i64>,
    pub hub_role: String,
    pub business_role: String,
    /// JSON: `[{"asset_id", "kind", "tasks": [...]}]`.
    pub assets: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert_grant(conn: &mut AnyConnection, grant: &GrantRow) -> StoreResult<GrantRow> {
    let seq: i64 = diesel::insert_into(grants::table)
        .values(grant)
        .returning(grants::seq)
        .get_result(conn)?;
    Ok(GrantRow {
        seq,
        ..grant.clone()
    })
}

/// A grant with the SCIM id of its grantee: (grant, group id, user id).
pub type GrantWithGrantee = (GrantRow, Option<String>, Option<String>);

/// A hub's grants, with the SCIM id of each grantee (group or user).
pub fn grants_of(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Vec<GrantWithGrantee>> {
    use super::schema::{groups, users};
    Ok(grants::table
        .left_join(groups::table.on(grants::group_seq.eq(groups::seq.nullable())))
        .left_join(users::table.on(grants::user_seq.eq(users::seq.nullable())))
        .filter(grants::hub_seq.eq(hub_seq))
        .order(grants::seq.asc())
        .select((
            GrantRow::as_select(),
            groups::id.nullable(),
            users::id.nullable(),
        ))
        .load(conn)?)
}
