//! Assets and asset tasks (reference 5), partners (reference 6.1).

use hubbridge::meta::{AssetKind, AssetRef};
use hubbridge::sandbox::demo_ids;
use serde_json::json;

use crate::contract::helpers::spawn;

fn tasks(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| (*s).to_string()).collect()
}

#[tokio::test]
async fn owned_and_client_assets_are_listed() {
    let env = spawn().await;
    let hub = env.hub();
    let partner = env.partner_b();

    let pages = env
        .graph
        .owned_pages(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("pages");
    let accounts = env
        .graph
        .owned_ad_accounts(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("ad accounts");
    let catalogs = env
        .graph
        .owned_catalogs(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("catalogs");
    let client_pages = env
        .graph
        .client_pages(&partner, demo_ids::PARTNER_B_ID)
        .await
        .expect("client pages");
    let client_accounts = env
        .graph
        .client_ad_accounts(&partner, demo_ids::PARTNER_B_ID)
        .await
        .expect("client ad accounts");
    let client_catalogs = env
        .graph
        .client_catalogs(&partner, demo_ids::PARTNER_B_ID)
        .await
        .expect("client catalogs");
    let hub_client_pages = env
        .graph
        .client_pages(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("none shared with the hub");

    assert_eq!(pages.len(), 4);
    assert_eq!(accounts.len(), 3);
    assert!(accounts
        .iter()
        .all(|a| a.id.starts_with("act_") && a.account_id.as_deref() == Some(&a.id[4..])));
    assert_eq!(catalogs.len(), 1);
    assert_eq!(client_pages.len(), 1);
    assert_eq!(
        client_pages[0].permitted_tasks,
        tasks(&["ADVERTISE", "ANALYZE"])
    );
    assert_eq!(client_accounts.len(), 1);
    assert_eq!(client_catalogs.len(), 1);
    assert!(hub_client_pages.is_empty());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn asset_tasks_are_granted_read_back_and_revoked() {
    let env = spawn().await;
    let hub = env.hub();
    let account = AssetRef::AdAccount(demo_ids::AD_ACCOUNT_IDS[1].into());
    let catalog = AssetRef::Catalog(demo_ids::CATALOG_ID.into());

    env.graph
        .assign_asset(
            &hub,
            &account,
            demo_ids::BUSINESS_ID,
            "7010",
            &tasks(&["MANAGE"]),
        )
        .await
        .expect("grant ad account");
    env.graph
        .assign_asset(
            &hub,
            &catalog,
            demo_ids::BUSINESS_ID,
            "7010",
            &tasks(&["ADVERTISE"]),
        )
        .await
        .expect("grant catalog");
    let assigned = env
        .graph
        .assigned_users(&hub, &account, demo_ids::BUSINESS_ID)
        .await
        .expect("assigned");
    let mine = env
        .graph
        .user_assets(&hub, "7010", AssetKind::AdAccount)
        .await
        .expect("person's accounts");

    let entry = assigned.iter().find(|a| a.id == "7010").expect("assigned");
    // Read-back may expand: desired ⊆ observed (reference 5.2).
    assert!(entry.tasks.contains(&"MANAGE".to_string()));
    assert!(entry.tasks.contains(&"ANALYZE".to_string()));
    assert_eq!(entry.user_type.as_deref(), Some("business_user"));
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, format!("act_{}", demo_ids::AD_ACCOUNT_IDS[1]));

    // A POST replaces the set.
    env.graph
        .assign_asset(
            &hub,
            &account,
            demo_ids::BUSINESS_ID,
            "7010",
            &tasks(&["ANALYZE"]),
        )
        .await
        .expect("replace");
    let assigned = env
        .graph
        .assigned_users(&hub, &account, demo_ids::BUSINESS_ID)
        .await
        .expect("assigned");
    assert_eq!(
        assigned
            .iter()
            .find(|a| a.id == "7010")
            .map(|a| a.tasks.clone()),
        Some(tasks(&["ANALYZE"]))
    );

    env.graph
        .unassign_asset(&hub, &account, demo_ids::BUSINESS_ID, "7010")
        .await
        .expect("revoke");
    let assigned = env
        .graph
        .assigned_users(&hub, &account, demo_ids::BUSINESS_ID)
        .await
        .expect("assigned");
    assert!(assigned.iter().all(|a| a.id != "7010"));
    let path = format!("/act_{}/assigned_users", demo_ids::AD_ACCOUNT_IDS[1]);
    assert_eq!(env.sandbox.calls("POST", &path).await, 2);
    assert_eq!(env.sandbox.calls("DELETE", &path).await, 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn assigned_users_of_many_assets_come_back_through_one_batch() {
    let env = spawn().await;
    let hub = env.hub();
    let assets: Vec<AssetRef> = demo_ids::PAGE_IDS
        .iter()
        .map(|p| AssetRef::Page((*p).into()))
        .chain(
            demo_ids::AD_ACCOUNT_IDS
                .iter()
                .map(|a| AssetRef::AdAccount((*a).into())),
        )
        .chain([
            AssetRef::Catalog(demo_ids::CATALOG_ID.into()),
            AssetRef::Page("999999".into()),
        ])
        .collect();

    let before = env.sandbox.stats().await;
    let batched = env
        .graph
        .assigned_users_many(&hub, &assets, demo_ids::BUSINESS_ID)
        .await
        .expect("batch");
    let after = env.sandbox.stats().await;

    let count = |v: &serde_json::Value, k: &str| v[k].as_u64().expect("a counter");
    assert_eq!(count(&after, "batches") - count(&before, "batches"), 1);
    assert_eq!(
        count(&after, "batch_operations") - count(&before, "batch_operations"),
        assets.len() as u64
    );
    assert_eq!(
        count(&after, "graph_calls") - count(&before, "graph_calls"),
        assets.len() as u64,
        "one request, every operation counted"
    );
    assert_eq!(batched.len(), assets.len());
    for (asset, result) in &batched[..assets.len() - 1] {
        let one_by_one = env
            .graph
            .assigned_users(&hub, asset, demo_ids::BUSINESS_ID)
            .await
            .expect("single");
        assert_eq!(
            result.as_ref().expect("batched answer"),
            &one_by_one,
            "{asset:?}"
        );
    }
    let unknown = batched
        .last()
        .map(|(_, r)| r.as_ref().expect_err("unknown page"));
    assert!(unknown.is_some_and(|e| e.is_unknown_object()));
    let first_page = &batched[0].1.as_ref().expect("page 20001");
    assert!(first_page.iter().any(|a| a.id == "7002"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_page_with_the_unified_task_names_gets_one_retry_with_mapped_names() {
    let env = spawn().await;
    let hub = env.hub();
    let page = demo_ids::PAGE_IDS[3];
    env.sandbox
        .put(
            &format!("/pages/{page}/unified_tasks"),
            json!({ "enabled": true }),
        )
        .await;

    env.graph
        .assign_asset(
            &hub,
            &AssetRef::Page(page.into()),
            demo_ids::BUSINESS_ID,
            "7011",
            &tasks(&["MANAGE", "ANALYZE"]),
        )
        .await
        .expect("granted after the retry");
    let assigned = env
        .graph
        .assigned_users(&hub, &AssetRef::Page(page.into()), demo_ids::BUSINESS_ID)
        .await
        .expect("assigned");

    assert_eq!(
        assigned
            .iter()
            .find(|a| a.id == "7011")
            .map(|a| a.tasks.clone()),
        Some(tasks(&["FULL_CONTROL", "ANALYZE"]))
    );
    let path = format!("/{page}/assigned_users");
    assert_eq!(
        env.sandbox.all_calls("POST", &path).await,
        2,
        "the refused call and one retry"
    );
    assert_eq!(env.sandbox.calls("POST", &path).await, 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn partners_are_listed_from_both_sides() {
    let env = spawn().await;

    let agencies = env
        .graph
        .agencies(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("agencies");
    let clients = env
        .graph
        .clients(&env.partner_a(), demo_ids::PARTNER_A_ID)
        .await
        .expect("clients");

    assert_eq!(agencies.len(), 2);
    let a = agencies
        .iter()
        .find(|p| p.id == demo_ids::PARTNER_A_ID)
        .expect("partner A");
    assert_eq!(a.page_permissions.len(), 2);
    assert_eq!(
        a.page_permissions[0].access_status.as_deref(),
        Some("CONFIRMED")
    );
    assert_eq!(a.adaccount_permissions.len(), 1);
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].id, demo_ids::BUSINESS_ID);
    env.sandbox.stop().await;
}
