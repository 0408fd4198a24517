//! The bridge end to end: SCIM pushes over HTTP → the durable queue → the engine → the
//! Graph sandbox over HTTP, on both databases. Each test ends by checking that the
//! sandbox's call log holds no duplicated mutating call.

use hubbridge::access::{AssetKind, Grantee, HubRole, Role};
use hubbridge::sandbox::demo_ids;
use hubbridge::service::hubs::NewGrant;
use hubbridge::service::{Actor, ServiceError};
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

fn admin() -> Actor {
    Actor::Admin {
        subject: "admin@example.com".into(),
    }
}

/// The person or pending invitation with this email in the demo business.
async fn in_meta(app: &TestApp, email: &str) -> (Option<Value>, Option<Value>) {
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    let find = |list: &str| {
        state["business"][list]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|p| p["email"].as_str().map(str::to_lowercase) == Some(email.into()))
            })
            .cloned()
    };
    (find("people"), find("invitations"))
}

/// Successful mutating Graph calls, as (method, path, params).
async fn mutations(app: &TestApp) -> Vec<(String, String, String)> {
    let (_, v) = app
        .sandbox
        .control(reqwest::Method::GET, "/calls?ok=true", None)
        .await;
    v["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["method"] != "GET" && c["path"] != "/")
        .map(|c| {
            (
                c["method"].as_str().unwrap_or_default().to_string(),
                c["path"].as_str().unwrap_or_default().to_string(),
                c["params"].to_string(),
            )
        })
        .collect()
}

/// No mutating call was made twice in a row: a repeat needs a change in between (an
/// invitation sent again after it was cancelled is not a duplicate).
async fn assert_no_duplicated_mutation(app: &TestApp) {
    let all = mutations(app).await;
    for pair in all.windows(2) {
        assert_ne!(pair[0], pair[1], "duplicated mutating call in {all:#?}");
    }
}

async fn grant(app: &TestApp, hub_id: &str, group_id: &str, role: Role) {
    app.hubs
        .grant(
            &admin(),
            hub_id,
            NewGrant {
                grantee: Grantee::Group(group_id.into()),
                hub_role: HubRole::Collaborator,
                role,
                assets: vec![],
            },
        )
        .await
        .expect("grant");
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

both!(
    an_okta_style_lifecycle_reaches_meta_once_per_change,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let ada = id(&app.create_user("ada@example.com").await);
        let marketing = id(&app.create_group("Marketing", &[]).await);
        let admins = id(&app.create_group("Admins", &[]).await);
        grant(&app, &hub.id, &marketing, Role::Employee).await;
        grant(&app, &hub.id, &admins, Role::Admin).await;
        assert!(
            app.run_pending_tasks().await.is_empty(),
            "nobody is granted yet"
        );

        let add = |who: &str| json!([{"op": "add", "path": "members", "value": [{"value": who}]}]);
        let remove =
            |who: &str| json!([{"op": "remove", "path": format!("members[value eq \"{who}\"]")}]);

        // Assigned to a group: invited with its role.
        assert_eq!(
            app.patch(&format!("/Groups/{marketing}"), add(&ada))
                .await
                .status(),
            204
        );
        assert_eq!(app.run_pending_tasks().await.len(), 1);
        let (person, invitation) = in_meta(&app, "ada@example.com").await;
        assert!(person.is_none());
        let invitation = invitation.expect("invited");
        assert_eq!(invitation["role"], "EMPLOYEE");

        // A second group with a higher role: upgraded; removed from it: downgraded.
        assert_eq!(
            app.patch(&format!("/Groups/{admins}"), add(&ada))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(
            in_meta(&app, "ada@example.com").await.1.unwrap()["role"],
            "ADMIN"
        );
        assert_eq!(
            app.patch(&format!("/Groups/{admins}"), remove(&ada))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(
            in_meta(&app, "ada@example.com").await.1.unwrap()["role"],
            "EMPLOYEE"
        );

        // Deactivated: the invitation is cancelled. Reactivated: invited again.
        let active = |on: bool| json!([{"op": "replace", "path": "active", "value": on}]);
        assert_eq!(
            app.patch(&format!("/Users/{ada}"), active(false))
                .await
                .status(),
            200
        );
        app.run_pending_tasks().await;
        assert_eq!(in_meta(&app, "ada@example.com").await, (None, None));
        assert_eq!(
            app.patch(&format!("/Users/{ada}"), active(true))
                .await
                .status(),
            200
        );
        app.run_pending_tasks().await;
        let invitation = in_meta(&app, "ada@example.com")
            .await
            .1
            .expect("invited again");

        // Ada accepts; then she is deleted in the directory: removed from the business.
        app.sandbox
            .post(
                &format!("/invitations/{}/accept", invitation["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert!(in_meta(&app, "ada@example.com").await.0.is_some());
        assert_eq!(app.delete(&format!("/Users/{ada}")).await.status(), 204);
        app.run_pending_tasks().await;
        assert_eq!(in_meta(&app, "ada@example.com").await, (None, None));

        assert_no_duplicated_mutation(&app).await;
        let posts = format!("/{}/business_users", demo_ids::BUSINESS_ID);
        assert_eq!(
            app.sandbox.calls("POST", &posts).await,
            2,
            "two invitations in all"
        );
    }
);

both!(
    deleting_a_group_removes_its_members_and_a_user_grant_works_alone,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let ids: Vec<String> = futures_util::future::join_all(
            ["a@example.com", "b@example.com"].map(|n| app.create_user(n)),
        )
        .await
        .iter()
        .map(id)
        .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let team = id(&app.create_group("Team", &refs).await);
        grant(&app, &hub.id, &team, Role::Employee).await;
        assert_eq!(
            app.run_pending_tasks().await.len(),
            2,
            "the grant reached both"
        );
        for n in ["a@example.com", "b@example.com"] {
            assert!(in_meta(&app, n).await.1.is_some(), "{n} invited");
        }
        // b also has a grant of its own: it stays when the group goes.
        app.hubs
            .grant(
                &admin(),
                &hub.id,
                NewGrant {
                    grantee: Grantee::User(ids[1].clone()),
                    hub_role: HubRole::Owner,
                    role: Role::Employee,
                    assets: vec![("20001".into(), AssetKind::Page, vec!["ANALYZE".into()])],
                },
            )
            .await
            .unwrap();
        app.run_pending_tasks().await;
        assert_eq!(app.delete(&format!("/Groups/{team}")).await.status(), 204);
        app.run_pending_tasks().await;
        assert_eq!(in_meta(&app, "a@example.com").await, (None, None));
        assert!(in_meta(&app, "b@example.com").await.1.is_some());
        assert_no_duplicated_mutation(&app).await;
    }
);

both!(
    connecting_a_hub_checks_the_token_with_meta,
    |app| async move {
        use hubbridge::crypto::Secret;
        use hubbridge::service::hubs::ConnectHub;
        let connect = |token: &str, app_id: &str| ConnectHub {
            label: "Acme".into(),
            business_id: demo_ids::BUSINESS_ID.into(),
            app_id: app_id.into(),
            access_token: Secret::new(token),
            app_secret: Some(Secret::new(demo_ids::APP_SECRET)),
            login_method: "sso".into(),
            sync_interval_hours: 24,
            safeguard_percent: 20,
            safeguard_window_minutes: 60,
            safeguard_max_removals: None,
        };
        let refused = app
            .hubs
            .connect(
                &admin(),
                connect(demo_ids::NO_SCOPE_TOKEN, demo_ids::APP_ID),
            )
            .await;
        match refused {
            // Without business_management the business cannot even be read.
            Err(ServiceError::Unprocessable { extra, .. }) => assert!(
                extra.contains_key("missing_scopes") || extra.contains_key("wrong_business"),
                "{extra:?}"
            ),
            other => panic!("{other:?}"),
        }
        let wrong_app = app
            .hubs
            .connect(&admin(), connect(demo_ids::HUB_TOKEN, "999"))
            .await;
        match wrong_app {
            Err(ServiceError::Unprocessable { extra, detail, .. }) => {
                assert!(extra.contains_key("wrong_app"), "{extra:?}");
                assert!(
                    !detail.contains(demo_ids::HUB_TOKEN),
                    "no secret in the message"
                );
            }
            other => panic!("{other:?}"),
        }
        let expired = app
            .hubs
            .connect(&admin(), connect(demo_ids::EXPIRED_TOKEN, demo_ids::APP_ID))
            .await;
        assert!(
            matches!(expired, Err(ServiceError::Unprocessable { .. })),
            "{expired:?}"
        );
        let hub = app
            .hubs
            .connect(&admin(), connect(demo_ids::HUB_TOKEN, demo_ids::APP_ID))
            .await
            .expect("connects");
        assert_eq!(hub.business_name, "Acme Corp");
        assert_eq!(hub.owner, "admin@example.com");
        let stored = hub.access_token.clone();
        assert!(
            !stored
                .windows(demo_ids::HUB_TOKEN.len())
                .any(|w| w == demo_ids::HUB_TOKEN.as_bytes()),
            "the token is stored encrypted"
        );
        let again = app
            .hubs
            .connect(&admin(), connect(demo_ids::HUB_TOKEN, demo_ids::APP_ID))
            .await;
        assert!(matches!(again, Err(ServiceError::Conflict(_))), "{again:?}");
    }
);

/// Runs due tasks until none is waiting (retries wait their backoff), at most `secs`.
async fn converge(app: &TestApp, secs: u64) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        app.engine.run_due().await.expect("tasks run");
        let waiting = app
            .store
            .read(|c| {
                use diesel::prelude::*;
                use hubbridge::store::schema::tasks::dsl as t;
                Ok(t::tasks
                    .filter(t::status.eq_any(["pending", "deferred", "running"]))
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .unwrap();
        if waiting == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "{waiting} tasks still waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

both!(
    ten_percent_transient_faults_still_converge_once,
    |app| async move {
        let app = TestApp::spawn_with(app.db, |s| {
            s.engine.retry_base_ms = 5;
            s.engine.retry_cap_secs = 1;
            s.engine.max_attempts = 50;
        })
        .await;
        let hub = app.connect_demo_hub().await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(id(&app.create_user(&format!("p{i}@example.com")).await));
        }
        let team = id(&app.create_group("Team", &[]).await);
        grant(&app, &hub.id, &team, Role::Employee).await;
        app.sandbox
        .post(
            "/faults/error_rates",
            json!({"endpoint": "*", "rate": 0.1, "code": 2, "message": "Service temporarily unavailable"}),
        )
        .await;
        // And two failures that are sure to happen, on one person's invitation.
        app.sandbox
            .post(
                "/faults/targeted",
                json!({"target": "p3@example.com", "endpoint": "POST business_users",
                   "remaining": 2, "code": 2, "message": "Service temporarily unavailable"}),
            )
            .await;
        let members: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
        let add = json!([{"op": "add", "path": "members", "value": members}]);
        assert_eq!(
            app.patch(&format!("/Groups/{team}"), add).await.status(),
            204
        );
        converge(&app, 60).await;
        let stats = app.sandbox.stats().await;
        assert!(
            stats["injected_faults"].as_u64().unwrap_or(0) > 0,
            "faults were injected: {stats}"
        );
        app.sandbox
            .control(reqwest::Method::DELETE, "/faults", None)
            .await;
        let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
        let invited: Vec<&str> = state["business"]["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["email"].as_str())
            .filter(|e| e.starts_with('p') && e.ends_with("@example.com"))
            .collect();
        assert_eq!(invited.len(), 20, "{invited:?}");
        let posts = format!("/{}/business_users", demo_ids::BUSINESS_ID);
        assert_eq!(
            app.sandbox.calls("POST", &posts).await,
            20,
            "each invitation sent once"
        );
        assert_no_duplicated_mutation(&app).await;
    }
);

both!(
    a_revoked_token_pauses_the_hub_instead_of_failing_its_work,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let ada = id(&app.create_user("ada@example.com").await);
        let team = id(&app.create_group("Team", &[&ada]).await);
        app.sandbox
            .post(
                &format!("/tokens/{}/revoke", demo_ids::HUB_TOKEN),
                json!({}),
            )
            .await;
        grant(&app, &hub.id, &team, Role::Employee).await;
        let ran = app.engine.run_due().await.unwrap();
        assert_eq!(ran.len(), 1);
        let task_id = ran[0].id.clone();
        let task = app
            .store
            .read(move |c| hubbridge::store::tasks::find(c, &task_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(task.status, "deferred", "{task:?}");
        assert_eq!(task.attempts, 0, "the try is given back");
        assert!(
            task.status_reason
                .as_deref()
                .is_some_and(|r| r.contains("token")),
            "{task:?}"
        );
        let hub_id = hub.id.clone();
        let now = app
            .store
            .read(move |c| hubbridge::store::hubs::find(c, &hub_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.status, "needs_reauth");
        assert!(!now
            .status_reason
            .as_deref()
            .unwrap_or_default()
            .contains(demo_ids::HUB_TOKEN));
        assert!(
            app.engine.run_due().await.unwrap().is_empty(),
            "a paused hub's work is not claimed"
        );
        assert_eq!(in_meta(&app, "ada@example.com").await, (None, None));
    }
);

both!(
    an_entra_style_sequence_reaches_meta_the_same_way,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        // Entra's create: externalId, emails with a work type, capitalised PATCH ops, string
        // booleans, a path-less replace map.
        let created = app
            .post(
                "/Users",
                json!({"schemas": [USER_SCHEMA], "externalId": "e-1", "userName": "grace@example.com",
                       "active": true, "displayName": "Grace",
                       "emails": [{"primary": true, "type": "work", "value": "grace@example.com"}]}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let grace = id(&created.json::<Value>().await.unwrap());
        let sales = id(&app.create_group("Sales", &[]).await);
        let leads = id(&app.create_group("Leads", &[]).await);
        grant(&app, &hub.id, &sales, Role::Employee).await;
        grant(&app, &hub.id, &leads, Role::Admin).await;
        let members =
            |op: &str, who: &str| json!([{"op": op, "path": "members", "value": [{"value": who}]}]);
        assert_eq!(
            app.patch(&format!("/Groups/{sales}"), members("Add", &grace))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(
            in_meta(&app, "grace@example.com").await.1.unwrap()["role"],
            "EMPLOYEE"
        );
        assert_eq!(
            app.patch(&format!("/Groups/{leads}"), members("Add", &grace))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(
            in_meta(&app, "grace@example.com").await.1.unwrap()["role"],
            "ADMIN"
        );
        assert_eq!(
            app.patch(&format!("/Groups/{leads}"), members("Remove", &grace))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(
            in_meta(&app, "grace@example.com").await.1.unwrap()["role"],
            "EMPLOYEE"
        );
        // Entra deactivates with a path-less Replace and a string boolean.
        let off = json!([{"op": "Replace", "value": {"active": "False"}}]);
        assert_eq!(
            app.patch(&format!("/Users/{grace}"), off).await.status(),
            200
        );
        app.run_pending_tasks().await;
        assert_eq!(in_meta(&app, "grace@example.com").await, (None, None));
        let on = json!([{"op": "Replace", "path": "active", "value": "True"}]);
        assert_eq!(
            app.patch(&format!("/Users/{grace}"), on).await.status(),
            200
        );
        app.run_pending_tasks().await;
        assert!(
            in_meta(&app, "grace@example.com").await.1.is_some(),
            "invited again"
        );
        // Removed from its last group: the invitation goes.
        assert_eq!(
            app.patch(&format!("/Groups/{sales}"), members("Remove", &grace))
                .await
                .status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(in_meta(&app, "grace@example.com").await, (None, None));
        assert_no_duplicated_mutation(&app).await;
    }
);

both!(an_exempted_member_is_left_alone, |app| async move {
    let hub = app.connect_demo_hub().await;
    let ada = id(&app.create_user("ada@example.com").await);
    let team = id(&app.create_group("Team", &[&ada]).await);
    grant(&app, &hub.id, &team, Role::Employee).await;
    app.run_pending_tasks().await;
    assert!(in_meta(&app, "ada@example.com").await.1.is_some());
    // An admin exempts Ada's member (the admin route comes with the member actions).
    let seq = hub.seq;
    app.store
        .write(move |c| {
            use diesel::prelude::*;
            use hubbridge::store::schema::members::dsl as m;
            diesel::update(
                m::members
                    .filter(m::hub_seq.eq(seq))
                    .filter(m::email_ci.eq("ada@example.com")),
            )
            .set((
                m::state.eq("exempted"),
                m::exemption_reason.eq(Some("contractor")),
            ))
            .execute(c)
            .map_err(hubbridge::store::StoreError::from)
        })
        .await
        .unwrap();
    let off = json!([{"op": "replace", "path": "active", "value": false}]);
    assert_eq!(app.patch(&format!("/Users/{ada}"), off).await.status(), 200);
    app.run_pending_tasks().await;
    assert!(
        in_meta(&app, "ada@example.com").await.1.is_some(),
        "an exempted member is not touched"
    );
});

both!(
    a_person_added_by_hand_in_meta_stays_unmatched,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        // Someone invites a freelancer straight in Meta; the next sync sees them.
        let auth = app.hub();
        app.graph
            .invite(
                &auth,
                demo_ids::BUSINESS_ID,
                &hubbridge::meta::Invite {
                    email: "freelancer@elsewhere.example".into(),
                    role: hubbridge::meta::BusinessRole::Employee,
                    tasks: vec![],
                },
            )
            .await
            .unwrap();
        let root = app.admin_token("root@example.com", "owner");
        let (status, _) = app
            .admin(
                &root,
                reqwest::Method::POST,
                &format!("/hubs/{}/sync", hub.id),
                None,
            )
            .await;
        assert_eq!(status, 202);
        app.run_pending_tasks().await;
        let (_, found) = app
            .admin(
                &root,
                reqwest::Method::GET,
                &format!("/hubs/{}/members?q=freelancer", hub.id),
                None,
            )
            .await;
        assert_eq!(found["data"][0]["state"], "unmatched", "{found}");
        assert!(in_meta(&app, "freelancer@elsewhere.example")
            .await
            .1
            .is_some());
        assert_no_duplicated_mutation(&app).await;
    }
);

both!(
    a_rotated_token_resumes_a_paused_hub_and_a_disconnected_hub_is_left_alone,
    |app| async move {
        use hubbridge::sandbox::{SandboxConfig, Seed};
        const SECOND: &str = "EAAdemo-hub-admin-token-2";
        let mut seed = Seed::demo();
        let mut second = seed
            .tokens
            .iter()
            .find(|t| t.token == demo_ids::HUB_TOKEN)
            .cloned()
            .unwrap();
        second.token = SECOND.into();
        second.label = Some("hub-2".into());
        seed.tokens.push(second);
        let app = TestApp::spawn_full(app.db, SandboxConfig::default(), seed, |_| {}, |_| {}).await;
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let ada = id(&app.create_user("ada@example.com").await);
        let team = id(&app.create_group("Team", &[&ada]).await);
        app.sandbox
            .post(
                &format!("/tokens/{}/revoke", demo_ids::HUB_TOKEN),
                json!({}),
            )
            .await;
        grant(&app, &hub.id, &team, Role::Employee).await;
        app.engine.run_due().await.unwrap();
        let path = format!("/hubs/{}", hub.id);
        let (_, view) = app.admin(&root, reqwest::Method::GET, &path, None).await;
        assert_eq!(view["status"], "needs_reauth", "{view}");

        let (status, body) = app
            .admin(
                &root,
                reqwest::Method::PATCH,
                &path,
                Some(json!({"access_token": demo_ids::NO_SCOPE_TOKEN})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = app
            .admin(
                &root,
                reqwest::Method::PATCH,
                &path,
                Some(json!({"owner": "me"})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, view) = app
            .admin(
                &root,
                reqwest::Method::PATCH,
                &path,
                Some(
                    json!({"access_token": SECOND, "app_secret": demo_ids::APP_SECRET,
                            "label": "Acme (rotated)", "safeguard": {"max_removals": 5}}),
                ),
            )
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["status"], "active");
        assert_eq!(view["label"], "Acme (rotated)");
        assert_eq!(view["safeguard"]["max_removals"], 5);
        assert!(!view.to_string().contains(SECOND));
        app.run_pending_tasks().await;
        assert!(
            in_meta(&app, "ada@example.com").await.1.is_some(),
            "work resumed"
        );

        let (status, _) = app.admin(&root, reqwest::Method::DELETE, &path, None).await;
        assert_eq!(status, 204);
        let (_, view) = app.admin(&root, reqwest::Method::GET, &path, None).await;
        assert_eq!(view["status"], "disconnected");
        let off = json!([{"op": "replace", "path": "active", "value": false}]);
        assert_eq!(app.patch(&format!("/Users/{ada}"), off).await.status(), 200);
        assert!(
            app.engine.run_due().await.unwrap().is_empty(),
            "nothing more for Meta"
        );
        assert!(in_meta(&app, "ada@example.com").await.1.is_some());
    }
);

/// The single task of `kind` for this user, as stored.
async fn task_of(app: &TestApp, user: &str) -> hubbridge::store::tasks::TaskRow {
    let user = user.to_string();
    app.store
        .read(move |c| {
            use diesel::prelude::*;
            use hubbridge::store::schema::tasks::dsl as t;
            Ok(t::tasks
                .filter(t::user_id.eq(&user))
                .order(t::seq.desc())
                .select(hubbridge::store::tasks::TaskRow::as_select())
                .first(c)?)
        })
        .await
        .unwrap()
}

both!(
    the_new_system_user_restriction_defers_with_its_reason,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let ada = id(&app.create_user("ada@example.com").await);
        let team = id(&app.create_group("Team", &[&ada]).await);
        app.sandbox
            .put(
                &format!("/businesses/{}/restriction", demo_ids::BUSINESS_ID),
                json!({"restricted": true}),
            )
            .await;
        grant(&app, &hub.id, &team, Role::Employee).await;
        app.engine.run_due().await.unwrap();
        let task = task_of(&app, &ada).await;
        assert_eq!(task.status, "deferred", "{task:?}");
        assert!(
            task.status_reason
                .as_deref()
                .is_some_and(|r| r.contains("system user")),
            "{task:?}"
        );
        assert!(task.run_after > hubbridge::store::now_micros() + 3_600_000_000);
        assert_eq!(in_meta(&app, "ada@example.com").await, (None, None));
    }
);

both!(
    failed_tasks_are_retried_and_waiting_ones_cancelled_by_an_admin,
    |app| async move {
        let app = TestApp::spawn_with(app.db, |s| s.engine.max_attempts = 1).await;
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let ada = id(&app.create_user("ada@example.com").await);
        let team = id(&app.create_group("Team", &[&ada]).await);
        app.sandbox
        .post(
            "/faults/error_rates",
            json!({"endpoint": "POST business_users", "rate": 1.0, "code": 2, "message": "down"}),
        )
        .await;
        grant(&app, &hub.id, &team, Role::Employee).await;
        app.engine.run_due().await.unwrap();
        let task = task_of(&app, &ada).await;
        assert_eq!(task.status, "failed", "one attempt allowed: {task:?}");
        let (_, got) = app
            .admin(
                &root,
                reqwest::Method::GET,
                &format!("/tasks/{}", task.id),
                None,
            )
            .await;
        assert_eq!(got["last_error"]["code"], 2, "{got}");
        app.sandbox
            .control(reqwest::Method::DELETE, "/faults", None)
            .await;
        let (status, retried) = app
            .admin(
                &root,
                reqwest::Method::POST,
                &format!("/tasks/{}/retry", task.id),
                None,
            )
            .await;
        assert_eq!(status, 202, "{retried}");
        assert_eq!(retried["status"], "pending");
        assert_eq!(retried["trigger"], "retry");
        app.run_pending_tasks().await;
        assert!(in_meta(&app, "ada@example.com").await.1.is_some());
        let (status, _) = app
            .admin(
                &root,
                reqwest::Method::POST,
                &format!("/tasks/{}/retry", task.id),
                None,
            )
            .await;
        assert_eq!(status, 409, "a completed task does not run again");

        // A waiting task cancelled: it does not run.
        let off = json!([{"op": "replace", "path": "active", "value": false}]);
        assert_eq!(app.patch(&format!("/Users/{ada}"), off).await.status(), 200);
        let waiting = task_of(&app, &ada).await;
        assert_eq!(waiting.status, "pending");
        let (status, cancelled) = app
            .admin(
                &root,
                reqwest::Method::POST,
                &format!("/tasks/{}/cancel", waiting.id),
                None,
            )
            .await;
        assert_eq!(
            (status, cancelled["status"].as_str()),
            (200, Some("cancelled"))
        );
        assert!(app.engine.run_due().await.unwrap().is_empty());
        assert!(
            in_meta(&app, "ada@example.com").await.1.is_some(),
            "not cancelled in Meta"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_crypto_key_scim_works_and_connecting_names_the_setting() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.crypto.key = hubbridge::crypto::Secret::new("");
    })
    .await;
    app.create_user("ada@example.com").await;
    let root = app.admin_token("root@example.com", "owner");
    let (status, body) = app
        .admin(
            &root,
            reqwest::Method::POST,
            "/hubs",
            Some(
                json!({"label": "Acme", "business_id": demo_ids::BUSINESS_ID,
                        "app_id": demo_ids::APP_ID, "access_token": demo_ids::HUB_TOKEN}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "/problems/crypto-key-missing");
    assert!(body["detail"].as_str().unwrap().contains("crypto.key"));
}

/// Who holds which tasks on this asset in the sandbox (person id → tasks).
async fn holders(app: &TestApp, asset: &str) -> serde_json::Map<String, Value> {
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    state["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|a| a["id"] == asset)
        .and_then(|a| a["assigned"].as_object().cloned())
        .unwrap_or_default()
}

both!(a_throttled_page_holds_only_its_own_work, |app| async move {
    // The client paces over the sandbox's short window, as it would over Meta's hour.
    let app = TestApp::spawn_with(app.db, |s| s.meta.rate_window_secs = 3).await;
    let root = app.admin_token("root@example.com", "owner");
    let hub = app.connect_demo_hub().await;
    let (slow, other) = (demo_ids::PAGE_IDS[1], demo_ids::PAGE_IDS[2]);
    // Four employees already in Meta with nothing on either Page get directory accounts.
    let (on_slow, on_other) = (holders(&app, slow).await, holders(&app, other).await);
    let state = app.sandbox.state(demo_ids::BUSINESS_ID).await;
    let chosen: Vec<(String, String)> = state["business"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "EMPLOYEE" && p["email"].is_string())
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["email"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(pid, _)| !on_slow.contains_key(pid) && !on_other.contains_key(pid))
        .take(4)
        .collect();
    assert_eq!(chosen.len(), 4, "the demo business has four such employees");
    let mut users = Vec::new();
    for (_, email) in &chosen {
        users.push(id(&app.create_user(email).await));
    }
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let team = id(&app.create_group("Team", &refs).await);
    // Another process with the same token spends the Page's budget (three calls per three
    // seconds; Meta answers 80001 beyond).
    app.sandbox
        .put("/rate_limit", json!({"fractional_regain_minutes": true}))
        .await;
    app.sandbox
        .put(
            &format!("/objects/{slow}/rate_limit"),
            json!({"budget": 3, "window_ms": 3000}),
        )
        .await;
    app.sandbox
        .control(reqwest::Method::DELETE, "/rate_limit/usage", None)
        .await;
    for _ in 0..3 {
        let spent = app
            .sandbox
            .http
            .get(format!(
                "{}/v25.0/{slow}/assigned_users?business={}",
                app.sandbox.url(),
                demo_ids::BUSINESS_ID
            ))
            .bearer_auth(demo_ids::HUB_TOKEN)
            .send()
            .await
            .expect("raw call");
        let status = spent.status();
        assert_eq!(status, 200, "{}", spent.text().await.unwrap_or_default());
    }
    let (status, body) = app
        .admin(
            &root,
            reqwest::Method::POST,
            &format!("/hubs/{}/grants", hub.id),
            Some(
                json!({"group_id": team, "hub_role": "collaborator", "business_role": "EMPLOYEE",
                        "assets": [{"asset_id": slow, "tasks": ["ANALYZE"]},
                                   {"asset_id": other, "tasks": ["ANALYZE"]}]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Someone new joins meanwhile: business calls are not held by the Page.
    let late = id(&app.create_user("late@example.com").await);
    let add = json!([{"op": "add", "path": "members", "value": [{"value": late}]}]);
    assert_eq!(
        app.patch(&format!("/Groups/{team}"), add).await.status(),
        204
    );
    let analyzing = |holders: &serde_json::Map<String, Value>| {
        chosen
            .iter()
            .filter(|(pid, _)| holders.get(pid) == Some(&json!(["ANALYZE"])))
            .count()
    };

    app.engine.run_due().await.expect("tasks run");

    assert_eq!(
        analyzing(&holders(&app, other).await),
        4,
        "the other Page got everyone"
    );
    let slow_now = analyzing(&holders(&app, slow).await);
    assert!(slow_now < 4, "{slow_now}");
    assert!(
        in_meta(&app, "late@example.com").await.1.is_some(),
        "invited"
    );
    let (_, deferred) = app
        .admin(
            &root,
            reqwest::Method::GET,
            "/tasks?status=deferred&limit=100",
            None,
        )
        .await;
    let deferred = deferred["data"].as_array().expect("tasks").clone();
    assert_eq!(deferred.len(), 4 - slow_now, "{deferred:#?}");
    for t in &deferred {
        let reason = t["status_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("throttled") && reason.contains(slow),
            "{reason}"
        );
    }

    let reads = |stats: &Value| stats["by_endpoint"]["GET business_users"].as_u64();
    let before = reads(&app.sandbox.stats().await);
    converge(&app, 40).await;
    assert_eq!(analyzing(&holders(&app, slow).await), 4);
    assert_eq!(
        reads(&app.sandbox.stats().await),
        before,
        "Meta refused the deferred calls: nothing to re-read before they go again"
    );
    let throttled = app.sandbox.stats().await["throttled"].as_u64().unwrap_or(0);
    assert!(
        (1..=2).contains(&throttled),
        "Meta refused {throttled} calls: the client stops calling a throttled Page"
    );
    assert_no_duplicated_mutation(&app).await;
});
