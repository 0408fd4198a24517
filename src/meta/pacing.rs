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
//!
//! A batch of N operations is N calls (Meta counts each, reference 9): it is admitted only when
//! every bucket has room for all N, holds N stamps, and its answer credits N calls to the
//! estimate. Waits from headers or backoff never hold a bucket for more than 24 h, and all
//! `Instant` arithmetic saturates instead of panicking.

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

/// The longest any bucket is held, whatever a header or a backoff says (the 24 h invitation
/// limit is Meta's longest documented block).
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);

/// `t + d`, saturating instead of panicking when `d` is too large for `Instant`.
fn later(t: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(x) = t.checked_add(d) {
            return x;
        }
        d /= 2;
        if d.is_zero() {
            return t;
        }
    }
}

struct Stamp {
    id: u64,
    sent: Instant,
    done: Option<Instant>,
    /// The answer's usage header named this bucket: Meta counted the call here. A call on a
    /// node not seen yet is stamped in every bucket of its token (cautious) but may have
    /// counted elsewhere (a Page's own bucket); only confirmed calls prove a budget.
    confirmed: bool,
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
            Some(d) => later(d, window),
            None => later(c.sent, window.saturating_add(stale)),
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

    /// Whether `need` more calls (a batch counts each operation) may go now.
    fn verdict(
        &mut self,
        now: Instant,
        cfg: &PacingConfig,
        stale: Duration,
        need: usize,
    ) -> Verdict {
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
            let need = need.max(1);
            if !self.calls.is_empty() && self.calls.len() + need > limit {
                // Room for `need` appears when the (len + need - limit)-th earliest expiry
                // passes; a batch larger than the whole budget waits for an empty bucket.
                let mut expiries: Vec<Instant> = self
                    .calls
                    .iter()
                    .map(|c| Self::expiry(c, cfg.window, stale))
                    .collect();
                let k = (self.calls.len() + need - limit - 1).min(self.calls.len() - 1);
                let (_, kth, _) = expiries.select_nth_unstable(k);
                wait = wait.max(kth.saturating_duration_since(now));
            }
        } else if let Some(seen) = self.seen {
            if self.usage >= cfg.target_usage {
                wait = wait.max(later(seen, cfg.window / 20).saturating_duration_since(now));
            } else if self.usage >= cfg.slow_down_at {
                if let Some(last) = self.calls.back() {
                    wait =
                        wait.max(later(last.sent, cfg.window / 100).saturating_duration_since(now));
                }
            }
        }
        if wait.is_zero() {
            Verdict::Go
        } else {
            Verdict::Wait(wait)
        }
    }

    /// Records what a response said about this bucket; `sent` is when that call was sent and
    /// `weight` how many calls Meta counted for it (the operations of a batch).
    fn observe(
        &mut self,
        usage: f64,
        sent: Instant,
        recv: Instant,
        window: Duration,
        weight: usize,
    ) {
        self.usage = usage;
        self.seen = Some(recv);
        self.streak = 0;
        let proven = self
            .calls
            .iter()
            .filter(|c| {
                c.confirmed && c.done.is_some_and(|d| d <= sent) && later(c.sent, window) > recv
            })
            .count()
            + weight.max(1);
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
                confirmed: false,
            },
        );
    }
}

/// A call admitted by the pacer; hand it back with what the response said.
pub(crate) struct Ticket {
    /// First of the `weight` consecutive stamp ids this call holds.
    id: u64,
    /// Calls Meta counts for this request: 1, or the operations of a batch.
    weight: u64,
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
    /// Buckets of a type Meta counts per object (Pages, ad accounts…): only calls on that
    /// object count in them.
    object_buckets: BTreeSet<String>,
}

/// `X-Business-Use-Case-Usage` types that Meta keeps per business object (reference 8.2).
const PER_OBJECT_TYPES: &[&str] = &[
    "pages",
    "ads_management",
    "ads_insights",
    "custom_audience",
    "instagram",
    "leadgen",
    "messenger",
];

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
    } else if key.starts_with("tok:") {
        // The token-wide hold (no header named a bucket): never reported as a business.
        ThrottleScope::Token
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
            None => {
                // Any bucket of the token may count this call, except another object's own
                // (a Page's, an ad account's: Meta counts their calls per object, reference
                // 8.1), so a throttled Page does not stop calls on another one.
                let bare = |s: &str| s.strip_prefix("act_").unwrap_or(s).to_string();
                let own_of_other = |k: &str| {
                    state.object_buckets.contains(k)
                        && node.is_none_or(|n| Some(bare(n)) != k.strip_prefix("buc:").map(bare))
                };
                keys.extend(
                    of_token
                        .into_iter()
                        .flatten()
                        .filter(|k| !own_of_other(k))
                        .cloned(),
                );
            }
        }
        if let Some(a) = ad_account {
            keys.push(format!("act:{a}"));
        }
        keys
    }

    /// Waits until every bucket this call counts against has room; a throttled bucket, or a
    /// wait longer than `max_wait`, is returned as `GraphError::Throttled` without calling.
    /// `weight` is how many calls Meta will count (each operation of a batch counts, reference 9).
    pub async fn acquire(
        &self,
        token: &str,
        node: Option<&str>,
        ad_account: Option<&str>,
        weight: usize,
    ) -> Result<Ticket, GraphError> {
        let weight = weight.max(1);
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
                            .verdict(now, &self.cfg, self.stale, weight)
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
                    let id = self.seq.fetch_add(weight as u64, Ordering::Relaxed);
                    for k in &keys {
                        let b = st.buckets.entry(k.clone()).or_default();
                        for i in 0..weight as u64 {
                            b.ensure(id + i, now);
                        }
                    }
                    return Ok(Ticket {
                        id,
                        weight: weight as u64,
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
        let ids = ticket.id..ticket.id + ticket.weight;
        for k in &ticket.keys {
            if let Some(b) = st.buckets.get_mut(k) {
                for c in b.calls.iter_mut().filter(|c| ids.contains(&c.id)) {
                    c.done = Some(recv);
                }
            }
        }
        let observe = |st: &mut State, key: String, usage: f64, pause: Option<Duration>| {
            let b = st.buckets.entry(key).or_default();
            for id in ids.clone() {
                b.ensure(id, ticket.sent);
            }
            for c in b.calls.iter_mut().filter(|c| ids.contains(&c.id)) {
                c.done = Some(recv);
                c.confirmed = true;
            }
            b.observe(usage, ticket.sent, recv, window, ticket.weight as usize);
            if let Some(p) = pause {
                let until = later(recv, p.min(MAX_HOLD));
                b.pause_until = Some(b.pause_until.map_or(until, |u| u.max(until)));
            }
        };
        if let Some(app) = report.app {
            observe(&mut st, format!("app@{}", ticket.token), app, None);
        }
        for e in &report.business {
            let key = format!("buc:{}", e.object_id);
            st.learn(ticket, &key);
            if e.kind
                .as_deref()
                .is_some_and(|k| PER_OBJECT_TYPES.contains(&k))
            {
                st.object_buckets.insert(key.clone());
            }
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
            // Jitter first, then the cap: the wait never exceeds `max_backoff` (or the floor,
            // when a floor is longer than the cap, e.g. 368's hour under a shorter cap).
            let cap = self.cfg.max_backoff.max(floor);
            floor
                .saturating_mul(1u32 << streak.min(6))
                .min(cap)
                .mul_f64(rand::rng().random_range(1.0..1.25))
                .min(cap)
        });
        let wait = wait.min(MAX_HOLD);
        for k in keys {
            let b = st.buckets.entry(k.clone()).or_default();
            // What this client believed when Meta said no: tells a budget that shrank from a
            // client that overran its own.
            tracing::info!(
                pacing.bucket = %k,
                pacing.calls_in_window = b.calls.len(),
                pacing.budget_estimate = b.estimate().map(|e| e as u64),
                pacing.last_usage = b.usage,
                "throttled: this client's view of the bucket"
            );
            b.blocked_until = Some(later(now, wait));
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

        let just_after_sent = b.verdict(t0 + Duration::from_millis(1050), &cfg, stale, 1);
        let after_answered = b.verdict(t0 + Duration::from_millis(1101), &cfg, stale, 1);

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
            b.verdict(t0 + Duration::from_millis(2500), &cfg, stale, 1),
            Verdict::Wait(_)
        ));
        // The estimate itself has left the window by now; the stale call is gone too.
        assert!(matches!(
            b.verdict(t0 + Duration::from_millis(3001), &cfg, stale, 1),
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
            b.observe(usage, sent, sent, window, 1);
            if let Some(c) = b.calls.iter_mut().find(|c| c.id == k) {
                c.done = Some(sent);
                c.confirmed = true;
            }
        }
        let est = b.estimate().unwrap_or_default();
        assert!(est < 200.0 && est > 195.0, "estimate {est}");
    }

    fn ticket(p: &Pacer, weight: usize) -> Ticket {
        futures_util::FutureExt::now_or_never(p.acquire("tok", Some("5550001"), None, weight))
            .expect("no wait")
            .expect("admitted")
    }

    fn usage_of(id: &str, kind: &str) -> UsageReport {
        UsageReport {
            business: vec![crate::meta::BucUsage {
                object_id: id.into(),
                kind: Some(kind.into()),
                usage: 10.0,
                regain_after: None,
            }],
            ..UsageReport::default()
        }
    }

    #[test]
    fn a_throttled_page_holds_its_own_calls_but_not_a_page_not_seen_yet() {
        let p = Pacer::new(PacingConfig::default(), Duration::from_secs(30));
        let call_on = |node: &str| {
            futures_util::FutureExt::now_or_never(p.acquire("tok", Some(node), None, 1))
                .expect("no wait")
        };
        let minute = Duration::from_secs(60);
        let biz = ticket(&p, 1);
        p.complete(&biz, &usage_of("5550001", "business_management"));
        let first = call_on("777").expect("admitted");
        p.complete(&first, &usage_of("777", "pages"));
        p.throttled(
            &first,
            &ThrottleScope::Business("777".into()),
            Some(minute),
            minute,
        );

        let same = call_on("777");
        let other = call_on("888").expect("another Page is not held");

        assert!(
            matches!(&same, Err(GraphError::Throttled { scope: ThrottleScope::Business(id), .. }) if id == "777"),
            "{:?}",
            same.as_ref().err()
        );
        assert!(
            !other.keys.contains(&"buc:777".to_string()),
            "{:?}",
            other.keys
        );
        // A node not seen yet still counts in the business's bucket (cautious)…
        assert!(
            other.keys.contains(&"buc:5550001".to_string()),
            "{:?}",
            other.keys
        );
        // …so a throttled business holds it.
        p.throttled(
            &biz,
            &ThrottleScope::Business("5550001".into()),
            Some(minute),
            minute,
        );
        assert!(matches!(
            call_on("999"),
            Err(GraphError::Throttled { scope: ThrottleScope::Business(id), .. }) if id == "5550001"
        ));
    }

    #[test]
    fn calls_counted_in_another_object_bucket_prove_nothing_about_the_business_budget() {
        // The engine bench's first sync: asset reads on Pages not seen yet are stamped in the
        // business's bucket (cautious), but Meta counts them in each Page's own bucket. When
        // they counted as proof, a business header at 0 % "proved" a budget 25 % too high
        // and the burst that followed was throttled.
        let p = Pacer::new(PacingConfig::default(), Duration::from_secs(30));
        let business = |usage: f64| UsageReport {
            business: vec![crate::meta::BucUsage {
                object_id: "5550001".into(),
                kind: Some("business_management".into()),
                usage,
                regain_after: None,
            }],
            ..UsageReport::default()
        };
        let first = ticket(&p, 1);
        p.complete(&first, &business(0.0));
        for page in 0..30 {
            let node = format!("page{page}");
            let t = futures_util::FutureExt::now_or_never(p.acquire("tok", Some(&node), None, 1))
                .expect("no wait")
                .expect("admitted");
            assert!(t.keys.contains(&"buc:5550001".to_string()), "cautious");
            p.complete(&t, &usage_of(&node, "pages"));
        }
        let second = ticket(&p, 1);
        p.complete(&second, &business(0.0));

        let st = p.lock();
        let b = &st.buckets["buc:5550001"];
        // Both business calls at 0 %: the budget is proven above 200 calls, not 3,200.
        assert_eq!(b.estimate(), Some(200.0));
        // The cautious stamps still hold room until they leave the window.
        assert_eq!(b.calls.len(), 32);
    }

    #[test]
    fn a_batch_counts_each_operation_in_its_buckets() {
        let p = Pacer::new(PacingConfig::default(), Duration::from_secs(30));
        let t = ticket(&p, 50);
        let report = UsageReport {
            business: vec![crate::meta::BucUsage {
                object_id: "5550001".into(),
                kind: None,
                usage: 49.0,
                regain_after: None,
            }],
            ..UsageReport::default()
        };
        p.complete(&t, &report);

        let st = p.lock();
        assert_eq!(st.buckets["app@tok"].calls.len(), 50);
        let b = &st.buckets["buc:5550001"];
        assert_eq!(b.calls.len(), 50);
        assert!(b.calls.iter().all(|c| c.done.is_some()));
        // 50 calls at 49 %: the budget is proven above 100·50/50 = 100 calls.
        assert_eq!(b.estimate(), Some(100.0));
    }

    #[test]
    fn a_batch_waits_for_room_for_all_its_operations() {
        let cfg = PacingConfig {
            window: Duration::from_secs(10),
            ..PacingConfig::default()
        };
        let stale = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut b = Bucket::default();
        // Budget 100: 95 may count; 60 already do.
        b.estimates.push_back((t0, 100.0));
        for id in 0..60 {
            b.ensure(id, t0);
            b.calls[id as usize].done = Some(t0);
        }
        assert!(matches!(b.verdict(t0, &cfg, stale, 35), Verdict::Go));
        assert!(matches!(b.verdict(t0, &cfg, stale, 36), Verdict::Wait(_)));
        assert!(matches!(b.verdict(t0, &cfg, stale, 500), Verdict::Wait(_)));
    }

    #[test]
    fn the_token_wide_hold_is_reported_as_token_scope() {
        assert_eq!(scope_of("tok:abcd"), ThrottleScope::Token);
        assert_eq!(scope_of("app@abcd"), ThrottleScope::App);
        assert_eq!(
            scope_of("buc:5550001"),
            ThrottleScope::Business("5550001".into())
        );
        let p = Pacer::new(PacingConfig::default(), Duration::from_secs(30));
        let t = ticket(&p, 1);
        p.throttled(&t, &ThrottleScope::Token, None, Duration::from_secs(60));
        let again =
            futures_util::FutureExt::now_or_never(p.acquire("tok", Some("5550001"), None, 1))
                .expect("no wait");
        assert!(matches!(
            again,
            Err(GraphError::Throttled {
                scope: ThrottleScope::Token,
                meta: None,
                ..
            })
        ));
    }

    #[test]
    fn absurd_waits_never_overflow_and_backoff_is_capped_after_jitter() {
        let p = Pacer::new(
            PacingConfig {
                max_backoff: Duration::from_secs(100),
                ..PacingConfig::default()
            },
            Duration::from_secs(30),
        );
        let t = ticket(&p, 1);
        let huge = p.throttled(
            &t,
            &ThrottleScope::Business("1".into()),
            Some(Duration::MAX),
            Duration::from_secs(60),
        );
        assert_eq!(huge, MAX_HOLD);
        p.complete(
            &t,
            &UsageReport {
                business: vec![crate::meta::BucUsage {
                    object_id: "2".into(),
                    kind: None,
                    usage: 100.0,
                    regain_after: Some(Duration::MAX),
                }],
                ..UsageReport::default()
            },
        );
        assert!(later(Instant::now(), Duration::MAX) >= Instant::now());
        for _ in 0..20 {
            let w = p.throttled(
                &t,
                &ThrottleScope::Business("3".into()),
                None,
                Duration::from_secs(60),
            );
            assert!(w <= Duration::from_secs(100), "{w:?}");
        }
    }
}
