//! `/Users` handlers: parse and authorise, call the directory service, render.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::Resource;
use super::http::{self as h, timestamp};
use super::resource::{check_value_counts, normalize_user};
use super::schema::{ENTERPRISE_SCHEMA, USER_SCHEMA};
use super::ScimState;
use crate::service::directory::UserRecord;

/// The SCIM representation of a stored user.
pub fn render(rec: &UserRecord, base: &str) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if rec.doc.contains_key(ENTERPRISE_SCHEMA) {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(rec.row.id));
    if let Some(x) = rec.doc.get("externalId") {
        out.insert("externalId".into(), x.clone());
    }
    for (k, v) in &rec.doc {
        if k != "externalId" {
            out.insert(k.clone(), v.clone());
        }
    }
    if !rec.groups.is_empty() {
        let groups: Vec<Value> = rec
            .groups
            .iter()
            .map(|(id, display)| {
                json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": display, "type": "direct"})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(rec.row.created_at),
            "lastModified": timestamp(rec.row.updated_at),
            "location": format!("{base}/Users/{}", rec.row.id),
            "version": h::etag(rec.row.version),
        }),
    );
    Value::Object(out)
}

fn respond(
    req: &HttpRequest,
    state: &ScimState,
    rec: &UserRecord,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let body = h::projection(req)?.apply(render(rec, &h::base_url(req, state)));
    Ok(h::resource_response(status, &body, Some(rec.row.version)))
}

pub async fn create_user(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    let body = h::json_body(&req, payload, state.max_body_bytes).await?;
    let doc = normalize_user(&body)?;
    check_value_counts(&doc, state.settings.max_values_per_attribute)?;
    let rec = state.directory.create_user(&actor, doc).await?;
    respond(&req, &state, &rec, StatusCode::CREATED)
}

pub async fn get_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let projection = h::projection(&req)?;
    let rec = state.directory.get_user(&id).await?;
    if h::not_modified(&req, rec.row.version) {
        return Ok(h::not_modified_response(rec.row.version));
    }
    let body = projection.apply(render(&rec, &h::base_url(&req, &state)));
    Ok(h::resource_response(
        StatusCode::OK,
        &body,
        Some(rec.row.version),
    ))
}

pub async fn list_users(
    req: HttpRequest,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let raw = h::RawListParams::from_query(&req)?;
    respond_list(&req, &state, h::list_params(raw, &state, Resource::User)?).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the list parameters in a SearchRequest body.
pub async fn search_users(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let raw = h::search_request(&req, payload, state.max_body_bytes).await?;
    respond_list(&req, &state, h::list_params(raw, &state, Resource::User)?).await
}

async fn respond_list(
    req: &HttpRequest,
    state: &ScimState,
    params: h::ListParams,
) -> Result<HttpResponse, ScimError> {
    let page = state.directory.list_users(params.spec).await?;
    let base = h::base_url(req, state);
    let resources = page
        .items
        .iter()
        .map(|r| params.projection.apply(render(r, &base)))
        .collect();
    Ok(h::list_response(page.total, params.start_index, resources))
}

pub async fn replace_user(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    let body = h::json_body(&req, payload, state.max_body_bytes).await?;
    if let Some(sent) = body.get("id").and_then(Value::as_str) {
        if sent != id.as_str() {
            return Err(ScimError::mutability(
                "id in the body differs from the id in the URL",
            ));
        }
    }
    let doc = normalize_user(&body)?;
    check_value_counts(&doc, state.settings.max_values_per_attribute)?;
    let rec = state
        .directory
        .replace_user(&actor, &id, h::if_match(&req), doc)
        .await?;
    respond(&req, &state, &rec, StatusCode::OK)
}

pub async fn patch_user(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    let body = h::json_body(&req, payload, state.max_body_bytes).await?;
    let ops = super::patch::parse_ops(body, state.settings.max_patch_operations)?;
    let max_values = state.settings.max_values_per_attribute;
    super::patch::check_user_value_counts(&ops, max_values)?;
    let patch = super::patch::UserPatchOps { ops, max_values };
    let rec = state
        .directory
        .patch_user(&actor, &id, h::if_match(&req), patch)
        .await?;
    respond(&req, &state, &rec, StatusCode::OK)
}

pub async fn delete_user(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    state
        .directory
        .delete_user(&actor, &id, h::if_match(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
