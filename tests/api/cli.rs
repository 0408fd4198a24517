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
        .contains("no token with id"));
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
