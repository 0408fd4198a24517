//! Condition trees for list queries and their rendering to SQL for each backend.
//!
//! `scim::filter` resolves a SCIM filter against the schema into a [`Cond`] that names
//! columns; this module turns it into a WHERE clause with bound parameters. Every value is
//! bound, never spliced, and every column name comes from a static table, never from input.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};

use super::{AnyConnection, Backend, MultiBackend};

/// Folds text for case-insensitive comparison. Used both when writing `*_ci` columns and
/// when binding the compared value, so both sides are folded by the same function.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    /// Text. `folded` names a column holding `fold(col)` (indexed), when there is one.
    Text {
        case_exact: bool,
        folded: Option<&'static str>,
    },
    Bool,
    /// Microseconds since the epoch.
    Micros,
}

/// A column, fully qualified (`users.user_name`, `v.value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    pub expr: &'static str,
    pub kind: ColKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Text(String),
    OptText(Option<String>),
    Bool(bool),
    Int(i64),
}

/// A correlated sub-query a condition can look into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// Rows of `user_values v` for one multi-valued attribute of the current user.
    UserValues(&'static str),
    /// Groups `g` the current user belongs to.
    UserGroups,
    /// Member users `mu` of the current group.
    GroupMembers,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    True,
    False,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Present(Col),
    Cmp(Col, Op, Lit),
    Exists(Sub, Box<Cond>),
}

/// A statement (or part of one) with its bound values. `sql` shows it with the backend's
/// placeholders; `segments` are the texts between binds, which [`RawQuery`] hands to
/// diesel so that the statement is prepared once per connection and cached.
pub struct Fragment {
    pub sql: String,
    pub binds: Vec<Lit>,
    segments: Vec<String>,
    backend: Backend,
}

impl Fragment {
    pub fn new(backend: Backend) -> Self {
        Fragment {
            sql: String::new(),
            binds: Vec::new(),
            segments: vec![String::new()],
            backend,
        }
    }

    pub fn push(&mut self, s: &str) {
        self.sql.push_str(s);
        if let Some(last) = self.segments.last_mut() {
            last.push_str(s);
        }
    }

    pub fn bind(&mut self, lit: Lit) {
        self.binds.push(lit);
        self.segments.push(String::new());
        match self.backend {
            Backend::Sqlite => self.sql.push('?'),
            Backend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.binds.len().to_string());
            }
        }
    }

    /// `items` joined by `sep`, as a balanced tree of short runs: SQLite parses `a OR b OR
    /// c …` one level deeper per term and refuses expressions deeper than 1,000, which a
    /// filter within the 1,024-term limit could otherwise reach.
    fn chain(&mut self, items: &[Cond], sep: &str) {
        const RUN: usize = 8;
        self.push("(");
        if items.len() <= RUN {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    self.push(sep);
                }
                self.cond(item);
            }
        } else {
            let (left, right) = items.split_at(items.len() / 2);
            self.chain(left, sep);
            self.push(sep);
            self.chain(right, sep);
        }
        self.push(")");
    }

    pub fn cond(&mut self, c: &Cond) {
        match c {
            Cond::True => self.push("1 = 1"),
            Cond::False => self.push("1 = 0"),
            Cond::And(items) | Cond::Or(items) => {
                let sep = if matches!(c, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.chain(items, sep);
            }
            Cond::Not(inner) => {
                // NOT over a comparison with NULL would be NULL; COALESCE makes "not (x eq y)"
                // true for resources without x, as SCIM clients expect.
                self.push("NOT COALESCE((");
                self.cond(inner);
                self.push("), ");
                self.push(match self.backend {
                    Backend::Sqlite => "0",
                    Backend::Postgres => "FALSE",
                });
                self.push(")");
            }
            Cond::Present(col) => match col.kind {
                ColKind::Text { .. } => {
                    self.push("(");
                    self.push(col.expr);
                    self.push(" IS NOT NULL AND ");
                    self.push(col.expr);
                    self.push(" <> '')");
                }
                _ => {
                    self.push(col.expr);
                    self.push(" IS NOT NULL");
                }
            },
            Cond::Cmp(col, op, lit) => self.cmp(col, *op, lit),
            Cond::Exists(sub, inner) => {
                match sub {
                    Sub::UserValues(attr) => {
                        self.push(
                            "EXISTS (SELECT 1 FROM user_values v WHERE v.user_seq = users.seq AND v.attr = ",
                        );
                        self.bind(Lit::Text((*attr).to_string()));
                    }
                    Sub::UserGroups => self.push(
                        "EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.seq = gm.group_seq \
                         WHERE gm.user_seq = users.seq",
                    ),
                    Sub::GroupMembers => self.push(
                        "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.seq = gm.user_seq \
                         WHERE gm.group_seq = groups.seq",
                    ),
                }
                self.push(" AND ");
                self.cond(inner);
                self.push(")");
            }
        }
    }

    fn cmp(&mut self, col: &Col, op: Op, lit: &Lit) {
        let sym = match op {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Co | Op::Sw | Op::Ew => "LIKE",
        };
        if op == Op::Ne {
            self.push("(");
            self.push(col.expr);
            self.push(" IS NULL OR ");
        }
        match (col.kind, lit) {
            (ColKind::Text { case_exact, folded }, Lit::Text(v)) => {
                let like = matches!(op, Op::Co | Op::Sw | Op::Ew);
                if case_exact {
                    if like && self.backend == Backend::Sqlite {
                        // SQLite's LIKE ignores ASCII case; GLOB does not.
                        self.push(col.expr);
                        self.push(" GLOB ");
                        self.bind(Lit::Text(glob_pattern(op, v)));
                    } else {
                        self.push(col.expr);
                        self.push(" ");
                        self.push(sym);
                        self.push(" ");
                        if like {
                            self.bind(Lit::Text(like_pattern(op, v)));
                            self.push(" ESCAPE '\\'");
                        } else {
                            self.bind(Lit::Text(v.clone()));
                        }
                    }
                } else {
                    let folded_value = fold(v);
                    match folded {
                        Some(f) => self.push(f),
                        None => {
                            self.push("lower(");
                            self.push(col.expr);
                            self.push(")");
                        }
                    }
                    self.push(" ");
                    self.push(sym);
                    self.push(" ");
                    let value = if like {
                        like_pattern(op, &folded_value)
                    } else {
                        folded_value
                    };
                    if folded.is_some() {
                        self.bind(Lit::Text(value));
                    } else {
                        self.push("lower(");
                        self.bind(Lit::Text(value));
                        self.push(")");
                    }
                    if like {
                        self.push(" ESCAPE '\\'");
                    }
                }
            }
            (_, lit) => {
                self.push(col.expr);
                self.push(" ");
                self.push(sym);
                self.push(" ");
                self.bind(lit.clone());
            }
        }
        if op == Op::Ne {
            self.push(")");
        }
    }

    /// The statement, ready to run. Its prepared form is cached on the connection only if
    /// [`SHAPES`] admits its SQL text: filters can take endless shapes, and every cached
    /// statement stays on every pooled connection (on PostgreSQL, in every backend).
    pub fn into_query(self) -> RawQuery {
        let cache = SHAPES.admit(&self.sql);
        RawQuery {
            segments: self.segments,
            binds: self.binds,
            cache,
        }
    }
}

/// Which statement shapes built from input (filters, sort keys, page sizes) get cached.
///
/// diesel's statement cache keys statements by their SQL text and never evicts, so caching
/// every shape a client sends grows memory without bound (3,000 distinct filters grew a
/// PostgreSQL backend by 650 MB). Instead a shape is cached once it has been seen twice:
/// the few shapes an IdP repeats (its lookups) are prepared once and reused, and a one-off
/// shape runs as an unnamed statement and is freed. At most
/// [`ShapeAdmission::MAX_ADMITTED`] shapes are admitted per *epoch*; the next one starts a
/// new epoch, and every pooled connection drops its statement cache before its next use
/// (`Store`), so no sequence of requests can grow a connection's cache past the limit, and
/// no client can lock the hot shapes out of the cache for good. Fixed statements
/// ([`RawQuery::fixed`], [`RawQuery::marked`]) are always cached; there are a few dozen.
#[derive(Default)]
pub struct ShapeAdmission {
    state: std::sync::Mutex<AdmissionState>,
    epoch: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct AdmissionState {
    admitted: std::collections::HashSet<u64>,
    /// Seen once, not yet admitted; forgotten wholesale when it fills.
    seen: std::collections::HashSet<u64>,
}

pub static SHAPES: std::sync::LazyLock<ShapeAdmission> =
    std::sync::LazyLock::new(ShapeAdmission::default);

impl ShapeAdmission {
    /// Most input-built shapes cached per connection and epoch.
    pub const MAX_ADMITTED: usize = 64;
    const MAX_SEEN: usize = 4096;

    /// Should a statement with this SQL text be cached?
    pub fn admit(&self, sql: &str) -> bool {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        sql.hash(&mut h);
        let key = h.finish();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.admitted.contains(&key) {
            return true;
        }
        if st.seen.remove(&key) {
            if st.admitted.len() >= Self::MAX_ADMITTED {
                st.admitted.clear();
                st.seen.clear();
                self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
            st.admitted.insert(key);
            return true;
        }
        if st.seen.len() >= Self::MAX_SEEN {
            st.seen.clear();
        }
        st.seen.insert(key);
        false
    }

    /// The current epoch: a connection whose cache was filled in an earlier one empties it.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many shapes are admitted in this epoch (for tests and diagnostics).
    pub fn admitted(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admitted
            .len()
    }
}

/// A hand-built statement. Unlike `diesel::sql_query`, which diesel never caches, it lets
/// diesel cache the prepared statement by its SQL text: list and filter queries repeat the
/// same few shapes, so after the first request each is only bound and run.
pub struct RawQuery {
    segments: Vec<String>,
    binds: Vec<Lit>,
    /// May diesel keep the prepared statement? See [`ShapeAdmission`].
    cache: bool,
}

impl RawQuery {
    /// A fixed statement: `parts` are the SQL texts around the binds (one more part than
    /// binds). Used for hot point reads, where building SQL through diesel's DSL on every
    /// call costs more than running the cached statement.
    pub fn fixed(parts: &[&str], binds: Vec<Lit>) -> RawQuery {
        debug_assert_eq!(parts.len(), binds.len() + 1);
        RawQuery {
            segments: parts.iter().map(|p| (*p).to_string()).collect(),
            binds,
            cache: true,
        }
    }

    /// A fixed statement written with `?` for each bind (diesel writes each backend's own
    /// placeholder). The SQL must contain no other `?`.
    pub fn marked(sql: &str, binds: Vec<Lit>) -> RawQuery {
        let segments: Vec<String> = sql.split('?').map(str::to_string).collect();
        debug_assert_eq!(segments.len(), binds.len() + 1, "{sql}");
        RawQuery {
            segments,
            binds,
            cache: true,
        }
    }
}

impl QueryId for RawQuery {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<MultiBackend> for RawQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        for (i, segment) in self.segments.iter().enumerate() {
            out.push_sql(segment);
            match self.binds.get(i) {
                Some(Lit::Text(v)) => out.push_bind_param::<Text, _>(v)?,
                Some(Lit::OptText(v)) => {
                    out.push_bind_param::<diesel::sql_types::Nullable<Text>, _>(v)?
                }
                Some(Lit::Bool(v)) => out.push_bind_param::<Bool, _>(v)?,
                Some(Lit::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl Query for RawQuery {
    type SqlType = diesel::sql_types::Untyped;
}

impl<Conn> RunQueryDsl<Conn> for RawQuery {}

fn like_pattern(op: Op, v: &str) -> String {
    let mut esc = String::with_capacity(v.len() + 2);
    for ch in v.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            esc.push('\\');
        }
        esc.push(ch);
    }
    match op {
        Op::Co => format!("%{esc}%"),
        Op::Sw => format!("{esc}%"),
        _ => format!("%{esc}"),
    }
}

fn glob_pattern(op: Op, v: &str) -> String {
    let mut esc = String::with_capacity(v.len() + 2);
    for ch in v.chars() {
        match ch {
            '*' => esc.push_str("[*]"),
            '?' => esc.push_str("[?]"),
            '[' => esc.push_str("[[]"),
            c => esc.push(c),
        }
    }
    match op {
        Op::Co => format!("*{esc}*"),
        Op::Sw => format!("{esc}*"),
        _ => format!("*{esc}"),
    }
}

/// The sort keys, in order: one column (nulls last either way), then insertion order
/// (`table.seq`) for stable paging.
fn sort_keys(table: &str, sort: Option<(Col, bool)>) -> Vec<(String, &'static str)> {
    let mut keys = Vec::with_capacity(3);
    if let Some((col, descending)) = sort {
        let key = match col.kind {
            ColKind::Text {
                case_exact: false,
                folded: Some(f),
            } => f.to_string(),
            ColKind::Text {
                case_exact: false,
                folded: None,
            } => format!("lower({})", col.expr),
            _ => col.expr.to_string(),
        };
        keys.push((
            format!("CASE WHEN {} IS NULL THEN 1 ELSE 0 END", col.expr),
            "ASC",
        ));
        keys.push((key, if descending { "DESC" } else { "ASC" }));
    }
    keys.push((format!("{table}.seq"), "ASC"));
    keys
}

fn push_order_by(frag: &mut Fragment, keys: &[(String, &'static str)]) {
    frag.push(" ORDER BY ");
    for (i, (expr, dir)) in keys.iter().enumerate() {
        if i > 0 {
            frag.push(", ");
        }
        frag.push(expr);
        frag.push(" ");
        frag.push(dir);
    }
}

/// One page of `table` rows matching `cond`, and how many match in all. The count query is
/// skipped when the page itself shows the total (a short first page: the usual IdP lookup
/// by `userName eq` or `externalId eq`).
///
/// `per_row` (or "") is one more result column, an expression over the page's own rows as
/// `page.*` (for example a correlated subquery on `page.seq`). It is computed for the rows
/// of the page only: the page is chosen in a derived table first. (Selected next to the
/// columns, both databases would compute it for every row an OFFSET skips, and SQLite for
/// every row it sorts.) `columns` must include `table.seq`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per resource table, in store only"
)]
pub fn page<T>(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    columns: &str,
    per_row: &str,
    cond: &Cond,
    sort: Option<(Col, bool)>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<T>)>
where
    T: diesel::deserialize::QueryableByName<MultiBackend> + 'static,
{
    if limit == 0 {
        return Ok((count(conn, backend, table, cond)?, vec![]));
    }
    let keys = sort_keys(table, sort);
    let mut frag = Fragment::new(backend);
    if !per_row.is_empty() {
        frag.push("SELECT page.*, ");
        frag.push(per_row);
        frag.push(" FROM (");
    }
    frag.push("SELECT ");
    frag.push(columns);
    if !per_row.is_empty() {
        // The sort keys go out with the page, so the outer query can keep its order.
        for (i, (expr, _)) in keys[..keys.len() - 1].iter().enumerate() {
            frag.push(&format!(", {expr} AS sort_{i}"));
        }
    }
    frag.push(" FROM ");
    frag.push(table);
    push_where(&mut frag, backend, cond);
    push_order_by(&mut frag, &keys);
    // SQLite re-prepares a statement whose bound LIMIT/OFFSET changed (the planner uses
    // them), which costs more than the query. So LIMIT (at most scim.max_page_size distinct
    // values) and the first page's OFFSET 0 are written into the SQL, and only later pages
    // bind their offset: lookups hit one cached statement, paging keeps the cache bounded.
    frag.push(&format!(" LIMIT {limit} OFFSET "));
    if offset == 0 {
        frag.push("0");
    } else {
        frag.bind(Lit::Int(offset));
    }
    if !per_row.is_empty() {
        let outer: Vec<(String, &'static str)> = keys
            .iter()
            .enumerate()
            .map(|(i, (_, dir))| {
                let name = if i + 1 == keys.len() {
                    "page.seq".to_string()
                } else {
                    format!("page.sort_{i}")
                };
                (name, *dir)
            })
            .collect();
        frag.push(") AS page");
        push_order_by(&mut frag, &outer);
    }
    let rows: Vec<T> = frag.into_query().load(conn)?;
    let shown = rows.len() as i64;
    let total = if shown < limit && (shown > 0 || offset == 0) {
        offset + shown
    } else {
        count(conn, backend, table, cond)?
    };
    Ok((total, rows))
}

/// ` WHERE cond`; on SQLite the time limit's check comes first (`store::deadline`), except
/// for a plain listing (no filter): its cost is bounded by the page's offset, and the check
/// would run for every row an OFFSET skips (paging measured 24 % slower with it).
fn push_where(frag: &mut Fragment, backend: Backend, cond: &Cond) {
    frag.push(" WHERE ");
    if backend == Backend::Sqlite && *cond != Cond::True {
        frag.push(super::deadline::IN_TIME);
        frag.push(" AND ");
    }
    frag.cond(cond);
}

/// Counts the rows of `table` matching `cond`.
pub fn count(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    cond: &Cond,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut frag = Fragment::new(backend);
    frag.push("SELECT COUNT(*) AS n FROM ");
    frag.push(table);
    push_where(&mut frag, backend, cond);
    let rows: Vec<Count> = frag.into_query().load(conn)?;
    Ok(rows.first().map(|c| c.n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: Col = Col {
        expr: "users.user_name",
        kind: ColKind::Text {
            case_exact: false,
            folded: Some("users.user_name_ci"),
        },
    };

    #[test]
    fn case_insensitive_text_uses_the_folded_column_and_binds_values() {
        let mut f = Fragment::new(Backend::Postgres);
        f.cond(&Cond::Or(vec![
            Cond::Cmp(NAME, Op::Eq, Lit::Text("Ada".into())),
            Cond::Cmp(NAME, Op::Co, Lit::Text("50%_".into())),
        ]));
        assert_eq!(
            f.sql,
            "(users.user_name_ci = $1 OR users.user_name_ci LIKE $2 ESCAPE '\\')"
        );
        assert_eq!(
            f.binds,
            vec![Lit::Text("ada".into()), Lit::Text("%50\\%\\_%".into())]
        );
    }

    #[test]
    fn shape_admission_caches_repeated_shapes_and_bounds_each_epoch() {
        let shapes = ShapeAdmission::default();
        assert_eq!(shapes.admitted(), 0);
        let hot = "SELECT hot";
        assert!(!shapes.admit(hot), "seen once: not cached");
        assert!(!shapes.admit("SELECT other"), "another shape in between");
        assert!(shapes.admit(hot), "seen twice: cached");
        assert!(shapes.admit(hot));
        // One-off shapes are never cached and never admitted.
        for i in 0..10_000 {
            assert!(!shapes.admit(&format!("SELECT once {i}")));
        }
        assert_eq!(shapes.admitted(), 1);
        assert_eq!(shapes.epoch(), 0);
        // Shapes seen twice fill the epoch, then a new one starts (connections flush).
        for i in 0..200 {
            let sql = format!("SELECT twice {i}");
            shapes.admit(&sql);
            assert!(shapes.admit(&sql));
            assert!(shapes.admitted() <= ShapeAdmission::MAX_ADMITTED);
        }
        assert!(shapes.epoch() >= 2, "epoch {}", shapes.epoch());
        // 1 (hot) + 200 admissions in epochs of 64: 201 mod 64 are in the current one.
        assert_eq!(shapes.admitted(), 201 % ShapeAdmission::MAX_ADMITTED);
        // The hot shape is not locked out: seen twice more, it is cached again.
        shapes.admit(hot);
        assert!(shapes.admit(hot));
    }

    #[test]
    fn exact_substring_match_on_sqlite_uses_glob() {
        let col = Col {
            expr: "users.external_id",
            kind: ColKind::Text {
                case_exact: true,
                folded: None,
            },
        };
        let mut f = Fragment::new(Backend::Sqlite);
        f.cond(&Cond::Cmp(col, Op::Sw, Lit::Text("A*b".into())));
        assert_eq!(f.sql, "users.external_id GLOB ?");
        assert_eq!(f.binds, vec![Lit::Text("A[*]b*".into())]);
    }
}
