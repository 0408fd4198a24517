//! Building and running the HTTP server. `serve`, `demo` and the tests all go through
//! [`Application::build`], so what the tests exercise is what runs in production.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::meta::{GraphClient, GraphConfig};
use crate::scim::{self, auth::TokenCache, ScimState};
use crate::service::directory::Directory;
use crate::service::hubs::Hubs;
use crate::service::tokens::Tokens;
use crate::store::Store;
use crate::tasks::{Engine, Tuning};

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    engine: Engine,
    hubs: Hubs,
}

impl Application {
    /// Opens (and migrates) the database and binds the listener. Port 0 picks a free port.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.database)?;
        let ran = store.migrate().await?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database migrated");
        }
        Self::build_with_store(settings, store)
    }

    pub fn build_with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr} (server.host / server.port): {e}")
        })?;
        let port = listener.local_addr()?.port();
        let secrets = settings
            .crypto
            .load_key()?
            .map(|k| std::sync::Arc::new(SecretBox::new(&k)));
        if secrets.is_none() {
            tracing::warn!(
                "crypto.key is not set: SCIM works, but no hub can be connected and no task \
                 that needs a hub's token can run"
            );
        }
        let graph = GraphClient::new(GraphConfig::from_settings(&settings.meta))?;
        let load = crate::tasks::ScimLoad::default();
        let engine = Engine::new(
            store.clone(),
            graph.clone(),
            secrets.clone(),
            settings.engine.clone(),
            Tuning {
                poll: Duration::from_millis(settings.engine.poll_ms),
                retry_base: Duration::from_millis(settings.engine.retry_base_ms),
                retry_cap: Duration::from_secs(settings.engine.retry_cap_secs),
            },
            load.clone(),
        );
        let hubs = Hubs::new(store.clone(), graph, secrets, settings.engine.max_attempts);
        let server = run(listener, settings, store.clone(), hubs.clone(), load)?;
        Ok(Application {
            port,
            server,
            store,
            engine,
            hubs,
        })
    }

    /// The engine (its workers start with [`Application::run_until_stopped`]).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn hubs(&self) -> &Hubs {
        &self.hubs
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops the server from elsewhere (tests; `serve` stops on SIGTERM/SIGINT).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves and runs `engine.workers` workers until SIGTERM/SIGINT; then stops accepting,
    /// lets in-flight requests finish, and has the workers give back what they run.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let workers = self.engine.start();
        let served = self.server.await;
        self.engine.stop();
        for w in workers {
            let _ = w.await;
        }
        served
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            HttpResponse::ServiceUnavailable().json(json!({"status": "database unreachable"}))
        }
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"status": 404, "detail": "not found"}))
}

fn run(
    listener: TcpListener,
    settings: Settings,
    store: Store,
    hubs: Hubs,
    load: crate::tasks::ScimLoad,
) -> anyhow::Result<Server> {
    let public_url = Some(settings.server.public_url.clone()).filter(|u| !u.is_empty());
    let scim_state = web::Data::new(ScimState {
        directory: Directory::new(store.clone(), settings.engine.max_attempts),
        settings: settings.scim.clone(),
        public_url,
        trust_forwarded_headers: settings.server.trust_forwarded_headers,
        max_body_bytes: settings.server.max_body_bytes,
        load,
    });
    let tokens = web::Data::new(TokenCache::new(
        Tokens::new(store.clone()),
        Duration::from_secs(settings.scim.token_cache_ttl_secs),
    ));
    let admin_state = web::Data::new(crate::admin::AdminState {
        store: store.clone(),
        hubs,
        scim_tokens: tokens.get_ref().clone(),
        guests: crate::service::guests::Guests::new(store.clone()),
        members: crate::service::members::Members::new(store.clone(), settings.engine.max_attempts),
    });
    let verifier = web::Data::new(crate::admin::auth::JwtVerifier::new(&settings.admin)?);
    let store_data = web::Data::new(store);
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(crate::telemetry::request_span))
            .app_data(scim_state.clone())
            .app_data(tokens.clone())
            .app_data(store_data.clone())
            .app_data(admin_state.clone())
            .app_data(verifier.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .configure(scim::configure)
            .configure(crate::admin::configure)
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs);
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Database calls run on each worker's blocking pool. With no more blocking threads than
    // pooled connections, a call that must wait queues in the pool's FIFO instead of every
    // thread racing for a connection (which serves them in no order and sets the p99).
    let blocking_threads = (settings.database.max_connections as usize / workers).max(1);
    let server = server
        .workers(workers)
        .worker_max_blocking_threads(blocking_threads);
    let server = server.listen(listener)?.run();
    tracing::info!(address = %addr, port = addr.port(), "hubbridge listening");
    Ok(server)
}
