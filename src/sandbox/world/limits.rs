//! Rate limits (per-business and per-app rolling windows, usage headers, throttling errors;
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

impl World {
    pub(super) fn budget_for(&self, business: &str) -> (u32, Duration) {
        match self.budget_overrides.get(business) {
            Some(o) => (o.budget, Duration::from_millis(o.window_ms.max(1))),
            None => (self.rate.business_budget, self.rate.window),
        }
    }

    /// Counts the call against the token's business and app; emits the usage headers and the
    /// throttling error once a budget is spent (reference 8).
    pub(super) fn admit(
        &mut self,
        tok: &Token,
        now: Instant,
        headers: &mut Vec<(String, String)>,
        ad_account: bool,
    ) -> GraphResult<()> {
        let (budget, window) = self.budget_for(&tok.business_id);
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
            .business_windows
            .entry(tok.business_id.clone())
            .or_default();
        w.prune(now, window);
        let over = w.calls.len() >= budget as usize;
        if (!over && !app_over) || count_throttled {
            w.calls.push_back(now);
        }
        headers.extend(self.usage_headers(tok, now, ad_account));
        if app_over {
            self.stats.throttled += 1;
            return Err(GraphFault::app_throttled());
        }
        if over {
            self.stats.throttled += 1;
            return Err(GraphFault::new(
                self.rate.throttle_code,
                None,
                "OAuthException",
                format!(
                    "(#{}) Calls to this api have exceeded the rate limit.",
                    self.rate.throttle_code
                ),
            ));
        }
        Ok(())
    }

    /// The usage headers (reference 8.2) for the token's business and app as they stand,
    /// without counting a call: on every counted response, and on the top-level response of a
    /// batch (after its operations were counted).
    pub(super) fn usage_headers(
        &mut self,
        tok: &Token,
        now: Instant,
        ad_account: bool,
    ) -> Vec<(String, String)> {
        let (budget, window) = self.budget_for(&tok.business_id);
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
            .business_windows
            .entry(tok.business_id.clone())
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
            tok.business_id.clone(),
            json!([{
                "type": self.rate.buc_type,
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
        if ad_account {
            // Older Ads API header on ad-account calls (reference 8.2); mirrors the business
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
