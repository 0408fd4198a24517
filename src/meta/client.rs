//! [`GraphClient`]: the HTTP plumbing every Graph call goes through — URL building, the token in
//! the `Authorization` header, `appsecret_proof`, per-request timeout, pacing, error
//! classification, retries of reads, and following `paging.next` to the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::{
    classify, throttle_floor, CallKind, ErrorClass, GraphError, MetaError, RestrictionRule,
    ThrottleScope,
};
use super::pacing::{Pacer, PacingConfig, Ticket};
use super::secret::{AccessToken, AppSecret, GraphAuth};
use super::types::ListPage;
use super::usage::UsageReport;

/// Client settings.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// `https://graph.facebook.com`, or a sandbox URL.
    pub base_url: String,
    /// `v25.0` (reference 11).
    pub api_version: String,
    /// The hub app's secret: when set, every call carries `appsecret_proof`.
    pub app_secret: Option<AppSecret>,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Reads retried on transient errors (writes never are).
    pub max_read_retries: u32,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// `limit` asked for on list edges.
    pub page_size: u32,
    /// A list that pages longer than this fails instead of looping.
    pub max_pages: usize,
    pub pacing: PacingConfig,
    /// How the new-system-user restriction is recognised (reference 7.2, unconfirmed).
    pub restriction_rules: Vec<RestrictionRule>,
    /// Page task names, legacy ↔ unified (reference 5.3; the pairing is unconfirmed).
    pub page_task_map: Vec<(String, String)>,
}

impl GraphConfig {
    /// The defaults, pointed at `meta.graph_url` / `meta.api_version`.
    pub fn from_settings(meta: &crate::config::MetaSettings) -> Self {
        GraphConfig {
            base_url: meta.graph_url.trim_end_matches('/').to_string(),
            api_version: meta.api_version.clone(),
            pacing: PacingConfig {
                window: Duration::from_secs(meta.rate_window_secs),
                ..PacingConfig::default()
            },
            ..GraphConfig::default()
        }
    }
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v25.0".into(),
            app_secret: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_read_retries: 3,
            retry_base: Duration::from_millis(250),
            retry_cap: Duration::from_secs(8),
            page_size: 100,
            max_pages: 10_000,
            pacing: PacingConfig::default(),
            restriction_rules: RestrictionRule::defaults(),
            page_task_map: [
                ("MANAGE", "FULL_CONTROL"),
                ("CREATE_CONTENT", "CONTENT"),
                ("MODERATE", "COMMUNITY_ACTIVITY"),
                ("MESSAGING", "MESSAGES"),
                ("ADVERTISE", "ADVERTISE"),
                ("ANALYZE", "ANALYZE"),
            ]
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect(),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    cfg: GraphConfig,
    base: Url,
    pacer: Pacer,
}

/// The Graph API client: cheap to clone, one connection pool, one pacer.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.inner.cfg.base_url)
            .field("api_version", &self.inner.cfg.api_version)
            .finish_non_exhaustive()
    }
}

/// One request, before it is sent.
pub(crate) struct Call {
    pub method: reqwest::Method,
    /// Path after the version, e.g. `5550001/business_users`.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub kind: CallKind,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: path.into(),
            params: Vec::new(),
            kind: CallKind::Read,
        }
    }
    pub fn post(path: impl Into<String>, kind: CallKind) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: path.into(),
            params: Vec::new(),
            kind,
        }
    }
    pub fn delete(path: impl Into<String>) -> Call {
        Call {
            method: reqwest::Method::DELETE,
            path: path.into(),
            params: Vec::new(),
            kind: CallKind::Write,
        }
    }
    pub fn param(mut self, k: &str, v: impl Into<String>) -> Call {
        self.params.push((k.to_string(), v.into()));
        self
    }
}

fn other(detail: impl Into<String>) -> GraphError {
    GraphError::Other {
        meta: None,
        detail: detail.into(),
    }
}

/// A reqwest error without its URL (which could hold a cursor) as a short cause.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

/// `vNN.N`.
fn version_ok(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
}

impl GraphClient {
    pub fn new(cfg: GraphConfig) -> anyhow::Result<GraphClient> {
        let mut base = Url::parse(&cfg.base_url)
            .map_err(|e| anyhow::anyhow!("graph base_url is not a URL: {e}"))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        anyhow::ensure!(
            version_ok(&cfg.api_version),
            "graph api_version must look like v25.0"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("hubbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                pacer: Pacer::new(cfg.pacing.clone(), cfg.timeout),
                base,
                cfg,
            }),
        })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.cfg
    }

    /// Credentials for the hub's own token (proof from the configured app secret).
    pub fn auth(&self, token: AccessToken) -> GraphAuth {
        GraphAuth::new(token, self.inner.cfg.app_secret.as_ref())
    }

    /// Credentials for a token of another app, e.g. a partner's (reference 10).
    pub fn auth_with_secret(
        &self,
        token: AccessToken,
        app_secret: Option<&AppSecret>,
    ) -> GraphAuth {
        GraphAuth::new(token, app_secret)
    }

    fn url(&self, path: &str) -> Result<Url, GraphError> {
        let rel = format!(
            "{}/{}",
            self.inner.cfg.api_version,
            path.trim_start_matches('/')
        );
        self.inner
            .base
            .join(&rel)
            .map_err(|_| other("could not build the Graph URL"))
    }

    /// Sends one call; reads are retried on transient errors with backoff and jitter.
    pub(crate) async fn call(&self, auth: &GraphAuth, call: Call) -> Result<Value, GraphError> {
        let url = self.url(&call.path)?;
        self.call_url(auth, &call.method, url, &call.params, call.kind)
            .await
    }

    async fn call_url(
        &self,
        auth: &GraphAuth,
        method: &reqwest::Method,
        url: Url,
        params: &[(String, String)],
        kind: CallKind,
    ) -> Result<Value, GraphError> {
        let mut attempt = 0u32;
        loop {
            match self
                .send_once(auth, method, url.clone(), params, kind)
                .await
            {
                Err(e)
                    if *method == reqwest::Method::GET
                        && e.class() == ErrorClass::Transient
                        && attempt < self.inner.cfg.max_read_retries =>
                {
                    let cap = self
                        .inner
                        .cfg
                        .retry_base
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(self.inner.cfg.retry_cap);
                    let wait = cap.mul_f64(rand::rng().random_range(0.5..1.0));
                    tracing::debug!(graph.path = url.path(), attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying Graph read");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        auth: &GraphAuth,
        method: &reqwest::Method,
        url: Url,
        params: &[(String, String)],
        kind: CallKind,
    ) -> Result<Value, GraphError> {
        self.exchange(auth, method, url, params, kind, 1)
            .await
            .map(|(body, _, _)| body)
    }

    /// One HTTP exchange through the pacer. `weight` is how many calls Meta counts for it (the
    /// operations of a batch). On success, also hands back the ticket (already completed) and
    /// what the usage headers said, for a batch to account for its operations.
    async fn exchange(
        &self,
        auth: &GraphAuth,
        method: &reqwest::Method,
        url: Url,
        params: &[(String, String)],
        kind: CallKind,
        weight: usize,
    ) -> Result<(Value, Ticket, UsageReport), GraphError> {
        // The node the call is about: the first segment after the version.
        let node = url
            .path_segments()
            .and_then(|mut s| s.nth(1))
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let ad_account = node.clone().filter(|n| n.starts_with("act_"));
        let ticket = self
            .inner
            .pacer
            .acquire(auth.key(), node.as_deref(), ad_account.as_deref(), weight)
            .await?;
        let mut form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(p) = auth.proof() {
            form.push(("appsecret_proof", p));
        }
        let path = url.path().to_string();
        let rb = if *method == reqwest::Method::POST {
            self.inner.http.post(url).form(&form)
        } else {
            self.inner.http.request(method.clone(), url).query(&form)
        };
        let started = Instant::now();
        let sent = rb
            .bearer_auth(auth.token().expose())
            .timeout(self.inner.cfg.timeout)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.inner.pacer.complete(&ticket, &UsageReport::default());
                return Err(GraphError::Transient {
                    meta: None,
                    detail: describe(e),
                });
            }
        };
        let status = resp.status().as_u16();
        let report = UsageReport::from_headers(resp.headers());
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                self.inner.pacer.complete(&ticket, &report);
                return Err(GraphError::Transient {
                    meta: None,
                    detail: describe(e),
                });
            }
        };
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        tracing::debug!(
            graph.method = %method,
            graph.path = %path,
            http.status = status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Graph call"
        );
        let Some(body) = body else {
            self.inner.pacer.complete(&ticket, &report);
            return Err(GraphError::Transient {
                meta: None,
                detail: format!("HTTP {status} with a body that is not JSON"),
            });
        };
        let Some(meta) = MetaError::from_body(&body, status).map(Box::new) else {
            self.inner.pacer.complete(&ticket, &report);
            return match status {
                200..=299 => Ok((body, ticket, report)),
                500..=599 => Err(GraphError::Transient {
                    meta: None,
                    detail: format!("HTTP {status} without a Graph error"),
                }),
                _ => Err(other(format!("HTTP {status} without a Graph error"))),
            };
        };
        self.inner.pacer.complete(&ticket, &report);
        let business = params
            .iter()
            .find(|(k, _)| k == "business")
            .map(|(_, v)| v.as_str());
        let subjects: Vec<&str> = node.as_deref().into_iter().chain(business).collect();
        Err(self.meta_error(meta, kind, &ticket, &report, &subjects, &path))
    }

    /// Classifies a Graph error; a throttle stops the bucket of the object the call was about
    /// (`subjects`: the node called, the `business` parameter) in the pacer.
    fn meta_error(
        &self,
        meta: Box<MetaError>,
        kind: CallKind,
        ticket: &Ticket,
        report: &UsageReport,
        subjects: &[&str],
        path: &str,
    ) -> GraphError {
        let class = classify(&meta, kind, &self.inner.cfg.restriction_rules);
        let floor = throttle_floor(&meta, kind, self.inner.cfg.pacing.throttle_floor);
        if class != ErrorClass::Throttled {
            // Includes the 24 h invitation limit (it stops invitations, not the bucket) and
            // policy blocks (368: surfaced as their own class, not a silent bucket hold).
            return GraphError::from_meta(class, meta, floor);
        }
        let (scope, explicit) = throttle_scope(&meta, report, subjects);
        let explicit = explicit
            .or(report.ad_account.as_ref().and_then(|a| a.reset_after))
            .map(|d| d.max(Duration::from_millis(100)));
        let retry_after = self.inner.pacer.throttled(ticket, &scope, explicit, floor);
        tracing::warn!(
            graph.path = %path,
            throttle.scope = %scope,
            retry_after_s = retry_after.as_secs(),
            code = meta.code,
            "Graph throttled this bucket"
        );
        GraphError::Throttled {
            scope,
            retry_after,
            meta: Some(meta),
        }
    }

    /// Reads a list edge to its end, following `paging.next` (reference 2): stops only when
    /// `next` is absent; `next` must point at the configured host and its token is dropped
    /// (the header carries ours).
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        auth: &GraphAuth,
        path: &str,
        mut params: Vec<(String, String)>,
    ) -> Result<Vec<T>, GraphError> {
        params.push(("limit".into(), self.inner.cfg.page_size.to_string()));
        let mut url = self.url(path)?;
        let mut out = Vec::new();
        for _ in 0..self.inner.cfg.max_pages {
            let body = self
                .call_url(auth, &reqwest::Method::GET, url, &params, CallKind::Read)
                .await?;
            let page: ListPage<T> = serde_json::from_value(body)
                .map_err(|e| other(format!("unexpected list response from {path}: {e}")))?;
            out.extend(page.data);
            let Some(next) = page.paging.and_then(|p| p.next) else {
                return Ok(out);
            };
            url = self.follow(&next)?;
            params.clear();
        }
        Err(other(format!(
            "{path}: paging did not end after {} pages",
            self.inner.cfg.max_pages
        )))
    }

    /// The `paging.next` URL to request: same origin as the configured base, without the
    /// `access_token` and `appsecret_proof` Meta repeats in it. Never logged.
    fn follow(&self, next: &str) -> Result<Url, GraphError> {
        let mut u = Url::parse(next).map_err(|_| other("paging.next is not a URL"))?;
        if u.origin() != self.inner.base.origin() {
            return Err(other(
                "paging.next points outside the configured Graph host",
            ));
        }
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.set_query(None);
        if !kept.is_empty() {
            u.query_pairs_mut().extend_pairs(kept);
        }
        Ok(u)
    }

    /// Up to 50 GET operations in one batch request (reference 9); one result per operation,
    /// in order. A `null` answer (batch timeout) comes back as a transient error for that
    /// operation. Each operation counts as one call for pacing (the batch waits for room for
    /// all of them), and an operation's throttle error stops its bucket like a single call's.
    /// `paging.next`/`previous` links in the bodies come back without `access_token` and
    /// `appsecret_proof`.
    pub async fn batch_get(
        &self,
        auth: &GraphAuth,
        relative_urls: &[String],
    ) -> Result<Vec<Result<Value, GraphError>>, GraphError> {
        if relative_urls.len() > 50 {
            return Err(other("a batch holds at most 50 operations"));
        }
        if relative_urls.is_empty() {
            return Ok(Vec::new());
        }
        let ops: Vec<Value> = relative_urls
            .iter()
            .map(|u| serde_json::json!({ "method": "GET", "relative_url": u }))
            .collect();
        let url = self
            .inner
            .base
            .join(&format!("{}/", self.inner.cfg.api_version))
            .map_err(|_| other("could not build the Graph URL"))?;
        // Reference 9: the top-level `access_token` form field is required. It goes in the
        // POST body (never a URL), next to the `Authorization` header.
        let params = vec![
            (
                "access_token".to_string(),
                auth.token().expose().to_string(),
            ),
            ("batch".to_string(), Value::Array(ops).to_string()),
        ];
        let (body, ticket, top) = self
            .exchange(
                auth,
                &reqwest::Method::POST,
                url,
                &params,
                CallKind::Read,
                relative_urls.len(),
            )
            .await?;
        let Value::Array(items) = body else {
            return Err(other("a batch response must be an array"));
        };
        Ok(items
            .into_iter()
            .zip(relative_urls)
            .map(|(item, rel)| self.batch_item(item, rel, &ticket, &top))
            .collect())
    }

    fn batch_item(
        &self,
        item: Value,
        rel: &str,
        ticket: &Ticket,
        top: &UsageReport,
    ) -> Result<Value, GraphError> {
        let status = item.get("code").and_then(Value::as_u64).unwrap_or(0);
        let status = u16::try_from(status).unwrap_or(0);
        let Some(raw) = item.get("body").and_then(Value::as_str) else {
            return Err(GraphError::Transient {
                meta: None,
                detail: "batch operation did not complete".into(),
            });
        };
        let mut v: Value =
            serde_json::from_str(raw).map_err(|_| other("batch operation body is not JSON"))?;
        let Some(meta) = MetaError::from_body(&v, status).map(Box::new) else {
            scrub_paging(&mut v);
            return Ok(v);
        };
        // The operation's own usage headers, else what the batch response said.
        let own = item
            .get("headers")
            .and_then(Value::as_array)
            .map(|hs| {
                let mut map = reqwest::header::HeaderMap::new();
                for h in hs {
                    let (Some(n), Some(val)) = (
                        h.get("name").and_then(Value::as_str),
                        h.get("value").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    if let (Ok(n), Ok(val)) = (
                        reqwest::header::HeaderName::from_bytes(n.as_bytes()),
                        reqwest::header::HeaderValue::from_str(val),
                    ) {
                        map.append(n, val);
                    }
                }
                UsageReport::from_headers(&map)
            })
            .filter(|r| *r != UsageReport::default());
        let report = own.as_ref().unwrap_or(top);
        let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
        let node = path
            .trim_start_matches('/')
            .split('/')
            .find(|s| !s.is_empty() && !version_ok(s));
        let business: Option<String> = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "business")
            .map(|(_, v)| v.into_owned());
        let subjects: Vec<&str> = node.into_iter().chain(business.as_deref()).collect();
        let path = node.unwrap_or("");
        Err(self.meta_error(meta, CallKind::Read, ticket, report, &subjects, path))
    }
}

/// Which bucket a throttle error stops, and for how long the headers say (reference 8.3 step
/// 3-4): code 4 is app-wide; otherwise the `X-Business-Use-Case-Usage` entry of the object the
/// call was about (`subjects`: the node called, the `business` parameter), with that object's
/// own estimate; a header naming exactly one object names it; an ad-account throttle (80004)
/// on `act_…` without headers stops that account; anything else holds the token's buckets
/// with the longest estimate seen.
fn throttle_scope(
    meta: &MetaError,
    report: &UsageReport,
    subjects: &[&str],
) -> (ThrottleScope, Option<Duration>) {
    if meta.code == 4 {
        return (ThrottleScope::App, None);
    }
    let bare = |s: &str| s.strip_prefix("act_").unwrap_or(s).to_string();
    let named = subjects.iter().find_map(|s| {
        report
            .business
            .iter()
            .find(|e| bare(&e.object_id) == bare(s))
            .map(|e| e.object_id.clone())
    });
    let only_one = report
        .business
        .first()
        .filter(|f| report.business.iter().all(|e| e.object_id == f.object_id))
        .map(|f| f.object_id.clone());
    if let Some(id) = named.or(only_one) {
        let own = report
            .business
            .iter()
            .filter(|e| e.object_id == id)
            .filter_map(|e| e.regain_after)
            .max();
        return (ThrottleScope::Business(id), own);
    }
    if let Some(a) = subjects.first().filter(|s| s.starts_with("act_")) {
        if meta.code == 80004 {
            return (ThrottleScope::Business((*a).to_string()), None);
        }
    }
    (ThrottleScope::Token, report.longest_regain())
}

/// Drops `access_token` and `appsecret_proof` from every `paging.next` / `paging.previous` in
/// a body (nested expansions included): Meta repeats the caller's token there (reference 2).
/// A link that is not a URL is removed.
pub(crate) fn scrub_paging(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(p)) = o.get_mut("paging") {
                for key in ["next", "previous"] {
                    let Some(link) = p.get(key) else { continue };
                    let cleaned = link.as_str().and_then(|l| Url::parse(l).ok()).map(|mut u| {
                        let kept: Vec<(String, String)> = u
                            .query_pairs()
                            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                        u.set_query(None);
                        if !kept.is_empty() {
                            u.query_pairs_mut().extend_pairs(kept);
                        }
                        u.to_string()
                    });
                    match cleaned {
                        Some(c) => {
                            p.insert(key.to_string(), Value::String(c));
                        }
                        None => {
                            p.remove(key);
                        }
                    }
                }
            }
            for (_, child) in o.iter_mut() {
                scrub_paging(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub_paging),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> GraphClient {
        GraphClient::new(GraphConfig::default()).expect("default config builds")
    }

    #[test]
    fn paging_next_is_followed_only_on_the_configured_host_and_without_the_token() {
        let c = client();

        let same = c
            .follow("https://graph.facebook.com/v25.0/1/business_users?limit=2&access_token=EAAsecret&appsecret_proof=ab&after=QQ")
            .expect("same origin");
        let elsewhere =
            c.follow("https://graph.facebook.com.evil.example/v25.0/1/business_users?after=QQ");
        let garbage = c.follow("not a url");

        assert_eq!(same.query(), Some("limit=2&after=QQ"));
        assert!(elsewhere.is_err());
        assert!(garbage.is_err_and(|e| !e.to_string().contains("not a url")));
    }

    #[test]
    fn api_versions_must_look_like_v25_0() {
        assert!(version_ok("v25.0"));
        assert!(!version_ok("25.0"));
        assert!(!version_ok("v25"));
        assert!(!version_ok("v25.0/../x"));
        let bad = GraphClient::new(GraphConfig {
            api_version: "latest".into(),
            ..GraphConfig::default()
        });
        assert!(bad.is_err());
    }

    fn entry(id: &str, regain_min: u64) -> super::super::usage::BucUsage {
        super::super::usage::BucUsage {
            object_id: id.into(),
            kind: Some("ads_management".into()),
            usage: 100.0,
            regain_after: Some(Duration::from_secs(regain_min * 60)).filter(|d| !d.is_zero()),
        }
    }

    fn meta(code: i64) -> MetaError {
        MetaError {
            message: String::new(),
            error_type: None,
            code,
            subcode: None,
            fbtrace_id: None,
            is_transient: None,
            user_title: None,
            user_msg: None,
            http_status: 400,
        }
    }

    #[test]
    fn a_throttle_stops_the_object_called_with_its_own_wait() {
        let report = UsageReport {
            business: vec![entry("5550001", 30), entry("3001", 2), entry("3001", 0)],
            ..UsageReport::default()
        };

        let on_account = throttle_scope(&meta(80004), &report, &["act_3001"]);
        let by_param = throttle_scope(&meta(613), &report, &["20001", "5550001"]);
        let unknown = throttle_scope(&meta(613), &report, &["999"]);
        let app = throttle_scope(&meta(4), &report, &["act_3001"]);

        assert_eq!(
            on_account,
            (
                ThrottleScope::Business("3001".into()),
                Some(Duration::from_secs(120))
            )
        );
        assert_eq!(
            by_param,
            (
                ThrottleScope::Business("5550001".into()),
                Some(Duration::from_secs(1800))
            )
        );
        assert_eq!(
            unknown,
            (ThrottleScope::Token, Some(Duration::from_secs(1800))),
            "ambiguous: hold every bucket of the token, with the longest estimate"
        );
        assert_eq!(app.0, ThrottleScope::App);
        let single = UsageReport {
            business: vec![entry("5550001", 0)],
            ..UsageReport::default()
        };
        assert_eq!(
            throttle_scope(&meta(613), &single, &["me"]),
            (ThrottleScope::Business("5550001".into()), None)
        );
    }

    #[test]
    fn paging_links_in_bodies_lose_the_token_at_any_depth() {
        let mut v = serde_json::json!({
            "data": [{ "id": "1", "assigned_pages": { "data": [], "paging": {
                "next": "https://graph.facebook.com/v25.0/1/assigned_pages?access_token=EAAsecret&after=QQ"
            }}}],
            "paging": {
                "cursors": { "after": "QQ" },
                "next": "https://graph.facebook.com/v25.0/5/business_users?limit=2&access_token=EAAsecret&appsecret_proof=ab&after=QQ",
                "previous": "not a url EAAsecret"
            }
        });

        scrub_paging(&mut v);

        let shown = v.to_string();
        assert!(
            !shown.contains("EAAsecret") && !shown.contains("appsecret_proof"),
            "{shown}"
        );
        assert_eq!(
            v.pointer("/paging/next").and_then(Value::as_str),
            Some("https://graph.facebook.com/v25.0/5/business_users?limit=2&after=QQ")
        );
        assert!(v.pointer("/paging/previous").is_none());
        assert!(v.pointer("/data/0/assigned_pages/paging/next").is_some());
    }
}
