//! The engine gives way to the IdP: while SCIM requests crowd the server, workers wait a
//! little before claiming more work, so a burst of pushes gets the core and SQLite's one
//! writer first. Meta's rate limit paces the engine anyway, and a rolling window's unused
//! budget is still there a moment later, so convergence loses next to nothing.
//!
//! Bounded: a worker waits at most `engine.give_way_max_ms` per claim, so under a push that
//! never ends the engine still runs (at least one task per worker per that time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many SCIM requests are being served right now.
#[derive(Debug, Clone, Default)]
pub struct ScimLoad(Arc<AtomicUsize>);

/// Counts one SCIM request while it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ScimLoad {
    pub fn enter(&self) -> InFlight {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlight(self.0.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// How often a waiting worker looks at the load again.
const LOOK_EVERY: Duration = Duration::from_millis(5);

/// Waits while at least `at` SCIM requests are in flight (never when `at` is 0), at most
/// `max`. Returns how long it waited.
pub async fn give_way(load: &ScimLoad, at: usize, max: Duration) -> Duration {
    let started = tokio::time::Instant::now();
    if at == 0 {
        return Duration::ZERO;
    }
    while load.in_flight() >= at {
        let waited = started.elapsed();
        if waited >= max {
            break;
        }
        tokio::time::sleep(LOOK_EVERY.min(max - waited)).await;
    }
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_while_crowded_and_never_longer_than_its_bound() {
        let load = ScimLoad::default();
        let max = Duration::from_millis(200);
        assert_eq!(give_way(&load, 4, max).await, Duration::ZERO, "idle");
        let held: Vec<_> = (0..4).map(|_| load.enter()).collect();
        assert_eq!(load.in_flight(), 4);
        assert_eq!(give_way(&load, 0, max).await, Duration::ZERO, "0: never");
        assert_eq!(give_way(&load, 5, max).await, Duration::ZERO, "below");
        assert_eq!(give_way(&load, 4, max).await, max, "crowded: the bound");
        // The push ends meanwhile: the worker goes on at once.
        let waiting = tokio::spawn({
            let load = load.clone();
            async move { give_way(&load, 4, max).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert_eq!(load.in_flight(), 0);
        let waited = waiting.await.unwrap();
        assert!(
            waited >= Duration::from_millis(50) && waited <= Duration::from_millis(55),
            "{waited:?}"
        );
    }
}
