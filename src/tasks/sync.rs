//! `sync_hub`, "check for updates": reads the business's people, invitations and assets
//! from Meta (all pages), and who holds which asset tasks; records them as members (matched
//! by email to directory users, case-insensitively, or left `unmatched`: the bridge never
//! removes those on its own) and as the hub's assets; marks members Meta no longer lists as
//! gone; then queues the reconcile of every matched member and every directory user the
//! hub's grants reach, which acts where Meta differs from effective access (an accepted
//! invitation gets its asset tasks this way). Writes go in chunks of [`CHUNK`] members, so
//! SQLite's one writer is never held for long. Progress is on the task while it runs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::reconcile::{failed, hub_auth, outcome_for, store_outcome};
use super::Engine;
use crate::meta::AssetRef;
use crate::store::hubs::{self, AssetRow};
use crate::store::members::{self, Seen};
use crate::store::tasks::{self, Enqueue, Outcome, TaskRow};
use crate::store::{now_micros, sql::fold};

/// Members written per transaction.
pub const CHUNK: usize = 100;

pub(super) async fn run(engine: &Engine, task: &TaskRow) -> Outcome {
    match sync(engine, task).await {
        Ok(()) => Outcome::Completed,
        Err(o) => o,
    }
}

async fn progress(engine: &Engine, task: &TaskRow, p: &Value) {
    let (seq, claim, text) = (task.seq, task.claims, p.to_string());
    let r = engine
        .inner
        .store
        .write(move |c| tasks::set_progress(c, seq, claim, &text, now_micros()))
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not record sync progress");
    }
}

async fn sync(engine: &Engine, task: &TaskRow) -> Result<(), Outcome> {
    let inner = &engine.inner;
    let started = now_micros();
    let hub_seq = task.hub_seq;
    let hub = inner
        .store
        .read(move |c| hubs::find_by_seq(c, hub_seq))
        .await
        .map_err(|e| store_outcome(engine, task, e))?
        .ok_or_else(|| failed("the hub no longer exists"))?;
    let auth = hub_auth(engine, &hub)?;
    let graph = &inner.graph;
    let biz = hub.business_id.as_str();
    let page_size = graph.config().page_size.max(1) as usize;
    let pages = |n: usize| n.div_ceil(page_size).max(1);
    let mut report = json!({"pages_read": 0, "people_seen": 0, "invitations_seen": 0,
                            "assets_seen": 0, "matched": 0, "changes_enqueued": 0});
    macro_rules! meta {
        ($call:expr) => {
            match $call.await {
                Ok(v) => v,
                Err(e) => return Err(outcome_for(engine, task, &hub, e).await),
            }
        };
    }
    let people = meta!(graph.business_users(&auth, biz));
    let invitations = meta!(graph.pending_users(&auth, biz));
    report["people_seen"] = json!(people.len());
    report["invitations_seen"] = json!(invitations.len());
    report["pages_read"] = json!(pages(people.len()) + pages(invitations.len()));
    progress(engine, task, &report).await;

    let pages_owned = meta!(graph.owned_pages(&auth, biz));
    let accounts = meta!(graph.owned_ad_accounts(&auth, biz));
    let catalogs = meta!(graph.owned_catalogs(&auth, biz));
    let mut assets: Vec<AssetRow> = Vec::new();
    let row = |id: &str, kind: &str, name: &Option<String>| AssetRow {
        hub_seq,
        asset_id: id.to_string(),
        kind: kind.to_string(),
        name: name.clone().unwrap_or_default(),
        owned_by: biz.to_string(),
        last_seen_at: started,
    };
    assets.extend(pages_owned.iter().map(|p| row(&p.id, "page", &p.name)));
    assets.extend(accounts.iter().map(|a| row(&a.id, "ad_account", &a.name)));
    assets.extend(catalogs.iter().map(|c| row(&c.id, "catalog", &c.name)));
    report["assets_seen"] = json!(assets.len());
    report["pages_read"] = json!(
        report["pages_read"].as_u64().unwrap_or(0) as usize
            + pages(pages_owned.len())
            + pages(accounts.len())
            + pages(catalogs.len())
    );

    // Who holds which tasks: one list per asset.
    let mut held: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for a in &assets {
        let asset = match a.kind.as_str() {
            "page" => AssetRef::Page(a.asset_id.clone()),
            "ad_account" => AssetRef::AdAccount(a.asset_id.clone()),
            _ => AssetRef::Catalog(a.asset_id.clone()),
        };
        let assigned = meta!(graph.assigned_users(&auth, &asset, biz));
        report["pages_read"] = json!(report["pages_read"].as_u64().unwrap_or(0) + 1);
        for u in assigned {
            held.entry(u.id).or_default().insert(
                a.asset_id.clone(),
                json!({"kind": a.kind, "tasks": u.tasks}),
            );
        }
    }
    progress(engine, task, &report).await;

    let mut seen: Vec<Seen> = Vec::new();
    for p in &people {
        let Some(email) = p.email.clone().filter(|e| !e.trim().is_empty()) else {
            continue;
        };
        seen.push(Seen {
            email,
            name: p.name.clone(),
            business_user_id: Some(p.id.clone()),
            invitation_id: None,
            meta_status: "active".into(),
            business_role: p.role.clone(),
            assets: Value::Object(held.remove(&p.id).unwrap_or_default()).to_string(),
        });
    }
    let active: std::collections::HashSet<String> = seen.iter().map(|s| fold(&s.email)).collect();
    for i in &invitations {
        let Some(email) = i.email.clone() else {
            continue;
        };
        let pending = i
            .status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("PENDING"));
        if !pending || active.contains(&fold(&email)) {
            continue;
        }
        seen.push(Seen {
            email,
            name: None,
            business_user_id: None,
            invitation_id: Some(i.id.clone()),
            meta_status: "invited".into(),
            business_role: i.role.clone(),
            assets: "{}".into(),
        });
    }
    let mut matched = 0;
    for chunk in seen.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        matched += inner
            .store
            .write(move |c| members::upsert_seen(c, hub_seq, &chunk, now_micros()))
            .await
            .map_err(|e| store_outcome(engine, task, e))?;
    }
    report["matched"] = json!(matched);
    let e = Enqueue {
        triggered_by: "sync",
        max_attempts: task.max_attempts,
        now: now_micros(),
    };
    let enqueued = inner
        .store
        .write(move |c| {
            hubs::replace_assets(c, hub_seq, &assets)?;
            members::mark_unseen_gone(c, hub_seq, started)?;
            tasks::enqueue_for_hub(c, hub_seq, e)
        })
        .await
        .map_err(|e| store_outcome(engine, task, e))?;
    report["changes_enqueued"] = json!(enqueued);
    progress(engine, task, &report).await;
    tracing::info!(hub.id = %hub.id, progress = %report, "hub synced");
    Ok(())
}
