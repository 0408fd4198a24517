//! The admin API (`/admin/v1`): JWT authentication and roles, problem+json errors, hubs,
//! grants and the task log, and the OpenAPI document built from the same route table as
//! the router.

use hubbridge::sandbox::demo_ids;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both;

fn connect_body(token: &str) -> Value {
    json!({"label": "Acme", "business_id": demo_ids::BUSINESS_ID, "app_id": demo_ids::APP_ID,
           "access_token": token, "app_secret": demo_ids::APP_SECRET, "login_method": "sso"})
}

both!(
    admin_requests_need_a_valid_token_and_an_allowed_role,
    |app| async move {
        let url = format!("{}/admin/v1/hubs", app.base);
        let r = app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("www-authenticate").is_some());
        assert_eq!(
            r.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "/problems/unauthorized");
        assert_eq!(body["status"], 401);
        // A SCIM token is not an admin token; a token signed with another secret neither.
        let (status, _) = app.admin(&app.token, Method::GET, "/hubs", None).await;
        assert_eq!(status, 401);
        let forged = {
            let settings = hubbridge::config::AdminSettings {
                jwt_secret: hubbridge::crypto::Secret::new("another-secret-of-at-least-32-bytes"),
                jwt_issuer: String::new(),
                jwt_audience: String::new(),
                jwks_file: String::new(),
            };
            hubbridge::admin::auth::mint(
                &settings,
                "eve",
                hubbridge::admin::auth::WorkspaceRole::Owner,
                None,
                std::time::Duration::from_secs(60),
            )
            .unwrap()
        };
        assert_eq!(app.admin(&forged, Method::GET, "/hubs", None).await.0, 401);
        let guest = app.admin_token("guest@example.com", "guest");
        let (status, body) = app.admin(&guest, Method::GET, "/hubs", None).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (403, Some("/problems/forbidden"))
        );
        let owner = app.admin_token("root@example.com", "owner");
        let (status, body) = app.admin(&owner, Method::GET, "/hubs", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"data": [], "next_cursor": null}));
        let (status, body) = app.admin(&owner, Method::GET, "/nowhere", None).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (404, Some("/problems/not-found"))
        );
    }
);

both!(
    every_documented_route_is_served_and_every_served_route_documented,
    |app| async move {
        let owner = app.admin_token("root@example.com", "owner");
        let (status, doc) = app.admin(&owner, Method::GET, "/openapi.json", None).await;
        assert_eq!(status, 200);
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, ops) in paths {
            for (method, _) in ops.as_object().unwrap() {
                documented += 1;
                let concrete = path
                    .trim_start_matches("/admin/v1")
                    .replace("{hub_id}", "h")
                    .replace("{grant_id}", "g")
                    .replace("{task_id}", "t")
                    .replace("{member_id}", "m")
                    .replace("{token_id}", "k");
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let body = (m == Method::POST).then(|| json!({}));
                let (status, answer) = app.admin(&owner, m, &concrete, body).await;
                let no_route = answer["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("no admin API route"));
                assert!(
                    !no_route && status != 405,
                    "{method} {path} is documented but not served: {status} {answer}"
                );
            }
        }
        assert_eq!(documented, hubbridge::admin::ROUTES.len());
        // A method the document does not list is not served.
        let (status, _) = app.admin(&owner, Method::DELETE, "/hubs", None).await;
        assert_eq!(status, 405);
    }
);

both!(
    a_hub_connected_and_granted_over_the_admin_api_invites_through_the_log,
    |app| async move {
        let alice = app.admin_token("alice@example.com", "admin");
        // A token lacking scopes: 422 naming them, and never the token.
        let (status, body) = app
            .admin(
                &alice,
                Method::POST,
                "/hubs",
                Some(connect_body(demo_ids::EXPIRED_TOKEN)),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(!body.to_string().contains(demo_ids::EXPIRED_TOKEN));
        let (status, body) = app
            .admin(&alice, Method::POST, "/hubs", Some(json!({"label": "x"})))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], "business_id", "{body}");

        let (status, hub) = app
            .admin(
                &alice,
                Method::POST,
                "/hubs",
                Some(connect_body(demo_ids::HUB_TOKEN)),
            )
            .await;
        assert_eq!(status, 201, "{hub}");
        assert_eq!(hub["owner"], "alice@example.com");
        assert_eq!(hub["status"], "active");
        assert_eq!(hub["business_name"], "Acme Corp");
        assert_eq!(hub["safeguard"]["percent"], 20);
        assert!(!hub.to_string().contains(demo_ids::HUB_TOKEN), "{hub}");
        assert!(!hub.to_string().contains(demo_ids::APP_SECRET), "{hub}");
        let hub_id = hub["id"].as_str().unwrap().to_string();

        // Bob, another admin, neither sees nor manages Alice's hub; the workspace owner does.
        let bob = app.admin_token("bob@example.com", "admin");
        let (_, list) = app.admin(&bob, Method::GET, "/hubs", None).await;
        assert_eq!(list["data"], json!([]));
        let (status, _) = app
            .admin(&bob, Method::GET, &format!("/hubs/{hub_id}"), None)
            .await;
        assert_eq!(status, 403);
        let root = app.admin_token("root@example.com", "super_admin");
        let (_, list) = app.admin(&root, Method::GET, "/hubs", None).await;
        assert_eq!(list["data"][0]["id"], hub_id.as_str());

        let ada = app.create_user("ada@example.com").await;
        let ada_id = ada["id"].as_str().unwrap();
        let team = app.create_group("Team", &[ada_id]).await;
        let team_id = team["id"].as_str().unwrap();
        let (status, body) = app
            .admin(
                &alice,
                Method::POST,
                &format!("/hubs/{hub_id}/grants"),
                Some(json!({"group_id": "nope", "hub_role": "collaborator", "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], "group_id", "{body}");
        let (status, grant) = app
            .admin(
                &alice,
                Method::POST,
                &format!("/hubs/{hub_id}/grants"),
                Some(json!({"group_id": team_id, "hub_role": "collaborator", "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 201, "{grant}");
        assert_eq!(
            grant["grantee"],
            json!({"type": "group", "id": team_id, "display": "Team"})
        );
        let (_, grants) = app
            .admin(&alice, Method::GET, &format!("/hubs/{hub_id}/grants"), None)
            .await;
        assert_eq!(grants["data"].as_array().unwrap().len(), 1);

        // The grant queued Ada's reconcile; the log shows it, then its Graph calls.
        let (_, log) = app
            .admin(
                &alice,
                Method::GET,
                &format!("/tasks?hub_id={hub_id}&status=pending&kind=reconcile_member"),
                None,
            )
            .await;
        let tasks = log["data"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{log}");
        assert_eq!(tasks[0]["kind"], "reconcile_member");
        assert_eq!(tasks[0]["subject"]["user_id"], ada_id);
        assert_eq!(tasks[0]["trigger"], "admin");
        let task_id = tasks[0]["id"].as_str().unwrap().to_string();
        app.run_pending_tasks().await;
        let (status, task) = app
            .admin(&alice, Method::GET, &format!("/tasks/{task_id}"), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(task["status"], "completed");
        let calls = task["changes"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{task}");
        assert!(
            calls[0]["call"]
                .as_str()
                .unwrap()
                .starts_with(&format!("POST /{}/business_users", demo_ids::BUSINESS_ID)),
            "{task}"
        );
        assert_eq!(calls[0]["outcome"], "ok");
        let (_, hub) = app
            .admin(&alice, Method::GET, &format!("/hubs/{hub_id}"), None)
            .await;
        assert_eq!(hub["counts"]["onboarded"], 1, "{hub}");
        // Bob cannot read Alice's task.
        let (status, _) = app
            .admin(&bob, Method::GET, &format!("/tasks/{task_id}"), None)
            .await;
        assert_eq!(status, 404);
    }
);

both!(lists_page_with_cursors, |app| async move {
    let root = app.admin_token("root@example.com", "owner");
    let hub = app.connect_demo_hub().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let g = app.create_group(&format!("G{i}"), &[]).await;
        let (status, grant) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": g["id"], "hub_role": "collaborator", "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(grant["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/hubs/{}/grants?limit=2", hub.id),
            Some(c) => format!("/hubs/{}/grants?limit=2&cursor={c}", hub.id),
        };
        let (status, page) = app.admin(&root, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        for g in page["data"].as_array().unwrap() {
            seen.push(g["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (status, body) = app
        .admin(&root, Method::GET, "/tasks?limit=501", None)
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("limit"))
    );
    let (status, _) = app
        .admin(&root, Method::GET, "/tasks?cursor=garbage", None)
        .await;
    assert_eq!(status, 422);
});

both!(
    a_grant_plan_shows_the_calls_and_applies_nothing,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let id = |v: &Value| v["id"].as_str().unwrap().to_string();
        let ada = id(&app.create_user("ada@example.com").await);
        let bob = id(&app.create_user("bob@example.com").await);
        let team = id(&app.create_group("Team", &[&ada, &bob]).await);
        let plan = |body: Value| {
            let (app, root, hub) = (&app, &root, &hub);
            async move {
                app.admin(
                    root,
                    Method::POST,
                    &format!("/hubs/{}/grants/plan", hub.id),
                    Some(body),
                )
                .await
            }
        };
        let create = json!({"group_id": team, "hub_role": "collaborator",
                            "business_role": "EMPLOYEE"});
        let posts = format!("/{}/business_users", demo_ids::BUSINESS_ID);

        let (status, planned) = plan(create.clone()).await;

        assert_eq!(status, 200, "{planned}");
        assert_eq!(planned["summary"]["reached"], 2, "{planned}");
        assert_eq!(planned["summary"]["invite"], 2, "{planned}");
        let people = planned["people"].as_array().unwrap();
        assert_eq!(people[0]["email"], "ada@example.com");
        assert_eq!(people[0]["action"], "invite");
        assert_eq!(
            people[0]["calls"],
            json!([format!(
                "POST /{}/business_users role=EMPLOYEE",
                demo_ids::BUSINESS_ID
            )])
        );
        assert!(app.run_pending_tasks().await.is_empty(), "nothing queued");
        let (_, grants) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/grants", hub.id),
                None,
            )
            .await;
        assert_eq!(grants["data"], json!([]), "nothing granted");
        assert_eq!(app.sandbox.calls("POST", &posts).await, 0);

        // Granted for real: a planned upgrade changes the invitations' role, a planned delete
        // cancels them; neither happens.
        let (status, grant) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(create),
            )
            .await;
        assert_eq!(status, 201);
        app.run_pending_tasks().await;
        let grant_id = id(&grant);
        let (status, upgrade) =
            plan(json!({"grant_id": grant_id, "change": {"business_role": "ADMIN"}})).await;
        assert_eq!(status, 200, "{upgrade}");
        assert_eq!(upgrade["summary"]["change"], 2, "{upgrade}");
        assert!(upgrade["people"][1]["calls"][0]
            .as_str()
            .is_some_and(|c| c.ends_with("role=ADMIN")));
        let (status, removal) = plan(json!({"grant_id": grant_id, "delete": true})).await;
        assert_eq!(status, 200, "{removal}");
        assert_eq!(removal["summary"]["remove"], 2, "{removal}");
        assert!(removal["people"][0]["calls"][0]
            .as_str()
            .is_some_and(|c| c.starts_with("DELETE /")));
        let (status, same) = plan(json!({"grant_id": grant_id, "change": {}})).await;
        assert_eq!(status, 200);
        assert_eq!(same["summary"]["unchanged"], 2, "{same}");
        assert_eq!(same["people"], json!([]));
        assert!(app.run_pending_tasks().await.is_empty(), "nothing queued");
        assert_eq!(app.sandbox.calls("POST", &posts).await, 2);
        let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
        let roles: Vec<&Value> = state["business"]["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["email"] == "ada@example.com" || i["email"] == "bob@example.com")
            .map(|i| &i["role"])
            .collect();
        assert_eq!(roles, vec!["EMPLOYEE", "EMPLOYEE"]);

        // Bad plans name the problem.
        let (status, problem) = plan(json!({"grant_id": "nope", "delete": true})).await;
        assert_eq!(status, 404, "{problem}");
        let (status, problem) = plan(json!({"grant_id": grant_id, "delete": false})).await;
        assert_eq!(status, 422, "{problem}");
        let (status, problem) = plan(json!({"grant_id": grant_id})).await;
        assert_eq!(status, 422, "{problem}");
        let (status, problem) = plan(json!({"group_id": "no-such-group", "hub_role": "owner",
                                            "business_role": "ADMIN"}))
        .await;
        assert_eq!(status, 422, "{problem}");
        assert!(problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("group_id"));
    }
);

const JWKS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks");

/// A token signed with a test key of tests/fixtures/jwks (`kid` in its header when given).
fn signed(alg: jsonwebtoken::Algorithm, key_file: &str, kid: Option<&str>, role: &str) -> String {
    let pem = std::fs::read(format!("{JWKS_DIR}/{key_file}")).expect("test key");
    let key = match alg {
        jsonwebtoken::Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        _ => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
    }
    .expect("test key parses");
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_string);
    let claims = json!({"sub": "idp-admin@example.com", "role": role,
                        "exp": chrono::Utc::now().timestamp() + 600});
    jsonwebtoken::encode(&header, &claims, &key).expect("signs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_signed_with_a_jwks_key_are_accepted_and_others_refused() {
    use jsonwebtoken::Algorithm::{ES256, RS256};
    let app = crate::helpers::TestApp::spawn_with(crate::helpers::Db::Sqlite, |s| {
        s.admin.jwks_file = format!("{JWKS_DIR}/jwks.json");
    })
    .await;
    let status = |token: String| {
        let app = &app;
        async move { app.admin(&token, Method::GET, "/hubs", None).await.0 }
    };
    let unsigned = {
        use base64::Engine as _;
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let claims =
            json!({"sub": "x", "role": "owner", "exp": chrono::Utc::now().timestamp() + 600});
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims)
        )
    };

    let accepted = [
        status(signed(ES256, "test-only-ec.pem", Some("ec-1"), "admin")).await,
        status(signed(RS256, "test-only-rsa.pem", Some("rsa-1"), "admin")).await,
        // Without a kid: the only key of that algorithm.
        status(signed(ES256, "test-only-ec.pem", None, "admin")).await,
        // HS256 with admin.jwt_secret still works beside the JWKS.
        status(app.admin_token("root@example.com", "owner")).await,
    ];
    let refused = [
        status(signed(
            ES256,
            "test-only-stranger-ec.pem",
            Some("ec-1"),
            "admin",
        ))
        .await,
        status(signed(
            ES256,
            "test-only-ec.pem",
            Some("no-such-kid"),
            "admin",
        ))
        .await,
        status(signed(RS256, "test-only-rsa.pem", Some("ec-1"), "admin")).await,
        status(unsigned).await,
    ];
    let guest = status(signed(ES256, "test-only-ec.pem", Some("ec-1"), "guest")).await;

    assert_eq!(accepted, [200, 200, 200, 200]);
    assert_eq!(refused, [401, 401, 401, 401]);
    assert_eq!(guest, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_file_with_an_unusable_key_stops_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        json!({"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}]}).to_string(),
    )
    .unwrap();
    let mut settings = hubbridge::config::Settings::load(None).expect("base settings");
    settings.server.port = 0;
    settings.database.url = dir.path().join("t.db").to_string_lossy().into_owned();
    settings.admin.jwks_file = path.to_string_lossy().into_owned();

    let err = hubbridge::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");

    let text = format!("{err:#}");
    assert!(
        text.contains("admin.jwks_file") && text.contains("shared"),
        "{text}"
    );
}

both!(
    scim_tokens_are_issued_listed_and_revoked_by_workspace_owners,
    |app| async move {
        let root = app.admin_token("root@example.com", "owner");
        let user = app.admin_token("someone@example.com", "admin");
        let scim_users = |token: String| {
            let app = &app;
            async move {
                app.client
                    .get(app.url("/Users"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };

        let (status, issued) = app
            .admin(
                &root,
                Method::POST,
                "/scim-tokens",
                Some(json!({"name": "Entra"})),
            )
            .await;
        assert_eq!(status, 201, "{issued}");
        let secret = issued["token"]
            .as_str()
            .expect("the token, this once")
            .to_string();
        let token_id = issued["id"].as_str().unwrap().to_string();
        assert_eq!(issued["name"], "Entra");
        assert_eq!(scim_users(secret.clone()).await, 200);
        let (status, list) = app.admin(&root, Method::GET, "/scim-tokens", None).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, ["tests", "Entra"], "the CLI's token and this one");
        assert!(!list.to_string().contains(&secret), "never listed");

        // Revoked here: refused at once, though the SCIM edge had it cached.
        let (status, _) = app
            .admin(
                &root,
                Method::DELETE,
                &format!("/scim-tokens/{token_id}"),
                None,
            )
            .await;
        assert_eq!(status, 204);
        assert_eq!(scim_users(secret).await, 401);
        let (_, list) = app.admin(&root, Method::GET, "/scim-tokens", None).await;
        assert!(list["data"][1]["revoked_at"].is_string(), "{list}");

        let refused = [
            app.admin(&user, Method::GET, "/scim-tokens", None).await.0,
            app.admin(
                &user,
                Method::POST,
                "/scim-tokens",
                Some(json!({"name": "x"})),
            )
            .await
            .0,
            app.admin(
                &user,
                Method::DELETE,
                &format!("/scim-tokens/{token_id}"),
                None,
            )
            .await
            .0,
        ];
        assert_eq!(refused, [403, 403, 403]);
        let (status, problem) = app
            .admin(
                &root,
                Method::POST,
                "/scim-tokens",
                Some(json!({"name": " "})),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        let (status, problem) = app
            .admin(
                &root,
                Method::POST,
                "/scim-tokens",
                Some(json!({"name": "x", "token": "mine"})),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        let (status, _) = app
            .admin(&root, Method::DELETE, "/scim-tokens/no-such-token", None)
            .await;
        assert_eq!(status, 404);
        let (_, list) = app.admin(&root, Method::GET, "/scim-tokens", None).await;
        assert_eq!(
            list["data"].as_array().unwrap().len(),
            2,
            "nothing written by the refusals"
        );
    }
);
