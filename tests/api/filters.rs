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

/// GET /Users (or /Groups) with a raw filter; returns the response.
async fn list_raw(app: &TestApp, path: &str, filter: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(&app.token)
        .query(&[("filter", filter), ("count", "1000")])
        .send()
        .await
        .unwrap()
}

both!(string_ordering_ge_and_lt_on_user_name, |app| async move {
    seed(&app).await;
    let n = |f: &'static str| app.user_names(f);
    // userName is caseExact=false: comparisons are on folded text.
    assert_eq!(
        n(r#"userName ge "bob""#).await,
        ["Carol", "bob", "dave_100%", "éva"]
    );
    assert_eq!(
        n(r#"userName ge "BOB""#).await,
        ["Carol", "bob", "dave_100%", "éva"]
    );
    assert_eq!(n(r#"userName lt "carol""#).await, ["alice", "bob"]);
    assert_eq!(n(r#"userName lt "CAROL""#).await, ["alice", "bob"]);
    assert_eq!(
        n(r#"userName ge "carol" and userName lt "dave""#).await,
        ["Carol"]
    );
    assert_eq!(n(r#"userName lt "alice""#).await, Vec::<String>::new());
    // Upper bounds are inclusive for le/ge only.
    assert_eq!(n(r#"userName le "Carol""#).await, ["Carol", "alice", "bob"]);
    assert_eq!(n(r#"userName gt "dave_100%""#).await, ["éva"]);
});

both!(
    date_time_comparisons_on_meta_created_and_last_modified,
    |app| async move {
        let mut created = vec![];
        for name in ["t1", "t2", "t3"] {
            let u = app.create_user(name).await;
            created.push((
                u["id"].as_str().unwrap().to_string(),
                u["meta"]["created"].as_str().unwrap().to_string(),
            ));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let c: Vec<&str> = created.iter().map(|(_, c)| c.as_str()).collect();
        assert!(c[0] < c[1] && c[1] < c[2], "{c:?}");
        let n = |f: String| {
            let app = &app;
            async move { app.user_names(&f).await }
        };
        // The rendered timestamp compares exactly equal to the stored one (micro-seconds).
        assert_eq!(
            n(format!(r#"meta.created ge "{}""#, c[1])).await,
            ["t2", "t3"]
        );
        assert_eq!(n(format!(r#"meta.created gt "{}""#, c[1])).await, ["t3"]);
        assert_eq!(
            n(format!(r#"meta.created le "{}""#, c[1])).await,
            ["t1", "t2"]
        );
        assert_eq!(n(format!(r#"meta.created lt "{}""#, c[1])).await, ["t1"]);
        assert_eq!(n(format!(r#"meta.created eq "{}""#, c[2])).await, ["t3"]);
        assert!(n(format!(r#"meta.created lt "{}""#, c[0])).await.is_empty());
        // The same instant written with another UTC offset means the same thing.
        let t2 = chrono::DateTime::parse_from_rfc3339(c[1]).unwrap();
        let shifted = t2
            .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        assert!(shifted.ends_with("+02:00"), "{shifted}");
        assert_eq!(
            n(format!(r#"meta.created ge "{shifted}""#)).await,
            ["t2", "t3"]
        );

        // Modify t1 after t3 was created: only t1's lastModified is after t3's creation.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let r = app
            .patch(
                &format!("/Users/{}", created[0].0),
                json!([{"op": "replace", "path": "title", "value": "changed"}]),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200);
        let modified: Value = r.json().await.unwrap();
        let lm = modified["meta"]["lastModified"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(modified["meta"]["created"], c[0]);
        assert!(lm.as_str() > c[2], "{lm} > {}", c[2]);
        assert_eq!(
            n(format!(r#"meta.lastModified gt "{}""#, c[2])).await,
            ["t1"]
        );
        assert_eq!(
            n(format!(r#"meta.lastModified le "{}""#, c[2])).await,
            ["t2", "t3"]
        );
        assert_eq!(n(format!(r#"meta.lastModified ge "{lm}""#)).await, ["t1"]);
        // created did not move with the update.
        assert_eq!(n(format!(r#"meta.created le "{}""#, c[0])).await, ["t1"]);
    }
);

both!(
    value_paths_with_or_and_not_inside_brackets,
    |app| async move {
        seed(&app).await;
        let n = |f: &'static str| app.user_names(f);
        assert_eq!(
            n(r#"emails[type eq "home" or type eq "work"]"#).await,
            ["Carol", "alice", "bob", "éva"]
        );
        // Some email whose type is not work: alice's and bob's home emails.
        assert_eq!(n(r#"emails[not (type eq "work")]"#).await, ["alice", "bob"]);
        assert_eq!(n(r#"emails[not(type eq "work")]"#).await, ["alice", "bob"]);
        // Both conditions must hold for the same email value.
        assert_eq!(
            n(r#"emails[type eq "work" and not (value co "alice")]"#).await,
            ["Carol", "éva"]
        );
        assert_eq!(
            n(r#"emails[(type eq "home" or type eq "work") and value sw "b"]"#).await,
            ["bob"]
        );
        assert_eq!(
            n(r#"emails[type eq "home" and value ew "@work.com"]"#).await,
            Vec::<String>::new()
        );
    }
);

both!(id_is_case_exact_while_user_name_is_not, |app| async move {
    seed(&app).await;
    let alice: Value = list_raw(&app, "/Users", r#"userName eq "ALICE""#)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alice["totalResults"], 1);
    let id = alice["Resources"][0]["id"].as_str().unwrap().to_string();
    let upper = id.to_uppercase();
    assert_ne!(id, upper, "the id has letters: {id}");
    assert_eq!(app.user_names(&format!(r#"id eq "{id}""#)).await, ["alice"]);
    assert!(app
        .user_names(&format!(r#"id eq "{upper}""#))
        .await
        .is_empty());
    // A prefix through the first letter (an id may start with digits).
    let letter = upper
        .find(|c: char| c.is_ascii_alphabetic())
        .expect("a letter");
    let prefix = &upper[..=letter];
    assert_ne!(prefix, prefix.to_lowercase());
    assert!(app
        .user_names(&format!(r#"id sw "{prefix}""#))
        .await
        .is_empty());
    assert_eq!(app.user_names(r#"userName eq "AlIcE""#).await, ["alice"]);
    assert_eq!(app.user_names(r#"userName eq "carol""#).await, ["Carol"]);
});

both!(urn_qualified_group_attributes, |app| async move {
    let u = app.create_user("member@example.com").await;
    let uid = u["id"].as_str().unwrap().to_string();
    app.create_group("Admins", &[&uid]).await;
    app.create_group("Readers", &[]).await;
    let names = |f: String| {
        let app = &app;
        async move {
            let r = list_raw(app, "/Groups", &f).await;
            assert_eq!(r.status().as_u16(), 200, "{f}");
            let v: Value = r.json().await.unwrap();
            let mut out: Vec<String> = v["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["displayName"].as_str().unwrap().to_string())
                .collect();
            out.sort();
            out
        }
    };
    assert_eq!(
        names(format!(r#"{GROUP_SCHEMA}:displayName eq "admins""#)).await,
        ["Admins"]
    );
    assert_eq!(
        names(format!(r#"{GROUP_SCHEMA}:displayName sw "R""#)).await,
        ["Readers"]
    );
    assert_eq!(
        names(format!(r#"{GROUP_SCHEMA}:members.value eq "{uid}""#)).await,
        ["Admins"]
    );
    // The User schema's URN does not qualify Group attributes.
    let r = list_raw(
        &app,
        "/Groups",
        &format!(r#"{USER_SCHEMA}:displayName eq "admins""#),
    )
    .await;
    assert_scim_error(r, 400, Some("invalidFilter")).await;
});

both!(
    term_limit_is_enforced_below_the_length_limit,
    |app| async move {
        // Raise the length limit so only the parser's 1,024-term limit applies.
        let app = TestApp::spawn_with(app.db, |s| s.scim.max_filter_length = 1 << 20).await;
        seed(&app).await;
        let too_many = vec!["id pr"; 1025].join(" or ");
        assert!(too_many.len() < 1 << 20);
        let started = std::time::Instant::now();
        let r = list_raw(&app, "/Users", &too_many).await;
        let body = assert_scim_error(r, 400, Some("invalidFilter")).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "refused in {:?}",
            started.elapsed()
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            !detail.contains("bytes long"),
            "not the length limit: {detail}"
        );
        // Also via `and`, and with comparisons rather than presence tests.
        let too_many = vec![r#"userName ne "x""#; 1025].join(" and ");
        let r = list_raw(&app, "/Users", &too_many).await;
        assert_scim_error(r, 400, Some("invalidFilter")).await;
    }
);

// 1,024 terms is within the documented limit ("more than 1,024 terms are refused"), so such
// a filter must be answered (SQLite used to refuse expressions deeper than 1,000 with a 500).
both!(a_filter_at_the_term_limit_is_answered, |app| async move {
    let app = TestApp::spawn_with(app.db, |s| s.scim.max_filter_length = 1 << 20).await;
    seed(&app).await;
    let mut terms = vec![r#"userName eq "nobody""#; 1023];
    terms.push(r#"userName eq "bob""#);
    let f = terms.join(" or ");
    let r = list_raw(&app, "/Users", &f).await;
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["totalResults"], 1);
    assert_eq!(v["Resources"][0]["userName"], "bob");
});
