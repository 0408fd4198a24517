//! Discovery endpoints (RFC 7644 §4): what the server supports, derived from the same
//! settings and schema tables the handlers use.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::http as h;
use super::schema::{
    self, ENTERPRISE_SCHEMA, GROUP_SCHEMA, RESOURCE_TYPE_SCHEMA, SPC_SCHEMA, USER_SCHEMA,
};
use super::ScimState;

pub async fn service_provider_config(
    req: HttpRequest,
    state: web::Data<ScimState>,
) -> HttpResponse {
    let base = h::base_url(&req, &state);
    let body = json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/hubbridge/hubbridge/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": state.settings.max_page_size},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token made with `hubbridge token create`, sent as Authorization: Bearer <token>.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        }
    });
    h::resource_response(StatusCode::OK, &body, None)
}

fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

pub async fn list_resource_types(req: HttpRequest, state: web::Data<ScimState>) -> HttpResponse {
    let all = resource_types(&h::base_url(&req, &state));
    h::list_response(all.len() as i64, 1, all)
}

pub async fn get_resource_type(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    resource_types(&h::base_url(&req, &state))
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|r| h::resource_response(StatusCode::OK, &r, None))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))
}

pub async fn list_schemas(req: HttpRequest, state: web::Data<ScimState>) -> HttpResponse {
    let all = schema::all_schemas(&h::base_url(&req, &state));
    h::list_response(all.len() as i64, 1, all)
}

pub async fn get_schema(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    schema::all_schemas(&h::base_url(&req, &state))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|s| h::resource_response(StatusCode::OK, &s, None))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))
}
