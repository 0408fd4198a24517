//! The service survives its PostgreSQL connections being cut (a database restart or a
//! failover): the pool notices, drops them, and the IdP sees at most a retryable 503.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

/// Terminates every server process of connections named `application_name`; returns how many.
fn terminate_backends(application_name: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = diesel::PgConnection::establish(&postgres_url()).expect("postgres");
    diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = $1",
    )
    .bind::<diesel::sql_types::Text, _>(application_name)
    .get_result::<N>(&mut c)
    .expect("terminate")
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_postgres_connections_cost_at_most_one_retryable_error() {
    let tag = format!("hb_{}", uuid::Uuid::new_v4().simple());
    let name = tag.clone();
    let app = TestApp::spawn_with(Db::Postgres, move |s| {
        s.database
            .url
            .push_str(&format!("&application_name={name}"));
        s.database.max_connections = 4;
    })
    .await;
    let user = app.create_user("resilient@example.com").await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    // Open several pooled connections.
    let warm: Vec<_> = (0..8).map(|_| app.get(&path)).collect();
    for r in futures_util::future::join_all(warm).await {
        assert_eq!(r.status(), StatusCode::OK);
    }
    let cut = tokio::task::spawn_blocking(move || terminate_backends(&tag))
        .await
        .unwrap();
    assert!(cut >= 2, "{cut} connections cut");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Reads and writes go on; a request that ran on a cut connection gets 503 + Retry-After.
    let mut failures = 0;
    for i in 0..20 {
        let r = if i % 2 == 0 {
            app.get(&path).await
        } else {
            app.patch(
                &path,
                serde_json::json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]),
            )
            .await
        };
        if r.status() != StatusCode::OK {
            failures += 1;
            assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
            assert_scim_error(r, 503, None).await;
        }
    }
    assert!(failures <= 1, "{failures} requests failed after the cut");
    let v: serde_json::Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(v["title"], "t19");
}
