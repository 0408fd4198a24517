//! The engine: workers that claim tasks from the durable queue (`store::tasks`), run them
//! against Meta, and record the outcome. See docs/engine.md.
//!
//! A worker claims one task at a time with a lease of `engine.lease_secs`, renews the lease
//! while the task runs (a third of the lease), and records the outcome under its claim
//! number; a worker whose lease was taken over stops acting as soon as its heartbeat is
//! refused. On shutdown a worker stops claiming, and gives a task it is running back (the
//! next attempt re-reads the person in Meta before acting, so an interrupted call is not
//! repeated blindly).

mod give_way;
mod reconcile;
mod sync;

pub use give_way::{InFlight, ScimLoad};

pub use reconcile::{grant_of, granting, preview, GrantEdit, Preview};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::EngineSettings;
use crate::crypto::SecretBox;
use crate::meta::GraphClient;
use crate::store::tasks::{self, Outcome, TaskRow};
use crate::store::{now_micros, Store};

/// Timings (`engine.poll_ms`, `engine.retry_base_ms`, `engine.retry_cap_secs`).
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How long an idle worker waits before it looks for due tasks again.
    pub poll: Duration,
    /// First retry delay after a failure; doubles per attempt, with full jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    graph: GraphClient,
    secrets: Option<Arc<SecretBox>>,
    settings: EngineSettings,
    tuning: Tuning,
    load: ScimLoad,
    stop: watch::Sender<bool>,
}

impl Engine {
    /// `secrets`: from `crypto.key`; without it tasks that need a hub's token fail with a
    /// message naming the setting. `load`: the SCIM requests in flight, which the workers
    /// give way to (`engine.give_way_at`).
    pub fn new(
        store: Store,
        graph: GraphClient,
        secrets: Option<Arc<SecretBox>>,
        settings: EngineSettings,
        tuning: Tuning,
        load: ScimLoad,
    ) -> Engine {
        let (stop, _) = watch::channel(false);
        Engine {
            inner: Arc::new(Inner {
                store,
                graph,
                secrets,
                settings,
                tuning,
                load,
                stop,
            }),
        }
    }

    /// Starts `engine.workers` workers on the current runtime, and (with any workers) the
    /// scheduler that queues each hub's periodic sync.
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles: Vec<_> = (0..self.inner.settings.workers)
            .map(|n| {
                let engine = self.clone();
                tokio::spawn(async move { engine.work(n).await })
            })
            .collect();
        if self.inner.settings.workers > 0 {
            let engine = self.clone();
            handles.push(tokio::spawn(async move { engine.schedule().await }));
        }
        handles
    }

    /// Every minute: queue the syncs that are due.
    async fn schedule(&self) {
        let mut stop = self.inner.stop.subscribe();
        while !*stop.borrow() {
            match self.schedule_due().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(syncs = n, "scheduled hub syncs"),
                Err(e) => tracing::warn!(error = %e, "cannot schedule hub syncs"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Queues a sync for every active hub whose `sync_interval_hours` have passed since its
    /// last one. Returns how many were queued.
    pub async fn schedule_due(&self) -> Result<usize, crate::store::StoreError> {
        let max_attempts = i32::try_from(self.inner.settings.max_attempts).unwrap_or(i32::MAX);
        self.inner
            .store
            .write(move |c| {
                tasks::enqueue_due_syncs(
                    c,
                    tasks::Enqueue {
                        triggered_by: "schedule",
                        max_attempts,
                        now: now_micros(),
                    },
                )
            })
            .await
    }

    /// Asks the workers to stop: no new claims; a running task is given back.
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }

    async fn work(&self, n: usize) {
        let mut stop = self.inner.stop.subscribe();
        tracing::debug!(worker = n, "engine worker started");
        let (at, max) = (
            self.inner.settings.give_way_at,
            Duration::from_millis(self.inner.settings.give_way_max_ms),
        );
        while !*stop.borrow() {
            give_way::give_way(&self.inner.load, at, max).await;
            match self.claim_one().await {
                Ok(Some(task)) => {
                    tokio::select! {
                        () = self.run(task.clone()) => {}
                        _ = stop.changed() => {
                            let (store, id) = (self.inner.store.clone(), task.id.clone());
                            let given_back = store
                                .write(move |c| tasks::release(c, &task, now_micros()))
                                .await;
                            tracing::info!(task.id = %id, ?given_back, "task given back at shutdown");
                        }
                    }
                }
                Ok(None) => {
                    // Idle: look for due work with reads (no trip through SQLite's one
                    // writer) until some appears, then claim again.
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(self.inner.tuning.poll) => {}
                            _ = stop.changed() => break,
                        }
                        let now = now_micros();
                        match self.inner.store.read(move |c| tasks::any_due(c, now)).await {
                            Ok(false) => {}
                            Ok(true) | Err(_) => break,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim tasks; retrying");
                    tokio::time::sleep(self.inner.tuning.poll * 4).await;
                }
            }
        }
        tracing::debug!(worker = n, "engine worker stopped");
    }

    async fn claim_one(&self) -> Result<Option<TaskRow>, crate::store::StoreError> {
        let lease = self.lease();
        let mut claimed = self
            .inner
            .store
            .write(move |c| {
                let now = now_micros();
                tasks::claim(c, now, now + lease, 1)
            })
            .await?;
        Ok(claimed.pop())
    }

    fn lease(&self) -> i64 {
        i64::try_from(self.inner.settings.lease_secs)
            .unwrap_or(i64::MAX / 2_000_000)
            .saturating_mul(1_000_000)
    }

    /// Runs every task that is due now, one at a time, until none is (tests, `demo`).
    /// Returns the tasks run.
    pub async fn run_due(&self) -> Result<Vec<TaskRow>, crate::store::StoreError> {
        let mut ran = Vec::new();
        while let Some(task) = self.claim_one().await? {
            self.run(task.clone()).await;
            ran.push(task);
        }
        Ok(ran)
    }

    /// Runs a claimed task with a heartbeat, then records its outcome under its claim.
    async fn run(&self, task: TaskRow) {
        use tracing::Instrument;
        let span = tracing::info_span!("task", task.id = %task.id, task.kind = %task.kind, attempt = task.attempts);
        self.run_in_span(task).instrument(span).await
    }

    async fn run_in_span(&self, task: TaskRow) {
        let work = self.execute(&task);
        tokio::pin!(work);
        let every = Duration::from_micros(u64::try_from(self.lease() / 3).unwrap_or(1_000_000));
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = beat.tick() => {
                    let (seq, claim, until) = (task.seq, task.claims, now_micros() + self.lease());
                    let kept = self.inner.store
                        .write(move |c| tasks::heartbeat(c, seq, claim, until))
                        .await;
                    if matches!(kept, Ok(false)) {
                        tracing::warn!("lease taken over by another worker; this attempt stops");
                        return;
                    }
                }
            }
        };
        tracing::info!(outcome = ?outcome, "task attempt ended");
        let recorded = {
            let task = task.clone();
            self.inner
                .store
                .write(move |c| tasks::finish(c, &task, &outcome, now_micros()))
                .await
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!("outcome not recorded: the task was taken over"),
            Err(e) => tracing::error!(error = %e, "outcome not recorded; the lease will expire"),
        }
    }

    async fn execute(&self, task: &TaskRow) -> Outcome {
        match task.kind.as_str() {
            tasks::RECONCILE_MEMBER => reconcile::run(self, task).await,
            tasks::SYNC_HUB => sync::run(self, task).await,
            tasks::REMOVE_MEMBER => reconcile::remove(self, task).await,
            other => Outcome::Failed {
                reason: format!("task kind {other:?} is not known to this version"),
                error: None,
            },
        }
    }

    /// When to retry after attempt `attempts` failed, or `None` when attempts are used up.
    fn retry_at(&self, task: &TaskRow) -> Option<i64> {
        if task.attempts >= task.max_attempts {
            return None;
        }
        let t = &self.inner.tuning;
        let exp = t
            .retry_base
            .saturating_mul(1u32 << task.attempts.clamp(0, 20))
            .min(t.retry_cap);
        // Full jitter: anywhere between nothing and the exponential delay.
        let jitter = rand::random::<f64>();
        let delay = Duration::from_secs_f64(exp.as_secs_f64() * jitter);
        Some(now_micros() + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2))
    }
}
