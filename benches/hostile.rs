//! Hostile-input benchmark (not a test): what one SCIM token can do to the server's memory
//! and to everyone else's latency. Drives the release `hubbridge serve` over HTTP.
//!
//! ```sh
//! cargo bench --bench hostile -- --backend sqlite
//! cargo bench --bench hostile -- --backend postgres
//! cargo bench --bench hostile -- --backend postgres --pool 4 \
//!     --postgres-url 'postgres://postgres@/postgres?host=/var/run/postgresql'
//! ```
//!
//! 1. **Memory after distinct filter shapes.** After a warm-up (whole-table filters that
//!    fill each pooled connection's page cache, then `--warmup` (30,000) other shapes),
//!    sends `--shapes` (10,000) filters of distinct shapes, each twice (so each is admitted
//!    to the statement cache, and cache epochs turn over), from 8 connections; reads the
//!    server's RSS and, on PostgreSQL, the private memory (`RssAnon`) of the server's
//!    backends, before and after. Passes when each grew by at most 10 %. The warm-up is
//!    long because on SQLite glibc's per-thread arenas (one per blocking thread, as many
//!    as pooled connections) keep growing for the first 20,000 or so shapes, to about
//!    37 MiB in all, then stay there (measured to 40,000 shapes); with 2 connections the
//!    server is flat after 10,000. The cold and warm figures are printed too.
//! 2. **Creates while the largest allowed PATCH runs.** One connection sends, back to back,
//!    the largest user PATCH the limits allow (a 1 MiB body of `add` operations of
//!    `scim.max_values_per_attribute` values each, over every multi-valued attribute), while
//!    users are created at `--rate` (1,000) per second, an open loop whose latency counts
//!    from when each request was due. Reports the creates' p99 without and with the PATCHes
//!    running; passes when the p99 with them is under 20 ms. For information it also reports
//!    creates from 64 connections back to back, which saturate the server: their latency is
//!    queueing (64 / throughput), whatever else runs.
//!
//! Server on core 1 (`taskset -c 1`, one worker), clients on core 0. Exits non-zero on a miss.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

struct Opts {
    backend: String,
    shapes: usize,
    seconds: u64,
    pg_url: String,
    /// Distinct shapes sent before memory is first read.
    warmup: usize,
    /// Creates per second offered while the PATCHes run (an open loop).
    rate: f64,
    /// `database.max_connections` for the server, when given.
    pool: Option<String>,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            backend: "sqlite".into(),
            shapes: 10_000,
            seconds: 10,
            pg_url: std::env::var("HUBBRIDGE_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            pool: None,
            rate: 1000.0,
            warmup: 30_000,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let val = args.get(i + 1).cloned().unwrap_or_default();
            match args[i].as_str() {
                "--backend" => o.backend = val,
                "--shapes" => o.shapes = val.parse().expect("--shapes N"),
                "--seconds" => o.seconds = val.parse().expect("--seconds N"),
                "--postgres-url" => o.pg_url = val,
                "--pool" => o.pool = Some(val),
                "--rate" => o.rate = val.parse().expect("--rate N"),
                "--warmup" => o.warmup = val.parse().expect("--warmup N"),
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

/// A field of /proc/PID/status, in MiB.
fn proc_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Private memory of the PostgreSQL backends serving `application_name`, in MiB.
fn backends_mib(pg_url: &str, application_name: &str) -> (usize, f64) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut c = diesel::PgConnection::establish(pg_url).expect("PostgreSQL");
    let pids: Vec<Pid> =
        diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind::<diesel::sql_types::Text, _>(application_name)
            .load(&mut c)
            .expect("backends");
    let total = pids
        .iter()
        .map(|p| proc_mib(p.pid as u32, "RssAnon:"))
        .sum();
    (pids.len(), total)
}

const ATTRS: [&str; 10] = [
    "title",
    "nickName",
    "displayName",
    "userType",
    "locale",
    "timezone",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];
const OPS: [&str; 4] = ["eq", "co", "sw", "ne"];

/// Shape `i`: its decimal digits choose attributes and operators, so every `i` below
/// 10,000 × offset gives another SQL text.
fn shape(i: usize) -> String {
    let terms = 2 + i % 3;
    let mut n = i;
    (0..terms)
        .map(|t| {
            let attr = ATTRS[n % 10];
            n /= 10;
            let op = OPS[(i / 7 + t) % 4];
            format!("{attr} {op} \"v{t}\"")
        })
        .collect::<Vec<_>>()
        .join(if i.is_multiple_of(2) { " or " } else { " and " })
}

/// Fills every pooled connection's SQLite page cache (a fixed size per connection, whatever
/// the filters): 20 rounds, from 16 connections, of a filter per attribute that reads
/// whole tables (`co` uses no index). On PostgreSQL it warms the backends the same way.
async fn fill_page_caches(url: &str, token: &str) -> usize {
    use futures_util::StreamExt;
    let client = reqwest::Client::new();
    let jobs = (0..20).flat_map(|_| ATTRS.iter());
    let results: Vec<bool> = futures_util::stream::iter(jobs)
        .map(|attr| {
            let client = client.clone();
            let filter = format!("{attr} co \"zz-no-such-value\"");
            async move {
                client
                    .get(format!("{url}/scim/v2/Users"))
                    .bearer_auth(token)
                    .query(&[("filter", filter.as_str()), ("count", "10")])
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.iter().filter(|ok| !**ok).count()
}

/// Sends filters `from..to`, each twice, from 8 connections; returns (requests, errors).
async fn send_shapes(url: &str, token: &str, from: usize, to: usize) -> (usize, usize) {
    use futures_util::StreamExt;
    let client = reqwest::Client::new();
    let jobs = (from..to).flat_map(|i| [i, i]);
    let results: Vec<bool> = futures_util::stream::iter(jobs)
        .map(|i| {
            let client = client.clone();
            let filter = shape(i);
            async move {
                client
                    .get(format!("{url}/scim/v2/Users"))
                    .bearer_auth(token)
                    .query(&[("filter", filter.as_str()), ("count", "10")])
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let errors = results.iter().filter(|ok| !**ok).count();
    (results.len(), errors)
}

/// The largest user PATCH the default limits allow: operations of 100 values each, cycling
/// over the multi-valued attributes, until the body is just under 1 MiB. Each attribute is
/// first replaced by 100 values of generation `generation`, then the same 100 are added
/// again and again (merged in full each time). Sending generations 0 and 1 in turn makes
/// every PATCH change all 700 stored values: the most a PATCH can make the writer do.
fn largest_patch(generation: usize) -> String {
    let attrs = [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "entitlements",
        "roles",
        "x509Certificates",
    ];
    let mut ops = Vec::new();
    let mut size = 200;
    for k in 0.. {
        let attr = attrs[k % attrs.len()];
        let values: Vec<Value> = (0..100)
            .map(|i| json!({"value": format!("{attr}-{generation}-{i}@example.com"), "type": format!("t{i}")}))
            .collect();
        let op = if k < attrs.len() { "replace" } else { "add" };
        let op = json!({"op": op, "path": attr, "value": values});
        let len = op.to_string().len() + 1;
        if size + len > 1_048_576 - 1024 || ops.len() >= 1000 {
            break;
        }
        size += len;
        ops.push(op);
    }
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
        .to_string()
}

fn main() {
    let opts = Opts::parse();
    let mut ok = true;
    println!(
        "uptime: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let app_name = format!("hb_hostile_{}", std::process::id());
    let mut db_url = database_url(&opts.backend, &opts.pg_url, dir.path());
    if opts.backend == "postgres" {
        db_url.push_str(&format!("&application_name={app_name}"));
    }
    let token = token(&db_url);
    let pool_env: Vec<(&str, &str)> = opts
        .pool
        .as_deref()
        .map(|p| ("HUBBRIDGE__DATABASE__MAX_CONNECTIONS", p))
        .into_iter()
        .collect();
    let server = start_server(&db_url, &pool_env);
    let pid = server.child.id();
    // The client (this process, and the threads it starts from now on) on core 0.
    let _ = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
        .output();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let url = server.url.clone();
    // Some users to filter over.
    let seeded = rt.block_on(create_users(&url, &token, 2000, 16));
    assert_eq!(seeded.errors, 0, "seeding users");

    // 1. Memory after distinct filter shapes. The warm-up fills each pooled connection's
    // page cache, then runs the same workload with as many other shapes, so that what is
    // bounded by design (page caches, at most 64 cached statements per connection, the
    // allocator's arenas) has reached its working size; memory is then read after every
    // quarter of the measured shapes.
    let rss_cold = proc_mib(pid, "VmRSS:");
    let e = rt.block_on(fill_page_caches(&url, &token));
    assert_eq!(e, 0, "filling the page caches");
    let offset = opts.warmup;
    let (n, e) = rt.block_on(send_shapes(&url, &token, 0, offset));
    println!(
        "warm-up: {offset} shapes, {n} filter requests, {e} errors; server RSS {rss_cold:.1} MiB -> {:.1} MiB",
        proc_mib(pid, "VmRSS:")
    );
    let rss_before = proc_mib(pid, "VmRSS:");
    let pg_before = (opts.backend == "postgres").then(|| backends_mib(&opts.pg_url, &app_name));
    let started = Instant::now();
    let (mut n, mut e) = (0, 0);
    let quarter = opts.shapes / 4;
    for q in 0..4 {
        let from = offset + q * quarter;
        let (dn, de) = rt.block_on(send_shapes(&url, &token, from, from + quarter));
        n += dn;
        e += de;
        let pg = if opts.backend == "postgres" {
            let mib = backends_mib(&opts.pg_url, &app_name).1;
            format!(", PostgreSQL backends {mib:.1} MiB")
        } else {
            String::new()
        };
        println!(
            "  after {:>6} shapes: server RSS {:.1} MiB{pg}",
            (q + 1) * quarter,
            proc_mib(pid, "VmRSS:")
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let rss_after = proc_mib(pid, "VmRSS:");
    println!(
        "{} distinct filter shapes, each twice: {n} requests in {secs:.1} s ({:.0}/s), {e} errors",
        opts.shapes,
        n as f64 / secs
    );
    let growth = |a: f64, b: f64| 100.0 * (b - a) / a;
    let g = growth(rss_before, rss_after);
    println!("server RSS: {rss_before:.1} MiB -> {rss_after:.1} MiB ({g:+.1} %)");
    ok &= g <= 10.0 && e == 0;
    if let Some((nb, before)) = pg_before {
        let (na, after) = backends_mib(&opts.pg_url, &app_name);
        let g = growth(before, after);
        println!(
            "PostgreSQL backends' private memory: {before:.1} MiB ({nb} backends) -> {after:.1} MiB ({na} backends) ({g:+.1} %)"
        );
        ok &= g <= 10.0;
    }

    // 2. Creates while the largest allowed PATCH runs.
    let patches = [largest_patch(0), largest_patch(1)];
    let target = rt.block_on(async {
        let r: Value = reqwest::Client::new()
            .post(format!("{url}/scim/v2/Users"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(json!({"userName": "target@example.com"}).to_string())
            .send()
            .await
            .expect("create target")
            .json()
            .await
            .expect("json");
        r["id"].as_str().expect("id").to_string()
    });
    let creates_for = |seconds: u64, prefix: &str| {
        let until = Until::Deadline(Instant::now() + Duration::from_secs(seconds));
        rt.block_on(create_users_named(&url, &token, prefix, until, 64))
    };
    let paced_for = |seconds: u64, prefix: &str| {
        rt.block_on(create_users_paced(
            &url,
            &token,
            prefix,
            opts.rate,
            seconds as f64,
        ))
    };
    let report = |what: &str, r: &WrkResult| {
        println!(
            "{what:<40} {:>7.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} errors)",
            r.rps, r.p50_ms, r.p99_ms, r.requests, r.errors
        )
    };
    let paced = format!("creates at {}/s", opts.rate);
    report(
        &format!("{paced}, alone:"),
        &paced_for(opts.seconds, "paced-alone"),
    );
    report(
        "creates from 64 connections, alone:",
        &creates_for(opts.seconds, "alone"),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let patcher = {
        let (url, token, patches, target, stop) = (
            url.clone(),
            token.clone(),
            patches.clone(),
            target.clone(),
            stop.clone(),
        );
        rt.spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut statuses = std::collections::BTreeMap::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let t = Instant::now();
                let status = client
                    .patch(format!("{url}/scim/v2/Users/{target}"))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/scim+json")
                    .body(patches[n % 2].clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                *statuses.entry(status).or_insert(0u32) += 1;
            }
            (lat, statuses)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let during = paced_for(opts.seconds, "paced-during");
    let saturated = creates_for(opts.seconds, "during");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut lat, statuses) = rt.block_on(patcher).expect("patcher");
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "largest PATCH ({} KiB, {} ops): {} sent, statuses {statuses:?}, p50 {:.1} ms, max {:.1} ms",
        patches[0].len() / 1024,
        patches[0].matches("\"op\"").count(),
        lat.len(),
        percentile(&lat, 0.5),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    report(&format!("{paced}, during the PATCHes:"), &during);
    report("creates from 64 connections, during:", &saturated);
    ok &= during.p99_ms < 20.0 && during.errors == 0 && saturated.errors == 0;
    println!("peak server RSS: {:.1} MiB", peak_rss_mib(pid));
    drop(server);
    if !ok {
        println!("MISSED a target (see above)");
        std::process::exit(1);
    }
    println!("all targets met");
}
