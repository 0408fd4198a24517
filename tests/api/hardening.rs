//! Hostile input at the SCIM edge: every request gets an answer (never a dropped
//! connection), the same answer on both databases, and nothing is half-written.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

// Non-ASCII input where the code used to slice bytes: each case once panicked the handler
// (a dropped connection or a 500).
both!(
    non_ascii_filters_and_paths_get_scim_errors,
    |app| async move {
        let user = app.create_user("ascii@example.com").await;
        let uid = user["id"].as_str().unwrap().to_string();
        let group = app.create_group("Ascii", &[&uid]).await;
        let gid = group["id"].as_str().unwrap().to_string();

        for filter in ["n€", "N€x", "no€", "not€", "userName eq \"x\" and n€"] {
            let r = app
                .client
                .get(app.url("/Users"))
                .bearer_auth(&app.token)
                .query(&[("filter", filter)])
                .send()
                .await
                .expect("an answer, not a dropped connection");
            assert_scim_error(r, 400, Some("invalidFilter")).await;
        }
        for path in ["abcé:x", "urné:x", "a]b[", "emails]x[type eq \"w\"]", "ü.ä"] {
            for target in [format!("/Users/{uid}"), format!("/Groups/{gid}")] {
                let r = app
                    .patch(
                        &target,
                        json!([{"op": "replace", "path": path, "value": "v"}]),
                    )
                    .await;
                assert_scim_error(r, 400, Some("invalidPath")).await;
            }
        }
        // Nothing changed.
        let r = app.get(&format!("/Users/{uid}")).await;
        let now: Value = r.json().await.unwrap();
        assert_eq!(now["meta"]["version"], user["meta"]["version"]);
    }
);

// A request of every method is answered with a body, whatever the bytes in the URL.
both!(odd_bytes_in_urls_are_answered, |app| async move {
    for path in [
        "/Users/%E2%82%AC",
        "/Users/%FF%FE",
        "/Groups/%C3",
        "/Users/a%00b",
        "/Users?filter=%C3%28",
        "/Users?sortBy=%E2%82%AC",
        "/Users?filter=userName%20eq%20%22a%00b%22",
    ] {
        for method in [Method::GET, Method::DELETE] {
            let r = app
                .client
                .request(method.clone(), format!("{}/scim/v2{path}", app.base))
                .bearer_auth(&app.token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
            assert!(
                r.status().is_client_error(),
                "{method} {path}: {}",
                r.status()
            );
            assert_ne!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
});

// Strings either database would store differently (or refuse) are refused at the edge,
// with the same answer on both: control characters, and over-long indexed values.
both!(
    bad_strings_get_the_same_answer_on_both_databases,
    |app| async move {
        let user = app.create_user("strings@example.com").await;
        let uid = user["id"].as_str().unwrap().to_string();
        let group = app.create_group("Strings", &[&uid]).await;
        let gid = group["id"].as_str().unwrap().to_string();
        let before = app.counts().await;
        let long = "a".repeat(1025);
        let bad_users = [
            json!({"userName": "nul\u{00}byte"}),
            json!({"userName": "bell\u{07}"}),
            json!({"userName": "line\nbreak"}),
            json!({"userName": long}),
            json!({"userName": "ok@example.com", "externalId": "x\u{00}"}),
            json!({"userName": "ok@example.com", "displayName": "a".repeat(1025)}),
            json!({"userName": "ok@example.com", "title": "x\u{00}y"}),
            json!({"userName": "ok@example.com", "emails": [{"value": "a\u{00}@x"}]}),
            json!({"userName": "ok@example.com", "emails": [{"value": format!("{long}@x")}]}),
            json!({"userName": "ok@example.com", "name": {"givenName": "A\u{1b}[31m"}}),
        ];
        for body in bad_users {
            let r = app.post("/Users", body.clone()).await;
            let e = assert_scim_error(r, 400, Some("invalidValue")).await;
            assert!(e["detail"].as_str().unwrap().contains(':'), "{body}: {e}");
        }
        let r = app
            .patch(
                &format!("/Users/{uid}"),
                json!([{"op": "replace", "path": "userName", "value": "x\u{00}"}]),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidValue")).await;
        for body in [
            json!({"displayName": "g\u{00}"}),
            json!({"displayName": "a".repeat(1025)}),
            json!({"displayName": "ok", "externalId": "\u{00}"}),
            json!({"displayName": "ok", "members": [{"value": "\u{00}"}]}),
        ] {
            let r = app.post("/Groups", body.clone()).await;
            assert_scim_error(r, 400, Some("invalidValue")).await;
        }
        for (ops, scim_type) in [
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "a\u{00}"}]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "members", "value": [{"value": "a\u{00}"}]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"a\u{00}\"]"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": "a\u{00}"}]),
                "invalidValue",
            ),
        ] {
            let r = app.patch(&format!("/Groups/{gid}"), ops.clone()).await;
            assert_scim_error(r, 400, Some(scim_type)).await;
        }
        // Ids no resource can have: 404 on both, whatever the method.
        for path in [
            "/Users/a%00b".to_string(),
            format!("/Users/{}", "x".repeat(3000)),
            "/Groups/a%00b".to_string(),
        ] {
            assert_scim_error(app.get(&path).await, 404, None).await;
            assert_scim_error(app.delete(&path).await, 404, None).await;
            let r = app
                .patch(
                    &path,
                    json!([{"op": "replace", "path": "displayName", "value": "x"}]),
                )
                .await;
            assert_scim_error(r, 404, None).await;
        }
        assert_eq!(app.counts().await, before, "nothing was written");

        // Line breaks stay allowed in free text (a formatted address has them), and the
        // longest allowed userName is stored alike on both.
        let mut body = user_body(&"b".repeat(1024));
        body["addresses"] = json!([{"formatted": "1 Main St\nSpringfield", "type": "work"}]);
        body["title"] = json!("Head of\tThings");
        let r = app.post("/Users", body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        assert_eq!(
            created["addresses"][0]["formatted"],
            "1 Main St\nSpringfield"
        );
        let found = app
            .user_names(&format!("userName eq \"{}\"", "B".repeat(1024)))
            .await;
        assert_eq!(found.len(), 1);
    }
);

fn emails(prefix: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"value": format!("{prefix}{i}@example.com"), "type": format!("t{i}")}))
            .collect(),
    )
}

// A user holds at most scim.max_values_per_attribute values in one attribute; beyond it
// the request is refused with invalidValue, whichever way the values arrive.
both!(values_per_attribute_are_capped, |app| async move {
    let mut body = user_body("many@example.com");
    body["emails"] = emails("m", 101);
    let e = assert_scim_error(app.post("/Users", body).await, 400, Some("invalidValue")).await;
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("max_values_per_attribute"),
        "{e}"
    );

    let user = app.create_user("capped@example.com").await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    // One value is there already: 99 more fit, 100 more do not.
    let r = app
        .patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails("a", 99)}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails("b", 1)}]),
        )
        .await;
    assert_scim_error(r, 400, Some("invalidValue")).await;
    // The case: 16,000 emails in one PATCH, refused before any work, by path and
    // in a path-less map.
    for op in [
        json!({"op": "add", "path": "emails", "value": emails("x", 16_000)}),
        json!({"op": "replace", "value": {"emails": emails("y", 16_000)}}),
    ] {
        let r = app.patch(&path, json!([op])).await;
        assert_scim_error(r, 400, Some("invalidValue")).await;
    }
    let r = app.get(&path).await;
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["emails"].as_array().unwrap().len(), 100);
    // Removal by a value list takes the listed ones only.
    let r = app
        .patch(
            &path,
            json!([{"op": "remove", "path": "emails", "value": emails("a", 50)}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["emails"].as_array().unwrap().len(), 50);
});

/// Statements prepared on the PostgreSQL session of the pool's one connection.
async fn prepared_statements(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.store
        .read(|c| {
            Ok(
                diesel::sql_query("SELECT count(*) AS n FROM pg_prepared_statements")
                    .get_result::<N>(c)?
                    .n,
            )
        })
        .await
        .expect("count prepared statements")
}

// Every distinct filter shape used to leave a prepared statement in every PostgreSQL
// backend for good (3,000 shapes: +650 MB). Now at most ShapeAdmission::MAX_ADMITTED are,
// even when every shape repeats (then epochs turn over and connections deallocate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_filters_leave_a_bounded_number_of_prepared_statements() {
    let app = TestApp::spawn_with(Db::Postgres, |s| s.database.max_connections = 1).await;
    app.create_user("shapes@example.com").await;
    let before = prepared_statements(&app).await;
    for n in 1..=300 {
        let filter = vec!["title eq \"v\""; n].join(" or ");
        // Each shape twice (so it is admitted to the cache), with two page sizes.
        for count in ["5", "5", &n.to_string(), &n.to_string()] {
            let r = app
                .client
                .get(app.url("/Users"))
                .bearer_auth(&app.token)
                .query(&[("filter", filter.as_str()), ("count", count)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    let after = prepared_statements(&app).await;
    assert!(
        after - before <= 64 + 4,
        "{before} prepared statements before, {after} after 600 distinct shapes, each twice"
    );
}

/// Creates a user with spoofed Host and forwarding headers; returns Location and meta.location.
async fn location_with_spoofed_headers(app: &TestApp) -> (String, String) {
    let r = app
        .client
        .post(app.url("/Users"))
        .bearer_auth(&app.token)
        .header("Content-Type", "application/scim+json")
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "proxy.example")
        .header("X-Forwarded-Proto", "https")
        .body(user_body(&format!("loc{}@example.com", uuid::Uuid::new_v4().simple())).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    (
        location,
        body["meta"]["location"].as_str().unwrap().to_string(),
    )
}

// Location comes from server.public_url, or from forwarding headers only when told to
// trust them, never from whatever Host a client sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_ignores_client_host_headers_unless_told_to_trust_a_proxy() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (location, meta) = location_with_spoofed_headers(&app).await;
    assert!(
        location.starts_with(&format!("{}/scim/v2/Users/", app.base)),
        "{location}"
    );
    assert_eq!(location, meta);

    let app = TestApp::spawn_with(Db::Sqlite, |s| s.server.trust_forwarded_headers = true).await;
    let (location, _) = location_with_spoofed_headers(&app).await;
    assert!(
        location.starts_with("https://proxy.example/scim/v2/Users/"),
        "{location}"
    );

    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.server.public_url = "https://scim.example.org/base/".into();
        s.server.trust_forwarded_headers = true;
    })
    .await;
    let (location, meta) = location_with_spoofed_headers(&app).await;
    assert!(
        location.starts_with("https://scim.example.org/base/scim/v2/Users/"),
        "{location}"
    );
    assert_eq!(location, meta);
    // $ref of a group's members follows the same base.
    let uid = location.rsplit('/').next().unwrap();
    let group = app.create_group("Refs", &[uid]).await;
    assert_eq!(
        group["members"][0]["$ref"],
        format!("https://scim.example.org/base/scim/v2/Users/{uid}")
    );
}

/// Inserts `n` users straight into the store (one transaction), for queries to chew on.
async fn bulk_users(app: &TestApp, n: usize) {
    use hubbridge::store::users::{self, UserColumns};
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        store.write_blocking(move |c| {
            for i in 0..n {
                let name = format!("bulk{i}@example.com");
                let cols = UserColumns {
                    user_name_ci: name.clone(),
                    user_name: name,
                    name_family: Some(format!("Family{i}")),
                    active: true,
                    ..Default::default()
                };
                users::insert(
                    c,
                    &format!("bulk-{i}"),
                    &cols,
                    "{\"userName\":\"x\"}",
                    &[],
                    1,
                )?;
            }
            Ok::<_, hubbridge::store::StoreError>(())
        })
    })
    .await
    .unwrap()
    .expect("bulk insert");
}

// A query running past database.statement_timeout_ms is stopped and answered 503 with
// Retry-After, on both databases (PostgreSQL's statement_timeout; SQLite's hb_in_time()),
// and the same query within the limit answers 200.
async fn slow_filter_status(db: Db, timeout_ms: u64) -> (StatusCode, bool) {
    let app = TestApp::spawn_with(db, |s| s.database.statement_timeout_ms = timeout_ms).await;
    bulk_users(&app, 5000).await;
    let filter = (0..200)
        .map(|i| format!("name.familyName co \"q{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let r = app
        .client
        .get(app.url("/Users"))
        .bearer_auth(&app.token)
        .query(&[("filter", filter.as_str())])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let retry = r.headers().contains_key("retry-after");
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert_scim_error(r, 503, None).await;
    }
    // The service goes on: a lookup still answers.
    assert_eq!(
        app.user_names("userName eq \"bulk7@example.com\"")
            .await
            .len(),
        1
    );
    (status, retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_stop_at_the_statement_time_limit_sqlite() {
    assert_eq!(
        slow_filter_status(Db::Sqlite, 20).await,
        (StatusCode::SERVICE_UNAVAILABLE, true)
    );
    assert_eq!(
        slow_filter_status(Db::Sqlite, 60_000).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_stop_at_the_statement_time_limit_postgres() {
    assert_eq!(
        slow_filter_status(Db::Postgres, 20).await,
        (StatusCode::SERVICE_UNAVAILABLE, true)
    );
    assert_eq!(
        slow_filter_status(Db::Postgres, 60_000).await.0,
        StatusCode::OK
    );
}

// A heavy user PATCH is computed outside the write and stored only if the row did not
// change meanwhile; otherwise it is applied again to the new version. 24 concurrent
// PATCHes each adding one email, half of them heavy: all succeed, no addition is lost.
both!(
    concurrent_patches_of_one_user_lose_nothing,
    |app| async move {
        let user = app.create_user("busy@example.com").await;
        let path = format!("/Users/{}", user["id"].as_str().unwrap());
        let patches: Vec<_> = (0..24)
            .map(|i| {
                let (app, path) = (&app, path.clone());
                async move {
                    let value =
                        json!([{"value": format!("e{i}@example.com"), "type": format!("t{i}")}]);
                    let mut ops = vec![json!({"op": "add", "path": "emails", "value": value})];
                    if i % 2 == 1 {
                        // More than 16 operations: computed outside the write transaction.
                        ops.extend((0..16).map(|k| {
                            json!({"op": "replace", "path": "nickName", "value": format!("n{i}-{k}")})
                        }));
                    }
                    app.patch(&path, Value::Array(ops)).await.status()
                }
            })
            .collect();
        for status in futures_util::future::join_all(patches).await {
            assert_eq!(status, StatusCode::OK);
        }
        let now: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(now["emails"].as_array().unwrap().len(), 25, "{now}");
        assert_eq!(now["meta"]["version"], "W/\"25\"");
        for i in 0..24 {
            let found = app
                .user_names(&format!("emails.value eq \"e{i}@example.com\""))
                .await;
            assert_eq!(found, ["busy@example.com"]);
        }
    }
);
