//! Directory groups and their membership rows.
//!
//! Membership changes touch one `group_members` row per member: the cost of adding or
//! removing a member does not depend on the size of the group.

use diesel::prelude::*;

use super::schema::{group_members, groups, users};
use super::sql::{self, Col, Cond, Fragment};
use super::{unique_as, AnyConnection, Backend, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub seq: i64,
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A member as listed in a group: the user's id and display text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub group_seq: i64,
    pub user_id: String,
    pub display: String,
}

const DISPLAY_NAME: &str = "displayName";

pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    display_name: &str,
    external_id: Option<&str>,
    now: i64,
) -> StoreResult<GroupRow> {
    let seq: i64 = diesel::insert_into(groups::table)
        .values((
            groups::id.eq(id),
            groups::display_name.eq(display_name),
            groups::display_name_ci.eq(sql::fold(display_name)),
            groups::external_id.eq(external_id),
            groups::version.eq(1i64),
            groups::created_at.eq(now),
            groups::updated_at.eq(now),
        ))
        .returning(groups::seq)
        .get_result(conn)
        .map_err(unique_as(DISPLAY_NAME))?;
    Ok(GroupRow {
        seq,
        id: id.to_string(),
        display_name: display_name.to_string(),
        external_id: external_id.map(str::to_string),
        version: 1,
        created_at: now,
        updated_at: now,
    })
}

pub fn find(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<GroupRow>> {
    Ok(groups::table
        .filter(groups::id.eq(id))
        .select(GroupRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Writes new attribute values and bumps the version, checking the version read.
pub fn update(
    conn: &mut AnyConnection,
    current: &GroupRow,
    display_name: &str,
    external_id: Option<&str>,
    now: i64,
) -> StoreResult<GroupRow> {
    let n = diesel::update(
        groups::table
            .filter(groups::seq.eq(current.seq))
            .filter(groups::version.eq(current.version)),
    )
    .set((
        groups::display_name.eq(display_name),
        groups::display_name_ci.eq(sql::fold(display_name)),
        groups::external_id.eq(external_id),
        groups::version.eq(current.version + 1),
        groups::updated_at.eq(now),
    ))
    .execute(conn)
    .map_err(unique_as(DISPLAY_NAME))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(GroupRow {
        display_name: display_name.to_string(),
        external_id: external_id.map(str::to_string),
        version: current.version + 1,
        updated_at: now,
        ..current.clone()
    })
}

/// Adds users (by id) to a group; already-present members are left as they are.
/// Fails with `MissingReference` naming the first id that is not a user.
pub fn add_members(
    conn: &mut AnyConnection,
    backend: Backend,
    group_seq: i64,
    user_ids: &[String],
) -> StoreResult<usize> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let found = super::users::seqs_for(conn, user_ids)?;
    if let Some(missing) = user_ids
        .iter()
        .find(|id| !found.iter().any(|(f, _)| f == *id))
    {
        return Err(StoreError::MissingReference("User", missing.clone()));
    }
    let mut added = 0;
    for (_, user_seq) in found {
        let mut frag = Fragment::new(backend);
        frag.push("INSERT INTO group_members (group_seq, user_seq) VALUES (");
        frag.bind(sql::Lit::Int(group_seq));
        frag.push(", ");
        frag.bind(sql::Lit::Int(user_seq));
        frag.push(") ON CONFLICT DO NOTHING");
        added += frag.into_query().execute(conn)?;
    }
    Ok(added)
}

/// Removes users (by id) from a group; ids that are not members are ignored.
pub fn remove_members(
    conn: &mut AnyConnection,
    group_seq: i64,
    user_ids: &[String],
) -> StoreResult<usize> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let seqs: Vec<i64> = super::users::seqs_for(conn, user_ids)?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    Ok(diesel::delete(
        group_members::table
            .filter(group_members::group_seq.eq(group_seq))
            .filter(group_members::user_seq.eq_any(seqs)),
    )
    .execute(conn)?)
}

pub fn remove_all_members(conn: &mut AnyConnection, group_seq: i64) -> StoreResult<usize> {
    Ok(
        diesel::delete(group_members::table.filter(group_members::group_seq.eq(group_seq)))
            .execute(conn)?,
    )
}

/// Members of the given groups, ordered by group then insertion.
pub fn members(conn: &mut AnyConnection, group_seqs: &[i64]) -> StoreResult<Vec<MemberRow>> {
    if group_seqs.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(i64, String, String, Option<String>)> = group_members::table
        .inner_join(users::table)
        .filter(group_members::group_seq.eq_any(group_seqs))
        .select((
            group_members::group_seq,
            users::id,
            users::user_name,
            users::display_name,
        ))
        .order((group_members::group_seq, users::seq))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(group_seq, user_id, user_name, display)| MemberRow {
            group_seq,
            user_id,
            display: display.unwrap_or(user_name),
        })
        .collect())
}

pub fn delete(conn: &mut AnyConnection, seq: i64) -> StoreResult<()> {
    let n = diesel::delete(groups::table.filter(groups::seq.eq(seq))).execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

const GROUP_ROW_COLUMNS: &str = "groups.seq, groups.id, groups.display_name, groups.external_id, \
     groups.version, groups.created_at, groups.updated_at";

pub fn list(
    conn: &mut AnyConnection,
    backend: Backend,
    cond: &Cond,
    sort: Option<(Col, bool)>,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<GroupRow>)> {
    Ok(sql::page(
        conn,
        backend,
        "groups",
        GROUP_ROW_COLUMNS,
        cond,
        sort,
        offset,
        limit,
    )?)
}
