//! The Graph API sandbox: a stateful simulator of the parts of Meta's Graph API hubbridge uses,
//! served over real HTTP by actix-web, following `shared/meta-graph-api.md`.
//!
//! What belongs here: the simulated world (`world`), the wire format (`wire`), the seed
//! (`seed`), the sandbox-only control endpoint (`control`) and the server plumbing below. It
//! must not use `crate::meta`: the two halves keep each other honest. `docs/sandbox.md` is the
//! check list of every simulated behaviour.

mod control;
pub mod seed;
mod wire;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};

pub use seed::{demo_ids, Seed};
pub use world::{BudgetOverride, CallRecord, Stats};

use wire::{GraphFault, Params};
use world::{Method, Request, World};

/// The secret guarding `/_sandbox/*`. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl ControlToken {
    pub fn new(token: impl Into<String>) -> Self {
        ControlToken(token.into())
    }
    /// A fresh random token (32 bytes, base64url).
    pub fn random() -> Self {
        use base64::Engine as _;
        use rand::Rng as _;
        let bytes: [u8; 32] = rand::rng().random();
        ControlToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken([redacted])")
    }
}

impl std::fmt::Display for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Graph error the sandbox is told to return (faults, the restriction placeholder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSpec {
    #[serde(default = "default_fault_code")]
    pub code: i64,
    #[serde(default)]
    pub subcode: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
}

fn default_fault_code() -> i64 {
    2
}

impl Default for ErrorSpec {
    fn default() -> Self {
        ErrorSpec {
            code: 2,
            subcode: None,
            message: None,
            error_type: None,
        }
    }
}

impl ErrorSpec {
    pub(crate) fn to_fault(&self) -> GraphFault {
        let message = self.message.clone().unwrap_or_else(|| match self.code {
            1 | 2 => GraphFault::transient().message,
            c => format!("(#{c}) Simulated failure"),
        });
        GraphFault::new(
            self.code,
            self.subcode,
            self.error_type.as_deref().unwrap_or("OAuthException"),
            message,
        )
    }

    /// The placeholder for Meta's (undocumented) new-system-user restriction (reference 7.2,
    /// unconfirmed item 1): code 200, no subcode.
    pub fn new_system_user_restriction() -> Self {
        ErrorSpec {
            code: 200,
            subcode: None,
            message: Some(
                "(#200) This business or system user can't manage people yet. Newly created businesses and system users must wait before they can add, change or remove people."
                    .into(),
            ),
            error_type: Some("OAuthException".into()),
        }
    }
}

/// Fail a share of the calls to one endpoint (`"POST business_users"`, `"assigned_users"`, `"*"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRateFault {
    pub endpoint: String,
    /// 0.0–1.0.
    pub rate: f64,
    #[serde(flatten)]
    pub fault: ErrorSpec,
}

/// Fail calls naming one e-mail or id (path node, `email` or `user` parameter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetedFault {
    pub target: String,
    /// Restrict to one endpoint (same keys as [`ErrorRateFault::endpoint`]).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// How many times to fail; `None` = until cleared.
    #[serde(default)]
    pub remaining: Option<u32>,
    #[serde(flatten)]
    pub fault: ErrorSpec,
}

/// Faults, settable at start (here) and at run time (`/_sandbox/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultConfig {
    #[serde(default)]
    pub error_rates: Vec<ErrorRateFault>,
    /// Added to every Graph call.
    #[serde(default)]
    pub latency_ms: u64,
    /// Added to calls of one endpoint (same keys as [`ErrorRateFault::endpoint`]).
    #[serde(default)]
    pub endpoint_latency_ms: BTreeMap<String, u64>,
    #[serde(default)]
    pub targeted: Vec<TargetedFault>,
    /// Businesses under the new-system-user restriction at start.
    #[serde(default)]
    pub restricted_businesses: BTreeSet<String>,
    /// Token labels revoked at start.
    #[serde(default)]
    pub revoked_tokens: BTreeSet<String>,
}

/// Rate limits (reference 8): a rolling-window budget per business and per app.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Calls per window per business (token's business): every call that is not on a Page
    /// or an ad account.
    pub business_budget: u32,
    /// Calls per window per Page and per ad account (their own buckets; reference 8.1).
    pub object_budget: u32,
    /// Calls per window per app (`X-App-Usage`, code 4).
    pub app_budget: u32,
    /// Meta: a rolling hour.
    pub window: Duration,
    /// Meta counts throttled calls, which extends the block (reference 8.3).
    pub count_throttled_calls: bool,
    /// Meta reports whole minutes in `estimated_time_to_regain_access`; fractions make short
    /// test windows usable.
    pub fractional_regain_minutes: bool,
    /// Code of the business throttling error ([U]: 613, listed on `business_users`).
    pub throttle_code: i64,
    /// `type` in `X-Business-Use-Case-Usage` ([U] for business-management calls).
    pub buc_type: String,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            business_budget: 4800,
            object_budget: 4800,
            app_budget: 100_000,
            window: Duration::from_secs(3600),
            count_throttled_calls: true,
            fractional_regain_minutes: false,
            throttle_code: 613,
            buc_type: "business_management".into(),
        }
    }
}

/// Everything configurable about a sandbox at start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub control_token: ControlToken,
    /// Demand `appsecret_proof` on every call (a wrong proof is always refused).
    pub require_appsecret_proof: bool,
    pub rate_limit: RateLimitConfig,
    pub faults: FaultConfig,
    /// The error returned while a business is under the new-system-user restriction.
    pub restriction_error: ErrorSpec,
    /// Invitations per business per 24 h unless the seed sets one ([U]).
    pub default_invitation_limit: Option<u32>,
    pub invitation_lifetime_days: i64,
    pub default_page_size: usize,
    pub max_page_size: usize,
    /// actix workers.
    pub workers: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            control_token: ControlToken::random(),
            require_appsecret_proof: false,
            rate_limit: RateLimitConfig::default(),
            faults: FaultConfig::default(),
            restriction_error: ErrorSpec::new_system_user_restriction(),
            default_invitation_limit: None,
            invitation_lifetime_days: 30,
            default_page_size: 25,
            max_page_size: 100,
            workers: 2,
        }
    }
}

/// Shared state behind every sandbox route.
pub struct SandboxState {
    world: Mutex<World>,
    control_token: ControlToken,
}

impl SandboxState {
    pub fn new(config: SandboxConfig, seed: Seed) -> anyhow::Result<Self> {
        let control_token = config.control_token.clone();
        Ok(SandboxState {
            world: Mutex::new(World::new(config, seed)?),
            control_token,
        })
    }

    /// The world stays consistent after a panic elsewhere: every mutation completes under the
    /// lock, so a poisoned lock is taken over rather than propagated.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running sandbox.
pub struct SandboxServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    control_token: ControlToken,
}

impl SandboxServer {
    /// Base URL, e.g. `http://127.0.0.1:40123` (the Graph lives under `/vNN.N/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn control_token(&self) -> &ControlToken {
        &self.control_token
    }
    /// Graceful stop: in-flight requests finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
    /// Runs until the server stops (for `hubbridge sandbox`: pair with a Ctrl-C handler that
    /// calls [`SandboxServer::handle`]`.stop`).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.handle.clone()
    }
}

/// Starts a sandbox on `listener` in a spawned task (call inside a tokio runtime).
pub async fn start(
    config: SandboxConfig,
    seed: Seed,
    listener: TcpListener,
) -> anyhow::Result<SandboxServer> {
    let workers = config.workers.max(1);
    let control_token = config.control_token.clone();
    let state = web::Data::new(SandboxState::new(config, seed)?);
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().configure(move |cfg| configure(cfg, state))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(sandbox.addr = %addr, "Graph API sandbox listening");
    Ok(SandboxServer {
        addr,
        handle,
        task,
        control_token,
    })
}

/// Installs the sandbox routes: `/_sandbox/health` (open), `/_sandbox/*` (control token) and a
/// catch-all for the Graph paths — mount it on an app of its own.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<SandboxState>) {
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(1 << 20))
        .configure(control::configure)
        .default_service(web::to(graph));
}

/// `vNN.N` → (NN, N).
pub(crate) fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.strip_prefix('v')?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
}

fn render(status: u16, body: &serde_json::Value, headers: &[(String, String)]) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(code);
    for (n, v) in headers {
        resp.insert_header((n.as_str(), v.as_str()));
    }
    resp.content_type("application/json; charset=UTF-8")
        .body(body.to_string())
}

/// Every Graph path: `/{version}/{node}[/{edge}]`, unversioned paths, and batch at `/`.
async fn graph(req: HttpRequest, body: web::Bytes, state: web::Data<SandboxState>) -> HttpResponse {
    let mut segments: Vec<String> = req
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    // Reference 11: accept v21.0 and later, echo it; older versions are served by the oldest
    // available one; unversioned paths answer as v25.0.
    let version = match segments.first().and_then(|s| parse_version(s)) {
        Some(v) => {
            segments.remove(0);
            if v < (21, 0) {
                "v21.0".to_string()
            } else {
                format!("v{}.{}", v.0, v.1)
            }
        }
        None => "v25.0".to_string(),
    };
    let fail = |f: GraphFault| {
        let trace = world::trace_id();
        render(
            f.http_status(),
            &f.body(&trace),
            &[("facebook-api-version".into(), version.clone())],
        )
    };
    let Some(method) = Method::parse(req.method().as_str()) else {
        return fail(GraphFault::unknown_path(&segments.join("/")));
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let params = match Params::parse(req.query_string(), &content_type, &body) {
        Ok(p) => p,
        Err(f) => return fail(f),
    };
    let base_url = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let request = Request {
        method,
        segments,
        version: version.clone(),
        params,
        bearer: bearer(&req),
        base_url,
        proof_checked: false,
    };
    state
        .world()
        .note_url(&request.segments.join("/"), req.query_string());
    let delay = state.world().latency_for(&request);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = state.world().handle(&request, Instant::now());
    render(reply.status, &reply.body, &reply.headers)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}
