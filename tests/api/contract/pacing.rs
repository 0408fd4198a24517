//! Throttling, recovery and pacing (reference 8).

use std::time::{Duration, Instant};

use hubbridge::meta::{ErrorClass, ThrottleScope};
use hubbridge::sandbox::{demo_ids, RateLimitConfig, SandboxConfig, Seed};

use crate::contract::helpers::{spawn_with, TestApp};

fn limited(budget: u32, app_budget: u32, window: Duration) -> SandboxConfig {
    SandboxConfig {
        rate_limit: RateLimitConfig {
            business_budget: budget,
            app_budget,
            window,
            fractional_regain_minutes: true,
            ..RateLimitConfig::default()
        },
        ..SandboxConfig::default()
    }
}

/// Spends budget with plain HTTP calls, as another process using the same token would.
async fn spend(env: &TestApp, n: usize) {
    for _ in 0..n {
        let resp = env
            .sandbox
            .http
            .get(format!("{}/v25.0/me", env.sandbox.url()))
            .bearer_auth(demo_ids::HUB_TOKEN)
            .send()
            .await
            .expect("raw call");
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn a_throttled_bucket_is_left_alone_until_access_returns() {
    let window = Duration::from_secs(2);
    let env = spawn_with(limited(5, 10_000, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    spend(&env, 5).await;

    let err = env.graph.me(&env.hub()).await.expect_err("throttled");
    let calls_after_throttle = env.sandbox.stats().await["graph_calls"].clone();
    let again = env
        .graph
        .me(&env.hub())
        .await
        .expect_err("held back locally");

    assert_eq!(err.class(), ErrorClass::Throttled);
    assert!(matches!(&err, hubbridge::meta::GraphError::Throttled {
        scope: ThrottleScope::Business(id), meta: Some(m), .. } if id == demo_ids::BUSINESS_ID && m.code == 613));
    let wait = err.retry_after().expect("a wait");
    assert!(
        wait > Duration::ZERO && wait <= window + Duration::from_millis(100),
        "{wait:?}"
    );
    assert_eq!(again.class(), ErrorClass::Throttled);
    assert!(
        again.meta().is_none(),
        "the second refusal is the client's own"
    );
    assert_eq!(
        env.sandbox.stats().await["graph_calls"],
        calls_after_throttle,
        "no call reached the sandbox"
    );

    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    let recovered = env.graph.me(&env.hub()).await;
    assert!(recovered.is_ok(), "{recovered:?}");
    assert_eq!(env.sandbox.stats().await["throttled"], 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_app_wide_limit_is_code_4_and_app_scoped() {
    let window = Duration::from_secs(2);
    let env = spawn_with(limited(1000, 3, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    spend(&env, 3).await;

    let err = env.graph.me(&env.hub()).await.expect_err("app throttled");

    assert_eq!(err.class(), ErrorClass::Throttled);
    assert!(matches!(
        &err,
        hubbridge::meta::GraphError::Throttled {
            scope: ThrottleScope::App,
            ..
        }
    ));
    assert_eq!(err.meta().map(|m| m.code), Some(4));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_paced_client_never_hits_the_limit() {
    let window = Duration::from_secs(1);
    let env = spawn_with(limited(20, 10_000, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    let hub = env.hub();
    let started = Instant::now();

    for i in 0..70 {
        env.graph
            .me(&hub)
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }

    let elapsed = started.elapsed();
    assert_eq!(env.sandbox.stats().await["throttled"], 0);
    // 70 calls at 20 per rolling second cannot finish in under 3 s.
    assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_batch_counts_as_its_operations_and_waits_for_room_for_all_of_them() {
    let window = Duration::from_secs(2);
    let env = spawn_with(limited(20, 10_000, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    let hub = env.hub();
    let ops: Vec<String> = (0..15).map(|_| "me?fields=id".to_string()).collect();
    let started = Instant::now();

    let first = env.graph.batch_get(&hub, &ops).await.expect("first batch");
    let second = env.graph.batch_get(&hub, &ops).await.expect("second batch");

    let elapsed = started.elapsed();
    assert!(first.iter().chain(&second).all(Result::is_ok));
    let stats = env.sandbox.stats().await;
    assert_eq!(stats["throttled"], 0, "{stats}");
    assert_eq!(stats["graph_calls"], 30);
    // 30 calls against 20 per rolling 2 s: the second batch had to wait for the first.
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_throttled_batch_operation_stops_the_bucket() {
    let window = Duration::from_secs(30);
    let env = spawn_with(limited(5, 10_000, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    let hub = env.hub();
    spend(&env, 3).await;
    let ops: Vec<String> = (0..4)
        .map(|_| format!("{}?fields=id", demo_ids::BUSINESS_ID))
        .collect();

    let answers = env.graph.batch_get(&hub, &ops).await.expect("batch");
    let calls_after = env.sandbox.stats().await["graph_calls"].clone();
    let next = env
        .graph
        .business(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect_err("held back");

    assert!(answers[0].is_ok() && answers[1].is_ok());
    let throttled = answers[2].as_ref().expect_err("over budget");
    assert!(matches!(throttled, hubbridge::meta::GraphError::Throttled {
        scope: ThrottleScope::Business(id), meta: Some(m), .. } if id == demo_ids::BUSINESS_ID && m.code == 613));
    assert!(throttled.retry_after().is_some_and(|d| d > Duration::ZERO));
    assert_eq!(next.class(), ErrorClass::Throttled);
    assert!(next.meta().is_none(), "refused by the client's pacer");
    assert_eq!(env.sandbox.stats().await["graph_calls"], calls_after);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_budget_learnt_from_a_batch_counts_all_its_operations() {
    let window = Duration::from_secs(2);
    let env = spawn_with(limited(20, 10_000, window), Seed::demo(), |c| {
        c.pacing.window = window
    })
    .await;
    let hub = env.hub();
    let ops: Vec<String> = (0..5).map(|_| "me?fields=id".to_string()).collect();
    let started = Instant::now();

    env.graph.batch_get(&hub, &ops).await.expect("batch");
    for i in 0..8 {
        env.graph
            .me(&hub)
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }

    // 13 calls of a budget of 20: a header saying 25 % after a batch of 5 proves a budget of
    // about 19 calls, so nothing waits (counted as one call, it would prove about 4).
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(env.sandbox.stats().await["throttled"], 0);
    env.sandbox.stop().await;
}
