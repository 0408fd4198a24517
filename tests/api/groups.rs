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

async fn send_if(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    header: (&str, &str),
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.token)
        .header(header.0, header.1);
    if let Some(b) = body {
        r = r
            .header("Content-Type", "application/scim+json")
            .body(b.to_string());
    }
    r.send().await.unwrap()
}

both!(
    group_etags_answer_not_modified_and_guard_patches,
    |app| async move {
        let u = ids(&app, 3, "ge").await;
        let g = app.create_group("Versioned", &[&u[0]]).await;
        let gid = g["id"].as_str().unwrap().to_string();
        let path = format!("/Groups/{gid}");

        // The ETag header of a GET is meta.version.
        let r = app.get(&path).await;
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let current: Value = r.json().await.unwrap();
        assert_eq!(etag, current["meta"]["version"].as_str().unwrap());
        assert_eq!(etag, "W/\"1\"");

        // If-None-Match with the current tag → 304 with the tag and no body.
        let r = send_if(
            &app,
            reqwest::Method::GET,
            &path,
            ("If-None-Match", &etag),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()["etag"], etag.as_str());
        assert!(r.bytes().await.unwrap().is_empty());
        // Also when members are not asked for.
        let r = send_if(
            &app,
            reqwest::Method::GET,
            &format!("{path}?excludedAttributes=members"),
            ("If-None-Match", &etag),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

        // Change it: version 2. The old tag no longer matches.
        let r = app
            .patch(
                &path,
                json!([{"op": "add", "path": "members", "value": [{"value": u[1]}]}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["etag"], "W/\"2\"");
        let r = send_if(
            &app,
            reqwest::Method::GET,
            &path,
            ("If-None-Match", &etag),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["etag"], "W/\"2\"");
        let v2: Value = r.json().await.unwrap();
        assert_eq!(v2["meta"]["version"], "W/\"2\"");
        assert_eq!(v2["meta"]["created"], current["meta"]["created"]);
        assert!(
            chrono::DateTime::parse_from_rfc3339(v2["meta"]["lastModified"].as_str().unwrap())
                .unwrap()
                > chrono::DateTime::parse_from_rfc3339(
                    current["meta"]["lastModified"].as_str().unwrap()
                )
                .unwrap()
        );

        // PATCH with the stale tag → 412, and neither members nor version move.
        let r = send_if(
            &app,
            reqwest::Method::PATCH,
            &path,
            ("If-Match", &etag),
            Some(json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": u[2]}]},
                {"op": "replace", "path": "displayName", "value": "Stale"}]})),
        )
        .await;
        assert_scim_error(r, 412, None).await;
        let after: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(after, v2, "nothing changed");
        assert_eq!(app.counts().await.members, 2);

        // PUT with the stale tag → 412 too; DELETE as well.
        let r = send_if(
            &app,
            reqwest::Method::PUT,
            &path,
            ("If-Match", &etag),
            Some(json!({"displayName": "Stale", "members": []})),
        )
        .await;
        assert_scim_error(r, 412, None).await;
        let r = send_if(
            &app,
            reqwest::Method::DELETE,
            &path,
            ("If-Match", &etag),
            None,
        )
        .await;
        assert_scim_error(r, 412, None).await;
        let after: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(after, v2, "nothing changed");

        // The current tag (and `*`) let a PATCH through.
        let r = send_if(
            &app,
            reqwest::Method::PATCH,
            &path,
            ("If-Match", "W/\"2\""),
            Some(json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": u[2]}]}]})),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["etag"], "W/\"3\"");
        let r = send_if(
            &app,
            reqwest::Method::PATCH,
            &path,
            ("If-Match", "*"),
            Some(json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Starred"}]})),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["etag"], "W/\"4\"");
        assert_eq!(member_ids(&app, &gid).await.len(), 3);
    }
);

// ---------------------------------------------------------------------------------------
// Membership cost does not depend on the group's size, shown structurally: triggers log
// every row written to group_members, groups and users, so a PATCH that adds or removes
// one member must write exactly one membership row (and the group's version), whether the
// group has 10 members or 1,000.
// ---------------------------------------------------------------------------------------

#[derive(diesel::QueryableByName)]
struct LoggedWrite {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    op: String,
}

async fn install_write_log(app: &TestApp) {
    use diesel::RunQueryDsl;
    let mut stmts: Vec<String> = vec![];
    match app.db {
        Db::Sqlite => {
            stmts.push(
                "CREATE TABLE write_log (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL)"
                    .into(),
            );
            for t in ["group_members", "groups", "users"] {
                for op in ["INSERT", "UPDATE", "DELETE"] {
                    stmts.push(format!(
                        "CREATE TRIGGER log_{t}_{op} AFTER {op} ON {t} BEGIN \
                         INSERT INTO write_log (tbl, op) VALUES ('{t}', '{op}'); END"
                    ));
                }
            }
        }
        Db::Postgres => {
            stmts.push(
                "CREATE TABLE write_log (seq BIGSERIAL PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL)"
                    .into(),
            );
            stmts.push(
                "CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN \
                 INSERT INTO write_log (tbl, op) VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $f$"
                    .into(),
            );
            for t in ["group_members", "groups", "users"] {
                stmts.push(format!(
                    "CREATE TRIGGER log_{t} AFTER INSERT OR UPDATE OR DELETE ON {t} \
                     FOR EACH ROW EXECUTE FUNCTION log_write()"
                ));
                stmts.push(format!(
                    "CREATE TRIGGER log_{t}_truncate AFTER TRUNCATE ON {t} \
                     FOR EACH STATEMENT EXECUTE FUNCTION log_write()"
                ));
            }
        }
    }
    app.store
        .write(move |c| -> Result<(), hubbridge::store::StoreError> {
            for s in &stmts {
                diesel::sql_query(s.as_str()).execute(c)?;
            }
            Ok(())
        })
        .await
        .expect("install the write log");
}

/// The writes logged since the last call, as (table, operation), then clears the log.
async fn take_write_log(app: &TestApp) -> Vec<(String, String)> {
    use diesel::RunQueryDsl;
    use hubbridge::store::sql::RawQuery;
    let rows: Vec<LoggedWrite> = app
        .store
        .read(|c| {
            Ok(RawQuery::marked("SELECT tbl, op FROM write_log ORDER BY seq", vec![]).load(c)?)
        })
        .await
        .expect("read the write log");
    app.store
        .write(|c| -> Result<(), hubbridge::store::StoreError> {
            diesel::sql_query("DELETE FROM write_log").execute(c)?;
            Ok(())
        })
        .await
        .expect("clear the write log");
    rows.into_iter().map(|r| (r.tbl, r.op)).collect()
}

/// Inserts `n` users straight into the store (fast), returning their ids.
async fn bulk_users(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let prefix = prefix.to_string();
    app.store
        .write(
            move |c| -> Result<Vec<String>, hubbridge::store::StoreError> {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let id = hubbridge::crypto::new_id();
                    let doc = json!({"userName": format!("{prefix}{i}@example.com")});
                    let doc = doc.as_object().unwrap().clone();
                    let (cols, values) = hubbridge::service::directory::user_columns(&doc);
                    hubbridge::store::users::insert(
                        c,
                        &id,
                        &cols,
                        &Value::Object(doc).to_string(),
                        &values,
                        hubbridge::store::now_micros(),
                    )?;
                    out.push(id);
                }
                Ok(out)
            },
        )
        .await
        .expect("bulk users")
}

/// A group of `size` members, built with PATCHes of (at most) 100 members each.
async fn group_of(app: &TestApp, name: &str, members: &[String]) -> String {
    let g = app.create_group(name, &[]).await;
    let gid = g["id"].as_str().unwrap().to_string();
    for chunk in members.chunks(100) {
        let v: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let r = app
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": v}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    gid
}

async fn group_version(app: &TestApp, gid: &str) -> String {
    let g: Value = app
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await
        .json()
        .await
        .unwrap();
    g["meta"]["version"].as_str().unwrap().to_string()
}

/// Adds and removes one member of `gid` in the ways Okta and Entra do; returns what each
/// step wrote, after checking the response, the version and the member count.
async fn one_member_changes(
    app: &TestApp,
    gid: &str,
    newcomer: &str,
) -> Vec<Vec<(String, String)>> {
    let path = format!("/Groups/{gid}");
    let mut logs = vec![];
    let steps: Vec<(Value, i64, bool)> = vec![
        // Okta / Entra add.
        (
            json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}]),
            1,
            true,
        ),
        // Adding the same member again changes nothing: no write, no new version.
        (
            json!([{"op": "Add", "path": "members", "value": [{"value": newcomer}]}]),
            0,
            false,
        ),
        // Okta / aadOptscim062020 removal by filter.
        (
            json!([{"op": "remove", "path": format!("members[value eq \"{newcomer}\"]")}]),
            -1,
            true,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}]),
            1,
            true,
        ),
        // Entra default dialect: Remove with a value list.
        (
            json!([{"op": "Remove", "path": "members", "value": [{"value": newcomer}]}]),
            -1,
            true,
        ),
    ];
    for (ops, delta, bumps) in steps {
        let before_members = app.counts().await.members;
        let before_version = group_version(app, gid).await;
        take_write_log(app).await;
        let r = app.patch(&path, ops.clone()).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{ops}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        assert!(
            r.bytes().await.unwrap().is_empty(),
            "no members (nor anything else) rendered: {ops}"
        );
        logs.push(take_write_log(app).await);
        let n: i64 = before_version
            .trim_start_matches("W/\"")
            .trim_end_matches('"')
            .parse()
            .unwrap();
        let expected = format!("W/\"{}\"", if bumps { n + 1 } else { n });
        assert_eq!(etag, expected, "{ops}");
        assert_eq!(group_version(app, gid).await, expected, "{ops}");
        assert_eq!(app.counts().await.members, before_members + delta, "{ops}");
    }
    logs
}

both!(
    one_member_change_writes_one_row_whatever_the_group_size,
    |app| async move {
        let users = bulk_users(&app, 1_012, "cost").await;
        let small = group_of(&app, "Small", &users[..10]).await;
        let large = group_of(&app, "Large", &users[10..1_010]).await;
        assert_eq!(app.counts().await.members, 1_010);
        install_write_log(&app).await;
        take_write_log(&app).await;

        let small_logs = one_member_changes(&app, &small, &users[1_010]).await;
        let large_logs = one_member_changes(&app, &large, &users[1_011]).await;
        let w = |t: &str, o: &str| (t.to_string(), o.to_string());
        let expected = vec![
            vec![w("group_members", "INSERT"), w("groups", "UPDATE")],
            vec![],
            vec![w("group_members", "DELETE"), w("groups", "UPDATE")],
            vec![w("group_members", "INSERT"), w("groups", "UPDATE")],
            vec![w("group_members", "DELETE"), w("groups", "UPDATE")],
        ];
        assert_eq!(small_logs, expected, "10-member group");
        assert_eq!(large_logs, expected, "1,000-member group");

        // The log does see every row written: removing all 10 members of a third group
        // logs 10 membership deletes.
        let throwaway = group_of(&app, "Throwaway", &users[..10]).await;
        take_write_log(&app).await;
        let r = app
            .patch(
                &format!("/Groups/{throwaway}"),
                json!([{"op": "remove", "path": "members"}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let log = take_write_log(&app).await;
        assert_eq!(
            log.iter()
                .filter(|e| *e == &w("group_members", "DELETE"))
                .count(),
            10,
            "{log:?}"
        );

        // Both groups still have exactly their members.
        assert_eq!(member_ids(&app, &small).await.len(), 10);
        assert_eq!(member_ids(&app, &large).await.len(), 1_000);
        assert_eq!(app.counts().await.members, 1_010);
    }
);

// Okta's App Integration Wizard apps push group membership with PUT (idp-behaviors.md §1).
// A PUT that sends back the same members, or one more, must not rewrite the rows of the
// members that stay (it used to delete every membership row and insert them all again).
both!(
    group_put_rewrites_only_changed_member_rows,
    |app| async move {
        let users = bulk_users(&app, 101, "put").await;
        let gid = group_of(&app, "Pushed", &users[..100]).await;
        let path = format!("/Groups/{gid}");
        install_write_log(&app).await;
        let mut g: Value = app.get(&path).await.json().await.unwrap();
        // Unchanged membership: no membership row written, and the version stays.
        let r = app.put(&path, g.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let same: Value = r.json().await.unwrap();
        assert_eq!(same["meta"]["version"], g["meta"]["version"]);
        assert_eq!(same["members"].as_array().unwrap().len(), 100);
        let log = take_write_log(&app).await;
        let member_writes: Vec<_> = log.iter().filter(|e| e.0 == "group_members").collect();
        assert!(
            member_writes.is_empty(),
            "{} rows written",
            member_writes.len()
        );
        // One member more: one row inserted, none deleted.
        g["members"]
            .as_array_mut()
            .unwrap()
            .push(json!({"value": users[100]}));
        let r = app.put(&path, g).await;
        assert_eq!(r.status(), StatusCode::OK);
        let log = take_write_log(&app).await;
        let member_writes: Vec<_> = log.iter().filter(|e| e.0 == "group_members").collect();
        assert_eq!(
            member_writes,
            [&("group_members".to_string(), "INSERT".to_string())],
            "{} rows written",
            member_writes.len()
        );
        assert_eq!(app.counts().await.members, 101);
    }
);

// docs/scim.md: `members[value eq "a" or value eq "b"]` removes exactly the members named.
both!(
    remove_by_an_or_filter_removes_exactly_the_named_members,
    |app| async move {
        let mut ids = Vec::new();
        for n in ["m1", "m2", "m3", "m4"] {
            let u = app.create_user(&format!("{n}@example.com")).await;
            ids.push(u["id"].as_str().unwrap().to_string());
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let group = app.create_group("OrRemoval", &refs).await;
        let path = format!("/Groups/{}", group["id"].as_str().unwrap());
        let r = app
            .patch(
                &path,
                json!([{"op": "remove", "path": format!(
                    "members[value eq \"{}\" or value eq \"{}\" or value eq \"not-a-member\"]",
                    ids[0], ids[2]
                )}]),
            )
            .await;
        assert_eq!(r.status().as_u16(), 204);
        let g: Value = app.get(&path).await.json().await.unwrap();
        let mut left: Vec<&str> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        left.sort();
        let mut expected = vec![ids[1].as_str(), ids[3].as_str()];
        expected.sort();
        assert_eq!(left, expected);
    }
);

both!(an_empty_external_id_is_no_external_id, |app| async move {
    let created = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Blank", "externalId": ""}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert!(body.get("externalId").is_none(), "{body}");
    let id = body["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/Groups/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("externalId").is_none(), "{read}");
});
