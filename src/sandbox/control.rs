//! The sandbox-only control endpoint under `/_sandbox/` (not part of Meta's API, outside the
//! `/vNN.N/` namespace): introspection (business state, the call log, counters), fault
//! injection, token revocation, invitation outcomes and rate-limit settings. Every route but
//! `GET /_sandbox/health` needs `Authorization: Bearer <control token>`.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::world::BudgetOverride;
use super::{ErrorRateFault, FaultConfig, SandboxState, TargetedFault};

type Data = web::Data<SandboxState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sandbox/health", web::get().to(health))
        .service(
            web::scope("/_sandbox")
                .wrap(from_fn(require_control_token))
                .route("/businesses/{id}", web::get().to(get_business))
                .route(
                    "/businesses/{id}/restriction",
                    web::put().to(put_restriction),
                )
                .route(
                    "/businesses/{id}/invitation_limit",
                    web::put().to(put_invitation_limit),
                )
                .route(
                    "/businesses/{id}/rate_limit",
                    web::put().to(put_business_rate_limit),
                )
                .route(
                    "/businesses/{id}/rate_limit",
                    web::delete().to(delete_business_rate_limit),
                )
                .route(
                    "/objects/{id}/rate_limit",
                    web::put().to(put_object_rate_limit),
                )
                .route(
                    "/objects/{id}/rate_limit",
                    web::delete().to(delete_object_rate_limit),
                )
                .route("/calls", web::get().to(get_calls))
                .route("/calls", web::delete().to(delete_calls))
                .route("/stats", web::get().to(get_stats))
                .route("/faults", web::get().to(get_faults))
                .route("/faults", web::put().to(put_faults))
                .route("/faults", web::delete().to(delete_faults))
                .route("/faults/error_rates", web::post().to(post_error_rate))
                .route("/faults/targeted", web::post().to(post_targeted))
                .route("/faults/latency", web::put().to(put_latency))
                .route("/tokens/{label}/revoke", web::post().to(post_revoke))
                .route(
                    "/invitations/{id}/{action}",
                    web::post().to(post_invitation_action),
                )
                .route("/rate_limit", web::put().to(put_rate_limit))
                .route("/rate_limit/usage", web::delete().to(delete_usage))
                .route(
                    "/pages/{id}/unified_tasks",
                    web::put().to(put_unified_tasks),
                ),
        );
}

async fn require_control_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let ok = req.app_data::<Data>().is_some_and(|state| {
        let expected = state.control_token.expose().as_bytes();
        aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), expected).is_ok()
    });
    if !ok {
        let resp = HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"sandbox-control\""))
            .json(json!({ "error": "a valid control token is required" }));
        return Ok(req.into_response(resp));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn not_found(what: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": format!("{what} not found") }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn get_business(state: Data, id: web::Path<String>) -> HttpResponse {
    match state.world().business_state(&id) {
        Some(v) => HttpResponse::Ok().json(v),
        None => not_found("business"),
    }
}

#[derive(Deserialize)]
struct CallFilter {
    method: Option<String>,
    path: Option<String>,
    business: Option<String>,
    /// Only successful calls (HTTP 200).
    #[serde(default)]
    ok: Option<bool>,
}

async fn get_calls(state: Data, q: web::Query<CallFilter>) -> HttpResponse {
    let world = state.world();
    let calls: Vec<_> = world
        .log
        .iter()
        .filter(|c| {
            q.method.as_deref().is_none_or(|m| {
                serde_json::to_value(c.method)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case(m)))
                    .unwrap_or(false)
            })
        })
        .filter(|c| q.path.as_deref().is_none_or(|p| c.path == p))
        .filter(|c| {
            q.business
                .as_deref()
                .is_none_or(|b| c.business_id.as_deref() == Some(b))
        })
        .filter(|c| q.ok.is_none_or(|ok| (c.status == 200) == ok))
        .collect();
    HttpResponse::Ok().json(json!({ "count": calls.len(), "calls": calls }))
}

async fn delete_calls(state: Data) -> HttpResponse {
    state.world().log.clear();
    HttpResponse::NoContent().finish()
}

async fn get_stats(state: Data) -> HttpResponse {
    HttpResponse::Ok().json(&state.world().stats)
}

async fn get_faults(state: Data) -> HttpResponse {
    HttpResponse::Ok().json(&state.world().faults)
}

async fn put_faults(state: Data, body: web::Json<FaultConfig>) -> HttpResponse {
    state.world().faults = body.into_inner();
    HttpResponse::NoContent().finish()
}

async fn delete_faults(state: Data) -> HttpResponse {
    state.world().faults = FaultConfig::default();
    HttpResponse::NoContent().finish()
}

async fn post_error_rate(state: Data, body: web::Json<ErrorRateFault>) -> HttpResponse {
    let f = body.into_inner();
    if !(0.0..=1.0).contains(&f.rate) {
        return HttpResponse::BadRequest()
            .json(json!({ "error": "rate must be within 0.0..=1.0" }));
    }
    let mut world = state.world();
    world
        .faults
        .error_rates
        .retain(|e| e.endpoint != f.endpoint);
    if f.rate > 0.0 {
        world.faults.error_rates.push(f);
    }
    HttpResponse::NoContent().finish()
}

async fn post_targeted(state: Data, body: web::Json<TargetedFault>) -> HttpResponse {
    state.world().faults.targeted.push(body.into_inner());
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Latency {
    latency_ms: u64,
    #[serde(default)]
    endpoint: Option<String>,
}

async fn put_latency(state: Data, body: web::Json<Latency>) -> HttpResponse {
    let mut world = state.world();
    match &body.endpoint {
        Some(e) => {
            world
                .faults
                .endpoint_latency_ms
                .insert(e.clone(), body.latency_ms);
        }
        None => world.faults.latency_ms = body.latency_ms,
    }
    HttpResponse::NoContent().finish()
}

async fn post_revoke(state: Data, label: web::Path<String>) -> HttpResponse {
    match state.world().revoke_token(&label) {
        0 => not_found("token"),
        n => HttpResponse::Ok().json(json!({ "revoked": n })),
    }
}

#[derive(Deserialize)]
struct Restriction {
    restricted: bool,
}

async fn put_restriction(
    state: Data,
    id: web::Path<String>,
    body: web::Json<Restriction>,
) -> HttpResponse {
    if state.world().set_restricted(&id, body.restricted) {
        HttpResponse::NoContent().finish()
    } else {
        not_found("business")
    }
}

#[derive(Deserialize)]
struct InvitationLimit {
    limit: Option<u32>,
}

async fn put_invitation_limit(
    state: Data,
    id: web::Path<String>,
    body: web::Json<InvitationLimit>,
) -> HttpResponse {
    if state.world().set_invitation_limit(&id, body.limit) {
        HttpResponse::NoContent().finish()
    } else {
        not_found("business")
    }
}

async fn put_business_rate_limit(
    state: Data,
    id: web::Path<String>,
    body: web::Json<BudgetOverride>,
) -> HttpResponse {
    let mut world = state.world();
    if world.business_state(&id).is_none() {
        return not_found("business");
    }
    world
        .budget_overrides
        .insert(id.into_inner(), body.into_inner());
    HttpResponse::NoContent().finish()
}

async fn delete_business_rate_limit(state: Data, id: web::Path<String>) -> HttpResponse {
    state.world().budget_overrides.remove(id.as_str());
    HttpResponse::NoContent().finish()
}

/// A budget of its own for a business, a Page or an ad account (`act_` optional).
async fn put_object_rate_limit(
    state: Data,
    id: web::Path<String>,
    body: web::Json<BudgetOverride>,
) -> HttpResponse {
    if state
        .world()
        .set_budget_override(&id, Some(body.into_inner()))
    {
        HttpResponse::NoContent().finish()
    } else {
        not_found("business, Page or ad account")
    }
}

async fn delete_object_rate_limit(state: Data, id: web::Path<String>) -> HttpResponse {
    if state.world().set_budget_override(&id, None) {
        HttpResponse::NoContent().finish()
    } else {
        not_found("business, Page or ad account")
    }
}

#[derive(Deserialize)]
struct RateLimitUpdate {
    business_budget: Option<u32>,
    object_budget: Option<u32>,
    app_budget: Option<u32>,
    window_ms: Option<u64>,
    count_throttled_calls: Option<bool>,
    fractional_regain_minutes: Option<bool>,
}

async fn put_rate_limit(state: Data, body: web::Json<RateLimitUpdate>) -> HttpResponse {
    let mut world = state.world();
    let r = &mut world.rate;
    if let Some(v) = body.business_budget {
        r.business_budget = v.max(1);
    }
    if let Some(v) = body.object_budget {
        r.object_budget = v.max(1);
    }
    if let Some(v) = body.app_budget {
        r.app_budget = v.max(1);
    }
    if let Some(v) = body.window_ms {
        r.window = Duration::from_millis(v.max(1));
    }
    if let Some(v) = body.count_throttled_calls {
        r.count_throttled_calls = v;
    }
    if let Some(v) = body.fractional_regain_minutes {
        r.fractional_regain_minutes = v;
    }
    HttpResponse::NoContent().finish()
}

async fn delete_usage(state: Data) -> HttpResponse {
    state.world().reset_usage();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn put_unified_tasks(
    state: Data,
    id: web::Path<String>,
    body: web::Json<Enabled>,
) -> HttpResponse {
    if state.world().set_unified_tasks(&id, body.enabled) {
        HttpResponse::NoContent().finish()
    } else {
        not_found("page")
    }
}

async fn post_invitation_action(state: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, action) = path.into_inner();
    match state.world().settle_invitation(&id, &action) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => HttpResponse::Conflict().json(json!({ "error": e })),
    }
}
