//! Engine benchmark (not a test): 10,000 users in 20 mapped groups pushed over SCIM to a
//! server whose engine provisions them into a sandbox limited to a known call rate.
//!
//! ```sh
//! cargo bench --bench engine -- --backend sqlite
//! cargo bench --bench engine -- --backend postgres --users 10000
//! ```
//!
//! 1. **Without hubs** (a fresh database): users created from 64 connections, then each
//!    added to one of the 20 groups by a PATCH, 64 at a time: create and PATCH throughput.
//! 2. **With a hub and 20 grants** (another fresh database; the sandbox's demo business
//!    allowing `--budget` calls per rolling `--window-ms`, by default 2,000 per 10 s, and the
//!    server's client pacing over that window, `meta.rate_window_secs`): the same creates and
//!    PATCHes, while the engine (4 workers) provisions everyone the PATCHes put in a granted
//!    group. Reported: throughput as a share of step 1 (target ≥ 80 %), the PATCHes' p99
//!    while the engine runs (target < 20 ms), the time until every user is invited against
//!    the least the sandbox's limit allows for the calls made (target ≤ 1.15×), Graph calls
//!    per provisioned user, and throttling errors (target 0).
//!
//! Server on core 1 (`taskset -c 1`, one HTTP worker); the sandbox (`hubbridge sandbox`)
//! on core 0 with the clients (this process pins itself there). The least time the limit
//! allows for C calls is (C − budget) / (budget / window): a first window's worth goes at
//! once. Exits non-zero on a miss. `BENCH_TIMELINE=1` prints, every 0.1 s of the
//! convergence, the invitations the sandbox has answered so far (to stderr): the engine's
//! rate, its bursts and its pauses.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

struct Opts {
    backend: String,
    users: usize,
    groups: usize,
    budget: u32,
    window_ms: u64,
    pg_url: String,
    /// The server's engine workers (0: queue only, to see what queueing alone costs).
    workers: usize,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            backend: "sqlite".into(),
            users: 10_000,
            groups: 20,
            budget: 2_000,
            window_ms: 10_000,
            workers: 4,
            pg_url: std::env::var("HUBBRIDGE_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let val = args.get(i + 1).cloned().unwrap_or_default();
            match args[i].as_str() {
                "--backend" => o.backend = val,
                "--users" => o.users = val.parse().expect("--users N"),
                "--groups" => o.groups = val.parse().expect("--groups N"),
                "--budget" => o.budget = val.parse().expect("--budget N"),
                "--window-ms" => o.window_ms = val.parse().expect("--window-ms N"),
                "--postgres-url" => o.pg_url = val,
                "--workers" => o.workers = val.parse().expect("--workers N"),
                _ => {
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        o
    }
}

const CRYPTO_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const JWT_SECRET: &str = "bench-admin-secret-0123456789abcdef";

/// `hubbridge sandbox` on core 0 with the demo seed, the given limit, and regain times in
/// fractions of a minute (so short windows work).
struct Sandbox {
    child: std::process::Child,
    url: String,
    control: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sandbox(dir: &std::path::Path, budget: u32, window_ms: u64) -> Sandbox {
    use std::io::{BufRead, BufReader};
    let mut seed = hubbridge::sandbox::Seed::demo();
    seed.sandbox.rate_limit.business_budget = Some(budget);
    seed.sandbox.rate_limit.app_budget = Some(budget.saturating_mul(100));
    seed.sandbox.rate_limit.window_ms = Some(window_ms);
    seed.sandbox.rate_limit.fractional_regain_minutes = Some(true);
    let path = dir.join("seed.json");
    std::fs::write(&path, serde_json::to_string(&seed).expect("seed JSON")).expect("seed file");
    let mut child = std::process::Command::new("taskset")
        .args(["-c", "0"])
        .arg(hubbridge())
        .args(["sandbox", "--port", "0", "--seed"])
        .arg(&path)
        .env("HUBBRIDGE__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sandbox starts");
    // Read the URL and control token, then keep draining stdout so the sandbox never
    // writes into a closed pipe.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut url, mut control) = (String::new(), String::new());
    while url.is_empty() || control.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("sandbox output");
        if let Some(v) = line.trim().strip_prefix("Graph URL:") {
            url = v
                .trim()
                .trim_end_matches('/')
                .trim_end_matches("/v25.0")
                .to_string();
        }
        if let Some(v) = line.trim().strip_prefix("control token:") {
            control = v.trim().to_string();
        }
    }
    Sandbox {
        child,
        url,
        control,
    }
}

fn admin_token() -> String {
    let settings = hubbridge::config::AdminSettings {
        jwt_secret: hubbridge::crypto::Secret::new(JWT_SECRET),
        jwt_issuer: String::new(),
        jwt_audience: String::new(),
        jwks_file: String::new(),
    };
    hubbridge::admin::auth::mint(
        &settings,
        "bench",
        hubbridge::admin::auth::WorkspaceRole::Owner,
        None,
        Duration::from_secs(7200),
    )
    .expect("admin token")
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
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

/// Creates `n` users from 64 connections; returns their ids and the run's figures.
async fn create(url: &str, token: &str, n: usize) -> (Vec<String>, WrkResult) {
    use futures_util::StreamExt;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let results: Vec<(String, f64)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let t = Instant::now();
                let (status, user) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{url}/scim/v2/Users"),
                    token,
                    Some(json!({"userName": format!("b{i}@engine.example"),
                                "emails": [{"value": format!("b{i}@engine.example"), "primary": true}]})),
                )
                .await;
                assert_eq!(status, 201, "{user}");
                (user["id"].as_str().unwrap().to_string(), t.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = results.iter().map(|r| r.1).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let ids = results.into_iter().map(|r| r.0).collect();
    (ids, summary(&lat, secs))
}

fn summary(lat: &[f64], secs: f64) -> WrkResult {
    WrkResult {
        rps: lat.len() as f64 / secs,
        p50_ms: percentile(lat, 0.5),
        p99_ms: percentile(lat, 0.99),
        requests: lat.len() as u64,
        errors: 0,
    }
}

/// Adds each user to group `i % groups` with one PATCH each, from 64 connections.
async fn add_to_groups(url: &str, token: &str, users: &[String], groups: &[String]) -> WrkResult {
    use futures_util::StreamExt;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut lat: Vec<f64> = futures_util::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let client = client.clone();
            let group = groups[i % groups.len()].clone();
            async move {
                let t = Instant::now();
                let (status, body) = call(
                    &client,
                    reqwest::Method::PATCH,
                    format!("{url}/scim/v2/Groups/{group}"),
                    token,
                    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]})),
                )
                .await;
                assert_eq!(status, 204, "{body}");
                t.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    summary(&lat, secs)
}

async fn create_groups(url: &str, token: &str, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for g in 0..n {
        let (status, group) = call(
            &client,
            reqwest::Method::POST,
            format!("{url}/scim/v2/Groups"),
            token,
            Some(json!({"displayName": format!("Team {g}")})),
        )
        .await;
        assert_eq!(status, 201, "{group}");
        ids.push(group["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn sandbox_state(sandbox: &Sandbox, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/_sandbox{path}", sandbox.url))
        .bearer_auth(&sandbox.control)
        .send()
        .await
        .expect("sandbox")
        .json()
        .await
        .expect("json")
}

/// The calls counted between two `stats` of the sandbox, by method and endpoint.
fn by_endpoint(before: &Value, after: &Value) -> String {
    let Some(after) = after.as_object() else {
        return "(the sandbox did not count calls by endpoint)".into();
    };
    after
        .iter()
        .filter_map(|(k, v)| {
            let n = v.as_u64()? - before[k].as_u64().unwrap_or(0);
            (n > 0).then(|| format!("{k} {n}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn invited(sandbox: &Sandbox) -> usize {
    let state = sandbox_state(
        sandbox,
        &format!("/businesses/{}", hubbridge::sandbox::demo_ids::BUSINESS_ID),
    )
    .await;
    state["business"]["invitations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| {
                    i["email"]
                        .as_str()
                        .is_some_and(|e| e.ends_with("@engine.example"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn main() {
    let opts = Opts::parse();
    pin_clients_to_core_0();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "uptime: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut ok = true;

    // 1. Without hubs.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = database_url(&opts.backend, &opts.pg_url, &dir.path().join("a"));
    std::fs::create_dir_all(dir.path().join("a")).ok();
    let token = token(&db);
    let server = start_server(&db, &[]);
    let (plain_users, plain_create) = rt.block_on(create(&server.url, &token, opts.users));
    let groups = rt.block_on(create_groups(&server.url, &token, opts.groups));
    let cpu = cpu_ns(server.child.id());
    let plain_patch = rt.block_on(add_to_groups(&server.url, &token, &plain_users, &groups));
    let plain_patch_cpu_us = (cpu_ns(server.child.id()) - cpu) as f64 / 1e3 / opts.users as f64;
    drop(server);
    println!(
        "without hubs:  create {:>7.0}/s (p99 {:.1} ms)   PATCH member add {:>7.0}/s (p99 {:.1} ms, {plain_patch_cpu_us:.1} µs of server CPU each)",
        plain_create.rps, plain_create.p99_ms, plain_patch.rps, plain_patch.p99_ms
    );

    // 2. With a hub, 20 grants and the engine.
    let sandbox = start_sandbox(dir.path(), opts.budget, opts.window_ms);
    let rate = f64::from(opts.budget) / (opts.window_ms as f64 / 1000.0);
    let db = if opts.backend == "postgres" {
        // A second schema: database_url names it after the process, so drop and recreate.
        database_url(&opts.backend, &opts.pg_url, dir.path())
    } else {
        dir.path().join("engine.db").to_string_lossy().into_owned()
    };
    let token = common::token(&db);
    let window_secs = opts.window_ms.div_ceil(1000).max(1).to_string();
    let workers = opts.workers.to_string();
    let env = [
        ("HUBBRIDGE__META__GRAPH_URL", sandbox.url.as_str()),
        ("HUBBRIDGE__CRYPTO__KEY", CRYPTO_KEY),
        ("HUBBRIDGE__ADMIN__JWT_SECRET", JWT_SECRET),
        ("HUBBRIDGE__ENGINE__WORKERS", workers.as_str()),
        ("HUBBRIDGE__ENGINE__POLL_MS", "20"),
        ("HUBBRIDGE__META__RATE_WINDOW_SECS", window_secs.as_str()),
    ];
    let server = start_server(&db, &env);
    let admin = admin_token();
    let client = reqwest::Client::new();
    let hub_id =
        rt.block_on(async {
            let (status, hub) = call(
            &client,
            reqwest::Method::POST,
            format!("{}/admin/v1/hubs", server.url),
            &admin,
            Some(json!({"label": "Bench", "business_id": hubbridge::sandbox::demo_ids::BUSINESS_ID,
                        "app_id": hubbridge::sandbox::demo_ids::APP_ID,
                        "access_token": hubbridge::sandbox::demo_ids::HUB_TOKEN,
                        "app_secret": hubbridge::sandbox::demo_ids::APP_SECRET,
                        "safeguard": {"percent": 100}})),
        )
        .await;
            assert_eq!(status, 201, "{hub}");
            hub["id"].as_str().unwrap().to_string()
        });
    let groups = rt.block_on(create_groups(&server.url, &token, opts.groups));
    rt.block_on(async {
        for g in &groups {
            let (status, body) = call(
                &client,
                reqwest::Method::POST,
                format!("{}/admin/v1/hubs/{hub_id}/grants", server.url),
                &admin,
                Some(
                    json!({"group_id": g, "hub_role": "collaborator", "business_role": "EMPLOYEE"}),
                ),
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
        // The first sync is done before the clock starts (without workers it waits).
        let waiting = Instant::now();
        loop {
            if opts.workers == 0 {
                break;
            }
            let (_, t) = call(
                &client,
                reqwest::Method::GET,
                format!(
                    "{}/admin/v1/tasks?kind=sync_hub&status=completed",
                    server.url
                ),
                &admin,
                None,
            )
            .await;
            if t["data"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            if waiting.elapsed() > Duration::from_secs(60) {
                let (_, all) = call(
                    &client,
                    reqwest::Method::GET,
                    format!("{}/admin/v1/tasks", server.url),
                    &admin,
                    None,
                )
                .await;
                panic!("the first sync did not complete in 60 s: {all}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (users, hub_create) = rt.block_on(create(&server.url, &token, opts.users));
    let before = rt.block_on(sandbox_state(&sandbox, "/stats"));
    let started = Instant::now();
    let cpu = cpu_ns(server.child.id());
    let hub_patch = rt.block_on(add_to_groups(&server.url, &token, &users, &groups));
    let hub_patch_cpu_us = (cpu_ns(server.child.id()) - cpu) as f64 / 1e3 / opts.users as f64;
    let pushed = started.elapsed();
    let converged = rt.block_on(async {
        loop {
            if opts.workers == 0 {
                break Duration::ZERO;
            }
            // The counters first (a few bytes); the invitations (10,000 of them, serialised
            // on the core that also answers the engine's calls) only once enough invitations
            // were answered to possibly be done.
            let stats = sandbox_state(&sandbox, "/stats").await;
            let posted = stats["by_endpoint"]["POST business_users"]
                .as_u64()
                .unwrap_or(u64::MAX)
                .saturating_sub(
                    before["by_endpoint"]["POST business_users"]
                        .as_u64()
                        .unwrap_or(0),
                );
            if std::env::var_os("BENCH_TIMELINE").is_some() {
                eprintln!("{:>6.1} s  {posted}", started.elapsed().as_secs_f64());
            }
            if posted >= opts.users as u64 && invited(&sandbox).await >= opts.users {
                break started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(600) {
                let (_, all) = call(
                    &client,
                    reqwest::Method::GET,
                    format!("{}/admin/v1/tasks?status=deferred&limit=3", server.url),
                    &admin,
                    None,
                )
                .await;
                panic!(
                    "not converged after 10 minutes: {} invited; deferred: {all}",
                    invited(&sandbox).await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let after = rt.block_on(sandbox_state(&sandbox, "/stats"));
    println!(
        "Graph calls:   {}",
        by_endpoint(&before["by_endpoint"], &after["by_endpoint"])
    );
    let calls =
        after["graph_calls"].as_u64().unwrap_or(0) - before["graph_calls"].as_u64().unwrap_or(0);
    let throttled =
        after["throttled"].as_u64().unwrap_or(0) - before["throttled"].as_u64().unwrap_or(0);
    let minimum = (calls as f64 - f64::from(opts.budget)).max(0.0) / rate;
    // Below the budget the limit allows everything at once: no ratio to report.
    let ratio = (minimum > 0.0).then(|| converged.as_secs_f64() / minimum);
    let create_share = 100.0 * hub_create.rps / plain_create.rps;
    let patch_share = 100.0 * hub_patch.rps / plain_patch.rps;
    println!(
        "with a hub:    create {:>7.0}/s (p99 {:.1} ms, {create_share:.0} %)   PATCH member add {:>7.0}/s (p99 {:.1} ms, {patch_share:.0} %, {hub_patch_cpu_us:.1} µs of server CPU each, the engine's included), pushed in {:.1} s",
        hub_create.rps,
        hub_create.p99_ms,
        hub_patch.rps,
        hub_patch.p99_ms,
        pushed.as_secs_f64()
    );
    println!(
        "convergence:   {} users invited in {:.1} s; {calls} Graph calls ({:.2} per user); throttled {throttled}; {}",
        opts.users,
        converged.as_secs_f64(),
        calls as f64 / opts.users as f64,
        match ratio {
            Some(r) => format!("the limit ({rate:.0}/s) allows {minimum:.1} s: {r:.2}x"),
            None => format!(
                "the limit ({} calls per {} ms) was not reached",
                opts.budget, opts.window_ms
            ),
        }
    );
    println!(
        "peak server RSS: {:.1} MiB",
        peak_rss_mib(server.child.id())
    );
    ok &= create_share >= 80.0 && patch_share >= 80.0;
    ok &= hub_patch.p99_ms < 20.0;
    ok &= ratio.is_none_or(|r| r <= 1.15);
    ok &= throttled == 0;
    drop(server);
    drop(sandbox);
    if !ok {
        println!("MISSED a target (see above)");
        std::process::exit(1);
    }
    println!("all targets met");
}
