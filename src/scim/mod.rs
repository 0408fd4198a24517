//! The SCIM 2.0 service provider (RFC 7643 / 7644) mounted at `/scim/v2`.
//!
//! Handlers parse and authorise, call [`crate::service::directory::Directory`], and render; every
//! error is a [`error::ScimError`] rendered as an RFC 7644 §3.12 body.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod groups;
pub mod http;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod search;
pub mod users;

use actix_web::{middleware, web, HttpRequest, HttpResponse};

use crate::config::ScimSettings;
use crate::service::directory::Directory;
use error::ScimError;

/// What the SCIM handlers share.
pub struct ScimState {
    pub directory: Directory,
    pub settings: ScimSettings,
    pub public_url: Option<String>,
    /// `server.trust_forwarded_headers`: a proxy in front sets `X-Forwarded-*`/`Host`.
    pub trust_forwarded_headers: bool,
    pub max_body_bytes: usize,
    /// SCIM requests in flight, which the engine gives way to.
    pub load: crate::tasks::ScimLoad,
}

/// Counts the request in [`ScimState::load`] while it is served.
async fn count_in_flight(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let _serving = req
        .app_data::<web::Data<ScimState>>()
        .map(|s| s.load.enter());
    next.call(req).await
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::method_not_allowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::not_found(format!(
        "no SCIM endpoint at {}",
        req.path()
    )))
}

async fn wrong_version(path: web::Path<(String, String)>) -> Result<HttpResponse, ScimError> {
    Err(ScimError::invalid_vers(format!(
        "SCIM protocol version {:?} is not supported; use /scim/v2",
        path.0
    )))
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Registers `/scim/v2/...` (authenticated) and the version guard.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .wrap(middleware::from_fn(auth::require_token))
            .wrap(middleware::from_fn(count_in_flight))
            // `/Users/` is `/Users` (clients built from Microsoft's reference collection
            // send the slash); a trailing slash is dropped before routing.
            .wrap(middleware::NormalizePath::new(
                middleware::TrailingSlash::Trim,
            ))
            .service(
                resource("/Users")
                    .route(web::get().to(users::list_users))
                    .route(web::post().to(users::create_user)),
            )
            .service(resource("/Users/.search").route(web::post().to(users::search_users)))
            .service(resource("/Groups/.search").route(web::post().to(groups::search_groups)))
            .service(resource("/.search").route(web::post().to(search::search_all)))
            .service(
                resource("/Users/{id}")
                    .route(web::get().to(users::get_user))
                    .route(web::put().to(users::replace_user))
                    .route(web::patch().to(users::patch_user))
                    .route(web::delete().to(users::delete_user)),
            )
            .service(
                resource("/Groups")
                    .route(web::get().to(groups::list_groups))
                    .route(web::post().to(groups::create_group)),
            )
            .service(
                resource("/Groups/{id}")
                    .route(web::get().to(groups::get_group))
                    .route(web::put().to(groups::replace_group))
                    .route(web::patch().to(groups::patch_group))
                    .route(web::delete().to(groups::delete_group)),
            )
            .service(
                resource("/ServiceProviderConfig")
                    .route(web::get().to(discovery::service_provider_config)),
            )
            .service(
                resource("/ResourceTypes").route(web::get().to(discovery::list_resource_types)),
            )
            .service(
                resource("/ResourceTypes/{id}").route(web::get().to(discovery::get_resource_type)),
            )
            .service(resource("/Schemas").route(web::get().to(discovery::list_schemas)))
            .service(resource("/Schemas/{id}").route(web::get().to(discovery::get_schema)))
            .default_service(web::to(not_found)),
    )
    .service(
        web::resource("/scim/{version}/{rest:.*}")
            .wrap(middleware::from_fn(auth::require_token))
            .to(wrong_version),
    );
}
