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

/// A request with an explicit Content-Type and optional If-Match.
async fn send_with(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    if_match: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut r = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.token)
        .header("Content-Type", content_type);
    if let Some(m) = if_match {
        r = r.header("If-Match", m);
    }
    r.body(body.to_string()).send().await.unwrap()
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

both!(
    put_with_a_stale_if_match_fails_and_changes_nothing,
    |app| async move {
        let u = app.create_user("stale@example.com").await;
        let id = u["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        // Move the user to version 2.
        let r = app
            .patch(
                &path,
                json!([{"op": "replace", "path": "title", "value": "v2"}]),
            )
            .await;
        assert_eq!(r.headers()["etag"], "W/\"2\"");
        let before: Value = app.get(&path).await.json().await.unwrap();

        let mut body = before.clone();
        body["title"] = json!("lost update");
        body["name"]["givenName"] = json!("Nobody");
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &path,
            "application/scim+json",
            Some("W/\"1\""),
            &body,
        )
        .await;
        let err = assert_scim_error(r, 412, None).await;
        assert!(err["detail"].as_str().unwrap().contains("W/\"2\""), "{err}");
        let after: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(after, before, "nothing changed");
        assert_eq!(after["title"], "v2");
        assert_eq!(after["meta"]["version"], "W/\"2\"");

        // The current tag, also among others, lets the PUT through.
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &path,
            "application/scim+json",
            Some("W/\"1\", W/\"2\""),
            &body,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["etag"], "W/\"3\"");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["title"], "lost update");
    }
);

both!(
    etag_header_equals_meta_version_and_last_modified_advances,
    |app| async move {
        let u = app.create_user("meta@example.com").await;
        let id = u["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        let r = app.get(&path).await;
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let v1: Value = r.json().await.unwrap();
        assert_eq!(etag, v1["meta"]["version"].as_str().unwrap());
        assert_eq!(etag, "W/\"1\"");
        assert_eq!(v1["meta"]["created"], v1["meta"]["lastModified"]);

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut body = v1.clone();
        body["displayName"] = json!("Meta User");
        let r = app.put(&path, body).await;
        assert_eq!(r.status(), StatusCode::OK);
        let put_etag = r.headers()["etag"].to_str().unwrap().to_string();
        let v2: Value = r.json().await.unwrap();
        assert_eq!(put_etag, v2["meta"]["version"].as_str().unwrap());
        assert_eq!(put_etag, "W/\"2\"");
        assert_eq!(v2["meta"]["created"], v1["meta"]["created"]);
        let t = |v: &Value, k: &str| {
            chrono::DateTime::parse_from_rfc3339(v["meta"][k].as_str().unwrap()).unwrap()
        };
        assert!(
            t(&v2, "lastModified") > t(&v1, "lastModified"),
            "{} > {}",
            v2["meta"]["lastModified"],
            v1["meta"]["lastModified"]
        );

        // A GET after the update shows the same version in header and body.
        let r = app.get(&path).await;
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let v3: Value = r.json().await.unwrap();
        assert_eq!(etag, "W/\"2\"");
        assert_eq!(v3["meta"], v2["meta"]);

        // If-None-Match with the old tag: a full 200; with the new one: 304 and no body.
        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.token)
            .header("If-None-Match", "W/\"1\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.token)
            .header("If-None-Match", etag.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()["etag"], "W/\"2\"");
        assert!(r.bytes().await.unwrap().is_empty());
    }
);

both!(
    if_match_star_matches_any_current_version,
    |app| async move {
        // RFC 7232 §3.1: `If-Match: *` is true whenever the resource has a current
        // representation; hubbridge implements it for PUT, PATCH and DELETE.
        let u = app.create_user("star@example.com").await;
        let id = u["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        let ops = patch_body(json!([{"op": "replace", "path": "title", "value": "starred"}]));
        let r = send_with(
            &app,
            reqwest::Method::PATCH,
            &path,
            "application/scim+json",
            Some("*"),
            &ops,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["etag"], "W/\"2\"");
        let mut body = u.clone();
        body["title"] = json!("put-starred");
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &path,
            "application/scim+json",
            Some("*"),
            &body,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["title"], "put-starred");
        assert_eq!(v["meta"]["version"], "W/\"3\"");
        // A tag that is not one of ours never matches.
        let r = send_with(
            &app,
            reqwest::Method::PATCH,
            &path,
            "application/scim+json",
            Some("\"not-a-version\""),
            &ops,
        )
        .await;
        assert_scim_error(r, 412, None).await;
        let r = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&app.token)
            .header("If-Match", "*")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.counts().await.users, 0);
        // No current representation: SCIM's PUT never creates, and RFC 7232 §5 says
        // preconditions are ignored when the request would fail without them: 404, not 412.
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &path,
            "application/scim+json",
            Some("*"),
            &body,
        )
        .await;
        assert_scim_error(r, 404, None).await;
        assert_eq!(app.counts().await.users, 0);
    }
);

both!(
    unknown_attributes_are_ignored_and_never_returned,
    |app| async move {
        const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
        let r = app
            .post(
                "/Users",
                json!({
                    "schemas": [USER_SCHEMA, ENTERPRISE, ACME],
                    "userName": "unknown@example.com",
                    "favoriteColor": "blue",
                    "shoeSize": 44,
                    "name": {"givenName": "Una", "nickTitle": "The Great"},
                    "emails": [{"value": "unknown@example.com", "type": "work", "label": "x"}],
                    ACME: {"badge": "7"},
                    ENTERPRISE: {"department": "R&D", "floor": 3},
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
        for v in [&created, &fetched] {
            let o = v.as_object().unwrap();
            for k in ["favoriteColor", "shoeSize", ACME] {
                assert!(!o.keys().any(|x| x.eq_ignore_ascii_case(k)), "{k}: {v}");
            }
            assert_eq!(v["schemas"], json!([USER_SCHEMA, ENTERPRISE]), "{v}");
            assert_eq!(v["name"], json!({"givenName": "Una"}));
            assert_eq!(
                v["emails"],
                json!([{"value": "unknown@example.com", "type": "work"}])
            );
            assert_eq!(v[ENTERPRISE], json!({"department": "R&D"}));
        }
        assert_eq!(fetched, created);
        // Not stored either: a PUT of the same known attributes changes nothing.
        let r = app
            .put(
                &format!("/Users/{id}"),
                json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "unknown@example.com",
                       "name": {"givenName": "Una"},
                       "emails": [{"value": "unknown@example.com", "type": "work"}],
                       ENTERPRISE: {"department": "R&D"}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["etag"],
            "W/\"1\"",
            "same stored document, same version"
        );
        // A PATCH *path* naming an unknown attribute is an instruction, not data: refused
        // with invalidPath (docs/scim.md), and nothing is written.
        let r = app
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "title", "value": "t"},
                       {"op": "add", "path": "favoriteColor", "value": "blue"}]),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidPath")).await;
        let after: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
        assert_eq!(after, fetched, "the first operation was rolled back");
        // Unknown attributes cannot be filtered on.
        let r = app
            .client
            .get(app.url("/Users"))
            .bearer_auth(&app.token)
            .query(&[("filter", r#"favoriteColor eq "blue""#)])
            .send()
            .await
            .unwrap();
        assert_scim_error(r, 400, Some("invalidFilter")).await;
    }
);

both!(
    put_and_patch_accept_plain_json_and_answer_scim_json,
    |app| async move {
        let u = app.create_user("plain@example.com").await;
        let id = u["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        let mut body = u.clone();
        body["title"] = json!("via put");
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &path,
            "application/json",
            None,
            &body,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        assert_eq!(r.json::<Value>().await.unwrap()["title"], "via put");

        let r = send_with(
            &app,
            reqwest::Method::PATCH,
            &path,
            "application/json; charset=utf-8",
            None,
            &patch_body(json!([{"op": "replace", "path": "title", "value": "via patch"}])),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["title"], "via patch");
        assert_eq!(v["meta"]["version"], "W/\"3\"");

        // Group PUT and PATCH too.
        let g = app.create_group("Plain", &[]).await;
        let gpath = format!("/Groups/{}", g["id"].as_str().unwrap());
        let r = send_with(
            &app,
            reqwest::Method::PATCH,
            &gpath,
            "application/json",
            None,
            &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = send_with(
            &app,
            reqwest::Method::PUT,
            &gpath,
            "application/json",
            None,
            &json!({"displayName": "Plain Renamed", "members": [{"value": id}]}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["displayName"], "Plain Renamed");
        assert_eq!(v["members"][0]["value"], id.as_str());

        // Other types are still refused.
        let r = send_with(&app, reqwest::Method::PUT, &path, "text/plain", None, &body).await;
        assert_scim_error(r, 415, None).await;
    }
);

both!(
    sort_order_names_either_direction_in_any_case,
    |app| async move {
        for name in ["b@example.com", "a@example.com", "c@example.com"] {
            app.create_user(name).await;
        }
        let order = |query: &str| {
            let app = &app;
            let query = query.to_string();
            async move {
                let r = app.get(&format!("/Users?sortBy=userName&{query}")).await;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                let names: Vec<String> = body["Resources"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|u| u["userName"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                (status, names)
            }
        };
        let up = vec!["a@example.com", "b@example.com", "c@example.com"];
        let down: Vec<&str> = up.iter().rev().copied().collect();

        assert_eq!(
            order("sortOrder=ascending").await,
            (200, up.iter().map(|s| s.to_string()).collect())
        );
        assert_eq!(order("sortOrder=Ascending").await.1, up);
        assert_eq!(order("sortOrder=descending").await.1, down);
        assert_eq!(order("sortOrder=DESCENDING").await.1, down);
        assert_eq!(order("sortOrder=upwards").await.0, 400);
    }
);
