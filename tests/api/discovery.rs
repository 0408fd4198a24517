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
