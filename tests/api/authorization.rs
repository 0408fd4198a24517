//! Who may call what: every admin route × every kind of caller, each with its expected
//! status. The table is keyed by the route table the router is built from
//! (`hubbridge::admin::ROUTES`), so a route added later without an entry here fails.

use hubbridge::admin::auth::{Claims, WorkspaceRole};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::{TestApp, TEST_JWT_SECRET};

/// Who a route lets in.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Any role that may use the admin API (lists scoped to what the caller may see).
    Anyone,
    /// Workspace owners and super admins only.
    Workspace,
    /// A hub's route: its managers change it, its collaborators read it, others 403.
    Hub,
    /// A task's route: like its hub's, except that a caller who cannot see the hub gets 404.
    Task,
    /// Guests: anyone reads; workspace owners, super admins and hub owners change them.
    Guests,
}

/// The rule of every served route. A route missing here fails the test.
fn rule(method: &str, path: &str) -> Option<Rule> {
    Some(match (method, path) {
        ("GET", "/openapi.json") | ("GET" | "POST", "/hubs") | ("GET", "/tasks") => Rule::Anyone,
        ("GET" | "POST", "/scim-tokens") | ("DELETE", "/scim-tokens/{token_id}") => Rule::Workspace,
        ("GET" | "POST", "/guests") | ("DELETE", "/guests/{guest_id}") => Rule::Guests,
        (_, p) if p.starts_with("/hubs/{hub_id}") => Rule::Hub,
        (_, p) if p.starts_with("/tasks/{task_id}") => Rule::Task,
        _ => return None,
    })
}

/// The kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Expired,
    WrongSignature,
    /// `guest` and `login_only`: refused everywhere.
    Refused(&'static str),
    /// Workspace `owner` / `super_admin`.
    WorkspaceAdmin(&'static str),
    /// The admin (role `admin`) who connected the hub.
    Connector,
    /// Role `user`, an owner of the hub through a matched member.
    HubOwner,
    /// Role `user`, a collaborator of the hub through a matched member.
    HubCollaborator,
    /// Role `admin` or `user`, nothing to do with the hub.
    Stranger(&'static str),
}

/// What a call should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Status(u16),
    /// Let in: for a `GET` exactly 200; for a change anything but 401, 403 and a 5xx (the
    /// body, the resource's state or an earlier row's change decides the rest).
    LetIn,
}

fn expect(rule: Rule, caller: Caller, method: &str) -> Expect {
    use Caller::*;
    let read = method == "GET";
    match caller {
        NoToken | Expired | WrongSignature => return Expect::Status(401),
        Refused(_) => return Expect::Status(403),
        WorkspaceAdmin(_) => return Expect::LetIn,
        _ => {}
    }
    let manager = matches!(caller, Connector | HubOwner);
    match rule {
        Rule::Anyone => Expect::LetIn,
        Rule::Workspace => Expect::Status(403),
        Rule::Guests if read || manager => Expect::LetIn,
        Rule::Guests => Expect::Status(403),
        Rule::Hub | Rule::Task if manager || (read && caller == HubCollaborator) => Expect::LetIn,
        Rule::Hub | Rule::Task if caller == HubCollaborator => Expect::Status(403),
        Rule::Task => Expect::Status(404),
        Rule::Hub => Expect::Status(403),
    }
}

fn token(caller: Caller) -> Option<String> {
    let (sub, role, secret, exp) = match caller {
        Caller::NoToken => return None,
        Caller::Expired => ("root@example.com", "owner", TEST_JWT_SECRET, -3600),
        Caller::WrongSignature => (
            "root@example.com",
            "owner",
            "another-secret-that-is-32-bytes-long",
            600,
        ),
        Caller::Refused(role) => ("someone@example.com", role, TEST_JWT_SECRET, 600),
        Caller::WorkspaceAdmin(role) => ("root@example.com", role, TEST_JWT_SECRET, 600),
        Caller::Connector => ("admin@example.com", "admin", TEST_JWT_SECRET, 600),
        Caller::HubOwner => ("olga@corp.example", "user", TEST_JWT_SECRET, 600),
        Caller::HubCollaborator => ("carl@corp.example", "user", TEST_JWT_SECRET, 600),
        Caller::Stranger(role) => ("sam@corp.example", role, TEST_JWT_SECRET, 600),
    };
    let role: WorkspaceRole = serde_json::from_value(json!(role)).expect("a role");
    let claims = Claims {
        sub: sub.into(),
        role,
        email: None,
        exp: chrono::Utc::now().timestamp() + exp,
        iss: None,
        aud: None,
    };
    Some(
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token"),
    )
}

const CALLERS: [Caller; 12] = [
    Caller::NoToken,
    Caller::Expired,
    Caller::WrongSignature,
    Caller::Refused("guest"),
    Caller::Refused("login_only"),
    Caller::WorkspaceAdmin("owner"),
    Caller::WorkspaceAdmin("super_admin"),
    Caller::Connector,
    Caller::HubOwner,
    Caller::HubCollaborator,
    Caller::Stranger("admin"),
    Caller::Stranger("user"),
];

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn call(
    app: &TestApp,
    caller: Caller,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = app
        .client
        .request(method, format!("{}/admin/v1{path}", app.base));
    if let Some(t) = token(caller) {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let resp = r.send().await.expect("admin request");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

both!(
    every_admin_route_answers_every_kind_of_caller_as_the_table_says,
    |app| async move {
        // A hub with an owner and a collaborator through members, a grant, a task, a
        // guest and a SCIM token, so that every route has something to act on.
        let w = app.workspace().await;
        let (hub, root) = (&w.hub, &w.root);
        let (_, list) = app
            .admin(
                root,
                Method::GET,
                &format!("/hubs/{}/members?state=unmatched", hub.id),
                None,
            )
            .await;
        let seats: Vec<String> = list["data"].as_array().unwrap().iter().map(id).collect();
        assert!(seats.len() >= 3, "{list}");
        for (seat, address, role) in [
            (&seats[0], "olga@corp.example", "owner"),
            (&seats[1], "carl@corp.example", "collaborator"),
        ] {
            app.match_to_new_user(root, &hub.id, seat, address, role)
                .await;
        }
        let dana = id(&app.create_user("dana@corp.example").await);
        let grant_body = w.grant_body.clone();
        let (grant, task, guest, scim) = (&w.grant, &w.task, &w.guest, &w.scim_token);
        let fill = |template: &str| {
            template
                .replace("{hub_id}", &hub.id)
                .replace("{member_id}", &seats[2])
                .replace("{grant_id}", &id(grant))
                .replace("{task_id}", task)
                .replace("{guest_id}", &id(guest))
                .replace("{token_id}", &id(scim))
        };
        let body = |method: &str, template: &str, n: usize| -> Option<Value> {
            Some(match (method, template) {
                ("GET" | "DELETE", _) => return None,
                ("POST", "/hubs") => json!({}),
                ("PATCH", "/hubs/{hub_id}") => json!({"label": "Renamed"}),
                (_, "/hubs/{hub_id}/members/{member_id}/match") => {
                    json!({"user_id": dana, "hub_role": "collaborator"})
                }
                (_, "/hubs/{hub_id}/members/{member_id}/exempt") => json!({"reason": "audit"}),
                (_, "/hubs/{hub_id}/claim-owner") => json!({"member_id": seats[2]}),
                (_, "/hubs/{hub_id}/grants" | "/hubs/{hub_id}/grants/plan") => grant_body.clone(),
                ("PATCH", "/hubs/{hub_id}/grants/{grant_id}") => {
                    json!({"business_role": "ADMIN"})
                }
                (_, "/guests") => json!({"name": "G", "email": format!("g{n}@partner.example")}),
                (_, "/scim-tokens") => json!({"name": format!("t{n}")}),
                _ => return None,
            })
        };

        // Every cell of the table; refusals first (they change nothing, which the let-ins
        // after them then see), the let-ins route by route in the table's order, with the
        // hub's disconnect last.
        let mut cells = Vec::new();
        for r in hubbridge::admin::ROUTES {
            let Some(rule) = rule(r.method, r.path) else {
                panic!(
                    "{} {} has no entry in the authorization table",
                    r.method, r.path
                );
            };
            for caller in CALLERS {
                cells.push((r.method, r.path, caller, expect(rule, caller, r.method)));
            }
        }
        cells.sort_by_key(|&(method, path, _, e)| {
            (
                e == Expect::LetIn,
                (method, path) == ("DELETE", "/hubs/{hub_id}"),
            )
        });
        let mut wrong = Vec::new();
        let refusals = cells.iter().filter(|c| c.3 != Expect::LetIn).count();
        for (n, (method, template, caller, expected)) in cells.iter().enumerate() {
            if n == refusals {
                // The refusals changed nothing.
                let (_, h) = app
                    .admin(root, Method::GET, &format!("/hubs/{}", hub.id), None)
                    .await;
                assert_eq!(
                    (&h["label"], &h["status"]),
                    (&json!("Demo"), &json!("active"))
                );
                let (_, g) = app
                    .admin(
                        root,
                        Method::GET,
                        &fill("/hubs/{hub_id}/grants/{grant_id}"),
                        None,
                    )
                    .await;
                assert_eq!(g["business_role"], "EMPLOYEE", "{g}");
                let (_, guests) = app.admin(root, Method::GET, "/guests", None).await;
                assert_eq!(guests["data"].as_array().map(Vec::len), Some(1), "{guests}");
                let (_, tokens) = app.admin(root, Method::GET, "/scim-tokens", None).await;
                assert!(
                    tokens["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|t| t["revoked_at"].is_null()),
                    "{tokens}"
                );
            }
            let path = fill(template);
            let (status, text) = call(
                &app,
                *caller,
                method,
                &path,
                body(method, template, n).as_ref(),
            )
            .await;
            let ok = match expected {
                Expect::Status(s) => status == *s,
                Expect::LetIn if *method == "GET" => status == 200,
                Expect::LetIn => !matches!(status, 401 | 403) && status < 500,
            };
            if !ok {
                wrong.push(format!(
                    "{method} {template} as {caller:?}: {status}, expected {expected:?}: {text}"
                ));
            }
            if matches!(status, 401 | 403 | 404) {
                let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert_eq!(problem["status"], status, "problem+json: {text}");
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} cells differ from the table:\n{}",
            wrong.len(),
            cells.len(),
            wrong.join("\n")
        );
        let (_, h) = app
            .admin(root, Method::GET, &format!("/hubs/{}", hub.id), None)
            .await;
        assert_eq!(
            h["status"], "disconnected",
            "the last let-in disconnected it"
        );
    }
);
