//! `POST /.search` (RFC 7644 §3.4.3): one search over Users and Groups. The result lists
//! the matching Users, then the matching Groups; `startIndex` and `count` page through
//! that sequence. A filter (or `sortBy`) that names attributes only one resource type has
//! searches that type alone; one that fits neither is refused as for that type.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ScimError;
use super::filter::Resource;
use super::http::{self as h, ListParams};
use super::ScimState;
use super::{groups, users};
use crate::service::directory::ListSpec;

pub async fn search_all(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ScimState>,
) -> Result<HttpResponse, ScimError> {
    let raw = h::search_request(&req, payload, state.max_body_bytes).await?;
    let user_params = h::list_params(raw.clone(), &state, Resource::User);
    let group_params = h::list_params(raw, &state, Resource::Group);
    let (user_params, group_params) = match (user_params, group_params) {
        (Err(e), Err(_)) => return Err(e),
        (u, g) => (u.ok(), g.ok()),
    };
    let any: &ListParams = user_params
        .as_ref()
        .or(group_params.as_ref())
        .expect("one of them is Ok");
    let (start_index, offset, limit) = (any.start_index, any.spec.offset, any.spec.limit);
    let base = h::base_url(&req, &state);
    let mut resources = Vec::new();
    let mut total = 0;
    if let Some(p) = user_params {
        let page = state.directory.list_users(p.spec).await?;
        resources.extend(
            page.items
                .iter()
                .map(|r| p.projection.apply(users::render(r, &base))),
        );
        total += page.total;
    }
    if let Some(p) = group_params {
        // Groups come after every matching user: skip what the users used of the offset.
        let spec = ListSpec {
            offset: (offset - total).max(0),
            limit: limit - resources.len() as i64,
            ..p.spec
        };
        let with_members = p.projection.wants("members");
        let page = state.directory.list_groups(spec, with_members).await?;
        resources.extend(
            page.items
                .iter()
                .map(|r| p.projection.apply(groups::render(r, &base))),
        );
        total += page.total;
    }
    Ok(h::list_response(total, start_index, resources))
}
