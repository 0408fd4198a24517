//! Token checks, business info and `appsecret_proof` (reference 3, 10).

use hubbridge::meta::{AccessToken, AppSecret, ErrorClass};
use hubbridge::sandbox::{demo_ids, SandboxConfig, Seed};

use crate::contract::helpers::{spawn, spawn_with};

#[tokio::test]
async fn me_and_debug_token_describe_the_hub_system_user_token() {
    let env = spawn().await;
    let hub = env.hub();

    let me = env.graph.me(&hub).await.expect("me");
    let info = env
        .graph
        .debug_token(&hub, &AccessToken::new(demo_ids::HUB_TOKEN))
        .await
        .expect("debug_token");

    assert_eq!(me.id, demo_ids::HUB_SYSTEM_USER_ID);
    assert_eq!(me.name.as_deref(), Some("hubbridge sync"));
    assert!(info.is_valid);
    assert!(info.is_system_user());
    assert_eq!(info.app_id.as_deref(), Some(demo_ids::APP_ID));
    assert_eq!(
        info.expires(),
        None,
        "a system-user token that never expires"
    );
    assert!(info.has_scope("business_management"));
    assert_eq!(info.user_id.as_deref(), Some(demo_ids::HUB_SYSTEM_USER_ID));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn debug_token_reports_an_expired_token_as_invalid_data_not_an_error() {
    let env = spawn().await;

    let info = env
        .graph
        .debug_token(&env.hub(), &AccessToken::new(demo_ids::EXPIRED_TOKEN))
        .await
        .expect("debug_token answers");

    assert!(!info.is_valid);
    assert!(info.expires().is_some());
    let problem = info.error.expect("an error object");
    assert_eq!((problem.code, problem.subcode), (Some(190), Some(463)));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn business_info_is_typed() {
    let env = spawn().await;

    let b = env
        .graph
        .business(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("business");

    assert_eq!(b.id, demo_ids::BUSINESS_ID);
    assert_eq!(b.name.as_deref(), Some("Acme Corp"));
    assert_eq!(b.verification_status.as_deref(), Some("verified"));
    assert_eq!(b.two_factor_type.as_deref(), Some("admin_required"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn appsecret_proof_is_checked_when_the_sandbox_requires_it() {
    let config = SandboxConfig {
        require_appsecret_proof: true,
        ..SandboxConfig::default()
    };
    let env = spawn_with(config, Seed::demo(), |_| {}).await;
    let token = || AccessToken::new(demo_ids::HUB_TOKEN);

    let good = env.graph.me(&env.graph.auth(token())).await;
    let missing = env
        .graph
        .me(&env.graph.auth_with_secret(token(), None))
        .await;
    let wrong = env
        .graph
        .me(&env
            .graph
            .auth_with_secret(token(), Some(&AppSecret::new("not-the-secret"))))
        .await;

    assert!(good.is_ok(), "{good:?}");
    let missing = missing.expect_err("no proof");
    assert_eq!(missing.class(), ErrorClass::Config);
    assert!(missing
        .meta()
        .is_some_and(|m| m.message.contains("require an appsecret_proof")));
    let wrong = wrong.expect_err("wrong proof");
    assert_eq!(wrong.class(), ErrorClass::Config);
    assert_eq!(wrong.meta().map(|m| m.code), Some(100));
    assert!(wrong
        .meta()
        .is_some_and(|m| m.message.contains("Invalid appsecret_proof")));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_partner_token_needs_the_proof_of_the_partner_app() {
    let config = SandboxConfig {
        require_appsecret_proof: true,
        ..SandboxConfig::default()
    };
    let env = spawn_with(config, Seed::demo(), |_| {}).await;
    let token = || AccessToken::new(demo_ids::PARTNER_A_TOKEN);

    let with_hub_secret = env.graph.me(&env.graph.auth(token())).await;
    let partner = env.graph.auth_with_secret(
        token(),
        Some(&AppSecret::new(demo_ids::PARTNER_A_APP_SECRET)),
    );
    let with_partner_secret = env.graph.me(&partner).await;

    assert!(with_hub_secret.is_err_and(|e| e
        .meta()
        .is_some_and(|m| m.message.contains("Invalid appsecret_proof"))));
    assert!(with_partner_secret.is_ok());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn check_token_validates_hub_and_partner_tokens() {
    let env = spawn().await;

    let hub = env
        .graph
        .check_token(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("hub token");
    let partner = env
        .graph
        .check_token(&env.partner_b(), demo_ids::PARTNER_B_ID)
        .await
        .expect("partner token");
    let expired = env
        .graph
        .check_token(&env.token(demo_ids::EXPIRED_TOKEN), demo_ids::BUSINESS_ID)
        .await
        .expect_err("expired");
    let wrong_business = env
        .graph
        .check_token(&env.partner_b(), demo_ids::BUSINESS_ID)
        .await
        .expect_err("a partner token cannot read the hub");

    assert!(hub
        .missing_scopes(&["business_management", "ads_management"])
        .is_empty());
    assert_eq!(partner.business.name.as_deref(), Some("Northwind Media"));
    assert_eq!(
        partner.missing_scopes(&["business_management", "ads_management"]),
        vec!["ads_management"]
    );
    assert_eq!(expired.class(), ErrorClass::TokenInvalid);
    assert!(wrong_business.is_unknown_object());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn check_token_reports_a_token_revoked_at_run_time_from_debug_token_data() {
    let env = spawn().await;
    let hub = env.hub();
    let inspector = env.partner_a();
    let before = env
        .graph
        .check_token_as(&inspector, &hub, demo_ids::BUSINESS_ID)
        .await;
    env.sandbox
        .post("/tokens/hub/revoke", serde_json::json!({}))
        .await;

    let err = env
        .graph
        .check_token_as(&inspector, &hub, demo_ids::BUSINESS_ID)
        .await
        .expect_err("revoked");

    assert!(before.is_ok(), "{before:?}");
    assert_eq!(err.class(), ErrorClass::TokenInvalid);
    let meta = err.meta().expect("the reason debug_token gave");
    // HTTP 200: the `is_valid: false` answer, not a top-level 190 on the caller's token.
    assert_eq!(meta.http_status, 200);
    assert_eq!((meta.code, meta.subcode), (190, Some(460)));
    assert!(meta.message.contains("invalidated"), "{}", meta.message);
    assert!(!format!("{err} {err:?}").contains(demo_ids::HUB_TOKEN));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_inspected_token_never_appears_in_a_url() {
    let env = spawn_with(SandboxConfig::default(), Seed::demo(), |c| c.page_size = 5).await;
    let inspected = AccessToken::new(demo_ids::PARTNER_B_TOKEN);

    let info = env
        .graph
        .debug_token(&env.hub(), &inspected)
        .await
        .expect("debug_token");
    env.graph
        .check_token(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("check_token");
    // A list of several pages: the sandbox's `paging.next` links carry the token.
    let people = env
        .graph
        .business_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("people");
    let stats = env.sandbox.stats().await;

    assert_eq!(info.user_id.as_deref(), Some("100000009900002"));
    assert!(people.len() > 5, "paged");
    assert_eq!(
        stats["batches"], 2,
        "debug_token went in a batch body: {stats}"
    );
    assert_eq!(stats["secrets_in_url"], 0, "{stats}");

    // The detector itself works: the old request shape is caught.
    let caught = env
        .sandbox
        .http
        .get(format!(
            "{}/v25.0/debug_token?input_token={}",
            env.sandbox.url(),
            demo_ids::PARTNER_B_TOKEN
        ))
        .bearer_auth(demo_ids::HUB_TOKEN)
        .send()
        .await
        .expect("raw debug_token");
    assert_eq!(caught.status(), 200);
    assert_eq!(env.sandbox.stats().await["secrets_in_url"], 1);
    env.sandbox.stop().await;
}
