//! Pacing benchmark (not a test): 5,000 invitations through the real client against a sandbox
//! business limited to N calls per rolling window. Prints the elapsed time, the minimum the
//! limit allows, their ratio and the throttling errors the sandbox returned (target: ratio
//! ≤ 1.10, zero throttles).
//!
//! Run: `cargo bench --bench pacing` (release). Knobs (env): `PACING_CALLS` (5000),
//! `PACING_BUDGET` (N, 200), `PACING_WINDOW_MS` (2000), `PACING_WORKERS` (4).
//!
//! Exit status: 0 only when the ratio is at most 1.10, the sandbox counted no throttling
//! error and the client reported no failure; 1 otherwise (after printing the figures), so CI
//! can gate on it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubbridge::meta::{
    AccessToken, AppSecret, AssetRef, BusinessRole, ErrorClass, GraphClient, GraphConfig, Invite,
};
use hubbridge::sandbox::seed::SeedAsset;
use hubbridge::sandbox::{self, demo_ids, RateLimitConfig, SandboxConfig, Seed};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let calls = env_num("PACING_CALLS", 5000) as usize;
    let budget = env_num("PACING_BUDGET", 200) as u32;
    let window = Duration::from_millis(env_num("PACING_WINDOW_MS", 2000));
    let workers = env_num("PACING_WORKERS", 4) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ok = runtime.block_on(run(calls, budget, window, workers))?;
    runtime.block_on(batch_reads())?;
    if !ok {
        eprintln!("pacing benchmark FAILED: ratio over 1.10, throttling, or client failures");
        std::process::exit(1);
    }
    Ok(())
}

/// Does batching help bulk reads? `assigned_users` of 200 Pages, one request each vs batches of
/// 50, with 5 ms added per HTTP request to stand for the round trip to Meta.
async fn batch_reads() -> anyhow::Result<()> {
    let mut seed = Seed::demo();
    let extra: Vec<SeedAsset> = (0..196)
        .map(|i| SeedAsset {
            id: format!("{}", 30_000 + i),
            name: format!("Page {i}"),
            assigned: [("7002".to_string(), vec!["ANALYZE".to_string()])]
                .into_iter()
                .collect(),
            unified_tasks: false,
        })
        .collect();
    seed.businesses[0].pages.extend(extra);
    let mut config = SandboxConfig::default();
    config.faults.latency_ms = 5;
    let sandbox = sandbox::start(config, seed, TcpListener::bind("127.0.0.1:0")?).await?;
    let client = GraphClient::new(GraphConfig {
        base_url: sandbox.url(),
        app_secret: Some(AppSecret::new(demo_ids::APP_SECRET)),
        ..GraphConfig::default()
    })?;
    let auth = client.auth(AccessToken::new(demo_ids::HUB_TOKEN));
    let pages: Vec<AssetRef> = client
        .owned_pages(&auth, demo_ids::BUSINESS_ID)
        .await?
        .into_iter()
        .map(|p| AssetRef::Page(p.id))
        .collect();

    let started = Instant::now();
    let mut single = 0usize;
    for p in &pages {
        single += client
            .assigned_users(&auth, p, demo_ids::BUSINESS_ID)
            .await?
            .len();
    }
    let one_by_one = started.elapsed();
    let started = Instant::now();
    let mut batched = 0usize;
    for (_, r) in client
        .assigned_users_many(&auth, &pages, demo_ids::BUSINESS_ID)
        .await?
    {
        batched += r?.len();
    }
    let in_batches = started.elapsed();
    sandbox.stop().await;
    println!(
        "batch reads: assigned_users of {} Pages, 5 ms added per HTTP request",
        pages.len()
    );
    println!(
        "  one request each   {:>8.3} s  ({single} assignments)",
        one_by_one.as_secs_f64()
    );
    println!(
        "  batches of 50      {:>8.3} s  ({batched} assignments)",
        in_batches.as_secs_f64()
    );
    Ok(())
}

/// Runs the paced invitations and prints the figures; `Ok(true)` when they meet the target.
async fn run(calls: usize, budget: u32, window: Duration, workers: usize) -> anyhow::Result<bool> {
    let config = SandboxConfig {
        rate_limit: RateLimitConfig {
            business_budget: budget,
            app_budget: 1_000_000,
            window,
            fractional_regain_minutes: true,
            ..RateLimitConfig::default()
        },
        ..SandboxConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let sandbox = sandbox::start(config, Seed::demo(), listener).await?;
    let mut cfg = GraphConfig {
        base_url: sandbox.url(),
        app_secret: Some(AppSecret::new(demo_ids::APP_SECRET)),
        ..GraphConfig::default()
    };
    // Meta's window is an hour; this sandbox's is `window`. The client is told the window,
    // nothing else: the budget it learns from the usage headers.
    cfg.pacing.window = window;
    let client = GraphClient::new(cfg)?;
    let auth = client.auth(AccessToken::new(demo_ids::HUB_TOKEN));

    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(std::sync::Mutex::new(Vec::with_capacity(calls)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, auth, next, sent) = (client.clone(), auth.clone(), next.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures: Vec<ErrorClass> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return failures;
                }
                let invite = Invite {
                    email: format!("bench.{i}@acme.example"),
                    role: BusinessRole::Employee,
                    tasks: Vec::new(),
                };
                let result = client.invite(&auth, demo_ids::BUSINESS_ID, &invite).await;
                sent.lock().map(|mut s| s.push(started.elapsed())).ok();
                if let Err(e) = result {
                    failures.push(e.class());
                }
            }
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await?);
    }
    let elapsed = started.elapsed();

    let http = reqwest::Client::new();
    let stats: serde_json::Value = http
        .get(format!("{}/_sandbox/stats", sandbox.url()))
        .bearer_auth(sandbox.control_token().expose())
        .send()
        .await?
        .json()
        .await?;
    let state: serde_json::Value = http
        .get(format!(
            "{}/_sandbox/businesses/{}",
            sandbox.url(),
            demo_ids::BUSINESS_ID
        ))
        .bearer_auth(sandbox.control_token().expose())
        .send()
        .await?
        .json()
        .await?;
    sandbox.stop().await;

    // Calls i·N … (i+1)·N−1 may start at i·window at the earliest: the last one at
    // floor((calls−1)/N)·window.
    let minimum = window * ((calls.saturating_sub(1)) / budget as usize) as u32;
    let ratio = elapsed.as_secs_f64() / minimum.as_secs_f64().max(f64::EPSILON);
    let throttled = stats["throttled"].as_u64().unwrap_or(u64::MAX);
    let invitations = state["business"]["invitations"]
        .as_array()
        .map_or(0, Vec::len);
    println!("pacing benchmark: {calls} invitations, budget {budget} calls per {window:?} rolling window, {workers} concurrent workers");
    println!("  elapsed            {:>8.2} s", elapsed.as_secs_f64());
    println!("  minimum allowed    {:>8.2} s", minimum.as_secs_f64());
    println!("  ratio              {ratio:>8.3}  (target <= 1.10)");
    println!("  throttling errors  {throttled:>8}  (sandbox count; target 0)");
    println!("  graph calls        {:>8}", stats["graph_calls"]);
    let mut by_class: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &failures {
        *by_class.entry(format!("{f:?}")).or_default() += 1;
    }
    println!("  client failures    {:>8}  {by_class:?}", failures.len());
    println!("  invitations held   {invitations:>8}  ({calls} sent + 1 seeded)");
    let ok = throttled == 0 && failures.is_empty() && ratio <= 1.10;
    if std::env::var_os("PACING_TRACE").is_some() {
        let mut done = sent.lock().map(|s| s.clone()).unwrap_or_default();
        done.sort();
        let per_window: Vec<usize> = (0..=(elapsed.as_millis() / window.as_millis().max(1)))
            .map(|k| {
                let (lo, hi) = (window * k as u32, window * (k as u32 + 1));
                done.iter().filter(|t| **t >= lo && **t < hi).count()
            })
            .collect();
        let mut most = 0;
        let mut lo = 0;
        for hi in 0..done.len() {
            while done[hi] - done[lo] >= window {
                lo += 1;
            }
            most = most.max(hi - lo + 1);
        }
        println!("  answers per window {per_window:?}");
        println!("  most answers in any sliding window {most}");
    }
    println!("  verdict            {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}
