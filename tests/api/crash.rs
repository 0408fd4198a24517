//! Crash safety: 2,000 users are being provisioned by the real `hubbridge serve` binary when
//! it is killed with SIGKILL; started again on the same database it finishes the work, and
//! Meta (the sandbox, in this test process) ends with exactly one invitation per user and
//! no invitation sent twice. The same with a kill during a sync. On SQLite and PostgreSQL.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hubbridge::sandbox::{demo_ids, SandboxConfig, Seed};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    drop_postgres_schema, fresh_postgres_schema, TestSandbox, TEST_CRYPTO_KEY, TEST_JWT_SECRET,
};

const USERS: usize = 2_000;

struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(db: &str, graph: &str, log: &std::path::Path) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut c = Command::new(env!("CARGO_BIN_EXE_hubbridge"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("HUBBRIDGE__") {
                c.env_remove(k);
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = c
            .arg("serve")
            .env_remove("RUST_LOG")
            .env("HUBBRIDGE__LOG__LEVEL", "warn")
            .env("HUBBRIDGE__SERVER__PORT", port.to_string())
            .env("HUBBRIDGE__SERVER__WORKERS", "2")
            .env("HUBBRIDGE__DATABASE__URL", db)
            .env("HUBBRIDGE__META__GRAPH_URL", graph)
            .env("HUBBRIDGE__CRYPTO__KEY", TEST_CRYPTO_KEY)
            .env("HUBBRIDGE__ADMIN__JWT_SECRET", TEST_JWT_SECRET)
            .env("HUBBRIDGE__ENGINE__WORKERS", "4")
            .env("HUBBRIDGE__ENGINE__LEASE_SECS", "5")
            .env("HUBBRIDGE__ENGINE__POLL_MS", "20")
            .env("HUBBRIDGE__ENGINE__RETRY_BASE_MS", "20")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("serve starts");
        Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hubbridge serve did not become ready");
    }

    fn kill9(&mut self) {
        let ok = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn admin_token() -> String {
    let settings = hubbridge::config::AdminSettings {
        jwt_secret: hubbridge::crypto::Secret::new(TEST_JWT_SECRET),
        jwt_issuer: String::new(),
        jwt_audience: String::new(),
        jwks_file: String::new(),
    };
    hubbridge::admin::auth::mint(
        &settings,
        "root",
        hubbridge::admin::auth::WorkspaceRole::Owner,
        None,
        Duration::from_secs(3600),
    )
    .unwrap()
}

async fn call(
    client: &reqwest::Client,
    method: Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = r.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Invitations in the sandbox for the test's users (`u{n}@crash.example`).
async fn invited(sandbox: &TestSandbox) -> usize {
    let state = sandbox.state(demo_ids::BUSINESS_ID).await;
    state["business"]["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["email"]
                .as_str()
                .is_some_and(|e| e.ends_with("@crash.example"))
        })
        .count()
}

/// Successful invitations sent per address: every one must be 1.
async fn invites_per_address(sandbox: &TestSandbox) -> std::collections::HashMap<String, usize> {
    let path = format!("/{}/business_users", demo_ids::BUSINESS_ID);
    let (_, v) = sandbox
        .control(
            Method::GET,
            &format!("/calls?method=POST&path={path}&ok=true"),
            None,
        )
        .await;
    let mut per = std::collections::HashMap::new();
    for c in v["calls"].as_array().unwrap() {
        let email = c["params"]["email"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *per.entry(email).or_insert(0) += 1;
    }
    per
}

async fn provision_through_a_crash(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut config = SandboxConfig::default();
    config.rate_limit.business_budget = 1_000_000;
    config.rate_limit.app_budget = 1_000_000;
    let sandbox = TestSandbox::start(config, Seed::demo()).await;
    // Each Graph call takes a little while, as Meta's do: the kill lands mid-way.
    sandbox
        .control(
            Method::PUT,
            "/faults/latency",
            Some(json!({"latency_ms": 3})),
        )
        .await;
    let mut serve = Serve::start(db, &sandbox.url(), &log);
    serve.ready().await;
    let client = reqwest::Client::new();
    let admin = admin_token();
    // A SCIM token, through the database the server uses.
    let store = hubbridge::store::Store::connect(&hubbridge::config::DatabaseSettings {
        url: db.to_string(),
        max_connections: 2,
        busy_timeout_ms: 5000,
        acquire_timeout_secs: 10,
        statement_timeout_ms: 10_000,
    })
    .unwrap();
    let (_, scim) = hubbridge::service::tokens::Tokens::new(store.clone())
        .issue(&hubbridge::service::Actor::Cli, "crash-test")
        .await
        .unwrap();
    let scim = scim.expose().to_string();

    let (status, hub) = call(
        &client,
        Method::POST,
        format!("{}/admin/v1/hubs", serve.base),
        &admin,
        Some(
            json!({"label": "Acme", "business_id": demo_ids::BUSINESS_ID,
                    "app_id": demo_ids::APP_ID, "access_token": demo_ids::HUB_TOKEN,
                    "app_secret": demo_ids::APP_SECRET, "safeguard": {"percent": 100}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{hub}");
    let hub_id = hub["id"].as_str().unwrap().to_string();

    // 2,000 users, created 16 at a time.
    use futures_util::StreamExt;
    let ids: Vec<String> = futures_util::stream::iter(0..USERS)
        .map(|i| {
            let (client, base, scim) = (client.clone(), serve.base.clone(), scim.clone());
            async move {
                let (status, user) = call(
                    &client,
                    Method::POST,
                    format!("{base}/scim/v2/Users"),
                    &scim,
                    Some(json!({"userName": format!("u{i}@crash.example")})),
                )
                .await;
                assert_eq!(status, 201, "{user}");
                user["id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let (status, group) = call(
        &client,
        Method::POST,
        format!("{}/scim/v2/Groups", serve.base),
        &scim,
        Some(json!({"displayName": "Everyone"})),
    )
    .await;
    assert_eq!(status, 201);
    let group_id = group["id"].as_str().unwrap().to_string();
    let (status, grant) = call(
        &client,
        Method::POST,
        format!("{}/admin/v1/hubs/{hub_id}/grants", serve.base),
        &admin,
        Some(
            json!({"group_id": group_id, "hub_role": "collaborator", "business_role": "EMPLOYEE"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    for chunk in ids.chunks(500) {
        let members: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let (status, body) = call(
            &client,
            Method::PATCH,
            format!("{}/scim/v2/Groups/{group_id}", serve.base),
            &scim,
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": members}]}),
            ),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }

    // Kill it mid-way.
    let started = Instant::now();
    loop {
        let n = invited(&sandbox).await;
        if n >= USERS / 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {n} invited\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill9();
    let at_kill = invited(&sandbox).await;
    assert!(at_kill < USERS, "the kill came before the end ({at_kill})");

    // Started again on the same database: it finishes, and invites nobody twice.
    let serve = Serve::start(db, &sandbox.url(), &log);
    serve.ready().await;
    let started = Instant::now();
    loop {
        let (_, waiting) = call(
            &client,
            Method::GET,
            format!(
                "{}/admin/v1/tasks?hub_id={hub_id}&status=pending&limit=1",
                serve.base
            ),
            &admin,
            None,
        )
        .await;
        let (_, running) = call(
            &client,
            Method::GET,
            format!(
                "{}/admin/v1/tasks?hub_id={hub_id}&status=running&limit=1",
                serve.base
            ),
            &admin,
            None,
        )
        .await;
        let idle = waiting["data"].as_array().is_some_and(Vec::is_empty)
            && running["data"].as_array().is_some_and(Vec::is_empty);
        if idle && invited(&sandbox).await == USERS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{} of {USERS} invited after the restart\n{}",
            invited(&sandbox).await,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let per = invites_per_address(&sandbox).await;
    assert_eq!(per.len(), USERS);
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "invited more than once: {twice:?}");
    let (_, failed) = call(
        &client,
        Method::GET,
        format!("{}/admin/v1/tasks?status=failed", serve.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(failed["data"], json!([]), "{failed}");
    eprintln!("crash test: {at_kill} of {USERS} invited at the kill; all {USERS} once in the end");

    // A kill during a sync: the sync is taken over after its lease and completes.
    let (status, sync) = call(
        &client,
        Method::POST,
        format!("{}/admin/v1/hubs/{hub_id}/sync", serve.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 202, "{sync}");
    let sync_id = sync["id"].as_str().unwrap().to_string();
    let mut serve = serve;
    let started = Instant::now();
    loop {
        let (_, t) = call(
            &client,
            Method::GET,
            format!("{}/admin/v1/tasks/{sync_id}", serve.base),
            &admin,
            None,
        )
        .await;
        if t["status"] == "running" || t["status"] == "completed" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{t}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill9();
    let serve = Serve::start(db, &sandbox.url(), &log);
    serve.ready().await;
    let started = Instant::now();
    loop {
        let (_, t) = call(
            &client,
            Method::GET,
            format!("{}/admin/v1/tasks/{sync_id}", serve.base),
            &admin,
            None,
        )
        .await;
        if t["status"] == "completed" {
            break;
        }
        assert_ne!(t["status"], "failed", "{t}");
        assert!(started.elapsed() < Duration::from_secs(60), "{t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, members) = call(
        &client,
        Method::GET,
        format!(
            "{}/admin/v1/hubs/{hub_id}/members?state=onboarded&limit=500",
            serve.base
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(members["data"].as_array().unwrap().len(), 500, "{members}");
    assert_eq!(invites_per_address(&sandbox).await.len(), USERS);
    assert!(invites_per_address(&sandbox)
        .await
        .values()
        .all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_provisioning_survives_sigkill_without_a_duplicated_invitation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db").to_string_lossy().into_owned();
    provision_through_a_crash(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_provisioning_survives_sigkill_without_a_duplicated_invitation() {
    let (schema, url) = tokio::task::spawn_blocking(fresh_postgres_schema)
        .await
        .unwrap();
    provision_through_a_crash(&url).await;
    tokio::task::spawn_blocking(move || drop_postgres_schema(&schema))
        .await
        .unwrap();
}
