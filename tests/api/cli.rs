//! The binary itself: token commands, configuration errors, port 0, graceful shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hubbridge(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hubbridge"));
    c.env("HUBBRIDGE__DATABASE__URL", db)
        .env("HUBBRIDGE__LOG__LEVEL", "info")
        .env_remove("RUST_LOG");
    c
}

#[test]
fn token_create_prints_the_token_alone_on_the_last_line_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let out = hubbridge(&db)
        .args(["token", "create", "--name", "okta"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert!(
        token.starts_with("hbs_") && !token.contains(' '),
        "{stdout}"
    );

    let out = hubbridge(&db).args(["token", "list"]).output().unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains("okta") && list.contains("active"), "{list}");
    assert!(!list.contains(token), "the secret is never listed");
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let out = hubbridge(&db)
        .args(["token", "revoke", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = hubbridge(&db).args(["token", "list"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("revoked"));
    let out = hubbridge(&db)
        .args(["token", "revoke", "no-such-id"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no SCIM token with id"));
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let out = hubbridge(&db)
        .env("HUBBRIDGE__SERVER__PORT", "99999")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("server.port"), "{err}");

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[log]\nformat = \"xml\"\n").unwrap();
    let out = hubbridge(&db)
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("log.format"));

    let out = hubbridge("ftp://nowhere").arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("database.url"));
}

#[test]
fn serve_on_port_zero_logs_the_port_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let mut child = hubbridge(&db)
        .env("HUBBRIDGE__SERVER__PORT", "0")
        .args(["--log-format", "json", "serve"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut port = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if v["message"] == "hubbridge listening" {
            port = v["port"].as_u64();
            break;
        }
    }
    let port = port.expect("the bound port is logged");
    assert_ne!(port, 0);
    // A full health check round trip: the server is running (signal handlers installed).
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("hubbridge stopped")),
        "{rest:?}"
    );
}

#[test]
fn sandbox_command_serves_the_demo_seed_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubbridge"))
        .args(["sandbox", "--port", "0"])
        .env("HUBBRIDGE__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("Graph URL:")
                .map(|u| u.trim().to_string())
        })
        .expect("the Graph URL is printed");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{url}{}",
                hubbridge::sandbox::demo_ids::BUSINESS_ID
            ))
            .bearer_auth(hubbridge::sandbox::demo_ids::HUB_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        body["id"],
        hubbridge::sandbox::demo_ids::BUSINESS_ID,
        "{body}"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(child.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------------
// Spawned processes: the binary as an operator runs it, its output collected line by line.
// ---------------------------------------------------------------------------------------------

/// The binary with no `HUBBRIDGE__*` or `RUST_LOG` from the test's environment.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hubbridge"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HUBBRIDGE__") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG")
        .env("HUBBRIDGE__LOG__LEVEL", "info")
        .stdin(Stdio::null());
    c
}

/// Runs a short command, asserts it succeeded, returns its stdout.
fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("the binary runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// The token printed by `token create` (alone on the last line of stdout).
fn created_token(stdout: &str) -> String {
    let token = stdout
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_string();
    assert!(token.starts_with("hbs_"), "{stdout}");
    token
}

/// The `token list` row of the token called `name`: (id, status).
fn listed_token(list: &str, name: &str) -> (String, String) {
    let row = list
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("token {name} is not listed:\n{list}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    (
        cols[0].to_string(),
        cols.last().expect("status").to_string(),
    )
}

#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout,
    Stderr,
}

/// A running `hubbridge` whose stdout and stderr are read by two threads into memory.
struct Proc {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let readers = vec![
            Self::reader(child.stdout.take().expect("stdout"), stdout.clone()),
            Self::reader(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        Proc {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn reader(
        pipe: impl Read + Send + 'static,
        into: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                into.lock().unwrap().push(line);
            }
        })
    }

    fn lines(&self, stream: Stream) -> Vec<String> {
        match stream {
            Stream::Stdout => self.stdout.lock().unwrap().clone(),
            Stream::Stderr => self.stderr.lock().unwrap().clone(),
        }
    }

    fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.lines(Stream::Stdout).join("\n"),
            self.lines(Stream::Stderr).join("\n")
        )
    }

    /// The first line of `stream` matching `pred`, waiting up to `within` for it.
    async fn wait_line(
        &mut self,
        stream: Stream,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.lines(stream).into_iter().find(|l| pred(l)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers catch up with what the process wrote before exiting.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(l) = self.lines(stream).into_iter().find(|l| pred(l)) {
                    return l;
                }
                panic!(
                    "the process exited ({status:?}) before the line expected on {stream:?}\n{}",
                    self.dump()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no expected line on {stream:?} within {within:?}\n{}",
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The port from the JSON log line `hubbridge listening` (needs `--log-format json`).
    async fn listening_port(&mut self) -> u16 {
        let line = self
            .wait_line(Stream::Stderr, Duration::from_secs(30), |l| {
                l.contains("hubbridge listening")
            })
            .await;
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        let port = v["port"].as_u64().expect("the port is logged") as u16;
        assert_ne!(port, 0);
        port
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "SIGTERM sent");
    }

    /// Waits up to `within` for the process to exit, then for its output to be read.
    async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {within:?}\n{}",
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for r in self.readers.drain(..) {
            r.join().expect("reader thread");
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `demo`
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_the_printed_url_and_token_as_the_readme_shows_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo-folder");
    let mut cmd = bin();
    cmd.env("HUBBRIDGE__SERVER__PORT", "0")
        .arg("demo")
        .arg("--dir")
        .arg(&demo_dir);
    let mut demo = Proc::spawn(cmd);
    let within = Duration::from_secs(30);
    // The token is printed after the URL and the database.
    demo.wait_line(Stream::Stdout, within, |l| l.contains("SCIM token:"))
        .await;
    let field = |prefix: &str| {
        demo.lines(Stream::Stdout)
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{prefix} is printed\n{}", demo.dump()))
    };
    let url = field("SCIM URL:");
    let token = field("SCIM token:");
    let database = field("database:");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/scim/v2"),
        "{url}"
    );
    assert!(
        !url.contains(":0/") && !url.contains(":8080/"),
        "port 0 picks a free port: {url}"
    );
    assert!(token.starts_with("hbs_") && !token.contains(' '), "{token}");
    assert!(
        std::path::Path::new(&database).starts_with(&demo_dir),
        "the database is in --dir: {database}"
    );
    assert!(std::path::Path::new(&database).is_file(), "{database}");

    let client = reqwest::Client::new();
    // The README's first curl: create Ada.
    let r = client
        .post(format!("{url}/Users"))
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .body(
            r#"{"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},
       "emails":[{"value":"ada@example.com","type":"work","primary":true}]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["userName"], "ada@example.com", "{created}");
    assert_eq!(created["name"]["givenName"], "Ada", "{created}");
    let id = created["id"].as_str().expect("an id").to_string();
    // The README's second curl: find her by userName.
    let r = client
        .get(format!(
            "{url}/Users?filter=userName%20eq%20%22ada@example.com%22"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let found: serde_json::Value = r.json().await.unwrap();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str(), "{found}");
    assert_eq!(found["Resources"][0]["userName"], "ada@example.com");
    // The printed token is what grants access.
    let r = client.get(format!("{url}/Users")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // The Graph API sandbox with its demo business, at the printed URL.
    let sandbox = demo
        .lines(Stream::Stdout)
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Graph API sandbox:")
                .and_then(|v| v.split_whitespace().next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("the sandbox URL is printed\n{}", demo.dump()));
    assert!(sandbox.starts_with("http://"), "{sandbox}");
    let business: serde_json::Value = client
        .get(format!(
            "{}/{}",
            sandbox.trim_end_matches('/'),
            hubbridge::sandbox::demo_ids::BUSINESS_ID
        ))
        .bearer_auth(hubbridge::sandbox::demo_ids::HUB_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        business["id"],
        hubbridge::sandbox::demo_ids::BUSINESS_ID,
        "{business}"
    );

    // The demo's hub: adding Ada to the granted group invites her in the sandbox.
    let group = field("Marketing group id:");
    let control = field("sandbox control token:");
    let r = client
        .patch(format!("{url}/Groups/{group}"))
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .body(
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let base = sandbox.trim_end_matches('/').trim_end_matches("/v25.0");
    let mut invited = serde_json::Value::Null;
    for _ in 0..100 {
        let state: serde_json::Value = client
            .get(format!(
                "{base}/_sandbox/businesses/{}",
                hubbridge::sandbox::demo_ids::BUSINESS_ID
            ))
            .bearer_auth(&control)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(i) = state["business"]["invitations"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["email"] == "ada@example.com"))
        {
            invited = i.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        invited["role"],
        "EMPLOYEE",
        "Ada is invited\n{}",
        demo.dump()
    );
    // The printed admin token reads the hub.
    let admin_token = field("admin token:");
    let admin_url = field("admin API:");
    let hubs: serde_json::Value = client
        .get(format!("{admin_url}hubs"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        hubs["data"][0]["business_id"],
        hubbridge::sandbox::demo_ids::BUSINESS_ID,
        "{hubs}"
    );

    demo.sigterm();
    let status = demo.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", demo.dump());
    assert!(
        std::path::Path::new(&database).is_file(),
        "the demo database is kept after exit"
    );
}

// ---------------------------------------------------------------------------------------------
// Log hygiene
// ---------------------------------------------------------------------------------------------

/// A `log-format json` line that completed request `request_id` with `status`.
fn logged_completion(lines: &[serde_json::Value], request_id: &str, status: u16) -> bool {
    lines.iter().any(|v| {
        v["message"] == "request completed"
            && v["status"] == status
            && v["span"]["request_id"] == request_id
            && v["span"]["path"] == "/scim/v2/Users"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_each_request_but_never_tokens_bodies_or_query_strings() {
    const BODY_USER: &str = "sentinel-body-7f3a";
    const BODY_GIVEN: &str = "sentinel-given-c41d";
    const BODY_PASSWORD: &str = "sentinel-secret-9b2e";
    const PATCH_VALUE: &str = "sentinel-patch-5e07";
    const QUERY_VALUE: &str = "sentinel-query-d18c";
    const BAD_FILTER_VALUE: &str = "sentinel-badfilter-2a6b";
    const WRONG_TOKEN: &str = "hbs_sentinelwrongtoken3c9f";

    let dir = tempfile::tempdir().unwrap();
    let (token, mut server) =
        serve_json_logs(&dir, "hygiene", &[("HUBBRIDGE__LOG__LEVEL", "debug")]);
    let port = server.listening_port().await;
    let users = format!("http://127.0.0.1:{port}/scim/v2/Users");
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "schemas": [crate::helpers::USER_SCHEMA],
        "userName": format!("{BODY_USER}@example.com"),
        "name": {"givenName": BODY_GIVEN, "familyName": "Family"},
        "password": BODY_PASSWORD,
        "active": true,
    });
    let send = |req: reqwest::RequestBuilder, request_id: &str| {
        req.header("X-Request-Id", request_id).send()
    };
    let post = || {
        client
            .post(&users)
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
    };

    let r = send(post(), "hygiene-create").await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The same userName again: the 409's detail may name it; the log must not.
    let r = send(post(), "hygiene-duplicate").await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let r = send(
        client
            .patch(format!("{users}/{id}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(
                serde_json::json!({
                    "schemas": [crate::helpers::PATCH_SCHEMA],
                    "Operations": [{"op": "replace", "path": "displayName", "value": PATCH_VALUE}],
                })
                .to_string(),
            ),
        "hygiene-patch",
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = send(
        client
            .get(&users)
            .bearer_auth(&token)
            .query(&[("filter", format!("userName eq \"{QUERY_VALUE}\""))]),
        "hygiene-filter",
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["totalResults"],
        0
    );
    let r = send(
        client
            .get(&users)
            .bearer_auth(&token)
            .query(&[("filter", format!("userName zz \"{BAD_FILTER_VALUE}\""))]),
        "hygiene-bad-filter",
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = send(
        client
            .get(&users)
            .bearer_auth(WRONG_TOKEN)
            .query(&[("filter", format!("userName eq \"{QUERY_VALUE}\""))]),
        "hygiene-wrong-token",
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", server.dump());

    let stderr = server.lines(Stream::Stderr);
    let json: Vec<serde_json::Value> = stderr
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Logging was on, at request level, for every one of those requests.
    for (request_id, status) in [
        ("hygiene-create", 201),
        ("hygiene-duplicate", 409),
        ("hygiene-filter", 200),
        ("hygiene-bad-filter", 400),
        ("hygiene-wrong-token", 401),
    ] {
        assert!(
            logged_completion(&json, request_id, status),
            "no `request completed` line for {request_id} ({status}):\n{}",
            stderr.join("\n")
        );
    }
    assert!(
        json.iter().any(|v| v["message"] == "request completed"
            && v["status"] == 200
            && v["span"]["request_id"] == "hygiene-patch"),
        "{}",
        stderr.join("\n")
    );
    assert!(
        json.iter().any(|v| v["message"] == "SCIM request refused"),
        "the refusal is logged:\n{}",
        stderr.join("\n")
    );
    assert!(
        json.iter()
            .any(|v| v["message"] == "directory user created"),
        "{}",
        stderr.join("\n")
    );

    let everything = format!(
        "{}\n{}",
        stderr.join("\n"),
        server.lines(Stream::Stdout).join("\n")
    );
    let secret = token.trim_start_matches("hbs_");
    for (what, needle) in [
        ("the token", token.as_str()),
        ("the token's secret part", secret),
        ("the wrong token", WRONG_TOKEN),
        ("the wrong token's secret part", &WRONG_TOKEN[4..]),
        ("the body's userName", BODY_USER),
        ("the body's givenName", BODY_GIVEN),
        ("the body's password", BODY_PASSWORD),
        ("the PATCH value", PATCH_VALUE),
        ("the filter value", QUERY_VALUE),
        ("the invalid filter's value", BAD_FILTER_VALUE),
        ("the query string", "filter="),
    ] {
        assert!(
            !everything.contains(needle),
            "{what} ({needle}) was logged:\n{everything}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// `--config FILE` on every command; the CLI and a running server share the database
// ---------------------------------------------------------------------------------------------

/// How the commands of one test find their database: extra arguments after each command's own
/// (`--config FILE`), extra environment variables, and a working directory of their own (so a
/// fall-back to the default `./data/hubbridge.db` would be seen).
struct Target {
    tail: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    cwd: std::path::PathBuf,
}

impl Target {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.args(args)
            .args(&self.tail)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd);
        c
    }

    fn default_database_untouched(&self) {
        assert!(
            !self.cwd.join("data").exists(),
            "a command fell back to the default ./data/hubbridge.db"
        );
    }
}

/// `migrate`, then `token create|list|revoke` against `target`, with `serve` running on it
/// (scim.token_cache_ttl_secs = 1): the CLI's token works on the server, and once revoked by
/// the CLI it is refused with 401 within the cache period.
async fn token_lifecycle_through_the_cli_and_a_running_server(target: &Target) {
    let applied = run_ok(target.cmd(&["migrate"]));
    let n: u32 = applied
        .trim()
        .strip_suffix(" migration(s) applied")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{applied}"));
    assert!(n > 0, "a fresh database gets migrations: {applied}");
    assert_eq!(
        run_ok(target.cmd(&["migrate"])).trim(),
        "0 migration(s) applied",
        "the second run sees the first one's database"
    );

    let token = created_token(&run_ok(
        target.cmd(&["token", "create", "--name", "cfg-okta"]),
    ));
    let list = run_ok(target.cmd(&["token", "list"]));
    let (id, status) = listed_token(&list, "cfg-okta");
    assert_eq!(status, "active", "{list}");
    assert!(!list.contains(&token), "{list}");

    let mut server = Proc::spawn(target.cmd(&["serve", "--log-format", "json"]));
    let port = server.listening_port().await;
    let users = format!("http://127.0.0.1:{port}/scim/v2/Users");
    let client = reqwest::Client::new();
    let status_now = || async {
        client
            .get(&users)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status_now().await, 200, "the server knows the CLI's token");

    let revoked = run_ok(target.cmd(&["token", "revoke", &id]));
    assert_eq!(revoked.trim(), format!("revoked {id}"));
    let list = run_ok(target.cmd(&["token", "list"]));
    assert_eq!(listed_token(&list, "cfg-okta").1, "revoked", "{list}");

    let revoked_at = Instant::now();
    let deadline = revoked_at + Duration::from_secs(10);
    loop {
        match status_now().await {
            401 => break,
            200 => assert!(
                Instant::now() < deadline,
                "the revoked token still works {:?} after revocation (cache TTL is 1s)",
                revoked_at.elapsed()
            ),
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client.get(&users).bearer_auth(&token).send().await.unwrap();
    crate::helpers::assert_scim_error(r, 401, None).await;

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", server.dump());
    target.default_database_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_given_after_each_command_chooses_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let db = dir.path().join("nested").join("from-config.db");
    let config = dir.path().join("hubbridge.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = 0\n\n[database]\nurl = {:?}\n\n[scim]\ntoken_cache_ttl_secs = 1\n",
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    let target = Target {
        tail: vec!["--config".into(), config.clone().into()],
        env: vec![],
        cwd,
    };
    token_lifecycle_through_the_cli_and_a_running_server(&target).await;
    assert!(db.is_file(), "the database is at the configured path");

    // The option also works before the command.
    let mut c = bin();
    c.arg("--config")
        .arg(&config)
        .args(["token", "list"])
        .current_dir(&target.cwd);
    let list = run_ok(c);
    assert_eq!(listed_token(&list, "cfg-okta").1, "revoked", "{list}");
    target.default_database_untouched();
}

/// A schema of its own in the test PostgreSQL server, dropped at the end.
struct PgSchema {
    name: String,
    url: String,
}

impl PgSchema {
    fn create() -> PgSchema {
        let (name, url) = crate::helpers::fresh_postgres_schema();
        PgSchema { name, url }
    }

    /// Rows of `scim_tokens` in this schema (named explicitly, not through search_path).
    fn token_rows(&self) -> i64 {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&crate::helpers::postgres_url()).unwrap();
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM {}.scim_tokens)",
            self.name
        )))
        .get_result(&mut conn)
        .expect("count tokens")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        crate::helpers::drop_postgres_schema(&self.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_commands_and_serve_share_the_postgres_database_from_the_environment() {
    let schema = tokio::task::spawn_blocking(PgSchema::create).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        tail: vec![],
        env: vec![
            ("HUBBRIDGE__DATABASE__URL".into(), schema.url.clone()),
            ("HUBBRIDGE__SERVER__PORT".into(), "0".into()),
            ("HUBBRIDGE__SCIM__TOKEN_CACHE_TTL_SECS".into(), "1".into()),
        ],
        cwd: dir.path().to_path_buf(),
    };
    token_lifecycle_through_the_cli_and_a_running_server(&target).await;
    assert_eq!(
        schema.token_rows(),
        1,
        "the token lives in the schema named by the URL"
    );
}

/// Every short-lived command on PostgreSQL must exit 0 after doing its work. They used to
/// die of SIGSEGV after printing their output (5 of 80 runs): the first pool checkout made
/// r2d2 refill `min_idle` on its background thread, which was still inside libpq's TLS
/// set-up (`PQconnectdb` → `SSL_CTX_new_ex`) when `main` returned and `exit()` ran
/// `OPENSSL_cleanup`. The pool now keeps no connection in advance.
#[test]
fn short_lived_commands_on_postgres_exit_zero() {
    let schema = PgSchema::create();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for i in 0..80 {
        let args: &[&str] = if i % 2 == 0 {
            &["migrate"]
        } else {
            &["token", "list"]
        };
        let out = bin()
            .env("HUBBRIDGE__DATABASE__URL", &schema.url)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "run {i} {args:?}: {:?}, stdout {:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 80 runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown with a request in flight
// ---------------------------------------------------------------------------------------------

/// Reads from `stream` into `buf` until `done(buf)` or EOF, failing after `within`.
async fn read_until(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    within: Duration,
    done: impl Fn(&[u8]) -> bool,
) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + within;
    while !done(buf) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "nothing more within {within:?}; so far: {}",
                    String::from_utf8_lossy(buf)
                )
            })
            .expect("read");
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_zero() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let (token, mut server) = serve_json_logs(
        &dir,
        "shutdown",
        &[("HUBBRIDGE__SERVER__SHUTDOWN_TIMEOUT_SECS", "30")],
    );
    let port = server.listening_port().await;

    let body = crate::helpers::user_body("in-flight@example.com").to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // `Expect: 100-continue`: the server answers `100 Continue` once it has parsed the head
    // and called the handler, so the request is known to be in flight before SIGTERM.
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/scim+json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nX-Request-Id: in-flight\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    read_until(&mut stream, &mut answer, Duration::from_secs(10), |b| {
        b.windows(4).any(|w| w == b"\r\n\r\n")
    })
    .await;
    let interim = String::from_utf8_lossy(&answer).to_string();
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
        "{interim}"
    );
    answer.clear();
    stream.write_all(first.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();

    server.sigterm();
    server
        .wait_line(Stream::Stderr, Duration::from_secs(10), |l| {
            l.contains("graceful worker shutdown; finishing 1 connections")
        })
        .await;
    // Hold the body back across at least one of the worker's shutdown checks (every second).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server must wait for the request in flight\n{}",
        server.dump()
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    read_until(&mut stream, &mut answer, Duration::from_secs(10), |_| false).await;
    let response = String::from_utf8_lossy(&answer).to_string();
    assert!(
        response.starts_with("HTTP/1.1 201 Created\r\n"),
        "{response}"
    );
    let (headers, json) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(
        headers.to_ascii_lowercase().contains("connection: close"),
        "a draining server closes the connection: {headers}"
    );
    let created: serde_json::Value = serde_json::from_str(json).expect("a JSON body");
    assert_eq!(created["userName"], "in-flight@example.com", "{created}");

    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", server.dump());
    let stderr = server.lines(Stream::Stderr);
    assert!(
        stderr.iter().any(|l| l.contains("hubbridge stopped")),
        "{}",
        stderr.join("\n")
    );

    // The user was committed before the process exited.
    let mut settings = hubbridge::config::Settings::load(None).unwrap();
    settings.database.url = dir.path().join("t.db").to_string_lossy().into_owned();
    let store = hubbridge::store::Store::connect(&settings.database).unwrap();
    let counts = store
        .read(hubbridge::store::directory_counts)
        .await
        .unwrap();
    assert_eq!(counts.users, 1);
}

/// Creates a token in a SQLite file in `dir`, then starts `serve --log-format json` on it
/// (port 0, plus `env`). Returns the token and the server.
fn serve_json_logs(
    dir: &tempfile::TempDir,
    token_name: &str,
    env: &[(&str, &str)],
) -> (String, Proc) {
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let mut create = bin();
    create
        .env("HUBBRIDGE__DATABASE__URL", &db)
        .args(["token", "create", "--name", token_name]);
    let token = created_token(&run_ok(create));
    let mut cmd = bin();
    cmd.env("HUBBRIDGE__DATABASE__URL", &db)
        .env("HUBBRIDGE__SERVER__PORT", "0")
        .envs(env.iter().copied())
        .args(["serve", "--log-format", "json"]);
    (token, Proc::spawn(cmd))
}

#[test]
fn admin_token_mints_a_token_the_server_accepts_only_with_a_secret_configured() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();
    let out = hubbridge(&db)
        .args([
            "admin-token",
            "--subject",
            "ops@example.com",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin.jwt_secret"), "{err}");

    let secret = "cli-test-secret-0123456789abcdefghij";
    let out = hubbridge(&db)
        .env("HUBBRIDGE__ADMIN__JWT_SECRET", secret)
        .args([
            "admin-token",
            "--subject",
            "ops@example.com",
            "--role",
            "admin",
            "--ttl",
            "2h",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim();
    assert_eq!(
        token.split('.').count(),
        3,
        "a JWT alone on the last line: {stdout}"
    );
    assert!(!stdout.contains(secret) && !String::from_utf8_lossy(&out.stderr).contains(secret));
    let settings = hubbridge::config::AdminSettings {
        jwt_secret: hubbridge::crypto::Secret::new(secret),
        jwt_issuer: String::new(),
        jwt_audience: String::new(),
        jwks_file: String::new(),
    };
    let admin = hubbridge::admin::auth::JwtVerifier::new(&settings)
        .expect("verifier")
        .verify(token)
        .expect("the minted token verifies");
    assert_eq!(admin.subject, "ops@example.com");

    for (args, why) in [
        (vec!["--role", "guest"], "guests"),
        (vec!["--role", "boss"], "--role"),
        (vec!["--role", "admin", "--ttl", "0"], "--ttl"),
        (vec!["--role", "admin", "--ttl", "5y"], "--ttl"),
    ] {
        let out = hubbridge(&db)
            .env("HUBBRIDGE__ADMIN__JWT_SECRET", secret)
            .args(["admin-token", "--subject", "x"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{args:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Secret hygiene: a whole run at trace level
// ---------------------------------------------------------------------------------------------

/// A hub connected with a Meta token and app secret, a SCIM push that the engine turns
/// into an invitation in the sandbox, the task log read, the token rotated, a SCIM token
/// minted through the admin API, refused requests: with logs at `trace`, no Meta token, app
/// secret, SCIM token, JWT or configured key appears in any log line or response body (the
/// one answer that hands a new SCIM token out excepted, for that token alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_response_body_at_trace_level() {
    use crate::helpers::{TestSandbox, GROUP_SCHEMA, TEST_CRYPTO_KEY, TEST_JWT_SECRET};
    use hubbridge::sandbox::{demo_ids, SandboxConfig, Seed};
    use serde_json::{json, Value};

    let sandbox = TestSandbox::start(SandboxConfig::default(), Seed::demo()).await;
    let graph_url = sandbox.url();
    let dir = tempfile::tempdir().unwrap();
    let (scim_token, mut server) = serve_json_logs(
        &dir,
        "secrets",
        &[
            ("HUBBRIDGE__LOG__LEVEL", "trace"),
            ("HUBBRIDGE__META__GRAPH_URL", graph_url.as_str()),
            ("HUBBRIDGE__CRYPTO__KEY", TEST_CRYPTO_KEY),
            ("HUBBRIDGE__ADMIN__JWT_SECRET", TEST_JWT_SECRET),
            ("HUBBRIDGE__ENGINE__WORKERS", "1"),
            ("HUBBRIDGE__ENGINE__POLL_MS", "20"),
        ],
    );
    let port = server.listening_port().await;
    let base = format!("http://127.0.0.1:{port}");
    let jwt = hubbridge::admin::auth::mint(
        &hubbridge::config::AdminSettings {
            jwt_secret: hubbridge::crypto::Secret::new(TEST_JWT_SECRET),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            jwks_file: String::new(),
        },
        "root@example.com",
        hubbridge::admin::auth::WorkspaceRole::Owner,
        None,
        Duration::from_secs(600),
    )
    .unwrap();
    let client = reqwest::Client::new();
    let mut bodies: Vec<String> = Vec::new();
    // Every answer is kept, to be searched for secrets at the end.
    let send = |req: reqwest::RequestBuilder| {
        let req = req.build().expect("request");
        let client = client.clone();
        async move {
            let r = client.execute(req).await.expect("request");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, text)
        }
    };
    let admin = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}/admin/v1{path}"))
            .bearer_auth(&jwt)
    };
    let scim = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}/scim/v2{path}"))
            .bearer_auth(&scim_token)
            .header("content-type", "application/scim+json")
    };
    let connect = json!({"label": "Acme", "business_id": demo_ids::BUSINESS_ID,
                         "app_id": demo_ids::APP_ID, "access_token": demo_ids::HUB_TOKEN,
                         "app_secret": demo_ids::APP_SECRET, "login_method": "sso"});
    let (status, hub) = send(admin(reqwest::Method::POST, "/hubs").json(&connect)).await;
    assert_eq!(status, 201, "{hub}\n{}", server.dump());
    bodies.push(hub.clone());
    let hub: Value = serde_json::from_str(&hub).unwrap();
    let hub_id = hub["id"].as_str().unwrap().to_string();
    let (status, user) = send(
        scim(reqwest::Method::POST, "/Users").body(
            json!({"schemas": [crate::helpers::USER_SCHEMA], "userName": "ada@corp.example",
               "emails": [{"value": "ada@corp.example", "primary": true}], "active": true})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    bodies.push(user.clone());
    let user_id = serde_json::from_str::<Value>(&user).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, group) = send(
        scim(reqwest::Method::POST, "/Groups").body(
            json!({"schemas": [GROUP_SCHEMA], "displayName": "eng",
               "members": [{"value": user_id}]})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    bodies.push(group.clone());
    let group_id = serde_json::from_str::<Value>(&group).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, grant) = send(
        admin(reqwest::Method::POST, &format!("/hubs/{hub_id}/grants")).json(
            &json!({"group_id": group_id, "hub_role": "collaborator", "business_role": "EMPLOYEE"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    bodies.push(grant);
    // The engine invites her in the sandbox.
    let deadline = Instant::now() + Duration::from_secs(60);
    let task_id = loop {
        let (_, list) = send(admin(
            reqwest::Method::GET,
            &format!("/tasks?kind=reconcile_member&user_id={user_id}&status=completed"),
        ))
        .await;
        bodies.push(list.clone());
        let list: Value = serde_json::from_str(&list).unwrap();
        if let Some(id) = list["data"][0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "not invited:\n{}", server.dump());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, task) = send(admin(reqwest::Method::GET, &format!("/tasks/{task_id}"))).await;
    assert_eq!(status, 200, "{task}");
    assert!(
        task.contains("business_users"),
        "the task shows its Graph calls: {task}"
    );
    bodies.push(task);
    for path in [
        format!("/hubs/{hub_id}"),
        format!("/hubs/{hub_id}/members"),
        "/tasks".into(),
    ] {
        let (status, body) = send(admin(reqwest::Method::GET, &path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        bodies.push(body);
    }
    let (status, rotated) = send(
        admin(reqwest::Method::PATCH, &format!("/hubs/{hub_id}")).json(
            &json!({"access_token": demo_ids::HUB_TOKEN, "app_secret": demo_ids::APP_SECRET}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    bodies.push(rotated);
    // A token that Meta refuses: the problem names the reason, not the token.
    let (status, refused) = send(
        admin(reqwest::Method::PATCH, &format!("/hubs/{hub_id}"))
            .json(&json!({"access_token": demo_ids::EXPIRED_TOKEN})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    bodies.push(refused);
    let (status, minted) =
        send(admin(reqwest::Method::POST, "/scim-tokens").json(&json!({"name": "okta"}))).await;
    assert_eq!(status, 201, "{minted}");
    let new_token = serde_json::from_str::<Value>(&minted).unwrap()["token"]
        .as_str()
        .expect("the new token, shown once")
        .to_string();
    let (status, listed) = send(admin(reqwest::Method::GET, "/scim-tokens")).await;
    assert_eq!(status, 200);
    bodies.push(listed);
    // Refusals: a SCIM token on the admin API, a JWT on SCIM, a forged JWT.
    let forged = format!("{}x", &jwt[..jwt.len() - 1]);
    for req in [
        client
            .get(format!("{base}/admin/v1/hubs"))
            .bearer_auth(&new_token),
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(&jwt),
        client
            .get(format!("{base}/admin/v1/hubs"))
            .bearer_auth(&forged),
    ] {
        let (status, body) = send(req).await;
        assert_eq!(status, 401, "{body}");
        bodies.push(body);
    }
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    let stderr = server.lines(Stream::Stderr);
    assert!(
        stderr.iter().any(|l| l.contains("\"TRACE\"")),
        "logging was at trace level"
    );
    assert!(
        stderr.iter().any(|l| l.contains("task attempt ended")),
        "the engine's work was logged"
    );
    let logs = format!(
        "{}\n{}",
        stderr.join("\n"),
        server.lines(Stream::Stdout).join("\n")
    );
    let answers = bodies.join("\n");
    let signature = jwt.rsplit('.').next().unwrap();
    for (what, needle) in [
        ("the Meta token", demo_ids::HUB_TOKEN),
        ("the refused Meta token", demo_ids::EXPIRED_TOKEN),
        ("the app secret", demo_ids::APP_SECRET),
        ("the SCIM token", scim_token.as_str()),
        (
            "the SCIM token's secret part",
            scim_token.trim_start_matches("hbs_"),
        ),
        ("the minted SCIM token", new_token.as_str()),
        (
            "the minted SCIM token's secret part",
            new_token.trim_start_matches("hbs_"),
        ),
        ("the admin JWT", jwt.as_str()),
        ("the admin JWT's signature", signature),
        ("the JWT secret", TEST_JWT_SECRET),
        ("the crypto key", TEST_CRYPTO_KEY),
    ] {
        assert!(!logs.contains(needle), "{what} ({needle}) was logged");
        assert!(
            !answers.contains(needle),
            "{what} ({needle}) was in an answer"
        );
    }
    assert!(!minted.contains(demo_ids::HUB_TOKEN));
}
