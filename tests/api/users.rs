use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

both!(
    create_then_get_returns_the_full_resource_with_meta_and_etag,
    |app| async move {
        let r = app
            .post(
                "/Users",
                json!({
                    "schemas": [USER_SCHEMA, ENTERPRISE],
                    "userName": "Ada@Example.com",
                    "externalId": "ext-ada",
                    "name": {"givenName": "Ada", "familyName": "Lovelace"},
                    "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                    "password": "never-stored",
                    ENTERPRISE: {"department": "R&D", "manager": {"value": "boss-1"}},
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let created: Value = r.json().await.unwrap();
        assert_eq!(etag, "W/\"1\"");
        assert_eq!(created["userName"], "Ada@Example.com");
        assert_eq!(created["meta"]["resourceType"], "User");
        assert_eq!(created["meta"]["location"], location);
        assert!(location.starts_with("http://127.0.0.1:"));
        assert_eq!(created["meta"]["version"], etag);
        assert!(
            created.get("password").is_none(),
            "password is never returned"
        );
        assert_eq!(created[ENTERPRISE]["department"], "R&D");
        assert_eq!(created["schemas"], json!([USER_SCHEMA, ENTERPRISE]));

        let id = created["id"].as_str().unwrap();
        let r = app.get(&format!("/Users/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let fetched: Value = r.json().await.unwrap();
        assert_eq!(fetched, created);
        let c = app.counts().await;
        assert_eq!((c.users, c.user_values), (1, 1));
    }
);

both!(user_name_is_unique_ignoring_case, |app| async move {
    app.create_user("dup@example.com").await;
    let r = app.post("/Users", user_body("DUP@example.com")).await;
    assert_scim_error(r, 409, Some("uniqueness")).await;
    assert_eq!(app.counts().await.users, 1);
});

both!(
    etags_guard_updates_and_answer_not_modified,
    |app| async move {
        let u = app.create_user("etag@example.com").await;
        let id = u["id"].as_str().unwrap();
        let path = format!("/Users/{id}");

        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.token)
            .header("If-None-Match", "W/\"1\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

        let r = app.client.patch(app.url(&path)).bearer_auth(&app.token)
        .header("If-Match", "W/\"7\"").header("Content-Type", "application/scim+json")
        .body(json!({"schemas":[PATCH_SCHEMA],"Operations":[{"op":"replace","path":"title","value":"x"}]}).to_string())
        .send().await.unwrap();
        assert_scim_error(r, 412, None).await;

        let r = app.client.patch(app.url(&path)).bearer_auth(&app.token)
        .header("If-Match", "W/\"1\"").header("Content-Type", "application/scim+json")
        .body(json!({"schemas":[PATCH_SCHEMA],"Operations":[{"op":"replace","path":"title","value":"x"}]}).to_string())
        .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["etag"], "W/\"2\"");

        // Same value again: no change, no new version (Entra re-sends unchanged values).
        let r = app
            .patch(&path, json!([{"op":"replace","path":"title","value":"x"}]))
            .await;
        assert_eq!(r.headers()["etag"], "W/\"2\"");

        let r = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&app.token)
            .header("If-Match", "W/\"1\"")
            .send()
            .await
            .unwrap();
        assert_scim_error(r, 412, None).await;
        assert_eq!(app.counts().await.users, 1);
    }
);

both!(
    put_replaces_and_ignores_read_only_attributes_sent_back,
    |app| async move {
        let u = app.create_user("put@example.com").await;
        let id = u["id"].as_str().unwrap().to_string();
        // Okta: GET, change, PUT the whole object back including id, meta and groups.
        let mut body = u.clone();
        body["name"]["givenName"] = json!("Changed");
        body["groups"] = json!([]);
        body["meta"]["created"] = json!("1999-01-01T00:00:00Z");
        let r = app.put(&format!("/Users/{id}"), body).await;
        assert_eq!(r.status(), StatusCode::OK);
        let after: Value = r.json().await.unwrap();
        assert_eq!(after["name"]["givenName"], "Changed");
        assert_eq!(after["meta"]["created"], u["meta"]["created"]);
        assert_eq!(after["meta"]["version"], "W/\"2\"");
        // PUT without an attribute removes it.
        let r = app
            .put(
                &format!("/Users/{id}"),
                json!({"userName": "put@example.com"}),
            )
            .await;
        let after: Value = r.json().await.unwrap();
        assert!(after.get("name").is_none() && after.get("emails").is_none());
        assert_eq!(app.counts().await.user_values, 0);
    }
);

both!(
    delete_removes_the_user_and_its_memberships,
    |app| async move {
        let u = app.create_user("del@example.com").await;
        let id = u["id"].as_str().unwrap();
        app.create_group("Team", &[id]).await;
        let r = app.delete(&format!("/Users/{id}")).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_scim_error(app.get(&format!("/Users/{id}")).await, 404, None).await;
        let c = app.counts().await;
        assert_eq!((c.users, c.members, c.groups), (0, 0, 1));
        assert_scim_error(app.delete(&format!("/Users/{id}")).await, 404, None).await;
    }
);

both!(listing_pages_sorts_and_projects, |app| async move {
    for i in 0..7 {
        app.create_user(&format!("user{i}@example.com")).await;
    }
    let page = |q: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("/Users?{q}")).await;
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            r.json::<Value>().await.unwrap()
        }
    };
    let p = page("startIndex=3&count=2").await;
    assert_eq!(p["totalResults"], 7);
    assert_eq!(p["startIndex"], 3);
    assert_eq!(p["itemsPerPage"], 2);
    assert_eq!(p["Resources"][0]["userName"], "user2@example.com");

    let p = page("count=0").await;
    assert_eq!(
        (p["totalResults"].as_i64(), p["itemsPerPage"].as_i64()),
        (Some(7), Some(0))
    );
    let p = page("startIndex=0&count=-5").await;
    assert_eq!(
        (p["startIndex"].as_i64(), p["itemsPerPage"].as_i64()),
        (Some(1), Some(0))
    );
    let p = page("startIndex=100").await;
    assert_eq!(p["Resources"], json!([]));
    assert_eq!(p["totalResults"], 7, "past the end still tells the total");
    let p = page("startIndex=6&count=5").await;
    assert_eq!(
        (p["totalResults"].as_i64(), p["itemsPerPage"].as_i64()),
        (Some(7), Some(2))
    );
    let p = page("startIndex=1&count=7").await;
    assert_eq!(p["totalResults"], 7, "a full page needs a count");

    let p = page("sortBy=userName&sortOrder=descending&count=1").await;
    assert_eq!(p["Resources"][0]["userName"], "user6@example.com");
    // A later sorted page keeps its order (the page is chosen first, then decorated).
    let names = |p: &Value| -> Vec<String> {
        p["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    };
    let p = page("sortBy=userName&sortOrder=descending&startIndex=2&count=3").await;
    assert_eq!(
        names(&p),
        [
            "user5@example.com",
            "user4@example.com",
            "user3@example.com"
        ]
    );
    let p = page("startIndex=4&count=3").await;
    assert_eq!(
        names(&p),
        [
            "user3@example.com",
            "user4@example.com",
            "user5@example.com"
        ]
    );

    let p = page("attributes=userName&count=1").await;
    let r = &p["Resources"][0];
    assert!(r.get("id").is_some() && r.get("userName").is_some());
    assert!(r.get("emails").is_none() && r.get("meta").is_none());

    let p = page("excludedAttributes=emails,name&count=1").await;
    let r = &p["Resources"][0];
    assert!(r.get("emails").is_none() && r.get("name").is_none() && r.get("userName").is_some());
});

both!(max_page_size_caps_count, |app| async move {
    for i in 0..3 {
        app.create_user(&format!("cap{i}@example.com")).await;
    }
    let app2 = TestApp::spawn_with(app.db, |s| s.scim.max_page_size = 2).await;
    for i in 0..3 {
        app2.create_user(&format!("cap{i}@example.com")).await;
    }
    let p: Value = app2.get("/Users?count=50").await.json().await.unwrap();
    assert_eq!(
        (p["totalResults"].as_i64(), p["itemsPerPage"].as_i64()),
        (Some(3), Some(2))
    );
});
