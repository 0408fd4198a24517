//! The sandbox's state and its Graph semantics: businesses, people, invitations, system users,
//! assets with per-person tasks, partners and tokens, and the handling of every Graph call the
//! sandbox answers (reference sections 3–9). Pure and synchronous: the HTTP layer in
//! `sandbox/mod.rs` locks the world, hands it a [`Request`] and renders the [`Reply`].
//!
//! Here: the state, the seed → state load, control-side operations, authentication, routing,
//! batch. `nodes`: identity, business and people calls. `assets`: asset calls and task
//! vocabularies. `limits`: rate limits and injected faults.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::seed::Seed;
use super::wire::{self, GraphFault, GraphResult, PageLimits, PageUrl, Params};
use super::{FaultConfig, RateLimitConfig, SandboxConfig};

mod assets;
mod limits;
mod nodes;

use assets::{asset_defaults, edge_kind, partner_json};
use limits::Window;
use nodes::split_role;

/// Business roles (reference 4.6).
pub const ROLES: [&str; 15] = [
    "ADMIN",
    "EMPLOYEE",
    "FINANCE_EDITOR",
    "FINANCE_ANALYST",
    "ADS_RIGHTS_REVIEWER",
    "DEVELOPER",
    "PARTNER_CENTER_ADMIN",
    "PARTNER_CENTER_ANALYST",
    "PARTNER_CENTER_OPERATIONS",
    "PARTNER_CENTER_MARKETING",
    "PARTNER_CENTER_EDUCATION",
    "MANAGE",
    "DEFAULT",
    "FINANCE_EDIT",
    "FINANCE_VIEW",
];
const AD_ACCOUNT_TASKS: [&str; 5] = ["MANAGE", "ADVERTISE", "ANALYZE", "DRAFT", "AA_ANALYZE"];
const CATALOG_TASKS: [&str; 4] = ["MANAGE", "ADVERTISE", "MANAGE_AR", "AA_ANALYZE"];
const PAGE_TASKS: &[&str] = &[
    "MANAGE",
    "CREATE_CONTENT",
    "MODERATE",
    "MESSAGING",
    "ADVERTISE",
    "ANALYZE",
    "MODERATE_COMMUNITY",
    "MANAGE_JOBS",
    "PAGES_MESSAGING",
    "PAGES_MESSAGING_SUBSCRIPTIONS",
    "READ_PAGE_MAILBOXES",
    "VIEW_MONETIZATION_INSIGHTS",
    "MANAGE_LEADS",
    "CASHIER_ROLE",
    "GLOBAL_STRUCTURE_MANAGEMENT",
    "PROFILE_PLUS_FULL_CONTROL",
    "PROFILE_PLUS_MANAGE",
    "PROFILE_PLUS_FACEBOOK_ACCESS",
    "PROFILE_PLUS_CREATE_CONTENT",
    "PROFILE_PLUS_MODERATE",
    "PROFILE_PLUS_MODERATE_DELEGATE_COMMUNITY",
    "PROFILE_PLUS_MESSAGING",
    "PROFILE_PLUS_ADVERTISE",
    "PROFILE_PLUS_ANALYZE",
    "PROFILE_PLUS_REVENUE",
    "PROFILE_PLUS_MANAGE_LEADS",
    "PROFILE_PLUS_GLOBAL_STRUCTURE_MANAGEMENT",
];
const PAGE_UNIFIED_TASKS: [&str; 13] = [
    "FULL_CONTROL",
    "CONTENT",
    "MESSAGES",
    "COMMUNITY_ACTIVITY",
    "ADVERTISE",
    "ANALYZE",
    "IG_APP_ADMIN",
    "IG_APP",
    "SPARK_INSIGHTS",
    "SPARK_PUBLISH",
    "SPARK_EVERYTHING",
    "CREATOR_MANAGEMENT",
    "CREATIVE_MANAGEMENT",
];

const USER_FIELDS: [&str; 15] = [
    "id",
    "name",
    "business",
    "email",
    "first_name",
    "last_name",
    "title",
    "role",
    "finance_permission",
    "ip_permission",
    "pending_email",
    "two_fac_status",
    "tasks",
    "business_role_request",
    "marked_for_removal",
];
const INVITATION_FIELDS: [&str; 14] = [
    "id",
    "email",
    "role",
    "status",
    "created_time",
    "updated_time",
    "expiration_time",
    "expiry_time",
    "owner",
    "finance_role",
    "ip_role",
    "invited_user_type",
    "invite_link",
    "tasks",
];
const SYSTEM_USER_FIELDS: [&str; 6] = [
    "id",
    "name",
    "role",
    "created_time",
    "finance_permission",
    "ip_permission",
];
const BUSINESS_FIELDS: [&str; 5] = [
    "id",
    "name",
    "verification_status",
    "two_factor_type",
    "created_time",
];
const ASSET_FIELDS: [&str; 10] = [
    "id",
    "name",
    "account_id",
    "account_status",
    "business",
    "vertical",
    "product_count",
    "permitted_tasks",
    "tasks",
    "user_tasks",
];
const ASSIGNED_FIELDS: [&str; 6] = [
    "id",
    "name",
    "user_type",
    "business",
    "tasks",
    "permitted_tasks",
];
const PARTNER_FIELDS: [&str; 7] = [
    "id",
    "name",
    "page_permissions",
    "adaccount_permissions",
    "productcatalog_permissions",
    "application_permissions",
    "shared_ca_count",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn parse(m: &str) -> Option<Method> {
        match m.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Delete => "delete",
        }
    }
    fn upper(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One Graph request as the world sees it.
pub struct Request {
    pub method: Method,
    /// Path segments after the version.
    pub segments: Vec<String>,
    /// The version answering (`v25.0`).
    pub version: String,
    pub params: Params,
    /// Token from the `Authorization` header, if any.
    pub bearer: Option<String>,
    /// `http://host:port`, for absolute `paging.next` links.
    pub base_url: String,
    /// Set on batch operations using the top-level token, whose proof the top-level request
    /// checked; an operation with its own `access_token` has its own proof checked
    /// (reference 10: the proof is per token and per app).
    pub proof_checked: bool,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub seq: u64,
    pub method: Method,
    /// Path without the version, e.g. `/5550001/business_users`.
    pub path: String,
    pub params: serde_json::Map<String, Value>,
    pub status: u16,
    pub error_code: Option<i64>,
    pub business_id: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Counted Graph calls (each batch operation is one).
    pub graph_calls: u64,
    pub throttled: u64,
    pub injected_faults: u64,
    pub errors: u64,
    /// Batch requests received (`POST /` with `batch`), and the operations they held.
    pub batches: u64,
    pub batch_operations: u64,
    /// Requests whose URL (path or query string) carried a token or a secret parameter
    /// (`access_token`, `input_token`, `client_secret`, …). Only counted, never recorded.
    pub secrets_in_url: u64,
    /// Counted calls by method and endpoint (`GET pending_users`, `POST business_role_request`…),
    /// throttled ones included: where a client's calls went.
    pub by_endpoint: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
struct Person {
    id: String,
    name: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    role: String,
    finance_permission: Option<String>,
    ip_permission: Option<String>,
    tasks: Vec<String>,
    invitation_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Invitation {
    id: String,
    email: String,
    role: String,
    tasks: Vec<String>,
    status: String,
    created_time: String,
    updated_time: String,
    expiration_time: String,
    invited_user_type: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct SystemUser {
    id: String,
    name: String,
    role: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum AssetKind {
    Page,
    AdAccount,
    Catalog,
}

#[derive(Debug, Clone, Serialize)]
struct Asset {
    id: String,
    kind: AssetKind,
    name: String,
    owner: String,
    assigned: BTreeMap<String, Vec<String>>,
    unified_tasks: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Agency {
    business_id: String,
    pages: Vec<String>,
    ad_accounts: Vec<String>,
    catalogs: Vec<String>,
    permitted_tasks: Vec<String>,
    access_status: String,
}

#[derive(Debug, Clone, Serialize)]
struct Business {
    id: String,
    name: String,
    verification_status: String,
    two_factor_type: String,
    created_time: String,
    people: Vec<Person>,
    invitations: Vec<Invitation>,
    system_users: Vec<SystemUser>,
    agencies: Vec<Agency>,
    restricted: bool,
    invitation_limit: Option<u32>,
    #[serde(skip)]
    invites_sent: VecDeque<Instant>,
}

#[derive(Clone)]
struct Token {
    value: String,
    label: Option<String>,
    app_id: String,
    token_type: String,
    user_id: String,
    business_id: String,
    scopes: Vec<String>,
    expires_at: i64,
    issued_at: i64,
    revoked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenSummary {
    pub label: Option<String>,
    pub app_id: String,
    pub token_type: String,
    pub user_id: String,
    pub business_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

/// A business's own budget, overriding the configured default.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BudgetOverride {
    pub budget: u32,
    pub window_ms: u64,
}

enum Node {
    Business,
    Person,
    Invitation,
    SystemUser,
    Asset(String),
}

pub struct World {
    config: SandboxConfig,
    apps: HashMap<String, (String, String)>,
    businesses: BTreeMap<String, Business>,
    assets: BTreeMap<String, Asset>,
    tokens: Vec<Token>,
    next_id: u64,
    seq: u64,
    pub log: Vec<CallRecord>,
    pub stats: Stats,
    pub faults: FaultConfig,
    pub rate: RateLimitConfig,
    pub budget_overrides: HashMap<String, BudgetOverride>,
    /// Rolling windows per bucket (`limits::Bucket`), keyed by the object's graph id.
    object_windows: HashMap<String, Window>,
    app_windows: HashMap<String, Window>,
}

fn now_rfc(offset_days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(offset_days))
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

pub(crate) fn trace_id() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..11)
        .map(|_| {
            let c = rng.random_range(0..62u8);
            char::from(match c {
                0..=9 => b'0' + c,
                10..=35 => b'a' + c - 10,
                _ => b'A' + c - 36,
            })
        })
        .collect()
}

fn ad_graph_id(raw: &str) -> String {
    if raw.starts_with("act_") {
        raw.to_string()
    } else {
        format!("act_{raw}")
    }
}

impl World {
    pub fn new(config: SandboxConfig, seed: Seed) -> anyhow::Result<World> {
        let mut businesses = BTreeMap::new();
        let mut assets = BTreeMap::new();
        for b in &seed.businesses {
            let people = b
                .people
                .iter()
                .map(|p| Person {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    email: p.email.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                    title: p.title.clone(),
                    role: p.role.clone(),
                    finance_permission: p.finance_permission.clone(),
                    ip_permission: None,
                    tasks: p.tasks.clone(),
                    invitation_id: None,
                })
                .collect();
            let invitations = b
                .invitations
                .iter()
                .map(|i| Invitation {
                    id: i.id.clone(),
                    email: i.email.clone(),
                    role: i.role.clone(),
                    tasks: i.tasks.clone(),
                    status: "PENDING".into(),
                    created_time: now_rfc(-2),
                    updated_time: now_rfc(-2),
                    expiration_time: now_rfc(config.invitation_lifetime_days - 2),
                    invited_user_type: vec!["FB".into()],
                })
                .collect();
            let mut add_assets = |list: &[super::seed::SeedAsset], kind: AssetKind| {
                for a in list {
                    let id = if kind == AssetKind::AdAccount {
                        ad_graph_id(&a.id)
                    } else {
                        a.id.clone()
                    };
                    assets.insert(
                        id.clone(),
                        Asset {
                            id,
                            kind,
                            name: a.name.clone(),
                            owner: b.id.clone(),
                            assigned: a.assigned.clone(),
                            unified_tasks: a.unified_tasks,
                        },
                    );
                }
            };
            add_assets(&b.pages, AssetKind::Page);
            add_assets(&b.ad_accounts, AssetKind::AdAccount);
            add_assets(&b.catalogs, AssetKind::Catalog);
            let business = Business {
                id: b.id.clone(),
                name: b.name.clone(),
                verification_status: b.verification_status.clone(),
                two_factor_type: b.two_factor_type.clone(),
                created_time: b.created_time.clone(),
                people,
                invitations,
                system_users: b
                    .system_users
                    .iter()
                    .map(|s| SystemUser {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        role: s.role.clone(),
                    })
                    .collect(),
                agencies: b
                    .agencies
                    .iter()
                    .map(|a| Agency {
                        business_id: a.business_id.clone(),
                        pages: a.pages.clone(),
                        ad_accounts: a.ad_accounts.iter().map(|x| ad_graph_id(x)).collect(),
                        catalogs: a.catalogs.clone(),
                        permitted_tasks: a.permitted_tasks.clone(),
                        access_status: a.access_status.clone(),
                    })
                    .collect(),
                restricted: config.faults.restricted_businesses.contains(&b.id),
                invitation_limit: b.invitation_limit.or(config.default_invitation_limit),
                invites_sent: VecDeque::new(),
            };
            if businesses.insert(b.id.clone(), business).is_some() {
                anyhow::bail!("seed: business {} is listed twice", b.id);
            }
        }
        let tokens: Vec<Token> = seed
            .tokens
            .iter()
            .map(|t| Token {
                value: t.token.clone(),
                label: t.label.clone(),
                app_id: t.app_id.clone(),
                token_type: t.token_type.clone(),
                user_id: t.user_id.clone(),
                business_id: t.business_id.clone(),
                scopes: t.scopes.clone(),
                expires_at: t.expires_at,
                issued_at: t.issued_at,
                revoked: t
                    .label
                    .as_ref()
                    .is_some_and(|l| config.faults.revoked_tokens.contains(l)),
            })
            .collect();
        // Every Graph id must name one node, or lookups would be ambiguous.
        let mut seen = std::collections::HashSet::new();
        let ids = businesses
            .values()
            .flat_map(|b: &Business| {
                std::iter::once(b.id.as_str())
                    .chain(b.people.iter().map(|p| p.id.as_str()))
                    .chain(b.invitations.iter().map(|i| i.id.as_str()))
                    .chain(b.system_users.iter().map(|s| s.id.as_str()))
            })
            .chain(assets.keys().map(String::as_str));
        for id in ids {
            if !seen.insert(id) {
                anyhow::bail!("seed: id {id} is used by more than one object");
            }
        }
        for t in &tokens {
            if !businesses.contains_key(&t.business_id) {
                anyhow::bail!(
                    "seed: token {} names unknown business {}",
                    t.label.as_deref().unwrap_or("(unlabelled)"),
                    t.business_id
                );
            }
        }
        let apps = seed
            .apps
            .iter()
            .map(|a| (a.id.clone(), (a.name.clone(), a.secret.clone())))
            .collect();
        Ok(World {
            rate: config.rate_limit.clone(),
            faults: config.faults.clone(),
            config,
            apps,
            businesses,
            assets,
            tokens,
            next_id: 880_000_000_001,
            seq: 0,
            log: Vec::new(),
            stats: Stats::default(),
            budget_overrides: HashMap::new(),
            object_windows: HashMap::new(),
            app_windows: HashMap::new(),
        })
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    // ---------------------------------------------------------------- control-side operations

    pub fn business_state(&self, id: &str) -> Option<Value> {
        let b = self.businesses.get(id)?;
        let assets: Vec<&Asset> = self.assets.values().filter(|a| a.owner == id).collect();
        let tokens: Vec<TokenSummary> = self
            .tokens
            .iter()
            .filter(|t| t.business_id == id)
            .map(|t| TokenSummary {
                label: t.label.clone(),
                app_id: t.app_id.clone(),
                token_type: t.token_type.clone(),
                user_id: t.user_id.clone(),
                business_id: t.business_id.clone(),
                scopes: t.scopes.clone(),
                revoked: t.revoked,
            })
            .collect();
        let clients: Vec<&str> = self
            .businesses
            .values()
            .filter(|o| o.agencies.iter().any(|a| a.business_id == id))
            .map(|o| o.id.as_str())
            .collect();
        Some(json!({
            "business": b,
            "assets": assets,
            "clients": clients,
            "tokens": tokens,
            "budget_override": self.budget_overrides.get(id),
        }))
    }

    /// Revokes tokens by label or by value; returns how many matched.
    pub fn revoke_token(&mut self, label_or_value: &str) -> usize {
        let mut n = 0;
        for t in &mut self.tokens {
            if t.label.as_deref() == Some(label_or_value) || t.value == label_or_value {
                t.revoked = true;
                n += 1;
            }
        }
        n
    }

    pub fn set_restricted(&mut self, business: &str, restricted: bool) -> bool {
        match self.businesses.get_mut(business) {
            Some(b) => {
                b.restricted = restricted;
                true
            }
            None => false,
        }
    }

    pub fn set_invitation_limit(&mut self, business: &str, limit: Option<u32>) -> bool {
        match self.businesses.get_mut(business) {
            Some(b) => {
                b.invitation_limit = limit;
                b.invites_sent.clear();
                true
            }
            None => false,
        }
    }

    pub fn set_unified_tasks(&mut self, page: &str, on: bool) -> bool {
        match self.assets.get_mut(page) {
            Some(a) if a.kind == AssetKind::Page => {
                a.unified_tasks = on;
                true
            }
            _ => false,
        }
    }

    pub fn reset_usage(&mut self) {
        self.object_windows.clear();
        self.app_windows.clear();
    }

    /// Sandbox-only invitation outcome (reference 4.7): `accept` turns the invitation into an
    /// active person; `decline` removes it; `expire` marks it `EXPIRED` (kept listed).
    pub fn settle_invitation(&mut self, id: &str, action: &str) -> Result<Value, String> {
        let new_person_id = self.new_id();
        let Some((b, idx)) = self.businesses.values_mut().find_map(|b| {
            let idx = b.invitations.iter().position(|i| i.id == id)?;
            Some((b, idx))
        }) else {
            return Err(format!("no invitation {id}"));
        };
        if b.invitations[idx].status != "PENDING" {
            return Err(format!("invitation {id} is {}", b.invitations[idx].status));
        }
        match action {
            "accept" => {
                let inv = b.invitations.remove(idx);
                let local = inv.email.split('@').next().unwrap_or("invitee").to_string();
                let (role, finance, ip) = split_role(&inv.role);
                let person = Person {
                    id: new_person_id,
                    name: local.replace(['.', '_'], " "),
                    email: inv.email.clone(),
                    first_name: None,
                    last_name: None,
                    title: None,
                    role,
                    finance_permission: finance,
                    ip_permission: ip,
                    tasks: inv.tasks.clone(),
                    invitation_id: Some(inv.id.clone()),
                };
                let v = json!({ "person": person });
                b.people.push(person);
                Ok(v)
            }
            "decline" => {
                let inv = b.invitations.remove(idx);
                Ok(json!({ "declined": inv.id }))
            }
            "expire" => {
                let inv = &mut b.invitations[idx];
                inv.status = "EXPIRED".into();
                inv.expiration_time = now_rfc(0);
                Ok(json!({ "invitation": inv }))
            }
            other => Err(format!("unknown action {other}")),
        }
    }

    /// Latency injected before answering `req` (global plus per endpoint).
    pub fn latency_for(&self, req: &Request) -> Duration {
        let ep = endpoint_name(req, self);
        let key = format!("{} {ep}", req.method.upper());
        let extra = self
            .faults
            .endpoint_latency_ms
            .get(&key)
            .or_else(|| self.faults.endpoint_latency_ms.get(&ep))
            .copied()
            .unwrap_or(0);
        Duration::from_millis(self.faults.latency_ms.saturating_add(extra))
    }

    // ---------------------------------------------------------------- Graph handling

    /// Answers one Graph request, counting it, logging it when it mutates, and attaching the
    /// usage headers (reference 8.2).
    pub fn handle(&mut self, req: &Request, now: Instant) -> Reply {
        let trace = trace_id();
        let mut headers = vec![
            ("facebook-api-version".to_string(), req.version.clone()),
            ("x-fb-trace-id".to_string(), trace.clone()),
            ("x-fb-rev".to_string(), "1020304050".to_string()),
        ];
        let mut business_for_log = None;
        let result = self.handle_inner(req, now, &mut headers, &mut business_for_log);
        let (status, body, error_code) = match result {
            Ok(v) => (200, v, None),
            Err(f) => {
                self.stats.errors += 1;
                if let Some(w) = f.www_authenticate() {
                    headers.push(("www-authenticate".into(), w));
                }
                (f.http_status(), f.body(&trace), Some(f.code))
            }
        };
        if req.method != Method::Get && !req.segments.is_empty() {
            self.seq += 1;
            self.log.push(CallRecord {
                seq: self.seq,
                method: req.method,
                path: format!("/{}", req.segments.join("/")),
                params: req.params.redacted(),
                status,
                error_code,
                business_id: business_for_log,
                at: now_rfc(0),
            });
        }
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Whether a request URL (decoded path and query string) carries a token the sandbox knows
    /// or a secret parameter: counted in `stats.secrets_in_url` so tests can prove the client
    /// keeps tokens out of URLs. The value itself is never stored.
    pub fn note_url(&mut self, path: &str, query: &str) {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let secret_param = pairs.iter().any(|(k, _)| wire::is_secret_token_param(k));
        let token_value = self.tokens.iter().any(|t| {
            !t.value.is_empty()
                && (path.contains(&t.value)
                    || pairs
                        .iter()
                        .any(|(k, v)| k.contains(&t.value) || v.contains(&t.value)))
        });
        if secret_param || token_value {
            self.stats.secrets_in_url += 1;
        }
    }

    fn authenticate(&self, req: &Request) -> GraphResult<usize> {
        let raw = req
            .bearer
            .as_deref()
            .or_else(|| req.params.get("access_token"))
            .ok_or_else(GraphFault::no_token)?;
        let idx = self
            .tokens
            .iter()
            .position(|t| t.value == raw)
            .ok_or_else(GraphFault::bad_token)?;
        let tok = &self.tokens[idx];
        if !req.proof_checked {
            let secret = self.apps.get(&tok.app_id).map(|(_, s)| s.as_str());
            match (req.params.get("appsecret_proof"), secret) {
                (Some(proof), Some(secret)) if !proof_matches(secret, raw, proof) => {
                    return Err(GraphFault::proof_invalid());
                }
                (None, Some(_)) if self.config.require_appsecret_proof => {
                    return Err(GraphFault::proof_missing());
                }
                _ => {}
            }
        }
        if tok.revoked {
            return Err(GraphFault::revoked_token());
        }
        if tok.expires_at > 0 && tok.expires_at < chrono::Utc::now().timestamp() {
            return Err(GraphFault::expired_token());
        }
        Ok(idx)
    }

    fn handle_inner(
        &mut self,
        req: &Request,
        now: Instant,
        headers: &mut Vec<(String, String)>,
        business_for_log: &mut Option<String>,
    ) -> GraphResult<Value> {
        let tidx = self.authenticate(req)?;
        let tok = self.tokens[tidx].clone();
        *business_for_log = Some(tok.business_id.clone());
        if req.segments.is_empty() {
            return match req.method {
                Method::Post => {
                    let answer = self.batch(req, &tok, now);
                    // Usage after the operations were counted, like any counted response.
                    let bucket = limits::Bucket::Business(tok.business_id.clone());
                    headers.extend(self.usage_headers(&tok, now, &bucket));
                    answer
                }
                _ => Err(GraphFault::unknown_path("")),
            };
        }
        self.stats.graph_calls += 1;
        let bucket = self.bucket_of(&req.segments, &tok);
        let endpoint = endpoint_name(req, self);
        *self
            .stats
            .by_endpoint
            .entry(format!("{} {endpoint}", req.method.upper()))
            .or_default() += 1;
        self.admit(&tok, now, headers, &bucket)?;
        self.injected_fault(req, &endpoint)?;
        self.route(req, &tok)
    }

    fn locate(&self, id: &str) -> Option<(Node, String)> {
        if self.businesses.contains_key(id) {
            return Some((Node::Business, id.into()));
        }
        if let Some(a) = self.assets.get(id) {
            return Some((Node::Asset(id.into()), a.owner.clone()));
        }
        for b in self.businesses.values() {
            if b.people.iter().any(|p| p.id == id) {
                return Some((Node::Person, b.id.clone()));
            }
            if b.invitations.iter().any(|p| p.id == id) {
                return Some((Node::Invitation, b.id.clone()));
            }
            if b.system_users.iter().any(|p| p.id == id) {
                return Some((Node::SystemUser, b.id.clone()));
            }
        }
        None
    }

    /// Whether the token's business can see an asset: owned, or shared with it by an agency link.
    fn asset_visible(&self, asset: &Asset, business: &str) -> bool {
        asset.owner == business
            || self.businesses.get(&asset.owner).is_some_and(|o| {
                o.agencies.iter().any(|a| {
                    a.business_id == business
                        && (a.pages.contains(&asset.id)
                            || a.ad_accounts.contains(&asset.id)
                            || a.catalogs.contains(&asset.id))
                })
            })
    }

    fn route(&mut self, req: &Request, tok: &Token) -> GraphResult<Value> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match (req.method, segs.as_slice()) {
            (Method::Get, ["me"]) => self.get_me(req, tok),
            (Method::Get, ["me", "businesses"]) => self.get_my_businesses(req, tok),
            (Method::Get, ["debug_token"]) => self.get_debug_token(req),
            (_, s) if s.len() > 2 => Err(GraphFault::unknown_path(&segs[1..].join("/"))),
            (m, [id]) => self.node(req, tok, m, id),
            (m, [id, edge]) => self.edge(req, tok, m, id, edge),
            _ => Err(GraphFault::unknown_path(&segs.join("/"))),
        }
    }

    fn need_scope(tok: &Token, scope: &str) -> GraphResult<()> {
        if tok.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(GraphFault::missing_scope(scope))
        }
    }

    fn actor_is_admin(&self, tok: &Token) -> bool {
        self.businesses.get(&tok.business_id).is_some_and(|b| {
            b.system_users
                .iter()
                .any(|s| s.id == tok.user_id && s.role == "ADMIN")
                || b.people
                    .iter()
                    .any(|p| p.id == tok.user_id && p.role == "ADMIN")
        })
    }

    /// Checks for a people-management write: scope, admin role, the new-system-user
    /// restriction (reference 4.10, 7.2).
    fn may_manage_people(&self, tok: &Token) -> GraphResult<()> {
        Self::need_scope(tok, "business_management")?;
        if !self.actor_is_admin(tok) {
            return Err(GraphFault::not_admin());
        }
        if self
            .businesses
            .get(&tok.business_id)
            .is_some_and(|b| b.restricted)
        {
            return Err(self.config.restriction_error.to_fault());
        }
        Ok(())
    }

    fn page_limits(&self) -> PageLimits {
        PageLimits {
            default_limit: self.config.default_page_size,
            max_limit: self.config.max_page_size,
        }
    }

    fn list(
        &self,
        req: &Request,
        tok: &Token,
        items: Vec<Value>,
        defaults: &[&str],
        known: &[&str],
    ) -> GraphResult<Value> {
        let fields = req.params.get("fields");
        let items = items
            .iter()
            .map(|v| wire::select(v, fields, defaults, known))
            .collect::<GraphResult<Vec<_>>>()?;
        let path = format!("/{}/{}", req.version, req.segments.join("/"));
        wire::page(
            items,
            self.page_limits(),
            &PageUrl {
                base_url: &req.base_url,
                path: &path,
                params: &req.params,
                token: &tok.value,
            },
        )
    }

    /// Batch requests (reference 9): up to 50 operations, each counted and answered on its own.
    fn batch(&mut self, req: &Request, tok: &Token, now: Instant) -> GraphResult<Value> {
        let raw = req.params.required("batch")?;
        let ops: Vec<Value> = serde_json::from_str(raw)
            .map_err(|_| GraphFault::invalid_param("The batch parameter must be a JSON array"))?;
        if ops.len() > 50 {
            return Err(GraphFault::new(
                100,
                None,
                "GraphBatchException",
                "Too many requests in batch message. Maximum batch size is 50",
            ));
        }
        let include_headers = req.params.get("include_headers") != Some("false");
        self.stats.batches += 1;
        self.stats.batch_operations += ops.len() as u64;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let method = op
                .get("method")
                .and_then(Value::as_str)
                .and_then(Method::parse)
                .unwrap_or(Method::Get);
            let Some(rel) = op.get("relative_url").and_then(Value::as_str) else {
                out.push(json!({ "code": 400, "body": GraphFault::invalid_param("relative_url is required").body(&trace_id()).to_string() }));
                continue;
            };
            let rel = rel.trim_start_matches('/');
            let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
            let body = op.get("body").and_then(Value::as_str).unwrap_or("");
            let params =
                match Params::parse(query, "application/x-www-form-urlencoded", body.as_bytes()) {
                    Ok(p) => p,
                    Err(f) => {
                        out.push(
                        json!({ "code": f.http_status(), "body": f.body(&trace_id()).to_string() }),
                    );
                        continue;
                    }
                };
            let mut segments: Vec<String> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let mut version = req.version.clone();
            if segments
                .first()
                .is_some_and(|s| super::parse_version(s).is_some())
            {
                version = segments.remove(0);
            }
            // An operation with its own token is authenticated, proof included, on its own.
            let own_token = params.get("access_token").is_some_and(|t| t != tok.value);
            let sub = Request {
                method,
                segments,
                version,
                bearer: if params.get("access_token").is_some() {
                    None
                } else {
                    Some(tok.value.clone())
                },
                params,
                base_url: req.base_url.clone(),
                proof_checked: !own_token,
            };
            if sub.segments.is_empty() {
                out.push(json!({ "code": 400, "body": GraphFault::unknown_path("").body(&trace_id()).to_string() }));
                continue;
            }
            let reply = self.handle(&sub, now);
            let mut item = json!({ "code": reply.status, "body": reply.body.to_string() });
            if include_headers {
                if let Some(o) = item.as_object_mut() {
                    o.insert(
                        "headers".into(),
                        reply
                            .headers
                            .iter()
                            .map(|(n, v)| json!({ "name": n, "value": v }))
                            .collect(),
                    );
                }
            }
            out.push(item);
        }
        Ok(Value::Array(out))
    }
}

fn proof_matches(secret: &str, token: &str, proof: &str) -> bool {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let Some(bytes) = decode_hex(proof) else {
        return false;
    };
    hmac::verify(&key, token.as_bytes(), &bytes).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// The endpoint name faults are keyed by: the edge, or the kind of node (`business_user`,
/// `business_role_request`, `system_user`, `business`, `page`, `ad_account`, `catalog`).
fn endpoint_name(req: &Request, world: &World) -> String {
    match req.segments.as_slice() {
        [_, edge] => edge.clone(),
        [node] if node == "me" || node == "debug_token" => node.clone(),
        [node] => match world.locate(node) {
            Some((Node::Business, _)) => "business".into(),
            Some((Node::Person, _)) => "business_user".into(),
            Some((Node::Invitation, _)) => "business_role_request".into(),
            Some((Node::SystemUser, _)) => "system_user".into(),
            Some((Node::Asset(a), _)) => match world.assets.get(&a).map(|a| a.kind) {
                Some(AssetKind::AdAccount) => "ad_account".into(),
                Some(AssetKind::Catalog) => "catalog".into(),
                _ => "page".into(),
            },
            None => "unknown".into(),
        },
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::assets::expand_tasks;
    use super::nodes::valid_email;
    use super::*;

    #[test]
    fn proof_matches_the_reference_test_vector() {
        assert!(proof_matches(
            "app-secret-123",
            "EAAtoken-abc",
            "e484997750bd7f32533265428e7cd128d68ea7e9866e8f205267ce9a8cb2968f"
        ));
        assert!(!proof_matches("app-secret-123", "EAAtoken-abc", "00"));
        assert!(!proof_matches("app-secret-123", "EAAtoken-abc", "zz"));
    }

    #[test]
    fn higher_tasks_read_back_with_the_lower_ones() {
        let t = expand_tasks(AssetKind::AdAccount, &["MANAGE".to_string()]);
        assert_eq!(t, vec!["MANAGE", "ADVERTISE", "ANALYZE"]);
    }

    #[test]
    fn email_validation_rejects_obvious_garbage() {
        assert!(valid_email("a@b.example"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("@b.example"));
        assert!(!valid_email("a b@c.example"));
        assert!(!valid_email("a@b@c.example"));
    }
}
