//! The SQLite writer: one thread owns the one connection that writes, and runs every write
//! transaction in arrival order (FIFO), several per commit (group commit).
//!
//! SQLite lets one writer in at a time. Making callers contend for that right (a mutex, or
//! SQLite's busy loop) serves them in no particular order, and a request that keeps losing
//! sets the p99. A queue serves them in order, and a thread that already holds the write
//! lock can run every write that queued up meanwhile in the same transaction, each in its
//! own savepoint, and commit them once: an error rolls back only its own savepoint, and no
//! caller hears "done" before the commit that holds its writes has succeeded. The
//! reconciles those writes queue are inserted together just before the commit
//! (`tasks::batch`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use super::sql::RawQuery;
use super::tasks::batch;
use super::{AnyConnection, StoreError};

/// Most writes committed together, and the longest a batch stays open: the first write of
/// a batch waits for the others before it is answered.
const MAX_BATCH: usize = 64;
const MAX_BATCH_TIME: Duration = Duration::from_millis(5);

/// A write that keeps the writer longer than this is logged (a warning, in the span of the
/// request or task that made it): every write queued behind it waited as long.
pub const LONG_WRITE: Duration = Duration::from_millis(100);

/// Writes waiting beyond this many are refused with 503 (the IdP retries) instead of
/// queueing without bound.
pub const QUEUE_CAPACITY: usize = 4096;

/// Tells a job whose writes are in the open transaction how its commit went.
type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What a job did inside its savepoint.
enum Ran {
    /// Its writes are in the open transaction; tell it how the commit went.
    Wrote(Answer),
    /// It returned an error; once its savepoint is rolled back, this answers it.
    Failed(Box<dyn FnOnce() + Send>),
}

trait Job: Send {
    fn run(self: Box<Self>, conn: &mut AnyConnection) -> Ran;
    /// Answers the job with an error without running it.
    fn refuse(self: Box<Self>, e: StoreError);
    /// The span of whoever queued the job: the job runs, and is reported, inside it.
    fn span(&self) -> tracing::Span;
}

struct Call<T, E, F> {
    f: F,
    reply: oneshot::Sender<Result<T, E>>,
    span: tracing::Span,
}

impl<T, E, F> Job for Call<T, E, F>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut AnyConnection) -> Ran {
        let Call { f, reply, .. } = *self;
        match f(conn) {
            Ok(value) => Ran::Wrote(Box::new(move |committed: Result<(), StoreError>| {
                let _ = reply.send(committed.map(|()| value).map_err(E::from));
            })),
            Err(e) => Ran::Failed(Box::new(move || {
                let _ = reply.send(Err(e));
            })),
        }
    }

    fn refuse(self: Box<Self>, e: StoreError) {
        let _ = self.reply.send(Err(E::from(e)));
    }

    fn span(&self) -> tracing::Span {
        self.span.clone()
    }
}

/// The handle requests use to queue writes. The thread stops when the last handle is
/// dropped, after finishing what was queued.
pub struct Writer {
    queue: SyncSender<Box<dyn Job>>,
    thread: std::thread::JoinHandle<()>,
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
    long_writes: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn` (an open SQLite connection, pragmas applied).
    pub fn start(conn: AnyConnection) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::sync_channel::<Box<dyn Job>>(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let long_writes = Arc::new(AtomicU64::new(0));
        let counters = (commits.clone(), long_writes.clone());
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, &counters.0, &counters.1))?;
        Ok(Writer {
            queue,
            thread,
            commits,
            long_writes,
        })
    }

    /// Is the writer thread still there to take writes? (For `/readyz`.)
    pub fn running(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Transactions committed so far (each holds one or more writes).
    #[cfg(test)]
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Writes so far that held the writer longer than [`LONG_WRITE`].
    pub fn long_writes(&self) -> u64 {
        self.long_writes.load(Ordering::Relaxed)
    }

    /// Queues `f`; the receiver yields its result once the transaction holding its writes
    /// has committed (or its error once its own writes were rolled back).
    pub fn submit<T, E, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        match self.queue.try_send(Box::new(Call { f, reply, span })) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(StoreError::Unavailable(format!(
                "{QUEUE_CAPACITY} writes are already waiting"
            ))),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Unavailable(
                "the database writer has stopped".into(),
            )),
        }
    }
}

fn exec(conn: &mut AnyConnection, sql: &'static str) -> Result<(), diesel::result::Error> {
    use diesel::RunQueryDsl;
    // Cached prepared statements: `batch_execute` would parse them every time.
    RawQuery::marked(sql, vec![]).execute(conn).map(|_| ())
}

fn run(
    mut conn: AnyConnection,
    jobs: Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
    long_writes: &AtomicU64,
) {
    // `recv` fails once every `Writer` is gone and the queue is empty.
    while let Ok(first) = jobs.recv() {
        // BEGIN IMMEDIATE takes the write lock up front: another process (the CLI) can
        // hold it; busy_timeout waits for it.
        if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot start a write transaction");
            first.refuse(StoreError::Unavailable(format!(
                "cannot start a write transaction: {e}"
            )));
            continue;
        }
        let started = Instant::now();
        let mut done: Vec<Answer> = Vec::new();
        let mut next = Some(first);
        let mut broken = None;
        batch::begin();
        while let Some(job) = next.take() {
            match run_one(&mut conn, job, long_writes) {
                Ok(Some(answer)) => done.push(answer),
                Ok(None) => {}
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
            if done.len() < MAX_BATCH && started.elapsed() < MAX_BATCH_TIME {
                next = jobs.try_recv().ok();
            }
        }
        let outcome = match broken {
            Some(e) => Err(e.to_string()),
            None => batch::flush(&mut conn)
                .map_err(|e| format!("queueing the writes' reconciles: {e}"))
                .and_then(|_| exec(&mut conn, "COMMIT").map_err(|e| e.to_string())),
        };
        batch::end();
        match outcome {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                done.into_iter().for_each(|answer| answer(Ok(())));
            }
            Err(e) => {
                tracing::error!(error = %e, writes = done.len(), "write transaction failed; rolled back");
                let _ = conn.batch_execute("ROLLBACK");
                for answer in done {
                    answer(Err(StoreError::Unavailable(format!(
                        "the write was rolled back: {e}"
                    ))));
                }
            }
        }
    }
    tracing::debug!(
        commits = commits.load(Ordering::Relaxed),
        "SQLite writer stopped"
    );
}

/// Runs one job in its own savepoint. `Ok(Some)`: its writes await the commit; `Ok(None)`:
/// it failed and was answered, its writes undone; `Err`: the transaction itself is broken.
fn run_one(
    conn: &mut AnyConnection,
    job: Box<dyn Job>,
    long_writes: &AtomicU64,
) -> Result<Option<Answer>, diesel::result::Error> {
    exec(conn, "SAVEPOINT job")?;
    let found = batch::mark();
    let span = job.span();
    let started = Instant::now();
    let ran = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| job.run(conn))));
    let took = started.elapsed();
    if took > LONG_WRITE {
        long_writes.fetch_add(1, Ordering::Relaxed);
        span.in_scope(|| {
            tracing::warn!(
                ms = took.as_millis() as u64,
                "a write held the SQLite writer for {} ms; writes queued behind it waited as long",
                took.as_millis()
            )
        });
    }
    match ran {
        Ok(Ran::Wrote(answer)) => {
            exec(conn, "RELEASE job")?;
            Ok(Some(answer))
        }
        Ok(Ran::Failed(answer)) => {
            batch::undo_to(found);
            let undone = undo(conn);
            answer();
            undone.map(|()| None)
        }
        Err(_) => {
            // The job's reply channel was dropped while unwinding: its caller gets an error.
            tracing::error!("a write panicked; its changes were rolled back");
            batch::undo_to(found);
            undo(conn).map(|()| None)
        }
    }
}

fn undo(conn: &mut AnyConnection) -> Result<(), diesel::result::Error> {
    exec(conn, "ROLLBACK TO job")?;
    exec(conn, "RELEASE job")
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use diesel::prelude::*;

    use super::*;

    type Res = Result<(), StoreError>;

    fn open(dir: &tempfile::TempDir) -> (Writer, String) {
        let path = dir.path().join("w.db").to_string_lossy().into_owned();
        let mut conn = AnyConnection::establish(&path).expect("open");
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .expect("schema");
        (Writer::start(conn).expect("writer"), path)
    }

    fn insert(c: &mut AnyConnection, k: i64) -> Result<(), diesel::result::Error> {
        diesel::sql_query(format!("INSERT INTO t (k, v) VALUES ({k}, 'x')"))
            .execute(c)
            .map(|_| ())
    }

    fn keys(path: &str) -> Vec<i64> {
        #[derive(QueryableByName)]
        struct K {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            k: i64,
        }
        let mut conn = AnyConnection::establish(path).expect("open");
        diesel::sql_query("SELECT k FROM t ORDER BY k")
            .load::<K>(&mut conn)
            .expect("select")
            .into_iter()
            .map(|r| r.k)
            .collect()
    }

    /// Holds the writer inside its first job until the returned sender is used, so that
    /// everything submitted meanwhile queues up and runs in the same transaction.
    fn hold(writer: &Writer) -> (std::sync::mpsc::Sender<()>, oneshot::Receiver<Res>) {
        let (release, wait) = channel::<()>();
        let first = writer
            .submit(move |_c: &mut AnyConnection| -> Res {
                let _ = wait.recv();
                Ok(())
            })
            .expect("queued");
        (release, first)
    }

    #[test]
    fn writes_queued_together_commit_together_and_a_failure_undoes_only_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, path) = open(&dir);
        let (release, first) = hold(&writer);
        let mut answers = Vec::new();
        for k in 0..100i64 {
            answers.push(
                writer
                    .submit(move |c: &mut AnyConnection| -> Res {
                        insert(c, k)?;
                        match k % 3 {
                            // Wrote, then failed: its insert must be undone.
                            1 => Err(StoreError::Conflict("k")),
                            // Fails inside SQLite: a duplicate key.
                            2 => Ok(insert(c, k - 2)?),
                            _ => Ok(()),
                        }
                    })
                    .expect("queued"),
            );
        }
        release.send(()).expect("release");
        first.blocking_recv().expect("answer").expect("first");
        for (k, answer) in answers.into_iter().enumerate() {
            let got = answer.blocking_recv().expect("answered");
            match k % 3 {
                0 => assert!(got.is_ok(), "{k}: {got:?}"),
                1 => assert!(
                    matches!(got, Err(StoreError::Conflict("k"))),
                    "{k}: {got:?}"
                ),
                _ => assert!(matches!(got, Err(StoreError::Database(_))), "{k}: {got:?}"),
            }
        }
        let expected: Vec<i64> = (0..100).filter(|k| k % 3 == 0).collect();
        assert_eq!(keys(&path), expected);
        // 101 writes, far fewer commits: they were grouped.
        assert!(writer.commits() < 50, "{} commits", writer.commits());
    }

    #[test]
    fn a_failed_commit_answers_every_write_in_it_with_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db").to_string_lossy().into_owned();
        let mut conn = AnyConnection::establish(&path).expect("open");
        // A deferred foreign key is checked at COMMIT: a way to make COMMIT itself fail.
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
             CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL); \
             CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .expect("schema");
        let writer = Writer::start(conn).expect("writer");
        let (release, first) = hold(&writer);
        let good = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 1)?) })
            .expect("queued");
        let dangling = writer
            .submit(|c: &mut AnyConnection| -> Res {
                diesel::sql_query("INSERT INTO child (p) VALUES (999)").execute(c)?;
                Ok(())
            })
            .expect("queued");
        release.send(()).expect("release");
        for (name, answer) in [("first", first), ("good", good), ("dangling", dangling)] {
            let got = answer.blocking_recv().expect("answered");
            assert!(
                matches!(got, Err(StoreError::Unavailable(_))),
                "{name}: {got:?}"
            );
        }
        assert!(
            keys(&path).is_empty(),
            "nothing of the failed commit is stored"
        );
        assert_eq!(writer.commits(), 0);
        // The writer goes on.
        let later = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 2)?) })
            .expect("queued");
        later.blocking_recv().expect("answered").expect("committed");
        assert_eq!(keys(&path), [2]);
    }

    #[test]
    fn a_panicking_write_is_rolled_back_and_the_others_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, path) = open(&dir);
        let (release, first) = hold(&writer);
        let before = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 1)?) })
            .expect("queued");
        let panics = writer
            .submit(|c: &mut AnyConnection| -> Res {
                insert(c, 2)?;
                panic!("a bug in a write");
            })
            .expect("queued");
        let after = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 3)?) })
            .expect("queued");
        release.send(()).expect("release");
        first.blocking_recv().expect("answer").expect("first");
        assert!(before.blocking_recv().expect("answered").is_ok());
        assert!(
            panics.blocking_recv().is_err(),
            "the caller hears of the failure"
        );
        assert!(after.blocking_recv().expect("answered").is_ok());
        assert_eq!(keys(&path), vec![1, 3]);
        // The thread survived: a later write still works.
        let later = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 4)?) })
            .expect("queued");
        assert!(later.blocking_recv().expect("answered").is_ok());
        assert_eq!(keys(&path), vec![1, 3, 4]);
    }

    #[test]
    fn a_write_that_holds_the_writer_long_is_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, path) = open(&dir);
        let quick = writer
            .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 1)?) })
            .expect("queued");
        quick.blocking_recv().expect("answered").expect("ok");
        assert_eq!(writer.long_writes(), 0);
        let slow = writer
            .submit(|c: &mut AnyConnection| -> Res {
                std::thread::sleep(LONG_WRITE + Duration::from_millis(30));
                Ok(insert(c, 2)?)
            })
            .expect("queued");
        slow.blocking_recv().expect("answered").expect("ok");
        assert_eq!(writer.long_writes(), 1);
        assert_eq!(keys(&path), vec![1, 2]);
    }

    #[test]
    fn a_write_whose_caller_left_still_happens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, path) = open(&dir);
        let (release, first) = hold(&writer);
        drop(
            writer
                .submit(|c: &mut AnyConnection| -> Res { Ok(insert(c, 7)?) })
                .expect("queued"),
        );
        release.send(()).expect("release");
        first.blocking_recv().expect("answer").expect("first");
        let sync = writer
            .submit(|_c: &mut AnyConnection| -> Res { Ok(()) })
            .expect("queued");
        sync.blocking_recv().expect("answered").expect("ok");
        assert_eq!(keys(&path), vec![7]);
    }

    #[test]
    fn a_full_queue_refuses_with_unavailable_instead_of_growing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, _path) = open(&dir);
        let (release, first) = hold(&writer);
        // Wait until the writer has taken the holding job off the queue.
        let mut queued = Vec::new();
        let refused = loop {
            match writer.submit(|_c: &mut AnyConnection| -> Res { Ok(()) }) {
                Ok(answer) => queued.push(answer),
                Err(e) => break e,
            }
            assert!(queued.len() <= QUEUE_CAPACITY + 1, "the queue is bounded");
        };
        assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
        assert!(queued.len() >= QUEUE_CAPACITY - 1, "{}", queued.len());
        release.send(()).expect("release");
        first.blocking_recv().expect("answer").expect("first");
        for answer in queued {
            answer.blocking_recv().expect("answered").expect("ok");
        }
    }
}
