//! `/Groups` handlers. Members are loaded only when the response will show them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::Resource;
use super::http::{self as h, timestamp};
use super::patch::member_ids;
use super::resource::{check_schemas, check_text};
use super::schema::GROUP_SCHEMA;
use super::ScimState;
use crate::service::directory::GroupRecord;

pub fn render(rec: &GroupRecord, base: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    out.insert("id".into(), json!(rec.row.id));
    if let Some(x) = &rec.row.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("displayName".into(), json!(rec.row.display_name));
    if let Some(members) = &rec.members {
        let m: Vec<Value> = members
            .iter()
            .map(|m| {
                json!({"value": m.user_id, "$ref": format!("{base}/Users/{}", m.user_id),
                       "display": m.display, "type": "User"})
            })
            .collect();
        out.insert("members".into(), Value::Array(m));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(rec.row.created_at),
            "lastModified": timestamp(rec.row.updated_at),
            "location": format!("{base}/Groups/{}", rec.row.id),
            "version": h::etag(rec.row.version),
        }),
    );
    Value::Object(out)
}

/// A POST/PUT body: displayName (required), externalId, members (users only).
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

pub fn parse_input(body: &Value) -> Result<GroupInput, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    check_schemas(obj)?;
    let get = |k: &str| {
        obj.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let display_name = match get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            check_text("displayName", s, true)?;
            s.clone()
        }
        _ => {
            return Err(ScimError::invalid_value(
                "displayName is required and must be a non-empty string",
            ))
        }
    };
    let external_id = match get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            check_text("externalId", s, true)?;
            Some(s.clone())
        }
        Some(_) => return Err(ScimError::invalid_value("externalId must be a string")),
    };
    let members = match get("members") {
        None | Some(Value::Null) => vec![],
        Some(v @ Value::Array(_)) => member_ids(v)?,
        Some(_) => return Err(ScimError::invalid_value("members must be an array")),
    };
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

fn respond(
    req: &HttpRequest,
    state: &ScimState,
    rec: &GroupRecord,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let body = h::projection(req)?.apply(render(rec, &h::base_url(req, state)));
    Ok(h::resource_response(status, &body, Some(rec.row.version)))
}

pub async fn create_group(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    let body = h::json_body(&req, payload, state.max_body_bytes).await?;
    let input = parse_input(&body)?;
    let rec = state
        .directory
        .create_group(&actor, input.display_name, input.external_id, input.members)
        .await?;
    respond(&req, &state, &rec, StatusCode::CREATED)
}

pub async fn get_group(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let projection = h::projection(&req)?;
    let rec = state
        .directory
        .get_group(&id, projection.wants("members"))
        .await?;
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

pub async fn list_groups(
    req: HttpRequest,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let raw = h::RawListParams::from_query(&req)?;
    respond_list(&req, &state, h::list_params(raw, &state, Resource::Group)?).await
}

/// `POST /Groups/.search` (RFC 7644 §3.4.3).
pub async fn search_groups(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let raw = h::search_request(&req, payload, state.max_body_bytes).await?;
    respond_list(&req, &state, h::list_params(raw, &state, Resource::Group)?).await
}

async fn respond_list(
    req: &HttpRequest,
    state: &ScimState,
    params: h::ListParams,
) -> Result<HttpResponse, ScimError> {
    let with_members = params.projection.wants("members");
    let page = state
        .directory
        .list_groups(params.spec, with_members)
        .await?;
    let base = h::base_url(req, state);
    let resources = page
        .items
        .iter()
        .map(|r| params.projection.apply(render(r, &base)))
        .collect();
    Ok(h::list_response(page.total, params.start_index, resources))
}

pub async fn replace_group(
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
    let input = parse_input(&body)?;
    let rec = state
        .directory
        .replace_group(
            &actor,
            &id,
            h::if_match(&req),
            input.display_name,
            input.external_id,
            input.members,
        )
        .await?;
    respond(&req, &state, &rec, StatusCode::OK)
}

/// Group PATCH answers 204 (what Entra expects; Okta accepts it), with the new ETag.
pub async fn patch_group(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    let body = h::json_body(&req, payload, state.max_body_bytes).await?;
    let ops = super::patch::parse_ops(body, state.settings.max_patch_operations)?;
    let change = super::patch::apply_group(&ops)?;
    let row = state
        .directory
        .patch_group(&actor, &id, h::if_match(&req), change)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((actix_web::http::header::ETAG, h::etag(row.version)))
        .finish())
}

pub async fn delete_group(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let actor = h::actor(&req)?;
    state
        .directory
        .delete_group(&actor, &id, h::if_match(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
