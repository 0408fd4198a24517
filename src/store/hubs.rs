//! Hubs (connected Meta businesses) and their access grants.

use diesel::prelude::*;

use super::schema::{grants, hubs};
use super::sql::{Lit, RawQuery};
use super::{unique_as, AnyConnection, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = hubs, primary_key(seq), treat_none_as_null = true)]
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

/// Writes a hub's settings, secrets and status.
pub fn update(conn: &mut AnyConnection, hub: &HubRow) -> StoreResult<()> {
    diesel::update(hubs::table.filter(hubs::seq.eq(hub.seq)))
        .set(hub)
        .execute(conn)?;
    Ok(())
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

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = grants, primary_key(seq), treat_none_as_null = true)]
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

pub fn grant_by_id(
    conn: &mut AnyConnection,
    hub_seq: i64,
    id: &str,
) -> StoreResult<Option<GrantRow>> {
    Ok(grants::table
        .filter(grants::hub_seq.eq(hub_seq))
        .filter(grants::id.eq(id))
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn update_grant(conn: &mut AnyConnection, g: &GrantRow) -> StoreResult<()> {
    diesel::update(grants::table.filter(grants::seq.eq(g.seq)))
        .set(g)
        .execute(conn)?;
    Ok(())
}

pub fn delete_grant(conn: &mut AnyConnection, seq: i64) -> StoreResult<()> {
    diesel::delete(grants::table.filter(grants::seq.eq(seq))).execute(conn)?;
    Ok(())
}

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

/// Hubs after `after_seq` in `seq` order, at most `limit`; only `owner`'s when given.
pub fn list(
    conn: &mut AnyConnection,
    visible: Option<(&str, &[i64])>,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<HubRow>> {
    let mut q = hubs::table
        .filter(hubs::seq.gt(after_seq))
        .order(hubs::seq.asc())
        .limit(limit)
        .select(HubRow::as_select())
        .into_boxed();
    // Only the hubs this owner connected, and these others.
    if let Some((owner, others)) = visible {
        q = q.filter(hubs::owner.eq(owner).or(hubs::seq.eq_any(others.to_vec())));
    }
    Ok(q.load(conn)?)
}

/// The hub roles of the directory user with this address (its userName or one of its
/// emails, case-folded): hub seq → `owner` or `collaborator`, from the members matched or
/// granted to that user (as of their last match or reconcile).
pub fn member_roles(
    conn: &mut AnyConnection,
    address_ci: &str,
) -> StoreResult<std::collections::HashMap<i64, String>> {
    use super::schema::members;
    let Some(user) = super::members::match_user(conn, address_ci)? else {
        return Ok(Default::default());
    };
    let rows: Vec<(i64, Option<String>)> = members::table
        .filter(members::user_id.eq(user))
        .filter(members::hub_role.is_not_null())
        .select((members::hub_seq, members::hub_role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(seq, role)| Some((seq, role?)))
        .collect())
}

/// Has `subject` connected a hub that is still connected?
pub fn connected_by(conn: &mut AnyConnection, subject: &str) -> StoreResult<bool> {
    use super::schema::hubs;
    Ok(diesel::select(diesel::dsl::exists(
        hubs::table
            .filter(hubs::owner.eq(subject))
            .filter(hubs::status.ne("disconnected")),
    ))
    .get_result(conn)?)
}

/// What a hub's view counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubCounts {
    pub unmatched: i64,
    pub onboarded: i64,
    pub guest: i64,
    pub exempted: i64,
    pub pending_tasks: i64,
    pub failed_tasks: i64,
}

/// A hub's open tasks by status on SQLite: each status through the partial index that
/// holds exactly it (named: SQLite's planner, left free, walks `tasks_by_hub`, the hub's
/// whole history, and proves partial indexes only from literal terms), so a hub's view
/// costs what is open now, not what ever ran.
pub(crate) const COUNTS_SQLITE: &str = "SELECT status, COUNT(*) AS n FROM (\
     SELECT status FROM tasks INDEXED BY tasks_ready \
       WHERE status IN ('pending', 'deferred') AND hub_seq = ? \
     UNION ALL SELECT status FROM tasks INDEXED BY tasks_leased \
       WHERE status = 'running' AND hub_seq = ? \
     UNION ALL SELECT status FROM tasks INDEXED BY tasks_attention \
       WHERE status IN ('held', 'failed') AND hub_seq = ?) GROUP BY status";

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub fn counts(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<HubCounts> {
    use super::schema::{members, tasks};
    let by_state: Vec<(String, i64)> = members::table
        .filter(members::hub_seq.eq(hub_seq))
        .group_by(members::state)
        .select((members::state, diesel::dsl::count_star()))
        .load(conn)?;
    let by_status: Vec<(String, i64)> = match conn {
        AnyConnection::Sqlite(_) => {
            let binds = (0..3).map(|_| Lit::Int(hub_seq)).collect();
            RawQuery::marked(COUNTS_SQLITE, binds)
                .load::<StatusCount>(conn)?
                .into_iter()
                .map(|r| (r.status, r.n))
                .collect()
        }
        AnyConnection::Postgresql(_) => tasks::table
            .filter(tasks::hub_seq.eq(hub_seq))
            .filter(tasks::status.eq_any(["pending", "deferred", "running", "held", "failed"]))
            .group_by(tasks::status)
            .select((tasks::status, diesel::dsl::count_star()))
            .load(conn)?,
    };
    let mut c = HubCounts::default();
    for (state, n) in by_state {
        match state.as_str() {
            "unmatched" => c.unmatched = n,
            "onboarded" => c.onboarded = n,
            "guest" => c.guest = n,
            "exempted" => c.exempted = n,
            _ => {}
        }
    }
    for (status, n) in by_status {
        if status == "failed" {
            c.failed_tasks += n;
        } else {
            c.pending_tasks += n;
        }
    }
    Ok(c)
}

/// A grant with its grantee's SCIM id and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    pub grant: GrantRow,
    /// "group" or "user".
    pub grantee_type: &'static str,
    pub grantee_id: String,
    pub grantee_display: String,
}

/// A hub's grants after `after_seq`, optionally only those of one group or user (SCIM ids).
pub fn grant_views(
    conn: &mut AnyConnection,
    hub_seq: i64,
    group_id: Option<&str>,
    user_id: Option<&str>,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<GrantView>> {
    use super::schema::{groups, users};
    let mut q = grants::table
        .left_join(groups::table.on(grants::group_seq.eq(groups::seq.nullable())))
        .left_join(users::table.on(grants::user_seq.eq(users::seq.nullable())))
        .filter(grants::hub_seq.eq(hub_seq))
        .filter(grants::seq.gt(after_seq))
        .order(grants::seq.asc())
        .limit(limit)
        .select((
            GrantRow::as_select(),
            groups::id.nullable(),
            groups::display_name.nullable(),
            users::id.nullable(),
            users::user_name.nullable(),
        ))
        .into_boxed();
    if let Some(g) = group_id {
        q = q.filter(groups::id.eq(g));
    }
    if let Some(u) = user_id {
        q = q.filter(users::id.eq(u));
    }
    type Row = (
        GrantRow,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(grant, gid, gname, uid, uname)| match (gid, uid) {
            (Some(id), _) => GrantView {
                grant,
                grantee_type: "group",
                grantee_id: id,
                grantee_display: gname.unwrap_or_default(),
            },
            (None, uid) => GrantView {
                grant,
                grantee_type: "user",
                grantee_id: uid.unwrap_or_default(),
                grantee_display: uname.unwrap_or_default(),
            },
        })
        .collect())
}

pub fn find_grant(
    conn: &mut AnyConnection,
    hub_seq: i64,
    id: &str,
) -> StoreResult<Option<GrantView>> {
    let all = grant_views(conn, hub_seq, None, None, 0, i64::MAX)?;
    Ok(all.into_iter().find(|g| g.grant.id == id))
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::hub_assets)]
pub struct AssetRow {
    pub hub_seq: i64,
    pub asset_id: String,
    /// `page`, `ad_account`, `catalog`.
    pub kind: String,
    pub name: String,
    pub owned_by: String,
    pub last_seen_at: i64,
}

/// Replaces a hub's assets with those a sync saw.
pub fn replace_assets(
    conn: &mut AnyConnection,
    hub_seq: i64,
    assets: &[AssetRow],
) -> StoreResult<()> {
    use super::schema::hub_assets;
    diesel::delete(hub_assets::table.filter(hub_assets::hub_seq.eq(hub_seq))).execute(conn)?;
    // One statement per asset: diesel's multi-row insert is not available across both
    // backends, and a business has hundreds of assets at most.
    for asset in assets {
        diesel::insert_into(hub_assets::table)
            .values(asset)
            .execute(conn)?;
    }
    Ok(())
}

pub fn assets_of(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Vec<AssetRow>> {
    use super::schema::hub_assets;
    Ok(hub_assets::table
        .filter(hub_assets::hub_seq.eq(hub_seq))
        .order((hub_assets::kind.asc(), hub_assets::asset_id.asc()))
        .select(AssetRow::as_select())
        .load(conn)?)
}
