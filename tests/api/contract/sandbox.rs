//! Sandbox behaviours seen over raw HTTP: the wire format the client does not exercise on its
//! own, the control endpoint, and seed files.

use std::time::{Duration, Instant};

use hubbridge::sandbox::{demo_ids, Seed};
use serde_json::{json, Value};

use crate::contract::helpers::{spawn, TestApp};

async fn raw(
    env: &TestApp,
    method: reqwest::Method,
    path_and_query: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = env
        .sandbox
        .http
        .request(method, format!("{}{path_and_query}", env.sandbox.url()));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.expect("raw call");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn the_control_endpoint_needs_its_token_except_for_health() {
    let env = spawn().await;
    let url = |p: &str| format!("{}/_sandbox{p}", env.sandbox.url());

    let health = env
        .sandbox
        .http
        .get(url("/health"))
        .send()
        .await
        .expect("health");
    let anonymous = env
        .sandbox
        .http
        .get(url("/stats"))
        .send()
        .await
        .expect("stats");
    let wrong = env
        .sandbox
        .http
        .get(url("/stats"))
        .bearer_auth("guess")
        .send()
        .await
        .expect("stats");
    let graph_token = env
        .sandbox
        .http
        .get(url("/stats"))
        .bearer_auth(demo_ids::HUB_TOKEN)
        .send()
        .await
        .expect("stats");

    assert_eq!(health.status(), 200);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(graph_token.status(), 401);
    assert!(!format!("{:?}", env.sandbox.server.control_token())
        .contains(env.sandbox.server.control_token().expose()));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn errors_have_metas_envelope_codes_and_headers() {
    let env = spawn().await;

    let (s1, h1, no_token) = raw(&env, reqwest::Method::GET, "/v25.0/me", None).await;
    let (s2, h2, bad_token) = raw(&env, reqwest::Method::GET, "/v25.0/me", Some("EAAnope")).await;
    let (s3, _, bad_field) = raw(
        &env,
        reqwest::Method::GET,
        &format!("/v23.0/{}?fields=id,bogus", demo_ids::BUSINESS_ID),
        Some(demo_ids::HUB_TOKEN),
    )
    .await;
    let (s4, _, bad_edge) = raw(
        &env,
        reqwest::Method::GET,
        &format!("/v25.0/{}/nonsense", demo_ids::BUSINESS_ID),
        Some(demo_ids::HUB_TOKEN),
    )
    .await;
    let (_, h5, _) = raw(
        &env,
        reqwest::Method::GET,
        "/v23.0/me",
        Some(demo_ids::HUB_TOKEN),
    )
    .await;
    let (_, h6, _) = raw(&env, reqwest::Method::GET, "/me", Some(demo_ids::HUB_TOKEN)).await;

    assert_eq!((s1, no_token["error"]["code"].as_i64()), (400, Some(104)));
    assert_eq!(no_token["error"]["type"], "OAuthException");
    assert!(h1.get("www-authenticate").is_some());
    assert_eq!((s2, bad_token["error"]["code"].as_i64()), (400, Some(190)));
    assert!(h2
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("invalid_token")));
    assert!(bad_token["error"]["fbtrace_id"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!((s3, bad_field["error"]["code"].as_i64()), (400, Some(100)));
    assert_eq!(
        bad_field["error"]["message"],
        "(#100) Tried accessing nonexisting field (bogus)"
    );
    assert_eq!((s4, bad_edge["error"]["code"].as_i64()), (400, Some(2500)));
    assert_eq!(
        h5.get("facebook-api-version").and_then(|v| v.to_str().ok()),
        Some("v23.0")
    );
    assert_eq!(
        h6.get("facebook-api-version").and_then(|v| v.to_str().ok()),
        Some("v25.0")
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn paging_follows_metas_shape() {
    let env = spawn().await;
    let base = format!(
        "/v25.0/{}/business_users?limit=30&summary=total_count",
        demo_ids::BUSINESS_ID
    );

    let (_, _, first) = raw(&env, reqwest::Method::GET, &base, Some(demo_ids::HUB_TOKEN)).await;
    let next = first["paging"]["next"].as_str().expect("next").to_string();
    let second: Value = env
        .sandbox
        .http
        .get(&next)
        .send()
        .await
        .expect("next page")
        .json()
        .await
        .expect("json");
    let (_, _, empty) = raw(
        &env,
        reqwest::Method::GET,
        &format!("/v25.0/{}/client_pages", demo_ids::BUSINESS_ID),
        Some(demo_ids::HUB_TOKEN),
    )
    .await;

    assert_eq!(first["data"].as_array().map(Vec::len), Some(30));
    assert_eq!(first["summary"]["total_count"], 36);
    assert!(first["paging"].get("previous").is_none());
    assert!(first["paging"]["cursors"]["after"].is_string());
    assert!(
        next.contains("access_token="),
        "Meta repeats the token in next links"
    );
    assert_eq!(second["data"].as_array().map(Vec::len), Some(6));
    assert!(second["paging"].get("next").is_none());
    assert!(second["paging"]["previous"].is_string());
    assert_eq!(empty, json!({ "data": [] }));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn list_parameters_are_accepted_in_both_quote_styles_and_as_json_bodies() {
    let env = spawn().await;
    let url = format!(
        "{}/v25.0/act_{}/assigned_users",
        env.sandbox.url(),
        demo_ids::AD_ACCOUNT_IDS[2]
    );

    let single: Value = env
        .sandbox
        .http
        .post(&url)
        .bearer_auth(demo_ids::HUB_TOKEN)
        .form(&[
            ("user", "7012"),
            ("tasks", "['MANAGE', 'ADVERTISE']"),
            ("business", demo_ids::BUSINESS_ID),
        ])
        .send()
        .await
        .expect("form")
        .json()
        .await
        .expect("json");
    let json_body: Value = env
        .sandbox
        .http
        .post(&url)
        .bearer_auth(demo_ids::HUB_TOKEN)
        .json(&json!({ "user": "7013", "tasks": ["ANALYZE"], "business": demo_ids::BUSINESS_ID }))
        .send()
        .await
        .expect("json body")
        .json()
        .await
        .expect("json");
    let bad: Value = env
        .sandbox
        .http
        .post(&url)
        .bearer_auth(demo_ids::HUB_TOKEN)
        .form(&[("user", "7012"), ("tasks", "[\"FLY\"]")])
        .send()
        .await
        .expect("bad task")
        .json()
        .await
        .expect("json");

    assert_eq!(single, json!({ "success": true }));
    assert_eq!(json_body, json!({ "success": true }));
    assert_eq!(bad["error"]["code"], 100);
    let state = env.sandbox.state(demo_ids::BUSINESS_ID).await;
    let account = state["assets"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["id"] == format!("act_{}", demo_ids::AD_ACCOUNT_IDS[2]))
        })
        .cloned()
        .expect("account");
    assert_eq!(account["assigned"]["7012"], json!(["MANAGE", "ADVERTISE"]));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_call_log_counts_mutations_without_tokens_and_can_be_reset() {
    let env = spawn().await;
    let url = format!(
        "{}/v25.0/{}/business_users",
        env.sandbox.url(),
        demo_ids::BUSINESS_ID
    );
    env.sandbox
        .http
        .post(&url)
        .form(&[
            ("email", "logged@acme.example"),
            ("access_token", demo_ids::HUB_TOKEN),
        ])
        .send()
        .await
        .expect("invite");

    let (_, log) = env
        .sandbox
        .control(reqwest::Method::GET, "/calls", None)
        .await;
    let (status, _) = env
        .sandbox
        .control(reqwest::Method::DELETE, "/calls", None)
        .await;
    let (_, after) = env
        .sandbox
        .control(reqwest::Method::GET, "/calls", None)
        .await;

    assert_eq!(log["count"], 1);
    assert_eq!(log["calls"][0]["method"], "POST");
    assert_eq!(
        log["calls"][0]["params"],
        json!({ "email": "logged@acme.example" })
    );
    assert!(!log.to_string().contains(demo_ids::HUB_TOKEN));
    assert_eq!(status, 204);
    assert_eq!(after["count"], 0);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_batch_of_more_than_50_operations_is_refused() {
    let env = spawn().await;
    let ops: Vec<Value> = (0..51)
        .map(|_| json!({ "method": "GET", "relative_url": "me" }))
        .collect();

    let resp: Value = env
        .sandbox
        .http
        .post(format!("{}/v25.0/", env.sandbox.url()))
        .bearer_auth(demo_ids::HUB_TOKEN)
        .form(&[("batch", Value::Array(ops).to_string())])
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("json");

    assert_eq!(resp["error"]["type"], "GraphBatchException");
    assert_eq!(
        resp["error"]["message"],
        "Too many requests in batch message. Maximum batch size is 50"
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn added_latency_slows_graph_calls() {
    let env = spawn().await;
    env.sandbox
        .put(
            "/faults/latency",
            json!({ "latency_ms": 150, "endpoint": "me" }),
        )
        .await;
    let started = Instant::now();

    env.graph.me(&env.hub()).await.expect("me");

    assert!(started.elapsed() >= Duration::from_millis(150));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn invitations_can_be_declined_or_expired_through_the_control_endpoint() {
    let env = spawn().await;
    let id = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &hubbridge::meta::Invite {
                email: "declines@acme.example".into(),
                role: hubbridge::meta::BusinessRole::Employee,
                tasks: Vec::new(),
            },
        )
        .await
        .expect("invite");

    env.sandbox
        .post(
            &format!("/invitations/{}/expire", demo_ids::PENDING_INVITATION_ID),
            json!({}),
        )
        .await;
    env.sandbox
        .post(&format!("/invitations/{id}/decline"), json!({}))
        .await;
    let (status, _) = env
        .sandbox
        .control(
            reqwest::Method::POST,
            &format!("/invitations/{id}/accept"),
            Some(json!({})),
        )
        .await;
    let pending = env
        .graph
        .pending_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("pending");

    assert_eq!(status, 409, "a declined invitation cannot be accepted");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status.as_deref(), Some("EXPIRED"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn seeds_load_from_json_and_toml_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("seed.json");
    let toml_path = dir.path().join("seed.toml");
    std::fs::write(
        &json_path,
        serde_json::to_string(&Seed::demo()).expect("json"),
    )
    .expect("write");
    std::fs::write(
        &toml_path,
        r#"
[[apps]]
id = "1"
name = "tiny"
secret = "s"

[[businesses]]
id = "42"
name = "Tiny Co"
people = [{ id = "1001", name = "Ada", email = "ada@tiny.example", role = "ADMIN" }]
pages = [{ id = "501", name = "Tiny page" }]

[[tokens]]
token = "EAAtiny"
app_id = "1"
user_id = "9"
business_id = "42"
scopes = ["business_management"]
"#,
    )
    .expect("write");

    let from_json = Seed::from_path(&json_path).expect("json seed");
    let from_toml = Seed::from_path(&toml_path).expect("toml seed");
    let broken = Seed::from_path(&dir.path().join("missing.json"));

    assert_eq!(from_json.businesses.len(), 3);
    assert_eq!(from_json.tokens.len(), Seed::demo().tokens.len());
    assert_eq!(from_toml.businesses[0].people[0].role, "ADMIN");
    assert_eq!(from_toml.businesses[0].verification_status, "verified");
    assert_eq!(from_toml.tokens[0].token_type, "SYSTEM_USER");
    assert!(broken.is_err());
    assert!(
        !format!("{from_toml:?}").contains("EAAtiny"),
        "seed Debug redacts tokens"
    );
}

#[tokio::test]
async fn a_seed_with_colliding_ids_is_refused() {
    let mut seed = Seed::demo();
    let first_person = seed.businesses[0].people[0].id.clone();
    seed.businesses[1].people[0].id = first_person;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");

    let started = hubbridge::sandbox::start(Default::default(), seed, listener).await;

    let err = started.err().expect("refused");
    assert!(err.to_string().contains("more than one object"), "{err}");
}

#[tokio::test]
async fn usage_headers_grow_toward_100_percent_with_an_estimate_once_full() {
    let config = hubbridge::sandbox::SandboxConfig {
        rate_limit: hubbridge::sandbox::RateLimitConfig {
            business_budget: 10,
            window: Duration::from_secs(60),
            ..Default::default()
        },
        ..Default::default()
    };
    let env = crate::contract::helpers::spawn_with(config, Seed::demo(), |_| {}).await;
    let buc = |h: &reqwest::header::HeaderMap| -> Value {
        let raw = h
            .get("x-business-use-case-usage")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("{}");
        serde_json::from_str::<Value>(raw).unwrap_or(Value::Null)[demo_ids::BUSINESS_ID][0].clone()
    };

    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, h, _) = raw(
            &env,
            reqwest::Method::GET,
            "/v25.0/me/businesses",
            Some(demo_ids::HUB_TOKEN),
        )
        .await;
        seen.push(buc(&h)["call_count"].as_u64());
    }
    let (_, ad_headers, _) = raw(
        &env,
        reqwest::Method::GET,
        &format!(
            "/v25.0/act_{}/assigned_users?business={}",
            demo_ids::AD_ACCOUNT_IDS[0],
            demo_ids::BUSINESS_ID
        ),
        Some(demo_ids::HUB_TOKEN),
    )
    .await;
    let mut last = (0, reqwest::header::HeaderMap::new(), Value::Null);
    // The ad-account call counted in the account's own bucket, not the business's.
    for _ in 0..6 {
        last = raw(
            &env,
            reqwest::Method::GET,
            "/v25.0/me",
            Some(demo_ids::HUB_TOKEN),
        )
        .await;
    }
    let (status, throttled_headers, throttled) = raw(
        &env,
        reqwest::Method::GET,
        "/v25.0/me",
        Some(demo_ids::HUB_TOKEN),
    )
    .await;

    assert_eq!(seen, vec![Some(10), Some(20), Some(30), Some(40)]);
    let ad: Value = serde_json::from_str(
        ad_headers
            .get("x-ad-account-usage")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    assert_eq!(ad["acc_id_util_pct"], 0, "one call of the account's 4800");
    let ad_buc: Value = serde_json::from_str(
        ad_headers
            .get("x-business-use-case-usage")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    assert_eq!(
        ad_buc[demo_ids::AD_ACCOUNT_IDS[0]][0]["type"],
        "ads_management",
        "{ad_buc}"
    );
    assert!(serde_json::from_str::<Value>(
        ad_headers
            .get("x-app-usage")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("{}")
    )
    .is_ok_and(|v| v["call_count"].is_u64()));
    assert_eq!(last.0, 200);
    assert_eq!(buc(&last.1)["call_count"], 100);
    assert_eq!(
        buc(&last.1)["estimated_time_to_regain_access"],
        1,
        "whole minutes, rounded up"
    );
    assert_eq!(status, 400);
    assert_eq!(throttled["error"]["code"], 613);
    assert_eq!(buc(&throttled_headers)["type"], "business_management");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn pages_and_ad_accounts_are_throttled_one_by_one_with_meta_s_codes() {
    let config = hubbridge::sandbox::SandboxConfig {
        rate_limit: hubbridge::sandbox::RateLimitConfig {
            object_budget: 2,
            window: Duration::from_secs(60),
            ..Default::default()
        },
        ..Default::default()
    };
    let env = crate::contract::helpers::spawn_with(config, Seed::demo(), |_| {}).await;
    let get = |path: String| {
        let env = &env;
        async move {
            raw(
                env,
                reqwest::Method::GET,
                &format!("/v25.0/{path}"),
                Some(demo_ids::HUB_TOKEN),
            )
            .await
        }
    };
    let buc = |h: &reqwest::header::HeaderMap| -> Value {
        serde_json::from_str(
            h.get("x-business-use-case-usage")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("{}"),
        )
        .unwrap_or(Value::Null)
    };
    let biz = demo_ids::BUSINESS_ID;
    let (page, other_page) = (demo_ids::PAGE_IDS[0], demo_ids::PAGE_IDS[1]);
    let account = demo_ids::AD_ACCOUNT_IDS[0];
    let on_page = format!("{page}/assigned_users?business={biz}");
    let on_account = format!("act_{account}/assigned_users?business={biz}");

    let page_answers = [
        get(on_page.clone()).await,
        get(on_page.clone()).await,
        get(on_page.clone()).await,
    ];
    let other_page_answer = get(format!("{other_page}/assigned_users?business={biz}")).await;
    let account_answers = [
        get(on_account.clone()).await,
        get(on_account.clone()).await,
        get(on_account.clone()).await,
    ];
    let business_answer = get(format!("{biz}/business_users")).await;
    // A budget of its own for one Page, through the control API.
    env.sandbox
        .put(
            &format!("/objects/{other_page}/rate_limit"),
            json!({"budget": 1, "window_ms": 60000}),
        )
        .await;
    let overridden = get(format!("{other_page}/assigned_users?business={biz}")).await;
    let (unknown, _) = env
        .sandbox
        .control(
            reqwest::Method::PUT,
            "/objects/424242/rate_limit",
            Some(json!({"budget": 1, "window_ms": 1000})),
        )
        .await;

    assert_eq!((page_answers[0].0, page_answers[1].0), (200, 200));
    let (status, headers, body) = &page_answers[2];
    assert_eq!(*status, 400);
    assert_eq!(body["error"]["code"], 80001, "{body}");
    assert_eq!(buc(headers)[page][0]["type"], "pages");
    assert_eq!(buc(headers)[page][0]["call_count"], 100);
    assert_eq!(other_page_answer.0, 200, "another Page has its own budget");
    assert_eq!((account_answers[0].0, account_answers[1].0), (200, 200));
    let (status, headers, body) = &account_answers[2];
    assert_eq!(*status, 400);
    assert_eq!(body["error"]["code"], 80004, "{body}");
    assert_eq!(body["error"]["error_subcode"], 2446079, "{body}");
    assert_eq!(buc(headers)[account][0]["type"], "ads_management");
    let ad: Value = serde_json::from_str(
        headers
            .get("x-ad-account-usage")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    assert_eq!(ad["acc_id_util_pct"], 100);
    assert_eq!(business_answer.0, 200, "the business's own calls go on");
    assert_eq!(
        buc(&business_answer.1)[biz][0]["type"],
        "business_management"
    );
    assert_eq!(overridden.0, 400, "{:?}", overridden.2);
    assert_eq!(overridden.2["error"]["code"], 80001);
    assert_eq!(unknown, 404);
    assert_eq!(env.sandbox.stats().await["throttled"], 3);
    env.sandbox.stop().await;
}

/// `POST /v25.0/` with these form fields and, optionally, a bearer token.
async fn batch(
    env: &TestApp,
    bearer: Option<&str>,
    form: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = env
        .sandbox
        .http
        .post(format!("{}/v25.0/", env.sandbox.url()))
        .form(form);
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.expect("batch");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn proof(secret: &str, token: &str) -> String {
    hubbridge::meta::appsecret_proof(
        &hubbridge::meta::AppSecret::new(secret),
        &hubbridge::meta::AccessToken::new(token),
    )
}

#[tokio::test]
async fn a_batch_needs_a_top_level_token_and_reports_usage_headers() {
    let env = spawn().await;
    let own_token_op = json!([{ "method": "GET", "relative_url": format!("me?access_token={}", demo_ids::HUB_TOKEN) }]).to_string();
    let op = json!([{ "method": "GET", "relative_url": "me" }]).to_string();

    let (no_token, _, refused) = batch(&env, None, &[("batch", own_token_op)]).await;
    let (form_status, form_headers, by_form) = batch(
        &env,
        None,
        &[
            ("access_token", demo_ids::HUB_TOKEN.into()),
            ("batch", op.clone()),
        ],
    )
    .await;
    let (header_status, _, _) = batch(&env, Some(demo_ids::HUB_TOKEN), &[("batch", op)]).await;

    assert_eq!(no_token, 400);
    assert_eq!(refused["error"]["code"], 104, "{refused}");
    assert_eq!((form_status, header_status), (200, 200));
    assert_eq!(by_form[0]["code"], 200, "{by_form}");
    let buc: Value = serde_json::from_str(
        form_headers
            .get("x-business-use-case-usage")
            .and_then(|v| v.to_str().ok())
            .expect("usage headers on the batch response"),
    )
    .expect("json header");
    assert!(
        buc[demo_ids::BUSINESS_ID][0]["call_count"].is_u64(),
        "{buc}"
    );
    assert!(form_headers.contains_key("x-app-usage"));
    assert_eq!(env.sandbox.stats().await["secrets_in_url"], 0);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_batch_operation_with_its_own_token_needs_that_tokens_proof() {
    let config = hubbridge::sandbox::SandboxConfig {
        require_appsecret_proof: true,
        ..Default::default()
    };
    let env = crate::contract::helpers::spawn_with(config, Seed::demo(), |_| {}).await;
    let hub_proof = proof(demo_ids::APP_SECRET, demo_ids::HUB_TOKEN);
    let partner_proof = proof(demo_ids::PARTNER_A_APP_SECRET, demo_ids::PARTNER_A_TOKEN);
    let op = |extra: &str| {
        json!({
            "method": "GET",
            "relative_url": format!("me?access_token={}{extra}", demo_ids::PARTNER_A_TOKEN)
        })
    };
    let ops = json!([
        op(""),
        op(&format!("&appsecret_proof={hub_proof}")),
        op(&format!("&appsecret_proof={partner_proof}")),
        { "method": "GET", "relative_url": "me" },
    ])
    .to_string();

    let (status, _, answers) = batch(
        &env,
        Some(demo_ids::HUB_TOKEN),
        &[("batch", ops), ("appsecret_proof", hub_proof)],
    )
    .await;

    assert_eq!(status, 200, "{answers}");
    let body = |i: usize| -> Value {
        serde_json::from_str(answers[i]["body"].as_str().expect("body")).expect("json")
    };
    assert_eq!(answers[0]["code"], 400);
    assert!(body(0)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("require an appsecret_proof")));
    assert_eq!(answers[1]["code"], 400);
    assert!(body(1)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("Invalid appsecret_proof")));
    assert_eq!(answers[2]["code"], 200, "{}", body(2));
    assert_eq!(
        answers[3]["code"], 200,
        "the top-level proof covers the top-level token"
    );
    env.sandbox.stop().await;
}

const SETTINGS_SEED: &str = r#"
[[apps]]
id = "1"
name = "tiny"
secret = "s"

[[businesses]]
id = "42"
name = "Tiny Co"
people = [{ id = "1001", name = "Ada", email = "ada@tiny.example", role = "ADMIN" }]

[[tokens]]
token = "EAAtiny"
label = "tiny"
app_id = "1"
user_id = "1001"
business_id = "42"
scopes = ["business_management"]

[sandbox]
require_appsecret_proof = true
rate_limit = { business_budget = 10, window_ms = 60000 }
faults = { error_rates = [{ endpoint = "GET business_users", rate = 1.0, code = 2 }] }
"#;

#[tokio::test]
async fn a_seed_file_sets_rate_limits_proof_and_faults_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, SETTINGS_SEED).expect("write");
    let seed = Seed::from_path(&path).expect("seed");
    let config = seed
        .sandbox
        .apply(hubbridge::sandbox::SandboxConfig::default())
        .expect("settings");
    let bad = hubbridge::sandbox::seed::SeedSettings {
        rate_limit: hubbridge::sandbox::seed::SeedRateLimit {
            business_budget: Some(0),
            ..Default::default()
        },
        ..Default::default()
    }
    .apply(Default::default());

    assert!(config.require_appsecret_proof);
    assert_eq!(config.rate_limit.business_budget, 10);
    assert_eq!(config.rate_limit.window, Duration::from_secs(60));
    assert_eq!(config.faults.error_rates.len(), 1);
    assert!(bad.is_err());
    let typo = Seed::from_path(&{
        let p = dir.path().join("typo.toml");
        std::fs::write(&p, "[sandbox]\nrequire_apsecret_proof = true\n").expect("write");
        p
    });
    assert!(typo.is_err(), "unknown settings are refused, not ignored");
}

#[test]
fn the_sandbox_command_starts_with_the_seed_settings_and_flags() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, SETTINGS_SEED).expect("write");
    let faults = dir.path().join("faults.json");
    std::fs::write(&faults, r#"{"restricted_businesses": ["42"]}"#).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hubbridge"))
        .args(["sandbox", "--port", "0", "--seed"])
        .arg(&seed)
        .args(["--business-budget", "3", "--faults"])
        .arg(&faults)
        .env("HUBBRIDGE__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("Graph URL:")
                .map(|u| u.trim().to_string())
        })
        .expect("the Graph URL is printed");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let answers: Vec<(u16, Value)> = rt.block_on(async {
        let http = reqwest::Client::new();
        let good = proof("s", "EAAtiny");
        let mut out = Vec::new();
        for q in [String::new(), format!("&appsecret_proof={good}")] {
            for _ in 0..2 {
                let resp = http
                    .get(format!("{url}42?fields=id{q}"))
                    .bearer_auth("EAAtiny")
                    .send()
                    .await
                    .expect("call");
                let status = resp.status().as_u16();
                out.push((status, resp.json().await.unwrap_or(Value::Null)));
            }
        }
        let invite = http
            .post(format!("{url}42/business_users"))
            .bearer_auth("EAAtiny")
            .form(&[
                ("email", "x@tiny.example"),
                ("appsecret_proof", good.as_str()),
            ])
            .send()
            .await
            .expect("invite");
        let status = invite.status().as_u16();
        out.push((status, invite.json().await.unwrap_or(Value::Null)));
        let over = http
            .get(format!("{url}42?fields=id&appsecret_proof={good}"))
            .bearer_auth("EAAtiny")
            .send()
            .await
            .expect("call");
        let status = over.status().as_u16();
        out.push((status, over.json().await.unwrap_or(Value::Null)));
        out
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    // Seed: the proof is required (refused calls are not counted).
    assert_eq!(answers[0].1["error"]["code"], 100, "{:?}", answers[0]);
    assert_eq!(answers[1].1["error"]["code"], 100, "{:?}", answers[1]);
    assert_eq!((answers[2].0, answers[3].0), (200, 200), "{answers:?}");
    // --faults: the business is under the new-system-user restriction from the start.
    assert_eq!(answers[4].1["error"]["code"], 200, "{:?}", answers[4]);
    assert!(answers[4].1["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("can't manage people yet")));
    // --business-budget 3 overrides the seed's 10: the fourth counted call is refused.
    assert_eq!(answers[5].1["error"]["code"], 613, "{:?}", answers[5]);
}
