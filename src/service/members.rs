//! What hub owners decide about members (people as Meta shows them in a hub's business):
//! exempt one from automation, end that, or match one to a directory user. Each change and
//! the reconcile it calls for are written in one transaction.

use super::{Actor, ServiceError, ServiceResult};
use crate::access::HubRole;
use crate::store::members::{self, MemberRow};
use crate::store::tasks::{self, Enqueue};
use crate::store::{hubs, now_micros, schema, AnyConnection, Store};

/// Longest exemption reason, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

pub mod state {
    pub const UNMATCHED: &str = "unmatched";
    pub const ONBOARDED: &str = "onboarded";
    pub const EXEMPTED: &str = "exempted";
}

#[derive(Clone)]
pub struct Members {
    store: Store,
    max_attempts: i32,
}

impl Members {
    pub fn new(store: Store, max_attempts: u32) -> Self {
        Members {
            store,
            max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
        }
    }

    /// Exempts a member from automation, with the reason (required) and who decided: no
    /// grant, deactivation or sync changes it in Meta until the exemption ends.
    pub async fn exempt(
        &self,
        actor: &Actor,
        hub_id: &str,
        member_id: &str,
        reason: &str,
    ) -> ServiceResult<MemberRow> {
        let reason = reason.trim().to_string();
        if reason.is_empty()
            || reason.chars().count() > MAX_REASON_CHARS
            || reason.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(ServiceError::invalid_value(format!(
                "reason: required, 1 to {MAX_REASON_CHARS} characters without control characters"
            )));
        }
        let (hub_id, member_id, by) =
            (hub_id.to_string(), member_id.to_string(), actor.to_string());
        let row = self
            .store
            .write(move |c| -> ServiceResult<MemberRow> {
                let mut m = member(c, &hub_id, &member_id)?;
                m.state = state::EXEMPTED.into();
                m.exemption_reason = Some(reason);
                m.exemption_by = Some(by);
                m.exemption_at = Some(now_micros());
                m.updated_at = now_micros();
                Ok(members::save(c, &m)?)
            })
            .await?;
        tracing::info!(member.id = %row.id, actor = %actor, "member exempted from automation");
        Ok(row)
    }

    /// Ends an exemption: the member is `onboarded` again if matched (and its user is
    /// reconciled), else `unmatched`. 409 when it is not exempted.
    pub async fn end_exemption(
        &self,
        actor: &Actor,
        hub_id: &str,
        member_id: &str,
    ) -> ServiceResult<MemberRow> {
        let (hub_id, member_id) = (hub_id.to_string(), member_id.to_string());
        let e = self.enqueue();
        let row = self
            .store
            .write(move |c| -> ServiceResult<MemberRow> {
                let mut m = member(c, &hub_id, &member_id)?;
                if m.state != state::EXEMPTED {
                    return Err(ServiceError::Conflict("the member is not exempted".into()));
                }
                m.state = if m.user_id.is_some() {
                    state::ONBOARDED
                } else {
                    state::UNMATCHED
                }
                .into();
                (m.exemption_reason, m.exemption_by, m.exemption_at) = (None, None, None);
                m.updated_at = e.now;
                let m = members::save(c, &m)?;
                reconcile_user(c, m.user_id.as_deref(), e)?;
                Ok(m)
            })
            .await?;
        tracing::info!(member.id = %row.id, actor = %actor, "member exemption ended");
        Ok(row)
    }

    /// Matches a member to a directory user with a hub role: it becomes `onboarded` and
    /// from now on follows that user's effective access (its reconcile is queued here).
    pub async fn match_user(
        &self,
        actor: &Actor,
        hub_id: &str,
        member_id: &str,
        user_id: &str,
        hub_role: HubRole,
    ) -> ServiceResult<MemberRow> {
        let (hub_id, member_id, user_id) = (
            hub_id.to_string(),
            member_id.to_string(),
            user_id.to_string(),
        );
        let e = self.enqueue();
        let row = self
            .store
            .write(move |c| -> ServiceResult<MemberRow> {
                use diesel::prelude::*;
                let mut m = member(c, &hub_id, &member_id)?;
                if m.state == state::EXEMPTED {
                    return Err(ServiceError::Conflict(
                        "the member is exempted: end the exemption first".into(),
                    ));
                }
                let Some(user_seq) = schema::users::table
                    .filter(schema::users::id.eq(&user_id))
                    .select(schema::users::seq)
                    .first::<i64>(c)
                    .optional()?
                else {
                    return Err(ServiceError::invalid_value(format!(
                        "user_id: no user {user_id:?}"
                    )));
                };
                if let Some(other) = members::for_user(c, m.hub_seq, &user_id)? {
                    if other.seq != m.seq {
                        return Err(ServiceError::Conflict(format!(
                            "that user is matched to member {} ({}) on this hub already",
                            other.id, other.email
                        )));
                    }
                }
                m.user_id = Some(user_id.clone());
                m.hub_role = Some(hub_role.as_str().into());
                m.state = state::ONBOARDED.into();
                m.updated_at = e.now;
                let m = members::save(c, &m)?;
                tasks::enqueue_for_user(c, user_seq, &user_id, e)?;
                Ok(m)
            })
            .await?;
        tracing::info!(member.id = %row.id, actor = %actor, "member matched to a directory user");
        Ok(row)
    }

    /// Queues the revocation of a member's seat and asset tasks in Meta (a `remove_member`
    /// task; one already waiting is returned). 409 when the member is exempted, holds no
    /// seat, is reached by a grant (naming it: the grant decides), or is the business's last
    /// active admin (Meta refuses that, 3914).
    pub async fn remove(
        &self,
        actor: &Actor,
        hub_id: &str,
        member_id: &str,
    ) -> ServiceResult<tasks::TaskRow> {
        let (hub_id, member_id) = (hub_id.to_string(), member_id.to_string());
        let e = self.enqueue();
        let task = self
            .store
            .write(move |c| -> ServiceResult<tasks::TaskRow> {
                use diesel::prelude::*;
                let m = member(c, &hub_id, &member_id)?;
                let conflict = |why: String| Err(ServiceError::Conflict(why));
                if m.state == state::EXEMPTED {
                    return conflict("the member is exempted: end the exemption first".into());
                }
                if !["active", "invited"].contains(&m.meta_status.as_str()) {
                    return conflict("the member holds no seat in the business".into());
                }
                if let Some(user) = &m.user_id {
                    if let Some(grant) = crate::tasks::granting(c, m.hub_seq, user)? {
                        return conflict(format!(
                            "grant {grant} reaches this member's user: change the grant or the \
                             group instead"
                        ));
                    }
                }
                if m.meta_status == "active" && m.business_role.as_deref() == Some("ADMIN") {
                    let admins: i64 = schema::members::table
                        .filter(schema::members::hub_seq.eq(m.hub_seq))
                        .filter(schema::members::meta_status.eq("active"))
                        .filter(schema::members::business_role.eq("ADMIN"))
                        .count()
                        .get_result(c)?;
                    if admins <= 1 {
                        return conflict(
                            "this is the business's last admin: Meta refuses to remove it (3914)"
                                .into(),
                        );
                    }
                }
                Ok(tasks::enqueue_removal(
                    c,
                    m.hub_seq,
                    &m.id,
                    m.user_id.as_deref(),
                    &m.email,
                    e,
                )?)
            })
            .await?;
        tracing::info!(member.id = %member_id_of(&task), task.id = %task.id, actor = %actor, "member removal queued");
        Ok(task)
    }

    fn enqueue(&self) -> Enqueue<'static> {
        Enqueue {
            triggered_by: "admin",
            max_attempts: self.max_attempts,
            now: now_micros(),
        }
    }
}

fn member_id_of(task: &tasks::TaskRow) -> &str {
    task.member_id.as_deref().unwrap_or_default()
}

/// The member `member_id` of hub `hub_id`, or not found.
fn member(c: &mut AnyConnection, hub_id: &str, member_id: &str) -> ServiceResult<MemberRow> {
    let hub =
        hubs::find(c, hub_id)?.ok_or_else(|| ServiceError::not_found("no hub with that id"))?;
    members::find(c, hub.seq, member_id)?
        .ok_or_else(|| ServiceError::not_found("no member with that id on this hub"))
}

/// Queues the reconciles of a directory user (every hub that grants it something or where it
/// is a member).
fn reconcile_user(
    c: &mut AnyConnection,
    user_id: Option<&str>,
    e: Enqueue<'_>,
) -> ServiceResult<()> {
    use diesel::prelude::*;
    let Some(user_id) = user_id else {
        return Ok(());
    };
    let seq: Option<i64> = schema::users::table
        .filter(schema::users::id.eq(user_id))
        .select(schema::users::seq)
        .first(c)
        .optional()?;
    if let Some(seq) = seq {
        tasks::enqueue_for_user(c, seq, user_id, e)?;
    }
    Ok(())
}
