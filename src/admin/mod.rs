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
    /// The SCIM edge's token cache (shared): a token revoked here stops working at once.
    pub scim_tokens: crate::scim::auth::TokenCache,
    pub members: crate::service::members::Members,
    pub guests: crate::service::guests::Guests,
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
    SyncHub,
    UpdateGrant,
    DeleteGrant,
    UpdateHub,
    DisconnectHub,
    ListAssets,
    ListMembers,
    GetMember,
    ApproveHeld,
    CancelHeld,
    RetryTask,
    CancelTask,
    ApproveTask,
    PlanGrant,
    ListScimTokens,
    CreateScimToken,
    RevokeScimToken,
    MatchMember,
    ExemptMember,
    EndExemption,
    RemoveMember,
    ClaimOwner,
    ListGuests,
    CreateGuest,
    DeleteGuest,
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
        method: "PATCH",
        path: "/hubs/{hub_id}",
        summary: "Change a hub's settings or rotate its token (a needs_reauth hub resumes)",
        handler: Handler::UpdateHub,
    },
    Route {
        method: "DELETE",
        path: "/hubs/{hub_id}",
        summary: "Disconnect a hub: its pending work is cancelled, history kept (204)",
        handler: Handler::DisconnectHub,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/sync",
        summary: "Check for updates now (202 with the sync task; a waiting sync is returned)",
        handler: Handler::SyncHub,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/assets",
        summary: "Pages, ad accounts and catalogs the last sync saw",
        handler: Handler::ListAssets,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/members",
        summary: "People in the hub's business (filters state, q, partner_business_id)",
        handler: Handler::ListMembers,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/members/{member_id}",
        summary: "One member",
        handler: Handler::GetMember,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/members/{member_id}/match",
        summary: "Match a member to a directory user ({user_id, hub_role}); it then follows \
                  that user's access",
        handler: Handler::MatchMember,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/members/{member_id}/exempt",
        summary: "Exempt a member from automation ({reason}, required)",
        handler: Handler::ExemptMember,
    },
    Route {
        method: "DELETE",
        path: "/hubs/{hub_id}/members/{member_id}/exempt",
        summary: "End a member's exemption; it is planned again",
        handler: Handler::EndExemption,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/members/{member_id}/remove",
        summary: "Revoke a member's seat and asset tasks in Meta (202 with the remove_member \
                  task; 409 when a grant reaches it, naming the grant)",
        handler: Handler::RemoveMember,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/claim-owner",
        summary: "Match a member ({member_id}) to the caller's own directory user as owner",
        handler: Handler::ClaimOwner,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/held/approve",
        summary: "Let every removal the safeguard holds on this hub run",
        handler: Handler::ApproveHeld,
    },
    Route {
        method: "POST",
        path: "/hubs/{hub_id}/held/cancel",
        summary: "Cancel every removal the safeguard holds on this hub",
        handler: Handler::CancelHeld,
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
        method: "POST",
        path: "/hubs/{hub_id}/grants/plan",
        summary: "Dry run of a grant create, change or delete: who would be invited, changed or \
                  removed, with the Graph calls; applies nothing",
        handler: Handler::PlanGrant,
    },
    Route {
        method: "GET",
        path: "/hubs/{hub_id}/grants/{grant_id}",
        summary: "One grant",
        handler: Handler::GetGrant,
    },
    Route {
        method: "PATCH",
        path: "/hubs/{hub_id}/grants/{grant_id}",
        summary: "Change a grant's roles or assets (everyone it reaches is re-planned)",
        handler: Handler::UpdateGrant,
    },
    Route {
        method: "DELETE",
        path: "/hubs/{hub_id}/grants/{grant_id}",
        summary: "Delete a grant (everyone it reached is re-planned; the safeguard applies)",
        handler: Handler::DeleteGrant,
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
    Route {
        method: "POST",
        path: "/tasks/{task_id}/retry",
        summary: "Run a failed or cancelled task again (202)",
        handler: Handler::RetryTask,
    },
    Route {
        method: "POST",
        path: "/tasks/{task_id}/cancel",
        summary: "Cancel a pending, deferred or held task",
        handler: Handler::CancelTask,
    },
    Route {
        method: "POST",
        path: "/tasks/{task_id}/approve",
        summary: "Let a held removal run (202)",
        handler: Handler::ApproveTask,
    },
    Route {
        method: "GET",
        path: "/guests",
        summary: "Registered guests (external collaborators)",
        handler: Handler::ListGuests,
    },
    Route {
        method: "POST",
        path: "/guests",
        summary: "Register a guest ({name, email, partner_business_id?}); members with that \
                  email become guest",
        handler: Handler::CreateGuest,
    },
    Route {
        method: "DELETE",
        path: "/guests/{guest_id}",
        summary: "Remove a guest; its members become unmatched again",
        handler: Handler::DeleteGuest,
    },
    Route {
        method: "GET",
        path: "/scim-tokens",
        summary: "SCIM tokens, revoked ones included (never a secret); workspace owners only",
        handler: Handler::ListScimTokens,
    },
    Route {
        method: "POST",
        path: "/scim-tokens",
        summary: "Issue a SCIM token ({name}); the token is in this answer only",
        handler: Handler::CreateScimToken,
    },
    Route {
        method: "DELETE",
        path: "/scim-tokens/{token_id}",
        summary: "Revoke a SCIM token (at once in this process)",
        handler: Handler::RevokeScimToken,
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
        Handler::SyncHub => method.to(sync_hub),
        Handler::UpdateGrant => method.to(update_grant),
        Handler::DeleteGrant => method.to(delete_grant),
        Handler::UpdateHub => method.to(update_hub),
        Handler::DisconnectHub => method.to(disconnect_hub),
        Handler::ListAssets => method.to(list_assets),
        Handler::ListMembers => method.to(list_members),
        Handler::GetMember => method.to(get_member),
        Handler::ApproveHeld => method.to(approve_held),
        Handler::CancelHeld => method.to(cancel_held),
        Handler::RetryTask => method.to(retry_task),
        Handler::CancelTask => method.to(cancel_task),
        Handler::ApproveTask => method.to(approve_task),
        Handler::PlanGrant => method.to(plan_grant),
        Handler::ListScimTokens => method.to(list_scim_tokens),
        Handler::CreateScimToken => method.to(create_scim_token),
        Handler::RevokeScimToken => method.to(revoke_scim_token),
        Handler::MatchMember => method.to(match_member),
        Handler::ExemptMember => method.to(exempt_member),
        Handler::EndExemption => method.to(end_exemption),
        Handler::RemoveMember => method.to(remove_member),
        Handler::ClaimOwner => method.to(claim_owner),
        Handler::ListGuests => method.to(list_guests),
        Handler::CreateGuest => method.to(create_guest),
        Handler::DeleteGuest => method.to(delete_guest),
    }
}

/// Registers `/admin/v1/...` (authenticated).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/admin/v1")
        .wrap(middleware::from_fn(auth::require_admin))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            Problem::bad_request(format!("the query string is not valid: {e}")).into()
        }));
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

/// The hub roles the caller holds through members (see `hubs::member_roles`): their
/// token's `email`, or its `sub` without one, names their directory user.
async fn member_roles(
    state: &AdminState,
    admin: &Admin,
) -> Result<std::collections::HashMap<i64, String>, Problem> {
    let address = crate::store::sql::fold(admin.email.as_deref().unwrap_or(admin.subject.as_str()));
    Ok(state
        .store
        .read(move |c| hubs::member_roles(c, &address))
        .await?)
}

/// The hub, if the caller may act on it so: workspace owners and super admins, the admin
/// who connected it, and its owners through members may read and change it; its
/// collaborators through members may read it (a `GET`).
async fn visible_hub(
    state: &AdminState,
    admin: &Admin,
    req: &HttpRequest,
    hub_id: &str,
) -> Result<HubRow, Problem> {
    let id = hub_id.to_string();
    let hub = state
        .store
        .read(move |c| hubs::find(c, &id))
        .await?
        .ok_or_else(|| Problem::not_found("no hub with that id"))?;
    if admin.role.sees_every_hub() || hub.owner == admin.subject {
        return Ok(hub);
    }
    match member_roles(state, admin)
        .await?
        .get(&hub.seq)
        .map(String::as_str)
    {
        Some("owner") => Ok(hub),
        Some("collaborator") if req.method() == actix_web::http::Method::GET => Ok(hub),
        Some("collaborator") => Err(Problem::forbidden(
            "collaborators of this hub may read it, not change it",
        )),
        _ => Err(Problem::forbidden("you are not an owner of this hub")),
    }
}

/// What `hubs::list` may show the caller: everything (workspace owners), or the hubs they
/// connected and those they are an owner or collaborator of.
async fn hub_scope(
    state: &AdminState,
    admin: &Admin,
) -> Result<Option<(String, Vec<i64>)>, Problem> {
    if admin.role.sees_every_hub() {
        return Ok(None);
    }
    let seqs = member_roles(state, admin).await?.into_keys().collect();
    Ok(Some((admin.subject.clone(), seqs)))
}

async fn hub_view(state: &AdminState, hub: &HubRow) -> Result<Value, Problem> {
    let seq = hub.seq;
    let (counts, last) = state
        .store
        .read(move |c| Ok((hubs::counts(c, seq)?, tasks::last_sync(c, seq)?)))
        .await?;
    Ok(views::hub(hub, &counts, last.as_ref()))
}

/// The most an admin request body may hold: actix's default for a body, kept so that a
/// grant listing a large business's assets (about 100 bytes each) still fits.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// An admin request's body, read up to [`MAX_BODY_BYTES`]; beyond that a 413 problem
/// (actix's own extractor answers plain text).
pub struct Body(web::Bytes);

impl actix_web::FromRequest for Body {
    type Error = Problem;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Body, Problem>>>>;

    fn from_request(_: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::StreamExt;
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    Problem::bad_request(format!("the body could not be read: {e}"))
                })?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(Problem::payload_too_large(MAX_BODY_BYTES));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Body(body.freeze()))
        })
    }
}

async fn json_body(body: Body) -> Result<Value, Problem> {
    serde_json::from_slice(&body.0)
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
    let scope = hub_scope(&state, &admin).await?;
    let rows = state
        .store
        .read(move |c| {
            let visible = scope
                .as_ref()
                .map(|(o, seqs)| (o.as_str(), seqs.as_slice()));
            let rows = hubs::list(c, visible, after, limit)?;
            rows.into_iter()
                .map(|h| {
                    let counts = hubs::counts(c, h.seq)?;
                    let last = tasks::last_sync(c, h.seq)?;
                    Ok((h, counts, last))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(list_response(
        rows,
        limit,
        |(h, _, _)| h.seq,
        |(h, c, l)| views::hub(h, c, l.as_ref()),
    ))
}

async fn get_hub(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    Ok(HttpResponse::Ok().json(hub_view(&state, &hub).await?))
}

async fn create_hub(
    req: HttpRequest,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let input = views::connect_hub(&json_body(body).await?)?;
    let hub = state.hubs.connect(&actor(&admin), input).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/hubs/{}", hub.id)))
        .json(hub_view(&state, &hub).await?))
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
    let hub = visible_hub(&state, &admin, &req, &path).await?;
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
    let hub = visible_hub(&state, &admin, &req, &hub_id).await?;
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
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let known = known_assets(&state, &hub).await?;
    let input = views::new_grant(&json_body(body).await?, &known)?;
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

async fn plan_grant(
    req: HttpRequest,
    path: web::Path<String>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let known = known_assets(&state, &hub).await?;
    let request = views::grant_plan_request(&json_body(body).await?, &known)?;
    let plan = state.hubs.plan(&hub.id, request).await?;
    Ok(HttpResponse::Ok().json(views::grant_plan(&hub.id, &plan)))
}

// ------------------------------------------------------------------------------- guests

async fn list_guests(
    req: HttpRequest,
    q: web::Query<PageQuery>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    admin_of(&req)?;
    let (limit, after) = page(&q)?;
    let rows = state.guests.list(after, limit).await?;
    Ok(list_response(rows, limit, |g| g.seq, views::guest))
}

/// Guests are the workspace's, and a guest changes how every hub lists its members: they
/// are registered and removed by workspace owners and super admins and by the owners of a
/// hub (the admin who connected it, or an owner through its members); anyone may read them.
async fn guest_manager(state: &AdminState, req: &HttpRequest) -> Result<Admin, Problem> {
    let admin = admin_of(req)?;
    if admin.role.sees_every_hub()
        || member_roles(state, &admin)
            .await?
            .values()
            .any(|r| r == "owner")
    {
        return Ok(admin);
    }
    let subject = admin.subject.clone();
    if state
        .store
        .read(move |c| hubs::connected_by(c, &subject))
        .await?
    {
        return Ok(admin);
    }
    Err(Problem::forbidden(
        "only workspace owners, super admins and hub owners manage guests",
    ))
}

async fn create_guest(
    req: HttpRequest,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = guest_manager(&state, &req).await?;
    let (name, email, partner) = views::new_guest(&json_body(body).await?)?;
    let g = state
        .guests
        .register(&actor(&admin), &name, &email, partner.as_deref())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/guests/{}", g.id)))
        .json(views::guest(&g)))
}

async fn delete_guest(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = guest_manager(&state, &req).await?;
    state.guests.remove(&actor(&admin), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

// -------------------------------------------------------------------------- SCIM tokens

/// SCIM tokens are the workspace's: only its owners and super admins manage them.
fn workspace_owner(req: &HttpRequest) -> Result<auth::Admin, Problem> {
    let admin = admin_of(req)?;
    if admin.role.sees_every_hub() {
        Ok(admin)
    } else {
        Err(Problem::forbidden(
            "only workspace owners and super admins manage SCIM tokens",
        ))
    }
}

async fn list_scim_tokens(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    workspace_owner(&req)?;
    let list = state.scim_tokens.tokens().list().await?;
    let data: Vec<Value> = list.iter().map(views::scim_token).collect();
    Ok(HttpResponse::Ok().json(json!({"data": data, "next_cursor": null})))
}

async fn create_scim_token(
    req: HttpRequest,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = workspace_owner(&req)?;
    let name = views::scim_token_name(&json_body(body).await?)?;
    let (info, secret) = state
        .scim_tokens
        .tokens()
        .issue(&actor(&admin), &name)
        .await?;
    let mut view = views::scim_token(&info);
    view["token"] = json!(secret.expose());
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/admin/v1/scim-tokens/{}", info.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

async fn revoke_scim_token(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = workspace_owner(&req)?;
    state
        .scim_tokens
        .tokens()
        .revoke(&actor(&admin), &path)
        .await?;
    state.scim_tokens.forget(&path);
    Ok(HttpResponse::NoContent().finish())
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
    let scope = hub_scope(state, admin).await?;
    let rows = state
        .store
        .read(move |c| {
            let visible = scope
                .as_ref()
                .map(|(o, seqs)| (o.as_str(), seqs.as_slice()));
            hubs::list(c, visible, 0, i64::MAX)
        })
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
    let known = |field: &str, v: &Option<String>, all: &[&str]| match v {
        Some(v) if !all.contains(&v.as_str()) => Err(Problem::invalid_field(
            field,
            format!("must be one of {}", all.join(", ")),
        )),
        _ => Ok(()),
    };
    known("kind", &q.kind, tasks::KINDS)?;
    known("status", &q.status, tasks::status::ALL)?;
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

// ------------------------------------------------------------------------------- hub actions

fn accepted(task: &tasks::TaskRow, hub_id: &str) -> HttpResponse {
    HttpResponse::Accepted().json(views::task(task, hub_id, None))
}

async fn sync_hub(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let task = state.hubs.sync_now(&actor(&admin), &hub.id).await?;
    Ok(accepted(&task, &hub.id))
}

async fn list_assets(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let seq = hub.seq;
    let assets = state.store.read(move |c| hubs::assets_of(c, seq)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "data": assets.iter().map(views::asset).collect::<Vec<_>>(),
        "next_cursor": null,
    })))
}

#[derive(Debug, Deserialize)]
struct MemberQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    state: Option<String>,
    q: Option<String>,
    partner_business_id: Option<String>,
    /// `csv`: the whole list as CSV (also with `Accept: text/csv`).
    format: Option<String>,
}

/// The directory user a member is matched to, and the grants of the hub that reach it.
pub struct MatchedUser {
    pub id: String,
    pub user_name: String,
    pub display: String,
    /// (grant id, the group it reaches the user through: id and displayName; none when
    /// the grant names the user).
    pub granted_by: Vec<(String, Option<(String, String)>)>,
}

type MatchedUsers = std::collections::HashMap<String, MatchedUser>;

/// The directory users matched to these members of hub `hub_seq`, with how the hub's
/// grants reach each of them.
fn matched_users(
    c: &mut crate::store::AnyConnection,
    hub_seq: i64,
    members: &[crate::store::members::MemberRow],
) -> Result<MatchedUsers, crate::store::StoreError> {
    use crate::store::schema::{group_members, groups, users};
    use diesel::prelude::*;
    let ids: Vec<String> = members.iter().filter_map(|m| m.user_id.clone()).collect();
    if ids.is_empty() {
        return Ok(MatchedUsers::new());
    }
    let rows: Vec<(String, String, Option<String>)> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::user_name, users::display_name))
        .load(c)?;
    let grants = hubs::grants_of(c, hub_seq)?;
    let in_groups: Vec<(String, String, String)> = group_members::table
        .inner_join(users::table.on(users::seq.eq(group_members::user_seq)))
        .inner_join(groups::table.on(groups::seq.eq(group_members::group_seq)))
        .filter(users::id.eq_any(&ids))
        .select((users::id, groups::id, groups::display_name))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(id, user_name, display)| {
            let display = display.unwrap_or_else(|| user_name.clone());
            let granted_by = grants
                .iter()
                .filter_map(|(g, group, user)| match (group, user) {
                    (_, Some(u)) if *u == id => Some((g.id.clone(), None)),
                    (Some(gid), _) => in_groups
                        .iter()
                        .find(|(u, member_of, _)| *u == id && member_of == gid)
                        .map(|(_, gid, name)| (g.id.clone(), Some((gid.clone(), name.clone())))),
                    _ => None,
                })
                .collect();
            let user = MatchedUser {
                id: id.clone(),
                user_name,
                display,
                granted_by,
            };
            (id, user)
        })
        .collect())
}

async fn list_members(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<MemberQuery>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let q = q.into_inner();
    let (limit, after) = page(&PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    })?;
    if let Some(s) = &q.state {
        if !["unmatched", "onboarded", "guest", "exempted"].contains(&s.as_str()) {
            return Err(Problem::invalid_field(
                "state",
                "must be unmatched, onboarded, guest or exempted",
            ));
        }
    }
    let filter = crate::store::members::MemberFilter {
        state: q.state,
        q: q.q.filter(|t| !t.trim().is_empty()),
        partner_business_id: q.partner_business_id,
    };
    let seq = hub.seq;
    let accepts_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/csv"));
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None => accepts_csv,
        Some(_) => return Err(Problem::invalid_field("format", "must be csv or json")),
    };
    if csv {
        return members_csv(&state, &hub, filter).await;
    }
    let (rows, users) = state
        .store
        .read(move |c| {
            let rows = crate::store::members::list(c, seq, &filter, after, limit)?;
            let users = matched_users(c, seq, &rows)?;
            Ok((rows, users))
        })
        .await?;
    Ok(list_response(
        rows,
        limit,
        |m| m.seq,
        |m| views::member(&hub.id, m, m.user_id.as_ref().and_then(|u| users.get(u))),
    ))
}

/// Every member the filter selects, as CSV (read in pages of 500; a member's line holds
/// what its JSON holds, flattened).
async fn members_csv(
    state: &AdminState,
    hub: &HubRow,
    filter: crate::store::members::MemberFilter,
) -> Result<HttpResponse, Problem> {
    let seq = hub.seq;
    let mut out = views::MEMBERS_CSV_HEADER.to_string();
    let mut after = 0;
    loop {
        let f = filter.clone();
        let (rows, users) = state
            .store
            .read(move |c| {
                let rows = crate::store::members::list(c, seq, &f, after, 500)?;
                let users = matched_users(c, seq, &rows)?;
                Ok((rows, users))
            })
            .await?;
        for m in &rows {
            let user = m.user_id.as_ref().and_then(|u| users.get(u));
            out.push_str(&views::member_csv_line(m, user));
        }
        match rows.last() {
            Some(last) if rows.len() == 500 => after = last.seq,
            _ => break,
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"members-{}.csv\"", hub.id),
        ))
        .body(out))
}

async fn get_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let (_, hub, member_id) = member_route(&req, path, &state).await?;
    let seq = hub.seq;
    let (member, users) = state
        .store
        .read(move |c| {
            let m = crate::store::members::find(c, seq, &member_id)?;
            let users = matched_users(c, seq, m.as_slice())?;
            Ok((m, users))
        })
        .await?;
    let member = member.ok_or_else(|| Problem::not_found("no member with that id on this hub"))?;
    let user = member.user_id.as_ref().and_then(|u| users.get(u));
    Ok(HttpResponse::Ok().json(views::member(&hub.id, &member, user)))
}

/// The caller, the hub (if the request may act on it) and the member id of a
/// `/hubs/{hub_id}/members/{member_id}…` route.
async fn member_route(
    req: &HttpRequest,
    path: web::Path<(String, String)>,
    state: &AdminState,
) -> Result<(Admin, HubRow, String), Problem> {
    let admin = admin_of(req)?;
    let (hub_id, member_id) = path.into_inner();
    let hub = visible_hub(state, &admin, req, &hub_id).await?;
    Ok((admin, hub, member_id))
}

/// A member as the admin API shows it, with its matched user.
async fn member_view(
    state: &AdminState,
    hub: &HubRow,
    member: crate::store::members::MemberRow,
) -> Result<Value, Problem> {
    let one = vec![member];
    let seq = hub.seq;
    let (one, users) = state
        .store
        .read(move |c| Ok((one.clone(), matched_users(c, seq, &one)?)))
        .await?;
    let user = one[0].user_id.as_ref().and_then(|u| users.get(u));
    Ok(views::member(&hub.id, &one[0], user))
}

async fn match_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let (admin, hub, member_id) = member_route(&req, path, &state).await?;
    let (user_id, hub_role) = views::member_match(&json_body(body).await?)?;
    let m = state
        .members
        .match_user(&actor(&admin), &hub.id, &member_id, &user_id, hub_role)
        .await?;
    Ok(HttpResponse::Ok().json(member_view(&state, &hub, m).await?))
}

async fn exempt_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let (admin, hub, member_id) = member_route(&req, path, &state).await?;
    let reason = views::exemption_reason(&json_body(body).await?)?;
    let m = state
        .members
        .exempt(&actor(&admin), &hub.id, &member_id, &reason)
        .await?;
    Ok(HttpResponse::Ok().json(member_view(&state, &hub, m).await?))
}

async fn end_exemption(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let (admin, hub, member_id) = member_route(&req, path, &state).await?;
    let m = state
        .members
        .end_exemption(&actor(&admin), &hub.id, &member_id)
        .await?;
    Ok(HttpResponse::Ok().json(member_view(&state, &hub, m).await?))
}

async fn remove_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let (admin, hub, member_id) = member_route(&req, path, &state).await?;
    let task = state
        .members
        .remove(&actor(&admin), &hub.id, &member_id)
        .await?;
    Ok(HttpResponse::Accepted().json(views::task(&task, &hub.id, None)))
}

/// The caller claims a member as themself, `owner`: for an admin whose Meta email differs
/// from their directory one. The caller's directory user is the one whose userName or an
/// email is the token's `email` (or, without one, its `sub`).
async fn claim_owner(
    req: HttpRequest,
    path: web::Path<String>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let member_id = views::claimed_member(&json_body(body).await?)?;
    let address = admin.email.clone().unwrap_or_else(|| admin.subject.clone());
    let folded = crate::store::sql::fold(&address);
    let user = state
        .store
        .read(move |c| crate::store::members::match_user(c, &folded))
        .await?
        .ok_or_else(|| {
            Problem::invalid_field(
                "member_id",
                format!("no directory user has your address ({address}) to match it to"),
            )
        })?;
    let m = state
        .members
        .match_user(
            &actor(&admin),
            &hub.id,
            &member_id,
            &user,
            crate::access::HubRole::Owner,
        )
        .await?;
    Ok(HttpResponse::Ok().json(member_view(&state, &hub, m).await?))
}

async fn decide_all_held(
    req: HttpRequest,
    hub_id: &str,
    state: &AdminState,
    approve: bool,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(state, &admin, &req, hub_id).await?;
    let n = state
        .hubs
        .decide_held(&actor(&admin), &hub.id, None, approve)
        .await?;
    let key = if approve { "approved" } else { "cancelled" };
    Ok(HttpResponse::Ok().json(json!({ key: n })))
}

async fn approve_held(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    decide_all_held(req, &path, &state, true).await
}

async fn cancel_held(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    decide_all_held(req, &path, &state, false).await
}

/// The task and its hub's id, if the caller may see its hub (else not found) and act on it
/// as the request asks (a collaborator only reads).
async fn visible_task(
    state: &AdminState,
    admin: &Admin,
    req: &HttpRequest,
    task_id: &str,
) -> Result<(tasks::TaskRow, String), Problem> {
    let task = reload(state, task_id).await?;
    let hubs = visible_hubs(state, admin).await?;
    let hub_id = hubs
        .get(&task.hub_seq)
        .cloned()
        .ok_or_else(|| Problem::not_found("no task with that id"))?;
    visible_hub(state, admin, req, &hub_id).await?;
    Ok((task, hub_id))
}

fn conflict(detail: impl Into<String>) -> Problem {
    Problem::new(
        actix_web::http::StatusCode::CONFLICT,
        "conflict",
        "Conflict",
        detail,
    )
}

async fn reload(state: &AdminState, id: &str) -> Result<tasks::TaskRow, Problem> {
    let id = id.to_string();
    state
        .store
        .read(move |c| tasks::find(c, &id))
        .await?
        .ok_or_else(|| Problem::not_found("no task with that id"))
}

async fn retry_task(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (task, hub_id) = visible_task(&state, &admin, &req, &path).await?;
    let (t, by) = (task.clone(), actor(&admin).to_string());
    let done = state
        .store
        .write(move |c| tasks::retry(c, &t, &by, crate::store::now_micros()))
        .await?;
    if !done {
        return Err(conflict(format!(
            "only a failed or cancelled task runs again, and only when no equal task waits \
             (this one is {})",
            task.status
        )));
    }
    Ok(accepted(&reload(&state, &task.id).await?, &hub_id))
}

async fn cancel_task(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (task, hub_id) = visible_task(&state, &admin, &req, &path).await?;
    let (seq, by) = (task.seq, actor(&admin).to_string());
    let done = state
        .store
        .write(move |c| tasks::cancel(c, seq, &by, crate::store::now_micros()))
        .await?;
    if !done {
        return Err(conflict(format!(
            "only a pending, deferred or held task can be cancelled (this one is {})",
            task.status
        )));
    }
    let now = reload(&state, &task.id).await?;
    Ok(HttpResponse::Ok().json(views::task(&now, &hub_id, None)))
}

async fn approve_task(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (task, hub_id) = visible_task(&state, &admin, &req, &path).await?;
    let n = state
        .hubs
        .decide_held(&actor(&admin), &hub_id, Some(&task.id), true)
        .await?;
    if n == 0 {
        return Err(conflict(format!(
            "only a held task can be approved (this one is {})",
            task.status
        )));
    }
    Ok(accepted(&reload(&state, &task.id).await?, &hub_id))
}

async fn update_hub(
    req: HttpRequest,
    path: web::Path<String>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    let change = views::hub_change(&json_body(body).await?)?;
    let hub = state.hubs.update(&actor(&admin), &hub.id, change).await?;
    Ok(HttpResponse::Ok().json(hub_view(&state, &hub).await?))
}

async fn disconnect_hub(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let hub = visible_hub(&state, &admin, &req, &path).await?;
    state.hubs.disconnect(&actor(&admin), &hub.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn known_assets(
    state: &AdminState,
    hub: &HubRow,
) -> Result<std::collections::HashMap<String, crate::access::AssetKind>, Problem> {
    let seq = hub.seq;
    Ok(state
        .store
        .read(move |c| hubs::assets_of(c, seq))
        .await?
        .into_iter()
        .filter_map(|a| Some((a.asset_id, crate::access::AssetKind::parse(&a.kind)?)))
        .collect())
}

async fn update_grant(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Body,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (hub_id, grant_id) = path.into_inner();
    let hub = visible_hub(&state, &admin, &req, &hub_id).await?;
    let known = known_assets(&state, &hub).await?;
    let change = views::grant_change(&json_body(body).await?, &known)?;
    let row = state
        .hubs
        .update_grant(&actor(&admin), &hub.id, &grant_id, change)
        .await?;
    let (seq, id) = (hub.seq, row.id.clone());
    let grant = state
        .store
        .read(move |c| hubs::find_grant(c, seq, &id))
        .await?
        .ok_or_else(|| Problem::not_found("the grant vanished"))?;
    Ok(HttpResponse::Ok().json(views::grant(&hub.id, &grant)))
}

async fn delete_grant(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, Problem> {
    let admin = admin_of(&req)?;
    let (hub_id, grant_id) = path.into_inner();
    let hub = visible_hub(&state, &admin, &req, &hub_id).await?;
    state
        .hubs
        .delete_grant(&actor(&admin), &hub.id, &grant_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
