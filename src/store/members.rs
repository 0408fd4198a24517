//! Members: people as Meta shows them in a hub's business, one row per email.

use diesel::prelude::*;

use super::schema::members;
use super::{AnyConnection, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = members, primary_key(seq), treat_none_as_null = true)]
pub struct MemberRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: String,
    pub hub_seq: i64,
    pub email: String,
    pub email_ci: String,
    pub name: Option<String>,
    pub business_user_id: Option<String>,
    pub invitation_id: Option<String>,
    /// `active`, `invited`, `invite_expired`, `removed`.
    pub meta_status: String,
    pub business_role: Option<String>,
    /// JSON `{"<asset id>": {"kind": "...", "tasks": [...]}}`.
    pub assets: String,
    /// `unmatched`, `onboarded`, `guest`, `exempted`.
    pub state: String,
    pub user_id: Option<String>,
    pub hub_role: Option<String>,
    pub exemption_reason: Option<String>,
    pub exemption_by: Option<String>,
    pub exemption_at: Option<i64>,
    pub partner_business_id: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub updated_at: i64,
}

/// The member matched to a directory user on a hub.
pub fn for_user(
    conn: &mut AnyConnection,
    hub_seq: i64,
    user_id: &str,
) -> StoreResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::user_id.eq(user_id))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// The member with this (case-folded) email on a hub.
pub fn by_email(
    conn: &mut AnyConnection,
    hub_seq: i64,
    email_ci: &str,
) -> StoreResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::email_ci.eq(email_ci))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a new member (`seq` 0) or updates it; returns it as stored.
pub fn save(conn: &mut AnyConnection, row: &MemberRow) -> StoreResult<MemberRow> {
    if row.seq == 0 {
        let seq: i64 = diesel::insert_into(members::table)
            .values(row)
            .returning(members::seq)
            .get_result(conn)?;
        return Ok(MemberRow { seq, ..row.clone() });
    }
    diesel::update(members::table.filter(members::seq.eq(row.seq)))
        .set(row)
        .execute(conn)?;
    Ok(row.clone())
}

/// A hub's members, by email.
pub fn of_hub(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<Vec<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .order(members::email_ci.asc())
        .select(MemberRow::as_select())
        .load(conn)?)
}

/// A person or invitation as a sync saw it in Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub email: String,
    pub name: Option<String>,
    pub business_user_id: Option<String>,
    pub invitation_id: Option<String>,
    /// `active` or `invited`.
    pub meta_status: String,
    pub business_role: Option<String>,
    /// JSON of the asset tasks seen (active people), as in [`MemberRow::assets`].
    pub assets: String,
}

/// The directory user whose userName or an email is `email_ci` (case-folded), if one.
pub fn match_user(conn: &mut AnyConnection, email_ci: &str) -> StoreResult<Option<String>> {
    use super::schema::{user_values, users};
    let by_name: Option<String> = users::table
        .filter(users::user_name_ci.eq(email_ci))
        .select(users::id)
        .first(conn)
        .optional()?;
    if by_name.is_some() {
        return Ok(by_name);
    }
    Ok(user_values::table
        .inner_join(users::table.on(users::seq.eq(user_values::user_seq)))
        .filter(user_values::attr.eq("emails"))
        .filter(user_values::value_ci.eq(email_ci))
        .select(users::id)
        .first(conn)
        .optional()?)
}

/// Records what a sync saw, one person at a time: a known member is updated (its state
/// kept; an unmatched one, or a guest, is matched when a directory user now has its
/// email); a new one is matched to a directory user by email, else is a `guest` when a
/// guest has its email, else `unmatched`. Returns how many of
/// `seen` are matched to a directory user.
pub fn upsert_seen(
    conn: &mut AnyConnection,
    hub_seq: i64,
    seen: &[Seen],
    now: i64,
) -> StoreResult<usize> {
    let mut matched = 0;
    for s in seen {
        let email_ci = super::sql::fold(&s.email);
        let existing = by_email(conn, hub_seq, &email_ci)?;
        let mut row = existing.unwrap_or_else(|| MemberRow {
            seq: 0,
            id: crate::crypto::new_id(),
            hub_seq,
            email: s.email.clone(),
            email_ci: email_ci.clone(),
            name: None,
            business_user_id: None,
            invitation_id: None,
            meta_status: "removed".into(),
            business_role: None,
            assets: "{}".into(),
            state: "unmatched".into(),
            user_id: None,
            hub_role: None,
            exemption_reason: None,
            exemption_by: None,
            exemption_at: None,
            partner_business_id: None,
            first_seen_at: now,
            last_seen_at: now,
            updated_at: now,
        });
        if row.state == "unmatched" || row.state == "guest" {
            if let Some(user) = match_user(conn, &email_ci)? {
                row.user_id = Some(user);
                row.state = "onboarded".into();
            } else if super::guests::is_guest(conn, &email_ci)? {
                row.state = "guest".into();
            }
        }
        if row.user_id.is_some() {
            matched += 1;
        }
        row.name = s.name.clone().or(row.name);
        row.business_user_id = s.business_user_id.clone();
        row.invitation_id = s.invitation_id.clone();
        row.meta_status = s.meta_status.clone();
        row.business_role = s.business_role.clone();
        row.assets = s.assets.clone();
        row.last_seen_at = now;
        row.updated_at = now;
        save(conn, &row)?;
    }
    Ok(matched)
}

/// After a sync: members Meta no longer lists (and that nothing changed since the sync
/// started reading) are gone from the business.
pub fn mark_unseen_gone(conn: &mut AnyConnection, hub_seq: i64, since: i64) -> StoreResult<usize> {
    Ok(diesel::update(
        members::table
            .filter(members::hub_seq.eq(hub_seq))
            .filter(members::last_seen_at.lt(since))
            .filter(members::updated_at.lt(since))
            .filter(members::meta_status.ne("removed")),
    )
    .set((
        members::meta_status.eq("removed"),
        members::business_user_id.eq(None::<String>),
        members::invitation_id.eq(None::<String>),
        members::assets.eq("{}"),
        members::updated_at.eq(since),
    ))
    .execute(conn)?)
}

/// Filters of the member list.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    pub state: Option<String>,
    /// Case-insensitive substring of the name or email.
    pub q: Option<String>,
    pub partner_business_id: Option<String>,
}

/// A hub's members after `after_seq` in seq order.
pub fn list(
    conn: &mut AnyConnection,
    hub_seq: i64,
    f: &MemberFilter,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<MemberRow>> {
    let mut q = members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::seq.gt(after_seq))
        .order(members::seq.asc())
        .limit(limit)
        .select(MemberRow::as_select())
        .into_boxed();
    if let Some(s) = &f.state {
        q = q.filter(members::state.eq(s.clone()));
    }
    if let Some(p) = &f.partner_business_id {
        q = q.filter(members::partner_business_id.eq(p.clone()));
    }
    if let Some(text) = &f.q {
        let pattern = format!(
            "%{}%",
            super::sql::fold(text)
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(
            members::email_ci
                .like(pattern.clone())
                .escape('\\')
                .or(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pattern)
                        .sql(" ESCAPE '\\'"),
                ),
        );
    }
    Ok(q.load(conn)?)
}

pub fn find(conn: &mut AnyConnection, hub_seq: i64, id: &str) -> StoreResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::id.eq(id))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// Members with a seat (active or invited): what the safeguard's percentage is of.
pub fn seated(conn: &mut AnyConnection, hub_seq: i64) -> StoreResult<i64> {
    Ok(members::table
        .filter(members::hub_seq.eq(hub_seq))
        .filter(members::meta_status.eq_any(["active", "invited"]))
        .count()
        .get_result(conn)?)
}
