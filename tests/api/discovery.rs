use serde_json::Value;

use crate::both;
use crate::helpers::*;

both!(
    discovery_endpoints_describe_what_is_supported,
    |app| async move {
        let spc: Value = app
            .get("/ServiceProviderConfig")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["bulk"]["supported"], false);
        assert_eq!(spc["filter"]["supported"], true);
        assert_eq!(spc["filter"]["maxResults"], 1000);
        assert_eq!(spc["etag"]["supported"], true);
        assert_eq!(spc["sort"]["supported"], true);
        assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

        let rt: Value = app.get("/ResourceTypes").await.json().await.unwrap();
        assert_eq!(rt["totalResults"], 2);
        let user_rt: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
        assert_eq!(user_rt["schemaExtensions"][0]["schema"], ENTERPRISE);
        assert_eq!(user_rt["endpoint"], "/Users");

        let schemas: Value = app.get("/Schemas").await.json().await.unwrap();
        let ids: Vec<&str> = schemas["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA]);
        let user: Value = app
            .get(&format!("/Schemas/{USER_SCHEMA}"))
            .await
            .json()
            .await
            .unwrap();
        let attrs = user["attributes"].as_array().unwrap();
        let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        let groups = attrs.iter().find(|a| a["name"] == "groups").unwrap();
        assert_eq!(groups["mutability"], "readOnly");
        let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        assert!(emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "primary" && s["type"] == "boolean"));
        let ent: Value = app
            .get(&format!("/Schemas/{ENTERPRISE}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(ent["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "manager"));
        assert!(ent["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
    }
);

fn attr<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
}

both!(
    service_provider_config_says_change_password_is_unsupported,
    |app| async move {
        let r = app.get("/ServiceProviderConfig").await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let spc: Value = r.json().await.unwrap();
        assert_eq!(spc["changePassword"]["supported"], false);
        assert_eq!(spc["bulk"]["maxOperations"], 0);
        assert_eq!(
            spc["schemas"],
            serde_json::json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
        );
    }
);

both!(group_schema_and_resource_type, |app| async move {
    let r = app.get(&format!("/Schemas/{GROUP_SCHEMA}")).await;
    assert_eq!(r.status().as_u16(), 200);
    let g: Value = r.json().await.unwrap();
    assert_eq!(g["id"], GROUP_SCHEMA);
    assert_eq!(g["name"], "Group");
    assert!(g["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Schemas/{GROUP_SCHEMA}")));
    let display = attr(&g, "displayName").expect("displayName");
    assert_eq!(display["required"], true);
    assert_eq!(display["type"], "string");
    let members = attr(&g, "members").expect("members");
    assert_eq!(members["multiValued"], true);
    assert_eq!(members["type"], "complex");
    let subs: Vec<&str> = members["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for s in ["value", "$ref", "display", "type"] {
        assert!(subs.contains(&s), "{s} in {subs:?}");
    }
    let sub = |n: &str| {
        members["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(sub("$ref")["type"], "reference");
    assert_eq!(sub("$ref")["referenceTypes"], serde_json::json!(["User"]));
    assert_eq!(sub("value")["mutability"], "immutable");

    // Schema ids are matched case-insensitively, unknown ones are 404.
    let r = app
        .get(&format!("/Schemas/{}", GROUP_SCHEMA.to_uppercase()))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_scim_error(
        app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nope")
            .await,
        404,
        None,
    )
    .await;

    let r = app.get("/ResourceTypes/Group").await;
    assert_eq!(r.status().as_u16(), 200);
    let rt: Value = r.json().await.unwrap();
    assert_eq!(rt["id"], "Group");
    assert_eq!(rt["name"], "Group");
    assert_eq!(rt["endpoint"], "/Groups");
    assert_eq!(rt["schema"], GROUP_SCHEMA);
    assert_eq!(rt["schemaExtensions"], serde_json::json!([]));
    assert!(rt["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with("/scim/v2/ResourceTypes/Group"));
    assert_scim_error(app.get("/ResourceTypes/Nope").await, 404, None).await;
});

both!(
    user_schema_case_exactness_and_uniqueness,
    |app| async move {
        let user: Value = app
            .get(&format!("/Schemas/{USER_SCHEMA}"))
            .await
            .json()
            .await
            .unwrap();
        let user_name = attr(&user, "userName").expect("userName");
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        // `id` and `externalId` are common attributes (RFC 7643 §3.1): the User schema does
        // not list them (as in RFC 7643 §8.7.1). How they compare (caseExact) is tested in
        // `filters::id_is_case_exact_while_user_name_is_not`.
        for name in ["id", "externalId"] {
            assert!(
                attr(&user, name).is_none(),
                "{name} is listed now: test its entry"
            );
        }
        // Other case rules the filters follow.
        let emails = attr(&user, "emails").unwrap();
        let value = emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "value")
            .unwrap();
        assert_eq!(value["caseExact"], false);
        let password = attr(&user, "password").unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
    }
);
