//! `reconcile_member`: one directory user on one hub, level-triggered. It computes the
//! user's effective access now ([`access::effective`]), compares it with the member as last
//! seen, and makes only the Graph calls that close the difference ([`access::plan`]),
//! recording the member after each call. An attempt that may have acted before (a retry, a
//! lease taken over) first re-reads the person in Meta, so a call whose answer was lost is
//! not made twice. Meta's answers that mean "already so" count as success.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::Engine;
use crate::access::{self, AssetKind, Call, MemberView, Role, Seat};
use crate::meta::{
    AccessToken, AppSecret, AssetRef, BusinessRole, GraphAuth, GraphError, Invite, ThrottleScope,
};
use crate::service::hubs::sealed_for;
use crate::store::hubs::{self, HubRow};
use crate::store::members::{self, MemberRow};
use crate::store::tasks::{Outcome, TaskRow};
use crate::store::{now_micros, schema, sql::fold, users, StoreError};

/// Everything a reconcile reads before it acts.
struct State {
    hub: HubRow,
    grants: Vec<access::Grant>,
    user: Option<(access::DirectoryUser, String)>,
    member: Option<MemberRow>,
}

pub(super) async fn run(engine: &Engine, task: &TaskRow) -> Outcome {
    match reconcile(engine, task).await {
        Ok(()) => Outcome::Completed,
        Err(outcome) => outcome,
    }
}

pub(super) fn failed(reason: impl Into<String>) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        error: None,
    }
}

pub(super) fn store_outcome(engine: &Engine, task: &TaskRow, e: StoreError) -> Outcome {
    tracing::warn!(error = %e, "reconcile: database error");
    match engine.retry_at(task) {
        Some(run_after) => Outcome::Retry {
            run_after,
            error: json!({"class": "database", "message": e.to_string()}).to_string(),
        },
        None => failed(format!("database error: {e}")),
    }
}

async fn reconcile(engine: &Engine, task: &TaskRow) -> Result<(), Outcome> {
    let inner = &engine.inner;
    let user_id = task
        .user_id
        .clone()
        .ok_or_else(|| failed("a reconcile_member task without a user"))?;
    let (hub_seq, uid) = (task.hub_seq, user_id.clone());
    let state = inner
        .store
        .read(move |c| load(c, hub_seq, &uid))
        .await
        .map_err(|e| store_outcome(engine, task, e))?;
    let Some(state) = state else {
        return Err(failed("the hub no longer exists"));
    };
    let auth = hub_auth(engine, &state.hub)?;
    let email = match (&state.user, &state.member) {
        (Some((_, email)), _) => email.clone(),
        (None, Some(m)) => m.email.clone(),
        // Deleted before anything reached Meta: nothing to undo.
        (None, None) => return Ok(()),
    };
    let now = now_micros();
    let mut row = state.member.clone().unwrap_or_else(|| MemberRow {
        seq: 0,
        id: crate::crypto::new_id(),
        hub_seq: state.hub.seq,
        email: email.clone(),
        email_ci: fold(&email),
        name: None,
        business_user_id: None,
        invitation_id: None,
        meta_status: "removed".into(),
        business_role: None,
        assets: "{}".into(),
        state: "onboarded".into(),
        user_id: Some(user_id.clone()),
        hub_role: None,
        exemption_reason: None,
        exemption_by: None,
        exemption_at: None,
        partner_business_id: None,
        first_seen_at: now,
        last_seen_at: now,
        updated_at: now,
    });
    if row.state == "exempted" {
        return Ok(());
    }
    if row.user_id.is_none() {
        // A person already in Meta under this address: the directory user is matched to it.
        row.user_id = Some(user_id.clone());
        row.state = "onboarded".into();
    }
    let target = access::effective(&state.grants, state.user.as_ref().map(|(u, _)| u));
    row.hub_role = target.as_ref().map(|t| t.hub_role.as_str().to_string());
    let stored = state.member.clone();
    converge(
        engine,
        task,
        &state.hub,
        &auth,
        (&mut row, stored),
        target.as_ref(),
    )
    .await
}

/// `remove_member`: an owner asked for a member's seat and asset tasks to be revoked in
/// Meta. Refused when the member is exempted or a grant reaches its user now (the grant
/// decides); otherwise its plan towards no access is carried out like a reconcile's.
pub(super) async fn remove(engine: &Engine, task: &TaskRow) -> Outcome {
    match remove_member(engine, task).await {
        Ok(()) => Outcome::Completed,
        Err(outcome) => outcome,
    }
}

async fn remove_member(engine: &Engine, task: &TaskRow) -> Result<(), Outcome> {
    let member_id = task
        .member_id
        .clone()
        .ok_or_else(|| failed("a remove_member task without a member"))?;
    let hub_seq = task.hub_seq;
    let found = engine
        .inner
        .store
        .read(move |c| {
            let Some(hub) = hubs::find_by_seq(c, hub_seq)? else {
                return Ok(None);
            };
            let Some(member) = members::find(c, hub_seq, &member_id)? else {
                return Ok(Some((hub, None, None)));
            };
            let reached = match &member.user_id {
                Some(u) => granting(c, hub_seq, u)?,
                None => None,
            };
            Ok(Some((hub, Some(member), reached)))
        })
        .await
        .map_err(|e| store_outcome(engine, task, e))?;
    let Some((hub, member, reached)) = found else {
        return Err(failed("the hub no longer exists"));
    };
    let Some(mut row) = member else {
        return Err(failed("the member no longer exists"));
    };
    if row.state == "exempted" {
        return Err(failed(
            "the member was exempted since the removal was asked for",
        ));
    }
    if let Some(grant) = reached {
        return Err(failed(format!(
            "grant {grant} reaches this member's user now: change the grant or the group"
        )));
    }
    let auth = hub_auth(engine, &hub)?;
    let stored = Some(row.clone());
    converge(engine, task, &hub, &auth, (&mut row, stored), None).await
}

/// A grant of the hub that gives `user_id` access now (the first), if one does.
pub fn granting(
    c: &mut crate::store::AnyConnection,
    hub_seq: i64,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(load(c, hub_seq, user_id)?.and_then(|s| {
        let user = s.user.as_ref().map(|(u, _)| u);
        access::effective(&s.grants, user)?
            .grant_ids
            .first()
            .cloned()
    }))
}

/// Brings the member to `target` in Meta: reads the person again first when this attempt
/// may have acted before (`claims > 1`), then plans, acts, and plans again when Meta said
/// something unexpected ("already so", or the person changed meanwhile), at most three
/// rounds, saving the member after every call. Removals pass the safeguard unless the task
/// is approved.
/// `member`: the row to bring in line, and the row as the store holds it (none yet: a new
/// member), so that a save changing nothing is skipped.
async fn converge(
    engine: &Engine,
    task: &TaskRow,
    hub: &HubRow,
    auth: &GraphAuth,
    member: (&mut MemberRow, Option<MemberRow>),
    target: Option<&access::Access>,
) -> Result<(), Outcome> {
    let (row, stored) = member;
    let mut saved = Saved { row: stored };
    if task.may_have_acted() {
        if let Err(e) = refresh(engine, auth, hub, row).await {
            return Err(outcome_for(engine, task, hub, e).await);
        }
    }
    // From here every call's outcome is known and recorded until one fails in a way that
    // leaves it unknown (a timeout, a 5xx): a deferral after a refusal is `settled`.
    let settle = |o: Outcome| match o {
        Outcome::Defer {
            run_after, reason, ..
        } => Outcome::Defer {
            run_after,
            reason,
            settled: true,
        },
        other => other,
    };
    // Plan, act, and plan again when Meta said something we did not expect ("already
    // so", or the person changed meanwhile): at most three rounds.
    for _round in 0..3 {
        let view = view_of(row);
        let calls = access::plan(target, &view);
        if calls.is_empty() {
            saved.save(engine, task, row, None).await?;
            return Ok(());
        }
        if calls.iter().any(Call::is_removal) && !task.approved {
            if let Some(reason) = safeguard(engine, task, hub).await? {
                saved.save(engine, task, row, None).await?;
                return Err(Outcome::Held { reason });
            }
        }
        let mut replan = false;
        // Meta throttles Pages and ad accounts one by one: a throttled asset's calls wait
        // (the task is deferred after the rest went through); nothing else does.
        let mut held: Option<(BTreeSet<String>, GraphError)> = None;
        for call in calls {
            if let (Some(asset), Some((objects, _))) = (call.asset_id(), &held) {
                if objects.contains(bare(asset)) {
                    continue;
                }
            }
            match perform(engine, auth, hub, row, &call).await {
                Ok(new_id) => {
                    let after = access::apply(&view_of(row), &call, || new_id);
                    set_view(row, &after);
                    // The call's record and what it changed, in one write.
                    let logged = describe_call(task, hub, &call, row, "ok");
                    saved.save(engine, task, row, Some(logged)).await?;
                }
                Err(e) => {
                    record(
                        engine,
                        describe_call(task, hub, &call, row, &format!("error: {e}")),
                    )
                    .await;
                    if matches!(e, GraphError::NotFoundOrInvalidParam { .. }) {
                        // "Does not exist" or "already a member": the lists decide.
                        if let Err(e) = refresh(engine, auth, hub, row).await {
                            return Err(outcome_for(engine, task, hub, e).await);
                        }
                        replan = true;
                        break;
                    }
                    if let Some(object) = throttled_asset(&call, &e) {
                        held.get_or_insert_with(|| (BTreeSet::new(), e))
                            .0
                            .insert(object);
                        continue;
                    }
                    saved.save(engine, task, row, None).await?;
                    return Err(settle(outcome_for(engine, task, hub, e).await));
                }
            }
        }
        if let Some((_, e)) = held {
            saved.save(engine, task, row, None).await?;
            return Err(settle(outcome_for(engine, task, hub, e).await));
        }
        // Everything planned went through (the next round confirms nothing is left), or
        // Meta disagreed and the member was read again (the next round plans from that).
        let _ = replan;
    }
    saved.save(engine, task, row, None).await?;
    Err(failed(
        "Meta's answers kept disagreeing with what its lists show; see the task's calls",
    ))
}

/// The safeguard: a removal is held when, with it, the removals made or held on the hub
/// within its window would exceed its threshold: `safeguard_percent` of the hub's members
/// before those removals (those with a seat now plus those removed in the window; one
/// removal per window always passes), and at most `safeguard_max_removals` when set. So a
/// mass removal is caught whether it comes as one group delete or as many single
/// deactivations. Returns why when it holds.
async fn safeguard(
    engine: &Engine,
    task: &TaskRow,
    hub: &HubRow,
) -> Result<Option<String>, Outcome> {
    let (hub_seq, seq) = (hub.seq, task.seq);
    let window = i64::from(hub.safeguard_window_minutes) * 60_000_000;
    let since = now_micros() - window;
    let ((made, held), seated) = engine
        .inner
        .store
        .read(move |c| {
            Ok((
                crate::store::tasks::removals_since(c, hub_seq, since, seq)?,
                members::seated(c, hub_seq)?,
            ))
        })
        .await
        .map_err(|e| store_outcome(engine, task, e))?;
    let members = seated + made;
    let removals = made + held;
    let by_percent = (members * i64::from(hub.safeguard_percent) / 100).max(1);
    let limit = match hub.safeguard_max_removals {
        Some(max) => by_percent.min(i64::from(max)),
        None => by_percent,
    };
    if removals < limit {
        return Ok(None);
    }
    Ok(Some(format!(
        "held by the safeguard: {removals} removal(s) in the last {} minutes already; the limit \
         is {limit} ({}% of {members} members{}). An owner approves or cancels it.",
        hub.safeguard_window_minutes,
        hub.safeguard_percent,
        hub.safeguard_max_removals
            .map(|m| format!(", at most {m}"))
            .unwrap_or_default()
    )))
}

fn load(
    c: &mut crate::store::AnyConnection,
    hub_seq: i64,
    user_id: &str,
) -> Result<Option<State>, StoreError> {
    let Some(hub) = hubs::find_by_seq(c, hub_seq)? else {
        return Ok(None);
    };
    let grants = hubs::grants_of(c, hub_seq)?
        .into_iter()
        .filter_map(|(g, group_id, user_id)| grant_of(&g, group_id, user_id))
        .collect();
    let user = match users::find_with_groups(c, user_id, false)? {
        None => None,
        Some((row, groups)) => {
            let doc: serde_json::Map<String, Value> =
                serde_json::from_str(&row.attrs).unwrap_or_default();
            let (cols, values) = crate::service::directory::user_columns(&doc);
            let email = invitation_email(&cols.user_name, &values);
            Some((
                access::DirectoryUser {
                    id: row.id,
                    active: cols.active,
                    groups: groups.into_iter().map(|(id, _)| id).collect(),
                },
                email,
            ))
        }
    };
    let member = match members::for_user(c, hub_seq, user_id)? {
        Some(m) => Some(m),
        None => match &user {
            Some((_, email)) => members::by_email(c, hub_seq, &fold(email))?,
            None => None,
        },
    };
    Ok(Some(State {
        hub,
        grants,
        user,
        member,
    }))
}

/// A change to a hub's grants whose effect [`preview`] shows.
#[derive(Debug, Clone)]
pub enum GrantEdit {
    /// A grant that does not exist yet.
    Add(access::Grant),
    /// An existing grant (same id) as it would be after a change.
    Replace(access::Grant),
    /// An existing grant, deleted.
    Remove(String),
}

impl GrantEdit {
    fn apply(&self, grants: &mut Vec<access::Grant>) {
        match self {
            GrantEdit::Add(g) => grants.push(g.clone()),
            GrantEdit::Replace(g) => {
                for x in grants.iter_mut().filter(|x| x.id == g.id) {
                    *x = g.clone();
                }
            }
            GrantEdit::Remove(id) => grants.retain(|x| &x.id != id),
        }
    }
}

/// What a reconcile of one directory user would do if the hub's grants were edited so.
#[derive(Debug, Clone)]
pub struct Preview {
    pub email: String,
    pub member_id: Option<String>,
    pub calls: Vec<Call>,
    /// Each call as the task log would show it (method, path and parameters).
    pub requests: Vec<String>,
}

/// The calls that would bring `user_id` from the member as last seen to the access the
/// edited grants give (an exempted member: none). Reads only. None: no such user or hub.
pub fn preview(
    c: &mut crate::store::AnyConnection,
    hub_seq: i64,
    user_id: &str,
    edit: &GrantEdit,
) -> Result<Option<Preview>, StoreError> {
    let Some(mut state) = load(c, hub_seq, user_id)? else {
        return Ok(None);
    };
    let Some((user, email)) = &state.user else {
        return Ok(None);
    };
    edit.apply(&mut state.grants);
    let target = access::effective(&state.grants, Some(user));
    let view = state
        .member
        .as_ref()
        .map_or_else(MemberView::absent, view_of);
    let calls = access::plan(target.as_ref(), &view);
    let email = state.member.as_ref().map_or(email, |m| &m.email).clone();
    let requests = calls
        .iter()
        .map(|call| describe(call, &state.hub.business_id, &email).0)
        .collect();
    Ok(Some(Preview {
        email,
        member_id: state.member.as_ref().map(|m| m.id.clone()),
        calls,
        requests,
    }))
}

/// Where an invitation goes: the primary email, else the first work email, else the
/// first email, else the userName.
fn invitation_email(user_name: &str, values: &[users::ValueRow]) -> String {
    let emails: Vec<&users::ValueRow> = values.iter().filter(|v| v.attr == "emails").collect();
    emails
        .iter()
        .find(|v| v.is_primary)
        .or_else(|| emails.iter().find(|v| v.type_.as_deref() == Some("work")))
        .or_else(|| emails.first())
        .and_then(|v| v.value.clone())
        .unwrap_or_else(|| user_name.to_string())
}

/// A stored grant as `access` reads it (None: a grant without a grantee, or a role this
/// version does not know).
pub fn grant_of(
    g: &hubs::GrantRow,
    group_id: Option<String>,
    user_id: Option<String>,
) -> Option<access::Grant> {
    let grantee = match (group_id, user_id) {
        (Some(g), _) => access::Grantee::Group(g),
        (None, Some(u)) => access::Grantee::User(u),
        (None, None) => return None,
    };
    let assets: Vec<Value> = serde_json::from_str(&g.assets).unwrap_or_default();
    Some(access::Grant {
        id: g.id.clone(),
        grantee,
        hub_role: access::HubRole::parse(&g.hub_role)?,
        role: Role::parse(&g.business_role)?,
        assets: assets
            .iter()
            .filter_map(|a| {
                Some(access::AssetGrant {
                    asset_id: a.get("asset_id")?.as_str()?.to_string(),
                    kind: AssetKind::parse(a.get("kind")?.as_str()?)?,
                    tasks: a
                        .get("tasks")?
                        .as_array()?
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect(),
                })
            })
            .collect(),
    })
}

pub(super) fn hub_auth(engine: &Engine, hub: &HubRow) -> Result<GraphAuth, Outcome> {
    let secrets = engine.inner.secrets.as_ref().ok_or_else(|| {
        failed("crypto.key (or crypto.key_file) is not set: the hub's token cannot be opened")
    })?;
    let token = secrets
        .open(&sealed_for(&hub.id, "access_token"), &hub.access_token)
        .map_err(|e| failed(e.to_string()))?;
    let app_secret = match &hub.app_secret {
        None => None,
        Some(sealed) => Some(AppSecret::new(
            secrets
                .open(&sealed_for(&hub.id, "app_secret"), sealed)
                .map_err(|e| failed(e.to_string()))?
                .expose(),
        )),
    };
    Ok(engine
        .inner
        .graph
        .auth_with_secret(AccessToken::new(token.expose()), app_secret.as_ref()))
}

fn view_of(row: &MemberRow) -> MemberView {
    let role = row.business_role.as_deref().and_then(Role::parse);
    let seat = match (
        row.meta_status.as_str(),
        &row.business_user_id,
        &row.invitation_id,
    ) {
        ("active", Some(id), _) => Seat::Active {
            business_user_id: id.clone(),
            role,
        },
        ("invited", _, Some(id)) => Seat::Invited {
            invitation_id: id.clone(),
            role,
        },
        _ => Seat::Absent,
    };
    let stored: BTreeMap<String, Value> = serde_json::from_str(&row.assets).unwrap_or_default();
    let assets = stored
        .into_iter()
        .filter_map(|(id, v)| {
            let kind = AssetKind::parse(v.get("kind")?.as_str()?)?;
            let tasks: BTreeSet<String> = v
                .get("tasks")?
                .as_array()?
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            Some((id, (kind, tasks)))
        })
        .collect();
    MemberView {
        seat,
        assets,
        exempted: row.state == "exempted",
    }
}

fn set_view(row: &mut MemberRow, view: &MemberView) {
    match &view.seat {
        Seat::Absent => {
            row.meta_status = "removed".into();
            row.business_user_id = None;
            row.invitation_id = None;
            row.business_role = None;
        }
        Seat::Invited {
            invitation_id,
            role,
        } => {
            row.meta_status = "invited".into();
            row.invitation_id = Some(invitation_id.clone());
            row.business_role = role.map(|r| r.as_str().to_string());
        }
        Seat::Active {
            business_user_id,
            role,
        } => {
            row.meta_status = "active".into();
            row.business_user_id = Some(business_user_id.clone());
            row.invitation_id = None;
            row.business_role = role.map(|r| r.as_str().to_string());
        }
    }
    let assets: serde_json::Map<String, Value> = view
        .assets
        .iter()
        .map(|(id, (kind, tasks))| (id.clone(), json!({"kind": kind.as_str(), "tasks": tasks})))
        .collect();
    row.assets = Value::Object(assets).to_string();
}

/// Stores the member (inserting it the first time: `row.seq` is then set).
/// The member row as the store last held it: a save that would change nothing (but the
/// time) is skipped, one that follows a Graph call writes the call's record with it.
struct Saved {
    row: Option<MemberRow>,
}

impl Saved {
    async fn save(
        &mut self,
        engine: &Engine,
        task: &TaskRow,
        row: &mut MemberRow,
        call: Option<CallRecord>,
    ) -> Result<(), Outcome> {
        let unchanged = self.row.as_ref().is_some_and(|s| {
            MemberRow {
                updated_at: s.updated_at,
                ..row.clone()
            } == *s
        });
        if unchanged && call.is_none() {
            return Ok(());
        }
        if !unchanged {
            row.updated_at = now_micros();
        }
        let stored = (!unchanged).then(|| row.clone());
        let saved = engine
            .inner
            .store
            .write(move |c| {
                if let Some(call) = call {
                    call.insert(c)?;
                }
                stored.map(|r| members::save(c, &r)).transpose()
            })
            .await
            .map_err(|e| store_outcome(engine, task, e))?;
        if let Some(saved) = saved {
            row.seq = saved.seq;
            self.row = Some(saved);
        }
        Ok(())
    }
}

/// Reads the person as Meta lists them now (active people, then invitations for the
/// address) into `row`. Asset tasks are kept as recorded while the seat is the same.
async fn refresh(
    engine: &Engine,
    auth: &GraphAuth,
    hub: &HubRow,
    row: &mut MemberRow,
) -> Result<(), GraphError> {
    let graph = &engine.inner.graph;
    let people = graph.business_users(auth, &hub.business_id).await?;
    let before = view_of(row);
    let mut view = before.clone();
    if let Some(p) = people
        .iter()
        .find(|p| p.email.as_deref().map(fold).as_deref() == Some(row.email_ci.as_str()))
    {
        let same = matches!(&before.seat, Seat::Active { business_user_id, .. } if *business_user_id == p.id);
        view.seat = Seat::Active {
            business_user_id: p.id.clone(),
            role: p.role.as_deref().and_then(Role::parse),
        };
        if !same {
            view.assets.clear();
        }
    } else {
        let invitations = graph
            .pending_users_by_email(auth, &hub.business_id, &row.email)
            .await?;
        view.assets.clear();
        view.seat = match invitations.first() {
            Some(i) => Seat::Invited {
                invitation_id: i.id.clone(),
                role: i.role.as_deref().and_then(Role::parse),
            },
            None => Seat::Absent,
        };
    }
    if let Some(p) = people
        .iter()
        .find(|p| Some(&p.id) == row.business_user_id.as_ref())
    {
        row.name = p.name.clone().or(row.name.take());
    }
    set_view(row, &view);
    row.last_seen_at = now_micros();
    Ok(())
}

async fn perform(
    engine: &Engine,
    auth: &GraphAuth,
    hub: &HubRow,
    row: &MemberRow,
    call: &Call,
) -> Result<String, GraphError> {
    let graph = &engine.inner.graph;
    let biz = hub.business_id.as_str();
    let role = |r: Role| match r {
        Role::Admin => BusinessRole::Admin,
        Role::Employee => BusinessRole::Employee,
    };
    let asset = |id: &str, kind: AssetKind| match kind {
        AssetKind::Page => AssetRef::Page(id.to_string()),
        AssetKind::AdAccount => AssetRef::AdAccount(id.to_string()),
        AssetKind::Catalog => AssetRef::Catalog(id.to_string()),
    };
    match call {
        Call::Invite { role: r } => {
            let invite = Invite {
                email: row.email.clone(),
                role: role(*r),
                tasks: vec![],
            };
            let returned = graph.invite(auth, biz, &invite).await?;
            // The returned id may not be the invitation's: look it up by address.
            let found = graph
                .pending_users_by_email(auth, biz, &row.email)
                .await
                .ok()
                .and_then(|list| list.into_iter().next().map(|i| i.id));
            Ok(found.unwrap_or(returned))
        }
        Call::SetInvitationRole {
            invitation_id,
            role: r,
        } => graph
            .set_invitation_role(auth, invitation_id, role(*r), None)
            .await
            .map(|_| String::new()),
        Call::SetRole {
            business_user_id,
            role: r,
        } => graph
            .set_business_user_role(auth, business_user_id, role(*r), None)
            .await
            .map(|()| String::new()),
        Call::Assign {
            business_user_id,
            asset_id,
            kind,
            tasks,
        } => {
            let tasks: Vec<String> = tasks.iter().cloned().collect();
            graph
                .assign_asset(auth, &asset(asset_id, *kind), biz, business_user_id, &tasks)
                .await
                .map(|()| String::new())
        }
        Call::Unassign {
            business_user_id,
            asset_id,
            kind,
        } => graph
            .unassign_asset(auth, &asset(asset_id, *kind), biz, business_user_id)
            .await
            .map(|()| String::new()),
        Call::Remove { business_user_id } => graph
            .remove_business_user(auth, business_user_id)
            .await
            .map(|()| String::new()),
        Call::CancelInvitation { invitation_id } => graph
            .cancel_invitation(auth, invitation_id)
            .await
            .map(|()| String::new()),
    }
}

/// How a call is described in the task's log: method and path, and its target.
fn describe(call: &Call, hub: &str, email: &str) -> (String, String) {
    match call {
        Call::Invite { role } => (
            format!("POST /{hub}/business_users role={}", role.as_str()),
            email.to_string(),
        ),
        Call::SetInvitationRole {
            invitation_id,
            role,
        } => (
            format!("POST /{invitation_id} role={}", role.as_str()),
            email.to_string(),
        ),
        Call::SetRole {
            business_user_id,
            role,
        } => (
            format!("POST /{business_user_id} role={}", role.as_str()),
            email.to_string(),
        ),
        Call::Assign {
            asset_id, tasks, ..
        } => (
            format!(
                "POST /{asset_id}/assigned_users tasks={}",
                tasks.iter().cloned().collect::<Vec<_>>().join(",")
            ),
            email.to_string(),
        ),
        Call::Unassign { asset_id, .. } => (
            format!("DELETE /{asset_id}/assigned_users"),
            email.to_string(),
        ),
        Call::Remove { business_user_id } => {
            (format!("DELETE /{business_user_id}"), email.to_string())
        }
        Call::CancelInvitation { invitation_id } => {
            (format!("DELETE /{invitation_id}"), email.to_string())
        }
    }
}

/// One line of a task's call log.
struct CallRecord {
    task_seq: i64,
    attempt: i32,
    request: String,
    target: String,
    outcome: String,
}

impl CallRecord {
    fn insert(self, c: &mut crate::store::AnyConnection) -> Result<(), StoreError> {
        use diesel::prelude::*;
        use schema::task_calls::dsl as t;
        diesel::insert_into(t::task_calls)
            .values((
                t::task_seq.eq(self.task_seq),
                t::attempt.eq(self.attempt),
                t::request.eq(self.request),
                t::target.eq(self.target),
                t::outcome.eq(self.outcome),
                t::at.eq(now_micros()),
            ))
            .execute(c)?;
        Ok(())
    }
}

fn describe_call(
    task: &TaskRow,
    hub: &HubRow,
    call: &Call,
    row: &MemberRow,
    outcome: &str,
) -> CallRecord {
    let (request, target) = describe(call, &hub.business_id, &row.email);
    CallRecord {
        task_seq: task.seq,
        attempt: task.attempts,
        request,
        target,
        outcome: outcome.to_string(),
    }
}

/// Appends a failed call to the task's log; a failure to log only warns.
async fn record(engine: &Engine, call: CallRecord) {
    let r = engine.inner.store.write(move |c| call.insert(c)).await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not record a task's Graph call");
    }
}

fn bare(id: &str) -> &str {
    id.strip_prefix("act_").unwrap_or(id)
}

/// The asset whose own bucket a throttle on `call` holds (not the business's or the app's).
fn throttled_asset(call: &Call, e: &GraphError) -> Option<String> {
    let asset = call.asset_id()?;
    match e {
        GraphError::Throttled {
            scope: ThrottleScope::Business(id),
            ..
        } if bare(id) == bare(asset) => Some(bare(asset).to_string()),
        _ => None,
    }
}

/// What a Graph error means for the task; an invalid token also pauses the hub.
pub(super) async fn outcome_for(
    engine: &Engine,
    task: &TaskRow,
    hub: &HubRow,
    e: GraphError,
) -> Outcome {
    if let GraphError::TokenInvalid { meta } = &e {
        let (seq, reason) = (hub.seq, format!("the hub's token is invalid: {meta}"));
        let paused = engine
            .inner
            .store
            .write(move |c| {
                hubs::set_status(
                    c,
                    seq,
                    hubs::status::NEEDS_REAUTH,
                    Some(&reason),
                    now_micros(),
                )
            })
            .await;
        if let Err(err) = paused {
            tracing::error!(error = %err, "could not mark the hub needs_reauth");
        }
        tracing::warn!(hub.id = %hub.id, "hub needs a new token; its work is paused");
    }
    classify(engine, task, e)
}

fn error_json(e: &GraphError) -> String {
    let meta = e.meta();
    json!({
        "class": format!("{:?}", e.class()),
        "code": meta.map(|m| m.code),
        "subcode": meta.and_then(|m| m.subcode),
        "message": meta.map_or_else(|| e.to_string(), |m| m.message.clone()),
    })
    .to_string()
}

fn classify(engine: &Engine, task: &TaskRow, e: GraphError) -> Outcome {
    let now = now_micros();
    let later = |d: std::time::Duration| now + i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2);
    match &e {
        GraphError::Throttled { retry_after, .. } => Outcome::Defer {
            run_after: later(*retry_after),
            reason: format!("throttled: {e}"),
            settled: false,
        },
        GraphError::TokenInvalid { .. } => Outcome::Defer {
            run_after: now,
            reason: format!("paused until the hub's token is replaced: {e}"),
            settled: false,
        },
        GraphError::NewSystemUserRestriction { .. } => Outcome::Defer {
            run_after: later(std::time::Duration::from_secs(24 * 3600)),
            reason: format!(
                "Meta does not yet let this hub's system user manage people (new system users \
                 are restricted for at least seven days); retried daily: {e}"
            ),
            settled: false,
        },
        GraphError::InvitationLimit { retry_after, .. }
        | GraphError::PolicyBlocked { retry_after, .. } => Outcome::Defer {
            run_after: later(*retry_after),
            reason: e.to_string(),
            settled: false,
        },
        GraphError::LastAdmin { .. } | GraphError::Config { .. } => Outcome::Failed {
            reason: e.to_string(),
            error: Some(error_json(&e)),
        },
        _ => match engine.retry_at(task) {
            Some(run_after) => Outcome::Retry {
                run_after,
                error: error_json(&e),
            },
            None => Outcome::Failed {
                reason: format!("gave up after {} attempts: {e}", task.attempts),
                error: Some(error_json(&e)),
            },
        },
    }
}
