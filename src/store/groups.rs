//! Directory groups and their membership rows.
//!
//! Membership changes touch one `group_members` row per member: the cost of adding or
//! removing a member does not depend on the size of the group.

use diesel::prelude::*;

use super::schema::{group_members, groups, users};
use super::sql::{self, Col, Cond, Lit, RawQuery};
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
    find_with(conn, id, "")
}

/// `find` inside a write transaction: the group row stays locked until commit, so
/// concurrent membership changes to one group queue up instead of failing each other's
/// version check (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers).
pub fn find_for_update(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<GroupRow>> {
    let lock = match conn {
        AnyConnection::Postgresql(_) => " FOR UPDATE",
        AnyConnection::Sqlite(_) => "",
    };
    find_with(conn, id, lock)
}

fn find_with(conn: &mut AnyConnection, id: &str, lock: &str) -> StoreResult<Option<GroupRow>> {
    let rows: Vec<GroupRow> = RawQuery::fixed(
        &[
            "SELECT groups.seq, groups.id, groups.display_name, groups.external_id, \
             groups.version, groups.created_at, groups.updated_at FROM groups WHERE groups.id = ",
            lock,
        ],
        vec![Lit::Text(id.to_string())],
    )
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Writes new attribute values and bumps the version, checking the version read.
pub fn update(
    conn: &mut AnyConnection,
    current: &GroupRow,
    display_name: &str,
    external_id: Option<&str>,
    now: i64,
) -> StoreResult<GroupRow> {
    // Fixed statements (diesel never caches UPDATE changesets). Every member change bumps
    // the version through here; the indexed name columns are written only when they change.
    let mut sql = String::from("UPDATE groups SET ");
    let mut binds = Vec::new();
    if display_name != current.display_name {
        sql.push_str("display_name = ?, display_name_ci = ?, ");
        binds.push(Lit::Text(display_name.to_string()));
        binds.push(Lit::Text(sql::fold(display_name)));
    }
    if external_id != current.external_id.as_deref() {
        sql.push_str("external_id = ?, ");
        binds.push(Lit::OptText(external_id.map(str::to_string)));
    }
    sql.push_str("version = ?, updated_at = ? WHERE seq = ? AND version = ?");
    binds.extend([
        Lit::Int(current.version + 1),
        Lit::Int(now),
        Lit::Int(current.seq),
        Lit::Int(current.version),
    ]);
    let n = RawQuery::marked(&sql, binds)
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
/// Fails with `MissingReference` naming the first id that is not a user. Each member costs
/// two fixed, cached statements, whatever the size of the group.
pub fn add_members(
    conn: &mut AnyConnection,
    group_seq: i64,
    user_ids: &[String],
) -> StoreResult<usize> {
    let mut added = 0;
    for id in user_ids {
        let user_seq =
            user_seq(conn, id)?.ok_or_else(|| StoreError::MissingReference("User", id.clone()))?;
        added += RawQuery::marked(
            "INSERT INTO group_members (group_seq, user_seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
            vec![Lit::Int(group_seq), Lit::Int(user_seq)],
        )
        .execute(conn)?;
    }
    Ok(added)
}

fn user_seq(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let rows: Vec<Row> = RawQuery::marked(
        "SELECT seq FROM users WHERE id = ?",
        vec![Lit::Text(id.to_string())],
    )
    .load(conn)?;
    Ok(rows.first().map(|r| r.seq))
}

/// Removes users (by id) from a group; ids that are not members are ignored.
pub fn remove_members(
    conn: &mut AnyConnection,
    group_seq: i64,
    user_ids: &[String],
) -> StoreResult<usize> {
    let mut removed = 0;
    for id in user_ids {
        removed += RawQuery::marked(
            "DELETE FROM group_members WHERE group_seq = ? \
             AND user_seq = (SELECT seq FROM users WHERE id = ?)",
            vec![Lit::Int(group_seq), Lit::Text(id.clone())],
        )
        .execute(conn)?;
    }
    Ok(removed)
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
        "",
        cond,
        sort,
        offset,
        limit,
    )?)
}
