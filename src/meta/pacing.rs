//! Client-side pacing per rate-limit bucket (reference 8.3): learn each bucket's budget from
//! the usage headers, keep this client's calls inside it, and stop calling a bucket Meta has
//! throttled until the estimated time to regain access has passed.
//!
//! Buckets: `app@<token key>` (`X-App-Usage`), `buc:<object id>` (one per business object
//! named in `X-Business-Use-Case-Usage`, learnt per token from the responses it gets) and
//! `act:<id>` (`X-Ad-Account-Usage`, for calls on an ad account).
//!
//! The budget estimate: a header saying `u` % while at least `L` of our calls sit in the
//! rolling window proves the budget exceeds `100·L/(u+1)` calls (whatever Meta's rounding). `L`
//! counts only calls whose answers arrived before this call was sent and that cannot yet have
//! left Meta's window, so concurrency and other clients only make the bound lower. The largest
//! bound seen in the window is the estimate; calls are then admitted while fewer than
//! `target_usage`% of it still count, otherwise the caller sleeps until enough stop counting.
//! A call counts until one window after its answer arrived (Meta counted it at some moment
//! before that, so it has surely left Meta's window by then), or, if never answered,
//! until one window plus the request timeout after it was sent.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::{GraphError, ThrottleScope};
use super::usage::UsageReport;

/// Pacing settings (thresholds are hubbridge's choice; reference 8.3 step 2).
#[derive(Debug, Clone)]
pub struct PacingConfig {
    pub enabled: bool,
    /// Meta's rolling window (one hour).
    pub window: Duration,
    /// Without a budget estimate: above this usage (%) space calls out.
    pub slow_down_at: f64,
    /// Share (%) of the estimated budget this client uses per window; also, without an
    /// estimate, the usage at which it stops.
    pub target_usage: f64,
    /// A pacing wait longer than this is returned as `GraphError::Throttled` instead of slept.
    pub max_wait: Duration,
    /// First wait after a throttle error whose response gave no estimate; doubles per repeat.
    pub throttle_floor: Duration,
    pub max_backoff: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            enabled: true,
            window: Duration::from_secs(3600),
            slow_down_at: 75.0,
            target_usage: 95.0,
            max_wait: Duration::from_secs(60),
            throttle_floor: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

struct Stamp {
    id: u64,
    sent: Instant,
    done: Option<Instant>,
}

#[derive(Default)]
struct Bucket {
    calls: VecDeque<Stamp>,
    usage: f64,
    seen: Option<Instant>,
    estimates: VecDeque<(Instant, f64)>,
    pause_until: Option<Instant>,
    blocked_until: Option<Instant>,
    streak: u32,
}

enum Verdict {
    Go,
    Wait(Duration),
    Blocked(Duration),
}

impl Bucket {
    /// When a call stops counting against the window: `window` after its answer arrived (Meta
    /// counted it at some moment before that), or — for a call never answered, e.g. cancelled —
    /// `window + stale` after it was sent.
    fn expiry(c: &Stamp, window: Duration, stale: Duration) -> Instant {
        match c.done {
            Some(d) => d + window,
            None => c.sent + window + stale,
        }
    }

    fn prune(&mut self, now: Instant, window: Duration, stale: Duration) {
        self.calls.retain(|c| Self::expiry(c, window, stale) > now);
        while self
            .estimates
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= window)
        {
            self.estimates.pop_front();
        }
        if self
            .seen
            .is_some_and(|s| now.saturating_duration_since(s) >= window)
        {
            self.seen = None;
            self.usage = 0.0;
        }
    }

    fn estimate(&self) -> Option<f64> {
        self.estimates.iter().map(|(_, e)| *e).reduce(f64::max)
    }

    fn verdict(&mut self, now: Instant, cfg: &PacingConfig, stale: Duration) -> Verdict {
        self.prune(now, cfg.window, stale);
        if let Some(b) = self.blocked_until.filter(|b| *b > now) {
            return Verdict::Blocked(b - now);
        }
        let mut wait = self
            .pause_until
            .map(|p| p.saturating_duration_since(now))
            .unwrap_or_default();
        if let Some(n) = self.estimate() {
            let limit = ((n * cfg.target_usage / 100.0).floor() as usize).max(1);
            if self.calls.len() >= limit {
                // Room appears when the (len - limit + 1)-th earliest expiry passes.
                let mut expiries: Vec<Instant> = self
                    .calls
                    .iter()
                    .map(|c| Self::expiry(c, cfg.window, stale))
                    .collect();
                let k = self.calls.len() - limit;
                let (_, kth, _) = expiries.select_nth_unstable(k);
                wait = wait.max(kth.saturating_duration_since(now));
            }
        } else if let Some(seen) = self.seen {
            if self.usage >= cfg.target_usage {
                wait = wait.max((seen + cfg.window / 20).saturating_duration_since(now));
            } else if self.usage >= cfg.slow_down_at {
                if let Some(last) = self.calls.back() {
                    wait = wait.max((last.sent + cfg.window / 100).saturating_duration_since(now));
                }
            }
        }
        if wait.is_zero() {
            Verdict::Go
        } else {
            Verdict::Wait(wait)
        }
    }

    /// Records what a response said about this bucket; `sent` is when that call was sent.
    fn observe(&mut self, usage: f64, sent: Instant, recv: Instant, window: Duration) {
        self.usage = usage;
        self.seen = Some(recv);
        self.streak = 0;
        let proven = self
            .calls
            .iter()
            .filter(|c| c.done.is_some_and(|d| d <= sent) && c.sent + window > recv)
            .count()
            + 1;
        self.estimates
            .push_back((recv, proven as f64 * 100.0 / (usage.floor() + 1.0)));
    }

    fn ensure(&mut self, id: u64, sent: Instant) {
        if self.calls.iter().any(|c| c.id == id) {
            return;
        }
        let pos = self.calls.partition_point(|c| c.sent <= sent);
        self.calls.insert(
            pos,
            Stamp {
                id,
                sent,
                done: None,
            },
        );
    }
}

/// A call admitted by the pacer; hand it back with what the response said.
pub(crate) struct Ticket {
    id: u64,
    token: String,
    keys: Vec<String>,
    sent: Instant,
    node: Option<String>,
    ad_account: Option<String>,
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    /// Every bucket a token's responses named.
    token_buckets: HashMap<String, BTreeSet<String>>,
    /// The buckets responses about one node (the first path segment) named.
    node_buckets: HashMap<String, BTreeSet<String>>,
}

impl State {
    fn learn(&mut self, ticket: &Ticket, key: &str) {
        self.token_buckets
            .entry(ticket.token.clone())
            .or_default()
            .insert(key.to_string());
        if let Some(n) = &ticket.node {
            self.node_buckets
                .entry(n.clone())
                .or_default()
                .insert(key.to_string());
        }
    }
}

pub(crate) struct Pacer {
    cfg: PacingConfig,
    /// How long an unanswered call may still be in flight (the request timeout).
    stale: Duration,
    state: Mutex<State>,
    seq: AtomicU64,
}

fn scope_of(key: &str) -> ThrottleScope {
    if key.starts_with("app@") {
        ThrottleScope::App
    } else {
        let id = key.split_once(':').map(|(_, id)| id).unwrap_or(key);
        ThrottleScope::Business(id.to_string())
    }
}

impl Pacer {
    pub fn new(cfg: PacingConfig, request_timeout: Duration) -> Pacer {
        Pacer {
            cfg,
            stale: request_timeout,
            state: Mutex::new(State::default()),
            seq: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The buckets a call counts against: the app's, the ones earlier calls on the same node
    /// were counted in — or, for a node not seen yet, every bucket of the token (cautious) —
    /// and the token-wide block, if any.
    fn keys(
        state: &State,
        token: &str,
        node: Option<&str>,
        ad_account: Option<&str>,
    ) -> Vec<String> {
        let mut keys = vec![format!("app@{token}")];
        let of_token = state.token_buckets.get(token);
        match node.and_then(|n| state.node_buckets.get(n)) {
            Some(set) => {
                keys.extend(set.iter().cloned());
                keys.extend(
                    of_token
                        .into_iter()
                        .flatten()
                        .filter(|k| k.starts_with("tok:"))
                        .cloned(),
                );
            }
            None => keys.extend(of_token.into_iter().flatten().cloned()),
        }
        if let Some(a) = ad_account {
            keys.push(format!("act:{a}"));
        }
        keys
    }

    /// Waits until every bucket this call counts against has room; a throttled bucket, or a
    /// wait longer than `max_wait`, is returned as `GraphError::Throttled` without calling.
    pub async fn acquire(
        &self,
        token: &str,
        node: Option<&str>,
        ad_account: Option<&str>,
    ) -> Result<Ticket, GraphError> {
        loop {
            let now = Instant::now();
            let wait = {
                let mut st = self.lock();
                let keys = Self::keys(&st, token, node, ad_account);
                let mut wait = Duration::ZERO;
                let mut wait_key = None;
                if self.cfg.enabled {
                    for k in &keys {
                        match st
                            .buckets
                            .entry(k.clone())
                            .or_default()
                            .verdict(now, &self.cfg, self.stale)
                        {
                            Verdict::Go => {}
                            Verdict::Wait(d) => {
                                if d > wait {
                                    wait = d;
                                    wait_key = Some(k.clone());
                                }
                            }
                            Verdict::Blocked(d) => {
                                return Err(GraphError::Throttled {
                                    scope: scope_of(k),
                                    retry_after: d,
                                    meta: None,
                                });
                            }
                        }
                    }
                }
                if wait.is_zero() {
                    let id = self.seq.fetch_add(1, Ordering::Relaxed);
                    for k in &keys {
                        st.buckets.entry(k.clone()).or_default().ensure(id, now);
                    }
                    return Ok(Ticket {
                        id,
                        token: token.to_string(),
                        keys,
                        sent: now,
                        node: node.map(str::to_string),
                        ad_account: ad_account.map(str::to_string),
                    });
                }
                if wait > self.cfg.max_wait {
                    return Err(GraphError::Throttled {
                        scope: wait_key
                            .as_deref()
                            .map(scope_of)
                            .unwrap_or(ThrottleScope::Token),
                        retry_after: wait,
                        meta: None,
                    });
                }
                wait
            };
            tracing::trace!(
                pacing.wait_ms = wait.as_millis() as u64,
                "pacing Graph calls"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Records a finished call and what its usage headers said.
    pub fn complete(&self, ticket: &Ticket, report: &UsageReport) {
        let recv = Instant::now();
        let window = self.cfg.window;
        let mut st = self.lock();
        for k in &ticket.keys {
            if let Some(b) = st.buckets.get_mut(k) {
                if let Some(c) = b.calls.iter_mut().find(|c| c.id == ticket.id) {
                    c.done = Some(recv);
                }
            }
        }
        let observe = |st: &mut State, key: String, usage: f64, pause: Option<Duration>| {
            let b = st.buckets.entry(key).or_default();
            b.ensure(ticket.id, ticket.sent);
            if let Some(c) = b.calls.iter_mut().find(|c| c.id == ticket.id) {
                c.done = Some(recv);
            }
            b.observe(usage, ticket.sent, recv, window);
            if let Some(p) = pause {
                let until = recv + p;
                b.pause_until = Some(b.pause_until.map_or(until, |u| u.max(until)));
            }
        };
        if let Some(app) = report.app {
            observe(&mut st, format!("app@{}", ticket.token), app, None);
        }
        for e in &report.business {
            let key = format!("buc:{}", e.object_id);
            st.learn(ticket, &key);
            observe(&mut st, key, e.usage, e.regain_after);
        }
        if let (Some(ad), Some(id)) = (&report.ad_account, &ticket.ad_account) {
            let pause = if ad.usage >= 100.0 {
                ad.reset_after
            } else {
                None
            };
            observe(&mut st, format!("act:{id}"), ad.usage, pause);
        }
    }

    /// Stops the buckets a throttle error names until `explicit` (from the headers) or a
    /// jittered, doubling floor has passed; returns the wait applied.
    pub fn throttled(
        &self,
        ticket: &Ticket,
        scope: &ThrottleScope,
        explicit: Option<Duration>,
        floor: Duration,
    ) -> Duration {
        let now = Instant::now();
        let mut st = self.lock();
        let keys: Vec<String> = match scope {
            ThrottleScope::App => vec![format!("app@{}", ticket.token)],
            ThrottleScope::Business(id) => {
                let key = if id.starts_with("act_") && ticket.ad_account.as_deref() == Some(id) {
                    format!("act:{id}")
                } else {
                    format!("buc:{id}")
                };
                st.learn(ticket, &key);
                vec![key]
            }
            ThrottleScope::Token => ticket
                .keys
                .iter()
                .filter(|k| !k.starts_with("app@"))
                .cloned()
                .chain(std::iter::once(format!("tok:{}", ticket.token)))
                .collect(),
        };
        if matches!(scope, ThrottleScope::Token) {
            st.token_buckets
                .entry(ticket.token.clone())
                .or_default()
                .insert(format!("tok:{}", ticket.token));
        }
        let streak = keys
            .iter()
            .filter_map(|k| st.buckets.get(k).map(|b| b.streak))
            .max()
            .unwrap_or(0);
        let wait = explicit.unwrap_or_else(|| {
            use rand::Rng as _;
            let base = floor
                .saturating_mul(1u32 << streak.min(6))
                .min(self.cfg.max_backoff.max(floor));
            base.mul_f64(rand::rng().random_range(1.0..1.25))
        });
        for k in keys {
            let b = st.buckets.entry(k).or_default();
            b.blocked_until = Some(now + wait);
            b.streak = b.streak.saturating_add(1);
            // The budget may have changed: learn it again.
            b.estimates.clear();
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_counts_until_a_window_after_its_answer_arrived() {
        let cfg = PacingConfig {
            window: Duration::from_secs(1),
            ..PacingConfig::default()
        };
        let stale = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut b = Bucket::default();
        // A budget of 10 (learnt at 1 s): 95 % of it is 9 calls per window.
        b.estimates.push_back((t0 + Duration::from_secs(1), 10.0));
        for id in 0..9 {
            b.ensure(id, t0);
        }
        for c in b.calls.iter_mut() {
            c.done = Some(t0 + Duration::from_millis(100));
        }

        let just_after_sent = b.verdict(t0 + Duration::from_millis(1050), &cfg, stale);
        let after_answered = b.verdict(t0 + Duration::from_millis(1101), &cfg, stale);

        assert!(
            matches!(just_after_sent, Verdict::Wait(d) if d <= Duration::from_millis(50) && !d.is_zero()),
            "still counted: answered at 100 ms"
        );
        assert!(matches!(after_answered, Verdict::Go));
    }

    #[test]
    fn an_unanswered_call_stops_counting_after_the_request_timeout() {
        let cfg = PacingConfig {
            window: Duration::from_secs(1),
            ..PacingConfig::default()
        };
        let stale = Duration::from_secs(2);
        let t0 = Instant::now();
        let mut b = Bucket::default();
        b.estimates.push_back((t0 + Duration::from_secs(2), 1.0));
        b.ensure(1, t0);

        assert!(matches!(
            b.verdict(t0 + Duration::from_millis(2500), &cfg, stale),
            Verdict::Wait(_)
        ));
        // The estimate itself has left the window by now; the stale call is gone too.
        assert!(matches!(
            b.verdict(t0 + Duration::from_millis(3001), &cfg, stale),
            Verdict::Go
        ));
        assert!(b.calls.is_empty());
    }

    #[test]
    fn the_estimate_is_a_lower_bound_under_floor_rounding() {
        let mut b = Bucket::default();
        let start = Instant::now();
        let window = Duration::from_secs(60);
        // Budget 200: after k sequential calls the header says floor(100k/200) %.
        for k in 1..=150u64 {
            let sent = start + Duration::from_millis(k);
            b.ensure(k, sent);
            let usage = (k * 100 / 200) as f64;
            b.observe(usage, sent, sent, window);
            if let Some(c) = b.calls.iter_mut().find(|c| c.id == k) {
                c.done = Some(sent);
            }
        }
        let est = b.estimate().unwrap_or_default();
        assert!(est < 200.0 && est > 195.0, "estimate {est}");
    }
}
