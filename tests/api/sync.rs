//! "Check for updates" and the safeguard, through the admin API and the sandbox, on both
//! databases.

use hubbridge::sandbox::demo_ids;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::TestApp;

async fn seeded_employee(app: &TestApp, index: usize) -> Value {
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    let people = state["business"]["people"].as_array().unwrap();
    let p = people[index].clone();
    assert_eq!(p["role"], "EMPLOYEE", "{p}");
    p
}

async fn assigned(app: &TestApp, asset: &str) -> Value {
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    state["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == asset)
        .map(|a| a["assigned"].clone())
        .unwrap_or(Value::Null)
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

both!(
    a_sync_records_people_and_assets_and_matches_directory_users_by_email,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let (status, members) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/members?limit=500", hub.id),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let members = members["data"].as_array().unwrap().clone();
        assert_eq!(
            members.len(),
            demo_ids::PEOPLE + 1,
            "people and the pending invitation"
        );
        assert!(members.iter().all(|m| m["state"] == "unmatched"));
        let (_, view) = app
            .admin(&root, Method::GET, &format!("/hubs/{}", hub.id), None)
            .await;
        assert_eq!(view["counts"]["unmatched"], demo_ids::PEOPLE + 1, "{view}");
        assert_eq!(view["last_sync"]["status"], "completed", "{view}");
        let (_, assets) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/assets", hub.id),
                None,
            )
            .await;
        assert_eq!(assets["data"].as_array().unwrap().len(), 8, "{assets}");

        // A directory user with a seeded person's address (in other case) is matched.
        let person = seeded_employee(&app, 10).await;
        let email = person["email"].as_str().unwrap();
        let user = id(&app.create_user(&email.to_uppercase()).await);
        let team = id(&app.create_group("Team", &[&user]).await);
        let page = demo_ids::PAGE_IDS[0];
        let (status, grant) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": team, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                            "assets": [{"asset_id": page, "tasks": ["ANALYZE"]}]})),
            )
            .await;
        assert_eq!(status, 201, "{grant}");
        let (status, bad) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": team, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                            "assets": [{"asset_id": page, "tasks": ["FLY"]}]})),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(bad["errors"][0]["field"], "assets[0].tasks", "{bad}");
        app.run_pending_tasks().await;
        let assigned_now = assigned(&app, page).await;
        assert_eq!(
            assigned_now[person["id"].as_str().unwrap()],
            json!(["ANALYZE"]),
            "{assigned_now}"
        );
        let (_, found) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/members?state=onboarded", hub.id),
                None,
            )
            .await;
        let found = found["data"].as_array().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["user"]["id"], user.as_str());
        assert_eq!(found[0]["meta"]["email"], email);
        let name = person["name"].as_str().unwrap().split(' ').next().unwrap();
        let (_, by_name) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/members?q={}", hub.id, name.to_uppercase()),
                None,
            )
            .await;
        assert!(
            by_name["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["meta"]["email"] == email),
            "{by_name}"
        );
        let posts = format!("/{page}/assigned_users");
        assert_eq!(app.sandbox.calls("POST", &posts).await, 1);
        // A second sync changes nothing in Meta.
        let (status, task) = app
            .admin(&root, Method::POST, &format!("/hubs/{}/sync", hub.id), None)
            .await;
        assert_eq!(status, 202, "{task}");
        assert_eq!(task["kind"], "sync_hub");
        app.run_pending_tasks().await;
        assert_eq!(app.sandbox.calls("POST", &posts).await, 1);
    }
);

both!(
    an_accepted_invitation_gets_its_asset_tasks_after_the_next_sync,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let ada = id(&app.create_user("ada@example.com").await);
        let team = id(&app.create_group("Team", &[&ada]).await);
        let page = demo_ids::PAGE_IDS[1];
        let (status, _) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": team, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                            "assets": [{"asset_id": page, "tasks": ["ADVERTISE", "ANALYZE"]}]})),
            )
            .await;
        assert_eq!(status, 201);
        app.run_pending_tasks().await;
        let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
        let invitation = state["business"]["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == "ada@example.com")
            .cloned()
            .expect("invited");
        app.sandbox
            .post(
                &format!("/invitations/{}/accept", invitation["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        let (status, _) = app
            .admin(&root, Method::POST, &format!("/hubs/{}/sync", hub.id), None)
            .await;
        assert_eq!(status, 202);
        app.run_pending_tasks().await;
        let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
        let person = state["business"]["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == "ada@example.com")
            .cloned()
            .expect("active");
        assert_eq!(
            assigned(&app, page).await[person["id"].as_str().unwrap()],
            json!(["ADVERTISE", "ANALYZE"])
        );
    }
);

/// Connects the demo business over the admin API with the default safeguard (20 %) and
/// runs its first sync.
async fn hub_with_safeguard(app: &TestApp, root: &str) -> String {
    let (status, hub) = app
        .admin(
            root,
            Method::POST,
            "/hubs",
            Some(
                json!({"label": "Acme", "business_id": demo_ids::BUSINESS_ID,
                        "app_id": demo_ids::APP_ID, "access_token": demo_ids::HUB_TOKEN,
                        "app_secret": demo_ids::APP_SECRET, "login_method": "sso",
                        "safeguard": {"percent": 20, "window_minutes": 60}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{hub}");
    app.run_pending_tasks().await;
    id(&hub)
}

async fn invitations(app: &TestApp, prefix: &str) -> usize {
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    state["business"]["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["email"].as_str().is_some_and(|e| e.starts_with(prefix)))
        .count()
}

async fn tasks_with(app: &TestApp, root: &str, status: &str) -> Vec<Value> {
    let (_, list) = app
        .admin(
            root,
            Method::GET,
            &format!("/tasks?status={status}&limit=500"),
            None,
        )
        .await;
    list["data"].as_array().unwrap().clone()
}

both!(
    the_safeguard_holds_a_mass_removal_by_group_delete_until_approved,
    |app| async move {
        let root = app.admin_token("root@example.com", "owner");
        let hub = hub_with_safeguard(&app, &root).await;
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(id(&app.create_user(&format!("m{i}@example.com")).await));
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let group = id(&app.create_group("Movers", &refs).await);
        let (status, _) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{hub}/grants"),
                Some(json!({"group_id": group, "hub_role": "collaborator", "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 201);
        app.run_pending_tasks().await;
        assert_eq!(invitations(&app, "m").await, 10);
        // 47 members with a seat; 20 % of them is 9: the tenth removal is held.
        assert_eq!(app.delete(&format!("/Groups/{group}")).await.status(), 204);
        app.engine.run_due().await.unwrap();
        assert_eq!(invitations(&app, "m").await, 1);
        let held = tasks_with(&app, &root, "held").await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0]["status_reason"]
            .as_str()
            .unwrap()
            .contains("safeguard"));
        let (_, view) = app
            .admin(&root, Method::GET, &format!("/hubs/{hub}"), None)
            .await;
        assert_eq!(
            view["counts"]["pending_tasks"], 1,
            "held work shows on the hub"
        );
        let (status, body) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{hub}/held/approve"),
                None,
            )
            .await;
        assert_eq!((status, body), (200, json!({"approved": 1})));
        app.run_pending_tasks().await;
        assert_eq!(invitations(&app, "m").await, 0);
        assert!(tasks_with(&app, &root, "held").await.is_empty());
    }
);

both!(
    the_safeguard_catches_many_single_deactivations_and_cancel_keeps_the_seats,
    |app| async move {
        let root = app.admin_token("root@example.com", "owner");
        let hub = hub_with_safeguard(&app, &root).await;
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(id(&app.create_user(&format!("d{i}@example.com")).await));
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let group = id(&app.create_group("Leavers", &refs).await);
        let (status, _) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{hub}/grants"),
                Some(json!({"group_id": group, "hub_role": "collaborator", "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 201);
        app.run_pending_tasks().await;
        assert_eq!(invitations(&app, "d").await, 30);
        // Entra deprovisions one user per request; the engine runs in between.
        for u in &ids {
            let off = json!([{"op": "replace", "path": "active", "value": false}]);
            assert_eq!(app.patch(&format!("/Users/{u}"), off).await.status(), 200);
            app.engine.run_due().await.unwrap();
        }
        // 67 members with a seat: 13 removals pass, the other 17 are held.
        assert_eq!(invitations(&app, "d").await, 17);
        let held = tasks_with(&app, &root, "held").await;
        assert_eq!(held.len(), 17);
        let (status, body) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{hub}/held/cancel"),
                None,
            )
            .await;
        assert_eq!((status, body), (200, json!({"cancelled": 17})));
        app.engine.run_due().await.unwrap();
        assert_eq!(
            invitations(&app, "d").await,
            17,
            "cancelled removals keep the seats"
        );
        // One held task approved alone.
        let one = &ids[29];
        let on = json!([{"op": "replace", "path": "active", "value": true}]);
        assert_eq!(app.patch(&format!("/Users/{one}"), on).await.status(), 200);
        let off = json!([{"op": "replace", "path": "active", "value": false}]);
        assert_eq!(app.patch(&format!("/Users/{one}"), off).await.status(), 200);
        app.engine.run_due().await.unwrap();
        let held = tasks_with(&app, &root, "held").await;
        assert_eq!(held.len(), 1);
        let task = held[0]["id"].as_str().unwrap();
        let (status, t) = app
            .admin(&root, Method::POST, &format!("/tasks/{task}/approve"), None)
            .await;
        assert_eq!(status, 202, "{t}");
        let (status, _) = app
            .admin(&root, Method::POST, &format!("/tasks/{task}/approve"), None)
            .await;
        assert_eq!(status, 409, "only held tasks are approved");
        app.run_pending_tasks().await;
        assert_eq!(invitations(&app, "d").await, 16);
    }
);

both!(syncs_are_scheduled_per_hub_interval, |app| async move {
    let hub = app.connect_demo_hub().await;
    assert_eq!(
        app.engine.schedule_due().await.unwrap(),
        0,
        "synced just now"
    );
    // The last sync started 25 hours ago: a new one is due, once.
    let seq = hub.seq;
    app.store
        .write(move |c| {
            use diesel::prelude::*;
            use hubbridge::store::schema::tasks::dsl as t;
            diesel::update(t::tasks.filter(t::hub_seq.eq(seq)))
                .set(t::created_at.eq(hubbridge::store::now_micros() - 25 * 3_600_000_000))
                .execute(c)
                .map_err(hubbridge::store::StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(app.engine.schedule_due().await.unwrap(), 1);
    assert_eq!(
        app.engine.schedule_due().await.unwrap(),
        0,
        "one waits already"
    );
    let ran = app.run_pending_tasks().await;
    assert_eq!(ran[0].kind, "sync_hub");
    assert_eq!(ran[0].triggered_by, "schedule");
});

both!(a_grant_changed_and_deleted_reaches_meta, |app| async move {
    let hub = app.connect_demo_hub().await;
    let root = app.admin_token("root@example.com", "owner");
    let person = seeded_employee(&app, 12).await;
    let email = person["email"].as_str().unwrap();
    let person_id = person["id"].as_str().unwrap();
    let user = id(&app.create_user(email).await);
    let team = id(&app.create_group("Team", &[&user]).await);
    let (p1, p2) = (demo_ids::PAGE_IDS[2], demo_ids::PAGE_IDS[3]);
    let grants = format!("/hubs/{}/grants", hub.id);
    let (status, grant) = app
        .admin(
            &root,
            Method::POST,
            &grants,
            Some(
                json!({"group_id": team, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                        "assets": [{"asset_id": p1, "tasks": ["ANALYZE"]}]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    app.run_pending_tasks().await;
    assert_eq!(assigned(&app, p1).await[person_id], json!(["ANALYZE"]));
    let path = format!("{grants}/{}", grant["id"].as_str().unwrap());
    // Upgraded, tasks changed, one asset swapped for another.
    let (status, changed) = app
        .admin(
            &root,
            Method::PATCH,
            &path,
            Some(json!({"business_role": "ADMIN",
                        "assets": [{"asset_id": p2, "tasks": ["ADVERTISE", "ANALYZE"]}]})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["business_role"], "ADMIN");
    app.run_pending_tasks().await;
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    let now = state["business"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == person_id)
        .cloned()
        .unwrap();
    assert_eq!(now["role"], "ADMIN");
    assert!(assigned(&app, p1).await.get(person_id).is_none(), "revoked");
    assert_eq!(
        assigned(&app, p2).await[person_id],
        json!(["ADVERTISE", "ANALYZE"])
    );
    let (status, _) = app
        .admin(&root, Method::PATCH, &path, Some(json!({"group_id": "x"})))
        .await;
    assert_eq!(status, 422, "the grantee does not change");
    // Deleted: the person is removed from the business.
    let (status, _) = app.admin(&root, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    app.run_pending_tasks().await;
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    assert!(!state["business"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == person_id));
    let (status, _) = app.admin(&root, Method::GET, &path, None).await;
    assert_eq!(status, 404);
});
