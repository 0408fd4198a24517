//! The connection pool's manager: diesel's, plus per-connection set-up (SQLite) and a
//! health check that costs a round trip only when a connection may be gone.
//!
//! r2d2 can test every connection it hands out (`SELECT 1`). On PostgreSQL that is one more
//! round trip per request to a server that shares the machine's cores (GET by id went from
//! 11k to 17.6k req/s without it). Instead, a connection is tested before reuse only when it
//! has been idle for a while, or when some connection has been found dead since it was last
//! known good. A connection is found dead by testing it after a use that failed: a failure
//! that was only a query's (a unique violation, a missing row) leaves it in the pool; a lost
//! connection is dropped and every other one is tested before its next use. The request that
//! found it lost runs again on a tested connection when nothing of it ran yet (`Store`), so
//! a restarted PostgreSQL costs no request that was not mid-transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection};

use super::AnyConnection;

/// How long after it was last known good a connection is handed out without a test.
const TRUSTED_FOR: Duration = Duration::from_secs(5);

/// Set-up run on every new connection.
pub type Init = Box<dyn Fn(&mut AnyConnection) -> diesel::QueryResult<()> + Send + Sync>;

/// A pooled connection and what the pool knows of its health.
pub struct Tracked {
    pub conn: AnyConnection,
    /// When it was last known good, and the pool's loss count then.
    good: Option<(Instant, u64)>,
    lost: bool,
    losses: Arc<AtomicU64>,
    /// The statement-shape epoch its statement cache belongs to.
    epoch: u64,
}

impl Tracked {
    /// Empties this connection's statement cache when it holds statements of an earlier
    /// epoch of [`super::sql::SHAPES`] (see there), so that it never holds more than one
    /// epoch's input-built statements. On PostgreSQL the server-side prepared statements
    /// are deallocated too (diesel does not when it drops its cache).
    pub fn sync_statement_cache(&mut self) -> diesel::QueryResult<()> {
        use diesel::connection::{CacheSize, Connection};
        let epoch = super::sql::SHAPES.epoch();
        if self.epoch == epoch {
            return Ok(());
        }
        self.conn
            .set_prepared_statement_cache_size(CacheSize::Disabled);
        self.conn
            .set_prepared_statement_cache_size(CacheSize::Unbounded);
        if let AnyConnection::Postgresql(_) = self.conn {
            self.conn.batch_execute("DEALLOCATE ALL")?;
        }
        self.epoch = epoch;
        Ok(())
    }

    /// Records how a use went. After a failure on PostgreSQL the connection is tested;
    /// returns false when it turned out lost (it is then dropped by the pool).
    pub fn used(&mut self, ok: bool) -> bool {
        let losses = self.losses.load(Ordering::Acquire);
        if ok || matches!(self.conn, AnyConnection::Sqlite(_)) {
            self.good = Some((Instant::now(), losses));
            return true;
        }
        match self.conn.batch_execute("SELECT 1") {
            Ok(()) => {
                self.good = Some((Instant::now(), losses));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "database connection lost; testing the others before reuse");
                self.lost = true;
                self.losses.fetch_add(1, Ordering::AcqRel);
                false
            }
        }
    }
}

pub struct Manager {
    inner: ConnectionManager<AnyConnection>,
    init: Init,
    losses: Arc<AtomicU64>,
}

impl Manager {
    pub fn new(url: String, init: Init) -> Self {
        Manager {
            inner: ConnectionManager::new(url),
            init,
            losses: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Tracked, Self::Error> {
        let mut conn = self.inner.connect()?;
        (self.init)(&mut conn).map_err(diesel::r2d2::Error::QueryError)?;
        Ok(Tracked {
            conn,
            good: Some((Instant::now(), self.losses.load(Ordering::Acquire))),
            lost: false,
            losses: self.losses.clone(),
            epoch: super::sql::SHAPES.epoch(),
        })
    }

    fn is_valid(&self, c: &mut Tracked) -> Result<(), Self::Error> {
        let losses = self.losses.load(Ordering::Acquire);
        if c.good
            .is_some_and(|(at, seen)| seen == losses && at.elapsed() < TRUSTED_FOR)
        {
            return Ok(());
        }
        self.inner.is_valid(&mut c.conn)?;
        c.good = Some((Instant::now(), losses));
        Ok(())
    }

    fn has_broken(&self, c: &mut Tracked) -> bool {
        c.lost || self.inner.has_broken(&mut c.conn)
    }
}
