use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

async fn patched(app: &TestApp, id: &str, ops: Value) -> Value {
    let r = app.patch(&format!("/Users/{id}"), ops).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

both!(
    add_replace_remove_with_and_without_paths,
    |app| async move {
        let u = app.create_user("p@example.com").await;
        let id = u["id"].as_str().unwrap();
        let v = patched(&app, id, json!([
        {"op": "add", "path": "title", "value": "CTO"},
        {"op": "replace", "path": "name.givenName", "value": "Pat"},
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "+1 555", "type": "work"}]},
        {"op": "add", "value": {"nickName": "P", "displayName": "Pat Doe"}},
    ])).await;
        assert_eq!(v["title"], "CTO");
        assert_eq!(
            v["name"],
            json!({"givenName": "Pat", "familyName": "Family"})
        );
        assert_eq!(v["phoneNumbers"][0]["value"], "+1 555");
        assert_eq!(v["nickName"], "P");
        let v = patched(&app, id, json!([
        {"op": "remove", "path": "title"},
        {"op": "remove", "path": "phoneNumbers[type eq \"work\"]"},
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
    ])).await;
        assert!(v.get("title").is_none() && v.get("phoneNumbers").is_none());
        assert_eq!(v["emails"][0]["value"], "new@example.com");
        assert_eq!(
            app.user_names(r#"emails.value eq "new@example.com""#).await,
            ["p@example.com"]
        );
        assert!(app.user_names(r#"phoneNumbers pr"#).await.is_empty());
        // The filterable copies follow every change, and only changed ones are rewritten.
        assert_eq!(
            app.user_names(r#"name.givenName eq "Pat""#).await,
            ["p@example.com"]
        );
        assert_eq!(
            app.user_names(r#"nickName eq "P""#).await,
            ["p@example.com"]
        );
        assert!(app.user_names(r#"title pr"#).await.is_empty());
        assert!(app
            .user_names(r#"emails.value eq "p@example.com""#)
            .await
            .is_empty());
    }
);

both!(
    multi_valued_add_merges_and_keeps_one_primary,
    |app| async move {
        let u = app.create_user("m@example.com").await;
        let id = u["id"].as_str().unwrap();
        let v = patched(
            &app,
            id,
            json!([
                {"op": "add", "path": "emails", "value": [
                    {"value": "m@example.com", "type": "work"},
                    {"value": "home@example.com", "type": "home", "primary": true}]},
            ]),
        )
        .await;
        let emails = v["emails"].as_array().unwrap();
        assert_eq!(
            emails.len(),
            2,
            "the existing work email was merged, not duplicated"
        );
        assert_eq!(emails.iter().filter(|e| e["primary"] == true).count(), 1);
        assert_eq!(emails[1]["primary"], true);
    }
);

both!(
    user_patch_errors_name_the_problem_and_change_nothing,
    |app| async move {
        let u = app.create_user("e@example.com").await;
        let id = u["id"].as_str().unwrap();
        let path = format!("/Users/{id}");
        let cases = [
            (
                json!([{"op": "replace", "path": "nope", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "name.nope", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "groups", "value": []}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"a\" or type eq \"b\"]", "value": {"value": "z"}}]),
                "noTarget",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "title", "value": "ok"},
                {"op": "replace", "path": "userName", "value": 12}]),
                "invalidValue",
            ),
        ];
        for (ops, t) in cases {
            let r = app.patch(&path, ops.clone()).await;
            assert_scim_error(r, 400, Some(t)).await;
        }
        let after: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(after, u, "nothing was written");
    }
);

both!(
    patch_to_an_existing_user_name_is_a_conflict,
    |app| async move {
        app.create_user("taken@example.com").await;
        let u = app.create_user("free@example.com").await;
        let r = app
            .patch(
                &format!("/Users/{}", u["id"].as_str().unwrap()),
                json!([{"op": "replace", "path": "userName", "value": "TAKEN@example.com"}]),
            )
            .await;
        assert_scim_error(r, 409, Some("uniqueness")).await;
    }
);

both!(
    a_path_less_value_map_ignores_unknown_attributes_like_a_post,
    |app| async move {
        let u = app.create_user("map@example.com").await;
        let id = u["id"].as_str().unwrap();
        // Entra (aadOptscim062020) sends every mapped attribute in one path-less map.
        let v = patched(
            &app,
            id,
            json!([{"op": "Replace", "value": {
                "favoriteColor": "teal",
                "name.middleName": "Q",
                "name.nickname": "sub-attribute the schema lacks",
                "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge": "42",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "CC-1",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize": "44",
                "title": "Engineer",
            }}]),
        )
        .await;
        assert_eq!(v["title"], "Engineer");
        assert_eq!(v["name"]["middleName"], "Q");
        assert_eq!(
            v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["costCenter"],
            "CC-1"
        );
        let text = v.to_string();
        for unknown in [
            "favoriteColor",
            "teal",
            "nickname",
            "acme",
            "badge",
            "shoeSize",
        ] {
            assert!(!text.contains(unknown), "{unknown} stored: {text}");
        }
        // An explicit path naming an unknown attribute is still refused, and nothing is written.
        let r = app
            .patch(
                &format!("/Users/{id}"),
                json!([
                    {"op": "replace", "path": "title", "value": "Changed"},
                    {"op": "replace", "path": "favoriteColor", "value": "red"},
                ]),
            )
            .await;
        assert_scim_error(r, 400, Some("invalidPath")).await;
        let got: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
        assert_eq!(got["title"], "Engineer");
        // A malformed key is refused too.
        let r = app
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "value": {"emails[type eq": "x"}}]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
);
