//! What hub owners decide about members over the admin API — exempt, end an exemption,
//! match to a directory user — and that the engine honours it, on both databases.

use hubbridge::sandbox::demo_ids;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::TestApp;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn members(app: &TestApp, root: &str, hub: &str, query: &str) -> Vec<Value> {
    let (status, list) = app
        .admin(
            root,
            Method::GET,
            &format!("/hubs/{hub}/members?limit=200{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().unwrap().clone()
}

both!(
    owners_exempt_and_match_members_and_the_engine_respects_it,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let act = |method: Method, path: String, body: Option<Value>| {
            let (app, root, hub) = (&app, &root, &hub.id);
            async move {
                app.admin(root, method, &format!("/hubs/{hub}/members/{path}"), body)
                    .await
            }
        };
        let employees: Vec<Value> = members(&app, &root, &hub.id, "&state=unmatched")
            .await
            .into_iter()
            .filter(|m| m["meta"]["status"] == "active" && m["meta"]["business_role"] == "EMPLOYEE")
            .collect();
        let (a, b) = (id(&employees[0]), id(&employees[1]));
        let b_person = employees[1]["meta"]["business_user_id"]
            .as_str()
            .unwrap()
            .to_string();

        // An exemption needs a reason and records who gave it.
        let (status, exempted) = act(
            Method::POST,
            format!("{a}/exempt"),
            Some(json!({"reason": "contractor until June"})),
        )
        .await;
        assert_eq!(status, 200, "{exempted}");
        assert_eq!(exempted["state"], "exempted");
        assert_eq!(exempted["exemption"]["reason"], "contractor until June");
        assert_eq!(exempted["exemption"]["by"], "admin:root@example.com");
        assert!(exempted["exemption"]["at"].is_string());
        for body in [json!({}), json!({"reason": "  "}), json!({"reason": 7})] {
            let (status, problem) = act(Method::POST, format!("{b}/exempt"), Some(body)).await;
            assert_eq!(status, 422, "{problem}");
        }
        let listed: Vec<String> = members(&app, &root, &hub.id, "&state=exempted")
            .await
            .iter()
            .map(id)
            .collect();
        assert_eq!(listed, vec![a.clone()]);

        // Matched to a directory user whose address differs from the Meta one: onboarded,
        // and since that user's grant gives what the person has, nothing is sent to Meta.
        let ann = id(&app.create_user("ann.other@example.com").await);
        let team = id(&app.create_group("Team", &[]).await);
        let (status, grant) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": team, "hub_role": "collaborator",
                            "business_role": "EMPLOYEE"})),
            )
            .await;
        assert_eq!(status, 201);
        let grant_id = id(&grant);
        let add = json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]);
        assert_eq!(
            app.patch(&format!("/Groups/{team}"), add).await.status(),
            204
        );
        let (status, refused) = act(
            Method::POST,
            format!("{a}/match"),
            Some(json!({"user_id": ann, "hub_role": "owner"})),
        )
        .await;
        assert_eq!(status, 409, "an exempted member is not matched: {refused}");
        let (status, matched) = act(
            Method::POST,
            format!("{b}/match"),
            Some(json!({"user_id": ann, "hub_role": "collaborator"})),
        )
        .await;
        assert_eq!(status, 200, "{matched}");
        assert_eq!(matched["state"], "onboarded");
        assert_eq!(matched["user"]["id"], ann.as_str());
        assert_eq!(matched["hub_role"], "collaborator");
        assert_eq!(
            matched["granted_by"],
            json!([{"grant_id": grant_id, "via": "group",
                    "group": {"id": team, "display": "Team"}}])
        );
        app.run_pending_tasks().await;
        let invitations = format!("/{}/business_users", demo_ids::BUSINESS_ID);
        assert_eq!(app.sandbox.all_calls("POST", &invitations).await, 0);
        let removal = format!("/{b_person}");
        assert_eq!(app.sandbox.all_calls("DELETE", &removal).await, 0);
        let (status, twice) = act(
            Method::POST,
            format!("{a}/match"),
            Some(json!({"user_id": ann, "hub_role": "owner"})),
        )
        .await;
        assert_eq!(status, 409, "{twice}");

        // Exempted, the member is left alone when its user loses the grant…
        let (status, _) = act(
            Method::POST,
            format!("{b}/exempt"),
            Some(json!({"reason": "keeps access during the audit"})),
        )
        .await;
        assert_eq!(status, 200);
        let leave = json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]);
        assert_eq!(
            app.patch(&format!("/Groups/{team}"), leave).await.status(),
            204
        );
        app.run_pending_tasks().await;
        assert_eq!(app.sandbox.all_calls("DELETE", &removal).await, 0);
        // …and once the exemption ends it follows its user again: removed, once.
        let (_, left) = act(Method::GET, b.clone(), None).await;
        assert_eq!(left["granted_by"], json!([]), "{left}");
        let (status, ended) = act(Method::DELETE, format!("{b}/exempt"), None).await;
        assert_eq!(status, 200, "{ended}");
        assert_eq!(ended["state"], "onboarded");
        assert!(ended["exemption"].is_null());
        app.run_pending_tasks().await;
        assert_eq!(app.sandbox.calls("DELETE", &removal).await, 1);
        let (status, _) = act(Method::DELETE, format!("{b}/exempt"), None).await;
        assert_eq!(status, 409, "not exempted any more");
        let (status, _) = act(Method::DELETE, "nobody/exempt".into(), None).await;
        assert_eq!(status, 404);
        let (status, problem) = act(
            Method::POST,
            format!("{b}/match"),
            Some(json!({"user_id": "no-such-user", "hub_role": "owner"})),
        )
        .await;
        assert_eq!(status, 422, "{problem}");
    }
);

both!(
    an_owner_removes_members_but_not_a_granted_one_nor_the_last_admin,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let remove = |member: String| {
            let (app, root, hub) = (&app, &root, &hub.id);
            async move {
                app.admin(
                    root,
                    Method::POST,
                    &format!("/hubs/{hub}/members/{member}/remove"),
                    None,
                )
                .await
            }
        };
        let all = members(&app, &root, &hub.id, "").await;
        let active = |role: &str| -> Vec<Value> {
            all.iter()
                .filter(|m| m["meta"]["status"] == "active" && m["meta"]["business_role"] == role)
                .cloned()
                .collect()
        };
        let (employees, admins) = (active("EMPLOYEE"), active("ADMIN"));
        let invited = all
            .iter()
            .find(|m| m["meta"]["status"] == "invited")
            .cloned()
            .expect("a pending invitation in the demo business");

        // An unmatched employee and a pending invitation: one task each, not doubled.
        let (status, task) = remove(id(&employees[0])).await;
        assert_eq!(status, 202, "{task}");
        assert_eq!(task["kind"], "remove_member");
        let (_, again) = remove(id(&employees[0])).await;
        assert_eq!(again["id"], task["id"], "one removal per member");
        let (status, _) = remove(id(&invited)).await;
        assert_eq!(status, 202);
        app.run_pending_tasks().await;
        let person = employees[0]["meta"]["business_user_id"].as_str().unwrap();
        assert_eq!(app.sandbox.calls("DELETE", &format!("/{person}")).await, 1);
        let invitation = invited["meta"]["invitation_id"].as_str().unwrap();
        assert_eq!(
            app.sandbox.calls("DELETE", &format!("/{invitation}")).await,
            1
        );
        let (_, gone) = app
            .admin(
                &root,
                Method::GET,
                &format!("/hubs/{}/members/{}", hub.id, id(&employees[0])),
                None,
            )
            .await;
        assert_eq!(gone["meta"]["status"], "removed", "{gone}");
        let (status, _) = remove(id(&employees[0])).await;
        assert_eq!(status, 409, "no seat left");

        // A member a grant reaches: the grant decides (409 naming it).
        let email = employees[1]["meta"]["email"].as_str().unwrap();
        let user = id(&app.create_user(email).await);
        let team = id(&app.create_group("Team", &[&user]).await);
        let (_, grant) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"group_id": team, "hub_role": "collaborator",
                            "business_role": "EMPLOYEE"})),
            )
            .await;
        app.run_pending_tasks().await;
        let (status, problem) = remove(id(&employees[1])).await;
        assert_eq!(status, 409, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(grant["id"].as_str().unwrap())),
            "{problem}"
        );

        // An exempted member, and the last admin, are refused; an unknown one is not found.
        let (status, _) = app
            .admin(
                &root,
                Method::POST,
                &format!("/hubs/{}/members/{}/exempt", hub.id, id(&employees[2])),
                Some(json!({"reason": "on leave"})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(remove(id(&employees[2])).await.0, 409);
        let (last, others) = admins.split_last().expect("admins");
        for admin in others {
            assert_eq!(remove(id(admin)).await.0, 202);
        }
        app.run_pending_tasks().await;
        let (status, problem) = remove(id(last)).await;
        assert_eq!(status, 409, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("last admin")),
            "{problem}"
        );
        assert_eq!(remove("nobody".into()).await.0, 404);
    }
);

both!(the_member_list_exports_as_csv, |app| async move {
    let hub = app.connect_demo_hub().await;
    let root = app.admin_token("root@example.com", "owner");
    let all = members(&app, &root, &hub.id, "").await;
    let csv = |query: &str, accept: Option<&str>| {
        let (app, root, hub) = (&app, &root, &hub.id);
        let url = format!("{}/admin/v1/hubs/{hub}/members{query}", app.base);
        let accept = accept.map(str::to_string);
        async move {
            let mut rb = app.client.get(url).bearer_auth(root);
            if let Some(a) = accept {
                rb = rb.header("Accept", a);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, ct, r.text().await.unwrap())
        }
    };

    let (status, ct, body) = csv("?format=csv", None).await;
    let (_, ct2, by_accept) = csv("", Some("text/csv")).await;
    let (_, _, exempted) = csv("?format=csv&state=exempted", None).await;
    let (bad, _, _) = csv("?format=xml", None).await;

    assert_eq!(status, 200);
    assert!(
        ct.starts_with("text/csv") && ct2.starts_with("text/csv"),
        "{ct} {ct2}"
    );
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("id,state,email,name,meta_status,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), all.len() + 1, "a line per member");
    for m in &all {
        let id = m["id"].as_str().unwrap();
        let email = m["meta"]["email"].as_str().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{id},{},{email},", m["state"].as_str().unwrap()))),
            "{id} {email}"
        );
    }
    assert_eq!(by_accept, body);
    assert_eq!(
        exempted.split("\r\n").filter(|l| !l.is_empty()).count(),
        1,
        "the header only"
    );
    assert_eq!(bad, 422);
});

both!(
    an_admin_claims_their_own_meta_seat_as_owner,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let jane = app.admin_token("jane@corp.example", "owner");
        let stranger = app.admin_token("nobody@corp.example", "owner");
        let seat = members(&app, &jane, &hub.id, "&state=unmatched")
            .await
            .into_iter()
            .find(|m| m["meta"]["status"] == "active" && m["meta"]["business_role"] == "ADMIN")
            .expect("an unmatched admin");
        let user = id(&app.create_user("Jane@Corp.example").await);
        let claim = |token: String, member: String| {
            let (app, hub) = (&app, &hub.id);
            async move {
                app.admin(
                    &token,
                    Method::POST,
                    &format!("/hubs/{hub}/claim-owner"),
                    Some(json!({"member_id": member})),
                )
                .await
            }
        };

        let (status, problem) = claim(stranger, id(&seat)).await;
        assert_eq!(status, 422, "no directory user has that address: {problem}");
        let (status, claimed) = claim(jane.clone(), id(&seat)).await;
        assert_eq!(status, 200, "{claimed}");
        assert_eq!(claimed["state"], "onboarded");
        assert_eq!(claimed["hub_role"], "owner");
        assert_eq!(claimed["user"]["id"], user.as_str());
        // With a grant of her own, her reconcile finds Meta as it should be: nothing is sent.
        let (status, _) = app
            .admin(
                &jane,
                Method::POST,
                &format!("/hubs/{}/grants", hub.id),
                Some(json!({"user_id": user, "hub_role": "owner", "business_role": "ADMIN"})),
            )
            .await;
        assert_eq!(status, 201);
        app.run_pending_tasks().await;
        let (_, all) = app
            .sandbox
            .control(reqwest::Method::GET, "/calls?ok=true", None)
            .await;
        let mutations: Vec<&Value> = all["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["method"] != "GET")
            .collect();
        assert!(mutations.is_empty(), "{mutations:?}");
        let (status, _) = claim(jane, "nobody".into()).await;
        assert_eq!(status, 404);
    }
);

both!(
    registered_guests_are_members_of_their_own_state,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let register = |body: Value| {
            let (app, root) = (&app, &root);
            async move { app.admin(root, Method::POST, "/guests", Some(body)).await }
        };
        let states = |email: String| {
            let (app, root, hub) = (&app, &root, &hub.id);
            async move {
                members(app, root, hub, "")
                    .await
                    .into_iter()
                    .filter(|m| {
                        m["meta"]["email"].as_str().map(str::to_lowercase)
                            == Some(email.to_lowercase())
                    })
                    .map(|m| m["state"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        let unmatched = members(&app, &root, &hub.id, "&state=unmatched").await;
        let email = unmatched[0]["meta"]["email"].as_str().unwrap().to_string();

        let (status, guest) = register(
            json!({"name": "Agency contact", "email": email.to_uppercase(),
                                          "partner_business_id": demo_ids::PARTNER_A_ID}),
        )
        .await;
        assert_eq!(status, 201, "{guest}");
        assert_eq!(states(email.clone()).await, ["guest"]);
        let (status, _) = register(json!({"name": "Again", "email": email})).await;
        assert_eq!(status, 409, "one guest per address");
        for bad in [
            json!({"name": "x", "email": "not-an-address"}),
            json!({"name": "", "email": "a@agency.example"}),
            json!({"name": "x", "email": "a@agency.example", "partner_business_id": "abc"}),
            json!({"name": "x", "email": "a@agency.example", "role": "ADMIN"}),
        ] {
            let (status, problem) = register(bad).await;
            assert_eq!(status, 422, "{problem}");
        }

        // Someone new in Meta with a guest's address is a guest from the sync that sees them.
        let (status, _) =
            register(json!({"name": "New", "email": "new.person@agency.example"})).await;
        assert_eq!(status, 201);
        app.graph
            .invite(
                &app.hub(),
                demo_ids::BUSINESS_ID,
                &hubbridge::meta::Invite {
                    email: "new.person@agency.example".into(),
                    role: hubbridge::meta::BusinessRole::Employee,
                    tasks: vec![],
                },
            )
            .await
            .expect("invited by hand");
        let (status, _) = app
            .admin(&root, Method::POST, &format!("/hubs/{}/sync", hub.id), None)
            .await;
        assert_eq!(status, 202);
        app.run_pending_tasks().await;
        assert_eq!(states("new.person@agency.example".into()).await, ["guest"]);
        let (_, listed) = app.admin(&root, Method::GET, "/guests", None).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

        // Removed, the guest's member is unmatched again.
        let path = format!("/guests/{}", guest["id"].as_str().unwrap());
        assert_eq!(app.admin(&root, Method::DELETE, &path, None).await.0, 204);
        assert_eq!(states(email).await, ["unmatched"]);
        assert_eq!(app.admin(&root, Method::DELETE, &path, None).await.0, 404);
    }
);

both!(
    hub_owners_through_members_manage_and_collaborators_read,
    |app| async move {
        let hub = app.connect_demo_hub().await;
        let root = app.admin_token("root@example.com", "owner");
        let seats = members(&app, &root, &hub.id, "&state=unmatched").await;
        for (seat, address, role) in [
            (&seats[0], "olga@corp.example", "owner"),
            (&seats[1], "carl@corp.example", "collaborator"),
        ] {
            app.match_to_new_user(&root, &hub.id, &id(seat), address, role)
                .await;
        }
        let olga = app.admin_token("olga@corp.example", "admin");
        let carl = app.admin_token("carl@corp.example", "admin");
        let sam = app.admin_token("sam@corp.example", "admin");
        let status = |token: &str, method: Method, path: String, body: Option<Value>| {
            let (app, token) = (&app, token.to_string());
            async move { app.admin(&token, method, &path, body).await.0 }
        };
        let hubs_of = |token: &str| {
            let (app, token) = (&app, token.to_string());
            async move {
                let (_, list) = app.admin(&token, Method::GET, "/hubs", None).await;
                list["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(id)
                    .collect::<Vec<_>>()
            }
        };
        let members_path = format!("/hubs/{}/members", hub.id);
        let sync_path = format!("/hubs/{}/sync", hub.id);
        let grant = json!({"user_id": "x", "hub_role": "owner", "business_role": "ADMIN"});

        assert_eq!(hubs_of(&carl).await, vec![hub.id.clone()]);
        assert_eq!(hubs_of(&olga).await, vec![hub.id.clone()]);
        assert!(hubs_of(&sam).await.is_empty());
        assert_eq!(
            status(&carl, Method::GET, members_path.clone(), None).await,
            200
        );
        assert_eq!(
            status(&carl, Method::POST, sync_path.clone(), None).await,
            403
        );
        assert_eq!(
            status(
                &carl,
                Method::POST,
                format!("/hubs/{}/grants", hub.id),
                Some(grant)
            )
            .await,
            403
        );
        assert_eq!(
            status(&olga, Method::GET, members_path.clone(), None).await,
            200
        );
        assert_eq!(status(&olga, Method::POST, sync_path, None).await, 202);
        assert_eq!(status(&sam, Method::GET, members_path, None).await, 403);
        // The sync's task: the collaborator reads it, may not cancel it; the stranger sees none.
        let (_, tasks) = app
            .admin(
                &carl,
                Method::GET,
                "/tasks?kind=sync_hub&status=pending",
                None,
            )
            .await;
        let task = tasks["data"][0]["id"]
            .as_str()
            .expect("the sync, visible")
            .to_string();
        assert_eq!(
            status(&carl, Method::GET, format!("/tasks/{task}"), None).await,
            200
        );
        assert_eq!(
            status(&carl, Method::POST, format!("/tasks/{task}/cancel"), None).await,
            403
        );
        assert_eq!(
            status(&sam, Method::GET, format!("/tasks/{task}"), None).await,
            404
        );
    }
);
