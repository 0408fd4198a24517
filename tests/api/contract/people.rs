//! People in a business: lists with paging, invitations, role changes, removal, partners'
//! people (reference 2, 4, 6.3).

use std::collections::HashSet;

use hubbridge::meta::{AccessToken, AppSecret, BusinessRole, ErrorClass, Invite};
use hubbridge::sandbox::{demo_ids, SandboxConfig, Seed};
use serde_json::json;

use crate::contract::helpers::{spawn, spawn_with};

fn invite(email: &str) -> Invite {
    Invite {
        email: email.into(),
        role: BusinessRole::Employee,
        tasks: Vec::new(),
    }
}

#[tokio::test]
async fn business_users_are_read_across_four_pages_to_the_end() {
    // 36 people, 10 per page: four pages, the last one short.
    let env = spawn_with(SandboxConfig::default(), Seed::demo(), |c| c.page_size = 10).await;

    let users = env
        .graph
        .business_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("list");

    assert_eq!(users.len(), demo_ids::PEOPLE);
    let ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), demo_ids::PEOPLE, "no person twice");
    let admins = users
        .iter()
        .filter(|u| u.role.as_deref() == Some("ADMIN"))
        .count();
    assert_eq!(admins, 4);
    assert!(users
        .iter()
        .all(|u| u.email.as_deref().is_some_and(|e| e.contains('@'))));
    assert_eq!(
        env.sandbox.stats().await["graph_calls"],
        4,
        "exactly one call per page"
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn pending_invitations_and_system_users_are_listed() {
    let env = spawn().await;
    let hub = env.hub();

    let pending = env
        .graph
        .pending_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("pending");
    let by_email = env
        .graph
        .pending_users_by_email(
            &hub,
            demo_ids::BUSINESS_ID,
            &demo_ids::PENDING_INVITATION_EMAIL.to_uppercase(),
        )
        .await
        .expect("by email");
    let none = env
        .graph
        .pending_users_by_email(&hub, demo_ids::BUSINESS_ID, "nobody@acme.example")
        .await
        .expect("empty list");
    let system = env
        .graph
        .system_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("system users");

    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, demo_ids::PENDING_INVITATION_ID);
    assert_eq!(pending[0].status.as_deref(), Some("PENDING"));
    assert_eq!(by_email.len(), 1);
    assert!(none.is_empty());
    assert_eq!(system.len(), 2);
    assert!(system
        .iter()
        .any(|s| s.id == demo_ids::HUB_SYSTEM_USER_ID && s.role.as_deref() == Some("ADMIN")));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn an_invitation_is_sent_once_and_becomes_a_person_when_accepted() {
    let env = spawn().await;
    let hub = env.hub();
    let email = "new.hire@acme.example";

    let id = env
        .graph
        .invite(&hub, demo_ids::BUSINESS_ID, &invite(email))
        .await
        .expect("invite");
    let again = env
        .graph
        .invite(&hub, demo_ids::BUSINESS_ID, &invite(email))
        .await
        .expect("re-invite");
    let found = env
        .graph
        .pending_users_by_email(&hub, demo_ids::BUSINESS_ID, email)
        .await
        .expect("locate");

    assert_eq!(
        again, id,
        "re-inviting a pending address returns the open invitation"
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].role.as_deref(), Some("EMPLOYEE"));
    let path = format!("/{}/business_users", demo_ids::BUSINESS_ID);
    assert_eq!(env.sandbox.calls("POST", &path).await, 2);
    assert_eq!(
        env.sandbox.state(demo_ids::BUSINESS_ID).await["business"]["invitations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    env.sandbox
        .post(&format!("/invitations/{id}/accept"), json!({}))
        .await;
    let users = env
        .graph
        .business_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("users");
    let pending = env
        .graph
        .pending_users_by_email(&hub, demo_ids::BUSINESS_ID, email)
        .await
        .expect("pending");

    assert!(users
        .iter()
        .any(|u| u.email.as_deref() == Some(email) && u.role.as_deref() == Some("EMPLOYEE")));
    assert!(pending.is_empty());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn inviting_an_existing_member_is_an_invalid_parameter() {
    let env = spawn().await;
    let users = env
        .graph
        .business_users(&env.hub(), demo_ids::BUSINESS_ID)
        .await
        .expect("users");
    let member = users[5].email.clone().expect("email");

    let err = env
        .graph
        .invite(&env.hub(), demo_ids::BUSINESS_ID, &invite(&member))
        .await
        .expect_err("already a member");

    assert_eq!(err.class(), ErrorClass::NotFoundOrInvalidParam);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn roles_change_for_people_and_invitations() {
    let env = spawn().await;
    let hub = env.hub();

    env.graph
        .set_business_user_role(&hub, "7010", BusinessRole::Admin, None)
        .await
        .expect("promote");
    let inv = env
        .graph
        .set_invitation_role(
            &hub,
            demo_ids::PENDING_INVITATION_ID,
            BusinessRole::Admin,
            Some(&["ADMIN".to_string()]),
        )
        .await
        .expect("invitation role");
    let invitation = env
        .graph
        .invitation(&hub, demo_ids::PENDING_INVITATION_ID)
        .await
        .expect("read");
    let users = env
        .graph
        .business_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("users");

    assert_eq!(inv, demo_ids::PENDING_INVITATION_ID);
    assert_eq!(invitation.role.as_deref(), Some("ADMIN"));
    assert_eq!(invitation.tasks, vec!["ADMIN".to_string()]);
    assert_eq!(
        users
            .iter()
            .find(|u| u.id == "7010")
            .and_then(|u| u.role.as_deref()),
        Some("ADMIN")
    );
    assert_eq!(env.sandbox.calls("POST", "/7010").await, 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn removing_a_person_twice_answers_unknown_object_the_second_time() {
    let env = spawn().await;
    let hub = env.hub();

    env.graph
        .remove_business_user(&hub, "7020")
        .await
        .expect("remove");
    let again = env
        .graph
        .remove_business_user(&hub, "7020")
        .await
        .expect_err("already gone");
    let users = env
        .graph
        .business_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("users");

    assert!(again.is_unknown_object(), "{again:?}");
    assert_eq!(again.class(), ErrorClass::NotFoundOrInvalidParam);
    assert_eq!(users.len(), demo_ids::PEOPLE - 1);
    assert!(users.iter().all(|u| u.id != "7020"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn an_invitation_can_be_cancelled() {
    let env = spawn().await;
    let hub = env.hub();

    env.graph
        .cancel_invitation(&hub, demo_ids::PENDING_INVITATION_ID)
        .await
        .expect("cancel");
    let pending = env
        .graph
        .pending_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("pending");

    assert!(pending.is_empty());
    assert_eq!(
        env.sandbox
            .calls("DELETE", &format!("/{}", demo_ids::PENDING_INVITATION_ID))
            .await,
        1
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_removed() {
    let env = spawn().await;
    let hub = env.hub();
    for id in ["7002", "7003", "7004"] {
        env.graph
            .remove_business_user(&hub, id)
            .await
            .expect("remove other admins");
    }

    let demote = env
        .graph
        .set_business_user_role(&hub, demo_ids::FIRST_ADMIN_ID, BusinessRole::Employee, None)
        .await
        .expect_err("last admin");
    let remove = env
        .graph
        .remove_business_user(&hub, demo_ids::FIRST_ADMIN_ID)
        .await
        .expect_err("last admin");

    assert_eq!(demote.class(), ErrorClass::LastAdmin);
    assert_eq!(remove.class(), ErrorClass::LastAdmin);
    assert_eq!(remove.meta().map(|m| m.code), Some(3914));
    let users = env
        .graph
        .business_users(&hub, demo_ids::BUSINESS_ID)
        .await
        .expect("users");
    assert!(users
        .iter()
        .any(|u| u.id == demo_ids::FIRST_ADMIN_ID && u.role.as_deref() == Some("ADMIN")));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn a_partners_people_are_read_with_the_partners_own_token() {
    let env = spawn().await;
    let partner = env.graph.auth_with_secret(
        AccessToken::new(demo_ids::PARTNER_A_TOKEN),
        Some(&AppSecret::new(demo_ids::PARTNER_A_APP_SECRET)),
    );

    let people = env
        .graph
        .partner_people(&partner, demo_ids::PARTNER_A_ID)
        .await
        .expect("partner people");
    let with_hub_token = env
        .graph
        .business_users(&env.hub(), demo_ids::PARTNER_A_ID)
        .await
        .expect_err("the hub's token cannot read the partner's people");

    assert_eq!(people.business.name.as_deref(), Some("Partner Agency Ltd"));
    assert_eq!(people.users.len(), 5);
    assert!(people.users.iter().all(|u| u
        .email
        .as_deref()
        .is_some_and(|e| e.ends_with("@agency.example"))));
    assert!(people.invitations.is_empty());
    assert!(with_hub_token.is_unknown_object());
    env.sandbox.stop().await;
}
