//! Rate limits (per-object and per-app rolling windows, usage headers, throttling errors;
//! reference 8) and injected faults (error rates, targeted failures).

use super::*;

#[derive(Default)]
pub(super) struct Window {
    pub(super) calls: VecDeque<Instant>,
}

impl Window {
    pub(super) fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&first) = self.calls.front() {
            if now.duration_since(first) >= window {
                self.calls.pop_front();
            } else {
                break;
            }
        }
    }
}

pub(super) fn minutes(d: Duration, fractional: bool) -> Value {
    let m = d.as_secs_f64() / 60.0;
    if fractional {
        json!(((m * 1000.0).ceil() / 1000.0).max(0.001))
    } else {
        json!(m.ceil().max(1.0) as u64)
    }
}

/// The rate-limit bucket a call counts in (reference 8.1): Page calls in that Page's own
/// bucket (code 80001 when spent), ad-account calls in that account's (80004 / 2446079),
/// everything else in the token's business (the configured code, 613 by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bucket {
    Business(String),
    Page(String),
    /// The account's graph id (`act_…`).
    AdAccount(String),
}

impl Bucket {
    /// The object's graph id: the key of its window and of its budget override.
    fn graph_id(&self) -> &str {
        match self {
            Bucket::Business(id) | Bucket::Page(id) | Bucket::AdAccount(id) => id,
        }
    }

    /// The key of this bucket's entry in `X-Business-Use-Case-Usage` (an ad account's bare
    /// number, as in Meta's example).
    fn header_id(&self) -> &str {
        match self {
            Bucket::AdAccount(id) => id.strip_prefix("act_").unwrap_or(id),
            other => other.graph_id(),
        }
    }

    fn buc_type<'a>(&self, rate: &'a RateLimitConfig) -> &'a str {
        match self {
            Bucket::Business(_) => &rate.buc_type,
            Bucket::Page(_) => "pages",
            Bucket::AdAccount(_) => "ads_management",
        }
    }

    fn throttled(&self, rate: &RateLimitConfig) -> GraphFault {
        match self {
            Bucket::Business(_) => GraphFault::new(
                rate.throttle_code,
                None,
                "OAuthException",
                format!(
                    "(#{}) Calls to this api have exceeded the rate limit.",
                    rate.throttle_code
                ),
            ),
            Bucket::Page(_) => GraphFault::new(
                80001,
                None,
                "OAuthException",
                "(#80001) There have been too many calls to this Page account. Wait a bit and \
                 try again.",
            ),
            Bucket::AdAccount(_) => GraphFault::new(
                80004,
                Some(2446079),
                "OAuthException",
                "(#80004) There have been too many calls to this ad-account. Wait a bit and try \
                 again.",
            ),
        }
    }
}

impl World {
    /// The bucket a request on `segments` made with `tok` counts in.
    pub(super) fn bucket_of(&self, segments: &[String], tok: &Token) -> Bucket {
        match segments.first() {
            Some(s) if s.starts_with("act_") => Bucket::AdAccount(s.clone()),
            Some(s)
                if self
                    .assets
                    .get(s.as_str())
                    .is_some_and(|a| a.kind == AssetKind::Page) =>
            {
                Bucket::Page(s.clone())
            }
            _ => Bucket::Business(tok.business_id.clone()),
        }
    }

    fn budget_for(&self, bucket: &Bucket) -> (u32, Duration) {
        match self.budget_overrides.get(bucket.graph_id()) {
            Some(o) => (o.budget, Duration::from_millis(o.window_ms.max(1))),
            None => match bucket {
                Bucket::Business(_) => (self.rate.business_budget, self.rate.window),
                Bucket::Page(_) | Bucket::AdAccount(_) => {
                    (self.rate.object_budget, self.rate.window)
                }
            },
        }
    }

    /// Sets (or, with `None`, removes) the budget of one business, Page or ad account (given
    /// by its id; an ad account with or without `act_`). False when no such object exists.
    pub fn set_budget_override(&mut self, id: &str, o: Option<BudgetOverride>) -> bool {
        let key = if self.businesses.contains_key(id) || self.assets.contains_key(id) {
            id.to_string()
        } else if self.assets.contains_key(&ad_graph_id(id)) {
            ad_graph_id(id)
        } else {
            return false;
        };
        match o {
            Some(o) => self.budget_overrides.insert(key, o),
            None => self.budget_overrides.remove(&key),
        };
        true
    }

    /// Counts the call against its bucket and the token's app; emits the usage headers and
    /// the throttling error once a budget is spent (reference 8).
    pub(super) fn admit(
        &mut self,
        tok: &Token,
        now: Instant,
        headers: &mut Vec<(String, String)>,
        bucket: &Bucket,
    ) -> GraphResult<()> {
        let (budget, window) = self.budget_for(bucket);
        let budget = budget.max(1);
        let app_budget = self.rate.app_budget.max(1);
        let app_window = self.rate.window;
        let count_throttled = self.rate.count_throttled_calls;

        let app = self.app_windows.entry(tok.app_id.clone()).or_default();
        app.prune(now, app_window);
        let app_over = app.calls.len() >= app_budget as usize;
        if !app_over || count_throttled {
            app.calls.push_back(now);
        }

        let w = self
            .object_windows
            .entry(bucket.graph_id().to_string())
            .or_default();
        w.prune(now, window);
        let over = w.calls.len() >= budget as usize;
        if (!over && !app_over) || count_throttled {
            w.calls.push_back(now);
        }
        headers.extend(self.usage_headers(tok, now, bucket));
        if app_over {
            self.stats.throttled += 1;
            return Err(GraphFault::app_throttled());
        }
        if over {
            self.stats.throttled += 1;
            return Err(bucket.throttled(&self.rate));
        }
        Ok(())
    }

    /// The usage headers (reference 8.2) for the call's bucket and the token's app as they
    /// stand, without counting a call: on every counted response, and on the top-level
    /// response of a batch (after its operations were counted).
    pub(super) fn usage_headers(
        &mut self,
        tok: &Token,
        now: Instant,
        bucket: &Bucket,
    ) -> Vec<(String, String)> {
        let (budget, window) = self.budget_for(bucket);
        let budget = budget.max(1);
        let app_budget = self.rate.app_budget.max(1);
        let app_window = self.rate.window;
        let fractional = self.rate.fractional_regain_minutes;
        let mut headers = Vec::new();
        let app = self.app_windows.entry(tok.app_id.clone()).or_default();
        app.prune(now, app_window);
        let app_pct = (app.calls.len() as u64 * 100 / app_budget as u64).min(100);
        headers.push((
            "x-app-usage".into(),
            json!({ "call_count": app_pct, "total_time": app_pct / 2, "total_cputime": app_pct / 3 })
                .to_string(),
        ));
        let w = self
            .object_windows
            .entry(bucket.graph_id().to_string())
            .or_default();
        w.prune(now, window);
        let n = w.calls.len();
        let pct = (n as u64 * 100 / budget as u64).min(100);
        let regain = if n >= budget as usize {
            let k = n - budget as usize;
            w.calls
                .get(k)
                .map(|t| (*t + window).saturating_duration_since(now))
                .unwrap_or_default()
        } else {
            Duration::ZERO
        };
        let eta = if regain.is_zero() {
            json!(0)
        } else {
            minutes(regain, fractional)
        };
        let mut entry = serde_json::Map::new();
        entry.insert(
            bucket.header_id().to_string(),
            json!([{
                "type": bucket.buc_type(&self.rate),
                "call_count": pct,
                "total_cputime": pct / 3,
                "total_time": pct / 2,
                "estimated_time_to_regain_access": eta,
            }]),
        );
        headers.push((
            "x-business-use-case-usage".into(),
            Value::Object(entry).to_string(),
        ));
        if let Bucket::AdAccount(_) = bucket {
            // Older Ads API header on ad-account calls (reference 8.2): the account's own
            // budget, `reset_time_duration` in seconds.
            headers.push((
                "x-ad-account-usage".into(),
                json!({
                    "acc_id_util_pct": pct,
                    "reset_time_duration": regain.as_secs_f64().ceil() as u64,
                    "ads_api_access_tier": "standard_access",
                })
                .to_string(),
            ));
        }
        headers
    }

    pub(super) fn injected_fault(&mut self, req: &Request, endpoint: &str) -> GraphResult<()> {
        let method_key = format!("{} {endpoint}", req.method.upper());
        let matches = |e: &str| e == "*" || e == endpoint || e == method_key;
        let mut hit: Option<GraphFault> = None;
        let candidates = [
            req.segments.first().map(String::as_str),
            req.params.get("email"),
            req.params.get("user"),
        ];
        let mut consumed = None;
        for (i, t) in self.faults.targeted.iter().enumerate() {
            if !t.endpoint.as_deref().is_none_or(matches) {
                continue;
            }
            if candidates
                .iter()
                .flatten()
                .any(|c| c.eq_ignore_ascii_case(&t.target))
            {
                hit = Some(t.fault.to_fault());
                consumed = Some(i);
                break;
            }
        }
        if let Some(i) = consumed {
            if let Some(rem) = self.faults.targeted[i].remaining.as_mut() {
                *rem = rem.saturating_sub(1);
                if *rem == 0 {
                    self.faults.targeted.remove(i);
                }
            }
        }
        if hit.is_none() {
            for r in &self.faults.error_rates {
                if matches(&r.endpoint) {
                    use rand::Rng as _;
                    if r.rate >= 1.0 || rand::rng().random::<f64>() < r.rate {
                        hit = Some(r.fault.to_fault());
                        break;
                    }
                }
            }
        }
        match hit {
            Some(f) => {
                self.stats.injected_faults += 1;
                Err(f)
            }
            None => Ok(()),
        }
    }
}
