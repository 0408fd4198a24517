//! Directory users: the stored document, its filterable column copies and value rows.

use diesel::prelude::*;

use super::schema::{group_members, groups, user_values, users};
use super::sql::{self, Col, Cond, Lit, RawQuery};
use super::{unique_as, AnyConnection, Backend, StoreError, StoreResult};

/// What a read returns: identity, version, timestamps and the stored SCIM document.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub seq: i64,
    pub id: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub attrs: String,
}

/// Copies of the filterable attributes, written with every change of `attrs`.
#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserColumns {
    pub user_name: String,
    pub user_name_ci: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub profile_url: Option<String>,
    pub active: bool,
    pub name_formatted: Option<String>,
    pub name_family: Option<String>,
    pub name_given: Option<String>,
    pub name_middle: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
}

/// One value of a multi-valued attribute (`emails`, `phoneNumbers`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRow {
    pub attr: &'static str,
    pub value: Option<String>,
    pub type_: Option<String>,
    pub is_primary: bool,
    pub display: Option<String>,
}

const USER_NAME: &str = "userName";

pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    cols: &UserColumns,
    attrs: &str,
    values: &[ValueRow],
    now: i64,
) -> StoreResult<UserRow> {
    let seq: i64 = diesel::insert_into(users::table)
        .values((
            cols,
            users::id.eq(id),
            users::version.eq(1i64),
            users::created_at.eq(now),
            users::updated_at.eq(now),
            users::attrs.eq(attrs),
        ))
        .returning(users::seq)
        .get_result(conn)
        .map_err(unique_as(USER_NAME))?;
    insert_values(conn, seq, values)?;
    Ok(UserRow {
        seq,
        id: id.to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
        attrs: attrs.to_string(),
    })
}

fn insert_values(conn: &mut AnyConnection, seq: i64, values: &[ValueRow]) -> StoreResult<()> {
    // MultiConnection cannot batch-insert (no DEFAULT on SQLite); rows are few per user.
    for v in values {
        diesel::insert_into(user_values::table)
            .values((
                user_values::user_seq.eq(seq),
                user_values::attr.eq(v.attr),
                user_values::value.eq(&v.value),
                user_values::value_ci.eq(v.value.as_deref().map(sql::fold)),
                user_values::type_.eq(&v.type_),
                user_values::is_primary.eq(v.is_primary),
                user_values::display.eq(&v.display),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<UserRow>> {
    let rows: Vec<UserRow> = RawQuery::fixed(
        &[
            "SELECT users.seq, users.id, users.version, users.created_at, users.updated_at, \
             users.attrs FROM users WHERE users.id = ",
            "",
        ],
        vec![Lit::Text(id.to_string())],
    )
    .load(conn)?;
    Ok(rows.into_iter().next())
}

#[derive(QueryableByName)]
struct GroupOfUser {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    display_name: String,
}

/// Replaces a user's document. With `expected_version`, fails with `VersionMismatch` when
/// the stored version differs (If-Match, and concurrent writers).
pub fn update(
    conn: &mut AnyConnection,
    current: &UserRow,
    cols: &UserColumns,
    attrs: &str,
    values: &[ValueRow],
    now: i64,
) -> StoreResult<UserRow> {
    let n = diesel::update(
        users::table
            .filter(users::seq.eq(current.seq))
            .filter(users::version.eq(current.version)),
    )
    .set((
        cols,
        users::version.eq(current.version + 1),
        users::updated_at.eq(now),
        users::attrs.eq(attrs),
    ))
    .execute(conn)
    .map_err(unique_as(USER_NAME))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    diesel::delete(user_values::table.filter(user_values::user_seq.eq(current.seq)))
        .execute(conn)?;
    insert_values(conn, current.seq, values)?;
    Ok(UserRow {
        seq: current.seq,
        id: current.id.clone(),
        version: current.version + 1,
        created_at: current.created_at,
        updated_at: now,
        attrs: attrs.to_string(),
    })
}

pub fn delete(conn: &mut AnyConnection, seq: i64) -> StoreResult<()> {
    // Value and membership rows go with it (ON DELETE CASCADE).
    let n = diesel::delete(users::table.filter(users::seq.eq(seq))).execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// (user seq, group id, group displayName) for every membership of the given users.
pub fn groups_of(
    conn: &mut AnyConnection,
    seqs: &[i64],
) -> StoreResult<Vec<(i64, String, String)>> {
    match seqs {
        [] => return Ok(vec![]),
        // One user (the hot path): a fixed, cached statement.
        [seq] => {
            let rows: Vec<GroupOfUser> = RawQuery::fixed(
                &[
                    "SELECT gm.user_seq, g.id, g.display_name FROM group_members gm \
                     JOIN groups g ON g.seq = gm.group_seq WHERE gm.user_seq = ",
                    " ORDER BY g.display_name_ci",
                ],
                vec![Lit::Int(*seq)],
            )
            .load(conn)?;
            return Ok(rows
                .into_iter()
                .map(|r| (r.user_seq, r.id, r.display_name))
                .collect());
        }
        _ => {}
    }
    Ok(group_members::table
        .inner_join(groups::table)
        .filter(group_members::user_seq.eq_any(seqs))
        .select((group_members::user_seq, groups::id, groups::display_name))
        .order((group_members::user_seq, groups::display_name_ci))
        .load(conn)?)
}

/// (id → seq) for the users among `ids` that exist.
pub fn seqs_for(conn: &mut AnyConnection, ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::seq))
        .load(conn)?)
}

const USER_ROW_COLUMNS: &str =
    "users.seq, users.id, users.version, users.created_at, users.updated_at, users.attrs";

/// One page of users matching `cond`, and how many match in all.
pub fn list(
    conn: &mut AnyConnection,
    backend: Backend,
    cond: &Cond,
    sort: Option<(Col, bool)>,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<UserRow>)> {
    Ok(sql::page(
        conn,
        backend,
        "users",
        USER_ROW_COLUMNS,
        cond,
        sort,
        offset,
        limit,
    )?)
}
