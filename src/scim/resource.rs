//! Turning client JSON into the stored form of a resource and back.
//!
//! Input rules (documented in docs/scim.md):
//! - attribute names match case-insensitively and are stored under their schema spelling;
//! - attributes the schema does not define are **ignored** (dropped, never stored), as are
//!   read-only ones (`id`, `meta`, `groups`) sent back by Okta's GET-then-PUT;
//! - `password` is accepted and discarded: hubbridge never stores passwords;
//! - booleans may arrive as the strings `"True"`/`"False"` (Entra), a manager as a bare id;
//! - `null`, empty strings and empty arrays mean "no value";
//! - a value of the wrong JSON type is refused with `invalidValue`, naming the attribute.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{
    self, AttrDef, AttrType, Mutability, COMMON_ATTRS, ENTERPRISE_ATTRS, ENTERPRISE_SCHEMA,
    USER_ATTRS,
};

/// The longest value, in bytes, of an attribute the databases index (`userName`,
/// `externalId`, `displayName`, the `value` of a multi-valued attribute, ids). PostgreSQL
/// refuses index entries over about 2.7 KB; below this limit both backends store alike.
pub const MAX_INDEXED_BYTES: usize = 1024;

/// Attributes that identify or are indexed: no control character at all, at most
/// [`MAX_INDEXED_BYTES`].
fn is_identifier(name: &str) -> bool {
    matches!(name, "userName" | "externalId" | "displayName" | "value")
}

/// Checks a string before it can reach the database: identifiers (see [`is_identifier`])
/// take no control character and at most [`MAX_INDEXED_BYTES`]; other text takes no
/// control character but TAB, LF and CR (a formatted address has line breaks). A NUL
/// byte, which PostgreSQL refuses and SQLite stores, is refused either way.
pub fn check_text(path: &str, s: &str, identifier: bool) -> Result<(), ScimError> {
    if identifier && s.len() > MAX_INDEXED_BYTES {
        return Err(ScimError::invalid_value(format!(
            "{path}: is {} bytes long; the limit is {MAX_INDEXED_BYTES}",
            s.len()
        )));
    }
    let refused = |c: char| c.is_control() && (identifier || !matches!(c, '\t' | '\n' | '\r'));
    if let Some(c) = s.chars().find(|&c| refused(c)) {
        return Err(ScimError::invalid_value(format!(
            "{path}: control character U+{:04X} is not allowed",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Refuses a user with more than `max` values in one multi-valued attribute
/// (`scim.max_values_per_attribute`): every value is a row to write and to index.
pub fn check_value_counts(doc: &Map<String, Value>, max: usize) -> Result<(), ScimError> {
    for (name, v) in doc {
        if let Value::Array(items) = v {
            check_count(name, items.len(), max)?;
        }
    }
    Ok(())
}

/// Refuses `n` values for one attribute when over `max`.
pub fn check_count(name: &str, n: usize, max: usize) -> Result<(), ScimError> {
    if n > max {
        return Err(ScimError::invalid_value(format!(
            "{name}: {n} values; at most {max} are allowed (scim.max_values_per_attribute)"
        )));
    }
    Ok(())
}

/// Normalises one attribute value against its definition. `Ok(None)` = no value.
pub fn normalize_attr(
    def: &'static AttrDef,
    v: &Value,
    path: &str,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if def.multi {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(n) = normalize_single(def, item, path)? {
                out.push(n);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        let primaries = out
            .iter()
            .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "{path}: at most one value may be primary"
            )));
        }
        return Ok(Some(Value::Array(out)));
    }
    if let Value::Array(_) = v {
        return Err(ScimError::invalid_value(format!(
            "{path}: is single-valued; an array was given"
        )));
    }
    normalize_single(def, v, path)
}

fn normalize_single(
    def: &'static AttrDef,
    v: &Value,
    path: &str,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if def.ty == AttrType::Complex {
        let obj = match v {
            Value::Object(o) => o,
            // Entra sends the manager as a bare id; a bare string for any complex
            // attribute with a `value` sub-attribute means that value.
            Value::String(_) if def.sub_attr("value").is_some() => {
                let mut m = Map::new();
                m.insert("value".into(), v.clone());
                return normalize_single(def, &Value::Object(m), path);
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{path}: must be an object"
                )))
            }
        };
        let mut out = Map::new();
        for (k, sv) in obj {
            let Some(sub) = def.sub_attr(k) else { continue };
            if def.name != "members" && sub.mutability == Mutability::ReadOnly {
                continue;
            }
            if let Some(n) = normalize_scalar(sub, sv, &format!("{path}.{}", sub.name))? {
                out.insert(sub.name.to_string(), n);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Value::Object(out)));
    }
    normalize_scalar(def, v, path)
}

fn normalize_scalar(def: &AttrDef, v: &Value, path: &str) -> Result<Option<Value>, ScimError> {
    match (def.ty, v) {
        (_, Value::Null) => Ok(None),
        (AttrType::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Some(Value::Bool(true)))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Some(Value::Bool(false)))
        }
        (AttrType::Boolean, _) => Err(ScimError::invalid_value(format!(
            "{path}: must be a boolean"
        ))),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => {
            if s.is_empty() {
                Ok(None)
            } else {
                check_text(path, s, is_identifier(def.name))?;
                Ok(Some(Value::String(s.clone())))
            }
        }
        (AttrType::DateTime, Value::String(s)) => {
            chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                ScimError::invalid_value(format!("{path}: must be an RFC 3339 dateTime"))
            })?;
            Ok(Some(Value::String(s.clone())))
        }
        (AttrType::Complex, _) => Err(ScimError::invalid_value(format!(
            "{path}: must be an object"
        ))),
        _ => Err(ScimError::invalid_value(format!(
            "{path}: must be a string"
        ))),
    }
}

/// Where an attribute lives in a stored user document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Core,
    Enterprise,
}

/// Resolves a top-level user attribute name (`userName`, `externalId`, or an enterprise
/// attribute when `scope` says so).
pub fn user_attr(scope: Scope, name: &str) -> Option<&'static AttrDef> {
    match scope {
        Scope::Core => {
            schema::find(&USER_ATTRS, name).or_else(|| schema::find(&COMMON_ATTRS, name))
        }
        Scope::Enterprise => schema::find(&ENTERPRISE_ATTRS, name),
    }
}

/// Validates a whole client-sent User and returns its stored form: core attributes at the
/// top, enterprise attributes under their URN, nothing read-only, no password.
pub fn normalize_user(input: &Value) -> Result<Map<String, Value>, ScimError> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    check_schemas(obj)?;
    let mut out = Map::new();
    let mut ext = Map::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            let Value::Object(eobj) = v else {
                if v.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "{ENTERPRISE_SCHEMA}: must be an object"
                )));
            };
            for (ek, ev) in eobj {
                if let Some(def) = user_attr(Scope::Enterprise, ek) {
                    if let Some(n) = normalize_attr(def, ev, def.name)? {
                        ext.insert(def.name.to_string(), n);
                    }
                }
            }
            continue;
        }
        let Some(def) = user_attr(Scope::Core, k) else {
            continue;
        };
        if matches!(def.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
            continue;
        }
        if let Some(n) = normalize_attr(def, v, def.name)? {
            out.insert(def.name.to_string(), n);
        }
    }
    if !ext.is_empty() {
        out.insert(ENTERPRISE_SCHEMA.to_string(), Value::Object(ext));
    }
    require_user_name(&out)?;
    Ok(out)
}

/// Re-validates a stored user document after PATCH changed it.
pub fn validate_user_doc(doc: Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    normalize_user(&Value::Object(doc))
}

fn require_user_name(doc: &Map<String, Value>) -> Result<(), ScimError> {
    match doc.get("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        _ => Err(ScimError::invalid_value(
            "userName is required and must be a non-empty string",
        )),
    }
}

/// `schemas`, when sent, must be an array of strings. Unknown URNs are tolerated (Entra
/// sends a Microsoft-specific one for groups).
pub fn check_schemas(obj: &Map<String, Value>) -> Result<(), ScimError> {
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")) {
        None => Ok(()),
        Some((_, Value::Array(a))) if a.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ScimError::invalid_syntax(
            "schemas must be an array of schema URNs",
        )),
    }
}

/// The text of a single-valued string attribute of a stored doc.
pub fn doc_str<'a>(doc: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let mut cur = doc.get(path[0])?;
    for p in &path[1..] {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// Applies `attributes` / `excludedAttributes` to a rendered resource (RFC 7644 §3.9).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Lower-cased attribute paths: `name`, `name.givenname`, `<urn>:department`.
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let split = |s: Option<&str>| -> Result<Vec<String>, ScimError> {
            let Some(s) = s else { return Ok(vec![]) };
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if p.len() > 300 || p.chars().any(|c| c.is_whitespace() || c == '"') {
                        Err(ScimError::invalid_value(format!(
                            "attribute list: {p:?} is not an attribute path"
                        )))
                    } else {
                        Ok(p.to_ascii_lowercase())
                    }
                })
                .collect()
        };
        Ok(Projection {
            include: split(attributes)?,
            exclude: split(excluded)?,
        })
    }

    /// Would this projection return `attr` (a top-level core attribute)? Lets callers skip
    /// loading expensive attributes such as group members.
    pub fn wants(&self, attr: &str) -> bool {
        let a = attr.to_ascii_lowercase();
        if !self.include.is_empty() {
            return self
                .include
                .iter()
                .any(|p| strip_core(p).split('.').next() == Some(a.as_str()));
        }
        !self.exclude.iter().any(|p| strip_core(p) == a)
    }

    pub fn is_identity(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn apply(&self, resource: Value) -> Value {
        if self.is_identity() {
            return resource;
        }
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        if !self.include.is_empty() {
            let mut out = Map::new();
            for (k, v) in obj {
                if matches!(k.as_str(), "schemas" | "id") {
                    out.insert(k, v);
                    continue;
                }
                if let Some(kept) = self.keep_included(&k, v) {
                    out.insert(k, kept);
                }
            }
            return Value::Object(out);
        }
        let keys: Vec<String> = obj.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "schemas" | "id") {
                continue;
            }
            let kl = k.to_ascii_lowercase();
            if self.exclude.iter().any(|p| strip_core(p) == kl) {
                obj.remove(&k);
                continue;
            }
            // Sub-attribute exclusions: `name.givenName`, `<urn>:department`.
            let subs: Vec<&str> = self.exclude.iter().filter_map(|p| sub_of(p, &kl)).collect();
            if !subs.is_empty() {
                if let Some(Value::Object(inner)) = obj.get_mut(&k) {
                    inner.retain(|ik, _| !subs.contains(&ik.to_ascii_lowercase().as_str()));
                }
            }
        }
        Value::Object(obj)
    }

    fn keep_included(&self, key: &str, v: Value) -> Option<Value> {
        let kl = key.to_ascii_lowercase();
        if self.include.iter().any(|p| strip_core(p) == kl) {
            return Some(v);
        }
        let subs: Vec<&str> = self.include.iter().filter_map(|p| sub_of(p, &kl)).collect();
        if subs.is_empty() {
            return None;
        }
        let keep = |o: &Map<String, Value>| -> Map<String, Value> {
            o.iter()
                .filter(|(ik, _)| subs.contains(&ik.to_ascii_lowercase().as_str()))
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect()
        };
        match v {
            Value::Object(o) => Some(Value::Object(keep(&o))),
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(|i| i.as_object().map(|o| Value::Object(keep(o))))
                    .collect(),
            )),
            _ => None,
        }
    }
}

/// `urn:...:core:2.0:user:username` → `username`.
fn strip_core(p: &str) -> &str {
    for urn in [schema::USER_SCHEMA, schema::GROUP_SCHEMA] {
        let urn = urn.to_ascii_lowercase();
        if let Some(rest) = p.strip_prefix(&urn).and_then(|r| r.strip_prefix(':')) {
            return rest;
        }
    }
    p
}

/// If `p` names a sub-attribute of top-level key `key` (lower-case), the sub-attribute.
fn sub_of<'a>(p: &'a str, key: &str) -> Option<&'a str> {
    let p = strip_core(p);
    if let Some(rest) = p.strip_prefix(key) {
        return rest.strip_prefix('.').or_else(|| rest.strip_prefix(':'));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_input_is_normalised_to_schema_spelling_and_types() {
        let doc = normalize_user(&json!({
            "schemas": [schema::USER_SCHEMA],
            "UserName": "ada@example.com",
            "id": "ignored",
            "groups": [{"value": "x"}],
            "password": "secret",
            "unknownThing": 1,
            "active": "False",
            "emails": [{"Value": "ada@example.com", "Primary": "true", "type": "work"}],
            ENTERPRISE_SCHEMA: {"manager": "271", "Department": "R&D"},
        }))
        .unwrap();
        assert_eq!(doc["userName"], "ada@example.com");
        assert_eq!(doc["active"], false);
        assert_eq!(doc["emails"][0]["primary"], true);
        assert_eq!(doc[ENTERPRISE_SCHEMA]["manager"]["value"], "271");
        assert_eq!(doc[ENTERPRISE_SCHEMA]["department"], "R&D");
        assert!(!doc.contains_key("id") && !doc.contains_key("password"));
        assert!(!doc.contains_key("groups") && !doc.contains_key("unknownThing"));
    }

    #[test]
    fn wrong_types_and_two_primaries_are_refused() {
        let e = normalize_user(&json!({"userName": 5})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
        let e = normalize_user(&json!({"userName": "a", "active": "maybe"})).unwrap_err();
        assert!(e.detail.contains("active"));
        let e = normalize_user(&json!({"userName": "a", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}))
        .unwrap_err();
        assert!(e.detail.contains("primary"));
    }

    #[test]
    fn projection_keeps_always_attributes_and_sub_attributes() {
        let r = json!({"schemas": ["s"], "id": "1", "userName": "u",
            "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": "e", "type": "work"}]});
        let p = Projection::parse(Some("name.givenName,EMAILS.value"), None).unwrap();
        assert_eq!(
            p.apply(r.clone()),
            json!({"schemas": ["s"], "id": "1", "name": {"givenName": "A"}, "emails": [{"value": "e"}]})
        );
        let p = Projection::parse(None, Some("name.familyName,emails")).unwrap();
        assert_eq!(
            p.apply(r),
            json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "A"}})
        );
        let p = Projection::parse(None, Some("members")).unwrap();
        assert!(!p.wants("members"));
        assert!(p.wants("displayName"));
    }
}
