//! `TestApp`, the one test harness: the real server on a random port against a real
//! database (a fresh SQLite file, or a fresh schema in the PostgreSQL server), the Graph API
//! sandbox it talks to (started with the demo seed unless a test gives another) with its
//! control API, a Graph client pointed at the sandbox, and real HTTP clients.

use std::sync::OnceLock;
use std::time::Duration;

use hubbridge::config::Settings;
use hubbridge::meta::{AccessToken, AppSecret, GraphAuth, GraphClient, GraphConfig};
use hubbridge::sandbox::{self, demo_ids, SandboxConfig, SandboxServer, Seed};
use hubbridge::startup::Application;
use hubbridge::store::{self, DirectoryCounts, Store};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// `admin.jwt_secret` of every test server.
pub const TEST_JWT_SECRET: &str = "test-admin-secret-0123456789abcdef";
/// `crypto.key` of every test server (32 bytes of 0x2a).
pub const TEST_CRYPTO_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use (a fresh schema per test). Without TLS unless the
/// URL asks for it: libpq's OpenSSL state is torn down by an exit handler, and a connection
/// still closing on another thread when the test process exits can crash it (CI saw
/// SIGSEGV after every test had passed).
pub fn postgres_url() -> String {
    let url = std::env::var("HUBBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    if url.contains("sslmode=") {
        return url;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable")
}

fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            hubbridge::telemetry::init(
                hubbridge::config::LogFormat::Text,
                "debug",
                std::io::stdout,
            );
        } else {
            hubbridge::telemetry::init(hubbridge::config::LogFormat::Text, "off", std::io::sink);
        }
    });
}

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub db: Db,
    /// The Graph API sandbox the server's `meta.graph_url` points at.
    pub sandbox: TestSandbox,
    /// A Graph client pointed at the sandbox (fast retries), for contract tests.
    pub graph: GraphClient,
    /// The server's engine; its workers are off (`engine.workers = 0`): tests run the queue
    /// with [`TestApp::run_pending_tasks`].
    pub engine: hubbridge::tasks::Engine,
    pub hubs: hubbridge::service::hubs::Hubs,
    /// The PostgreSQL schema to drop when the test ends.
    pg_schema: Option<String>,
    /// Stops the server when the test ends (see `Drop`).
    server: actix_web::dev::ServerHandle,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server here rather than leave its worker threads to notice that the
        // test's runtime is gone: they hold the store, and a pool still closing its
        // connections while the test process exits races the C libraries' exit handlers.
        let stop = self.server.stop(false);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(stop));
            }
            Ok(rt) => drop(rt.spawn(stop)),
            Err(_) => {}
        }
        if let Some(schema) = self.pg_schema.take() {
            // Blocking briefly here is fine in a test; a thread keeps it off the runtime.
            let _ = std::thread::spawn(move || drop_postgres_schema(&schema)).join();
        }
    }
}

/// Drops a test schema (and everything in it); errors are ignored (it may be gone already).
pub fn drop_postgres_schema(schema: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    if let Ok(mut c) = diesel::PgConnection::establish(&postgres_url()) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

/// Creates a schema in the PostgreSQL server and returns it and a URL that uses it.
pub fn fresh_postgres_schema() -> (String, String) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let admin = postgres_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&admin)
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for the tests: {e}"));
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create test schema");
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-csearch_path%3D{schema}");
    (schema, url)
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_full(db, SandboxConfig::default(), Seed::demo(), |_| {}, tweak).await
    }

    /// On SQLite, with a sandbox of this configuration and seed, and the test's Graph
    /// client tuned by `tune`.
    pub async fn with_sandbox(
        config: SandboxConfig,
        seed: Seed,
        tune: impl FnOnce(&mut GraphConfig),
    ) -> TestApp {
        Self::spawn_full(Db::Sqlite, config, seed, tune, |_| {}).await
    }

    pub async fn spawn_full(
        db: Db,
        sandbox_config: SandboxConfig,
        seed: Seed,
        tune: impl FnOnce(&mut GraphConfig),
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        init_logging();
        let sandbox = TestSandbox::start(sandbox_config, seed).await;
        let mut graph_config = GraphConfig {
            base_url: sandbox.url(),
            app_secret: Some(AppSecret::new(demo_ids::APP_SECRET)),
            retry_base: Duration::from_millis(10),
            retry_cap: Duration::from_millis(50),
            ..GraphConfig::default()
        };
        tune(&mut graph_config);
        let graph = GraphClient::new(graph_config).expect("Graph client builds");
        let mut settings = Settings::load(None).expect("base settings");
        settings.meta.graph_url = sandbox.url();
        settings.engine.workers = 0;
        settings.crypto.key = hubbridge::crypto::Secret::new(TEST_CRYPTO_KEY);
        settings.admin.jwt_secret = hubbridge::crypto::Secret::new(TEST_JWT_SECRET);
        settings.server.port = 0;
        settings.server.host = "127.0.0.1".into();
        settings.server.workers = 2;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut pg_schema = None;
        settings.database.url = match db {
            Db::Sqlite => dir.path().join("test.db").to_string_lossy().into_owned(),
            Db::Postgres => {
                let (schema, url) = tokio::task::spawn_blocking(fresh_postgres_schema)
                    .await
                    .expect("schema task");
                pg_schema = Some(schema);
                url
            }
        };
        settings.database.max_connections = 4;
        tweak(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("application starts");
        let port = app.port();
        let store = app.store().clone();
        let (engine, hubs) = (app.engine().clone(), app.hubs().clone());
        let server = app.server_handle();
        tokio::spawn(app.run_until_stopped());
        let (_, token) = hubbridge::service::tokens::Tokens::new(store.clone())
            .issue(&hubbridge::service::Actor::Cli, "tests")
            .await
            .expect("token");
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            token: token.expose().to_string(),
            client: reqwest::Client::new(),
            store,
            db,
            sandbox,
            graph,
            engine,
            hubs,
            pg_schema,
            server,
            _dir: Some(dir),
        }
    }

    /// Runs every due task until none is left; fails the test on a task that did not
    /// complete (failed, or waiting for a retry). Returns the tasks run.
    pub async fn run_pending_tasks(&self) -> Vec<hubbridge::store::tasks::TaskRow> {
        let ran = self.engine.run_due().await.expect("tasks run");
        for t in &ran {
            let id = t.id.clone();
            let now = self
                .store
                .read(move |c| hubbridge::store::tasks::find(c, &id))
                .await
                .expect("task read")
                .expect("task exists");
            assert!(
                now.status == "completed" || now.status == "cancelled",
                "task {} ({}) is {}: {:?} {:?}",
                now.id,
                now.kind,
                now.status,
                now.status_reason,
                now.last_error
            );
        }
        ran
    }

    /// Connects the sandbox's demo business as a hub (as an admin, through the service), with
    /// the safeguard at 100 % (it never holds; its own tests set it lower).
    pub async fn connect_demo_hub(&self) -> hubbridge::store::hubs::HubRow {
        use hubbridge::crypto::Secret;
        let hub = self
            .hubs
            .connect(
                &hubbridge::service::Actor::Admin {
                    subject: "admin@example.com".into(),
                },
                hubbridge::service::hubs::ConnectHub {
                    label: "Demo".into(),
                    business_id: demo_ids::BUSINESS_ID.into(),
                    app_id: demo_ids::APP_ID.into(),
                    access_token: Secret::new(demo_ids::HUB_TOKEN),
                    app_secret: Some(Secret::new(demo_ids::APP_SECRET)),
                    login_method: "sso".into(),
                    sync_interval_hours: 24,
                    safeguard_percent: 100,
                    safeguard_window_minutes: 60,
                    safeguard_max_removals: None,
                },
            )
            .await
            .expect("demo hub connects");
        // Its first "check for updates" runs before the test goes on.
        let ran = self.run_pending_tasks().await;
        assert_eq!(ran.len(), 1, "the first sync");
        assert_eq!(ran[0].kind, "sync_hub");
        hub
    }

    /// Something for every admin route to act on: the demo hub (synced), a grant on a new
    /// group, the sync's task, a guest and a SCIM token, all made by a workspace owner.
    pub async fn workspace(&self) -> Workspace {
        let hub = self.connect_demo_hub().await;
        let root = self.admin_token("root@example.com", "owner");
        let group = self.create_group("team", &[]).await["id"]
            .as_str()
            .expect("group id")
            .to_string();
        let grant_body =
            json!({"group_id": group, "hub_role": "collaborator", "business_role": "EMPLOYEE"});
        let made = |path: String, body: Value| {
            let root = root.clone();
            async move {
                let (status, made) = self.admin(&root, Method::POST, &path, Some(body)).await;
                assert_eq!(status, 201, "{path}: {made}");
                made
            }
        };
        let grant = made(format!("/hubs/{}/grants", hub.id), grant_body.clone()).await;
        let guest = made(
            "/guests".into(),
            json!({"name": "Gus", "email": "gus@partner.example"}),
        )
        .await;
        let scim_token = made("/scim-tokens".into(), json!({"name": "t"})).await;
        let (_, tasks) = self
            .admin(&root, Method::GET, "/tasks?kind=sync_hub", None)
            .await;
        let task = tasks["data"][0]["id"]
            .as_str()
            .expect("the sync")
            .to_string();
        Workspace {
            hub,
            root,
            group,
            grant_body,
            grant,
            task,
            guest,
            scim_token,
        }
    }

    /// Creates a directory user `address` and matches member `member_id` of the hub to it
    /// with `hub_role` (as `root`); returns the user's id.
    pub async fn match_to_new_user(
        &self,
        root: &str,
        hub_id: &str,
        member_id: &str,
        address: &str,
        hub_role: &str,
    ) -> String {
        let user = self.create_user(address).await["id"]
            .as_str()
            .expect("user id")
            .to_string();
        let (status, body) = self
            .admin(
                root,
                Method::POST,
                &format!("/hubs/{hub_id}/members/{member_id}/match"),
                Some(json!({"user_id": user, "hub_role": hub_role})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        user
    }

    /// An admin API token for `subject` with a workspace role (`owner`, `admin`, `user`...).
    pub fn admin_token(&self, subject: &str, role: &str) -> String {
        let settings = hubbridge::config::AdminSettings {
            jwt_secret: hubbridge::crypto::Secret::new(TEST_JWT_SECRET),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            jwks_file: String::new(),
        };
        let role = serde_json::from_value(json!(role)).expect("a workspace role");
        hubbridge::admin::auth::mint(
            &settings,
            subject,
            role,
            None,
            std::time::Duration::from_secs(600),
        )
        .expect("token")
    }

    /// An admin API request as `token`; returns the status and the JSON body.
    pub async fn admin(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, format!("{}/admin/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The demo hub's admin system-user token, on the test's Graph client.
    pub fn hub(&self) -> GraphAuth {
        self.graph.auth(AccessToken::new(demo_ids::HUB_TOKEN))
    }

    /// Another hub-app token (proof made with the hub app's secret).
    pub fn token(&self, token: &str) -> GraphAuth {
        self.graph.auth(AccessToken::new(token))
    }

    pub fn partner_a(&self) -> GraphAuth {
        self.graph.auth_with_secret(
            AccessToken::new(demo_ids::PARTNER_A_TOKEN),
            Some(&AppSecret::new(demo_ids::PARTNER_A_APP_SECRET)),
        )
    }

    pub fn partner_b(&self) -> GraphAuth {
        self.graph.auth_with_secret(
            AccessToken::new(demo_ids::PARTNER_B_TOKEN),
            Some(&AppSecret::new(demo_ids::PARTNER_B_APP_SECRET)),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/scim/v2{}", self.base, path)
    }

    /// A request with the bearer token and a SCIM JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        r.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> Response {
        self.send(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_SCHEMA], "Operations": ops})),
        )
        .await
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its JSON (asserting 201).
    pub async fn create_user(&self, user_name: &str) -> Value {
        let r = self.post("/Users", user_body(user_name)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create {user_name}");
        r.json().await.expect("json")
    }

    pub async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let m: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let r = self
            .post(
                "/Groups",
                json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": m}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "create group {name}");
        r.json().await.expect("json")
    }

    pub async fn counts(&self) -> DirectoryCounts {
        self.store
            .read(store::directory_counts)
            .await
            .expect("counts")
    }

    /// `filter` run against `/Users`, returning the userNames found (sorted).
    pub async fn user_names(&self, filter: &str) -> Vec<String> {
        let r = self
            .client
            .get(self.url("/Users"))
            .bearer_auth(&self.token)
            .query(&[("filter", filter), ("count", "1000")])
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::OK, "filter {filter}");
        let body: Value = r.json().await.expect("json");
        let mut names: Vec<String> = body["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .map(|u| u["userName"].as_str().expect("userName").to_string())
            .collect();
        names.sort();
        names
    }
}

pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

/// Asserts an RFC 7644 §3.12 error: status, body status, scimType.
pub async fn assert_scim_error(r: Response, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/scim+json"), "content type {ct}");
    let body: Value = r.json().await.expect("error body is JSON");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{body}");
    assert_eq!(body["status"], json!(status.to_string()), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Runs a test body against both backends: `both!(name, |app| async move { ... });`
#[macro_export]
macro_rules! both {
    ($name:ident, |$app:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: $crate::helpers::TestApp) {
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Db::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Db::Postgres).await).await
            }
        }
    };
}

/// What [`TestApp::workspace`] made.
pub struct Workspace {
    pub hub: hubbridge::store::hubs::HubRow,
    /// A workspace owner's admin token.
    pub root: String,
    pub group: String,
    pub grant_body: Value,
    pub grant: Value,
    pub task: String,
    pub guest: Value,
    pub scim_token: Value,
}

/// A running Graph API sandbox and its control API (`/_sandbox/...`).
pub struct TestSandbox {
    pub server: SandboxServer,
    pub http: reqwest::Client,
}

impl TestSandbox {
    pub async fn start(config: SandboxConfig, seed: Seed) -> TestSandbox {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let server = sandbox::start(config, seed, listener)
            .await
            .expect("sandbox starts");
        TestSandbox {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops the sandbox (in-flight calls finish); later Graph calls fail to connect.
    pub async fn stop(&self) {
        self.server.handle().stop(true).await;
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.url()))
            .bearer_auth(self.server.control_token().expose());
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("control call");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: Value) {
        let (status, _) = self.control(reqwest::Method::PUT, path, Some(body)).await;
        assert_eq!(status, 204, "PUT /_sandbox{path}");
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.control(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "POST /_sandbox{path}: {status} {v}");
        v
    }

    pub async fn state(&self, business: &str) -> Value {
        let (status, v) = self
            .control(
                reqwest::Method::GET,
                &format!("/businesses/{business}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        v
    }

    /// Successful mutating calls with this method and path.
    pub async fn calls(&self, method: &str, path: &str) -> u64 {
        self.count_calls(&format!("/calls?method={method}&path={path}&ok=true"))
            .await
    }

    /// All mutating calls (failed ones too) with this method and path.
    pub async fn all_calls(&self, method: &str, path: &str) -> u64 {
        self.count_calls(&format!("/calls?method={method}&path={path}"))
            .await
    }

    async fn count_calls(&self, query: &str) -> u64 {
        let (_, v) = self.control(reqwest::Method::GET, query, None).await;
        v["count"].as_u64().expect("count")
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/stats", None).await.1
    }
}
