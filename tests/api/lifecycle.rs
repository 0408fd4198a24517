//! Full IdP lifecycles, shaped like the requests Okta and Entra really send
//! (`../shared/idp-behaviors.md`).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

both!(okta_lifecycle, |app| async move {
    // Assignment: look up by userName first; empty list means create.
    let r = app
        .get("/Users?filter=userName%20eq%20%22okta.user%40example.com%22&startIndex=1&count=100")
        .await;
    let l: Value = r.json().await.unwrap();
    assert_eq!(l["totalResults"], 0);
    assert_eq!(l["Resources"], json!([]));

    // Create, sent as application/json, with password, groups: [] and locale.
    let r = app
        .client
        .post(app.url("/Users"))
        .bearer_auth(&app.token)
        .header("Content-Type", "application/json")
        .body(
            json!({
                "schemas": [USER_SCHEMA], "userName": "okta.user@example.com",
                "name": {"givenName": "Okta", "familyName": "User"},
                "emails": [{"primary": true, "value": "okta.user@example.com", "type": "work"}],
                "displayName": "Okta User", "locale": "en-US", "externalId": "00u1",
                "groups": [], "password": "1mz050nq", "active": true
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let user: Value = r.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_string();

    // Re-create → 409. Upper-cased filter → found.
    assert_scim_error(
        app.post("/Users", user_body("okta.user@example.com")).await,
        409,
        Some("uniqueness"),
    )
    .await;
    assert_eq!(
        app.user_names(r#"userName eq "OKTA.USER@EXAMPLE.COM""#)
            .await,
        ["okta.user@example.com"]
    );

    // Profile update: GET then PUT of the whole object.
    let mut full: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    full["name"]["givenName"] = json!("Okay");
    let r = app.put(&format!("/Users/{id}"), full).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["name"]["givenName"],
        "Okay"
    );

    // Deactivate, stays readable by id and by filter; reactivate.
    let v: Value = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], false);
    let v: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(v["active"], false);
    assert_eq!(
        app.user_names(r#"userName eq "okta.user@example.com""#)
            .await
            .len(),
        1
    );
    let v: Value = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true);
    // Password sync is accepted and discarded.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"password": "n3w"}}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Group push: create with no members, then membership and rename patches.
    let g = app.create_group("Okta Group", &[]).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let r = app.patch(&format!("/Groups/{gid}"), json!([
        {"op": "replace", "value": {"id": gid, "displayName": "Okta Group Renamed"}},
        {"op": "add", "path": "members", "value": [{"value": id, "display": "okta.user@example.com"}]},
    ])).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let gv: Value = app
        .get(&format!("/Groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gv["displayName"], "Okta Group Renamed");
    assert_eq!(gv["members"][0]["value"], id);
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([
        {"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.counts().await.members, 0);

    // Unlink with delete, then the user is deleted by an admin action.
    assert_eq!(
        app.delete(&format!("/Groups/{gid}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = app.get("/Users/00919288221112222").await;
    assert_scim_error(r, 404, None).await;
});

both!(entra_lifecycle, |app| async move {
    // Test connection: random user and group queries answer empty lists.
    for q in [
        "/Users?filter=userName%20eq%20%22e2a3b4%22",
        "/Groups?filter=displayName%20eq%20%22x7%22&excludedAttributes=members",
    ] {
        let l: Value = app.get(q).await.json().await.unwrap();
        assert_eq!(l["totalResults"], 0, "{q}");
    }
    // Create with both schemas, a meta.resourceType in the body, roles: [] and name.formatted.
    let r = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": "entra.nick", "userName": "entra.user@contoso.com", "active": true,
                "emails": [{"primary": true, "type": "work", "value": "entra.user@contoso.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "Entra User", "familyName": "User", "givenName": "Entra"},
                "roles": [],
                ENTERPRISE: {"employeeNumber": "701984", "department": "Finance"}
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let user: Value = r.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_string();

    // Matching by externalId and by the work email value path.
    assert_eq!(
        app.user_names(r#"externalId eq "entra.nick""#).await,
        ["entra.user@contoso.com"]
    );
    assert_eq!(
        app.user_names(r#"emails[type eq "work"].value eq "ENTRA.USER@contoso.com""#)
            .await,
        ["entra.user@contoso.com"]
    );
    assert_eq!(
        app.user_names(r#"userName eq "entra.user@contoso.com" and externalId eq "entra.nick""#)
            .await
            .len(),
        1
    );

    // Default dialect: capitalised ops, several Replace ops, boolean as string, bare manager id.
    let boss = app.create_user("boss@contoso.com").await;
    let r = app.patch(&format!("/Users/{id}"), json!([
        {"op": "Replace", "path": "name.familyName", "value": "Renamed"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "renamed@contoso.com"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": boss["id"]},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
    ])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"]["familyName"], "Renamed");
    assert_eq!(v["emails"][0]["value"], "renamed@contoso.com");
    assert_eq!(v[ENTERPRISE]["manager"]["value"], boss["id"]);
    assert_eq!(v[ENTERPRISE]["department"], "Ops");

    // aadOptscim062020 dialect: one path-less replace with dotted and URN keys.
    let v: Value = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {
                "name.givenName": "Flagged", "displayName": "Flagged User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"
            }}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"]["givenName"], "Flagged");
    assert_eq!(v[ENTERPRISE]["employeeNumber"], "42");

    // Deactivate with the string "False"; unchanged re-sends succeed; reactivate with "True".
    let v: Value = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], false);
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.user_names("active eq false").await,
        ["entra.user@contoso.com"]
    );
    let v: Value = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true);

    // Groups: create with Entra's extra schema URN, add with $ref null, rename, remove both ways.
    let r = app.post("/Groups", json!({
        "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName", "members": []
    })).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let gid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.patch(&format!("/Groups/{gid}"), json!([
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": boss["id"]}]}])).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Replace", "path": "displayName", "value": "Group1New"}]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let l: Value = app
        .get("/Groups?filter=displayName%20eq%20%22Group1New%22&excludedAttributes=members")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["Resources"][0]["id"], gid);
    assert!(l["Resources"][0].get("members").is_none());
    app.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]),
    )
    .await;
    app.patch(&format!("/Groups/{gid}"), json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", boss["id"].as_str().unwrap())}])).await;
    assert_eq!(app.counts().await.members, 0);

    // Hard delete, a month later.
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_scim_error(app.get(&format!("/Users/{id}")).await, 404, None).await;
});

both!(okta_aiw_deactivates_with_a_full_put, |app| async move {
    // App Integration Wizard apps send everything as PUT, deactivation included.
    let u = app.create_user("aiw.user@example.com").await;
    app.create_user("other.user@example.com").await;
    let id = u["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let mut full: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(full["active"], true);
    full["active"] = json!(false);
    full["groups"] = json!([]);
    full["password"] = json!("0ktaP@ss");
    let r = app.put(&path, full.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let put: Value = r.json().await.unwrap();
    assert_eq!(put["active"], false);
    assert_eq!(put["meta"]["version"], "W/\"2\"");
    assert_eq!(put["name"], u["name"], "the rest of the user is kept");
    assert_eq!(put["emails"], u["emails"]);
    assert!(put.get("password").is_none());

    // Still readable, by id and by filter; found by `active eq false` and not by `true`.
    let got: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(got["active"], false);
    assert_eq!(got["userName"], "aiw.user@example.com");
    assert_eq!(
        app.user_names("active eq false").await,
        ["aiw.user@example.com"]
    );
    assert_eq!(
        app.user_names("active eq true").await,
        ["other.user@example.com"]
    );
    assert_eq!(
        app.user_names(r#"userName eq "AIW.USER@example.com" and active eq false"#)
            .await,
        ["aiw.user@example.com"]
    );

    // Reactivation is a PUT of the same object with active true.
    full["active"] = json!(true);
    let r = app.put(&path, full).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    assert!(app.user_names("active eq false").await.is_empty());
});

both!(
    group_get_then_put_of_everything_returned_keeps_members,
    |app| async move {
        let mut uids = vec![];
        for i in 0..3 {
            let u = app.create_user(&format!("gp{i}@example.com")).await;
            uids.push(u["id"].as_str().unwrap().to_string());
        }
        let g = app
            .post(
                "/Groups",
                json!({"schemas": [GROUP_SCHEMA], "displayName": "Round Trip",
                       "externalId": "okta-00g1",
                       "members": [{"value": uids[0]}, {"value": uids[1]}, {"value": uids[2]}]}),
            )
            .await;
        assert_eq!(g.status(), StatusCode::CREATED);
        let gid = g.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/Groups/{gid}");
        let before: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(before["members"].as_array().unwrap().len(), 3);

        // PUT back exactly what GET returned: id, meta, schemas, members with $ref/type/display.
        let r = app.put(&path, before.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let put: Value = r.json().await.unwrap();
        let after: Value = app.get(&path).await.json().await.unwrap();
        for v in [&put, &after] {
            assert_eq!(v["id"], before["id"]);
            assert_eq!(v["schemas"], before["schemas"]);
            assert_eq!(v["displayName"], "Round Trip");
            assert_eq!(v["externalId"], "okta-00g1");
            assert_eq!(v["members"], before["members"], "members unchanged");
            assert_eq!(v["meta"]["created"], before["meta"]["created"]);
            assert_eq!(v["meta"]["location"], before["meta"]["location"]);
        }
        assert_eq!(app.counts().await.members, 3);
        // Users still show the group.
        let u: Value = app
            .get(&format!("/Users/{}", uids[1]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(u["groups"][0]["value"], gid.as_str());

        // With Entra's extra schema URN and members without $ref, the same.
        let mut body = after.clone();
        body["schemas"] = json!([
            GROUP_SCHEMA,
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
        ]);
        body["meta"] = json!({"resourceType": "Group"});
        let r = app.put(&path, body).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.json::<Value>().await.unwrap()["members"],
            before["members"]
        );
    }
);

both!(
    microsoft_validator_create_with_string_booleans_and_capitalised_names,
    |app| async move {
        // Microsoft's SCIMReferenceCode Postman collection: "active": "True" and attribute
        // names in other capitalisations; docs/scim.md says names match case-insensitively
        // and are returned in the schema's spelling.
        let boss = app.create_user("boss@contoso.com").await;
        let r = app
            .post(
                "/Users",
                json!({
                    "Schemas": [USER_SCHEMA, ENTERPRISE],
                    "UserName": "Validator.User@contoso.com",
                    "Active": "True",
                    "DisplayName": "Validator User",
                    "ExternalId": "4f6c0b4e",
                    "Name": {"GivenName": "Validator", "FamilyName": "User"},
                    "Emails": [{"Primary": "true", "Type": "work", "Value": "v@contoso.com"},
                               {"Primary": "False", "Type": "home", "Value": "v@home.net"}],
                    ENTERPRISE: {"Department": "Finance", "EmployeeNumber": "701984",
                                 "Manager": {"Value": boss["id"]}},
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        let got: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
        assert_eq!(got, v);
        assert_eq!(v["userName"], "Validator.User@contoso.com");
        assert_eq!(v["active"], json!(true), "a boolean, not the string");
        assert_eq!(v["displayName"], "Validator User");
        assert_eq!(v["externalId"], "4f6c0b4e");
        assert_eq!(
            v["name"],
            json!({"givenName": "Validator", "familyName": "User"})
        );
        assert_eq!(
            v["emails"],
            json!([{"value": "v@contoso.com", "type": "work", "primary": true},
                   {"value": "v@home.net", "type": "home", "primary": false}])
        );
        assert_eq!(v[ENTERPRISE]["department"], "Finance");
        assert_eq!(v[ENTERPRISE]["employeeNumber"], "701984");
        assert_eq!(v[ENTERPRISE]["manager"]["value"], boss["id"]);
        assert_eq!(v["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
        for k in [
            "UserName",
            "Active",
            "DisplayName",
            "Name",
            "Emails",
            "ExternalId",
        ] {
            assert!(
                v.get(k).is_none(),
                "{k} is not echoed in the client's spelling"
            );
        }
        // The stored values are the filterable ones.
        assert_eq!(
            app.user_names(r#"externalId eq "4f6c0b4e" and active eq true"#)
                .await,
            ["Validator.User@contoso.com"]
        );
        assert_eq!(
            app.user_names(
                r#"emails[type eq "work" and primary eq true].value eq "V@contoso.com""#
            )
            .await,
            ["Validator.User@contoso.com"]
        );
        // "False" (any case) deactivates in a create as well.
        let r = app
            .post(
                "/Users",
                json!({"userName": "inactive@contoso.com", "active": "FALSE"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
        assert_eq!(
            app.user_names("active eq false").await,
            ["inactive@contoso.com"]
        );
    }
);
