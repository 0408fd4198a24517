//! Who should have what, and what to call to get there. Pure functions, no I/O:
//! grants + directory state → effective access ([`effective`]); effective access + the
//! member as Meta shows it → the Graph calls that close the difference ([`plan`]).
//!
//! The engine's reconcile is level-triggered: it calls these with the state *now*, so a
//! change that arrives twice, or a retry, plans only what is still missing.

use std::collections::{BTreeMap, BTreeSet};

/// A business role hubbridge grants (the two documented base roles). `Admin` > `Employee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Employee,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Employee => "EMPLOYEE",
        }
    }

    /// `ADMIN` / `EMPLOYEE`; any other role Meta reports is opaque (`None`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ADMIN" => Some(Role::Admin),
            "EMPLOYEE" => Some(Role::Employee),
            _ => None,
        }
    }
}

/// A person's role on the hub in hubbridge (who may manage it). `Owner` > `Collaborator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HubRole {
    Collaborator,
    Owner,
}

impl HubRole {
    pub fn as_str(self) -> &'static str {
        match self {
            HubRole::Owner => "owner",
            HubRole::Collaborator => "collaborator",
        }
    }

    pub fn parse(s: &str) -> Option<HubRole> {
        match s {
            "owner" => Some(HubRole::Owner),
            "collaborator" => Some(HubRole::Collaborator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssetKind {
    Page,
    AdAccount,
    Catalog,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Page => "page",
            AssetKind::AdAccount => "ad_account",
            AssetKind::Catalog => "catalog",
        }
    }

    pub fn parse(s: &str) -> Option<AssetKind> {
        match s {
            "page" => Some(AssetKind::Page),
            "ad_account" => Some(AssetKind::AdAccount),
            "catalog" => Some(AssetKind::Catalog),
            _ => None,
        }
    }
}

/// Who a grant reaches: the members of a directory group, or one directory user (SCIM ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    Group(String),
    User(String),
}

/// Tasks on one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetGrant {
    pub asset_id: String,
    pub kind: AssetKind,
    pub tasks: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub grantee: Grantee,
    pub hub_role: HubRole,
    pub role: Role,
    pub assets: Vec<AssetGrant>,
}

/// A directory user as the grants see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub id: String,
    /// `active: false` (deactivated) means no access; unassigned counts as active.
    pub active: bool,
    /// SCIM ids of the groups the user is a direct member of.
    pub groups: Vec<String>,
}

/// What one person should have on a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    pub hub_role: HubRole,
    /// Asset id → (kind, tasks).
    pub assets: BTreeMap<String, (AssetKind, BTreeSet<String>)>,
    /// The grants that reach the user, in the order given.
    pub grant_ids: Vec<String>,
}

/// Effective access of `user` (None: deleted) under a hub's `grants`: the union of the
/// grants that reach the user while active — the highest role and hub role, the union of
/// the tasks per asset. No grant, inactive or deleted: `None`.
pub fn effective(grants: &[Grant], user: Option<&DirectoryUser>) -> Option<Access> {
    let user = user.filter(|u| u.active)?;
    let mut access: Option<Access> = None;
    for g in grants {
        let reaches = match &g.grantee {
            Grantee::User(id) => *id == user.id,
            Grantee::Group(id) => user.groups.contains(id),
        };
        if !reaches {
            continue;
        }
        let a = access.get_or_insert_with(|| Access {
            role: g.role,
            hub_role: g.hub_role,
            assets: BTreeMap::new(),
            grant_ids: Vec::new(),
        });
        a.role = a.role.max(g.role);
        a.hub_role = a.hub_role.max(g.hub_role);
        a.grant_ids.push(g.id.clone());
        for asset in &g.assets {
            a.assets
                .entry(asset.asset_id.clone())
                .or_insert_with(|| (asset.kind, BTreeSet::new()))
                .1
                .extend(asset.tasks.iter().cloned());
        }
    }
    access
}

/// A person's seat in the business, as last seen or set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seat {
    /// Not in the business (never invited, removed, invitation cancelled or expired).
    Absent,
    /// Invited, not yet accepted. `role`: `None` when Meta shows a role we do not grant.
    Invited {
        invitation_id: String,
        role: Option<Role>,
    },
    Active {
        business_user_id: String,
        role: Option<Role>,
    },
}

/// A member as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub seat: Seat,
    /// Asset id → (kind, tasks) held, as last seen or set (active people only).
    pub assets: BTreeMap<String, (AssetKind, BTreeSet<String>)>,
    /// An admin exempted this member: automation never touches it.
    pub exempted: bool,
}

impl MemberView {
    pub fn absent() -> Self {
        MemberView {
            seat: Seat::Absent,
            assets: BTreeMap::new(),
            exempted: false,
        }
    }
}

/// One Graph call of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `POST /{business}/business_users` with the role.
    Invite { role: Role },
    /// `POST /{invitation}` role.
    SetInvitationRole { invitation_id: String, role: Role },
    /// `POST /{business-user}` role.
    SetRole {
        business_user_id: String,
        role: Role,
    },
    /// `POST /{asset}/assigned_users`: the complete task set.
    Assign {
        business_user_id: String,
        asset_id: String,
        kind: AssetKind,
        tasks: BTreeSet<String>,
    },
    /// `DELETE /{asset}/assigned_users`.
    Unassign {
        business_user_id: String,
        asset_id: String,
        kind: AssetKind,
    },
    /// `DELETE /{business-user}`.
    Remove { business_user_id: String },
    /// `DELETE /{invitation}`.
    CancelInvitation { invitation_id: String },
}

impl Call {
    /// Does this call take a person's seat away (what the safeguard counts)?
    pub fn is_removal(&self) -> bool {
        matches!(self, Call::Remove { .. } | Call::CancelInvitation { .. })
    }

    /// The asset a call is about (its own rate-limit bucket at Meta), if any.
    pub fn asset_id(&self) -> Option<&str> {
        match self {
            Call::Assign { asset_id, .. } | Call::Unassign { asset_id, .. } => Some(asset_id),
            _ => None,
        }
    }
}

/// The calls that bring `member` to `target` (None: no access). Asset tasks are given only
/// to active people: an invited person's tasks are planned once the sync sees the
/// invitation accepted. An exempted member gets an empty plan.
pub fn plan(target: Option<&Access>, member: &MemberView) -> Vec<Call> {
    if member.exempted {
        return Vec::new();
    }
    let Some(target) = target else {
        return match &member.seat {
            Seat::Absent => Vec::new(),
            Seat::Invited { invitation_id, .. } => vec![Call::CancelInvitation {
                invitation_id: invitation_id.clone(),
            }],
            Seat::Active {
                business_user_id, ..
            } => vec![Call::Remove {
                business_user_id: business_user_id.clone(),
            }],
        };
    };
    match &member.seat {
        Seat::Absent => vec![Call::Invite { role: target.role }],
        Seat::Invited {
            invitation_id,
            role,
        } => {
            if *role == Some(target.role) {
                Vec::new()
            } else {
                vec![Call::SetInvitationRole {
                    invitation_id: invitation_id.clone(),
                    role: target.role,
                }]
            }
        }
        Seat::Active {
            business_user_id,
            role,
        } => {
            let mut calls = Vec::new();
            if *role != Some(target.role) {
                calls.push(Call::SetRole {
                    business_user_id: business_user_id.clone(),
                    role: target.role,
                });
            }
            for (asset_id, (kind, tasks)) in &target.assets {
                if member.assets.get(asset_id).map(|(_, t)| t) != Some(tasks) {
                    calls.push(Call::Assign {
                        business_user_id: business_user_id.clone(),
                        asset_id: asset_id.clone(),
                        kind: *kind,
                        tasks: tasks.clone(),
                    });
                }
            }
            for (asset_id, (kind, _)) in &member.assets {
                if !target.assets.contains_key(asset_id) {
                    calls.push(Call::Unassign {
                        business_user_id: business_user_id.clone(),
                        asset_id: asset_id.clone(),
                        kind: *kind,
                    });
                }
            }
            calls
        }
    }
}

/// The member after `call` succeeded. `new_id` gives the id Meta returned for an
/// invitation.
pub fn apply(member: &MemberView, call: &Call, new_id: impl FnOnce() -> String) -> MemberView {
    let mut m = member.clone();
    match call {
        Call::Invite { role } => {
            m.seat = Seat::Invited {
                invitation_id: new_id(),
                role: Some(*role),
            };
            m.assets.clear();
        }
        Call::SetInvitationRole { role, .. } => {
            if let Seat::Invited { role: r, .. } = &mut m.seat {
                *r = Some(*role);
            }
        }
        Call::SetRole { role, .. } => {
            if let Seat::Active { role: r, .. } = &mut m.seat {
                *r = Some(*role);
            }
        }
        Call::Assign {
            asset_id,
            kind,
            tasks,
            ..
        } => {
            m.assets.insert(asset_id.clone(), (*kind, tasks.clone()));
        }
        Call::Unassign { asset_id, .. } => {
            m.assets.remove(asset_id);
        }
        Call::Remove { .. } | Call::CancelInvitation { .. } => {
            m.seat = Seat::Absent;
            m.assets.clear();
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ASSETS: [(&str, AssetKind); 4] = [
        ("p1", AssetKind::Page),
        ("p2", AssetKind::Page),
        ("act_1", AssetKind::AdAccount),
        ("c1", AssetKind::Catalog),
    ];
    const TASKS: [&str; 3] = ["MANAGE", "ADVERTISE", "ANALYZE"];

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Employee), Just(Role::Admin)]
    }

    fn tasks() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::sample::subsequence(TASKS.to_vec(), 1..=3)
            .prop_map(|t| t.into_iter().map(String::from).collect())
    }

    fn assets() -> impl Strategy<Value = BTreeMap<String, (AssetKind, BTreeSet<String>)>> {
        proptest::collection::vec((0..ASSETS.len(), tasks()), 0..4).prop_map(|v| {
            v.into_iter()
                .map(|(i, t)| (ASSETS[i].0.to_string(), (ASSETS[i].1, t)))
                .collect()
        })
    }

    fn grant() -> impl Strategy<Value = Grant> {
        (
            0..6usize,
            any::<bool>(),
            role(),
            assets(),
            proptest::string::string_regex("g[a-z]{4}").unwrap(),
        )
            .prop_map(|(who, owner, role, assets, id)| Grant {
                id,
                grantee: if who < 4 {
                    Grantee::Group(format!("g{who}"))
                } else {
                    Grantee::User(format!("u{}", who - 4))
                },
                hub_role: if owner {
                    HubRole::Owner
                } else {
                    HubRole::Collaborator
                },
                role,
                assets: assets
                    .into_iter()
                    .map(|(asset_id, (kind, tasks))| AssetGrant {
                        asset_id,
                        kind,
                        tasks,
                    })
                    .collect(),
            })
    }

    fn user() -> impl Strategy<Value = Option<DirectoryUser>> {
        proptest::option::of(
            (
                any::<bool>(),
                proptest::sample::subsequence(vec!["g0", "g1", "g2", "g3"], 0..=4),
            )
                .prop_map(|(active, groups)| DirectoryUser {
                    id: "u0".into(),
                    active,
                    groups: groups.into_iter().map(String::from).collect(),
                }),
        )
    }

    fn member() -> impl Strategy<Value = MemberView> {
        let seat = prop_oneof![
            Just(Seat::Absent),
            proptest::option::of(role()).prop_map(|role| Seat::Invited {
                invitation_id: "inv-1".into(),
                role,
            }),
            proptest::option::of(role()).prop_map(|role| Seat::Active {
                business_user_id: "bu-1".into(),
                role,
            }),
        ];
        (seat, assets(), any::<bool>()).prop_map(|(seat, assets, exempted)| MemberView {
            assets: if matches!(seat, Seat::Active { .. }) {
                assets
            } else {
                BTreeMap::new()
            },
            seat,
            exempted,
        })
    }

    fn run(member: &MemberView, calls: &[Call]) -> MemberView {
        calls
            .iter()
            .fold(member.clone(), |m, c| apply(&m, c, || "inv-new".into()))
    }

    proptest! {
        #[test]
        fn the_plan_applied_reaches_the_effective_access_and_planning_again_gives_nothing(
            grants in proptest::collection::vec(grant(), 0..5),
            user in user(),
            member in member(),
        ) {
            let target = effective(&grants, user.as_ref());
            let calls = plan(target.as_ref(), &member);
            let after = run(&member, &calls);
            prop_assert_eq!(plan(target.as_ref(), &after), vec![], "idempotent");
            if member.exempted {
                prop_assert!(calls.is_empty());
                prop_assert_eq!(&after, &member);
                return Ok(());
            }
            match (&target, &after.seat) {
                (None, seat) => prop_assert_eq!(seat, &Seat::Absent),
                (Some(t), Seat::Invited { role, .. }) => {
                    prop_assert_eq!(*role, Some(t.role));
                    prop_assert!(after.assets.is_empty(), "no tasks before acceptance");
                }
                (Some(t), Seat::Active { role, .. }) => {
                    prop_assert_eq!(*role, Some(t.role));
                    prop_assert_eq!(&after.assets, &t.assets);
                }
                (Some(_), Seat::Absent) => prop_assert!(false, "granted but absent"),
            }
            // Removals only when no access is due; never more than one seat change.
            let removals = calls.iter().filter(|c| c.is_removal()).count();
            prop_assert!(removals <= 1);
            if removals == 1 {
                prop_assert!(target.is_none());
            }
        }

        #[test]
        fn highest_role_wins_and_asset_tasks_are_the_union(
            grants in proptest::collection::vec(grant(), 0..5),
            user in user(),
        ) {
            let access = effective(&grants, user.as_ref());
            let reaching: Vec<&Grant> = match user.as_ref().filter(|u| u.active) {
                None => vec![],
                Some(u) => grants
                    .iter()
                    .filter(|g| match &g.grantee {
                        Grantee::User(id) => *id == u.id,
                        Grantee::Group(id) => u.groups.contains(id),
                    })
                    .collect(),
            };
            let Some(access) = access else {
                prop_assert!(reaching.is_empty());
                return Ok(());
            };
            prop_assert_eq!(Some(access.role), reaching.iter().map(|g| g.role).max());
            prop_assert_eq!(Some(access.hub_role), reaching.iter().map(|g| g.hub_role).max());
            for g in &reaching {
                for a in &g.assets {
                    prop_assert!(access.assets[&a.asset_id].1.is_superset(&a.tasks));
                }
            }
            for (asset, (_, tasks)) in &access.assets {
                for t in tasks {
                    prop_assert!(reaching.iter().any(|g| g
                        .assets
                        .iter()
                        .any(|a| &a.asset_id == asset && a.tasks.contains(t))));
                }
            }
        }
    }

    #[test]
    fn an_invited_person_gets_asset_tasks_only_once_active() {
        let grants = vec![Grant {
            id: "g".into(),
            grantee: Grantee::User("u0".into()),
            hub_role: HubRole::Collaborator,
            role: Role::Employee,
            assets: vec![AssetGrant {
                asset_id: "p1".into(),
                kind: AssetKind::Page,
                tasks: ["ANALYZE".to_string()].into(),
            }],
        }];
        let user = DirectoryUser {
            id: "u0".into(),
            active: true,
            groups: vec![],
        };
        let target = effective(&grants, Some(&user));
        let calls = plan(target.as_ref(), &MemberView::absent());
        assert_eq!(
            calls,
            vec![Call::Invite {
                role: Role::Employee
            }]
        );
        let accepted = MemberView {
            seat: Seat::Active {
                business_user_id: "bu".into(),
                role: Some(Role::Employee),
            },
            assets: BTreeMap::new(),
            exempted: false,
        };
        assert_eq!(
            plan(target.as_ref(), &accepted),
            vec![Call::Assign {
                business_user_id: "bu".into(),
                asset_id: "p1".into(),
                kind: AssetKind::Page,
                tasks: ["ANALYZE".to_string()].into(),
            }]
        );
        // Deactivated: the seat goes.
        let inactive = DirectoryUser {
            active: false,
            ..user
        };
        assert_eq!(
            plan(effective(&grants, Some(&inactive)).as_ref(), &accepted),
            vec![Call::Remove {
                business_user_id: "bu".into()
            }]
        );
    }
}
