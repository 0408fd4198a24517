//! Request and response plumbing shared by the SCIM handlers: body limits and content
//! types, list parameters, ETags and preconditions, the base URL for `meta.location`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::error::{ScimError, SCIM_CONTENT_TYPE};
use super::filter::{self, Resource};
use super::resource::Projection;
use super::schema::{LIST_SCHEMA, SEARCH_SCHEMA};
use super::ScimState;
use crate::service::directory::{IfMatch, ListSpec};
use crate::service::Actor;
use crate::store::sql::Cond;

/// The acting token, put in the request by the auth middleware.
pub fn actor(req: &HttpRequest) -> Result<Actor, ScimError> {
    req.extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| ScimError::unauthorized("not authenticated"))
}

/// Bodies larger than this are parsed on the blocking pool rather than the async worker.
const PARSE_ON_WORKER_MAX: usize = 64 * 1024;

/// Is a body of `len` bytes parsed off the async worker (it takes milliseconds)?
fn parsed_off_the_worker(len: usize) -> bool {
    len > PARSE_ON_WORKER_MAX
}

/// Reads a JSON request body: content type checked, size limited, JSON parsed.
pub async fn json_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/scim+json" && essence != "application/json" {
            return Err(ScimError::unsupported_media_type(format!(
                "Content-Type {essence:?} is not supported; send application/scim+json or application/json"
            )));
        }
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ScimError::payload_too_large(limit));
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ScimError::invalid_syntax(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ScimError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    let large = parsed_off_the_worker(body.len());
    let parse = move || {
        serde_json::from_slice(&body).map_err(|e| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
        })
    };
    // A large body takes milliseconds to parse: off the async worker, whose other requests
    // would wait meanwhile.
    if large {
        web::block(parse)
            .await
            .map_err(|e| ScimError::internal(&e))?
    } else {
        parse()
    }
}

/// The absolute base URL of the SCIM API (`https://host/scim/v2`) for `meta.location`,
/// `Location` and `$ref`: `server.public_url` when set; otherwise, only when
/// `server.trust_forwarded_headers` says a proxy sets them, the request's `Forwarded` /
/// `X-Forwarded-Proto` / `X-Forwarded-Host` / `Host`; otherwise the address the connection
/// came in on. A client's own headers never choose the URL others are sent to.
pub fn base_url(req: &HttpRequest, state: &ScimState) -> String {
    if let Some(u) = &state.public_url {
        return format!("{}/scim/v2", u.trim_end_matches('/'));
    }
    if state.trust_forwarded_headers {
        let info = req.connection_info();
        return format!("{}://{}/scim/v2", info.scheme(), info.host());
    }
    format!("http://{}/scim/v2", req.app_config().local_addr())
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn parse_tags(raw: &str) -> (bool, Vec<i64>) {
    let mut any = false;
    let mut versions = Vec::new();
    for tag in raw.split(',').map(str::trim) {
        if tag == "*" {
            any = true;
            continue;
        }
        let t = tag.strip_prefix("W/").unwrap_or(tag);
        if let Some(v) = t
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|t| t.parse::<i64>().ok())
        {
            versions.push(v);
        }
    }
    (any, versions)
}

/// `If-Match`, when present.
pub fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    let raw = req.headers().get(header::IF_MATCH)?.to_str().unwrap_or("");
    let (any, versions) = parse_tags(raw);
    Some(if any {
        IfMatch::Any
    } else {
        IfMatch::Versions(versions)
    })
}

/// Does `If-None-Match` match this version (→ 304)?
pub fn not_modified(req: &HttpRequest, version: i64) -> bool {
    let Some(raw) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (any, versions) = parse_tags(raw);
    any || versions.contains(&version)
}

pub fn not_modified_response(version: i64) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag(version)))
        .finish()
}

/// A SCIM JSON response with the resource's ETag.
pub fn resource_response(status: StatusCode, body: &Value, version: Option<i64>) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE));
    if let Some(v) = version {
        r.insert_header((header::ETAG, etag(v)));
    }
    if status == StatusCode::CREATED {
        if let Some(loc) = body.pointer("/meta/location").and_then(Value::as_str) {
            r.insert_header((header::LOCATION, loc.to_string()));
        }
    }
    r.body(body.to_string())
}

/// Micro-seconds since the epoch → RFC 3339 (UTC).
pub fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parsed list parameters (RFC 7644 §3.4.2).
pub struct ListParams {
    pub spec: ListSpec,
    /// 1-based, as echoed in `startIndex`.
    pub start_index: i64,
    pub projection: Projection,
}

/// List parameters as sent, before validation: from a query string (`GET`) or from a
/// SearchRequest body (`POST .../.search`).
#[derive(Debug, Default, Clone)]
pub struct RawListParams {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

impl RawListParams {
    /// From the query string of a `GET /Users`, `GET /Groups`.
    pub fn from_query(req: &HttpRequest) -> Result<RawListParams, ScimError> {
        let mut raw = RawListParams::default();
        for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            let int = |name: &str| {
                v.trim().parse::<i64>().map_err(|_| {
                    ScimError::invalid_value(format!("{name} must be an integer, got {v:?}"))
                })
            };
            match k.to_ascii_lowercase().as_str() {
                "filter" => raw.filter = Some(v.to_string()),
                "startindex" => raw.start_index = Some(int("startIndex")?),
                "count" => raw.count = Some(int("count")?),
                "sortby" => raw.sort_by = Some(v.to_string()),
                "sortorder" => raw.sort_order = Some(v.to_string()),
                "attributes" => raw.attributes = Some(v.to_string()),
                "excludedattributes" => raw.excluded = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(raw)
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3). Attribute lists may be arrays of
    /// names or comma-separated strings; members of any other name are ignored.
    pub fn from_search(body: &Value) -> Result<RawListParams, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
        let get = |k: &str| {
            obj.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        };
        if let Some(schemas) = get("schemas") {
            let ok = schemas
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(SEARCH_SCHEMA)));
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must contain {SEARCH_SCHEMA}"
                )));
            }
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be a string"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        let list = |k: &str| -> Result<Option<String>, ScimError> {
            match get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            ScimError::invalid_value(format!("{k} must list attribute names"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|names| Some(names.join(","))),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{k} must be an array of attribute names"
                ))),
            }
        };
        Ok(RawListParams {
            filter: text("filter")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            attributes: list("attributes")?,
            excluded: list("excludedAttributes")?,
        })
    }
}

/// The list parameters of a `POST .../.search` request.
pub async fn search_request(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<RawListParams, ScimError> {
    RawListParams::from_search(&json_body(req, payload, limit).await?)
}

/// Validates list parameters for `resource`.
pub fn list_params(
    raw: RawListParams,
    state: &ScimState,
    resource: Resource,
) -> Result<ListParams, ScimError> {
    // Values below 1 mean 1 (RFC 7644 §3.4.2.4).
    let start_index = raw.start_index.unwrap_or(1).max(1);
    // Negative means 0; more than the maximum is cut to it.
    let max = state.settings.max_page_size as i64;
    let count = raw
        .count
        .unwrap_or(state.settings.default_page_size as i64)
        .clamp(0, max);
    let descending = match raw.sort_order.as_deref().map(str::to_ascii_lowercase) {
        None => false,
        Some(o) if o == "ascending" => false,
        Some(o) if o == "descending" => true,
        Some(_) => {
            return Err(ScimError::invalid_value(
                "sortOrder must be ascending or descending",
            ))
        }
    };
    let cond = match &raw.filter {
        Some(f) => filter::to_cond(
            resource,
            &filter::parse(f, state.settings.max_filter_length)?,
        )?,
        None => Cond::True,
    };
    let sort = match &raw.sort_by {
        Some(s) => Some((filter::sort_column(resource, s)?, descending)),
        None => None,
    };
    Ok(ListParams {
        spec: ListSpec {
            cond,
            sort,
            offset: start_index - 1,
            limit: count,
        },
        start_index,
        projection: Projection::parse(raw.attributes.as_deref(), raw.excluded.as_deref())?,
    })
}

/// `attributes` / `excludedAttributes` on single-resource requests.
pub fn projection(req: &HttpRequest) -> Result<Projection, ScimError> {
    let mut attributes = None;
    let mut excluded = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.to_ascii_lowercase().as_str() {
            "attributes" => attributes = Some(v.to_string()),
            "excludedattributes" => excluded = Some(v.to_string()),
            _ => {}
        }
    }
    Projection::parse(attributes.as_deref(), excluded.as_deref())
}

pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> HttpResponse {
    let body = json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    resource_response(StatusCode::OK, &body, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodies_over_64_kib_are_parsed_off_the_worker() {
        assert!(!parsed_off_the_worker(0));
        assert!(!parsed_off_the_worker(PARSE_ON_WORKER_MAX));
        assert!(parsed_off_the_worker(PARSE_ON_WORKER_MAX + 1));
    }
}
