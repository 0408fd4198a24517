//! Graph wire format as the sandbox speaks it: request parameters (query, form and JSON bodies,
//! list values in either quote style), the error envelope with its codes and HTTP statuses,
//! cursor paging and `fields` selection. No business state lives here.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// One Graph error as the sandbox returns it (reference 7.1).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphFault {
    pub code: i64,
    pub subcode: Option<i64>,
    pub error_type: String,
    pub message: String,
}

impl GraphFault {
    pub fn new(code: i64, subcode: Option<i64>, error_type: &str, msg: impl Into<String>) -> Self {
        GraphFault {
            code,
            subcode,
            error_type: error_type.to_string(),
            message: msg.into(),
        }
    }

    /// Sandbox convention for HTTP status (reference 7.3, [U]).
    pub fn http_status(&self) -> u16 {
        match self.code {
            10 | 200..=299 => 403,
            1 | 2 => 500,
            _ => 400,
        }
    }

    pub fn body(&self, trace_id: &str) -> Value {
        let mut e = Map::new();
        e.insert("message".into(), json!(self.message));
        e.insert("type".into(), json!(self.error_type));
        e.insert("code".into(), json!(self.code));
        if let Some(s) = self.subcode {
            e.insert("error_subcode".into(), json!(s));
        }
        if matches!(self.code, 1 | 2) {
            e.insert("is_transient".into(), json!(true));
        }
        e.insert("fbtrace_id".into(), json!(trace_id));
        json!({ "error": Value::Object(e) })
    }

    /// `WWW-Authenticate` value for auth and request problems (reference 7.1).
    pub fn www_authenticate(&self) -> Option<String> {
        let kind = match self.code {
            190 | 102 => "invalid_token",
            104 => "invalid_request",
            _ => return None,
        };
        let msg = self.message.replace('"', "'");
        Some(format!("OAuth \"Facebook Platform\" \"{kind}\" \"{msg}\""))
    }

    // Named constructors, one per error the sandbox emits (reference 7.2).

    pub fn no_token() -> Self {
        Self::new(
            104,
            None,
            "OAuthException",
            "An access token is required to request this resource.",
        )
    }
    pub fn bad_token() -> Self {
        Self::new(
            190,
            None,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        )
    }
    pub fn expired_token() -> Self {
        Self::new(
            190,
            Some(463),
            "OAuthException",
            "Error validating access token: Session has expired.",
        )
    }
    pub fn revoked_token() -> Self {
        Self::new(
            190,
            Some(460),
            "OAuthException",
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        )
    }
    pub fn proof_missing() -> Self {
        Self::new(
            100,
            None,
            "GraphMethodException",
            "API calls from the server require an appsecret_proof argument",
        )
    }
    pub fn proof_invalid() -> Self {
        Self::new(
            100,
            None,
            "GraphMethodException",
            "Invalid appsecret_proof provided in the API argument",
        )
    }
    pub fn unknown_object(method: &str, id: &str) -> Self {
        Self::new(
            100,
            Some(33),
            "GraphMethodException",
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
    }
    pub fn unknown_path(rest: &str) -> Self {
        Self::new(
            2500,
            None,
            "OAuthException",
            format!("Unknown path components: /{rest}"),
        )
    }
    pub fn invalid_param(msg: impl std::fmt::Display) -> Self {
        Self::new(100, None, "OAuthException", format!("(#100) {msg}"))
    }
    pub fn unknown_field(name: &str) -> Self {
        Self::invalid_param(format!("Tried accessing nonexisting field ({name})"))
    }
    pub fn missing_scope(scope: &str) -> Self {
        Self::new(
            200,
            None,
            "OAuthException",
            format!("(#200) Requires {scope} permission to manage the object"),
        )
    }
    pub fn not_admin() -> Self {
        Self::new(
            200,
            None,
            "OAuthException",
            "(#200) The user must be an admin of the business to manage people",
        )
    }
    pub fn last_admin() -> Self {
        Self::new(
            3914,
            None,
            "OAuthException",
            "(#3914) You can't remove or demote the last admin of this business. Every business needs at least one admin.",
        )
    }
    pub fn invitation_limit() -> Self {
        Self::new(
            17,
            None,
            "OAuthException",
            "(#17) User request limit reached: too many invitations were sent, try again in 24 hours",
        )
    }
    pub fn app_throttled() -> Self {
        Self::new(
            4,
            None,
            "OAuthException",
            "(#4) Application request limit reached",
        )
    }
    pub fn transient() -> Self {
        Self::new(
            2,
            None,
            "OAuthException",
            "An unexpected error has occurred. Please retry your request later.",
        )
    }
}

pub type GraphResult<T> = Result<T, GraphFault>;

/// Parameters that carry secrets: never logged.
const SECRET_PARAMS: [&str; 6] = [
    "access_token",
    "appsecret_proof",
    "input_token",
    "client_secret",
    "fb_exchange_token",
    "revoke_token",
];

/// Parameters holding a token or secret (not `appsecret_proof`, a digest meant to travel with
/// the call): never acceptable in a URL.
pub fn is_secret_token_param(key: &str) -> bool {
    SECRET_PARAMS.contains(&key) && key != "appsecret_proof"
}

/// Request parameters merged from the query string and the body, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str, content_type: &str, body: &[u8]) -> GraphResult<Params> {
        let mut out: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !body.is_empty() {
            if content_type.starts_with("application/json") {
                let v: Value = serde_json::from_slice(body)
                    .map_err(|_| GraphFault::invalid_param("The JSON body could not be parsed"))?;
                let Value::Object(map) = v else {
                    return Err(GraphFault::invalid_param("The JSON body must be an object"));
                };
                for (k, v) in map {
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    out.push((k, s));
                }
            } else {
                out.extend(
                    url::form_urlencoded::parse(body)
                        .map(|(k, v)| (k.into_owned(), v.into_owned())),
                );
            }
        }
        Ok(Params(out))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, key: &str) -> GraphResult<&str> {
        match self.get(key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(GraphFault::invalid_param(format!(
                "The parameter {key} is required"
            ))),
        }
    }

    /// The parameters as logged: never the token or the proof.
    pub fn redacted(&self) -> Map<String, Value> {
        self.0
            .iter()
            .filter(|(k, _)| !SECRET_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    }

    /// A list parameter: JSON (`["A","B"]`), Meta's single-quoted form (`['A', 'B']`) or a bare
    /// comma-separated list (reference 1.3).
    pub fn list(&self, key: &str) -> GraphResult<Option<Vec<String>>> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        parse_list(raw)
            .map(Some)
            .ok_or_else(|| GraphFault::invalid_param(format!("Param {key} must be an array")))
    }
}

pub fn parse_list(raw: &str) -> Option<Vec<String>> {
    let t = raw.trim();
    if t.starts_with('[') {
        let v: Value = serde_json::from_str(t)
            .or_else(|_| serde_json::from_str(&t.replace('\'', "\"")))
            .ok()?;
        v.as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    } else if t.is_empty() {
        Some(Vec::new())
    } else {
        Some(t.split(',').map(|s| s.trim().to_string()).collect())
    }
}

/// The top-level names of a `fields` parameter (`a,b{c,d},e.limit(5){f}` → `a, b, e`).
pub fn field_names(raw: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    let mut skipping = false;
    for ch in raw.chars() {
        match ch {
            '{' | '(' => {
                depth += 1;
                skipping = true;
            }
            '}' | ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if !cur.trim().is_empty() {
                    names.push(cur.trim().to_string());
                }
                cur.clear();
                skipping = false;
            }
            '.' if depth == 0 => skipping = true,
            _ if depth == 0 && !skipping => cur.push(ch),
            _ => {}
        }
    }
    if !cur.trim().is_empty() {
        names.push(cur.trim().to_string());
    }
    names
}

/// Projects a full node onto `fields` (always keeping `id`), or onto `defaults` without
/// `fields`. Unknown names are code 100 (reference 1.3).
pub fn select(
    node: &Value,
    fields: Option<&str>,
    defaults: &[&str],
    known: &[&str],
) -> GraphResult<Value> {
    let Value::Object(all) = node else {
        return Ok(node.clone());
    };
    let wanted: Vec<String> = match fields {
        Some(f) => field_names(f),
        None => defaults.iter().map(|s| (*s).to_string()).collect(),
    };
    let mut out = Map::new();
    if let Some(id) = all.get("id") {
        out.insert("id".into(), id.clone());
    }
    for name in wanted {
        if !known.contains(&name.as_str()) {
            return Err(GraphFault::unknown_field(&name));
        }
        if let Some(v) = all.get(&name) {
            if !v.is_null() {
                out.insert(name, v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

pub fn encode_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

fn decode_cursor(c: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("c:")
        .map(str::to_string)
}

/// Paging defaults (reference 2: sandbox convention, [U]).
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default_limit: usize,
    pub max_limit: usize,
}

/// Where a list request came from, to build absolute `paging.next` / `previous` URLs.
pub struct PageUrl<'a> {
    pub base_url: &'a str,
    pub path: &'a str,
    pub params: &'a Params,
    pub token: &'a str,
}

/// One cursor page of `items` (each with an `id`) as a Graph list response (reference 2).
pub fn page(items: Vec<Value>, limits: PageLimits, at: &PageUrl<'_>) -> GraphResult<Value> {
    let total = items.len();
    let limit = match at.params.get("limit") {
        Some(l) => l
            .trim()
            .parse::<usize>()
            .map_err(|_| GraphFault::invalid_param("Param limit must be a number"))?
            .clamp(1, limits.max_limit),
        None => limits.default_limit,
    };
    let id_of = |v: &Value| {
        v.get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let position = |cursor: &str, name: &str| -> GraphResult<usize> {
        let id = decode_cursor(cursor)
            .ok_or_else(|| GraphFault::invalid_param(format!("The {name} cursor is invalid")))?;
        items.iter().position(|v| id_of(v) == id).ok_or_else(|| {
            GraphFault::invalid_param(format!("The {name} cursor is no longer valid"))
        })
    };
    let (start, end) = if let Some(after) = at.params.get("after") {
        let s = position(after, "after")? + 1;
        (s, (s + limit).min(total))
    } else if let Some(before) = at.params.get("before") {
        let e = position(before, "before")?;
        (e.saturating_sub(limit), e)
    } else {
        (0, limit.min(total))
    };
    let slice: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut out = Map::new();
    if total == 0 {
        out.insert("data".into(), json!([]));
    } else {
        out.insert("data".into(), Value::Array(slice.clone()));
        let mut paging = Map::new();
        if let (Some(first), Some(last)) = (slice.first(), slice.last()) {
            paging.insert(
                "cursors".into(),
                json!({ "before": encode_cursor(&id_of(first)), "after": encode_cursor(&id_of(last)) }),
            );
            if end < total {
                paging.insert("next".into(), json!(page_link(at, "after", &id_of(last))));
            }
            if start > 0 {
                paging.insert(
                    "previous".into(),
                    json!(page_link(at, "before", &id_of(first))),
                );
            }
        }
        out.insert("paging".into(), Value::Object(paging));
    }
    if at.params.get("summary").is_some_and(|s| {
        s.split(',')
            .any(|x| x.trim() == "total_count" || x.trim() == "true")
    }) {
        out.insert("summary".into(), json!({ "total_count": total }));
    }
    Ok(Value::Object(out))
}

fn page_link(at: &PageUrl<'_>, dir: &str, id: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &at.params.0 {
        if matches!(
            k.as_str(),
            "after" | "before" | "access_token" | "appsecret_proof"
        ) {
            continue;
        }
        q.append_pair(k, v);
    }
    // Meta's `next` links repeat the token (reference 2): the client must treat them as secrets.
    q.append_pair("access_token", at.token);
    q.append_pair(dir, &encode_cursor(id));
    format!("{}{}?{}", at.base_url, at.path, q.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_both_quote_styles() {
        assert_eq!(
            parse_list("[\"A\",\"B\"]"),
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(
            parse_list("['MANAGE', 'ADVERTISE']"),
            Some(vec!["MANAGE".into(), "ADVERTISE".into()])
        );
        assert_eq!(parse_list("A,B"), Some(vec!["A".into(), "B".into()]));
        assert_eq!(parse_list("[1,"), None);
    }

    #[test]
    fn field_names_skip_nested_expansions() {
        assert_eq!(
            field_names("id,business{id,name},assigned_pages.limit(5){id},role"),
            vec!["id", "business", "assigned_pages", "role"]
        );
    }
}
