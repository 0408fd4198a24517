use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

async fn ids(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let mut out = vec![];
    for i in 0..n {
        let u = app.create_user(&format!("{prefix}{i}@example.com")).await;
        out.push(u["id"].as_str().unwrap().to_string());
    }
    out
}

async fn member_ids(app: &TestApp, gid: &str) -> Vec<String> {
    let g: Value = app
        .get(&format!("/Groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    let mut v: Vec<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

both!(
    group_create_get_and_members_render_with_refs,
    |app| async move {
        let u = ids(&app, 2, "g").await;
        let g = app.create_group("Engineering", &[&u[0], &u[1]]).await;
        assert_eq!(g["schemas"], json!([GROUP_SCHEMA]));
        assert_eq!(g["members"].as_array().unwrap().len(), 2);
        let m = &g["members"][0];
        assert_eq!(m["type"], "User");
        assert!(m["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{}", m["value"].as_str().unwrap())));
        assert_eq!(m["display"], "g0@example.com");
        let gid = g["id"].as_str().unwrap();

        // The user shows the group (read-only `groups`).
        let user: Value = app
            .get(&format!("/Users/{}", u[0]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(user["groups"][0]["value"], gid);
        assert_eq!(user["groups"][0]["display"], "Engineering");

        // excludedAttributes=members: no members in the answer (and none loaded).
        let r: Value = app
            .get(&format!("/Groups/{gid}?excludedAttributes=members"))
            .await
            .json()
            .await
            .unwrap();
        assert!(r.get("members").is_none());
        assert_eq!(r["displayName"], "Engineering");
        let l: Value = app
            .get("/Groups?filter=displayName%20eq%20%22engineering%22&excludedAttributes=members")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(l["totalResults"], 1);
        assert!(l["Resources"][0].get("members").is_none());
    }
);

both!(group_display_name_is_unique, |app| async move {
    app.create_group("Sales", &[]).await;
    let r = app.post("/Groups", json!({"displayName": "SALES"})).await;
    assert_scim_error(r, 409, Some("uniqueness")).await;
    let other = app.create_group("Other", &[]).await;
    let r = app
        .patch(
            &format!("/Groups/{}", other["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": "displayName", "value": "sales"}]),
        )
        .await;
    assert_scim_error(r, 409, Some("uniqueness")).await;
    assert_eq!(app.counts().await.groups, 2);
});

both!(member_patches_add_remove_and_replace, |app| async move {
    let u = ids(&app, 4, "m").await;
    let g = app.create_group("Team", &[&u[0]]).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");

    // Okta: remove by filter and add in one request.
    let r = app.patch(&path, json!([
        {"op": "remove", "path": format!("members[value eq \"{}\"]", u[0])},
        {"op": "add", "path": "members", "value": [{"value": u[1], "display": "x"}, {"value": u[2]}]},
    ])).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["etag"], "W/\"2\"");
    let mut want = vec![u[1].clone(), u[2].clone()];
    want.sort();
    assert_eq!(member_ids(&app, &gid).await, want);

    // Adding an existing member again changes nothing.
    app.patch(
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": u[1]}]}]),
    )
    .await;
    assert_eq!(app.counts().await.members, 2);

    // Entra default dialect: Remove with a value list.
    let r = app
        .patch(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"value": u[1]}]}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(member_ids(&app, &gid).await, vec![u[2].clone()]);

    // Okta full push: replace all members.
    app.patch(
        &path,
        json!([{"op": "replace", "path": "members", "value": [{"value": u[3]}, {"value": u[0]}]}]),
    )
    .await;
    let mut want = vec![u[3].clone(), u[0].clone()];
    want.sort();
    assert_eq!(member_ids(&app, &gid).await, want);

    // Remove all.
    app.patch(&path, json!([{"op": "remove", "path": "members"}]))
        .await;
    assert!(member_ids(&app, &gid).await.is_empty());
});

both!(
    unknown_or_nested_members_are_refused_without_partial_writes,
    |app| async move {
        let u = ids(&app, 1, "n").await;
        let g = app.create_group("Team", &[]).await;
        let other = app.create_group("Other", &[]).await;
        let path = format!("/Groups/{}", g["id"].as_str().unwrap());
        let r = app
            .patch(
                &path,
                json!([
                    {"op": "add", "path": "members", "value": [{"value": u[0]}]},
                    {"op": "add", "path": "members", "value": [{"value": "no-such-user"}]},
                ]),
            )
            .await;
        let body = assert_scim_error(r, 400, Some("invalidValue")).await;
        assert!(body["detail"].as_str().unwrap().contains("no-such-user"));
        assert_eq!(
            app.counts().await.members,
            0,
            "the first op was rolled back"
        );
        let r = app
            .patch(
                &path,
                json!([{"op": "add", "path": "members",
        "value": [{"value": other["id"], "type": "Group"}]}]),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidValue")).await;
        let g: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(g["meta"]["version"], "W/\"1\"");
    }
);

both!(group_rename_put_and_delete, |app| async move {
    let u = ids(&app, 2, "r").await;
    let g = app.create_group("Old", &[&u[0]]).await;
    let gid = g["id"].as_str().unwrap().to_string();
    // Okta rename: path-less replace with id inside the value.
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "value": {"id": gid, "displayName": "New"}}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let got: Value = app
        .get(&format!("/Groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["displayName"], "New");
    assert_eq!(got["members"].as_array().unwrap().len(), 1);
    // PUT replaces everything, members included.
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            json!({"displayName": "Put", "externalId": "e1",
        "members": [{"value": u[1]}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["externalId"], "e1");
    assert_eq!(member_ids(&app, &gid).await, vec![u[1].clone()]);
    assert_eq!(
        app.delete(&format!("/Groups/{gid}")).await.status(),
        StatusCode::NO_CONTENT
    );
    let c = app.counts().await;
    assert_eq!((c.groups, c.members, c.users), (0, 0, 2));
});

both!(
    large_group_membership_changes_touch_single_rows,
    |app| async move {
        // 300 members is enough to show the mechanism on both backends in a test; the
        // benchmark measures the cost at 10,000 members.
        let u = ids(&app, 300, "big").await;
        let refs: Vec<&str> = u.iter().map(String::as_str).collect();
        let g = app.create_group("Big", &refs[..299]).await;
        let gid = g["id"].as_str().unwrap();
        let r = app
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": u[299]}]}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = app
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", u[0])}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.counts().await.members, 299);
        let f: Value = app
            .get(&format!(
                "/Groups?filter=members.value%20eq%20%22{}%22&excludedAttributes=members",
                u[299]
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(f["totalResults"], 1);
    }
);

both!(
    concurrent_member_changes_without_if_match_all_succeed,
    |app| async move {
        // Okta and Entra send membership changes to one group in parallel; without If-Match
        // none of them may fail on another's version bump.
        let u = ids(&app, 24, "c").await;
        let g = app.create_group("Busy", &[]).await;
        let path = format!("/Groups/{}", g["id"].as_str().unwrap());
        let adds = u.iter().map(|id| {
            app.patch(
                &path,
                json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
            )
        });
        for r in futures_util::future::join_all(adds).await {
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
        }
        assert_eq!(app.counts().await.members, 24);
        let got: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(got["meta"]["version"], "W/\"25\"", "one version per change");

        let user = format!("/Users/{}", u[0]);
        let patches = (0..16).map(|i| {
            app.patch(
                &user,
                json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]),
            )
        });
        for r in futures_util::future::join_all(patches).await {
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
);

both!(
    a_users_groups_come_with_every_read_and_write_of_the_user,
    |app| async move {
        let u = ids(&app, 2, "member").await;
        // Names that need JSON escaping and case-insensitive ordering.
        let names = ["beta", "Alpha \"A\" \\ team", "gamma ü"];
        let mut gids = vec![];
        for name in names {
            let g = app.create_group(name, &[&u[0]]).await;
            gids.push(g["id"].as_str().unwrap().to_string());
        }
        let expected = json!([
            {"value": gids[1], "display": names[1]},
            {"value": gids[0], "display": names[0]},
            {"value": gids[2], "display": names[2]},
        ]);
        let shown = |user: &Value| -> Value {
            let groups = user["groups"].as_array().expect("groups shown");
            Value::Array(
                groups
                    .iter()
                    .map(|g| json!({"value": g["value"], "display": g["display"]}))
                    .collect(),
            )
        };

        let got: Value = app
            .get(&format!("/Users/{}", u[0]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown(&got), expected, "GET by id");

        let listed: Value = app
            .get("/Users?filter=userName%20eq%20%22member0@example.com%22")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown(&listed["Resources"][0]), expected, "filter");

        let all: Value = app
            .get("/Users?sortBy=userName")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown(&all["Resources"][0]), expected, "list");
        assert!(
            all["Resources"][1]
                .get("groups")
                .is_none_or(|g| g.as_array().is_some_and(|a| a.is_empty())),
            "a user in no group shows none: {}",
            all["Resources"][1]
        );

        let patched: Value = app
            .patch(
                &format!("/Users/{}", u[0]),
                json!([{"op": "replace", "path": "displayName", "value": "Member Zero"}]),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown(&patched), expected, "PATCH response");

        let mut body = patched.clone();
        body["title"] = json!("Engineer");
        let put: Value = app
            .put(&format!("/Users/{}", u[0]), body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown(&put), expected, "PUT response");
    }
);
