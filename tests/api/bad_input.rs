//! Bad input: every case gets the right status and an RFC 7644 error body, and nothing is
//! written (row counts and the existing resources are unchanged).

use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

struct Case {
    method: Method,
    path: String,
    body: Option<String>,
    content_type: &'static str,
    status: u16,
    scim_type: Option<&'static str>,
}

fn case(
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    scim_type: Option<&'static str>,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        body: body.map(|b| b.to_string()),
        content_type: "application/scim+json",
        status,
        scim_type,
    }
}

fn raw(
    method: Method,
    path: &str,
    body: &str,
    content_type: &'static str,
    status: u16,
    scim_type: Option<&'static str>,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        body: Some(body.to_string()),
        content_type,
        status,
        scim_type,
    }
}

fn ops(v: Value) -> Option<Value> {
    Some(json!({"schemas": [PATCH_SCHEMA], "Operations": v}))
}

both!(
    bad_input_is_refused_with_scim_errors_and_nothing_is_written,
    |app| async move {
        let user = app.create_user("existing@example.com").await;
        let uid = user["id"].as_str().unwrap().to_string();
        let group = app.create_group("Existing", &[&uid]).await;
        let gid = group["id"].as_str().unwrap().to_string();
        let up = format!("/Users/{uid}");
        let gp = format!("/Groups/{gid}");
        use Method as M;
        let big = "x".repeat(1_100_000);
        let cases = vec![
            // malformed bodies
            raw(
                M::POST,
                "/Users",
                "{not json",
                "application/scim+json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::POST,
                "/Users",
                "",
                "application/scim+json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::POST,
                "/Users",
                "[1,2]",
                "application/json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::POST,
                "/Users",
                "\"text\"",
                "application/json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::POST,
                "/Groups",
                "{\"displayName\": \"x\"",
                "application/json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::PATCH,
                &up,
                "{]",
                "application/scim+json",
                400,
                Some("invalidSyntax"),
            ),
            raw(
                M::POST,
                "/Users",
                "userName=x",
                "application/x-www-form-urlencoded",
                415,
                None,
            ),
            raw(M::POST, "/Users", "<user/>", "text/xml", 415, None),
            raw(
                M::POST,
                "/Users",
                &format!("{{\"userName\":\"{big}\"}}"),
                "application/json",
                413,
                None,
            ),
            // user validation
            case(
                M::POST,
                "/Users",
                Some(json!({"name": {"givenName": "x"}})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": ""})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": 42})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "a", "active": "sometimes"})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "a", "name": "flat"})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "a", "emails": [{"value": 1}]})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(
                    json!({"userName": "a", "emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}),
                ),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "a", "schemas": "urn:x"})),
                400,
                Some("invalidSyntax"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "a", "title": ["x"]})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Users",
                Some(json!({"userName": "EXISTING@example.com"})),
                409,
                Some("uniqueness"),
            ),
            case(
                M::PUT,
                &up,
                Some(json!({"name": {"givenName": "no userName"}})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PUT,
                &up,
                Some(json!({"id": "other", "userName": "existing@example.com"})),
                400,
                Some("mutability"),
            ),
            case(
                M::PUT,
                "/Users/does-not-exist",
                Some(user_body("n@example.com")),
                404,
                None,
            ),
            // user PATCH
            case(
                M::PATCH,
                &up,
                Some(json!({"schemas": [PATCH_SCHEMA]})),
                400,
                Some("invalidSyntax"),
            ),
            case(
                M::PATCH,
                &up,
                Some(
                    json!({"schemas": ["urn:wrong"], "Operations": [{"op": "remove", "path": "title"}]}),
                ),
                400,
                Some("invalidSyntax"),
            ),
            case(M::PATCH, &up, ops(json!([])), 400, Some("invalidSyntax")),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "merge", "path": "title", "value": "x"}])),
                400,
                Some("invalidSyntax"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!(["remove"])),
                400,
                Some("invalidSyntax"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "title"}])),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "remove"}])),
                400,
                Some("noTarget"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "bogus", "value": 1}])),
                400,
                Some("invalidPath"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "emails[", "value": 1}])),
                400,
                Some("invalidPath"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "urn:x:y:Z:title", "value": "t"}])),
                400,
                Some("invalidPath"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "meta.created", "value": "t"}])),
                400,
                Some("mutability"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!([{"op": "replace", "path": "id", "value": "t"}])),
                400,
                Some("mutability"),
            ),
            case(
                M::PATCH,
                &up,
                ops(
                    json!([{"op": "replace", "path": "title", "value": "t"}, {"op": "replace", "path": "active", "value": []}]),
                ),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PATCH,
                &up,
                ops(
                    json!([{"op": "replace", "path": "addresses[type eq \"a\" or type eq \"b\"].locality", "value": "x"}]),
                ),
                400,
                Some("noTarget"),
            ),
            case(
                M::PATCH,
                &up,
                ops(json!((0..1001)
                    .map(|_| json!({"op": "remove", "path": "title"}))
                    .collect::<Vec<_>>())),
                400,
                Some("tooMany"),
            ),
            case(
                M::PATCH,
                "/Users/does-not-exist",
                ops(json!([{"op": "remove", "path": "title"}])),
                404,
                None,
            ),
            // groups
            case(
                M::POST,
                "/Groups",
                Some(json!({"members": []})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Groups",
                Some(json!({"displayName": "   "})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Groups",
                Some(json!({"displayName": "existing"})),
                409,
                Some("uniqueness"),
            ),
            case(
                M::POST,
                "/Groups",
                Some(json!({"displayName": "G", "members": [{"value": "nobody"}]})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Groups",
                Some(json!({"displayName": "G", "members": "x"})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::POST,
                "/Groups",
                Some(json!({"displayName": "G", "members": [{"value": gid, "type": "Group"}]})),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}])),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])),
                400,
                Some("invalidFilter"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(json!([{"op": "replace", "path": "owner", "value": "x"}])),
                400,
                Some("invalidPath"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(json!([{"op": "remove", "path": "displayName"}])),
                400,
                Some("invalidValue"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
                400,
                Some("mutability"),
            ),
            case(
                M::PATCH,
                &gp,
                ops(
                    json!([{"op": "remove", "path": "members"}, {"op": "add", "path": "members", "value": [{"value": "ghost"}]}]),
                ),
                400,
                Some("invalidValue"),
            ),
            case(M::DELETE, "/Groups/does-not-exist", None, 404, None),
            // list parameters
            case(M::GET, "/Users?count=ten", None, 400, Some("invalidValue")),
            case(
                M::GET,
                "/Users?startIndex=1.5",
                None,
                400,
                Some("invalidValue"),
            ),
            case(
                M::GET,
                "/Users?sortOrder=sideways",
                None,
                400,
                Some("invalidValue"),
            ),
            case(
                M::GET,
                "/Users?sortBy=emails",
                None,
                400,
                Some("invalidValue"),
            ),
            case(
                M::GET,
                "/Users?filter=userName%20eq",
                None,
                400,
                Some("invalidFilter"),
            ),
            case(
                M::GET,
                "/Groups?filter=nope%20pr",
                None,
                400,
                Some("invalidFilter"),
            ),
            case(
                M::GET,
                "/Users?attributes=user%20Name",
                None,
                400,
                Some("invalidValue"),
            ),
            // routing
            case(M::POST, &up, Some(user_body("x@example.com")), 405, None),
            case(
                M::PUT,
                "/Users",
                Some(user_body("x@example.com")),
                405,
                None,
            ),
            case(M::DELETE, "/Groups", None, 405, None),
            case(M::GET, "/Nothing", None, 404, None),
            case(M::GET, "/Schemas/urn:nope", None, 404, None),
            case(M::GET, "/ResourceTypes/Device", None, 404, None),
        ];
        assert!(cases.len() >= 40, "{} cases", cases.len());
        let before_counts = app.counts().await;
        let count = cases.len();
        for c in cases {
            let mut r = app
                .client
                .request(c.method.clone(), app.url(&c.path))
                .bearer_auth(&app.token);
            if let Some(b) = c.body {
                r = r.header("Content-Type", c.content_type).body(b);
            }
            let resp = r.send().await.unwrap();
            let what = format!(
                "{} {}",
                c.method,
                c.path.chars().take(80).collect::<String>()
            );
            assert_eq!(resp.status().as_u16(), c.status, "{what}");
            let body = assert_scim_error(resp, c.status, c.scim_type).await;
            assert!(
                !body["detail"].as_str().unwrap().contains("hbs_"),
                "{what}: no secret in errors"
            );
            assert_eq!(app.counts().await, before_counts, "{what}: nothing written");
        }
        let u: Value = app.get(&up).await.json().await.unwrap();
        assert_eq!(
            without_groups(u),
            user,
            "the user is unchanged after {count} bad requests"
        );
        let g: Value = app.get(&gp).await.json().await.unwrap();
        assert_eq!(g["meta"]["version"], "W/\"1\"");
        assert_eq!(g["members"][0]["value"], uid);
    }
);

/// The user as re-read, less `groups` (it joined a group after it was created).
fn without_groups(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("groups");
    }
    v
}

both!(wrong_protocol_version_is_invalid_vers, |app| async move {
    let r = app
        .client
        .get(format!("{}/scim/v1/Users", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_scim_error(r, 400, Some("invalidVers")).await;
});

both!(
    a_body_of_exactly_the_limit_is_read_one_byte_more_refused,
    |app| async move {
        let app = TestApp::spawn_with(app.db, |s| s.server.max_body_bytes = 4096).await;
        let body_of = |len: usize, name: &str| {
            let json = json!({"schemas": [USER_SCHEMA], "userName": name}).to_string();
            // JSON allows trailing whitespace: pad to the exact length.
            format!("{json}{}", " ".repeat(len - json.len()))
        };
        let send = |body: String| {
            let app = &app;
            async move {
                app.client
                    .post(app.url("/Users"))
                    .bearer_auth(&app.token)
                    .header("Content-Type", "application/scim+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
            }
        };

        let at_limit = send(body_of(4096, "limit@example.com")).await;
        let over = send(body_of(4097, "over@example.com")).await;

        assert_eq!(at_limit.status(), 201);
        assert_scim_error(over, 413, None).await;
        assert_eq!(
            app.user_names("userName pr").await,
            vec!["limit@example.com"]
        );
    }
);
