//! Every error class, as the client classifies what the sandbox returns (reference 7).

use hubbridge::meta::{AccessToken, BusinessRole, ErrorClass, Invite};
use hubbridge::sandbox::demo_ids;
use serde_json::json;

use crate::contract::helpers::spawn;

fn invite(email: &str) -> Invite {
    Invite {
        email: email.into(),
        role: BusinessRole::Employee,
        tasks: Vec::new(),
    }
}

#[tokio::test]
async fn unknown_expired_and_revoked_tokens_are_token_invalid() {
    let env = spawn().await;

    let unknown = env
        .graph
        .me(&env.token("EAAnot-a-token"))
        .await
        .expect_err("unknown");
    let expired = env
        .graph
        .me(&env.token(demo_ids::EXPIRED_TOKEN))
        .await
        .expect_err("expired");
    env.sandbox.post("/tokens/hub/revoke", json!({})).await;
    let revoked = env.graph.me(&env.hub()).await.expect_err("revoked");
    let info = env
        .graph
        .debug_token(&env.partner_a(), &AccessToken::new(demo_ids::HUB_TOKEN))
        .await
        .expect("another valid token may inspect it");

    for e in [&unknown, &expired, &revoked] {
        assert_eq!(e.class(), ErrorClass::TokenInvalid, "{e:?}");
        assert_eq!(e.meta().map(|m| m.code), Some(190));
    }
    assert_eq!(expired.meta().and_then(|m| m.subcode), Some(463));
    assert_eq!(revoked.meta().and_then(|m| m.subcode), Some(460));
    assert!(!info.is_valid);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_missing_scope_or_an_employee_token_is_permission_missing() {
    let env = spawn().await;

    let no_scope = env
        .graph
        .business_users(&env.token(demo_ids::NO_SCOPE_TOKEN), demo_ids::BUSINESS_ID)
        .await
        .expect_err("no business_management");
    let employee = env
        .graph
        .invite(
            &env.token(demo_ids::EMPLOYEE_TOKEN),
            demo_ids::BUSINESS_ID,
            &invite("x@acme.example"),
        )
        .await
        .expect_err("not an admin");
    let employee_read = env
        .graph
        .business_users(&env.token(demo_ids::EMPLOYEE_TOKEN), demo_ids::BUSINESS_ID)
        .await;

    assert_eq!(no_scope.class(), ErrorClass::PermissionMissing);
    assert!(no_scope
        .meta()
        .is_some_and(|m| m.message.contains("business_management")));
    assert_eq!(employee.class(), ErrorClass::PermissionMissing);
    assert_eq!(employee.meta().map(|m| m.http_status), Some(403));
    assert!(employee_read.is_ok(), "employees may read people");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found_or_invalid_param_with_subcode_33() {
    let env = spawn().await;

    let err = env
        .graph
        .invitation(&env.hub(), "424242")
        .await
        .expect_err("unknown id");

    assert_eq!(err.class(), ErrorClass::NotFoundOrInvalidParam);
    assert!(err.is_unknown_object());
    let meta = err.meta().expect("Meta's error");
    assert!(meta
        .message
        .contains("Object with ID '424242' does not exist"));
    assert!(meta.fbtrace_id.as_deref().is_some_and(|t| !t.is_empty()));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_invitation_limit_stops_invitations_for_24_hours_but_not_reads() {
    let env = spawn().await;
    env.sandbox
        .put(
            &format!("/businesses/{}/invitation_limit", demo_ids::BUSINESS_ID),
            json!({ "limit": 1 }),
        )
        .await;

    env.graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("one@acme.example"),
        )
        .await
        .expect("first invitation");
    let err = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("two@acme.example"),
        )
        .await
        .expect_err("limit");
    let read = env
        .graph
        .pending_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await;

    assert_eq!(err.class(), ErrorClass::InvitationLimit);
    assert_eq!(err.retry_after().map(|d| d.as_secs()), Some(24 * 3600));
    assert_eq!(err.meta().map(|m| m.code), Some(17));
    assert!(read.is_ok());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_new_system_user_restriction_is_its_own_class() {
    let env = spawn().await;
    env.sandbox
        .put(
            &format!("/businesses/{}/restriction", demo_ids::BUSINESS_ID),
            json!({ "restricted": true }),
        )
        .await;

    let invite_err = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("blocked@acme.example"),
        )
        .await
        .expect_err("restricted");
    let remove_err = env
        .graph
        .remove_business_user(&env.hub(), "7030")
        .await
        .expect_err("restricted");
    let read = env
        .graph
        .business_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await;

    assert_eq!(invite_err.class(), ErrorClass::NewSystemUserRestriction);
    assert_eq!(remove_err.class(), ErrorClass::NewSystemUserRestriction);
    assert!(read.is_ok(), "reads are not restricted");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn reads_retry_transient_errors_and_succeed() {
    let env = spawn().await;
    env.sandbox.post(
        "/faults/targeted",
        json!({ "target": demo_ids::BUSINESS_ID, "endpoint": "GET business", "remaining": 2, "code": 2 }),
    )
    .await;

    let b = env.graph.business(&env.hub(), demo_ids::BUSINESS_ID).await;

    assert!(b.is_ok(), "{b:?}");
    assert_eq!(env.sandbox.stats().await["injected_faults"], 2);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn reads_give_up_after_the_retry_budget_with_a_transient_error() {
    let env = spawn().await;
    env.sandbox
        .post(
            "/faults/error_rates",
            json!({ "endpoint": "GET business", "rate": 1.0, "code": 1 }),
        )
        .await;

    let err = env
        .graph
        .business(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect_err("always failing");

    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.meta().map(|m| m.code), Some(1));
    assert_eq!(
        env.sandbox.stats().await["injected_faults"],
        4,
        "one call and three retries"
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn writes_are_never_retried_inside_the_client() {
    let env = spawn().await;
    env.sandbox
        .post(
            "/faults/error_rates",
            json!({ "endpoint": "POST business_users", "rate": 1.0, "code": 2 }),
        )
        .await;

    let err = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("flaky@acme.example"),
        )
        .await
        .expect_err("transient");

    assert_eq!(err.class(), ErrorClass::Transient);
    let path = format!("/{}/business_users", demo_ids::BUSINESS_ID);
    assert_eq!(env.sandbox.all_calls("POST", &path).await, 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_specific_failure_for_one_email_is_other_and_keeps_metas_message() {
    let env = spawn().await;
    env.sandbox.post(
        "/faults/targeted",
        json!({ "target": "special@acme.example", "code": 3944, "message": "(#3944) Your business already has access to this object." }),
    )
    .await;

    let err = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("special@acme.example"),
        )
        .await
        .expect_err("targeted");
    let fine = env
        .graph
        .invite(
            &env.hub(),
            demo_ids::BUSINESS_ID,
            &invite("normal@acme.example"),
        )
        .await;

    assert_eq!(err.class(), ErrorClass::Other);
    assert!(err.to_string().contains("already has access"));
    assert!(fine.is_ok());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn an_unknown_path_is_other_with_code_2500() {
    let env = spawn().await;

    let answers = env
        .graph
        .batch_get(
            &env.hub(),
            &[format!("{}/no_such_edge", demo_ids::BUSINESS_ID)],
        )
        .await
        .expect("batch answers");

    let err = answers[0].as_ref().expect_err("unknown edge");
    assert_eq!(err.class(), ErrorClass::Other);
    assert_eq!(err.meta().map(|m| m.code), Some(2500));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn errors_never_carry_the_token() {
    let env = spawn().await;
    env.sandbox.post("/tokens/hub/revoke", json!({})).await;

    let err = env
        .graph
        .business_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect_err("revoked");
    let checked = env
        .graph
        .check_token(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect_err("revoked caller");
    let unknown_input = env
        .graph
        .debug_token(&env.partner_a(), &AccessToken::new("EAAsecret-never-seen"))
        .await
        .expect_err("unparseable input token");

    let shown = format!(
        "{err} {err:?} {checked} {checked:?} {unknown_input} {unknown_input:?} {:?}",
        env.hub()
    );
    assert!(!shown.contains(demo_ids::HUB_TOKEN), "{shown}");
    assert!(!shown.contains("EAAsecret-never-seen"), "{shown}");
    assert!(!shown.contains(demo_ids::APP_SECRET), "{shown}");
    assert_eq!(checked.class(), ErrorClass::TokenInvalid);
    assert_eq!(unknown_input.class(), ErrorClass::TokenInvalid);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn batch_answers_come_back_without_the_token_in_paging_links() {
    let env = spawn().await;
    let hub = env.hub();
    let list = format!(
        "{}/business_users?fields=id,name&limit=2&summary=total_count",
        demo_ids::BUSINESS_ID
    );

    let answers = env
        .graph
        .batch_get(&hub, std::slice::from_ref(&list))
        .await
        .expect("batch");
    let page = answers[0].as_ref().expect("first page");
    let next = page
        .pointer("/paging/next")
        .and_then(serde_json::Value::as_str)
        .expect("a next link");
    let url = url::Url::parse(next).expect("still a URL");
    let raw = env
        .sandbox
        .http
        .get(format!("{}/v25.0/{list}", env.sandbox.url()))
        .bearer_auth(demo_ids::HUB_TOKEN)
        .send()
        .await
        .expect("raw")
        .text()
        .await
        .expect("body");

    assert!(
        raw.contains(demo_ids::HUB_TOKEN),
        "the sandbox repeats the token as Meta does"
    );
    assert!(!page.to_string().contains(demo_ids::HUB_TOKEN), "{page}");
    assert!(url
        .query_pairs()
        .all(|(k, _)| k != "access_token" && k != "appsecret_proof"));
    assert!(
        url.query_pairs().any(|(k, _)| k == "after"),
        "the cursor stays"
    );
    assert!(url.query_pairs().any(|(k, v)| k == "limit" && v == "2"));
    env.sandbox.stop().await;
}
