use serde_json::{json, Value};

use crate::both;
use crate::helpers::*;

/// Five users with varied attributes; returns nothing, the names are fixed.
async fn seed(app: &TestApp) {
    let users = [
        json!({"userName": "alice", "externalId": "E-1", "title": "Engineer", "active": true,
               "name": {"givenName": "Alice", "familyName": "Archer"},
               "emails": [{"value": "alice@work.com", "type": "work", "primary": true},
                          {"value": "alice@home.net", "type": "home"}],
               ENTERPRISE: {"department": "R&D", "employeeNumber": "100", "manager": {"value": "m-1"}}}),
        json!({"userName": "bob", "externalId": "e-2", "title": "Manager", "active": false,
               "name": {"givenName": "Bob", "familyName": "Baker"},
               "emails": [{"value": "bob@home.net", "type": "home"}],
               ENTERPRISE: {"department": "Sales"}}),
        json!({"userName": "Carol", "externalId": "E-3", "active": true,
               "name": {"givenName": "Carol", "familyName": "Clark"},
               "emails": [{"value": "carol@work.com", "type": "work"}]}),
        json!({"userName": "dave_100%", "active": true, "title": "engineer",
               "name": {"familyName": "Doe"}}),
        json!({"userName": "éva", "active": true, "nickName": "Ev",
               "emails": [{"value": "EVA@Work.com", "type": "work"}]}),
    ];
    for u in users {
        let r = app.post("/Users", u).await;
        assert_eq!(r.status().as_u16(), 201);
    }
}

both!(comparison_operators_follow_case_rules, |app| async move {
    seed(&app).await;
    let n = |f: &'static str| app.user_names(f);
    assert_eq!(n(r#"userName eq "ALICE""#).await, ["alice"]);
    assert_eq!(
        n(r#"userName ne "alice""#).await,
        ["Carol", "bob", "dave_100%", "éva"]
    );
    assert_eq!(
        n(r#"userName co "A""#).await,
        ["Carol", "alice", "dave_100%", "éva"]
    );
    assert_eq!(n(r#"userName sw "c""#).await, ["Carol"]);
    assert_eq!(n(r#"userName ew "OB""#).await, ["bob"]);
    assert_eq!(
        n(r#"userName co "100%""#).await,
        ["dave_100%"],
        "LIKE wildcards are escaped"
    );
    assert_eq!(n(r#"userName gt "carol""#).await, ["dave_100%", "éva"]);
    assert_eq!(n(r#"userName le "bob""#).await, ["alice", "bob"]);
    // externalId is caseExact.
    assert_eq!(n(r#"externalId eq "E-1""#).await, ["alice"]);
    assert!(n(r#"externalId eq "e-1""#).await.is_empty());
    assert_eq!(n(r#"externalId sw "E""#).await, ["Carol", "alice"]);
    assert_eq!(n(r#"title eq "engineer""#).await, ["alice", "dave_100%"]);
    assert_eq!(n(r#"title pr"#).await, ["alice", "bob", "dave_100%"]);
    assert_eq!(n(r#"active eq false"#).await, ["bob"]);
    assert_eq!(n(r#"nickName eq null"#).await.len(), 4);
});

both!(
    logical_operators_precedence_and_grouping,
    |app| async move {
        seed(&app).await;
        let n = |f: &'static str| app.user_names(f);
        // and binds tighter than or.
        assert_eq!(
            n(r#"userName eq "bob" or userName eq "alice" and active eq false"#).await,
            ["bob"]
        );
        assert_eq!(
            n(r#"(userName eq "bob" or userName eq "alice") and active eq true"#).await,
            ["alice"]
        );
        assert_eq!(n(r#"not (active eq true)"#).await, ["bob"]);
        assert_eq!(n(r#"NOT(title pr) AND userName SW "C""#).await, ["Carol"]);
        assert_eq!(
            n(r#"not (title eq "Manager")"#).await,
            ["Carol", "alice", "dave_100%", "éva"]
        );
    }
);

both!(sub_attributes_urns_and_value_paths, |app| async move {
    seed(&app).await;
    let n = |f: &'static str| app.user_names(f);
    assert_eq!(n(r#"name.familyName eq "archer""#).await, ["alice"]);
    assert_eq!(n(r#"NAME.GIVENNAME sw "c""#).await, ["Carol"]);
    assert_eq!(
        n(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob""#).await,
        ["bob"]
    );
    assert_eq!(
        n(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#)
            .await,
        ["alice"]
    );
    assert_eq!(
        n(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#)
            .await,
        ["alice"]
    );
    assert_eq!(
        n(r#"emails[type eq "work" and value co "@work.com"]"#).await,
        ["Carol", "alice", "éva"]
    );
    assert_eq!(
        n(r#"emails[type eq "home"] and not (emails[type eq "work"])"#).await,
        ["bob"]
    );
    assert_eq!(n(r#"emails.value ew ".NET""#).await, ["alice", "bob"]);
    assert_eq!(n(r#"emails co "carol""#).await, ["Carol"]);
    assert_eq!(n(r#"emails[primary eq true]"#).await, ["alice"]);
    // Entra's form: a value path followed by a sub-attribute.
    assert_eq!(
        n(r#"emails[type eq "work"].value eq "eva@work.com""#).await,
        ["éva"]
    );
    assert_eq!(
        n(r#"emails pr and meta.created gt "2000-01-01T00:00:00Z""#)
            .await
            .len(),
        4
    );
    assert!(n(r#"meta.lastModified lt "2000-01-01T00:00:00Z""#)
        .await
        .is_empty());
});

both!(group_filters, |app| async move {
    seed(&app).await;
    let alice: Value = app
        .get("/Users?filter=userName%20eq%20%22alice%22")
        .await
        .json()
        .await
        .unwrap();
    let aid = alice["Resources"][0]["id"].as_str().unwrap().to_string();
    app.create_group("Admins", &[&aid]).await;
    app.create_group("Readers", &[]).await;
    let q = |f: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(app.url("/Groups"))
                .bearer_auth(&app.token)
                .query(&[("filter", f.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{f}");
            let v: Value = r.json().await.unwrap();
            v["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["displayName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(q(r#"displayName eq "admins""#.into()).await, ["Admins"]);
    assert_eq!(q(format!(r#"members[value eq "{aid}"]"#)).await, ["Admins"]);
    assert_eq!(q(r#"not (members pr)"#.into()).await, ["Readers"]);
    assert_eq!(
        app.user_names(r#"groups.display eq "admins""#).await,
        ["alice"]
    );
});

both!(
    invalid_filters_are_refused_with_invalid_filter,
    |app| async move {
        seed(&app).await;
        for f in [
            r#"userName eq"#,
            r#"userName zz "x""#,
            r#"(userName eq "x""#,
            r#"userName eq "x")"#,
            r#"unknownAttr eq "x""#,
            r#"name.nope eq "x""#,
            r#"active eq "perhaps""#,
            r#"userName eq 5"#,
            r#"meta.created gt "not a date""#,
            r#"emails[nope eq "x"]"#,
            r#"userName[value eq "x"]"#,
            r#"a.b.c eq "x""#,
        ] {
            let r = app
                .client
                .get(app.url("/Users"))
                .bearer_auth(&app.token)
                .query(&[("filter", f)])
                .send()
                .await
                .unwrap();
            assert_scim_error(r, 400, Some("invalidFilter")).await;
        }
        let deep = format!("{}userName pr{}", "(".repeat(200), ")".repeat(200));
        let r = app
            .client
            .get(app.url("/Users"))
            .bearer_auth(&app.token)
            .query(&[("filter", deep.as_str())])
            .send()
            .await
            .unwrap();
        assert_scim_error(r, 400, Some("invalidFilter")).await;
        let huge = vec![r#"userName eq "x""#; 600].join(" or ");
        let r = app
            .client
            .get(app.url("/Users"))
            .bearer_auth(&app.token)
            .query(&[("filter", huge.as_str())])
            .send()
            .await
            .unwrap();
        assert_scim_error(r, 400, Some("invalidFilter")).await;
    }
);
