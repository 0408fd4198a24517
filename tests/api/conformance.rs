//! RFC 7644 conformance gaps an independent checker reported: `.search`, trailing slashes,
//! PATCH of the enterprise extension as a whole, removal and clearing of attributes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn search(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, body).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap_or("").to_string())
        .collect()
}

both!(
    search_by_post_on_users_groups_and_the_root,
    |app| async move {
        for n in ["s1", "s2", "s3"] {
            app.create_user(&format!("{n}@example.com")).await;
        }
        app.create_group("Searchers", &[]).await;
        app.create_group("Others", &[]).await;

        let found = search(
            &app,
            "/Users/.search",
            json!({"schemas": [SEARCH], "filter": "userName sw \"s\"", "sortBy": "userName",
               "sortOrder": "descending", "startIndex": 1, "count": 2,
               "attributes": ["userName"]}),
        )
        .await;
        assert_eq!(found["totalResults"], 3);
        assert_eq!(
            names(&found, "userName"),
            ["s3@example.com", "s2@example.com"]
        );
        assert!(
            found["Resources"][0].get("emails").is_none(),
            "attributes applied"
        );

        let found = search(
            &app,
            "/Groups/.search",
            json!({"schemas": [SEARCH], "filter": "displayName eq \"searchers\"",
               "excludedAttributes": "members"}),
        )
        .await;
        assert_eq!(names(&found, "displayName"), ["Searchers"]);

        // The root: users then groups, paged through together.
        let all = search(&app, "/.search", json!({"schemas": [SEARCH]})).await;
        assert_eq!(all["totalResults"], 5);
        let page = search(
            &app,
            "/.search",
            json!({"schemas": [SEARCH], "startIndex": 3, "count": 2}),
        )
        .await;
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], 3);
        let kinds: Vec<&str> = page["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["meta"]["resourceType"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["User", "Group"]);
        // A filter only Groups understand searches Groups alone.
        let groups = search(
            &app,
            "/.search",
            json!({"schemas": [SEARCH], "filter": "members pr or displayName eq \"Others\""}),
        )
        .await;
        assert_eq!(names(&groups, "displayName"), ["Others"]);

        // Bad search bodies: SCIM errors.
        let r = app
            .post("/Users/.search", json!({"schemas": ["urn:x"]}))
            .await;
        assert_scim_error(r, 400, Some("invalidSyntax")).await;
        let r = app
            .post(
                "/Users/.search",
                json!({"schemas": [SEARCH], "count": "ten"}),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidValue")).await;
        let r = app
            .post(
                "/.search",
                json!({"schemas": [SEARCH], "filter": "nothing eq \"x\""}),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidFilter")).await;
        let r = app.get("/Users/.search").await;
        assert_scim_error(r, 405, None).await;
    }
);

both!(
    a_trailing_slash_after_a_resource_type_is_accepted,
    |app| async move {
        let user = app.create_user("slash@example.com").await;
        let id = user["id"].as_str().unwrap();
        let r = app
            .client
            .get(app.url("/Users/"))
            .bearer_auth(&app.token)
            .query(&[("filter", "userName eq \"slash@example.com\"")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["totalResults"], 1);
        let r = app.get(&format!("/Users/{id}/")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.get("/Groups/").await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.post("/Users/", user_body("slash2@example.com")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
);

both!(
    patch_of_the_whole_enterprise_extension_may_carry_its_schemas,
    |app| async move {
        let user = app.create_user("ext@example.com").await;
        let path = format!("/Users/{}", user["id"].as_str().unwrap());
        for op in ["add", "replace"] {
            let r = app
                .patch(
                    &path,
                    json!([{"op": op, "path": ENTERPRISE, "value": {
                        "schemas": [ENTERPRISE],
                        "department": format!("Dept-{op}"),
                        "manager": {"value": "m1"},
                    }}]),
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{op}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body[ENTERPRISE]["department"], format!("Dept-{op}"));
            assert_eq!(body[ENTERPRISE]["manager"]["value"], "m1");
            assert!(body[ENTERPRISE].get("schemas").is_none());
        }
    }
);

// RFC 7644 §3.5.2.2: a removed singular attribute is unassigned. For `active`, unassigned
// means what SCIM means by an absent `active`: the user is not deactivated (docs/scim.md),
// so a removal never takes anyone's access away by surprise.
both!(removing_active_leaves_it_unassigned, |app| async move {
    let user = app.create_user("active@example.com").await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let r = app
        .patch(&path, json!([{"op": "remove", "path": "active"}]))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("active").is_none(), "{body}");
    assert_ne!(body["meta"]["version"], user["meta"]["version"]);
    // Not deactivated: still found among active users, not among inactive ones.
    assert_eq!(
        app.user_names("active eq true").await,
        ["active@example.com"]
    );
    assert!(app.user_names("active eq false").await.is_empty());
    let got: Value = app.get(&path).await.json().await.unwrap();
    assert!(got.get("active").is_none(), "{got}");
});

// Microsoft's gallery validation: a replace with "" or null clears what the path selects,
// value paths included, with or without a path (a path-less value map).
both!(replace_with_empty_clears_value_paths, |app| async move {
    let mut body = user_body("clear@example.com");
    body["emails"] = json!([
        {"value": "clear@example.com", "type": "work", "primary": true},
        {"value": "home@example.com", "type": "home"},
    ]);
    body["phoneNumbers"] = json!([{"value": "+1 555", "type": "work"}]);
    body["addresses"] = json!([{"type": "work", "locality": "Springfield"}]);
    let r = app.post("/Users", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let user: Value = r.json().await.unwrap();
    let path = format!("/Users/{}", user["id"].as_str().unwrap());

    let r = app
        .patch(
            &path,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": ""}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = r.json().await.unwrap();
    assert_eq!(
        now["emails"],
        json!([{"value": "home@example.com", "type": "home"}])
    );

    let r = app
        .patch(
            &path,
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": null}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = r.json().await.unwrap();
    assert!(now.get("phoneNumbers").is_none(), "{now}");

    let r = app
        .patch(
            &path,
            json!([{"op": "replace", "value": {
                "emails[type eq \"home\"].value": "",
                "addresses[type eq \"work\"].locality": null,
                "title": "",
            }}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = r.json().await.unwrap();
    assert!(now.get("emails").is_none(), "{now}");
    assert_eq!(now["addresses"], json!([{"type": "work"}]));
    // `[]` and `{}` are no value either: they clear what a value path selects.
    let r = app
        .patch(
            &path,
            json!([
                {"op": "add", "path": "emails", "value": [
                    {"value": "w@example.com", "type": "work"},
                    {"value": "o@example.com", "type": "other"}]},
                {"op": "replace", "path": "emails[type eq \"work\"]", "value": {}},
                {"op": "replace", "path": "emails[type eq \"other\"].value", "value": []},
            ]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = r.json().await.unwrap();
    assert!(now.get("emails").is_none(), "{now}");
    // Clearing what is not there is no error.
    let r = app
        .patch(
            &path,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": ""}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The lookup columns follow: the cleared address is no longer found.
    assert!(app
        .user_names("emails.value eq \"home@example.com\"")
        .await
        .is_empty());
});

// docs/scim.md: paths at read-only attributes answer `mutability`, `meta` included.
both!(
    paths_at_read_only_attributes_answer_mutability,
    |app| async move {
        let user = app.create_user("readonly@example.com").await;
        let uid = user["id"].as_str().unwrap();
        let group = app.create_group("ReadOnly", &[uid]).await;
        let gid = group["id"].as_str().unwrap();
        for target in [format!("/Users/{uid}"), format!("/Groups/{gid}")] {
            for path in ["meta", "meta.lastModified", "id"] {
                let r = app
                    .patch(
                        &target,
                        json!([{"op": "replace", "path": path, "value": "x"}]),
                    )
                    .await;
                assert_scim_error(r, 400, Some("mutability")).await;
            }
        }
        let r = app
            .patch(
                &format!("/Users/{uid}"),
                json!([{"op": "add", "path": "groups", "value": [{"value": gid}]}]),
            )
            .await;
        assert_scim_error(r, 400, Some("mutability")).await;
    }
);
