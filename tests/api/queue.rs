//! The task queue's guarantees, on both databases: one waiting reconcile per (hub, user),
//! one more when a change arrives during a run, claims with leases, fencing of a worker
//! whose lease was taken over, and no claim while the same person's reconcile runs.

use diesel::prelude::*;
use hubbridge::store::hubs::{self, GrantRow, HubRow};
use hubbridge::store::schema::{groups, users};
use hubbridge::store::tasks::{self, status, Enqueue, Outcome, TaskRow};
use hubbridge::store::{now_micros, StoreError};

use serde_json::json;

use crate::both;
use crate::helpers::*;

const E: Enqueue<'static> = Enqueue {
    triggered_by: "scim",
    max_attempts: 5,
    now: 0,
};

async fn hub(app: &TestApp, business_id: &str) -> HubRow {
    let row = HubRow {
        seq: 0,
        id: format!("hub-{business_id}"),
        label: "Test".into(),
        business_id: business_id.into(),
        business_name: "Biz".into(),
        app_id: "app".into(),
        login_method: "sso".into(),
        status: hubs::status::ACTIVE.into(),
        status_reason: None,
        owner: "admin".into(),
        access_token: vec![1, 2, 3],
        app_secret: None,
        safeguard_percent: 20,
        safeguard_window_minutes: 60,
        safeguard_max_removals: None,
        sync_interval_hours: 24,
        created_at: 0,
        updated_at: 0,
    };
    app.store
        .write(move |c| hubs::insert(c, &row))
        .await
        .expect("hub")
}

async fn seq_of(app: &TestApp, user_id: &str) -> i64 {
    let id = user_id.to_string();
    app.store
        .read(move |c| {
            Ok(users::table
                .filter(users::id.eq(&id))
                .select(users::seq)
                .first(c)?)
        })
        .await
        .unwrap()
}

async fn group_seq(app: &TestApp, group_id: &str) -> i64 {
    let id = group_id.to_string();
    app.store
        .read(move |c| {
            Ok(groups::table
                .filter(groups::id.eq(&id))
                .select(groups::seq)
                .first(c)?)
        })
        .await
        .unwrap()
}

async fn grant_group(app: &TestApp, hub: &HubRow, group_seq: i64) {
    let g = GrantRow {
        seq: 0,
        id: format!("grant-{}-{group_seq}", hub.seq),
        hub_seq: hub.seq,
        group_seq: Some(group_seq),
        user_seq: None,
        hub_role: "collaborator".into(),
        business_role: "EMPLOYEE".into(),
        assets: "[]".into(),
        created_at: 0,
        updated_at: 0,
    };
    app.store
        .write(move |c| hubs::insert_grant(c, &g))
        .await
        .unwrap();
}

/// Queues the user's reconciles; returns how many tasks that added to the table (the
/// enqueue's own count is what it found: on SQLite's writer the insert, which skips the
/// pairs waiting already, happens at the commit).
async fn enqueue_user(app: &TestApp, user_id: &str) -> usize {
    let seq = seq_of(app, user_id).await;
    let id = user_id.to_string();
    let before = task_count(app).await;
    app.store
        .write(move |c| tasks::enqueue_for_user(c, seq, &id, E))
        .await
        .unwrap();
    task_count(app).await - before
}

async fn task_count(app: &TestApp) -> usize {
    app.store
        .read(|c| {
            Ok(hubbridge::store::schema::tasks::table
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .unwrap() as usize
}

async fn tasks_of(app: &TestApp, hub: &HubRow) -> Vec<TaskRow> {
    let seq = hub.seq;
    app.store
        .read(move |c| tasks::for_hub(c, seq))
        .await
        .unwrap()
}

async fn claim(app: &TestApp, now: i64, lease: i64) -> Vec<TaskRow> {
    app.store
        .write(move |c| tasks::claim(c, now, now + lease, 10))
        .await
        .unwrap()
}

async fn finish(app: &TestApp, task: &TaskRow, outcome: Outcome, now: i64) -> bool {
    let task = task.clone();
    app.store
        .write(move |c| tasks::finish(c, &task, &outcome, now))
        .await
        .unwrap()
}

/// A user in a group that a hub grants something to.
async fn granted_user(app: &TestApp, name: &str) -> (HubRow, String) {
    let hub = hub(app, "5550001").await;
    let user = app.create_user(name).await;
    let uid = user["id"].as_str().unwrap().to_string();
    let group = app.create_group("Marketing", &[&uid]).await;
    let gseq = group_seq(app, group["id"].as_str().unwrap()).await;
    grant_group(app, &hub, gseq).await;
    (hub, uid)
}

async fn make_member(app: &TestApp, hub: &HubRow, user_id: &str) {
    use hubbridge::store::members::MemberRow;
    use hubbridge::store::schema::members;
    let email = format!("{user_id}@example.com");
    let row = MemberRow {
        seq: 0,
        id: format!("member-{user_id}"),
        hub_seq: hub.seq,
        email: email.clone(),
        email_ci: email,
        name: None,
        business_user_id: Some(format!("bu-{user_id}")),
        invitation_id: None,
        meta_status: "active".into(),
        business_role: Some("EMPLOYEE".into()),
        assets: "{}".into(),
        state: "onboarded".into(),
        user_id: Some(user_id.to_string()),
        hub_role: Some("collaborator".into()),
        exemption_reason: None,
        exemption_by: None,
        exemption_at: None,
        partner_business_id: None,
        first_seen_at: 0,
        last_seen_at: 0,
        updated_at: 0,
    };
    app.store
        .write(move |c| {
            diesel::insert_into(members::table)
                .values(&row)
                .execute(c)?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

both!(
    a_person_named_twice_by_one_change_is_queued_once,
    |app| async move {
        // Granted through a group *and* already a member: both arms of the enqueue's
        // UNION ALL name the pair; the one-waiting-reconcile index keeps one task.
        let (hub, uid) = granted_user(&app, "ada@example.com").await;
        make_member(&app, &hub, &uid).await;
        assert_eq!(enqueue_user(&app, &uid).await, 1);
        assert_eq!(tasks_of(&app, &hub).await.len(), 1);

        let bob = app.create_user("bob@example.com").await;
        let bob = bob["id"].as_str().unwrap().to_string();
        let team = app.create_group("Sales", &[&bob]).await;
        let gseq = group_seq(&app, team["id"].as_str().unwrap()).await;
        grant_group(&app, &hub, gseq).await;
        make_member(&app, &hub, &bob).await;
        let named = vec![bob.clone(), bob.clone()];
        let before = task_count(&app).await;
        app.store
            .write(move |c| tasks::enqueue_for_group_change(c, gseq, &named, E))
            .await
            .unwrap();
        assert_eq!(task_count(&app).await - before, 1);
        let tasks = tasks_of(&app, &hub).await;
        assert_eq!(
            tasks
                .iter()
                .filter(|t| t.user_id.as_deref() == Some(bob.as_str()))
                .count(),
            1,
            "{tasks:?}"
        );
    }
);

both!(
    one_waiting_reconcile_per_person_and_one_more_while_it_runs,
    |app| async move {
        let (hub, uid) = granted_user(&app, "ada@example.com").await;
        let other = app.create_user("bob@example.com").await;
        assert_eq!(enqueue_user(&app, &uid).await, 1);
        assert_eq!(enqueue_user(&app, &uid).await, 0, "already waiting");
        assert_eq!(
            enqueue_user(&app, other["id"].as_str().unwrap()).await,
            0,
            "no grant reaches bob"
        );
        let claimed = claim(&app, 1_000, 30_000_000).await;
        assert_eq!(claimed.len(), 1);
        let running = &claimed[0];
        assert_eq!(
            (running.status.as_str(), running.attempts, running.claims),
            (status::RUNNING, 1, 1)
        );
        // A change arrives while it runs: one more run is queued, and only one.
        assert_eq!(enqueue_user(&app, &uid).await, 1);
        assert_eq!(enqueue_user(&app, &uid).await, 0);
        // ...and not claimed while the first runs under a live lease.
        assert!(claim(&app, 2_000, 30_000_000).await.is_empty());
        assert!(finish(&app, running, Outcome::Completed, 3_000).await);
        let next = claim(&app, 4_000, 30_000_000).await;
        assert_eq!(next.len(), 1);
        assert_ne!(next[0].id, running.id);
        let all = tasks_of(&app, &hub).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, status::COMPLETED);
        assert!(all[0].finished_at.is_some());
    }
);

both!(
    a_worker_whose_lease_was_taken_over_cannot_record_its_result,
    |app| async move {
        let (_hub, uid) = granted_user(&app, "ada@example.com").await;
        enqueue_user(&app, &uid).await;
        let first = claim(&app, 1_000, 10_000).await.remove(0);
        // The worker dies: its lease runs out and another worker takes the task over.
        assert!(
            claim(&app, 5_000, 10_000).await.is_empty(),
            "lease still live"
        );
        let second = claim(&app, 20_000, 10_000).await.remove(0);
        assert_eq!(second.id, first.id);
        assert_eq!((second.attempts, second.claims), (2, 2));
        // The first worker comes back: its heartbeat and its result are refused.
        let (seq, claim1) = (first.seq, first.claims);
        let beat = app
            .store
            .write(move |c| tasks::heartbeat(c, seq, claim1, 99_000))
            .await
            .unwrap();
        assert!(!beat, "fenced heartbeat");
        assert!(!finish(&app, &first, Outcome::Completed, 21_000).await);
        let (seq, claim2) = (second.seq, second.claims);
        let beat = app
            .store
            .write(move |c| tasks::heartbeat(c, seq, claim2, 99_000))
            .await
            .unwrap();
        assert!(beat);
        assert!(
            finish(
                &app,
                &second,
                Outcome::Failed {
                    reason: "code 3914: last admin".into(),
                    error: None
                },
                22_000
            )
            .await
        );
        let id = second.id.clone();
        let row = app
            .store
            .read(move |c| tasks::find(c, &id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, status::FAILED);
        assert_eq!(row.status_reason.as_deref(), Some("code 3914: last admin"));
    }
);

both!(
    a_retry_absorbs_the_run_queued_meanwhile_and_a_deferral_gives_its_attempt_back,
    |app| async move {
        let (hub, uid) = granted_user(&app, "ada@example.com").await;
        enqueue_user(&app, &uid).await;
        let running = claim(&app, 1_000, 30_000_000).await.remove(0);
        enqueue_user(&app, &uid).await;
        let retry = Outcome::Retry {
            run_after: 50_000,
            error: "transient".into(),
        };
        assert!(finish(&app, &running, retry, 2_000).await);
        let all = tasks_of(&app, &hub).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, status::PENDING);
        assert_eq!(all[1].status, status::CANCELLED);
        assert_eq!(
            all[1].status_reason.as_deref(),
            Some(format!("merged into task {}", running.id).as_str())
        );
        assert!(claim(&app, 10_000, 1_000).await.is_empty(), "not due yet");
        let again = claim(&app, 50_000, 30_000_000).await.remove(0);
        assert_eq!((again.attempts, again.claims), (2, 2));
        let defer = Outcome::Defer {
            run_after: 90_000,
            reason: "throttled by Meta".into(),
            settled: false,
        };
        assert!(finish(&app, &again, defer, 51_000).await);
        let third = claim(&app, 90_000, 30_000_000).await.remove(0);
        assert_eq!(
            (third.attempts, third.claims),
            (2, 3),
            "the deferred attempt was given back; claims only grow"
        );
        assert!(third.may_have_acted(), "an unsettled deferral: read first");
    }
);

both!(
    only_a_settled_deferral_spares_the_next_attempt_a_read,
    |app| async move {
        let (_, uid) = granted_user(&app, "ada@example.com").await;
        enqueue_user(&app, &uid).await;
        let first = claim(&app, 1_000, 30_000_000).await.remove(0);
        assert!(
            !first.may_have_acted(),
            "a first attempt has nothing before it"
        );
        let refused = Outcome::Defer {
            run_after: 2_000,
            reason: "throttled by Meta".into(),
            settled: true,
        };
        assert!(finish(&app, &first, refused, 1_500).await);
        let second = claim(&app, 2_000, 1_000).await.remove(0);
        assert_eq!(second.claims, 2);
        assert!(
            !second.may_have_acted(),
            "the attempt before ended knowing everything"
        );
        // That attempt dies mid-call: its lease runs out and the work is taken over.
        let third = claim(&app, 4_000, 30_000_000).await.remove(0);
        assert_eq!((third.seq, third.claims), (second.seq, 3));
        assert!(third.may_have_acted(), "a lost lease: read first");
        let retry = Outcome::Retry {
            run_after: 5_000,
            error: "timed out".into(),
        };
        assert!(finish(&app, &third, retry, 4_500).await);
        let fourth = claim(&app, 5_000, 30_000_000).await.remove(0);
        assert!(fourth.may_have_acted(), "a timeout: read first");
    }
);

both!(a_paused_hub_s_work_waits, |app| async move {
    let (hub, uid) = granted_user(&app, "ada@example.com").await;
    enqueue_user(&app, &uid).await;
    let seq = hub.seq;
    app.store
        .write(move |c| {
            hubs::set_status(
                c,
                seq,
                hubs::status::NEEDS_REAUTH,
                Some("token revoked"),
                now_micros(),
            )
        })
        .await
        .unwrap();
    assert!(claim(&app, 1_000, 1_000).await.is_empty());
    app.store
        .write(move |c| hubs::set_status(c, seq, hubs::status::ACTIVE, None, now_micros()))
        .await
        .unwrap();
    assert_eq!(claim(&app, 1_000, 1_000).await.len(), 1);
});

both!(concurrent_claims_never_share_a_task, |app| async move {
    let hub = hub(&app, "5550001").await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let u = app.create_user(&format!("u{i}@example.com")).await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let group = app.create_group("All", &refs).await;
    let gseq = group_seq(&app, group["id"].as_str().unwrap()).await;
    grant_group(&app, &hub, gseq).await;
    let queued = app
        .store
        .write(move |c| tasks::enqueue_for_group(c, gseq, E))
        .await
        .unwrap();
    assert_eq!(queued, 40);
    let mut claimers = Vec::new();
    for _ in 0..8 {
        let store = app.store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .write(|c| tasks::claim(c, 1_000, 1_000_000, 3))
                    .await
                    .map_err(|e: StoreError| e)
                    .unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|t| t.id));
            }
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let unique: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 40, "every task claimed");
    assert_eq!(unique.len(), 40, "none claimed twice");
});

/// Completes every due task; returns the users they were for, sorted.
async fn drain(app: &TestApp) -> Vec<String> {
    let mut users = Vec::new();
    loop {
        let got = claim(app, now_micros(), 30_000_000).await;
        if got.is_empty() {
            break;
        }
        for t in got {
            assert!(finish(app, &t, Outcome::Completed, now_micros()).await);
            users.push(t.user_id.clone().unwrap_or_default());
        }
    }
    users.sort();
    users
}

both!(
    scim_changes_queue_reconciles_in_their_own_transaction,
    |app| async move {
        let hub = hub(&app, "5550001").await;
        let ada = app.create_user("ada@example.com").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let bob = app.create_user("bob@example.com").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let group = app.create_group("Marketing", &[]).await;
        let gid = group["id"].as_str().unwrap().to_string();
        grant_group(&app, &hub, group_seq(&app, &gid).await).await;
        assert!(drain(&app).await.is_empty(), "creates queue nothing");

        let add = |who: &str| json!([{"op": "add", "path": "members", "value": [{"value": who}]}]);
        assert_eq!(
            app.patch(&format!("/Groups/{gid}"), add(&ada))
                .await
                .status(),
            204
        );
        assert_eq!(
            drain(&app).await,
            vec![ada.clone()],
            "joined a granted group"
        );

        // A change that does not matter to Meta queues nothing; deactivation does.
        let title = json!([{"op": "replace", "path": "title", "value": "CTO"}]);
        assert_eq!(
            app.patch(&format!("/Users/{ada}"), title).await.status(),
            200
        );
        assert!(drain(&app).await.is_empty());
        let off = json!([{"op": "replace", "path": "active", "value": false}]);
        assert_eq!(app.patch(&format!("/Users/{ada}"), off).await.status(), 200);
        assert_eq!(drain(&app).await, vec![ada.clone()], "deactivated");

        // A refused write queues nothing.
        let r = app
            .client
            .patch(app.url(&format!("/Groups/{gid}")))
            .bearer_auth(&app.token)
            .header("If-Match", "W/\"999\"")
            .header("Content-Type", "application/scim+json")
            .body(json!({"schemas": [PATCH_SCHEMA], "Operations": add(&bob)}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 412);
        assert!(drain(&app).await.is_empty());

        // Leaving the group; a whole-list PUT; the group deleted; the user deleted.
        let remove = json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]);
        assert_eq!(
            app.patch(&format!("/Groups/{gid}"), remove).await.status(),
            204
        );
        assert_eq!(drain(&app).await, vec![ada.clone()], "left the group");
        let put = json!({"schemas": [GROUP_SCHEMA], "displayName": "Marketing",
                         "members": [{"value": ada}, {"value": bob}]});
        assert_eq!(app.put(&format!("/Groups/{gid}"), put).await.status(), 200);
        let mut both_users = vec![ada.clone(), bob.clone()];
        both_users.sort();
        assert_eq!(drain(&app).await, both_users, "joined by PUT");
        assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status(), 204);
        assert_eq!(drain(&app).await, both_users, "group deleted");
        let seq = hub.seq;
        let grants = app
            .store
            .read(move |c| hubs::grants_of(c, seq))
            .await
            .unwrap();
        assert!(grants.is_empty(), "the group's grants went with it");
    }
);

both!(
    deleting_a_granted_user_queues_its_reconcile,
    |app| async move {
        let (hub, uid) = granted_user(&app, "ada@example.com").await;
        let assert_queued = |expected: usize| {
            let app = &app;
            let seq = hub.seq;
            async move {
                let waiting = app
                    .store
                    .read(move |c| tasks::for_hub(c, seq))
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|t| t.status == status::PENDING)
                    .count();
                assert_eq!(waiting, expected);
            }
        };
        assert_queued(0).await;
        assert_eq!(app.delete(&format!("/Users/{uid}")).await.status(), 204);
        assert_queued(1).await;
    }
);

both!(
    idle_workers_see_due_work_with_a_read_exactly_when_a_claim_would_find_it,
    |app| async move {
        let due = |now: i64| {
            let app = &app;
            async move {
                app.store
                    .read(move |c| tasks::any_due(c, now))
                    .await
                    .unwrap()
            }
        };
        let (hub, uid) = granted_user(&app, "ada@example.com").await;
        assert!(!due(1_000).await, "nothing queued");
        enqueue_user(&app, &uid).await;
        assert!(due(1_000).await, "a pending task");
        let seq = hub.seq;
        app.store
            .write(move |c| hubs::set_status(c, seq, hubs::status::NEEDS_REAUTH, None, 0))
            .await
            .unwrap();
        assert!(!due(1_000).await, "its hub is paused");
        app.store
            .write(move |c| hubs::set_status(c, seq, hubs::status::ACTIVE, None, 0))
            .await
            .unwrap();
        let claimed = claim(&app, 1_000, 1_000).await;
        assert_eq!(claimed.len(), 1);
        assert!(!due(1_500).await, "running under a live lease");
        assert!(due(2_500).await, "its lease ran out");
        let later = Outcome::Defer {
            run_after: 10_000,
            reason: "throttled".into(),
            settled: false,
        };
        assert!(finish(&app, &claimed[0], later, 1_500).await);
        assert!(!due(5_000).await, "deferred until later");
        assert!(due(10_000).await);
    }
);

both!(
    task_ids_are_opaque_hex_in_the_order_tasks_were_queued,
    |app| async move {
        let (hub, ada) = granted_user(&app, "ada@example.com").await;
        assert_eq!(enqueue_user(&app, &ada).await, 1);
        let first = claim(&app, 1_000, 30_000_000).await.remove(0);
        assert!(finish(&app, &first, Outcome::Completed, 2_000).await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        assert_eq!(enqueue_user(&app, &ada).await, 1);
        let all = tasks_of(&app, &hub).await;
        assert_eq!(all.len(), 2);
        for t in &all {
            assert!(
                t.id.len() == 32
                    && t.id
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{}",
                t.id
            );
        }
        // Time first: new ids land at the end of the id index.
        assert!(all[0].id < all[1].id, "{} then {}", all[0].id, all[1].id);
        assert_ne!(all[0].id[16..], all[1].id[16..], "a random tail");
    }
);

both!(
    the_task_list_by_user_has_its_pending_and_its_other_tasks_in_order,
    |app| async move {
        // On SQLite the two halves come through different indexes (pending tasks are not in
        // `tasks_by_user`); the list merges them in task order, and pages through both.
        let (hub, ada) = granted_user(&app, "ada@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        let bob = bob["id"].as_str().unwrap().to_string();
        assert_eq!(enqueue_user(&app, &ada).await, 1);
        let first = claim(&app, 1_000, 30_000_000).await;
        assert_eq!(first.len(), 1);
        assert!(finish(&app, &first[0], Outcome::Completed, 2_000).await);
        // A second run waits; bob's task (a removal) must not show up in ada's list.
        assert_eq!(enqueue_user(&app, &ada).await, 1);
        let (hub_seq, bob2) = (hub.seq, bob.clone());
        app.store
            .write(move |c| {
                tasks::enqueue_removal(c, hub_seq, "member-bob", Some(&bob2), "bob@example.com", E)
            })
            .await
            .unwrap();
        let list = |user: String, status: Option<&'static str>, after: i64, limit: i64| {
            let store = app.store.clone();
            async move {
                let f = tasks::TaskFilter {
                    user_id: Some(user),
                    status: status.map(str::to_string),
                    ..Default::default()
                };
                store
                    .read(move |c| tasks::list(c, &f, after, limit))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| (t.seq, t.status))
                    .collect::<Vec<_>>()
            }
        };
        let all = list(ada.clone(), None, 0, 50).await;
        assert_eq!(
            all.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            [status::COMPLETED, status::PENDING],
            "{all:?}"
        );
        assert!(all[0].0 < all[1].0);
        assert_eq!(list(ada.clone(), None, 0, 1).await, all[..1]);
        assert_eq!(list(ada.clone(), None, all[0].0, 50).await, all[1..]);
        assert_eq!(
            list(ada.clone(), Some(status::PENDING), 0, 50).await,
            all[1..]
        );
        assert_eq!(
            list(ada.clone(), Some(status::COMPLETED), 0, 50).await,
            all[..1]
        );
        let bobs = list(bob, None, 0, 50).await;
        assert_eq!(bobs.len(), 1, "{bobs:?}");
        assert_eq!(bobs[0].1, status::PENDING);
    }
);
