//! SCIM throughput benchmark (not a test): drives the real `hubbridge serve` over HTTP.
//!
//! ```sh
//! apt-get install wrk                    # Debian's wrk; taskset comes with util-linux
//! cargo bench --bench scim -- --backend sqlite --users 10000
//! cargo bench --bench scim -- --backend postgres --users 10000
//! cargo bench --bench scim -- --backend sqlite --users 100000 --only create,rss
//! ```
//!
//! Fair on a 2-core machine: the server runs with one worker pinned to core 1
//! (`taskset -c 1`), wrk runs with one thread pinned to core 0, and a trivial actix-web
//! handler (bearer check + fixed 800-byte body), served by this same binary the same way,
//! is measured first as the ceiling. Every workload uses 64 connections. Prints requests/s,
//! p50/p99 and the ratio to the ceiling per workload, then the server's peak RSS (VmHWM).
//!
//! Workloads: create users (POST, one per request, `--users` of them, from 64 concurrent
//! tokio tasks on core 0, since wrk cannot stop after N requests); page through all
//! users with `count=100` (sequential, one connection); GET by id; GET by `userName eq`
//! filter; PATCH `active`; add one member to a group of `--users` members (each request
//! removes and re-adds a member, so the group keeps its size).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

mod common;
use common::*;
use serde_json::{json, Value};

const CEILING_BODY: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"5b0b4c2e-8d3c-4bfa-9d59-1f0e7d3a2b11","userName":"bench1@example.com","name":{"givenName":"Bench","familyName":"User1"},"emails":[{"value":"bench1@example.com","type":"work","primary":true}],"active":true,"meta":{"resourceType":"User","created":"2026-11-23T19:15:19.641407Z","lastModified":"2026-11-23T19:15:19.641407Z","location":"http://127.0.0.1:8080/scim/v2/Users/5b0b4c2e-8d3c-4bfa-9d59-1f0e7d3a2b11","version":"W/\"1\""}}"#;

/// The wrk scripts. Each reads its inputs from BENCH_* environment variables.
const LUA_COMMON: &str = r#"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/scim+json"
local function lines(path)
  local t = {}
  if path then for l in io.lines(path) do t[#t + 1] = l end end
  return t
end
ids = lines(os.getenv("BENCH_IDS"))
names = lines(os.getenv("BENCH_NAMES"))
math.randomseed(os.time())
n = 0
"#;

const LUA_GET: &str = r#"
request = function()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)])
end
"#;

const LUA_FILTER: &str = r#"
request = function()
  local name = names[math.random(#names)]:gsub("@", "%%40")
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. name .. "%22")
end
"#;

const LUA_PATCH: &str = r#"
request = function()
  n = n + 1
  local v = (n % 2 == 0) and "true" or "false"
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":' .. v .. '}]}'
  return wrk.format("PATCH", "/scim/v2/Users/" .. ids[math.random(#ids)], nil, body)
end
"#;

const LUA_MEMBER: &str = r#"
local group = os.getenv("BENCH_GROUP")
request = function()
  local id = ids[math.random(#ids)]
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"remove","path":"members[value eq \\"' .. id .. '\\"]"},' ..
    '{"op":"add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
  return wrk.format("PATCH", "/scim/v2/Groups/" .. group, nil, body)
end
"#;

struct Opts {
    backend: String,
    users: usize,
    connections: u32,
    seconds: u32,
    only: Option<Vec<String>>,
    pg_url: String,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            backend: "sqlite".into(),
            users: 10_000,
            connections: 64,
            seconds: 10,
            only: None,
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
                "--connections" => o.connections = val.parse().expect("--connections N"),
                "--seconds" => o.seconds = val.parse().expect("--seconds N"),
                "--only" => o.only = Some(val.split(',').map(str::to_string).collect()),
                "--postgres-url" => o.pg_url = val,
                _ => {
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        o
    }

    fn wants(&self, w: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == w))
    }
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, mul) = if let Some(x) = s.strip_suffix("us") {
        (x, 0.001)
    } else if let Some(x) = s.strip_suffix("ms") {
        (x, 1.0)
    } else if let Some(x) = s.strip_suffix('s') {
        (x, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mul
}

fn parse_wrk(out: &str) -> WrkResult {
    let mut r = WrkResult::default();
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_ms = parse_ms(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_ms = parse_ms(v);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            for part in t.trim_start_matches("Socket errors:").split(',') {
                if let Some(n) = part
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    r.errors += n;
                }
            }
        } else if t.contains("requests in") {
            r.requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    r
}

fn wrk(
    url: &str,
    script: &Path,
    env: &[(&str, String)],
    connections: u32,
    seconds: u32,
) -> WrkResult {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text)
}

fn serve_ceiling(port: u16) -> std::io::Result<()> {
    async fn handler(req: HttpRequest) -> HttpResponse {
        let ok = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "Bearer ceiling");
        if !ok {
            return HttpResponse::Unauthorized().finish();
        }
        HttpResponse::Ok()
            .content_type("application/scim+json")
            .body(CEILING_BODY)
    }
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/ceiling", web::get().to(handler)))
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await
    })
}

fn line(name: &str, r: &WrkResult, ceiling: f64) {
    println!(
        "{name:<28} {:>10.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>5.1}% of ceiling  ({} requests, {} errors)",
        r.rps,
        r.p50_ms,
        r.p99_ms,
        100.0 * r.rps / ceiling,
        r.requests,
        r.errors
    );
}

/// Pages through all users with count=100 on one connection; returns (ids, names, stats).
fn page_all(
    rt: &tokio::runtime::Runtime,
    url: &str,
    token: &str,
) -> (Vec<String>, Vec<String>, WrkResult) {
    rt.block_on(async {
        let client = reqwest::Client::new();
        let (mut ids, mut names, mut lat) = (vec![], vec![], vec![]);
        let started = Instant::now();
        let mut start = 1;
        loop {
            let t = Instant::now();
            let v: Value = client
                .get(format!("{url}/scim/v2/Users?startIndex={start}&count=100"))
                .bearer_auth(token)
                .send()
                .await
                .expect("page")
                .json()
                .await
                .expect("json");
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let res = v["Resources"].as_array().cloned().unwrap_or_default();
            if res.is_empty() {
                break;
            }
            for u in &res {
                ids.push(u["id"].as_str().unwrap_or_default().to_string());
                names.push(u["userName"].as_str().unwrap_or_default().to_string());
            }
            start += res.len();
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_by(|a, b| a.total_cmp(b));
        let stats = WrkResult {
            rps: lat.len() as f64 / secs,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
            requests: lat.len() as u64,
            errors: 0,
        };
        (ids, names, stats)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-ceiling") {
        let port = args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(18080);
        serve_ceiling(port).expect("ceiling server");
        return;
    }
    let opts = Opts::parse();
    // This process (the HTTP client side) stays on core 0, the servers on core 1.
    let _ = Command::new("taskset")
        .args(["-a", "-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{LUA_COMMON}\n{body}")).expect("write lua");
        p
    };
    let (get_lua, filter_lua, patch_lua, member_lua) = (
        write("get.lua", LUA_GET),
        write("filter.lua", LUA_FILTER),
        write("patch.lua", LUA_PATCH),
        write("member.lua", LUA_MEMBER),
    );
    let uptime = Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    println!(
        "hubbridge SCIM benchmark: backend {}, {} users, {} connections, {} s per workload",
        opts.backend, opts.users, opts.connections, opts.seconds
    );
    println!("load before start: {}", uptime.unwrap_or_default());

    // The ceiling: the same binary serving a trivial handler the same way.
    let ceiling_port = free_port();
    let mut ceiling_child = Command::new("taskset")
        .args(["-c", "1"])
        .arg(std::env::current_exe().expect("exe"))
        .args(["--serve-ceiling", &ceiling_port.to_string()])
        .spawn()
        .expect("ceiling server");
    let ceiling_url = format!("http://127.0.0.1:{ceiling_port}");
    wait_healthy(&ceiling_url);
    std::thread::sleep(Duration::from_millis(300));
    let ceiling_lua = dir.path().join("ceiling.lua");
    std::fs::write(
        &ceiling_lua,
        "wrk.headers[\"Authorization\"] = \"Bearer ceiling\"\n",
    )
    .expect("lua");
    let ceiling = wrk(
        &format!("{ceiling_url}/ceiling"),
        &ceiling_lua,
        &[],
        opts.connections,
        opts.seconds,
    );
    let _ = ceiling_child.kill();
    let _ = ceiling_child.wait();
    line("ceiling (trivial handler)", &ceiling, ceiling.rps);

    let db_url = database_url(&opts.backend, &opts.pg_url, dir.path());
    let token = token(&db_url);
    let server = start_server(&db_url, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let env = |extra: Vec<(&'static str, String)>| {
        let mut e = vec![("BENCH_TOKEN", token.clone())];
        e.extend(extra);
        e
    };

    // Create users: exactly --users POSTs from `connections` concurrent clients.
    let started = Instant::now();
    let create = rt.block_on(create_users(
        &server.url,
        &token,
        opts.users,
        opts.connections as usize,
    ));
    let create_secs = started.elapsed().as_secs_f64();
    line("create user (POST)", &create, ceiling.rps);
    println!(
        "{:<28} {} users in {:.1} s (tokio client on core 0)",
        "", create.requests, create_secs
    );

    let (ids, names, paging) = page_all(&rt, &server.url, &token);
    println!(
        "{:<28} {:>10.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  (sequential, one connection, {} pages, {} users)",
        "page all users (count=100)", paging.rps, paging.p50_ms, paging.p99_ms, paging.requests, ids.len()
    );
    let ids_file = dir.path().join("ids.txt");
    let names_file = dir.path().join("names.txt");
    std::fs::write(&ids_file, ids.join("\n")).expect("ids");
    std::fs::write(&names_file, names.join("\n")).expect("names");
    let files = vec![
        ("BENCH_IDS", ids_file.to_string_lossy().into_owned()),
        ("BENCH_NAMES", names_file.to_string_lossy().into_owned()),
    ];

    for (workload, script, label) in [
        ("get", &get_lua, "GET /Users/{id}"),
        ("filter", &filter_lua, "GET userName eq filter"),
        ("patch", &patch_lua, "PATCH active"),
    ] {
        if opts.wants(workload) {
            let r = wrk(
                &server.url,
                script,
                &env(files.clone()),
                opts.connections,
                opts.seconds,
            );
            line(label, &r, ceiling.rps);
        }
    }
    if opts.wants("member") {
        // A group holding every user, built with 100 members per PATCH.
        let gid = rt.block_on(async {
            let client = reqwest::Client::new();
            let g: Value = client
                .post(format!("{}/scim/v2/Groups", server.url))
                .bearer_auth(&token)
                .json(&json!({"displayName": "bench-group", "members": []}))
                .send()
                .await
                .expect("group")
                .json()
                .await
                .expect("json");
            let gid = g["id"].as_str().expect("group id").to_string();
            for chunk in ids.chunks(100) {
                let members: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
                let r = client
                    .patch(format!("{}/scim/v2/Groups/{gid}", server.url))
                    .bearer_auth(&token)
                    .json(
                        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": members}]}),
                    )
                    .send()
                    .await
                    .expect("add members");
                assert_eq!(r.status().as_u16(), 204);
            }
            gid
        });
        let mut e = env(files.clone());
        e.push(("BENCH_GROUP", gid));
        let r = wrk(&server.url, &member_lua, &e, opts.connections, opts.seconds);
        line(
            &format!("group member add ({} members)", ids.len()),
            &r,
            ceiling.rps,
        );
    }
    println!(
        "server peak RSS: {:.1} MiB ({} users)",
        peak_rss_mib(server.child.id()),
        ids.len()
    );
    println!(
        "load after: {}",
        Command::new("uptime")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    drop(server);
    if opts.backend == "postgres" {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Ok(mut c) = diesel::PgConnection::establish(&opts.pg_url) {
            let _ = c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS bench_{} CASCADE",
                std::process::id()
            ));
        }
    }
}
