//! Hubs and access grants: connecting a Meta business (its token checked against Meta,
//! then sealed), and granting directory groups or users a role on it. Every change that
//! can alter someone's access queues their reconciles in the same transaction.

use serde_json::{json, Value};

use super::{Actor, ServiceError, ServiceResult};
use crate::access::{AssetKind, HubRole, Role};
use crate::crypto::{Secret, SecretBox};
use crate::meta::{AccessToken, AppSecret, GraphClient, GraphError};
use crate::store::hubs::{self, GrantRow, HubRow};
use crate::store::tasks::{self, Enqueue};
use crate::store::{now_micros, schema, Store};

/// The scopes a hub token must carry (admin API contract).
pub const REQUIRED_SCOPES: [&str; 6] = [
    "ads_management",
    "business_management",
    "catalog_management",
    "pages_manage_metadata",
    "pages_read_engagement",
    "pages_show_list",
];

/// The associated data a hub's sealed secret is bound to: its row and its field, so a
/// ciphertext moved to another hub or field does not open.
pub fn sealed_for(hub_id: &str, field: &str) -> String {
    format!("hub/{hub_id}/{field}")
}

/// What connecting a hub takes.
#[derive(Debug, Clone)]
pub struct ConnectHub {
    pub label: String,
    pub business_id: String,
    pub app_id: String,
    pub access_token: Secret,
    pub app_secret: Option<Secret>,
    pub login_method: String,
    pub sync_interval_hours: i32,
    /// Removals held over this share of the hub's members within the window (default 20).
    pub safeguard_percent: i32,
    pub safeguard_window_minutes: i32,
    pub safeguard_max_removals: Option<i32>,
}

/// A change to a hub's settings (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct HubChange {
    pub label: Option<String>,
    pub login_method: Option<String>,
    pub sync_interval_hours: Option<i32>,
    pub safeguard_percent: Option<i32>,
    pub safeguard_window_minutes: Option<i32>,
    /// `Some(None)`: no count limit.
    pub safeguard_max_removals: Option<Option<i32>>,
    pub access_token: Option<Secret>,
    pub app_secret: Option<Secret>,
}

/// A change to a grant (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct GrantChange {
    pub hub_role: Option<HubRole>,
    pub role: Option<Role>,
    pub assets: Option<Vec<(String, AssetKind, Vec<String>)>>,
}

/// A grant as asked for.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// SCIM id of a group, or of a user.
    pub grantee: crate::access::Grantee,
    pub hub_role: HubRole,
    pub role: Role,
    /// (asset id, kind, tasks).
    pub assets: Vec<(String, AssetKind, Vec<String>)>,
}

#[derive(Clone)]
pub struct Hubs {
    store: Store,
    graph: GraphClient,
    secrets: Option<std::sync::Arc<SecretBox>>,
    max_attempts: i32,
}

impl Hubs {
    pub fn new(
        store: Store,
        graph: GraphClient,
        secrets: Option<std::sync::Arc<SecretBox>>,
        max_attempts: u32,
    ) -> Self {
        Hubs {
            store,
            graph,
            secrets,
            max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
        }
    }

    /// How the hub service's changes queue their tasks (an admin's doing, now).
    fn enqueue(&self) -> Enqueue<'static> {
        Enqueue {
            triggered_by: "admin",
            max_attempts: self.max_attempts,
            now: now_micros(),
        }
    }

    /// Connects a business: the token must be valid, a system user's, never expiring,
    /// issued for `app_id`, carry [`REQUIRED_SCOPES`] and read `business_id`; otherwise
    /// `Unprocessable` naming what is wrong. The token and app secret are stored sealed;
    /// the caller becomes the hub's owner.
    pub async fn connect(&self, actor: &Actor, req: ConnectHub) -> ServiceResult<HubRow> {
        let secrets = self.secrets.as_ref().ok_or_else(|| {
            ServiceError::unprocessable(
                "crypto-key-missing",
                "no hub can be connected until crypto.key (or crypto.key_file) is set: \
                 Meta tokens are stored encrypted with it",
            )
        })?;
        for (field, value) in [("business_id", &req.business_id), ("app_id", &req.app_id)] {
            if value.trim().is_empty() || value.chars().any(char::is_control) {
                return Err(ServiceError::invalid_value(format!(
                    "{field}: must be a non-empty string without control characters"
                )));
            }
        }
        check_settings(&Settings {
            label: &req.label,
            login_method: &req.login_method,
            sync_interval_hours: req.sync_interval_hours,
            safeguard_percent: req.safeguard_percent,
            safeguard_window_minutes: req.safeguard_window_minutes,
            safeguard_max_removals: req.safeguard_max_removals,
        })?;
        let check = self
            .check_token(
                &req.business_id,
                &req.app_id,
                &req.access_token,
                req.app_secret.as_ref(),
            )
            .await?;
        let id = crate::crypto::new_id();
        let now = now_micros();
        let owner = match actor {
            Actor::Admin { subject } => subject.clone(),
            other => other.to_string(),
        };
        let row = HubRow {
            seq: 0,
            id: id.clone(),
            label: req.label.trim().to_string(),
            business_id: req.business_id.clone(),
            business_name: check.business.name.clone().unwrap_or_default(),
            app_id: req.app_id.clone(),
            login_method: req.login_method.clone(),
            status: hubs::status::ACTIVE.into(),
            status_reason: None,
            owner,
            access_token: secrets.seal(&sealed_for(&id, "access_token"), req.access_token.expose()),
            app_secret: req
                .app_secret
                .as_ref()
                .map(|s| secrets.seal(&sealed_for(&id, "app_secret"), s.expose())),
            safeguard_percent: req.safeguard_percent,
            safeguard_window_minutes: req.safeguard_window_minutes,
            safeguard_max_removals: req.safeguard_max_removals,
            sync_interval_hours: req.sync_interval_hours,
            created_at: now,
            updated_at: now,
        };
        let e = Enqueue {
            now,
            ..self.enqueue()
        };
        let hub = self
            .store
            .write(move |c| {
                let hub = hubs::insert(c, &row)?;
                // "Check for updates" first thing: who is in the business already.
                tasks::enqueue_sync(c, hub.seq, e)?;
                Ok(hub)
            })
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict(_) => ServiceError::Conflict(
                    "this business is connected already (one hub per business)".into(),
                ),
                other => other.into(),
            })?;
        tracing::info!(hub.id = %hub.id, business = %hub.business_id, actor = %actor, "hub connected");
        Ok(hub)
    }

    /// Checks a hub token with Meta: valid, a system user's, never expiring, issued for
    /// `app_id`, carrying [`REQUIRED_SCOPES`], able to read `business_id`. Anything else is
    /// `Unprocessable` naming what is wrong; Meta unreachable is `Unavailable`.
    async fn check_token(
        &self,
        business_id: &str,
        app_id: &str,
        token: &Secret,
        app_secret: Option<&Secret>,
    ) -> ServiceResult<crate::meta::TokenCheck> {
        let app_secret = app_secret.map(|s| AppSecret::new(s.expose()));
        let auth = self
            .graph
            .auth_with_secret(AccessToken::new(token.expose()), app_secret.as_ref());
        let check = match self.graph.check_token(&auth, business_id).await {
            Ok(c) => c,
            Err(GraphError::TokenInvalid { meta }) => {
                return Err(ServiceError::unprocessable(
                    "token-invalid",
                    format!("Meta says the access token is not valid: {}", meta.message),
                ))
            }
            Err(
                e @ (GraphError::PermissionMissing { .. }
                | GraphError::NotFoundOrInvalidParam { .. }),
            ) => {
                let mut err = ServiceError::unprocessable(
                    "wrong-business",
                    format!("the token cannot read business {business_id}: {e}"),
                );
                if let ServiceError::Unprocessable { extra, .. } = &mut err {
                    extra.insert("wrong_business".into(), json!(business_id));
                }
                return Err(err);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a hub token with Meta");
                return Err(ServiceError::Unavailable(format!(
                    "Meta could not be asked about the token; retry later ({e})"
                )));
            }
        };
        let missing = check.missing_scopes(&REQUIRED_SCOPES);
        let mut problems = serde_json::Map::new();
        if !missing.is_empty() {
            problems.insert("missing_scopes".into(), json!(missing));
        }
        if let Some(at) = check.info.expires() {
            problems.insert("expires_at".into(), json!(at.to_rfc3339()));
        }
        if check.info.app_id.as_deref() != Some(app_id) {
            problems.insert("wrong_app".into(), json!(check.info.app_id));
        }
        if !check.info.is_system_user() {
            problems.insert("token_type".into(), json!(check.info.token_type));
        }
        if check.business.id != business_id {
            problems.insert("wrong_business".into(), json!(check.business.id));
        }
        if !problems.is_empty() {
            let what: Vec<&str> = problems.keys().map(String::as_str).collect();
            return Err(ServiceError::Unprocessable {
                problem: "token-unsuitable",
                detail: format!(
                    "the token cannot run this hub ({}): it must be a never-expiring system-user \
                     token of app {app_id} with the scopes {}",
                    what.join(", "),
                    REQUIRED_SCOPES.join(", ")
                ),
                extra: problems,
            });
        }
        Ok(check)
    }

    /// Changes a hub's settings; a new `access_token` (and `app_secret`) is checked like a
    /// connect, sealed, and brings a hub that needed one (`needs_reauth`) back to `active`,
    /// so its paused work resumes.
    pub async fn update(
        &self,
        actor: &Actor,
        hub_id: &str,
        change: HubChange,
    ) -> ServiceResult<HubRow> {
        let id = hub_id.to_string();
        let hub = self
            .store
            .read(move |c| hubs::find(c, &id))
            .await?
            .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
        if hub.status == hubs::status::DISCONNECTED {
            return Err(ServiceError::Conflict("the hub is disconnected".into()));
        }
        let mut row = hub.clone();
        if let Some(label) = change.label {
            row.label = label.trim().to_string();
        }
        if let Some(m) = change.login_method {
            row.login_method = m;
        }
        if let Some(h) = change.sync_interval_hours {
            row.sync_interval_hours = h;
        }
        if let Some(p) = change.safeguard_percent {
            row.safeguard_percent = p;
        }
        if let Some(w) = change.safeguard_window_minutes {
            row.safeguard_window_minutes = w;
        }
        if let Some(m) = change.safeguard_max_removals {
            row.safeguard_max_removals = m;
        }
        check_settings(&Settings {
            label: &row.label,
            login_method: &row.login_method,
            sync_interval_hours: row.sync_interval_hours,
            safeguard_percent: row.safeguard_percent,
            safeguard_window_minutes: row.safeguard_window_minutes,
            safeguard_max_removals: row.safeguard_max_removals,
        })?;
        if let Some(token) = &change.access_token {
            let secrets = self.secrets.as_ref().ok_or_else(|| {
                ServiceError::unprocessable(
                    "crypto-key-missing",
                    "crypto.key (or crypto.key_file) is not set",
                )
            })?;
            self.check_token(
                &hub.business_id,
                &hub.app_id,
                token,
                change.app_secret.as_ref(),
            )
            .await?;
            row.access_token = secrets.seal(&sealed_for(&hub.id, "access_token"), token.expose());
            row.app_secret = change
                .app_secret
                .as_ref()
                .map(|s| secrets.seal(&sealed_for(&hub.id, "app_secret"), s.expose()));
            if hub.status == hubs::status::NEEDS_REAUTH {
                row.status = hubs::status::ACTIVE.into();
                row.status_reason = None;
            }
        } else if change.app_secret.is_some() {
            return Err(ServiceError::invalid_value(
                "app_secret: is rotated together with access_token",
            ));
        }
        row.updated_at = now_micros();
        let stored = row.clone();
        self.store.write(move |c| hubs::update(c, &stored)).await?;
        tracing::info!(
            hub.id = %row.id,
            actor = %actor,
            token_rotated = change.access_token.is_some(),
            "hub updated"
        );
        Ok(row)
    }

    /// Disconnects a hub: nothing more is sent to Meta for it; its waiting and held work is
    /// cancelled; history stays.
    pub async fn disconnect(&self, actor: &Actor, hub_id: &str) -> ServiceResult<()> {
        let (id, by) = (hub_id.to_string(), actor.to_string());
        self.store
            .write(move |c| -> ServiceResult<()> {
                let hub = hubs::find(c, &id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                let now = now_micros();
                hubs::set_status(
                    c,
                    hub.seq,
                    hubs::status::DISCONNECTED,
                    Some(&format!("disconnected by {by}")),
                    now,
                )?;
                tasks::cancel_all(c, hub.seq, &by, now)?;
                Ok(())
            })
            .await?;
        tracing::info!(hub.id = %hub_id, actor = %actor, "hub disconnected");
        Ok(())
    }

    /// "Check for updates" now: queues a `sync_hub` unless one waits or runs already, and
    /// returns the sync that will run.
    pub async fn sync_now(&self, actor: &Actor, hub_id: &str) -> ServiceResult<tasks::TaskRow> {
        let id = hub_id.to_string();
        let e = self.enqueue();
        let task = self
            .store
            .write(move |c| -> ServiceResult<tasks::TaskRow> {
                let hub = hubs::find(c, &id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                if hub.status == hubs::status::DISCONNECTED {
                    return Err(ServiceError::Conflict("the hub is disconnected".into()));
                }
                Ok(tasks::enqueue_sync(c, hub.seq, e)?)
            })
            .await?;
        tracing::info!(hub.id = %hub_id, task.id = %task.id, actor = %actor, "sync requested");
        Ok(task)
    }

    /// Approves (past the safeguard) or cancels held removals: one task, or all of a hub's.
    pub async fn decide_held(
        &self,
        actor: &Actor,
        hub_id: &str,
        task_id: Option<&str>,
        approve: bool,
    ) -> ServiceResult<usize> {
        let (id, task, by) = (
            hub_id.to_string(),
            task_id.map(str::to_string),
            actor.to_string(),
        );
        let n = self
            .store
            .write(move |c| -> ServiceResult<usize> {
                let hub = hubs::find(c, &id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                Ok(tasks::decide_held(
                    c,
                    hub.seq,
                    task.as_deref(),
                    approve,
                    &by,
                    now_micros(),
                )?)
            })
            .await?;
        tracing::info!(hub.id = %hub_id, held = n, approve, actor = %actor, "held removals decided");
        Ok(n)
    }

    /// Changes a grant's roles or assets and queues the reconcile of everyone it reaches.
    pub async fn update_grant(
        &self,
        actor: &Actor,
        hub_id: &str,
        grant_id: &str,
        change: GrantChange,
    ) -> ServiceResult<GrantRow> {
        let assets = change.assets.as_deref().map(assets_json).transpose()?;
        let (hub_id, grant_id) = (hub_id.to_string(), grant_id.to_string());
        let e = self.enqueue();
        let grant = self
            .store
            .write(move |c| -> ServiceResult<GrantRow> {
                let hub = hubs::find(c, &hub_id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                let mut g = hubs::grant_by_id(c, hub.seq, &grant_id)?
                    .ok_or_else(|| ServiceError::not_found("no grant with that id on this hub"))?;
                if let Some(r) = change.hub_role {
                    g.hub_role = r.as_str().into();
                }
                if let Some(r) = change.role {
                    g.business_role = r.as_str().into();
                }
                if let Some(a) = assets {
                    g.assets = a;
                }
                g.updated_at = e.now;
                hubs::update_grant(c, &g)?;
                enqueue_reached(c, &g, e)?;
                Ok(g)
            })
            .await?;
        tracing::info!(grant.id = %grant.id, actor = %actor, "access grant changed");
        Ok(grant)
    }

    /// Deletes a grant; everyone it reached is reconciled (the safeguard applies).
    pub async fn delete_grant(
        &self,
        actor: &Actor,
        hub_id: &str,
        grant_id: &str,
    ) -> ServiceResult<()> {
        let (hub_id, gid) = (hub_id.to_string(), grant_id.to_string());
        let e = self.enqueue();
        self.store
            .write(move |c| -> ServiceResult<()> {
                let hub = hubs::find(c, &hub_id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                let g = hubs::grant_by_id(c, hub.seq, &gid)?
                    .ok_or_else(|| ServiceError::not_found("no grant with that id on this hub"))?;
                enqueue_reached(c, &g, e)?;
                hubs::delete_grant(c, g.seq)?;
                Ok(())
            })
            .await?;
        tracing::info!(grant.id = %grant_id, actor = %actor, "access grant deleted");
        Ok(())
    }

    /// Grants a group or user a role on a hub, and queues the reconcile of everyone it
    /// reaches, in one transaction.
    pub async fn grant(&self, actor: &Actor, hub_id: &str, g: NewGrant) -> ServiceResult<GrantRow> {
        let assets = assets_json(&g.assets)?;
        let hub_id = hub_id.to_string();
        let e = self.enqueue();
        let grant = self
            .store
            .write(move |c| -> ServiceResult<GrantRow> {
                let hub = hubs::find(c, &hub_id)?
                    .ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
                let (group_seq, user) =
                    grantee_seqs(c, &g.grantee)?.map_err(ServiceError::invalid_value)?;
                let row = GrantRow {
                    seq: 0,
                    id: crate::crypto::new_id(),
                    hub_seq: hub.seq,
                    group_seq,
                    user_seq: user.as_ref().map(|(s, _)| *s),
                    hub_role: g.hub_role.as_str().into(),
                    business_role: g.role.as_str().into(),
                    assets,
                    created_at: e.now,
                    updated_at: e.now,
                };
                let row = hubs::insert_grant(c, &row)?;
                match (group_seq, user) {
                    (Some(seq), _) => tasks::enqueue_for_group(c, seq, e)?,
                    (None, Some((seq, id))) => tasks::enqueue_for_user(c, seq, &id, e)?,
                    (None, None) => 0,
                };
                Ok(row)
            })
            .await?;
        tracing::info!(grant.id = %grant.id, actor = %actor, "access grant created");
        Ok(grant)
    }

    /// What creating, changing or deleting a grant would do, without doing it: for everyone
    /// the grant reaches, the Graph calls a reconcile would make from the member as last
    /// seen (`POST /hubs/{id}/grants/plan`). Reads only.
    pub async fn plan(&self, hub_id: &str, edit: GrantPlanRequest) -> ServiceResult<GrantPlan> {
        match &edit {
            GrantPlanRequest::Create(g) => {
                assets_json(&g.assets)?;
            }
            GrantPlanRequest::Change { change, .. } => {
                change.assets.as_deref().map(assets_json).transpose()?;
            }
            GrantPlanRequest::Delete { .. } => {}
        }
        let hub_id = hub_id.to_string();
        self.store.read(move |c| plan_in(c, &hub_id, &edit)).await?
    }
}

/// A grant change to plan.
#[derive(Debug, Clone)]
pub enum GrantPlanRequest {
    Create(NewGrant),
    Change {
        grant_id: String,
        change: GrantChange,
    },
    Delete {
        grant_id: String,
    },
}

/// One person a planned grant change reaches.
#[derive(Debug, Clone)]
pub struct PlannedPerson {
    pub user_id: String,
    pub email: String,
    pub member_id: Option<String>,
    /// `invite`, `change`, `remove` or `none`.
    pub action: &'static str,
    pub calls: Vec<String>,
}

/// The answer of a dry run.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan {
    /// Everyone the grant reaches, in directory order.
    pub people: Vec<PlannedPerson>,
}

fn plan_in(
    c: &mut crate::store::AnyConnection,
    hub_id: &str,
    req: &GrantPlanRequest,
) -> crate::store::StoreResult<ServiceResult<GrantPlan>> {
    use crate::access::{AssetGrant, Grant};
    use crate::tasks::GrantEdit;
    use diesel::prelude::*;
    let Some(hub) = hubs::find(c, hub_id)? else {
        return Ok(Err(ServiceError::not_found("no hub with that id")));
    };
    let existing = |c: &mut crate::store::AnyConnection, id: &str| {
        Ok::<_, crate::store::StoreError>(
            hubs::grants_of(c, hub.seq)?
                .into_iter()
                .find(|(g, _, _)| g.id == id)
                .and_then(|(g, group, user)| crate::tasks::grant_of(&g, group, user)),
        )
    };
    let assets = |list: &[(String, AssetKind, Vec<String>)]| {
        list.iter()
            .map(|(id, kind, tasks)| AssetGrant {
                asset_id: id.clone(),
                kind: *kind,
                tasks: tasks.iter().cloned().collect(),
            })
            .collect()
    };
    let edit = match req {
        GrantPlanRequest::Create(g) => GrantEdit::Add(Grant {
            id: String::new(),
            grantee: g.grantee.clone(),
            hub_role: g.hub_role,
            role: g.role,
            assets: assets(&g.assets),
        }),
        GrantPlanRequest::Change { grant_id, change } => {
            let Some(mut g) = existing(c, grant_id)? else {
                return Ok(Err(ServiceError::not_found(
                    "no grant with that id on this hub",
                )));
            };
            if let Some(r) = change.hub_role {
                g.hub_role = r;
            }
            if let Some(r) = change.role {
                g.role = r;
            }
            if let Some(a) = &change.assets {
                g.assets = assets(a);
            }
            GrantEdit::Replace(g)
        }
        GrantPlanRequest::Delete { grant_id } => match existing(c, grant_id)? {
            Some(g) => GrantEdit::Remove(g.id),
            None => {
                return Ok(Err(ServiceError::not_found(
                    "no grant with that id on this hub",
                )))
            }
        },
    };
    let grantee = match &edit {
        GrantEdit::Add(g) | GrantEdit::Replace(g) => g.grantee.clone(),
        GrantEdit::Remove(id) => match existing(c, id)? {
            Some(g) => g.grantee,
            None => return Ok(Ok(GrantPlan::default())),
        },
    };
    let reached: Vec<String> = match grantee_seqs(c, &grantee)? {
        Err(problem) => return Ok(Err(ServiceError::invalid_value(problem))),
        Ok((Some(group_seq), _)) => schema::group_members::table
            .inner_join(
                schema::users::table.on(schema::users::seq.eq(schema::group_members::user_seq)),
            )
            .filter(schema::group_members::group_seq.eq(group_seq))
            .order(schema::users::seq.asc())
            .select(schema::users::id)
            .load(c)?,
        Ok((None, user)) => user.into_iter().map(|(_, id)| id).collect(),
    };
    let mut people = Vec::with_capacity(reached.len());
    for user_id in reached {
        let Some(p) = crate::tasks::preview(c, hub.seq, &user_id, &edit)? else {
            continue;
        };
        let action = if p
            .calls
            .iter()
            .any(|c| matches!(c, crate::access::Call::Invite { .. }))
        {
            "invite"
        } else if p.calls.iter().any(crate::access::Call::is_removal) {
            "remove"
        } else if p.calls.is_empty() {
            "none"
        } else {
            "change"
        };
        people.push(PlannedPerson {
            user_id,
            email: p.email,
            member_id: p.member_id,
            action,
            calls: p.requests,
        });
    }
    Ok(Ok(GrantPlan { people }))
}

/// The group's seq, or the user's seq and id, a grantee names; `Err` names the field when
/// there is no such group or user.
#[allow(clippy::type_complexity)]
fn grantee_seqs(
    c: &mut crate::store::AnyConnection,
    grantee: &crate::access::Grantee,
) -> crate::store::StoreResult<Result<(Option<i64>, Option<(i64, String)>), String>> {
    use diesel::prelude::*;
    Ok(match grantee {
        crate::access::Grantee::Group(id) => schema::groups::table
            .filter(schema::groups::id.eq(id))
            .select(schema::groups::seq)
            .first::<i64>(c)
            .optional()?
            .map(|seq| (Some(seq), None))
            .ok_or_else(|| format!("group_id: no group {id:?}")),
        crate::access::Grantee::User(id) => schema::users::table
            .filter(schema::users::id.eq(id))
            .select(schema::users::seq)
            .first::<i64>(c)
            .optional()?
            .map(|seq| (None, Some((seq, id.clone()))))
            .ok_or_else(|| format!("user_id: no user {id:?}")),
    })
}

/// A hub's settings, as connected or changed.
struct Settings<'a> {
    label: &'a str,
    login_method: &'a str,
    sync_interval_hours: i32,
    safeguard_percent: i32,
    safeguard_window_minutes: i32,
    safeguard_max_removals: Option<i32>,
}

fn check_settings(s: &Settings<'_>) -> ServiceResult<()> {
    let bad = |m: &str| Err(ServiceError::invalid_value(m.to_string()));
    if s.label.trim().is_empty() || s.label.chars().any(char::is_control) {
        return bad("label: must be a non-empty string without control characters");
    }
    if !["sso", "password"].contains(&s.login_method) {
        return bad("login_method: must be \"sso\" or \"password\"");
    }
    if !(1..=24 * 30).contains(&s.sync_interval_hours) {
        return bad("sync_interval_hours: must be between 1 and 720");
    }
    if !(1..=100).contains(&s.safeguard_percent) {
        return bad("safeguard.percent: must be between 1 and 100");
    }
    if !(1..=24 * 60).contains(&s.safeguard_window_minutes) {
        return bad("safeguard.window_minutes: must be between 1 and 1440");
    }
    if s.safeguard_max_removals.is_some_and(|n| n < 0) {
        return bad("safeguard.max_removals: must not be negative");
    }
    Ok(())
}

/// Checks asset grants (each with tasks valid for its kind) and renders them as stored.
fn assets_json(assets: &[(String, AssetKind, Vec<String>)]) -> ServiceResult<String> {
    for (asset_id, kind, tasks) in assets {
        if tasks.is_empty() {
            return Err(ServiceError::invalid_value(format!(
                "assets: {asset_id} needs at least one task"
            )));
        }
        if let Some(bad) = tasks.iter().find(|t| !valid_task(*kind, t)) {
            return Err(ServiceError::invalid_value(format!(
                "assets: {bad:?} is not a task of a {}",
                kind.as_str()
            )));
        }
    }
    Ok(Value::Array(
        assets
            .iter()
            .map(|(id, kind, tasks)| json!({"asset_id": id, "kind": kind.as_str(), "tasks": tasks}))
            .collect(),
    )
    .to_string())
}

/// Queues the reconcile of everyone a grant reaches (before it changes or goes).
fn enqueue_reached(
    c: &mut crate::store::AnyConnection,
    g: &GrantRow,
    e: Enqueue<'_>,
) -> ServiceResult<usize> {
    use diesel::prelude::*;
    Ok(match (g.group_seq, g.user_seq) {
        (Some(seq), _) => tasks::enqueue_for_group(c, seq, e)?,
        (None, Some(seq)) => {
            let id: String = schema::users::table
                .filter(schema::users::seq.eq(seq))
                .select(schema::users::id)
                .first(c)?;
            tasks::enqueue_for_user(c, seq, &id, e)?
        }
        (None, None) => 0,
    })
}

/// Is `task` one Meta accepts on an asset of this kind (meta-graph-api.md 5.3)?
pub fn valid_task(kind: AssetKind, task: &str) -> bool {
    match kind {
        AssetKind::AdAccount => {
            ["MANAGE", "ADVERTISE", "ANALYZE", "DRAFT", "AA_ANALYZE"].contains(&task)
        }
        AssetKind::Catalog => ["MANAGE", "ADVERTISE", "MANAGE_AR", "AA_ANALYZE"].contains(&task),
        AssetKind::Page => [
            "MANAGE",
            "CREATE_CONTENT",
            "MODERATE",
            "MESSAGING",
            "ADVERTISE",
            "ANALYZE",
            "MODERATE_COMMUNITY",
            "MANAGE_JOBS",
            "PAGES_MESSAGING",
            "PAGES_MESSAGING_SUBSCRIPTIONS",
            "READ_PAGE_MAILBOXES",
            "VIEW_MONETIZATION_INSIGHTS",
            "MANAGE_LEADS",
            "CASHIER_ROLE",
            "GLOBAL_STRUCTURE_MANAGEMENT",
        ]
        .contains(&task),
    }
}
