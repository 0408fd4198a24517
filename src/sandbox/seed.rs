//! The sandbox seed: the businesses, people, assets, partners, apps and tokens a sandbox starts
//! with, loadable from JSON or TOML, plus [`Seed::demo`], the default world used by
//! `hubbridge demo` and by the tests.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Everything a sandbox starts with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seed {
    /// Meta apps; tokens name one by `app_id`, its secret checks `appsecret_proof`.
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    #[serde(default)]
    pub businesses: Vec<SeedBusiness>,
    #[serde(default)]
    pub tokens: Vec<SeedToken>,
    /// How the sandbox behaves from the start (`[sandbox]` in TOML, `"sandbox"` in JSON):
    /// rate limits, `require_appsecret_proof`, faults. Applied by
    /// [`SeedSettings::apply`]; `hubbridge sandbox` flags override it.
    #[serde(default)]
    pub sandbox: SeedSettings,
}

/// Start-time behaviour a seed file may set; every field is optional (absent = the
/// [`SandboxConfig`](super::SandboxConfig) default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSettings {
    #[serde(default)]
    pub require_appsecret_proof: Option<bool>,
    #[serde(default)]
    pub rate_limit: SeedRateLimit,
    /// Faults active at start (same shape as `PUT /_sandbox/faults`).
    #[serde(default)]
    pub faults: Option<super::FaultConfig>,
    /// Invitations per business per rolling 24 h, for businesses without their own limit.
    #[serde(default)]
    pub default_invitation_limit: Option<u32>,
}

/// Rate-limit settings a seed may set (reference 8; see `RateLimitConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRateLimit {
    #[serde(default)]
    pub business_budget: Option<u32>,
    #[serde(default)]
    pub object_budget: Option<u32>,
    #[serde(default)]
    pub app_budget: Option<u32>,
    #[serde(default)]
    pub window_ms: Option<u64>,
    #[serde(default)]
    pub count_throttled_calls: Option<bool>,
    #[serde(default)]
    pub fractional_regain_minutes: Option<bool>,
    #[serde(default)]
    pub throttle_code: Option<i64>,
}

impl SeedSettings {
    /// `config` with every setting this seed gives applied.
    pub fn apply(&self, mut config: super::SandboxConfig) -> anyhow::Result<super::SandboxConfig> {
        if let Some(v) = self.require_appsecret_proof {
            config.require_appsecret_proof = v;
        }
        let r = &self.rate_limit;
        if let Some(v) = r.business_budget {
            anyhow::ensure!(v > 0, "sandbox.rate_limit.business_budget must be positive");
            config.rate_limit.business_budget = v;
        }
        if let Some(v) = r.object_budget {
            anyhow::ensure!(v > 0, "sandbox.rate_limit.object_budget must be positive");
            config.rate_limit.object_budget = v;
        }
        if let Some(v) = r.app_budget {
            anyhow::ensure!(v > 0, "sandbox.rate_limit.app_budget must be positive");
            config.rate_limit.app_budget = v;
        }
        if let Some(v) = r.window_ms {
            anyhow::ensure!(v > 0, "sandbox.rate_limit.window_ms must be positive");
            config.rate_limit.window = std::time::Duration::from_millis(v);
        }
        if let Some(v) = r.count_throttled_calls {
            config.rate_limit.count_throttled_calls = v;
        }
        if let Some(v) = r.fractional_regain_minutes {
            config.rate_limit.fractional_regain_minutes = v;
        }
        if let Some(v) = r.throttle_code {
            config.rate_limit.throttle_code = v;
        }
        if let Some(f) = &self.faults {
            anyhow::ensure!(
                f.error_rates
                    .iter()
                    .all(|e| e.rate.is_finite() && (0.0..=1.0).contains(&e.rate)),
                "sandbox.faults.error_rates: rate must be between 0 and 1"
            );
            config.faults = f.clone();
        }
        if let Some(v) = self.default_invitation_limit {
            config.default_invitation_limit = Some(v);
        }
        Ok(config)
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SeedApp {
    pub id: String,
    pub name: String,
    /// App secret used to verify `appsecret_proof` (reference section 10).
    pub secret: String,
}

impl std::fmt::Debug for SeedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedApp")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedBusiness {
    pub id: String,
    pub name: String,
    #[serde(default = "default_verification")]
    pub verification_status: String,
    #[serde(default = "default_two_factor")]
    pub two_factor_type: String,
    #[serde(default = "default_created")]
    pub created_time: String,
    #[serde(default)]
    pub people: Vec<SeedPerson>,
    #[serde(default)]
    pub invitations: Vec<SeedInvitation>,
    #[serde(default)]
    pub system_users: Vec<SeedSystemUser>,
    #[serde(default)]
    pub pages: Vec<SeedAsset>,
    /// Ad accounts by bare number (`3001`); the Graph addresses them as `act_3001`.
    #[serde(default)]
    pub ad_accounts: Vec<SeedAsset>,
    #[serde(default)]
    pub catalogs: Vec<SeedAsset>,
    /// Businesses this business gave access to some of its assets (its `agencies`); each
    /// partner sees this business on its `clients` edge.
    #[serde(default)]
    pub agencies: Vec<SeedAgency>,
    /// Invitations that may be sent per rolling 24 h before code 17 (reference 4.5).
    #[serde(default)]
    pub invitation_limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedPerson {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub finance_permission: Option<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedInvitation {
    pub id: String,
    pub email: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedSystemUser {
    pub id: String,
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedAsset {
    pub id: String,
    pub name: String,
    /// Person or system-user id → tasks on this asset.
    #[serde(default)]
    pub assigned: BTreeMap<String, Vec<String>>,
    /// Pages only: enforce the newer unified task names (reference 5.3).
    #[serde(default)]
    pub unified_tasks: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedAgency {
    pub business_id: String,
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default)]
    pub ad_accounts: Vec<String>,
    #[serde(default)]
    pub catalogs: Vec<String>,
    #[serde(default = "default_partner_tasks")]
    pub permitted_tasks: Vec<String>,
    #[serde(default = "default_access_status")]
    pub access_status: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SeedToken {
    /// The token string itself.
    pub token: String,
    /// A name for the control endpoint (`/_sandbox/tokens/{label}/revoke`).
    #[serde(default)]
    pub label: Option<String>,
    pub app_id: String,
    /// `USER`, `PAGE`, `APP` or `SYSTEM_USER`.
    #[serde(default = "default_token_type")]
    pub token_type: String,
    /// The system user or person the token acts as.
    pub user_id: String,
    /// The business the token belongs to.
    pub business_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Unix seconds; 0 = never.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default = "default_issued")]
    pub issued_at: i64,
}

impl std::fmt::Debug for SeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedToken")
            .field("token", &"[redacted]")
            .field("label", &self.label)
            .field("app_id", &self.app_id)
            .field("token_type", &self.token_type)
            .field("user_id", &self.user_id)
            .field("business_id", &self.business_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn default_verification() -> String {
    "verified".into()
}
fn default_two_factor() -> String {
    "none".into()
}
fn default_created() -> String {
    "2024-03-01T10:00:00+0000".into()
}
fn default_role() -> String {
    "EMPLOYEE".into()
}
fn default_partner_tasks() -> Vec<String> {
    vec!["ADVERTISE".into(), "ANALYZE".into()]
}
fn default_access_status() -> String {
    "CONFIRMED".into()
}
fn default_token_type() -> String {
    "SYSTEM_USER".into()
}
fn default_issued() -> i64 {
    1_712_099_387
}

/// Ids and token strings of [`Seed::demo`], for tests and `hubbridge demo`.
pub mod demo_ids {
    pub const APP_ID: &str = "634974688087057";
    pub const APP_SECRET: &str = "demo-app-secret";
    pub const BUSINESS_ID: &str = "5550001";
    pub const HUB_SYSTEM_USER_ID: &str = "100000008899900";
    pub const HUB_TOKEN: &str = "EAAdemo-hub-admin-token";
    /// An `EMPLOYEE` system user's token with only `business_management`.
    pub const EMPLOYEE_TOKEN: &str = "EAAdemo-hub-employee-token";
    /// An admin system user's token without `business_management`.
    pub const NO_SCOPE_TOKEN: &str = "EAAdemo-hub-noscope-token";
    /// A token that expired in 2024.
    pub const EXPIRED_TOKEN: &str = "EAAdemo-hub-expired-token";
    pub const PARTNER_A_ID: &str = "190137931178903";
    pub const PARTNER_A_APP_ID: &str = "771000000000001";
    pub const PARTNER_A_APP_SECRET: &str = "partner-a-secret";
    pub const PARTNER_A_TOKEN: &str = "EAApartner-a-token";
    pub const PARTNER_B_ID: &str = "190137931178904";
    pub const PARTNER_B_APP_ID: &str = "771000000000002";
    pub const PARTNER_B_APP_SECRET: &str = "partner-b-secret";
    pub const PARTNER_B_TOKEN: &str = "EAApartner-b-token";
    pub const PENDING_INVITATION_ID: &str = "8801";
    pub const PENDING_INVITATION_EMAIL: &str = "grace.hopper@acme.example";
    pub const FIRST_ADMIN_ID: &str = "7001";
    pub const PAGE_IDS: [&str; 4] = ["20001", "20002", "20003", "20004"];
    pub const AD_ACCOUNT_IDS: [&str; 3] = ["3001", "3002", "3003"];
    pub const CATALOG_ID: &str = "40001";
    /// Number of active people in the hub business.
    pub const PEOPLE: usize = 36;
}

const FIRST: [&str; 12] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "John",
    "Katherine",
    "Leslie",
    "Margaret",
];
const LAST: [&str; 6] = [
    "Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra",
];

fn person(id: u64, first: &str, last: &str, domain: &str, role: &str) -> SeedPerson {
    SeedPerson {
        id: id.to_string(),
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}@{domain}",
            first.to_ascii_lowercase(),
            last.to_ascii_lowercase()
        ),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        title: None,
        role: role.into(),
        finance_permission: None,
        tasks: Vec::new(),
    }
}

fn token(
    token: &str,
    label: &str,
    app: &str,
    user: &str,
    business: &str,
    scopes: &[&str],
) -> SeedToken {
    SeedToken {
        token: token.into(),
        label: Some(label.into()),
        app_id: app.into(),
        token_type: "SYSTEM_USER".into(),
        user_id: user.into(),
        business_id: business.into(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        expires_at: 0,
        issued_at: default_issued(),
    }
}

impl Seed {
    /// Reads a seed from a `.json` or `.toml` file (other extensions: JSON, then TOML).
    pub fn from_path(path: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seed file {}", path.display()))?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let from_toml = |text: &str| -> anyhow::Result<Seed> {
            use figment::providers::Format as _;
            figment::Figment::from(figment::providers::Toml::string(text))
                .extract()
                .map_err(|e| anyhow::anyhow!("{e}"))
        };
        let seed = match ext.as_str() {
            "json" => serde_json::from_str(&text).map_err(anyhow::Error::from),
            "toml" => from_toml(&text),
            _ => serde_json::from_str(&text)
                .map_err(anyhow::Error::from)
                .or_else(|_| from_toml(&text)),
        }
        .with_context(|| format!("parsing seed file {}", path.display()))?;
        Ok(seed)
    }

    /// The default world: one hub business with 36 people (admins and employees, two with a
    /// finance role), four Pages, three ad accounts, a catalog, one pending invitation, two
    /// system users, and two partner businesses each with its own people, app and token.
    pub fn demo() -> Seed {
        use demo_ids::*;
        let mut people = Vec::new();
        for i in 0..PEOPLE {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let role = if i < 4 { "ADMIN" } else { "EMPLOYEE" };
            let mut p = person(7001 + i as u64, first, last, "acme.example", role);
            // Names repeat across the list; keep e-mails unique.
            p.email = format!(
                "{}.{}{}@acme.example",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                i
            );
            if i == 0 {
                p.title = Some("CTO".into());
            }
            if i == 5 || i == 6 {
                p.finance_permission = Some(if i == 5 { "EDITOR" } else { "ANALYST" }.into());
            }
            people.push(p);
        }
        let mut pages: Vec<SeedAsset> = PAGE_IDS
            .iter()
            .zip(["Acme", "Acme Careers", "Acme Support", "Acme Labs"])
            .map(|(id, name)| SeedAsset {
                id: (*id).into(),
                name: name.into(),
                assigned: BTreeMap::new(),
                unified_tasks: false,
            })
            .collect();
        pages[0]
            .assigned
            .insert("7002".into(), vec!["ADVERTISE".into(), "ANALYZE".into()]);
        pages[0].assigned.insert(
            HUB_SYSTEM_USER_ID.into(),
            vec!["MANAGE".into(), "CREATE_CONTENT".into()],
        );
        let mut ad_accounts: Vec<SeedAsset> = AD_ACCOUNT_IDS
            .iter()
            .zip(["Acme – EU", "Acme – US", "Acme – APAC"])
            .map(|(id, name)| SeedAsset {
                id: (*id).into(),
                name: name.into(),
                assigned: BTreeMap::new(),
                unified_tasks: false,
            })
            .collect();
        ad_accounts[0].assigned.insert(
            "7002".into(),
            vec!["ADVERTISE".into(), "ANALYZE".into(), "DRAFT".into()],
        );
        let catalogs = vec![SeedAsset {
            id: CATALOG_ID.into(),
            name: "Acme products".into(),
            assigned: BTreeMap::new(),
            unified_tasks: false,
        }];
        let hub = SeedBusiness {
            id: BUSINESS_ID.into(),
            name: "Acme Corp".into(),
            verification_status: "verified".into(),
            two_factor_type: "admin_required".into(),
            created_time: default_created(),
            people,
            invitations: vec![SeedInvitation {
                id: PENDING_INVITATION_ID.into(),
                email: PENDING_INVITATION_EMAIL.into(),
                role: "EMPLOYEE".into(),
                tasks: Vec::new(),
            }],
            system_users: vec![
                SeedSystemUser {
                    id: HUB_SYSTEM_USER_ID.into(),
                    name: "hubbridge sync".into(),
                    role: "ADMIN".into(),
                },
                SeedSystemUser {
                    id: "1000081799813".into(),
                    name: "Reporting server".into(),
                    role: "EMPLOYEE".into(),
                },
            ],
            pages,
            ad_accounts,
            catalogs,
            agencies: vec![
                SeedAgency {
                    business_id: PARTNER_A_ID.into(),
                    pages: vec![PAGE_IDS[0].into(), PAGE_IDS[1].into()],
                    ad_accounts: vec![AD_ACCOUNT_IDS[0].into()],
                    catalogs: Vec::new(),
                    permitted_tasks: default_partner_tasks(),
                    access_status: "CONFIRMED".into(),
                },
                SeedAgency {
                    business_id: PARTNER_B_ID.into(),
                    pages: vec![PAGE_IDS[2].into()],
                    ad_accounts: vec![AD_ACCOUNT_IDS[1].into()],
                    catalogs: vec![CATALOG_ID.into()],
                    permitted_tasks: default_partner_tasks(),
                    access_status: "CONFIRMED".into(),
                },
            ],
            invitation_limit: None,
        };
        let partner = |id: &str, name: &str, su: &str, domain: &str, n: u64, base: u64| {
            let people = (0..n)
                .map(|i| {
                    let i = i as usize;
                    person(
                        base + i as u64,
                        FIRST[(i * 5 + 3) % FIRST.len()],
                        LAST[(i + 2) % LAST.len()],
                        domain,
                        if i == 0 { "ADMIN" } else { "EMPLOYEE" },
                    )
                })
                .collect();
            SeedBusiness {
                id: id.into(),
                name: name.into(),
                verification_status: "verified".into(),
                two_factor_type: "none".into(),
                created_time: default_created(),
                people,
                invitations: Vec::new(),
                system_users: vec![SeedSystemUser {
                    id: su.into(),
                    name: format!("{name} integration"),
                    role: "ADMIN".into(),
                }],
                pages: Vec::new(),
                ad_accounts: Vec::new(),
                catalogs: Vec::new(),
                agencies: Vec::new(),
                invitation_limit: None,
            }
        };
        // The six scopes a hub token needs (admin API contract).
        let all_scopes = [
            "business_management",
            "ads_management",
            "pages_show_list",
            "pages_manage_metadata",
            "pages_read_engagement",
            "catalog_management",
        ];
        Seed {
            apps: vec![
                SeedApp {
                    id: APP_ID.into(),
                    name: "hubbridge".into(),
                    secret: APP_SECRET.into(),
                },
                SeedApp {
                    id: PARTNER_A_APP_ID.into(),
                    name: "Partner Agency sync".into(),
                    secret: PARTNER_A_APP_SECRET.into(),
                },
                SeedApp {
                    id: PARTNER_B_APP_ID.into(),
                    name: "Northwind sync".into(),
                    secret: PARTNER_B_APP_SECRET.into(),
                },
            ],
            businesses: vec![
                hub,
                partner(
                    PARTNER_A_ID,
                    "Partner Agency Ltd",
                    "100000009900001",
                    "agency.example",
                    5,
                    9101,
                ),
                partner(
                    PARTNER_B_ID,
                    "Northwind Media",
                    "100000009900002",
                    "northwind.example",
                    4,
                    9201,
                ),
            ],
            tokens: vec![
                token(
                    HUB_TOKEN,
                    "hub",
                    APP_ID,
                    HUB_SYSTEM_USER_ID,
                    BUSINESS_ID,
                    &all_scopes,
                ),
                token(
                    EMPLOYEE_TOKEN,
                    "hub-employee",
                    APP_ID,
                    "1000081799813",
                    BUSINESS_ID,
                    &["business_management"],
                ),
                token(
                    NO_SCOPE_TOKEN,
                    "hub-noscope",
                    APP_ID,
                    HUB_SYSTEM_USER_ID,
                    BUSINESS_ID,
                    &["pages_show_list"],
                ),
                SeedToken {
                    expires_at: 1_717_200_000,
                    ..token(
                        EXPIRED_TOKEN,
                        "hub-expired",
                        APP_ID,
                        HUB_SYSTEM_USER_ID,
                        BUSINESS_ID,
                        &all_scopes,
                    )
                },
                token(
                    PARTNER_A_TOKEN,
                    "partner-a",
                    PARTNER_A_APP_ID,
                    "100000009900001",
                    PARTNER_A_ID,
                    &["business_management"],
                ),
                token(
                    PARTNER_B_TOKEN,
                    "partner-b",
                    PARTNER_B_APP_ID,
                    "100000009900002",
                    PARTNER_B_ID,
                    &["business_management"],
                ),
            ],
            sandbox: SeedSettings::default(),
        }
    }
}
