//! The admin API, `/admin/v1` (the contract: the team's admin-api.md; docs/admin-api.md says
//! what is served today). JSON in and out, RFC 9457 problems on error, JWT authentication
//! ([`auth`]), cursor lists (`?limit=` default 50, at most 500; `?cursor=`), RFC 3339 times.
//!
//! Routes are declared once, in [`ROUTES`]: the router and `GET /admin/v1/openapi.json`
//! are both built from it, so what is served and what is documented cannot drift.

pub mod auth;
pub mod problem;
mod views;

use actix_web::http::header;
use actix_web::{middleware, web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::service::hubs::Hubs;
use crate::service::Actor;
use crate::store::hubs::HubRow;
use crate::store::{hubs, tasks, Store};
use auth::Admin;
use problem::Problem;

/// What the admin handlers share.
pub struct AdminState {
    pub store: Store,
    pub hubs: Hubs,
}

/// One served route: method, path (below `/admin/v1`), summary, and its handler.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    handler: Handler,
}

#[derive(Clone, Copy)]
enum Handler {
    OpenApi,
    ListHubs,
    CreateHub,
    GetHub,
    ListGrants,
    CreateGrant,
    GetGrant,
    ListTasks,
    GetTask,
}

/// Every admin route served today.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/openapi.json",
        summary: "This document (OpenAPI 3.1)",
        handler: Handler::OpenApi,
    },
    Route {
        method: "GET",
        path: "/hubs",
        summary: "Hubs the caller may see",
        handler: Handler::ListHubs,
    },
    Route {
        method: "POST",
        path: "/hubs",
        summary: "Connect a Meta business (its token checked against Meta first)",
        handler: Handler::CreateHub,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}",
        summary: "One hub",
        handler: Handler::GetHub,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/grants",
        summary: "A hub's access grants (filters group_id, user_id)",
        handler: Handler::ListGrants,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/grants",
        summary: "Grant a directory group or user a role on the hub",
        handler: Handler::CreateGrant,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/grants/{grant_id}",
        summary: "One grant",
        handler: Handler::GetGrant,
    },
    Route {
        method: "GET",
        path: "/tasks",
        summary: "The automation log (filters hub_id, kind, status, user_id, since, until)",
        handler: Handler::ListTasks,
    },
    Route {
        method: "GET",
        path: "/tasks/{task_id}",
        summary: "One task with the Graph calls it made",
        handler: Handler::GetTask,
    },
];

fn route_of(r: &Route) -> actix_web::Route {
    let method = match r.method {
        "POST" => web::post(),
        "PATCH" => web::patch(),
        "DELETE" => web::delete(),
        _ => web::get(),
    };
    match r.handler {
        Handler::OpenApi => method.to(openapi),
        Handler::ListHubs => method.to(list_hubs),
        Handler::CreateHub => method.to(create_hub),
        Handler::GetHub => method.to(get_hub),
        Handler::ListGrants => method.to(list_grants),
        Handler::CreateGrant => method.to(create_grant),
        Handler::GetGrant => method.to(get_grant),
        Handler::ListTasks => method.to(list_tasks),
        Handler::GetTask => method.to(get_task),
    }
}

/// Registers `/admin/v1/...` (authenticated).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/admin/v1").wrap(middleware::from_fn(auth::require_admin));
    let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    paths.dedup();
    for path in paths {
        let mut resource = web::resource(path).default_service(web::to(method_not_allowed));
        for r in ROUTES.iter().filter(|r| r.path == path) {
            resource = resource.route(route_of(r));
        }
        scope = scope.service(resource);
    }
    cfg.service(scope.default_service(web::to(no_route)));
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

async fn no_route(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found(format!(
        "no admin API route at {}",
        req.path()
    )))
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(format!("/admin/v1{}", r.path))
            .or_insert_with(|| json!({}));
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        entry[r.method.to_ascii_lowercase()] = json!({
            "summary": r.summary,
            "parameters": params,
            "security": [{"bearer": []}],
            "responses": {
                "default": {"description": "RFC 9457 problem", "content": {"application/problem+json": {}}},
                if r.method == "POST" { "201" } else { "200" }: {"description": "OK", "content": {"application/json": {}}},
            },
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "hubbridge admin API", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": paths,
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

// ------------------------------------------------------------------------------- helpers

fn admin_of(req: &HttpRequest) -> Result<Admin, Problem> {
    req.extensions()
        .get::<Admin>()
        .cloned()
        .ok_or_else(|| Problem::unauthorized("not authenticated"))
}

fn actor(a: &Admin) -> Actor {
    Actor::Admin {
        subject: a.subject.clone(),
    }
}

/// `?limit=&cursor=`: the page size (1..=500, default 50) and the last seq seen.
#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

fn page(q: &PageQuery) -> Result<(i64, i64), Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 500"));
    }
    let after = match &q.cursor {
        None => 0,
        Some(c) => views::decode_cursor(c)
            .ok_or_else(|| Problem::invalid_field("cursor", "is not a cursor this API gave"))?,
    };
    Ok((limit, after))
}

fn list_response<T>(
    items: Vec<T>,
    limit: i64,
    seq: impl Fn(&T) -> i64,
    view: impl Fn(&T) -> Value,
) -> HttpResponse {
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| views::encode_cursor(seq(i))))
        .flatten();
    HttpResponse::Ok().json(json!({
        "data": items.iter().map(view).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
}

/// The hub, if the caller may see it (workspace owners and super admins see every hub; others
/// the hubs they own).
async fn visible_hub(state: &AdminState, admin: &Admin, hub_id: &str) -> Result<HubRow, Problem> {
    let id = hub_id.to_string();
    let hub = state
        .store
        .read(move |c| hubs::find(c, &id))
        .await?
        .ok_or_else(|| Problem::not_found("no hub with that id"))?;
    if admin.role.sees_every_hub() || hub.owner == admin.subject {
        Ok(hub)
    } else {
        Err(Problem::forbidden("you are not an owner of this hub"))
    }
}

async fn json_body(body: web::Bytes) -> Result<Value, Problem> {
    serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))
}

// ------------------------------------------------------------------------------- hubs

async fn list_hubs(
    req: HttpRequest,
    q: web::Query<PageQuery>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (limit, after) = page(&q)?;
    let owner = (!admin.role.sees_every_hub()).then(|| admin.subject.clone());
    let rows = state
        .store
        .read(move |c| {
            let rows = hubs::list(c, owner.as_deref(), after, limit)?;
            rows.into_iter()
                .map(|h| {
                    let counts = hubs::counts(c, h.seq)?;
                    Ok((h, counts))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(list_response(
        rows,
        limit,
        |(h, _)| h.seq,
        |(h, c)| views::hub(h, c),
    ))
}

async fn get_hub(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &path).await?;
    let seq = hub.seq;
    let counts = state.store.read(move |c| hubs::counts(c, seq)).await?;
    Ok(HttpResponse::Ok().json(views::hub(&hub, &counts)))
}

async fn create_hub(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let input = views::connect_hub(&json_body(body).await?)?;
    let hub = state.hubs.connect(&actor(&admin), input).await?;
    let seq = hub.seq;
    let counts = state.store.read(move |c| hubs::counts(c, seq)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/hubs/{}", hub.id)))
        .json(views::hub(&hub, &counts)))
}

// ------------------------------------------------------------------------------- grants

#[derive(Debug, Deserialize)]
struct GrantQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    group_id: Option<String>,
    user_id: Option<String>,
}

async fn list_grants(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<GrantQuery>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &path).await?;
    let q = q.into_inner();
    let (limit, after) = page(&PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    })?;
    let (seq, group, user) = (hub.seq, q.group_id, q.user_id);
    let rows = state
        .store
        .read(move |c| hubs::grant_views(c, seq, group.as_deref(), user.as_deref(), after, limit))
        .await?;
    let hub_id = hub.id.clone();
    Ok(list_response(
        rows,
        limit,
        |g| g.grant.seq,
        |g| views::grant(&hub_id, g),
    ))
}

async fn get_grant(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (hub_id, grant_id) = path.into_inner();
    let hub = visible_hub(&state, &admin, &hub_id).await?;
    let seq = hub.seq;
    let grant = state
        .store
        .read(move |c| hubs::find_grant(c, seq, &grant_id))
        .await?
        .ok_or_else(|| Problem::not_found("no grant with that id on this hub"))?;
    Ok(HttpResponse::Ok().json(views::grant(&hub.id, &grant)))
}

async fn create_grant(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &path).await?;
    let input = views::new_grant(&json_body(body).await?)?;
    let row = state.hubs.grant(&actor(&admin), &hub.id, input).await?;
    let (seq, id) = (hub.seq, row.id.clone());
    let grant = state
        .store
        .read(move |c| hubs::find_grant(c, seq, &id))
        .await?
        .ok_or_else(|| Problem::not_found("the grant vanished"))?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/admin/v1/hubs/{}/grants/{}", hub.id, grant.grant.id),
        ))
        .json(views::grant(&hub.id, &grant)))
}

// ------------------------------------------------------------------------------- tasks

#[derive(Debug, Deserialize)]
struct TaskQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    hub_id: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    user_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Hub seq → hub id of the hubs the caller may see.
async fn visible_hubs(
    state: &AdminState,
    admin: &Admin,
) -> Result<std::collections::HashMap<i64, String>, Problem> {
    let owner = (!admin.role.sees_every_hub()).then(|| admin.subject.clone());
    let rows = state
        .store
        .read(move |c| hubs::list(c, owner.as_deref(), 0, i64::MAX))
        .await?;
    Ok(rows.into_iter().map(|h| (h.seq, h.id)).collect())
}

async fn list_tasks(
    req: HttpRequest,
    q: web::Query<TaskQuery>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let q = q.into_inner();
    let (limit, after) = page(&PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    })?;
    let time = |field: &str, v: &Option<String>| -> Result<Option<i64>, Problem> {
        v.as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_micros())
                    .map_err(|_| Problem::invalid_field(field, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    let hubs = visible_hubs(&state, &admin).await?;
    let hub_seqs: Vec<i64> = match &q.hub_id {
        Some(id) => hubs
            .iter()
            .filter(|(_, h)| *h == id)
            .map(|(s, _)| *s)
            .collect(),
        None => hubs.keys().copied().collect(),
    };
    let filter = tasks::TaskFilter {
        hub_seqs: Some(hub_seqs),
        kind: q.kind,
        status: q.status,
        user_id: q.user_id,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
    };
    let rows = state
        .store
        .read(move |c| tasks::list(c, &filter, after, limit))
        .await?;
    Ok(list_response(
        rows,
        limit,
        |t| t.seq,
        |t| views::task(t, hubs.get(&t.hub_seq).map_or("", String::as_str), None),
    ))
}

async fn get_task(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let id = path.into_inner();
    let task = state
        .store
        .read(move |c| tasks::find(c, &id))
        .await?
        .ok_or_else(|| Problem::not_found("no task with that id"))?;
    let hubs = visible_hubs(&state, &admin).await?;
    let hub_id = hubs
        .get(&task.hub_seq)
        .cloned()
        .ok_or_else(|| Problem::not_found("no task with that id"))?;
    let seq = task.seq;
    let calls = state.store.read(move |c| tasks::calls_of(c, seq)).await?;
    Ok(HttpResponse::Ok().json(views::task(&task, &hub_id, Some(&calls))))
}
