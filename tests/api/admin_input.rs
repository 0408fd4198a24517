//! Bad input on every admin route: malformed JSON, a body that is not an object, an
//! oversized body, missing fields, wrong types, unknown enum values and unknown ids are
//! answered with problem+json, and nothing is written.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::TestApp;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// A body each route accepts (as far as its shape goes), and its bad variants: a field
/// left out, or set to a value of the wrong type or outside its enum.
fn shapes(path: &str, user: &str, group: &str) -> Option<(Value, Vec<(&'static str, Value)>)> {
    let grant = json!({"group_id": group, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                       "assets": []});
    let grant_bad = vec![
        ("hub_role", Value::Null),
        ("business_role", Value::Null),
        ("hub_role", json!("emperor")),
        ("business_role", json!("OVERLORD")),
        ("business_role", json!(7)),
        ("assets", json!("all")),
        ("assets", json!([{"asset_id": "1", "tasks": ["WIZARDRY"]}])),
        ("group_id", json!(["x"])),
    ];
    Some(match path {
        "/hubs" => (
            json!({"label": "Acme", "business_id": "1", "app_id": "2", "access_token": "t",
                   "login_method": "sso"}),
            vec![
                ("label", Value::Null),
                ("business_id", Value::Null),
                ("app_id", Value::Null),
                ("access_token", Value::Null),
                ("label", json!(5)),
                ("login_method", json!("carrier-pigeon")),
                ("sync_interval_hours", json!("daily")),
                ("safeguard", json!("strict")),
            ],
        ),
        "/hubs/{hub_id}" => (
            json!({"label": "Renamed"}),
            vec![
                ("label", json!(5)),
                ("login_method", json!("carrier-pigeon")),
                ("sync_interval_hours", json!("daily")),
                ("sync_interval_hours", json!(-1)),
                ("safeguard", json!({"percent": "most"})),
                ("safeguard", json!({"percent": 500})),
            ],
        ),
        "/hubs/{hub_id}/grants" | "/hubs/{hub_id}/grants/plan" => (grant, grant_bad),
        "/hubs/{hub_id}/grants/{grant_id}" => (
            json!({"business_role": "ADMIN"}),
            vec![
                ("business_role", json!("OVERLORD")),
                ("hub_role", json!(5)),
                ("assets", json!({"a": 1})),
            ],
        ),
        "/hubs/{hub_id}/members/{member_id}/match" => (
            json!({"user_id": user, "hub_role": "collaborator"}),
            vec![
                ("user_id", Value::Null),
                ("hub_role", Value::Null),
                ("hub_role", json!("emperor")),
                ("user_id", json!(12)),
            ],
        ),
        "/hubs/{hub_id}/members/{member_id}/exempt" => (
            json!({"reason": "contractor"}),
            vec![("reason", Value::Null), ("reason", json!(12))],
        ),
        "/hubs/{hub_id}/claim-owner" => (
            json!({"member_id": "m"}),
            vec![("member_id", Value::Null), ("member_id", json!(true))],
        ),
        "/guests" => (
            json!({"name": "Gus", "email": "gus@partner.example"}),
            vec![
                ("name", Value::Null),
                ("email", Value::Null),
                ("email", json!(3)),
                ("email", json!("no-at-sign")),
                ("partner_business_id", json!("not-digits")),
            ],
        ),
        "/scim-tokens" => (
            json!({"name": "okta"}),
            vec![("name", Value::Null), ("name", json!({"n": 1}))],
        ),
        _ => return None,
    })
}

/// Everything the admin API shows of the workspace, to see that nothing was written.
async fn fingerprint(app: &TestApp, root: &str, hub: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        format!("/hubs/{hub}"),
        format!("/hubs/{hub}/grants?limit=500"),
        format!("/hubs/{hub}/members?limit=500"),
        "/guests?limit=500".to_string(),
        "/scim-tokens?limit=500".to_string(),
        "/tasks?limit=500".to_string(),
    ] {
        let (status, body) = app.admin(root, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        all.push(body);
    }
    all
}

async fn raw(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Option<String>, String) {
    let resp = app
        .client
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}/admin/v1{path}", app.base),
        )
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ctype, resp.text().await.unwrap_or_default())
}

/// What is wrong with an answer to a bad request, if anything.
fn verdict(
    what: String,
    (status, ctype, text): (u16, Option<String>, String),
    ok: &[u16],
) -> Option<String> {
    let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let good = ok.contains(&status)
        && ctype.as_deref() == Some("application/problem+json")
        && problem["status"] == status
        && problem["detail"].is_string();
    (!good).then(|| format!("{what}: {status} {ctype:?} {text}"))
}

both!(
    bad_input_on_every_admin_route_is_a_problem_and_writes_nothing,
    |app| async move {
        let w = app.workspace().await;
        let (hub, root, group) = (&w.hub, &w.root, &w.group);
        let (grant, task, guest, token) = (&w.grant, &w.task, &w.guest, &w.scim_token);
        let user = id(&app.create_user("dana@corp.example").await);
        let (_, list) = app
            .admin(
                root,
                Method::GET,
                &format!("/hubs/{}/members", hub.id),
                None,
            )
            .await;
        let member = id(&list["data"][0]);
        let fill = |template: &str, unknown: &[&str]| {
            let mut p = template.to_string();
            for (param, value) in [
                ("{hub_id}", hub.id.clone()),
                ("{member_id}", member.clone()),
                ("{grant_id}", id(grant)),
                ("{task_id}", task.clone()),
                ("{guest_id}", id(guest)),
                ("{token_id}", id(token)),
            ] {
                let v = if unknown.contains(&param) {
                    "does-not-exist".to_string()
                } else {
                    value
                };
                p = p.replace(param, &v);
            }
            p
        };
        let before = fingerprint(&app, root, &hub.id).await;

        let mut wrong = Vec::new();
        let mut tried = 0;
        let mut check = |what: String, got: (u16, Option<String>, String), ok: &[u16]| {
            tried += 1;
            wrong.extend(verdict(what, got, ok));
        };
        for r in hubbridge::admin::ROUTES {
            // Unknown ids: each path parameter in turn, the others real.
            let params: Vec<&str> = [
                "{hub_id}",
                "{member_id}",
                "{grant_id}",
                "{task_id}",
                "{guest_id}",
                "{token_id}",
            ]
            .into_iter()
            .filter(|p| r.path.contains(p))
            .collect();
            let body = shapes(r.path, &user, group).map(|(b, _)| b);
            for p in &params {
                let path = fill(r.path, &[p]);
                let bytes = body
                    .as_ref()
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default();
                let got = raw(&app, root, r.method, &path, bytes).await;
                check(
                    format!("{} {} with {p} unknown", r.method, r.path),
                    got,
                    &[404],
                );
            }
            let Some((valid, bad)) = shapes(r.path, &user, group) else {
                continue;
            };
            if r.method == "GET" || r.method == "DELETE" {
                continue;
            }
            let path = fill(r.path, &[]);
            let name = |what: &str| format!("{} {} {what}", r.method, r.path);
            for (what, bytes) in [
                ("malformed JSON", b"{\"label\": ".to_vec()),
                ("not JSON", b"label=x".to_vec()),
                ("an array", b"[]".to_vec()),
                ("a number", b"42".to_vec()),
                ("empty", Vec::new()),
            ] {
                let got = raw(&app, root, r.method, &path, bytes).await;
                check(name(what), got, &[400, 422]);
            }
            let mut huge = valid.clone();
            huge["padding"] = json!("x".repeat(2 << 20));
            let got = raw(&app, root, r.method, &path, huge.to_string().into_bytes()).await;
            check(name("2 MiB body"), got, &[413]);
            for (field, value) in bad {
                let mut body = valid.clone();
                if value.is_null() {
                    body.as_object_mut().unwrap().remove(field);
                } else {
                    body[field] = value.clone();
                }
                let got = raw(&app, root, r.method, &path, body.to_string().into_bytes()).await;
                let what = if value.is_null() {
                    format!("without {field}")
                } else {
                    format!("with {field} = {value}")
                };
                let got = if got.2.contains(field) {
                    got
                } else {
                    (
                        0,
                        None,
                        format!("the problem does not name {field}: {}", got.2),
                    )
                };
                check(name(&what), got, &[400, 422]);
            }
        }
        for query in [
            "/tasks?status=bogus",
            "/tasks?kind=bogus",
            "/tasks?since=yesterday",
            "/tasks?limit=0",
            "/tasks?limit=many",
            "/tasks?cursor=%%%",
            "/hubs?limit=100000",
        ] {
            let got = raw(&app, root, "GET", query, Vec::new()).await;
            check(format!("GET {query}"), got, &[400, 422]);
        }
        let members = format!("/hubs/{}/members?state=bogus", hub.id);
        let got = raw(&app, root, "GET", &members, Vec::new()).await;
        check(format!("GET {members}"), got, &[400, 422]);
        assert!(
            wrong.is_empty(),
            "{} of {tried} bad requests were not answered as they should:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        assert!(tried >= 150, "every route tried: {tried}");
        assert_eq!(
            fingerprint(&app, root, &hub.id).await,
            before,
            "nothing written"
        );
    }
);
