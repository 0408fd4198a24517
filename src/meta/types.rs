//! Typed Graph objects as hubbridge reads them (reference sections 3–6), and the small value
//! types its calls take. Fields Meta may omit are `Option`s or default to empty; ids are
//! accepted as strings or numbers.

use serde::{Deserialize, Deserializer};

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Me {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /debug_token` `data` (reference 3.2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenInfo {
    #[serde(default, deserialize_with = "opt_id")]
    pub app_id: Option<String>,
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub is_valid: bool,
    /// Unix seconds; 0 = never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub data_access_expires_at: Option<i64>,
    #[serde(default)]
    pub issued_at: Option<i64>,
    #[serde(default, deserialize_with = "strings")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<String>,
    /// Why an invalid token is invalid (code, subcode, message).
    #[serde(default)]
    pub error: Option<TokenProblem>,
}

impl TokenInfo {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    /// `None` for a token that never expires.
    pub fn expires(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.expires_at
            .filter(|t| *t > 0)
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    }
    pub fn is_system_user(&self) -> bool {
        self.token_type.as_deref() == Some("SYSTEM_USER")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GranularScope {
    pub scope: String,
    #[serde(default, deserialize_with = "strings")]
    pub target_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenProblem {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub subcode: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A validated token (reference 3.2 client rule): what `debug_token` said, and the business
/// it could read.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCheck {
    pub info: TokenInfo,
    pub business: Business,
}

impl TokenCheck {
    /// The scopes of `needed` the token lacks.
    pub fn missing_scopes<'a>(&self, needed: &[&'a str]) -> Vec<&'a str> {
        needed
            .iter()
            .copied()
            .filter(|s| !self.info.has_scope(s))
            .collect()
    }
}

/// `GET /{business-id}` (reference 3.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Business {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub verification_status: Option<String>,
    #[serde(default)]
    pub two_factor_type: Option<String>,
    #[serde(default)]
    pub created_time: Option<String>,
}

/// An active person (reference 4.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BusinessUser {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Base role only (`ADMIN` / `EMPLOYEE`) on the `business_users` edge.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub finance_permission: Option<String>,
    #[serde(default)]
    pub ip_permission: Option<String>,
    #[serde(default)]
    pub two_fac_status: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub tasks: Vec<String>,
}

/// A pending invitation, BusinessRoleRequest (reference 4.1, 4.3).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invitation {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// `PENDING` while open; other values unconfirmed.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub expiration_time: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemUser {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// On `client_pages`: tasks the owner lets this business assign.
    #[serde(default, deserialize_with = "strings")]
    pub permitted_tasks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AdAccount {
    /// `act_<n>`.
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub account_status: Option<i64>,
    #[serde(default, deserialize_with = "strings")]
    pub permitted_tasks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Catalog {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub vertical: Option<String>,
    #[serde(default)]
    pub product_count: Option<i64>,
    #[serde(default, deserialize_with = "strings")]
    pub permitted_tasks: Vec<String>,
}

/// A person's access to one asset (reference 5.2); `tasks` may hold more than was granted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssignedUser {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub tasks: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub permitted_tasks: Vec<String>,
}

/// An asset one person holds, from `/{user}/assigned_*` (reference 5.4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssignedAsset {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub tasks: Vec<String>,
}

/// A partner business on `agencies` / `clients` (reference 6.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PartnerBusiness {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub page_permissions: Vec<AssetPermission>,
    #[serde(default)]
    pub adaccount_permissions: Vec<AssetPermission>,
    #[serde(default)]
    pub productcatalog_permissions: Vec<AssetPermission>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetPermission {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default, deserialize_with = "strings")]
    pub permitted_tasks: Vec<String>,
    #[serde(default)]
    pub access_status: Option<String>,
}

/// A partner's own people, read with the partner's token (reference 6.3).
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerPeople {
    pub business: Business,
    pub users: Vec<BusinessUser>,
    pub invitations: Vec<Invitation>,
}

/// The business roles hubbridge grants (reference 4.6: only the two documented base roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BusinessRole {
    Admin,
    Employee,
}

impl BusinessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BusinessRole::Admin => "ADMIN",
            BusinessRole::Employee => "EMPLOYEE",
        }
    }
}

/// An invitation to send (reference 4.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub email: String,
    pub role: BusinessRole,
    /// Business-level tasks (SDK spec since 2025-06); empty = not sent.
    pub tasks: Vec<String>,
}

/// An asset addressed by `assigned_users` calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AssetRef {
    Page(String),
    /// Bare number or `act_<n>`; always sent as `act_<n>`.
    AdAccount(String),
    Catalog(String),
}

impl AssetRef {
    pub fn node_id(&self) -> String {
        match self {
            AssetRef::Page(id) | AssetRef::Catalog(id) => id.clone(),
            AssetRef::AdAccount(id) if id.starts_with("act_") => id.clone(),
            AssetRef::AdAccount(id) => format!("act_{id}"),
        }
    }
}

/// A list response page (reference 2).
#[derive(Debug, Deserialize)]
pub(crate) struct ListPage<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub next: Option<String>,
}
