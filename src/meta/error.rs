//! Graph errors, classified once: the envelope Meta sent ([`MetaError`]), the small set of
//! classes the rest of hubbridge acts on ([`ErrorClass`], [`GraphError`]) and the one table that
//! maps `code`/`error_subcode` to a class (reference 7.2). HTTP status never decides a class.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// What the rest of the program acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    Throttled,
    TokenInvalid,
    PermissionMissing,
    NotFoundOrInvalidParam,
    LastAdmin,
    InvitationLimit,
    NewSystemUserRestriction,
    /// hubbridge's own configuration is wrong: code 100 about `appsecret_proof` (missing or
    /// invalid — the configured app secret does not match the token's app).
    Config,
    /// Code 368: Meta blocked the app or token for policy violations. Deferred with a long
    /// backoff and surfaced to admins; not a rate-limit bucket.
    PolicyBlocked,
    Transient,
    Other,
}

/// The error object Meta returned (reference 7.1). Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    pub message: String,
    pub error_type: Option<String>,
    pub code: i64,
    pub subcode: Option<i64>,
    pub fbtrace_id: Option<String>,
    pub is_transient: Option<bool>,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    /// For the log only; never used to classify.
    pub http_status: u16,
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}", self.code)?;
        if let Some(s) = self.subcode {
            write!(f, "/{s}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(t) = &self.fbtrace_id {
            write!(f, " (fbtrace_id {t})")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: RawError,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    error_type: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    error_subcode: Option<serde_json::Value>,
    #[serde(default)]
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_user_msg: Option<String>,
}

fn int(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

impl MetaError {
    /// Parses a Graph error envelope; `None` if the body is not one.
    pub fn from_body(body: &serde_json::Value, http_status: u16) -> Option<MetaError> {
        // Only an object with an `error` object is an envelope (serde would also read a
        // struct out of a JSON array, such as a batch response).
        if !body.get("error").is_some_and(serde_json::Value::is_object) {
            return None;
        }
        let env: Envelope = serde_json::from_value(body.clone()).ok()?;
        let e = env.error;
        Some(MetaError {
            message: e.message.unwrap_or_default(),
            error_type: e.error_type,
            code: e.code.as_ref().and_then(int)?,
            subcode: e.error_subcode.as_ref().and_then(int),
            fbtrace_id: e.fbtrace_id,
            is_transient: e.is_transient,
            user_title: e.error_user_title,
            user_msg: e.error_user_msg,
            http_status,
        })
    }
}

/// Which bucket a throttle stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleScope {
    /// App-wide (`X-App-Usage`, code 4): every business pauses.
    App,
    /// One business object (its id, or `act_…`) from the usage headers.
    Business(String),
    /// Every bucket the token has been seen using (no header named one).
    Token,
}

impl fmt::Display for ThrottleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThrottleScope::App => f.write_str("app-wide"),
            ThrottleScope::Business(id) => write!(f, "business object {id}"),
            ThrottleScope::Token => f.write_str("this token's buckets"),
        }
    }
}

fn suffix(meta: &Option<Box<MetaError>>) -> String {
    meta.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
}

/// A failed Graph call, classified.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Rate limited by Meta (`meta` set) or held back by the client's own pacing (`meta` none).
    #[error("throttled ({scope}), retry after {}s{}", retry_after.as_secs(), suffix(meta))]
    Throttled {
        scope: ThrottleScope,
        retry_after: Duration,
        meta: Option<Box<MetaError>>,
    },
    #[error("access token invalid or expired: {meta}")]
    TokenInvalid { meta: Box<MetaError> },
    #[error("permission missing: {meta}")]
    PermissionMissing { meta: Box<MetaError> },
    /// Includes 100/33 ("does not exist or cannot be loaded"): verify by reading the lists.
    #[error("not found or invalid parameter: {meta}")]
    NotFoundOrInvalidParam { meta: Box<MetaError> },
    #[error("would remove or demote the last admin: {meta}")]
    LastAdmin { meta: Box<MetaError> },
    #[error("invitation limit reached, resume after {}s: {meta}", retry_after.as_secs())]
    InvitationLimit {
        retry_after: Duration,
        meta: Box<MetaError>,
    },
    #[error("the business or system user may not manage people yet: {meta}")]
    NewSystemUserRestriction { meta: Box<MetaError> },
    /// The app secret / `appsecret_proof` configuration is wrong: fix the configuration.
    #[error("configuration error (check the app secret used for appsecret_proof): {meta}")]
    Config { meta: Box<MetaError> },
    /// Code 368: blocked for policy violations; tell an admin, try again after `retry_after`.
    #[error("blocked by Meta for policy reasons (admin attention needed), retry after {}s: {meta}", retry_after.as_secs())]
    PolicyBlocked {
        retry_after: Duration,
        meta: Box<MetaError>,
    },
    #[error("transient failure ({detail}){}", suffix(meta))]
    Transient {
        meta: Option<Box<MetaError>>,
        detail: String,
    },
    #[error("Graph call failed ({detail}){}", suffix(meta))]
    Other {
        meta: Option<Box<MetaError>>,
        detail: String,
    },
}

impl GraphError {
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Throttled { .. } => ErrorClass::Throttled,
            GraphError::TokenInvalid { .. } => ErrorClass::TokenInvalid,
            GraphError::PermissionMissing { .. } => ErrorClass::PermissionMissing,
            GraphError::NotFoundOrInvalidParam { .. } => ErrorClass::NotFoundOrInvalidParam,
            GraphError::LastAdmin { .. } => ErrorClass::LastAdmin,
            GraphError::InvitationLimit { .. } => ErrorClass::InvitationLimit,
            GraphError::NewSystemUserRestriction { .. } => ErrorClass::NewSystemUserRestriction,
            GraphError::Config { .. } => ErrorClass::Config,
            GraphError::PolicyBlocked { .. } => ErrorClass::PolicyBlocked,
            GraphError::Transient { .. } => ErrorClass::Transient,
            GraphError::Other { .. } => ErrorClass::Other,
        }
    }

    /// Meta's error object, when Meta answered with one.
    pub fn meta(&self) -> Option<&MetaError> {
        match self {
            GraphError::Throttled { meta, .. }
            | GraphError::Transient { meta, .. }
            | GraphError::Other { meta, .. } => meta.as_deref(),
            GraphError::TokenInvalid { meta }
            | GraphError::PermissionMissing { meta }
            | GraphError::NotFoundOrInvalidParam { meta }
            | GraphError::LastAdmin { meta }
            | GraphError::InvitationLimit { meta, .. }
            | GraphError::NewSystemUserRestriction { meta }
            | GraphError::Config { meta }
            | GraphError::PolicyBlocked { meta, .. } => Some(&**meta),
        }
    }

    /// How long to wait before trying again, for classes that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after, .. }
            | GraphError::InvitationLimit { retry_after, .. }
            | GraphError::PolicyBlocked { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The error for a classified Meta error; `retry_after` is used by the classes that carry
    /// a wait (a throttle built here is token-scoped: callers that know the bucket build their
    /// own).
    pub(crate) fn from_meta(
        class: ErrorClass,
        meta: Box<MetaError>,
        retry_after: Duration,
    ) -> GraphError {
        match class {
            ErrorClass::Throttled => GraphError::Throttled {
                scope: ThrottleScope::Token,
                retry_after,
                meta: Some(meta),
            },
            ErrorClass::InvitationLimit => GraphError::InvitationLimit { retry_after, meta },
            ErrorClass::TokenInvalid => GraphError::TokenInvalid { meta },
            ErrorClass::PermissionMissing => GraphError::PermissionMissing { meta },
            ErrorClass::NotFoundOrInvalidParam => GraphError::NotFoundOrInvalidParam { meta },
            ErrorClass::LastAdmin => GraphError::LastAdmin { meta },
            ErrorClass::NewSystemUserRestriction => GraphError::NewSystemUserRestriction { meta },
            ErrorClass::Config => GraphError::Config { meta },
            ErrorClass::PolicyBlocked => GraphError::PolicyBlocked { retry_after, meta },
            ErrorClass::Transient => GraphError::Transient {
                meta: Some(meta),
                detail: "Meta reported a temporary failure".into(),
            },
            ErrorClass::Other => GraphError::Other {
                meta: Some(meta),
                detail: "Meta refused the call".into(),
            },
        }
    }

    /// `100/33`: the object does not exist, or this token cannot see it.
    pub fn is_unknown_object(&self) -> bool {
        self.meta()
            .is_some_and(|m| m.code == 100 && m.subcode == Some(33))
    }
}

/// What kind of call failed; a few codes mean different things per call (reference 7.2:
/// code 17 on `POST business_users` is the 24 h invitation limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Invite,
    Write,
}

/// Codes matched by one row of [`CLASS_TABLE`].
#[derive(Debug, Clone, Copy)]
enum Codes {
    One(i64),
    Range(i64, i64),
}

struct Row {
    codes: Codes,
    subcode: Option<i64>,
    kind: Option<CallKind>,
    class: ErrorClass,
}

const fn row(codes: Codes, subcode: Option<i64>, kind: Option<CallKind>, class: ErrorClass) -> Row {
    Row {
        codes,
        subcode,
        kind,
        class,
    }
}

use Codes::{One, Range};
use ErrorClass as C;

/// THE code → class table (reference 7.2). First match wins; rows with a subcode or a call
/// kind come before the general row for their code. The new-system-user restriction is not
/// here: it comes from [`RestrictionRule`]s, checked first, because its code is unconfirmed.
const CLASS_TABLE: &[Row] = &[
    row(One(1), None, None, C::Transient),
    row(One(2), None, None, C::Transient),
    row(One(3), None, None, C::PermissionMissing),
    row(One(4), None, None, C::Throttled),
    row(One(10), None, None, C::PermissionMissing),
    row(One(17), None, Some(CallKind::Invite), C::InvitationLimit),
    row(One(17), None, None, C::Throttled),
    row(One(32), None, None, C::Throttled),
    row(One(100), Some(33), None, C::NotFoundOrInvalidParam),
    row(One(100), None, None, C::NotFoundOrInvalidParam),
    row(One(102), None, None, C::TokenInvalid),
    row(One(104), None, None, C::TokenInvalid),
    row(One(190), None, None, C::TokenInvalid),
    row(Range(200, 299), None, None, C::PermissionMissing),
    row(One(341), None, None, C::Throttled),
    row(One(368), None, None, C::PolicyBlocked),
    row(One(613), None, None, C::Throttled),
    row(One(3914), None, None, C::LastAdmin),
    row(One(3919), None, None, C::Transient),
    row(Range(80000, 80014), None, None, C::Throttled),
];

/// One way Meta may signal the new-system-user / new-business restriction (reference 7.2,
/// unconfirmed). Configurable so the first live observation can correct it without code changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestrictionRule {
    pub code: i64,
    #[serde(default)]
    pub subcode: Option<i64>,
    /// Case-insensitive substring of the message; needed while the code is shared with
    /// ordinary permission errors.
    #[serde(default)]
    pub message_contains: Option<String>,
}

impl RestrictionRule {
    /// The placeholder the sandbox emits: code 200, "can't manage people yet".
    pub fn defaults() -> Vec<RestrictionRule> {
        vec![RestrictionRule {
            code: 200,
            subcode: None,
            message_contains: Some("can't manage people yet".into()),
        }]
    }

    fn matches(&self, m: &MetaError) -> bool {
        self.code == m.code
            && self.subcode.is_none_or(|s| m.subcode == Some(s))
            && self
                .message_contains
                .as_ref()
                .is_none_or(|needle| m.message.to_lowercase().contains(&needle.to_lowercase()))
    }
}

/// The class of a Meta error for a call of `kind`.
pub fn classify(meta: &MetaError, kind: CallKind, restrictions: &[RestrictionRule]) -> ErrorClass {
    if restrictions.iter().any(|r| r.matches(meta)) {
        return ErrorClass::NewSystemUserRestriction;
    }
    // Reference 7.2: the appsecret_proof errors share code 100 with bad parameters; only the
    // message tells them apart (a message fallback, after the code).
    if meta.code == 100
        && meta
            .message
            .to_ascii_lowercase()
            .contains("appsecret_proof")
    {
        return ErrorClass::Config;
    }
    let hit = CLASS_TABLE.iter().find(|r| {
        let code_ok = match r.codes {
            One(c) => c == meta.code,
            Range(lo, hi) => (lo..=hi).contains(&meta.code),
        };
        code_ok
            && r.subcode.is_none_or(|s| meta.subcode == Some(s))
            && r.kind.is_none_or(|k| k == kind)
    });
    match hit {
        Some(r) => r.class,
        None if meta.is_transient == Some(true) => ErrorClass::Transient,
        None => ErrorClass::Other,
    }
}

/// The least a throttle is waited out when the headers give no estimate (reference 8.3 step 3).
pub fn throttle_floor(meta: &MetaError, kind: CallKind, base: Duration) -> Duration {
    match (meta.code, meta.subcode, kind) {
        (17, _, CallKind::Invite) => Duration::from_secs(24 * 3600),
        (613, Some(1996), _) => Duration::from_secs(15 * 60),
        (368, _, _) => Duration::from_secs(3600),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(code: i64, subcode: Option<i64>, message: &str) -> MetaError {
        MetaError {
            message: message.into(),
            error_type: None,
            code,
            subcode,
            fbtrace_id: None,
            is_transient: None,
            user_title: None,
            user_msg: None,
            http_status: 400,
        }
    }

    #[test]
    fn code_17_is_the_invitation_limit_only_on_invites() {
        let m = meta(17, None, "(#17) User request limit reached");
        assert_eq!(
            classify(&m, CallKind::Invite, &[]),
            ErrorClass::InvitationLimit
        );
        assert_eq!(classify(&m, CallKind::Read, &[]), ErrorClass::Throttled);
    }

    #[test]
    fn restriction_rules_win_over_the_permission_row() {
        let rules = RestrictionRule::defaults();
        let m = meta(
            200,
            None,
            "(#200) This business or system user can't manage people yet.",
        );
        assert_eq!(
            classify(&m, CallKind::Write, &rules),
            ErrorClass::NewSystemUserRestriction
        );
        let m = meta(200, None, "(#200) Requires business_management permission");
        assert_eq!(
            classify(&m, CallKind::Write, &rules),
            ErrorClass::PermissionMissing
        );
    }

    #[test]
    fn appsecret_proof_errors_are_config_and_368_is_a_policy_block() {
        for msg in [
            "API calls from the server require an appsecret_proof argument",
            "Invalid appsecret_proof provided in the API argument",
        ] {
            assert_eq!(
                classify(&meta(100, None, msg), CallKind::Read, &[]),
                ErrorClass::Config
            );
        }
        assert_eq!(
            classify(
                &meta(100, None, "(#100) Invalid parameter"),
                CallKind::Read,
                &[]
            ),
            ErrorClass::NotFoundOrInvalidParam
        );
        let blocked = meta(
            368,
            None,
            "(#368) The action attempted has been deemed abusive",
        );
        assert_eq!(
            classify(&blocked, CallKind::Write, &[]),
            ErrorClass::PolicyBlocked
        );
        let floor = throttle_floor(&blocked, CallKind::Write, Duration::from_secs(60));
        let e = GraphError::from_meta(ErrorClass::PolicyBlocked, Box::new(blocked), floor);
        assert_eq!(e.class(), ErrorClass::PolicyBlocked);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        assert!(e.to_string().contains("admin"));
    }

    #[test]
    fn buc_codes_and_unknown_transient_codes_classify() {
        assert_eq!(
            classify(&meta(80004, Some(2446079), ""), CallKind::Read, &[]),
            ErrorClass::Throttled
        );
        let mut m = meta(9999, None, "");
        assert_eq!(classify(&m, CallKind::Read, &[]), ErrorClass::Other);
        m.is_transient = Some(true);
        assert_eq!(classify(&m, CallKind::Read, &[]), ErrorClass::Transient);
    }

    #[test]
    fn envelope_parses_codes_given_as_strings() {
        let body =
            serde_json::json!({"error": {"message": "x", "code": "190", "error_subcode": 463}});
        let m = MetaError::from_body(&body, 401).expect("an envelope");
        assert_eq!((m.code, m.subcode), (190, Some(463)));
        assert!(MetaError::from_body(&serde_json::json!({"data": []}), 200).is_none());
    }
}
