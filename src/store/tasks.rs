//! The durable task queue, in our own table on both databases (docs/engine.md).
//!
//! - **Enqueue** happens inside the transaction of the change that makes the task
//!   necessary. A partial unique index allows one *waiting* (`pending` / `deferred`)
//!   `reconcile_member` per (hub, user); `running` is left out, so a change that arrives
//!   while that person's reconcile runs queues one more run after it. On SQLite, the
//!   reconciles a SCIM write queues through the one writer are found inside that write
//!   (its own savepoint) and inserted together for the whole group commit just before it
//!   commits ([`batch`]): one multi-row insert per commit instead of one per write.
//! - **Claim** sets a due task `running` with a lease, one more attempt and one more claim.
//!   The claim number is the fencing token: heartbeats and results name it, and a worker
//!   whose lease ran out and was taken over finds its writes refused. (Attempts can be
//!   given back, by a deferral; claims only grow.) A task is not claimed while
//!   another task for the same (hub, user) runs under a live lease, nor while its hub is
//!   paused (not `active`). PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite claims
//!   through its one writer.

use diesel::prelude::*;

use super::schema::tasks;
use super::sql::{Lit, RawQuery};
use super::{AnyConnection, StoreResult};

pub const RECONCILE_MEMBER: &str = "reconcile_member";
pub const SYNC_HUB: &str = "sync_hub";
pub const REMOVE_MEMBER: &str = "remove_member";
/// Every task kind.
pub const KINDS: &[&str] = &[RECONCILE_MEMBER, SYNC_HUB, REMOVE_MEMBER];

/// Task statuses.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const DEFERRED: &str = "deferred";
    pub const HELD: &str = "held";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    /// Every status.
    pub const ALL: &[&str] = &[
        PENDING, RUNNING, DEFERRED, HELD, COMPLETED, FAILED, CANCELLED,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub seq: i64,
    pub id: String,
    pub hub_seq: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub member_id: Option<String>,
    pub email: Option<String>,
    pub triggered_by: String,
    pub status: String,
    pub attempts: i32,
    /// The fencing token of the current (or last) claim.
    pub claims: i32,
    pub max_attempts: i32,
    pub run_after: i64,
    pub lease_until: Option<i64>,
    pub status_reason: Option<String>,
    pub last_error: Option<String>,
    pub progress: Option<String>,
    /// An owner approved its removals past the safeguard.
    pub approved: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// The claim whose attempt ended with the person's state in Meta fully known (see
    /// [`Outcome::Defer`]); behind `claims - 1`, the next attempt re-reads the person first.
    pub settled_claim: Option<i32>,
}

impl TaskRow {
    /// Whether an earlier attempt may have acted in Meta without recording it (a crash, a
    /// lost lease, a call whose answer never came): then this attempt reads first.
    pub fn may_have_acted(&self) -> bool {
        self.claims > 1 && self.settled_claim != Some(self.claims - 1)
    }
}

const COLUMNS: &str = "seq, id, hub_seq, kind, user_id, member_id, email, triggered_by, status, \
     attempts, claims, max_attempts, run_after, lease_until, status_reason, last_error, progress, \
     approved, created_at, updated_at, finished_at, settled_claim";

/// What every enqueue needs besides the task's subject.
#[derive(Debug, Clone, Copy)]
pub struct Enqueue<'a> {
    pub triggered_by: &'a str,
    pub max_attempts: i32,
    pub now: i64,
}

impl Enqueue<'_> {
    /// The binds of a new task's `triggered_by, max_attempts, run_after, created_at,
    /// updated_at`, in that order.
    fn binds(&self) -> [Lit; 5] {
        [
            Lit::Text(self.triggered_by.to_string()),
            Lit::Int(self.max_attempts.into()),
            Lit::Int(self.now),
            Lit::Int(self.now),
            Lit::Int(self.now),
        ]
    }
}

/// A new task's id: 32 hex digits, the database's clock in microseconds then 64 random bits.
/// Time first, so new ids land at the end of the id index instead of on a random page of
/// it: each commit of a queueing SCIM write then rewrites a third fewer pages (measured with
/// 10,000 enqueues in batches of 64 on SQLite: 6.2 KB of WAL per enqueue down to 4.1 KB).
fn new_id_sql(conn: &AnyConnection) -> &'static str {
    match conn {
        AnyConnection::Sqlite(_) => {
            "printf('%016x', CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)) \
             || lower(hex(randomblob(8)))"
        }
        AnyConnection::Postgresql(_) => {
            "lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000)::bigint), 16, '0') \
             || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16)"
        }
    }
}

/// Queues a reconcile of every (hub, user) found by `pairs`, a SELECT of `hub_seq, user_id`
/// rows with `?` binds `binds`; pairs that already have a waiting reconcile are skipped, and
/// so is a pair `pairs` names twice (the one-waiting-reconcile index refuses the second), so
/// `pairs` may use `UNION ALL`: no temporary table to deduplicate on every SCIM write.
/// Disconnected hubs are left out. Returns how many were queued, or, inside the SQLite
/// writer's group commit (which inserts them, skipping those waiting already, at its
/// commit: [`batch`]), how many were found.
fn enqueue_pairs(
    conn: &mut AnyConnection,
    pairs: &str,
    binds: Vec<Lit>,
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    if batch::open() {
        return batch::find(conn, pairs, binds, e);
    }
    insert_pairs(conn, pairs, binds, e)
}

/// [`enqueue_pairs`] at once, in this statement: for callers that count what was queued.
fn insert_pairs(
    conn: &mut AnyConnection,
    pairs: &str,
    mut binds: Vec<Lit>,
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let sql = format!(
        "INSERT INTO tasks (id, hub_seq, kind, user_id, triggered_by, status, attempts, \
         claims, max_attempts, run_after, created_at, updated_at) \
         SELECT {}, x.hub_seq, 'reconcile_member', x.user_id, ?, 'pending', 0, 0, ?, ?, ?, ? \
         FROM ({pairs}) x JOIN hubs h ON h.seq = x.hub_seq \
         WHERE h.status <> 'disconnected' \
         ON CONFLICT DO NOTHING",
        new_id_sql(conn)
    );
    let mut all = e.binds().to_vec();
    all.append(&mut binds);
    Ok(RawQuery::marked(&sql, all).execute(conn)?)
}

/// Hubs whose access for this user may have changed: those whose grants reach the user
/// (directly or through a group) and those where the user is a member already.
pub fn enqueue_for_user(
    conn: &mut AnyConnection,
    user_seq: i64,
    user_id: &str,
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let pairs = "SELECT g.hub_seq, u.id AS user_id FROM grants g JOIN users u ON u.seq = ? \
                 WHERE g.user_seq = u.seq OR g.group_seq IN \
                 (SELECT gm.group_seq FROM group_members gm WHERE gm.user_seq = u.seq) \
                 UNION ALL SELECT m.hub_seq, m.user_id FROM members m WHERE m.user_id = ?";
    enqueue_pairs(
        conn,
        pairs,
        vec![Lit::Int(user_seq), Lit::Text(user_id.to_string())],
        e,
    )
}

/// After members joined or left a group: the named users on every hub that grants the
/// group something.
pub fn enqueue_for_group_change(
    conn: &mut AnyConnection,
    group_seq: i64,
    user_ids: &[String],
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let mut queued = 0;
    // Bounded statements: a PATCH may name thousands of members. Only hubs that grant the
    // group something: on any other hub, joining or leaving the group changes nothing.
    for chunk in user_ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let pairs = format!(
            "SELECT g.hub_seq, u.id AS user_id FROM grants g, users u \
             WHERE g.group_seq = ? AND u.id IN ({marks})"
        );
        let mut binds = vec![Lit::Int(group_seq)];
        binds.extend(chunk.iter().map(|id| Lit::Text(id.clone())));
        queued += enqueue_pairs(conn, &pairs, binds, e)?;
    }
    Ok(queued)
}

/// Before a group is deleted (its grants go with it): every member of the group on every
/// hub that grants the group something.
pub fn enqueue_for_group(
    conn: &mut AnyConnection,
    group_seq: i64,
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let pairs = "SELECT g.hub_seq, u.id AS user_id FROM grants g \
                 JOIN group_members gm ON gm.group_seq = g.group_seq \
                 JOIN users u ON u.seq = gm.user_seq WHERE g.group_seq = ?";
    enqueue_pairs(conn, pairs, vec![Lit::Int(group_seq)], e)
}

/// Claims up to `limit` due tasks: `running`, one more attempt, leased until
/// `lease_until`. A `running` task whose lease ran out (its worker died) is due again and
/// comes first; then waiting tasks in due order. Each half walks its own partial index
/// (`tasks_leased`, `tasks_ready`) and stops at the first tasks it may take, so a claim costs
/// the same with ten tasks in the table as with a million. One statement with both
/// conditions OR'ed cannot walk either index in order: on PostgreSQL it fetched and sorted
/// every due task per claim (35 ms at 10,000 waiting, and the engine bench converged in
/// 1.85x the least time instead of SQLite's 1.15x).
pub fn claim(
    conn: &mut AnyConnection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<TaskRow>> {
    let mut rows = claim_where(conn, Half::Leased, now, lease_until, limit)?;
    let left = limit - rows.len() as i64;
    if left > 0 {
        rows.extend(claim_where(conn, Half::Ready, now, lease_until, left)?);
    }
    Ok(rows)
}

/// The two halves of a claim: leases that ran out, and tasks whose time has come.
#[derive(Debug, Clone, Copy)]
enum Half {
    Leased,
    Ready,
}

impl Half {
    /// The half's condition (one `?` for now) and, on SQLite, the partial index that holds
    /// exactly its candidates. Named, because SQLite's planner left to itself preferred
    /// `tasks_by_hub` for the hub condition and sorted the hub's whole history for every
    /// claim (9 ms a claim at 10,000 tasks: the engine ran at half Meta's rate, its core
    /// busy with claims). With the index named, the walk is in `ORDER BY` order and stops at
    /// the first candidate; an index that cannot serve the query is an error, not a scan.
    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Half::Leased => ("t.status = 'running' AND t.lease_until < ?", "tasks_leased"),
            Half::Ready => (
                "t.status IN ('pending', 'deferred') AND t.run_after <= ?",
                "tasks_ready",
            ),
        }
    }

    /// `tasks t`, with the half's index named on SQLite, and the half's condition.
    fn source(self, conn: &AnyConnection) -> (String, &'static str) {
        let (due, index) = self.parts();
        let from = match conn {
            AnyConnection::Postgresql(_) => "tasks t".to_string(),
            AnyConnection::Sqlite(_) => format!("tasks t INDEXED BY {index}"),
        };
        (from, due)
    }
}

/// One half of [`claim`]. The hubs are a list subquery, not a join, so the planner walks
/// the tasks' index in order and stops early. The NOT EXISTS probes `tasks_running_person`
/// (without it, PostgreSQL's generic plan with statistics from when the table was small
/// intersected the hub's whole task list with the user's for every candidate: 10 s per
/// claim at 10,000 tasks). On PostgreSQL concurrent claims skip the rows another claim has
/// locked; SQLite's claims run one at a time.
fn claim_sql(conn: &AnyConnection, half: Half) -> String {
    let (from, due) = half.source(conn);
    let lock = match conn {
        AnyConnection::Postgresql(_) => " FOR UPDATE OF t SKIP LOCKED",
        AnyConnection::Sqlite(_) => "",
    };
    format!(
        "UPDATE tasks SET status = 'running', attempts = attempts + 1, claims = claims + 1, \
         lease_until = ?, updated_at = ? WHERE seq IN (SELECT t.seq FROM {from} \
         WHERE {due} AND t.hub_seq IN (SELECT h.seq FROM hubs h WHERE h.status = 'active') \
         AND NOT EXISTS (SELECT 1 FROM tasks r WHERE r.status = 'running' \
              AND r.lease_until >= ? AND r.hub_seq = t.hub_seq AND r.user_id = t.user_id \
              AND r.seq <> t.seq) \
         ORDER BY t.run_after, t.seq LIMIT ?{lock}) RETURNING {COLUMNS}"
    )
}

fn claim_where(
    conn: &mut AnyConnection,
    half: Half,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<TaskRow>> {
    let binds = vec![
        Lit::Int(lease_until),
        Lit::Int(now),
        Lit::Int(now),
        Lit::Int(now),
        Lit::Int(limit),
    ];
    let mut rows: Vec<TaskRow> = RawQuery::marked(&claim_sql(conn, half), binds).load(conn)?;
    rows.sort_by_key(|r| (r.run_after, r.seq));
    Ok(rows)
}

/// Is any task due for a claim now (the claim's conditions, less the one-per-person
/// rule)? A read: idle workers ask this instead of trying a claim through the writer.
/// Through the claim's indexes (see [`Half::parts`]): otherwise SQLite walks the hub's
/// whole history, finished tasks first, at every idle poll.
pub fn any_due(conn: &mut AnyConnection, now: i64) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        due: bool,
    }
    for half in [Half::Leased, Half::Ready] {
        let (from, due) = half.source(conn);
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {from} WHERE {due} AND t.hub_seq IN \
             (SELECT h.seq FROM hubs h WHERE h.status = 'active')) AS due"
        );
        let found: Vec<Due> = RawQuery::marked(&sql, vec![Lit::Int(now)]).load(conn)?;
        if found.first().is_some_and(|d| d.due) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Renews a lease; false when the task is no longer this claim's (fenced).
pub fn heartbeat(
    conn: &mut AnyConnection,
    seq: i64,
    claim: i32,
    lease_until: i64,
) -> StoreResult<bool> {
    let n = diesel::update(
        tasks::table
            .filter(tasks::seq.eq(seq))
            .filter(tasks::claims.eq(claim))
            .filter(tasks::status.eq(status::RUNNING)),
    )
    .set(tasks::lease_until.eq(Some(lease_until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Run again at `run_after` (status `pending`), after a failure worth retrying.
    Retry {
        run_after: i64,
        error: String,
    },
    /// Wait until `run_after` (status `deferred`) without using up attempts: Meta throttles,
    /// or a restriction lasts. The attempt is given back. `settled`: every call of the
    /// attempt has a known outcome (Meta refused the last one, or it was never sent) and what
    /// it learnt is saved, so the next attempt need not re-read the person before acting.
    Defer {
        run_after: i64,
        reason: String,
        settled: bool,
    },
    /// Given up: `failed`, with Meta's message.
    Failed {
        reason: String,
        error: Option<String>,
    },
    /// Waits for an owner's decision (the safeguard).
    Held {
        reason: String,
    },
}

/// Records the end of the attempt that holds claim `task.claims` (the row as claimed).
/// False when that claim no longer holds the task (its lease ran out and another worker took it over): nothing is written.
/// A task that goes back to waiting while a twin waits already (a change arrived while it
/// ran) absorbs the twin: the twin is cancelled, since the reconcile computes the state
/// *then* anyway.
pub fn finish(
    conn: &mut AnyConnection,
    task: &TaskRow,
    outcome: &Outcome,
    now: i64,
) -> StoreResult<bool> {
    let current: Option<(i32, String)> = {
        let q = tasks::table
            .filter(tasks::seq.eq(task.seq))
            .select((tasks::claims, tasks::status));
        match conn {
            AnyConnection::Postgresql(_) => {
                let sql = "SELECT claims, status FROM tasks WHERE seq = ? FOR UPDATE";
                #[derive(QueryableByName)]
                struct Now {
                    #[diesel(sql_type = diesel::sql_types::Integer)]
                    claims: i32,
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    status: String,
                }
                let rows: Vec<Now> = RawQuery::marked(sql, vec![Lit::Int(task.seq)]).load(conn)?;
                rows.into_iter().next().map(|r| (r.claims, r.status))
            }
            AnyConnection::Sqlite(_) => q.first(conn).optional()?,
        }
    };
    if current != Some((task.claims, status::RUNNING.to_string())) {
        return Ok(false);
    }
    let waiting_again = matches!(outcome, Outcome::Retry { .. } | Outcome::Defer { .. });
    if waiting_again && task.kind == RECONCILE_MEMBER {
        diesel::update(
            tasks::table
                .filter(tasks::hub_seq.eq(task.hub_seq))
                .filter(tasks::user_id.eq(&task.user_id))
                .filter(tasks::kind.eq(RECONCILE_MEMBER))
                .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED]))
                .filter(tasks::seq.ne(task.seq)),
        )
        .set((
            tasks::status.eq(status::CANCELLED),
            tasks::status_reason.eq(Some(format!("merged into task {}", task.id))),
            tasks::updated_at.eq(now),
            tasks::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
    }
    if let Outcome::Held { .. } = outcome {
        let twin: Option<String> = tasks::table
            .filter(tasks::hub_seq.eq(task.hub_seq))
            .filter(tasks::user_id.eq(&task.user_id))
            .filter(tasks::kind.eq(&task.kind))
            .filter(tasks::status.eq(status::HELD))
            .filter(tasks::seq.ne(task.seq))
            .select(tasks::id)
            .first(conn)
            .optional()?;
        if let Some(twin) = twin {
            // That person's removal waits for a decision already.
            let n = diesel::update(tasks::table.filter(tasks::seq.eq(task.seq)))
                .set((
                    tasks::status.eq(status::CANCELLED),
                    tasks::lease_until.eq(None::<i64>),
                    tasks::status_reason.eq(Some(format!("merged into held task {twin}"))),
                    tasks::updated_at.eq(now),
                    tasks::finished_at.eq(Some(now)),
                ))
                .execute(conn)?;
            return Ok(n == 1);
        }
    }
    let target = tasks::table.filter(tasks::seq.eq(task.seq));
    let n = match outcome {
        Outcome::Completed => diesel::update(target)
            .set((
                tasks::status.eq(status::COMPLETED),
                tasks::lease_until.eq(None::<i64>),
                tasks::updated_at.eq(now),
                tasks::finished_at.eq(Some(now)),
            ))
            .execute(conn)?,
        Outcome::Retry { run_after, error } => diesel::update(target)
            .set((
                tasks::status.eq(status::PENDING),
                tasks::run_after.eq(*run_after),
                tasks::lease_until.eq(None::<i64>),
                tasks::last_error.eq(Some(error)),
                tasks::updated_at.eq(now),
            ))
            .execute(conn)?,
        Outcome::Defer {
            run_after,
            reason,
            settled,
        } => diesel::update(target)
            .set((
                tasks::status.eq(status::DEFERRED),
                tasks::attempts.eq(task.attempts - 1),
                tasks::run_after.eq(*run_after),
                tasks::lease_until.eq(None::<i64>),
                tasks::status_reason.eq(Some(reason)),
                tasks::updated_at.eq(now),
                tasks::settled_claim.eq(settled.then_some(task.claims).or(task.settled_claim)),
            ))
            .execute(conn)?,
        Outcome::Failed { reason, error } => diesel::update(target)
            .set((
                tasks::status.eq(status::FAILED),
                tasks::lease_until.eq(None::<i64>),
                tasks::status_reason.eq(Some(reason)),
                tasks::last_error.eq(error.as_ref()),
                tasks::updated_at.eq(now),
                tasks::finished_at.eq(Some(now)),
            ))
            .execute(conn)?,
        Outcome::Held { reason } => diesel::update(target)
            .set((
                tasks::status.eq(status::HELD),
                tasks::attempts.eq(task.attempts - 1),
                tasks::lease_until.eq(None::<i64>),
                tasks::status_reason.eq(Some(reason)),
                tasks::updated_at.eq(now),
                // Held before its removal was sent, with the person as last read.
                tasks::settled_claim.eq(Some(task.claims)),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Gives claimed work back at shutdown: the attempt did not happen.
pub fn release(conn: &mut AnyConnection, task: &TaskRow, now: i64) -> StoreResult<bool> {
    finish(
        conn,
        task,
        &Outcome::Defer {
            run_after: now,
            reason: "given back at shutdown".into(),
            // A call may have been under way.
            settled: false,
        },
        now,
    )
}

pub fn find(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<TaskRow>> {
    Ok(tasks::table
        .filter(tasks::id.eq(id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?)
}

/// Tasks of a hub, oldest first (for tests and the admin API's list).
pub fn for_hub(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Vec<TaskRow>> {
    Ok(tasks::table
        .filter(tasks::hub_seq.eq(hub_seq))
        .order(tasks::seq.asc())
        .select(TaskRow::as_select())
        .load(conn)?)
}

/// Filters of the task list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only these hubs (the caller's); `None`: every hub.
    pub hub_seqs: Option<Vec<i64>>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub user_id: Option<String>,
    /// Created at or after / before (microseconds).
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TaskFilter {
    /// The filter applied to a task already read (the pending half of a list by user);
    /// [`list_where`] says the same in SQL: a filter added to one belongs in both.
    fn admits(&self, t: &TaskRow) -> bool {
        self.hub_seqs
            .as_ref()
            .is_none_or(|h| h.contains(&t.hub_seq))
            && self.kind.as_ref().is_none_or(|k| *k == t.kind)
            && self.status.as_ref().is_none_or(|s| *s == t.status)
            && self
                .user_id
                .as_ref()
                .is_none_or(|u| Some(u) == t.user_id.as_ref())
            && self.since.is_none_or(|s| t.created_at >= s)
            && self.until.is_none_or(|u| t.created_at < u)
    }
}

/// Tasks after `after_seq`, oldest first, at most `limit`.
///
/// On SQLite `tasks_by_user` leaves `pending` tasks out (a SCIM write that queues a
/// reconcile then writes one index entry fewer: docs/benchmarks.md, session 8), and SQLite
/// uses a partial index only when the query carries its condition as literal text. So a
/// list by user reads the others through `tasks_by_user` and its pending tasks (a few: one
/// waiting reconcile per hub, and removals) by walking `tasks_ready`, every waiting task
/// of every user (milliseconds with 20,000 waiting), and merges them.
pub fn list(
    conn: &mut AnyConnection,
    f: &TaskFilter,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<TaskRow>> {
    let Some(user_id) = &f.user_id else {
        return list_where(conn, f, None, after_seq, limit);
    };
    let mut rows = Vec::new();
    if f.status.as_deref() != Some(status::PENDING) {
        rows = list_where(conn, f, Some("tasks.status <> 'pending'"), after_seq, limit)?;
    }
    if f.status.as_deref().is_none_or(|s| s == status::PENDING) {
        let sql = match conn {
            AnyConnection::Sqlite(_) => {
                "SELECT * FROM tasks INDEXED BY tasks_ready WHERE status IN ('pending', \
                 'deferred') AND status = 'pending' AND user_id = ?"
            }
            AnyConnection::Postgresql(_) => {
                "SELECT * FROM tasks WHERE status = 'pending' AND user_id = ?"
            }
        };
        let waiting: Vec<TaskRow> =
            RawQuery::marked(sql, vec![Lit::Text(user_id.clone())]).load(conn)?;
        rows.extend(
            waiting
                .into_iter()
                .filter(|t| t.seq > after_seq && f.admits(t)),
        );
        rows.sort_by_key(|t| t.seq);
        rows.truncate(limit.max(0) as usize);
    }
    Ok(rows)
}

fn list_where(
    conn: &mut AnyConnection,
    f: &TaskFilter,
    literal: Option<&'static str>,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<TaskRow>> {
    let mut q = tasks::table
        .filter(tasks::seq.gt(after_seq))
        .order(tasks::seq.asc())
        .limit(limit)
        .select(TaskRow::as_select())
        .into_boxed();
    if let Some(h) = &f.hub_seqs {
        q = q.filter(tasks::hub_seq.eq_any(h.clone()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(tasks::kind.eq(k.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(tasks::status.eq(s.clone()));
    }
    if let Some(u) = &f.user_id {
        q = q.filter(tasks::user_id.eq(u.clone()));
    }
    if let Some(t) = f.since {
        q = q.filter(tasks::created_at.ge(t));
    }
    if let Some(t) = f.until {
        q = q.filter(tasks::created_at.lt(t));
    }
    if let Some(sql) = literal {
        q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(sql));
    }
    Ok(q.load(conn)?)
}

/// A Graph call a task made.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = super::schema::task_calls)]
pub struct TaskCall {
    pub attempt: i32,
    pub request: String,
    pub target: String,
    pub outcome: String,
    pub at: i64,
}

pub fn calls_of(conn: &mut AnyConnection, task_seq: i64) -> StoreResult<Vec<TaskCall>> {
    use super::schema::task_calls;
    Ok(task_calls::table
        .filter(task_calls::task_seq.eq(task_seq))
        .order(task_calls::seq.asc())
        .select(TaskCall::as_select())
        .load(conn)?)
}

/// Queues a `sync_hub` unless one is waiting or running; returns the sync that is
/// (the new one or the one already there).
pub fn enqueue_sync(
    conn: &mut AnyConnection,
    hub_seq: i64,
    e: Enqueue<'_>,
) -> StoreResult<TaskRow> {
    let sql = format!(
        "INSERT INTO tasks (id, hub_seq, kind, triggered_by, status, attempts, claims, \
         max_attempts, run_after, created_at, updated_at) \
         VALUES ({}, ?, 'sync_hub', ?, 'pending', 0, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        new_id_sql(conn)
    );
    RawQuery::marked(
        &sql,
        [Lit::Int(hub_seq)].into_iter().chain(e.binds()).collect(),
    )
    .execute(conn)?;
    Ok(tasks::table
        .filter(tasks::hub_seq.eq(hub_seq))
        .filter(tasks::kind.eq(SYNC_HUB))
        .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED, status::RUNNING]))
        .select(TaskRow::as_select())
        .first(conn)?)
}

/// Queues a `remove_member` for a member (approved: an owner asked for it) unless one is
/// waiting, running or held for it; returns the one that is. It carries the member's user,
/// so it never runs beside that user's reconcile.
pub fn enqueue_removal(
    conn: &mut AnyConnection,
    hub_seq: i64,
    member_id: &str,
    user_id: Option<&str>,
    email: &str,
    e: Enqueue<'_>,
) -> StoreResult<TaskRow> {
    let waiting = |conn: &mut AnyConnection| {
        tasks::table
            .filter(tasks::hub_seq.eq(hub_seq))
            .filter(tasks::kind.eq(REMOVE_MEMBER))
            .filter(tasks::member_id.eq(member_id))
            .filter(tasks::status.eq_any([
                status::PENDING,
                status::DEFERRED,
                status::RUNNING,
                status::HELD,
            ]))
            .select(TaskRow::as_select())
            .first(conn)
            .optional()
    };
    if let Some(t) = waiting(conn)? {
        return Ok(t);
    }
    let sql = format!(
        "INSERT INTO tasks (id, hub_seq, kind, user_id, member_id, email, triggered_by, status, \
         attempts, claims, max_attempts, run_after, approved, created_at, updated_at) \
         VALUES ({}, ?, 'remove_member', ?, ?, ?, ?, 'pending', 0, 0, ?, ?, TRUE, ?, ?)",
        new_id_sql(conn)
    );
    RawQuery::marked(
        &sql,
        [
            Lit::Int(hub_seq),
            Lit::OptText(user_id.map(str::to_string)),
            Lit::Text(member_id.to_string()),
            Lit::Text(email.to_string()),
        ]
        .into_iter()
        .chain(e.binds())
        .collect(),
    )
    .execute(conn)?;
    waiting(conn)?.ok_or(super::StoreError::NotFound)
}

/// The hub's latest sync that ended (completed or failed).
pub fn last_sync(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Option<TaskRow>> {
    Ok(tasks::table
        .filter(tasks::hub_seq.eq(hub_seq))
        .filter(tasks::kind.eq(SYNC_HUB))
        .filter(tasks::finished_at.is_not_null())
        .order(tasks::seq.desc())
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records a running task's progress (only while `claim` still holds it).
pub fn set_progress(
    conn: &mut AnyConnection,
    seq: i64,
    claim: i32,
    progress: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = diesel::update(
        tasks::table
            .filter(tasks::seq.eq(seq))
            .filter(tasks::claims.eq(claim))
            .filter(tasks::status.eq(status::RUNNING)),
    )
    .set((
        tasks::progress.eq(Some(progress)),
        tasks::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Queues a reconcile for each of these directory users on a hub (skipping those waiting).
pub fn enqueue_users(
    conn: &mut AnyConnection,
    hub_seq: i64,
    user_ids: &[String],
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let mut queued = 0;
    for chunk in user_ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let pairs = format!("SELECT ? AS hub_seq, u.id AS user_id FROM users u WHERE u.id IN ({marks}) \
             UNION SELECT m.hub_seq, m.user_id FROM members m WHERE m.hub_seq = ? AND m.user_id IN ({marks})");
        let ids = chunk.iter().map(|id| Lit::Text(id.clone()));
        let mut binds = vec![Lit::Int(hub_seq)];
        binds.extend(ids.clone());
        binds.push(Lit::Int(hub_seq));
        binds.extend(ids);
        queued += insert_pairs(conn, &pairs, binds, e)?;
    }
    Ok(queued)
}

/// After a sync: a reconcile for every matched member of the hub and every directory user
/// its grants reach.
pub fn enqueue_for_hub(
    conn: &mut AnyConnection,
    hub_seq: i64,
    e: Enqueue<'_>,
) -> StoreResult<usize> {
    let pairs = "SELECT m.hub_seq, m.user_id FROM members m WHERE m.hub_seq = ? \
                 AND m.user_id IS NOT NULL AND m.state = 'onboarded' \
                 UNION SELECT g.hub_seq, u.id FROM grants g JOIN users u ON u.seq = g.user_seq \
                 WHERE g.hub_seq = ? \
                 UNION SELECT g.hub_seq, u.id FROM grants g \
                 JOIN group_members gm ON gm.group_seq = g.group_seq \
                 JOIN users u ON u.seq = gm.user_seq WHERE g.hub_seq = ?";
    insert_pairs(
        conn,
        pairs,
        vec![Lit::Int(hub_seq), Lit::Int(hub_seq), Lit::Int(hub_seq)],
        e,
    )
}

/// The safeguard's counts on a hub: seat removals made since `since` (people removed,
/// invitations cancelled), and removals held now other than task `except`.
pub fn removals_since(
    conn: &mut AnyConnection,
    hub_seq: i64,
    since: i64,
    except: i64,
) -> StoreResult<(i64, i64)> {
    use super::schema::task_calls;
    let made: i64 = task_calls::table
        .inner_join(tasks::table)
        .filter(tasks::hub_seq.eq(hub_seq))
        .filter(task_calls::at.ge(since))
        .filter(task_calls::outcome.eq("ok"))
        .filter(task_calls::request.like("DELETE /%"))
        .filter(task_calls::request.not_like("%/assigned_users%"))
        .count()
        .get_result(conn)?;
    let held: i64 = tasks::table
        .filter(tasks::hub_seq.eq(hub_seq))
        .filter(tasks::status.eq(status::HELD))
        .filter(tasks::seq.ne(except))
        .count()
        .get_result(conn)?;
    Ok((made, held))
}

/// Sets held tasks going again (`approve`: past the safeguard) or cancels them; `None`
/// acts on every held task of the hub. Returns how many changed.
pub fn decide_held(
    conn: &mut AnyConnection,
    hub_seq: i64,
    task_id: Option<&str>,
    approve: bool,
    by: &str,
    now: i64,
) -> StoreResult<usize> {
    let mut q = tasks::table
        .filter(tasks::hub_seq.eq(hub_seq))
        .filter(tasks::status.eq(status::HELD))
        .select(TaskRow::as_select())
        .into_boxed();
    if let Some(id) = task_id {
        q = q.filter(tasks::id.eq(id.to_string()));
    }
    let held: Vec<TaskRow> = q.load(conn)?;
    for t in &held {
        if approve {
            // A run queued meanwhile for the same person is absorbed: the approved task
            // plans from the state when it runs.
            diesel::update(
                tasks::table
                    .filter(tasks::hub_seq.eq(t.hub_seq))
                    .filter(tasks::user_id.eq(&t.user_id))
                    .filter(tasks::kind.eq(&t.kind))
                    .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED])),
            )
            .set((
                tasks::status.eq(status::CANCELLED),
                tasks::status_reason.eq(Some(format!("merged into task {}", t.id))),
                tasks::updated_at.eq(now),
                tasks::finished_at.eq(Some(now)),
            ))
            .execute(conn)?;
            diesel::update(tasks::table.filter(tasks::seq.eq(t.seq)))
                .set((
                    tasks::status.eq(status::PENDING),
                    tasks::approved.eq(true),
                    tasks::run_after.eq(now),
                    tasks::status_reason.eq(Some(format!("removal approved by {by}"))),
                    tasks::updated_at.eq(now),
                ))
                .execute(conn)?;
        } else {
            diesel::update(tasks::table.filter(tasks::seq.eq(t.seq)))
                .set((
                    tasks::status.eq(status::CANCELLED),
                    tasks::status_reason.eq(Some(format!("removal cancelled by {by}"))),
                    tasks::updated_at.eq(now),
                    tasks::finished_at.eq(Some(now)),
                ))
                .execute(conn)?;
        }
    }
    Ok(held.len())
}

/// Cancels a waiting or held task; false when it is in another state.
pub fn cancel(conn: &mut AnyConnection, seq: i64, by: &str, now: i64) -> StoreResult<bool> {
    let n = diesel::update(
        tasks::table
            .filter(tasks::seq.eq(seq))
            .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED, status::HELD])),
    )
    .set((
        tasks::status.eq(status::CANCELLED),
        tasks::status_reason.eq(Some(format!("cancelled by {by}"))),
        tasks::lease_until.eq(None::<i64>),
        tasks::updated_at.eq(now),
        tasks::finished_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Runs a failed or cancelled task again, with its attempts reset; a waiting twin (the same
/// person's reconcile, or the hub's sync) makes it unnecessary: false then, and when the task
/// is in another state.
pub fn retry(conn: &mut AnyConnection, task: &TaskRow, by: &str, now: i64) -> StoreResult<bool> {
    if ![status::FAILED, status::CANCELLED].contains(&task.status.as_str()) {
        return Ok(false);
    }
    let mut twins = tasks::table
        .filter(tasks::hub_seq.eq(task.hub_seq))
        .filter(tasks::kind.eq(task.kind.clone()))
        .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED, status::RUNNING]))
        .into_boxed();
    twins = match &task.user_id {
        Some(u) => twins.filter(tasks::user_id.eq(u.clone())),
        None => twins.filter(tasks::user_id.is_null()),
    };
    let twin: i64 = twins.count().get_result(conn)?;
    if twin > 0 {
        return Ok(false);
    }
    let n = diesel::update(tasks::table.filter(tasks::seq.eq(task.seq)))
        .set((
            tasks::status.eq(status::PENDING),
            tasks::attempts.eq(0),
            tasks::run_after.eq(now),
            tasks::triggered_by.eq("retry"),
            tasks::status_reason.eq(Some(format!("retried by {by}"))),
            tasks::finished_at.eq(None::<i64>),
            tasks::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Queues a `sync_hub` for every active hub whose last sync started more than its
/// `sync_interval_hours` ago (or that has none), unless one waits or runs. Safe on many
/// replicas at once: the unique index lets one sync per hub wait or run.
pub fn enqueue_due_syncs(conn: &mut AnyConnection, e: Enqueue<'_>) -> StoreResult<usize> {
    let sql = format!(
        "INSERT INTO tasks (id, hub_seq, kind, triggered_by, status, attempts, claims, \
         max_attempts, run_after, created_at, updated_at) \
         SELECT {}, h.seq, 'sync_hub', ?, 'pending', 0, 0, ?, ?, ?, ? FROM hubs h \
         WHERE h.status = 'active' AND NOT EXISTS (SELECT 1 FROM tasks t \
           WHERE t.hub_seq = h.seq AND t.kind = 'sync_hub' \
           AND (t.status IN ('pending', 'deferred', 'running') \
                OR t.created_at > ? - h.sync_interval_hours * 3600000000)) \
         ON CONFLICT DO NOTHING",
        new_id_sql(conn)
    );
    Ok(RawQuery::marked(
        &sql,
        e.binds().into_iter().chain([Lit::Int(e.now)]).collect(),
    )
    .execute(conn)?)
}

/// Cancels every waiting or held task of a hub (it was disconnected).
pub fn cancel_all(
    conn: &mut AnyConnection,
    hub_seq: i64,
    by: &str,
    now: i64,
) -> StoreResult<usize> {
    Ok(diesel::update(
        tasks::table
            .filter(tasks::hub_seq.eq(hub_seq))
            .filter(tasks::status.eq_any([status::PENDING, status::DEFERRED, status::HELD])),
    )
    .set((
        tasks::status.eq(status::CANCELLED),
        tasks::status_reason.eq(Some(format!("the hub was disconnected by {by}"))),
        tasks::updated_at.eq(now),
        tasks::finished_at.eq(Some(now)),
    ))
    .execute(conn)?)
}

/// Reconciles found by the writes of the SQLite writer's open group commit, inserted
/// together just before it commits (`store::writer` drives it; on PostgreSQL, and outside
/// the writer, nothing is open and enqueues insert at once).
///
/// Each write of a group commit runs in its own savepoint, so SQLite copies every page a
/// write touches into that savepoint's journal, and a task row touches the table and each
/// of its indexes. Here a write only *finds* the (hub, user) pairs, a read, and the commit
/// inserts them all in a few statements, still in the same transaction as the writes: both
/// commit, or neither. Measured, this saves little (docs/benchmarks.md, session 8): the
/// cost of queueing is the row and its index entries themselves, about 5 µs per task.
pub(super) mod batch {
    use std::cell::RefCell;

    use diesel::prelude::*;

    use super::super::sql::{Lit, RawQuery};
    use super::super::{AnyConnection, StoreResult};
    use super::Enqueue;

    struct Found {
        hub_seq: i64,
        user_id: String,
        triggered_by: String,
        max_attempts: i32,
        now: i64,
    }

    thread_local! {
        /// `Some` while this thread (the SQLite writer) has a group commit open.
        static FOUND: RefCell<Option<Vec<Found>>> = const { RefCell::new(None) };
    }

    /// A group commit starts on this thread.
    pub fn begin() {
        FOUND.with_borrow_mut(|f| *f = Some(Vec::new()));
    }

    /// It ended (committed or rolled back): nothing stays behind for the next one.
    pub fn end() {
        FOUND.with_borrow_mut(|f| *f = None);
    }

    pub(super) fn open() -> bool {
        FOUND.with_borrow(Option::is_some)
    }

    /// How many pairs were found so far: a write that fails gives back its own with
    /// [`undo_to`].
    pub fn mark() -> usize {
        FOUND.with_borrow(|f| f.as_ref().map_or(0, Vec::len))
    }

    /// Forgets the pairs found after `mark` (the write that found them was rolled back).
    pub fn undo_to(mark: usize) {
        FOUND.with_borrow_mut(|f| {
            if let Some(f) = f {
                f.truncate(mark);
            }
        });
    }

    #[derive(QueryableByName)]
    struct Pair {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        hub_seq: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
    }

    /// Finds the pairs `pairs` names on hubs that are not disconnected and keeps them for
    /// the commit. Returns how many it found (a pair waiting already is counted too).
    pub(super) fn find(
        conn: &mut AnyConnection,
        pairs: &str,
        binds: Vec<Lit>,
        e: Enqueue<'_>,
    ) -> StoreResult<usize> {
        let sql = format!(
            "SELECT x.hub_seq, x.user_id FROM ({pairs}) x JOIN hubs h ON h.seq = x.hub_seq \
             WHERE h.status <> 'disconnected'"
        );
        let found: Vec<Pair> = RawQuery::marked(&sql, binds).load(conn)?;
        let n = found.len();
        FOUND.with_borrow_mut(|f| {
            if let Some(f) = f {
                f.extend(found.into_iter().map(|p| Found {
                    hub_seq: p.hub_seq,
                    user_id: p.user_id,
                    triggered_by: e.triggered_by.to_string(),
                    max_attempts: e.max_attempts,
                    now: e.now,
                }));
            }
        });
        Ok(n)
    }

    /// Rows per insert: a few fixed statement shapes (each prepared once), largest first.
    const SHAPES: [usize; 3] = [32, 8, 1];

    /// Inserts what the open group commit found (a pair that has a waiting reconcile, or
    /// is named twice, is skipped by the one-waiting-reconcile index; a hub disconnected
    /// meanwhile is left out). Returns how many tasks were queued.
    pub fn flush(conn: &mut AnyConnection) -> StoreResult<usize> {
        let found = FOUND.with_borrow_mut(|f| f.as_mut().map(std::mem::take).unwrap_or_default());
        let mut queued = 0;
        let mut rest = &found[..];
        while !rest.is_empty() {
            let rows = SHAPES.into_iter().find(|&n| n <= rest.len()).unwrap_or(1);
            let (now, later) = rest.split_at(rows);
            queued += insert(conn, now)?;
            rest = later;
        }
        Ok(queued)
    }

    fn insert(conn: &mut AnyConnection, rows: &[Found]) -> StoreResult<usize> {
        let values = vec!["(?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
        let sql = format!(
            "INSERT INTO tasks (id, hub_seq, kind, user_id, triggered_by, status, attempts, \
             claims, max_attempts, run_after, created_at, updated_at) \
             SELECT v.column1, v.column2, 'reconcile_member', v.column3, v.column4, 'pending', \
             0, 0, v.column5, v.column6, v.column6, v.column6 \
             FROM (VALUES {values}) v JOIN hubs h ON h.seq = v.column2 \
             WHERE h.status <> 'disconnected' \
             ON CONFLICT DO NOTHING"
        );
        let mut binds = Vec::with_capacity(rows.len() * 6);
        for r in rows {
            binds.extend([
                // The shape of `new_id_sql`'s ids: 32 hex digits, time first.
                Lit::Text(uuid::Uuid::now_v7().simple().to_string()),
                Lit::Int(r.hub_seq),
                Lit::Text(r.user_id.clone()),
                Lit::Text(r.triggered_by.clone()),
                Lit::Int(r.max_attempts.into()),
                Lit::Int(r.now),
            ]);
        }
        Ok(RawQuery::marked(&sql, binds).execute(conn)?)
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::store::{test_sqlite, users, Store, StoreError};

    /// A user, granted something on hub `hub_seq` directly; returns (seq, id).
    fn granted_user(c: &mut AnyConnection, hub_seq: i64, name: &str) -> (i64, String) {
        let cols = users::UserColumns {
            user_name: name.into(),
            user_name_ci: name.into(),
            active: true,
            ..Default::default()
        };
        let id = format!("user-{name}");
        let seq = users::insert(c, &id, &cols, "{}", &[], 1)
            .expect("user")
            .seq;
        c.batch_execute(&format!(
            "INSERT INTO grants (id, hub_seq, user_seq, hub_role, business_role, assets, \
             created_at, updated_at) VALUES ('grant-{name}', {hub_seq}, {seq}, 'collaborator', \
             'EMPLOYEE', '[]', 1, 1)"
        ))
        .expect("grant");
        (seq, id)
    }

    fn waiting(store: &Store) -> Vec<(String, String)> {
        store
            .read_blocking(|c| {
                Ok(tasks::table
                    .filter(tasks::status.eq(status::PENDING))
                    .order(tasks::seq.asc())
                    .select((tasks::user_id.assume_not_null(), tasks::id))
                    .load::<(String, String)>(c)?)
            })
            .expect("read")
    }

    /// On SQLite, the reconciles a write queues are inserted at its group commit: they are
    /// there once the write is answered, a write that fails takes its own with it, a pair
    /// queued twice in one commit is one task, and a hub disconnected before the commit gets
    /// none.
    #[test]
    fn reconciles_queued_through_the_writer_commit_with_their_writes_and_only_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = test_sqlite(&dir, 2);
        let people = store
            .write_blocking(|c| -> StoreResult<_> {
                active_hubs(c, &["hub-a", "hub-b"])?;
                let a = hubs_seq(c, "hub-a")?;
                let b = hubs_seq(c, "hub-b")?;
                Ok([
                    granted_user(c, a, "ada"),
                    granted_user(c, a, "bob"),
                    granted_user(c, b, "cy"),
                ])
            })
            .expect("setup");
        let e = Enqueue {
            triggered_by: "scim",
            max_attempts: 5,
            now: 10,
        };
        let [(ada_seq, ada), (bob_seq, bob), (cy_seq, cy)] = people;
        let ada2 = ada.clone();
        let queued = store
            .write_blocking(move |c| -> StoreResult<usize> {
                // Found, not yet inserted: the commit inserts them.
                let n = enqueue_for_user(c, ada_seq, &ada2, e)?;
                assert!(batch::open(), "the writer has a group commit open");
                assert_eq!(count(c)?, 0, "inserted at the commit, not before");
                Ok(n + enqueue_for_user(c, ada_seq, &ada2, e)?)
            })
            .expect("write");
        assert_eq!(queued, 2, "found twice");
        let tasks = waiting(&store);
        assert_eq!(
            tasks.len(),
            1,
            "one waiting reconcile for a pair found twice: {tasks:?}"
        );
        assert_eq!(tasks[0].0, ada);
        assert!(
            tasks[0].1.len() == 32 && tasks[0].1.chars().all(|c| c.is_ascii_hexdigit()),
            "the id has the shape of the other task ids: {}",
            tasks[0].1
        );
        // A write that fails after finding its pair takes it with it.
        let failed = store.write_blocking(move |c| -> StoreResult<()> {
            enqueue_for_user(c, bob_seq, &bob, e)?;
            Err(StoreError::Conflict("userName"))
        });
        assert!(failed.is_err());
        // A hub disconnected later in the same commit gets nothing: the insert checks.
        store
            .write_blocking(move |c| -> StoreResult<()> {
                enqueue_for_user(c, cy_seq, &cy, e)?;
                c.batch_execute("UPDATE hubs SET status = 'disconnected' WHERE id = 'hub-b'")?;
                Ok(())
            })
            .expect("write");
        assert_eq!(waiting(&store).len(), 1, "{:?}", waiting(&store));
        // Outside the writer (PostgreSQL's path, and the CLI's), enqueues insert at once.
        let direct = store
            .read_blocking(move |c| {
                assert!(!batch::open());
                let n = enqueue_for_user(c, ada_seq, "user-ada", e)?;
                Ok((n, count(c)?))
            })
            .expect("direct");
        assert_eq!(direct, (0, 1), "ada waits already: nothing more queued");
    }

    /// A claim and the idle workers' probe walk the partial index of their candidates, in
    /// the claim's order, whatever the hub's history holds: with SQLite's own choice the
    /// claim sorted every task the hub ever had (9 ms a claim at 10,000 tasks). Also checks
    /// that the claim still takes the earliest due task past a long finished history.
    #[test]
    fn claims_walk_the_ready_and_leased_indexes_not_the_hubs_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = test_sqlite(&dir, 2);
        let (plans, claimed, due) = store
            .write_blocking(|c| -> StoreResult<_> {
                active_hubs(c, &["hub-a"])?;
                let hub = hubs_seq(c, "hub-a")?;
                // 2,000 finished tasks, then three waiting ones (one not yet due).
                let mut values = Vec::new();
                for i in 0..2_003 {
                    let (status, run_after) = match i {
                        2_000 => ("pending", 50),
                        2_001 => ("deferred", 40),
                        2_002 => ("pending", 1_000),
                        _ => ("completed", 0),
                    };
                    values.push((hub, format!("t{i}"), status, run_after));
                }
                insert_tasks(c, &values)?;
                let mut plans = Vec::new();
                for half in [Half::Leased, Half::Ready] {
                    plans.push(plan(c, &claim_sql(c, half), 5)?);
                }
                let due = any_due(c, 100)?;
                let claimed = claim(c, 100, 200, 1)?;
                Ok((plans, claimed, due))
            })
            .expect("claim");
        let [leased, ready] = &plans[..] else {
            panic!("{plans:?}")
        };
        assert!(leased.contains("USING INDEX tasks_leased"), "{leased}");
        assert!(ready.contains("USING INDEX tasks_ready"), "{ready}");
        assert!(
            !ready.contains("TEMP B-TREE"),
            "sorted, not walked: {ready}"
        );
        assert!(due, "two tasks are due");
        assert_eq!(
            claimed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["t2001"],
            "the earliest due task"
        );
        assert_eq!(claimed[0].status, "running");
    }

    /// SQLite's plan for `sql` (its `?`s bound to 100), one line.
    fn plan(c: &mut AnyConnection, sql: &str, binds: usize) -> StoreResult<String> {
        #[derive(QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let binds = (0..binds).map(|_| Lit::Int(100)).collect();
        let rows: Vec<Plan> =
            RawQuery::marked(&format!("EXPLAIN QUERY PLAN {sql}"), binds).load(c)?;
        Ok(rows
            .into_iter()
            .map(|p| p.detail)
            .collect::<Vec<_>>()
            .join(" | "))
    }

    /// A hub's open-task counts read the partial indexes of what is open, not the hub's
    /// history, and count each status where it belongs.
    #[test]
    fn hub_counts_read_what_is_open_not_the_hubs_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = test_sqlite(&dir, 2);
        let (counts, plan) = store
            .write_blocking(|c| -> StoreResult<_> {
                active_hubs(c, &["hub-a", "hub-b"])?;
                let (a, b) = (hubs_seq(c, "hub-a")?, hubs_seq(c, "hub-b")?);
                let mut values = Vec::new();
                let statuses = [
                    (a, "completed", 500),
                    (a, "cancelled", 20),
                    (a, "pending", 3),
                    (a, "deferred", 2),
                    (a, "running", 1),
                    (a, "held", 4),
                    (a, "failed", 5),
                    (b, "pending", 7),
                    (b, "failed", 9),
                ];
                for (hub, status, n) in statuses {
                    for i in 0..n {
                        values.push((hub, format!("{hub}-{status}-{i}"), status, 1));
                    }
                }
                insert_tasks(c, &values)?;
                Ok((
                    crate::store::hubs::counts(c, a)?,
                    plan(c, crate::store::hubs::COUNTS_SQLITE, 3)?,
                ))
            })
            .expect("counts");
        assert_eq!(
            (counts.pending_tasks, counts.failed_tasks),
            (3 + 2 + 1 + 4, 5)
        );
        for index in ["tasks_ready", "tasks_leased", "tasks_attention"] {
            assert!(plan.contains(&format!("INDEX {index}")), "{plan}");
        }
        assert!(!plan.contains("tasks_by_hub"), "{plan}");
    }

    /// Inserts reconciles `(hub_seq, id, status, run_after)`, each for a user named by its id.
    fn insert_tasks(c: &mut AnyConnection, rows: &[(i64, String, &str, i64)]) -> StoreResult<()> {
        let values: Vec<String> = rows
            .iter()
            .map(|(hub, id, status, run_after)| {
                format!(
                    "('{id}', {hub}, 'reconcile_member', 'u-{id}', 'test', '{status}', 0, 0, 5, \
                     {run_after}, 1, 1)"
                )
            })
            .collect();
        c.batch_execute(&format!(
            "INSERT INTO tasks (id, hub_seq, kind, user_id, triggered_by, status, attempts, \
             claims, max_attempts, run_after, created_at, updated_at) VALUES {}",
            values.join(", ")
        ))?;
        Ok(())
    }

    /// Inserts active hubs with these ids.
    fn active_hubs(c: &mut AnyConnection, ids: &[&str]) -> StoreResult<()> {
        let rows: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "('{id}', '{id}', 'b-{id}', '{id}', 'app', 'system_user', 'active', 'o', \
                     x'00', 20, 60, 24, 1, 1)"
                )
            })
            .collect();
        c.batch_execute(&format!(
            "INSERT INTO hubs (id, label, business_id, business_name, app_id, login_method, \
             status, owner, access_token, safeguard_percent, safeguard_window_minutes, \
             sync_interval_hours, created_at, updated_at) VALUES {}",
            rows.join(", ")
        ))?;
        Ok(())
    }

    fn hubs_seq(c: &mut AnyConnection, id: &str) -> StoreResult<i64> {
        use crate::store::schema::hubs;
        Ok(hubs::table
            .filter(hubs::id.eq(id))
            .select(hubs::seq)
            .first(c)?)
    }

    fn count(c: &mut AnyConnection) -> StoreResult<i64> {
        Ok(tasks::table.count().get_result(c)?)
    }
}
