//! Starting a sandbox and a client, and talking to the sandbox's control endpoint.

use std::net::TcpListener;
use std::time::Duration;

use hubbridge::meta::{AccessToken, AppSecret, GraphAuth, GraphClient, GraphConfig};
use hubbridge::sandbox::{self, demo_ids, SandboxConfig, SandboxServer, Seed};
use serde_json::Value;

pub struct TestEnv {
    pub sandbox: SandboxServer,
    pub client: GraphClient,
    pub http: reqwest::Client,
}

pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// A sandbox with the demo seed and a client pointed at it.
pub async fn spawn() -> TestEnv {
    spawn_with(SandboxConfig::default(), Seed::demo(), |_| {}).await
}

pub async fn spawn_with(
    config: SandboxConfig,
    seed: Seed,
    tune: impl FnOnce(&mut GraphConfig),
) -> TestEnv {
    init_tracing();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let sandbox = sandbox::start(config, seed, listener)
        .await
        .expect("sandbox starts");
    let mut cfg = GraphConfig {
        base_url: sandbox.url(),
        app_secret: Some(AppSecret::new(demo_ids::APP_SECRET)),
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(50),
        ..GraphConfig::default()
    };
    tune(&mut cfg);
    let client = GraphClient::new(cfg).expect("client builds");
    TestEnv {
        sandbox,
        client,
        http: reqwest::Client::new(),
    }
}

impl TestEnv {
    /// The hub's admin system-user token.
    pub fn hub(&self) -> GraphAuth {
        self.client.auth(AccessToken::new(demo_ids::HUB_TOKEN))
    }

    /// Another hub-app token (proof made with the hub app's secret).
    pub fn token(&self, token: &str) -> GraphAuth {
        self.client.auth(AccessToken::new(token))
    }

    pub fn partner_a(&self) -> GraphAuth {
        self.client.auth_with_secret(
            AccessToken::new(demo_ids::PARTNER_A_TOKEN),
            Some(&AppSecret::new(demo_ids::PARTNER_A_APP_SECRET)),
        )
    }

    pub fn partner_b(&self) -> GraphAuth {
        self.client.auth_with_secret(
            AccessToken::new(demo_ids::PARTNER_B_TOKEN),
            Some(&AppSecret::new(demo_ids::PARTNER_B_APP_SECRET)),
        )
    }

    fn control_url(&self, path: &str) -> String {
        format!("{}/_sandbox{path}", self.sandbox.url())
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, self.control_url(path))
            .bearer_auth(self.sandbox.control_token().expose());
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
        let (_, v) = self
            .control(
                reqwest::Method::GET,
                &format!("/calls?method={method}&path={path}&ok=true"),
                None,
            )
            .await;
        v["count"].as_u64().expect("count")
    }

    /// All mutating calls (failed ones too) with this method and path.
    pub async fn all_calls(&self, method: &str, path: &str) -> u64 {
        let (_, v) = self
            .control(
                reqwest::Method::GET,
                &format!("/calls?method={method}&path={path}"),
                None,
            )
            .await;
        v["count"].as_u64().expect("count")
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/stats", None).await.1
    }
}
