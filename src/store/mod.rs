//! Storage: the diesel schema, the connection pool and every SQL statement hubbridge runs.
//!
//! One code base serves SQLite (a file, the default) and PostgreSQL (`postgres://` URLs)
//! through diesel's `MultiConnection`. Where the SQL differs, the branch lives here and
//! nowhere else. Callers outside `store` never see SQL: they call the query functions of
//! the submodules inside [`Store::read`] or [`Store::write`]. Reads run on tokio's blocking
//! pool (never on an async worker). Writes run in one transaction each: on SQLite on the
//! writer thread (`writer`: in arrival order, several per commit), on PostgreSQL on the
//! blocking pool.

mod deadline;
pub mod groups;
pub mod guests;
pub mod hubs;
pub mod members;
mod pool;
pub mod schema;
pub mod sql;
pub mod tasks;
pub mod tokens;
pub mod users;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseSettings;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbKind {
    Sqlite(PathBuf),
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> Result<DbKind, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbKind::Postgres);
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(StoreError::Config(format!(
                "database.url: {url:?} is neither a postgres:// URL nor a SQLite file path"
            )));
        }
        if path == ":memory:" {
            return Err(StoreError::Config(
                "database.url: in-memory SQLite is not supported; give a file path".into(),
            ));
        }
        Ok(DbKind::Sqlite(PathBuf::from(path)))
    }
}

/// Errors from the storage layer. Mapped to HTTP statuses in one place (`scim::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated; the string names the attribute.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The row changed since the caller read it (optimistic concurrency).
    #[error("the resource was modified concurrently")]
    VersionMismatch,
    /// A reference to a row that does not exist (a group member that is not a user).
    #[error("no {0} with id {1:?}")]
    MissingReference(&'static str, String),
    #[error("no database connection available: {0}")]
    Unavailable(String),
    #[error("database configuration: {0}")]
    Config(String),
    /// A statement ran past `database.statement_timeout_ms` and was stopped.
    #[error("a database statement took longer than database.statement_timeout_ms")]
    Timeout,
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("database task failed: {0}")]
    Join(String),
    /// Stored data that cannot be read back (a bug, or a database edited by hand).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound | StoreError::Database(diesel::result::Error::NotFound)
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SQLite's built-in `lower()` folds ASCII only; every SQLite connection replaces it with
/// this one, which folds like the folded columns (`sql::fold`) and like PostgreSQL's
/// `lower()` in a UTF-8 database, so a case-insensitive filter on an attribute without a
/// folded column matches the same rows on both backends.
mod sqlite_functions {
    diesel::define_sql_function! {
        fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>)
            -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
    }
    diesel::define_sql_function! {
        /// See `store::deadline`.
        fn hb_in_time() -> diesel::sql_types::Bool;
    }
}

/// Per-connection set-up: SQLite's (below), PostgreSQL's statement time limit.
fn init_connection(
    conn: &mut AnyConnection,
    busy_timeout_ms: u32,
    statement_timeout_ms: u64,
) -> diesel::QueryResult<()> {
    match conn {
        AnyConnection::Postgresql(c) => {
            c.batch_execute(&format!("SET statement_timeout = {statement_timeout_ms}"))
        }
        AnyConnection::Sqlite(_) => init_sqlite(conn, busy_timeout_ms),
    }
}

/// Per-connection SQLite set-up. WAL lets readers proceed while one writer commits;
/// NORMAL sync is durable across process crashes in WAL mode (only a power loss can drop the
/// last commits). Checkpoints run in the background (see `Store::connect`), not inside a
/// request's commit, so a write never waits for the database file's fsync.
fn init_sqlite(conn: &mut AnyConnection, busy_timeout_ms: u32) -> diesel::QueryResult<()> {
    if let AnyConnection::Sqlite(c) = conn {
        c.batch_execute(&format!(
            "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;"
        ))?;
        sqlite_functions::lower_utils::register_impl(c, |x: Option<String>| {
            x.map(|s| sql::fold(&s))
        })?;
        sqlite_functions::hb_in_time_utils::register_nondeterministic_impl(c, deadline::in_time)?;
    }
    Ok(())
}

/// The database: a pool (for reads, and PostgreSQL writes) plus, on SQLite, the writer
/// thread that owns the one connection that writes (SQLite allows one writer at a time).
#[derive(Clone)]
pub struct Store {
    pool: Pool<pool::Manager>,
    kind: Backend,
    writer: Option<Arc<writer::Writer>>,
    /// `database.statement_timeout_ms`, enforced on SQLite reads by `deadline`.
    statement_timeout: Duration,
}

/// The backend of an open store, for the few places that must branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens the pool (creating the SQLite file's folder when needed). Does not migrate.
    pub fn connect(settings: &DatabaseSettings) -> StoreResult<Store> {
        let kind = DbKind::from_url(&settings.url)?;
        let (url, backend) = match &kind {
            DbKind::Postgres => (settings.url.clone(), Backend::Postgres),
            DbKind::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Config(format!(
                            "database.url: cannot create folder {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                (path.to_string_lossy().into_owned(), Backend::Sqlite)
            }
        };
        let busy_timeout_ms = settings.busy_timeout_ms;
        let statement_timeout_ms = settings.statement_timeout_ms;
        let manager = pool::Manager::new(
            url.clone(),
            Box::new(move |c: &mut AnyConnection| {
                init_connection(c, busy_timeout_ms, statement_timeout_ms)
            }),
        );
        let writer = match backend {
            Backend::Postgres => None,
            Backend::Sqlite => {
                let unavailable = |e: String| StoreError::Unavailable(format!("{url}: {e}"));
                let mut conn =
                    AnyConnection::establish(&url).map_err(|e| unavailable(e.to_string()))?;
                init_sqlite(&mut conn, busy_timeout_ms).map_err(|e| unavailable(e.to_string()))?;
                // Each write runs in its own savepoint inside the batch's transaction, so
                // SQLite copies every page a write touches into the statement journal first.
                // Past 64 KiB that journal spilled into a temporary file: half the time of
                // a queueing SCIM PATCH went to those pwrite calls (perf, engine bench). In
                // memory it is a memcpy; it lives for one batch.
                if let AnyConnection::Sqlite(c) = &mut conn {
                    c.batch_execute("PRAGMA temp_store = MEMORY;")
                        .map_err(|e| unavailable(e.to_string()))?;
                }
                let writer = writer::Writer::start(conn).map_err(|e| unavailable(e.to_string()))?;
                Some(Arc::new(writer))
            }
        };
        let pool = Pool::builder()
            .max_size(settings.max_connections)
            // No connection kept open in advance: with one, r2d2 replaces a connection taken
            // from the pool on a background thread, and a short command (`migrate`, `token`)
            // that exits meanwhile can crash inside libpq's TLS set-up (seen: SIGSEGV in 5 of
            // 80 runs on PostgreSQL). Connections are made when first needed and then kept.
            .min_idle(Some(0))
            // A SQLite file connection does not go stale; a PostgreSQL one can (server
            // restart): it is tested before reuse when idle or after a failure (`pool`).
            .test_on_check_out(backend == Backend::Postgres)
            .connection_timeout(Duration::from_secs(settings.acquire_timeout_secs.max(1)))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = Store {
            pool,
            kind: backend,
            writer,
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        };
        if backend == Backend::Sqlite {
            store.spawn_checkpointer();
        }
        Ok(store)
    }

    /// Copies the SQLite WAL into the database file once a second (PASSIVE: never blocks
    /// readers or the writer). Stops when the last clone of this store is dropped.
    fn spawn_checkpointer(&self) {
        let Some(alive) = self.writer.as_ref().map(Arc::downgrade) else {
            return;
        };
        let pool = self.pool.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                // Only `Store` clones hold the writer; none left means shut down.
                if alive.strong_count() == 0 {
                    return;
                }
                if let Ok(mut pooled) = pool.get() {
                    if let Err(e) = pooled.conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the SQLite checkpoint thread");
        }
    }

    pub fn backend(&self) -> Backend {
        self.kind
    }

    /// SQLite: writes so far that held the one writer longer than `writer::LONG_WRITE`
    /// (each is also logged). PostgreSQL: 0, writers do not wait for each other there.
    pub fn long_writes(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.long_writes())
    }

    fn conn(&self) -> StoreResult<PooledConnection<pool::Manager>> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Applies pending migrations of this backend. Returns how many ran.
    pub fn migrate_blocking(&self) -> StoreResult<usize> {
        let mut pooled = self.conn()?;
        let ran = match &mut pooled.conn {
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
            AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| StoreError::Config(format!("migration failed: {e}")))?;
        Ok(ran.len())
    }

    pub async fn migrate(&self) -> StoreResult<usize> {
        let store = self.clone();
        blocking(move || store.migrate_blocking()).await
    }

    /// Runs `f` with a connection, off the async workers. For reads.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.read_blocking(f)).await
    }

    /// A read that fails because its connection turned out lost (PostgreSQL restarted, a
    /// backend was terminated) runs once more on another connection, which the pool tests
    /// before handing it out: a lost connection costs a read nothing. A read is answered
    /// `Unavailable` (503) only when the second connection is lost too.
    pub fn read_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: Fn(&mut AnyConnection) -> StoreResult<T>,
    {
        match self.read_once(&f) {
            Err(Lost) => self.read_once(&f).unwrap_or_else(|Lost| Err(lost())),
            Ok(result) => result,
        }
    }

    fn read_once<T, F>(&self, f: &F) -> Result<StoreResult<T>, Lost>
    where
        F: Fn(&mut AnyConnection) -> StoreResult<T>,
    {
        let mut pooled = match self.conn() {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = pooled.sync_statement_cache() {
            return if pooled.used(false) {
                Ok(Err(e.into()))
            } else {
                Err(Lost)
            };
        }
        let result = match self.kind {
            Backend::Sqlite => {
                match deadline::run(self.statement_timeout, || f(&mut pooled.conn)) {
                    (_, true) => Err(StoreError::Timeout),
                    (result, false) => result,
                }
            }
            // PostgreSQL's statement timeout is an error like others here; `scim::error`
            // answers it 503 (reads and writes alike).
            Backend::Postgres => f(&mut pooled.conn),
        };
        // "Not found" and the like are answers, not failures of the connection.
        let failed = matches!(
            &result,
            Err(StoreError::Database(e)) if !matches!(e, diesel::result::Error::NotFound)
        );
        if !pooled.used(!failed) {
            return Err(Lost);
        }
        Ok(result)
    }

    /// Runs `f` inside one transaction, off the async workers: everything `f` writes
    /// commits together or not at all, and the result is returned only once committed.
    /// Any error returned by `f` rolls back what `f` wrote. The write goes ahead even if
    /// the caller stops waiting.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            let answer = writer.submit(f)?;
            return answer.await.unwrap_or_else(|_| Err(abandoned().into()));
        }
        let store = self.clone();
        match tokio::task::spawn_blocking(move || store.pg_write(f)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Join(e.to_string()).into()),
        }
    }

    /// [`Store::write`] for code that is not async (tests, tools). Must not be called on
    /// an async worker.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer
                .submit(f)?
                .blocking_recv()
                .unwrap_or_else(|_| Err(abandoned().into())),
            None => self.pg_write(f),
        }
    }

    /// A PostgreSQL write: one transaction on a pooled connection. `BEGIN` is the first
    /// statement a connection runs for it; when `BEGIN` fails because the connection is
    /// lost, nothing of the write has run, so it starts again on another connection (tested
    /// by the pool first). A connection lost after `BEGIN` fails the write with
    /// `Unavailable` (503, retry): `f` cannot be run twice.
    fn pg_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<StoreError> + From<diesel::result::Error>,
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    {
        use diesel::connection::TransactionManager;
        type Tm = <AnyConnection as Connection>::TransactionManager;
        let mut pooled = self.conn()?;
        let mut lost_connections = 0;
        while let Err(e) = Tm::begin_transaction(&mut pooled.conn) {
            if pooled.used(false) {
                // The connection is fine: the error is the database's answer.
                return Err(StoreError::from(e).into());
            }
            lost_connections += 1;
            if lost_connections == 2 {
                return Err(lost().into());
            }
            drop(pooled);
            pooled = self.conn()?;
        }
        let result = match f(&mut pooled.conn) {
            Ok(value) => Tm::commit_transaction(&mut pooled.conn)
                .map(|()| value)
                .map_err(E::from),
            Err(e) => match Tm::rollback_transaction(&mut pooled.conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
                Err(rollback) => Err(rollback.into()),
            },
        };
        if !pooled.used(result.is_ok()) {
            // PostgreSQL rolls back a transaction whose connection is gone, so nothing was
            // committed, unless the connection died while COMMIT's answer was on its way
            // (then it is unknown, as with any client). 503 tells the IdP to retry.
            return Err(lost().into());
        }
        result
    }

    /// Is the database reachable (and, on SQLite, the writer thread running)? Used by
    /// `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        if self.writer.as_ref().is_some_and(|w| !w.running()) {
            return Err(StoreError::Unavailable(
                "the database writer has stopped".into(),
            ));
        }
        self.read(|c| {
            diesel::sql_query("SELECT 1")
                .execute(c)
                .map(|_| ())
                .map_err(StoreError::from)
        })
        .await
    }
}

/// A connection found lost during a use.
struct Lost;

fn lost() -> StoreError {
    StoreError::Unavailable("the database connection was lost; retry".into())
}

/// The writer dropped a job's reply without answering: the job panicked (and was rolled back).
fn abandoned() -> StoreError {
    StoreError::Join("the write failed unexpectedly and was rolled back".into())
}

async fn blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
}

/// Microseconds since the Unix epoch: how every timestamp is stored (portable and ordered).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Maps a unique violation to `Conflict(what)`, anything else unchanged.
pub(crate) fn unique_as(what: &'static str) -> impl Fn(diesel::result::Error) -> StoreError {
    move |e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => StoreError::Conflict(what),
        other => StoreError::Database(other),
    }
}

/// Row counts of the directory tables, for tests, diagnostics and the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectoryCounts {
    pub users: i64,
    pub user_values: i64,
    pub groups: i64,
    pub members: i64,
}

pub fn directory_counts(conn: &mut AnyConnection) -> StoreResult<DirectoryCounts> {
    use schema::{group_members, groups, user_values, users};
    Ok(DirectoryCounts {
        users: users::table.count().get_result(conn)?,
        user_values: user_values::table.count().get_result(conn)?,
        groups: groups::table.count().get_result(conn)?,
        members: group_members::table.count().get_result(conn)?,
    })
}
/// A migrated SQLite store in `dir` with `max_connections` pooled readers (unit tests).
#[cfg(test)]
pub(crate) fn test_sqlite(dir: &tempfile::TempDir, max_connections: u32) -> Store {
    let settings = crate::config::DatabaseSettings {
        url: dir.path().join("test.db").to_string_lossy().into_owned(),
        max_connections,
        busy_timeout_ms: 1000,
        acquire_timeout_secs: 5,
        statement_timeout_ms: 10_000,
    };
    let store = Store::connect(&settings).expect("connect");
    store.migrate_blocking().expect("migrate");
    store
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent};

    use super::*;
    use crate::store::sql::{Col, ColKind, Cond, Lit, Op};

    /// Records the SQL of every statement diesel put in its statement cache.
    struct CacheLog(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for CacheLog {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sql.to_string());
            }
        }
    }

    #[test]
    fn hot_path_reads_use_cached_prepared_statements() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = test_sqlite(&dir, 1);
        store
            .write_blocking(|c| {
                let cols = users::UserColumns {
                    user_name: "ada".into(),
                    user_name_ci: "ada".into(),
                    active: true,
                    ..Default::default()
                };
                users::insert(c, "id-1", &cols, "{}", &[], 1).map(|_| ())
            })
            .expect("insert");
        let cached = Arc::new(Mutex::new(Vec::new()));
        let by_name = Cond::Cmp(
            Col {
                expr: "users.user_name",
                kind: ColKind::Text {
                    case_exact: false,
                    folded: Some("users.user_name_ci"),
                },
            },
            Op::Eq,
            Lit::Text("ada".into()),
        );
        store
            .read_blocking(|c| {
                c.set_instrumentation(CacheLog(cached.clone()));
                for _ in 0..3 {
                    users::find_with_groups(c, "some-id", false)?;
                    users::list(c, Backend::Sqlite, &by_name, None, 0, 10)?;
                }
                Ok(())
            })
            .expect("queries run");
        let cached = cached.lock().expect("log").clone();
        // Each distinct statement is prepared and cached once, then reused.
        assert!(
            cached
                .iter()
                .any(|s| s.contains("FROM users WHERE users.id")),
            "{cached:?}"
        );
        // A short first page is its own total: no COUNT(*) for an IdP lookup.
        assert!(!cached.iter().any(|s| s.contains("COUNT(*)")), "{cached:?}");
        assert!(
            cached
                .iter()
                .any(|s| s.contains("ORDER BY CASE") || s.contains("ORDER BY users.seq")),
            "{cached:?}"
        );
        assert!(
            cached.iter().all(|s| s.contains("json_group_array")),
            "a user's groups come with the user's row: {cached:?}"
        );
        assert_eq!(cached.len(), 2, "no statement cached twice: {cached:?}");
    }
}
