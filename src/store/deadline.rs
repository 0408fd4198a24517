//! Statement time limits: `database.statement_timeout_ms`.
//!
//! PostgreSQL enforces it itself (`SET statement_timeout` on every pooled connection).
//! SQLite has no such setting, and its progress handler is out of reach through diesel
//! without `unsafe`. So every list and count query on SQLite carries `hb_in_time()` as the
//! first term of its `WHERE` clause: a function of ours, evaluated per row before the
//! filter, that turns false once the read's deadline has passed. From then on every row is
//! rejected without evaluating the filter, the statement ends within a cheap scan, and the
//! read reports [`StoreError::Timeout`](super::StoreError::Timeout) instead of its (partial)
//! rows. Point reads by id use an index and are not limited.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

/// The SQL function's name, as written into queries.
pub const IN_TIME: &str = "hb_in_time()";

/// The body of `hb_in_time()`: true until the current read's deadline (the clock is read
/// every 64 rows).
pub fn in_time() -> bool {
    if EXPIRED.get() {
        return false;
    }
    let calls = CALLS.get().wrapping_add(1);
    CALLS.set(calls);
    if !calls.is_multiple_of(64) {
        return true;
    }
    match DEADLINE.get() {
        Some(d) if Instant::now() >= d => {
            EXPIRED.set(true);
            false
        }
        _ => true,
    }
}

/// Runs `f` (on this thread) under a deadline `limit` from now; returns its result and
/// whether `hb_in_time()` cut a statement short.
pub fn run<T>(limit: Duration, f: impl FnOnce() -> T) -> (T, bool) {
    DEADLINE.set(Instant::now().checked_add(limit));
    EXPIRED.set(false);
    CALLS.set(0);
    let out = f();
    let expired = EXPIRED.get();
    DEADLINE.set(None);
    EXPIRED.set(false);
    (out, expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_false_after_the_deadline_and_only_inside_run() {
        let (rows, expired) = run(Duration::from_millis(20), || {
            let start = Instant::now();
            let mut rows = 0u64;
            while in_time() {
                rows += 1;
                assert!(start.elapsed() < Duration::from_secs(5), "never expired");
            }
            rows
        });
        assert!(expired && rows > 0);
        let (_, expired) = run(Duration::from_secs(60), || (0..1000).all(|_| in_time()));
        assert!(!expired);
        // The clock is read every 64 rows: a deadline already passed stops the 64th.
        let (first, expired) = run(Duration::ZERO, || {
            let first: Vec<bool> = (0..64).map(|_| in_time()).collect();
            first
        });
        assert!(first[..63].iter().all(|ok| *ok) && !first[63] && expired);
        // Outside a run (the writer thread) it never expires.
        assert!((0..1000).all(|_| in_time()));
    }
}
