//! What the benchmarks share: starting the release server pinned to core 1 against a fresh
//! database, tokens, percentiles and the create-users workload.
// Each bench uses a different part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

#[derive(Debug, Default, Clone)]
pub struct WrkResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(url.trim_start_matches("http://")) {
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server at {url} did not come up");
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time the process's threads have run so far, in nanoseconds (the sum of each
/// thread's `schedstat`): what a workload cost the server, less sensitive to a noisy
/// neighbour than its wall-clock throughput.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary: this build's, or `BENCH_HUBBRIDGE_BIN` (to compare two builds run
/// by turns in the same minutes, when the machine is noisy).
pub fn hubbridge() -> PathBuf {
    std::env::var_os("BENCH_HUBBRIDGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hubbridge")))
}

/// A fresh database for `backend` (`sqlite`: a file in `dir`; `postgres`: a new schema in
/// the server at `pg_url`).
pub fn database_url(backend: &str, pg_url: &str, dir: &Path) -> String {
    match backend {
        "sqlite" => dir.join("bench.db").to_string_lossy().into_owned(),
        "postgres" => {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            let schema = format!("bench_{}", std::process::id());
            let mut c = diesel::PgConnection::establish(pg_url).expect("PostgreSQL reachable");
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .expect("create schema");
            let sep = if pg_url.contains('?') { '&' } else { '?' };
            format!("{pg_url}{sep}options=-csearch_path%3D{schema}")
        }
        other => panic!("--backend {other}: sqlite or postgres"),
    }
}

pub fn token(db_url: &str) -> String {
    let out = Command::new(hubbridge())
        .args(["token", "create", "--name", "bench"])
        .env("HUBBRIDGE__DATABASE__URL", db_url)
        .env("HUBBRIDGE__LOG__LEVEL", "warn")
        .output()
        .expect("token create");
    assert!(out.status.success(), "token create failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `hubbridge serve` (release) with one worker pinned to core 1; `env` adds settings. The
/// server logs warnings to stderr; `BENCH_SERVER_LOG=info` (or any level) to see more.
pub fn start_server(db_url: &str, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let level = std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into());
    let child = Command::new("taskset")
        .args(["-c", "1"])
        .arg(hubbridge())
        .arg("serve")
        .env("HUBBRIDGE__SERVER__PORT", port.to_string())
        .env("HUBBRIDGE__SERVER__WORKERS", "1")
        .env("HUBBRIDGE__DATABASE__URL", db_url)
        .env("HUBBRIDGE__LOG__LEVEL", level)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("start hubbridge");
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url);
    std::thread::sleep(Duration::from_millis(300));
    Server { child, url }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// How long a create workload runs.
#[derive(Clone, Copy)]
pub enum Until {
    /// This many users in all.
    Count(usize),
    /// Until this instant.
    Deadline(Instant),
}

/// POSTs `count` users from `concurrency` tasks; latency per request.
pub async fn create_users(url: &str, token: &str, count: usize, concurrency: usize) -> WrkResult {
    create_users_named(url, token, "bench", Until::Count(count), concurrency).await
}

/// POSTs users `{prefix}{n}@example.com` from `concurrency` tasks until `until`.
pub async fn create_users_named(
    url: &str,
    token: &str,
    prefix: &str,
    until: Until,
    concurrency: usize,
) -> WrkResult {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next) = (client.clone(), next.clone());
        let (url, token, prefix) = (url.to_string(), token.to_string(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let done = match until {
                    Until::Count(count) => i >= count,
                    Until::Deadline(at) => Instant::now() >= at,
                };
                if done {
                    break;
                }
                let t = Instant::now();
                let ok = create_one(&client, &url, &token, &format!("{prefix}{i}")).await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("create task");
        lat.extend(l);
        errors += e;
    }
    summary(lat, errors, started.elapsed().as_secs_f64())
}

/// POSTs one user `{name}@example.com`; true when it was created.
async fn create_one(client: &reqwest::Client, url: &str, token: &str, name: &str) -> bool {
    let name = format!("{name}@example.com");
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "name": {"givenName": "Bench", "familyName": "User"},
        "emails": [{"value": name, "type": "work", "primary": true}], "active": true});
    client
        .post(format!("{url}/scim/v2/Users"))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .map(|r| r.status().as_u16() == 201)
        .unwrap_or(false)
}

/// POSTs users `{prefix}{n}@example.com` at a fixed rate (an open loop: request n starts at
/// `n / rate` seconds whatever the earlier ones are doing) for `seconds`. Latency counts from
/// the moment a request was due, so a stalled server cannot hide its stall by slowing the
/// client down (no coordinated omission).
pub async fn create_users_paced(
    url: &str,
    token: &str,
    prefix: &str,
    rate: f64,
    seconds: f64,
) -> WrkResult {
    let client = reqwest::Client::new();
    let started = tokio::time::Instant::now();
    let total = (rate * seconds) as usize;
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (client, url, token, name) = (
            client.clone(),
            url.to_string(),
            token.to_string(),
            format!("{prefix}{i}"),
        );
        tasks.push(tokio::spawn(async move {
            let ok = create_one(&client, &url, &token, &name).await;
            (due.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let (mut lat, mut errors) = (Vec::with_capacity(total), 0);
    for t in tasks {
        let (l, ok) = t.await.expect("create task");
        lat.push(l);
        errors += u64::from(!ok);
    }
    summary(lat, errors, started.elapsed().as_secs_f64())
}

fn summary(mut lat: Vec<f64>, errors: u64, secs: f64) -> WrkResult {
    lat.sort_by(|a, b| a.total_cmp(b));
    WrkResult {
        rps: lat.len() as f64 / secs,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        requests: lat.len() as u64,
        errors,
    }
}

/// Pins this process (the clients, and every thread it starts from now on) to core 0; the
/// server under test runs on core 1.
pub fn pin_clients_to_core_0() {
    let _ = Command::new("taskset")
        .args(["-a", "-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
}
