//! Directory users: the stored document, its filterable column copies and value rows.

use diesel::prelude::*;

use super::schema::users;
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
#[derive(Debug, Clone, Default)]
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

/// The copied columns, in the order [`UserColumns::binds`] gives their values. A test
/// (`scim::filter`) checks that every one is filled from the attribute that filters on it.
pub(crate) const COPY_COLUMNS: &str =
    "user_name, user_name_ci, external_id, display_name, nick_name, title, \
     user_type, preferred_language, locale, timezone, profile_url, active, name_formatted, \
     name_family, name_given, name_middle, name_prefix, name_suffix, employee_number, \
     cost_center, organization, division, department, manager_id";
const COPY_COLUMN_COUNT: usize = 24;

impl UserColumns {
    pub(crate) fn binds(&self) -> Vec<Lit> {
        let t = |v: &Option<String>| Lit::OptText(v.clone());
        vec![
            Lit::Text(self.user_name.clone()),
            Lit::Text(self.user_name_ci.clone()),
            t(&self.external_id),
            t(&self.display_name),
            t(&self.nick_name),
            t(&self.title),
            t(&self.user_type),
            t(&self.preferred_language),
            t(&self.locale),
            t(&self.timezone),
            t(&self.profile_url),
            Lit::Bool(self.active),
            t(&self.name_formatted),
            t(&self.name_family),
            t(&self.name_given),
            t(&self.name_middle),
            t(&self.name_prefix),
            t(&self.name_suffix),
            t(&self.employee_number),
            t(&self.cost_center),
            t(&self.organization),
            t(&self.division),
            t(&self.department),
            t(&self.manager_id),
        ]
    }
}

fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let marks = vec!["?"; COPY_COLUMN_COUNT + 5].join(", ");
        format!(
            "INSERT INTO users ({COPY_COLUMNS}, id, version, created_at, updated_at, attrs) \
             VALUES ({marks}) RETURNING seq"
        )
    })
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    cols: &UserColumns,
    attrs: &str,
    values: &[ValueRow],
    now: i64,
) -> StoreResult<UserRow> {
    let mut binds = cols.binds();
    binds.extend([
        Lit::Text(id.to_string()),
        Lit::Int(1),
        Lit::Int(now),
        Lit::Int(now),
        Lit::Text(attrs.to_string()),
    ]);
    let rows: Vec<Seq> = RawQuery::marked(insert_sql(), binds)
        .load(conn)
        .map_err(unique_as(USER_NAME))?;
    let seq = rows
        .first()
        .map(|r| r.seq)
        .ok_or(StoreError::Database(diesel::result::Error::NotFound))?;
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

/// Inserts a user's value rows, up to [`VALUES_PER_INSERT`] per statement: a PATCH that
/// rewrites 700 values is 22 statements, not 700 round trips. Each row count is its own
/// fixed statement (at most that many shapes, each cached once).
fn insert_values(conn: &mut AnyConnection, seq: i64, values: &[ValueRow]) -> StoreResult<()> {
    for chunk in values.chunks(VALUES_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO user_values (user_seq, attr, value, value_ci, type, is_primary, display) \
             VALUES ",
        );
        let mut binds = Vec::with_capacity(chunk.len() * 7);
        for (i, v) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?, ?)"
            });
            binds.extend([
                Lit::Int(seq),
                Lit::Text(v.attr.to_string()),
                Lit::OptText(v.value.clone()),
                Lit::OptText(v.value.as_deref().map(sql::fold)),
                Lit::OptText(v.type_.clone()),
                Lit::Bool(v.is_primary),
                Lit::OptText(v.display.clone()),
            ]);
        }
        RawQuery::marked(&sql, binds).execute(conn)?;
    }
    Ok(())
}

/// Most value rows one INSERT carries (7 binds each; SQLite allows 32,766 binds).
const VALUES_PER_INSERT: usize = 32;

/// A user's groups as (id, displayName), ordered by name.
pub type GroupRefs = Vec<(String, String)>;

/// The user's groups as a JSON array of `[id, displayName]`, one column of the user's own
/// row: reading a user and its groups is one statement (on PostgreSQL, one round trip).
/// `$row` names the table (or derived table) holding the user's `seq`.
macro_rules! groups_column {
    (postgres, $row:literal) => {
        concat!(
            "COALESCE((SELECT json_agg(json_build_array(g.id, g.display_name) \
             ORDER BY g.display_name_ci)::text FROM group_members gm \
             JOIN groups g ON g.seq = gm.group_seq WHERE gm.user_seq = ",
            $row,
            ".seq), '[]') AS groups"
        )
    };
    (sqlite, $row:literal) => {
        concat!(
            "(SELECT json_group_array(json_array(g.id, g.display_name) \
             ORDER BY g.display_name_ci) FROM group_members gm \
             JOIN groups g ON g.seq = gm.group_seq WHERE gm.user_seq = ",
            $row,
            ".seq) AS groups"
        )
    };
}

macro_rules! user_row_columns {
    () => {
        "users.seq, users.id, users.version, users.created_at, users.updated_at, users.attrs"
    };
}

/// A user row with its groups column.
#[derive(QueryableByName)]
pub struct UserWithGroups {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = diesel::sql_types::Text)]
    groups: String,
}

impl UserWithGroups {
    pub fn split(self) -> StoreResult<(UserRow, GroupRefs)> {
        let groups: GroupRefs = serde_json::from_str(&self.groups)
            .map_err(|e| StoreError::Corrupt(format!("groups of user {}: {e}", self.user.id)))?;
        Ok((self.user, groups))
    }
}

/// A user and the groups it is in, in one statement (every GET, PUT and PATCH of a user
/// needs both). With `for_update`, the user's row stays locked until commit (see
/// [`find_for_update`]).
pub fn find_with_groups(
    conn: &mut AnyConnection,
    id: &str,
    for_update: bool,
) -> StoreResult<Option<(UserRow, GroupRefs)>> {
    macro_rules! select {
        ($backend:ident) => {
            concat!(
                "SELECT ",
                user_row_columns!(),
                ", ",
                groups_column!($backend, "users"),
                " FROM users WHERE users.id = "
            )
        };
    }
    // SQLite's BEGIN IMMEDIATE already holds the write lock: no row lock there.
    let parts: [&str; 2] = match conn {
        AnyConnection::Postgresql(_) => [
            select!(postgres),
            if for_update { " FOR UPDATE" } else { "" },
        ],
        AnyConnection::Sqlite(_) => [select!(sqlite), ""],
    };
    let rows: Vec<UserWithGroups> =
        RawQuery::fixed(&parts, vec![Lit::Text(id.to_string())]).load(conn)?;
    rows.into_iter()
        .next()
        .map(UserWithGroups::split)
        .transpose()
}

/// `find` inside a write transaction: the row stays locked until commit, so concurrent
/// writers to one user queue up instead of failing each other's version check. (SQLite's
/// `BEGIN IMMEDIATE` already serialises writers.)
pub fn find_for_update(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<UserRow>> {
    let lock = match conn {
        AnyConnection::Postgresql(_) => " FOR UPDATE",
        AnyConnection::Sqlite(_) => "",
    };
    find_with(conn, id, lock)
}

fn find_with(conn: &mut AnyConnection, id: &str, lock: &str) -> StoreResult<Option<UserRow>> {
    let rows: Vec<UserRow> = RawQuery::fixed(
        &[
            "SELECT users.seq, users.id, users.version, users.created_at, users.updated_at, \
             users.attrs FROM users WHERE users.id = ",
            lock,
        ],
        vec![Lit::Text(id.to_string())],
    )
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Replaces a user's document. With `expected_version`, fails with `VersionMismatch` when
/// the stored version differs (If-Match, and concurrent writers).
/// The stored copies of a user as they were and as they become.
pub struct Change<'a> {
    pub before: (&'a UserColumns, &'a [ValueRow]),
    pub after: (&'a UserColumns, &'a [ValueRow]),
}

/// Writes a new version of a user. Only the copied columns that changed are written (each
/// indexed column written costs an index update even when its value is the same), and the
/// value rows are rewritten only when they changed.
pub fn update(
    conn: &mut AnyConnection,
    current: &UserRow,
    change: Change<'_>,
    attrs: &str,
    now: i64,
) -> StoreResult<UserRow> {
    let (old_cols, old_values) = change.before;
    let (cols, values) = change.after;
    let mut sql = String::from("UPDATE users SET ");
    let mut binds = Vec::new();
    for ((name, old), new) in COPY_COLUMNS
        .split(',')
        .map(str::trim)
        .zip(old_cols.binds())
        .zip(cols.binds())
    {
        if old != new {
            sql.push_str(name);
            sql.push_str(" = ?, ");
            binds.push(new);
        }
    }
    sql.push_str("version = ?, updated_at = ?, attrs = ? WHERE seq = ? AND version = ?");
    binds.extend([
        Lit::Int(current.version + 1),
        Lit::Int(now),
        Lit::Text(attrs.to_string()),
        Lit::Int(current.seq),
        Lit::Int(current.version),
    ]);
    let n = RawQuery::marked(&sql, binds)
        .execute(conn)
        .map_err(unique_as(USER_NAME))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    if old_values != values {
        RawQuery::marked(
            "DELETE FROM user_values WHERE user_seq = ?",
            vec![Lit::Int(current.seq)],
        )
        .execute(conn)?;
        insert_values(conn, current.seq, values)?;
    }
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

/// One page of users matching `cond` with their groups, and how many match in all.
pub fn list(
    conn: &mut AnyConnection,
    backend: Backend,
    cond: &Cond,
    sort: Option<(Col, bool)>,
    offset: i64,
    limit: i64,
) -> StoreResult<(i64, Vec<(UserRow, GroupRefs)>)> {
    let groups = match backend {
        Backend::Postgres => groups_column!(postgres, "page"),
        Backend::Sqlite => groups_column!(sqlite, "page"),
    };
    let (total, rows) = sql::page::<UserWithGroups>(
        conn,
        backend,
        "users",
        user_row_columns!(),
        groups,
        cond,
        sort,
        offset,
        limit,
    )?;
    let rows = rows
        .into_iter()
        .map(UserWithGroups::split)
        .collect::<StoreResult<_>>()?;
    Ok((total, rows))
}
