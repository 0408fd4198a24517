//! The directory service: every change to directory users and groups goes through one
//! function here, which owns the database transaction. The SCIM handlers parse, validate
//! and authorise, then call these; the reconcile engine will enqueue its tasks inside the
//! same transactions, and the audit trail will record the [`Actor`] passed in.

use serde_json::{Map, Value};

use super::{Actor, ServiceError};
use crate::store::groups::{self, GroupRow, MemberRow};
use crate::store::sql::{fold, Col, Cond};
use crate::store::tasks::{self, Enqueue};
use crate::store::users::{self, UserColumns, UserRow, ValueRow};
use crate::store::{now_micros, AnyConnection, Store, StoreError};

/// A precondition from `If-Match`: `*`, or the versions any of which may match (a tag
/// that is not one of ours contributes none, so it never matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<i64>),
}

/// A user as read: the row plus its parsed document and its groups.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub row: UserRow,
    pub doc: Map<String, Value>,
    pub groups: Vec<(String, String)>,
}

/// A group as read, with its members when they were asked for.
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub row: GroupRow,
    pub members: Option<Vec<MemberRow>>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// A list request after validation.
#[derive(Debug, Clone)]
pub struct ListSpec {
    pub cond: Cond,
    pub sort: Option<(Col, bool)>,
    /// 0-based.
    pub offset: i64,
    pub limit: i64,
}

#[derive(Clone)]
pub struct Directory {
    store: Store,
    /// `engine.max_attempts`, given to the tasks the directory's changes enqueue.
    max_attempts: i32,
}

/// A change to a user's document that the caller knows how to make: the SCIM edge hands in
/// a PATCH request's operations. The directory decides where it is computed and stores it.
pub trait UserPatch: Send + Sync + 'static {
    /// Is it worth computing outside the write transaction? (Computing every PATCH outside
    /// costs an extra read; a large one computed inside holds SQLite's one writer.)
    fn is_heavy(&self) -> bool;
    /// The document after the change, validated.
    fn apply(&self, doc: Map<String, Value>) -> Result<Map<String, Value>, ServiceError>;
}

/// One membership change, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
}

/// A change to a group: attributes (`Some(None)` = remove) and members.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupChange {
    pub display_name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub members: Vec<MemberChange>,
}

/// The enterprise extension's schema URN, under which a user document keeps its
/// enterprise attributes.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The multi-valued attributes of a user whose values are copied into value rows (for
/// filters such as `emails[type eq "work"].value eq "..."`). `groups` is derived and
/// `addresses` has no `value`; a test checks this list against the SCIM schema.
pub const VALUE_ATTRS: [&str; 7] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509Certificates",
];

/// Could this be the id of a resource? Anything else is answered "not found" without a
/// query (and never reaches a database that would refuse its bytes).
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control)
}

fn check_version(if_match: &Option<IfMatch>, version: i64) -> Result<(), ServiceError> {
    match if_match {
        None | Some(IfMatch::Any) => Ok(()),
        Some(IfMatch::Versions(v)) if v.contains(&version) => Ok(()),
        Some(_) => Err(ServiceError::PreconditionFailed(format!(
            "If-Match does not match the current version W/\"{version}\""
        ))),
    }
}

/// A transaction's result: an error decided inside it (rolls it back) or a store error.
enum TxError {
    Service(ServiceError),
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}
impl From<ServiceError> for TxError {
    fn from(e: ServiceError) -> Self {
        TxError::Service(e)
    }
}
impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Store(e.into())
    }
}

impl Directory {
    pub fn new(store: Store, max_attempts: u32) -> Self {
        Directory {
            store,
            max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
        }
    }

    /// How this actor's changes enqueue their reconciles (the time is taken when the
    /// transaction runs).
    fn enqueue(&self, actor: &Actor) -> Enqueue<'static> {
        Enqueue {
            triggered_by: match actor {
                Actor::ScimToken { .. } => "scim",
                Actor::Admin { .. } | Actor::Cli => "admin",
                Actor::Task { .. } => "sync",
            },
            max_attempts: self.max_attempts,
            now: 0,
        }
    }

    /// Runs `f` in one write transaction; any error returned by `f` rolls it back.
    async fn tx<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, TxError> + Send + 'static,
    {
        self.store.write(f).await.map_err(|e| match e {
            TxError::Service(e) => e,
            TxError::Store(e) => e.into(),
        })
    }

    // ---------------------------------------------------------------- users

    pub async fn create_user(
        &self,
        actor: &Actor,
        doc: Map<String, Value>,
    ) -> Result<UserRecord, ServiceError> {
        let (cols, values) = user_columns(&doc);
        let attrs = Value::Object(doc.clone()).to_string();
        let id = crate::crypto::new_id();
        let row = self
            .tx(move |c| Ok(users::insert(c, &id, &cols, &attrs, &values, now_micros())?))
            .await?;
        tracing::info!(user.id = %row.id, actor = %actor, "directory user created");
        Ok(UserRecord {
            row,
            doc,
            groups: vec![],
        })
    }

    pub async fn get_user(&self, id: &str) -> Result<UserRecord, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_user(StoreError::NotFound));
        }
        let id = id.to_string();
        let (row, groups) = self
            .store
            .read(move |c| users::find_with_groups(c, &id, false)?.ok_or(StoreError::NotFound))
            .await
            .map_err(not_found_user)?;
        let doc = parse_doc(&row)?;
        Ok(UserRecord { row, doc, groups })
    }

    pub async fn replace_user(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
        doc: Map<String, Value>,
    ) -> Result<UserRecord, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_user(StoreError::NotFound));
        }
        let id = id.to_string();
        let (cols, values) = user_columns(&doc);
        let attrs = Value::Object(doc.clone()).to_string();
        let e = self.enqueue(actor);
        let (row, groups) = self
            .tx(move |c| {
                let (current, groups) = users::find_with_groups(c, &id, true)?
                    .ok_or_else(|| not_found_user(StoreError::NotFound))?;
                check_version(&if_match, current.version)?;
                let row = if current.attrs == attrs {
                    current
                } else {
                    let before = user_columns(&parse_doc(&current)?);
                    store_patch(c, &current, &before, &(cols, values), &attrs, e)?
                };
                Ok((row, groups))
            })
            .await?;
        tracing::info!(user.id = %row.id, actor = %actor, "directory user replaced");
        Ok(UserRecord { row, doc, groups })
    }

    /// Applies a user PATCH. A heavy one ([`is_heavy`]) is computed (parsing the stored
    /// document, applying the operations, validating, serialising) off the writer, on a read
    /// of the current row; the write then only stores the result, and only if the row is
    /// still the version that was patched. If another write got there first the PATCH is applied again to the
    /// new version (up to [`PATCH_ATTEMPTS`] times, then inside the write transaction, under
    /// the row lock, so it always goes through). On SQLite the one writer thread is thus
    /// never held by a large PATCH's computation.
    pub async fn patch_user(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
        patch: impl UserPatch,
    ) -> Result<UserRecord, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_user(StoreError::NotFound));
        }
        let e = self.enqueue(actor);
        let heavy = patch.is_heavy();
        let patch = std::sync::Arc::new(patch);
        // An everyday PATCH (a few operations) costs less than a read: it runs inside the
        // write, where the SQLite writer commits many together.
        let attempts = if heavy { PATCH_ATTEMPTS } else { 0 };
        for _ in 0..attempts {
            let (key, read_patch) = (id.to_string(), patch.clone());
            let read = self
                .store
                .read(move |c| {
                    let Some((current, groups)) = users::find_with_groups(c, &key, false)? else {
                        return Ok(None);
                    };
                    let result = patched(&current, &*read_patch);
                    Ok(Some((current, groups, result)))
                })
                .await?;
            let (current, groups, result) =
                read.ok_or_else(|| not_found_user(StoreError::NotFound))?;
            check_version(&if_match, current.version)?;
            let Patched {
                doc,
                attrs,
                before,
                after,
            } = result?;
            // Entra re-sends unchanged values every cycle: no change, no new version.
            if attrs == current.attrs {
                return Ok(UserRecord {
                    row: current,
                    doc,
                    groups,
                });
            }
            let stored = self
                .store
                .write(move |c| -> Result<UserRow, TxError> {
                    Ok(store_patch(c, &current, &before, &after, &attrs, e)?)
                })
                .await;
            match stored {
                Ok(row) => {
                    tracing::info!(user.id = %row.id, actor = %actor, version = row.version, "directory user patched");
                    return Ok(UserRecord { row, doc, groups });
                }
                // Changed since it was read: patch the new version.
                Err(TxError::Store(StoreError::VersionMismatch)) => continue,
                Err(TxError::Store(e)) => return Err(e.into()),
                Err(TxError::Service(e)) => return Err(e),
            }
        }
        let id = id.to_string();
        let (row, doc, groups) = self
            .tx(move |c| {
                let (current, groups) = users::find_with_groups(c, &id, true)?
                    .ok_or_else(|| not_found_user(StoreError::NotFound))?;
                check_version(&if_match, current.version)?;
                let Patched {
                    doc,
                    attrs,
                    before,
                    after,
                } = patched(&current, &*patch)?;
                let row = if attrs == current.attrs {
                    current
                } else {
                    store_patch(c, &current, &before, &after, &attrs, e)?
                };
                Ok((row, doc, groups))
            })
            .await?;
        tracing::info!(user.id = %row.id, actor = %actor, version = row.version, "directory user patched");
        Ok(UserRecord { row, doc, groups })
    }

    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
    ) -> Result<(), ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_user(StoreError::NotFound));
        }
        let e = self.enqueue(actor);
        let uid = id.to_string();
        self.tx(move |c| {
            let current = users::find_for_update(c, &uid)?
                .ok_or_else(|| not_found_user(StoreError::NotFound))?;
            check_version(&if_match, current.version)?;
            // Before the delete, while the user's grants and memberships still say where
            // the user has access.
            tasks::enqueue_for_user(c, current.seq, &current.id, at_now(e))?;
            users::delete(c, current.seq)?;
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %id, actor = %actor, "directory user deleted");
        Ok(())
    }

    pub async fn list_users(&self, spec: ListSpec) -> Result<Page<UserRecord>, ServiceError> {
        let backend = self.store.backend();
        let (total, rows) = self
            .store
            .read(move |c| users::list(c, backend, &spec.cond, spec.sort, spec.offset, spec.limit))
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for (row, groups) in rows {
            let doc = parse_doc(&row)?;
            items.push(UserRecord { row, doc, groups });
        }
        Ok(Page { total, items })
    }

    // ---------------------------------------------------------------- groups

    pub async fn create_group(
        &self,
        actor: &Actor,
        display_name: String,
        external_id: Option<String>,
        members: Vec<String>,
    ) -> Result<GroupRecord, ServiceError> {
        let id = crate::crypto::new_id();
        let (row, members) = self
            .tx(move |c| {
                let row =
                    groups::insert(c, &id, &display_name, external_id.as_deref(), now_micros())?;
                groups::add_members(c, row.seq, &members)?;
                let members = groups::members(c, &[row.seq])?;
                Ok((row, members))
            })
            .await?;
        tracing::info!(group.id = %row.id, actor = %actor, members = members.len(), "directory group created");
        Ok(GroupRecord {
            row,
            members: Some(members),
        })
    }

    pub async fn get_group(
        &self,
        id: &str,
        with_members: bool,
    ) -> Result<GroupRecord, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_group(StoreError::NotFound));
        }
        let id = id.to_string();
        let (row, members) = self
            .store
            .read(move |c| {
                let row = groups::find(c, &id)?.ok_or(StoreError::NotFound)?;
                let members = if with_members {
                    Some(groups::members(c, &[row.seq])?)
                } else {
                    None
                };
                Ok((row, members))
            })
            .await
            .map_err(not_found_group)?;
        Ok(GroupRecord { row, members })
    }

    pub async fn replace_group(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
        display_name: String,
        external_id: Option<String>,
        members: Vec<String>,
    ) -> Result<GroupRecord, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_group(StoreError::NotFound));
        }
        let e = self.enqueue(actor);
        let id = id.to_string();
        let (row, members) = self
            .tx(move |c| {
                let current = groups::find_for_update(c, &id)?
                    .ok_or_else(|| not_found_group(StoreError::NotFound))?;
                check_version(&if_match, current.version)?;
                // A PUT carries the whole member list (Okta's wizard-built apps push
                // membership this way): only the rows of members who come or go are
                // written, and an unchanged group keeps its version.
                let before = groups::members(c, &[current.seq])?;
                let kept: std::collections::HashSet<&str> =
                    members.iter().map(String::as_str).collect();
                let present: std::collections::HashSet<&str> =
                    before.iter().map(|m| m.user_id.as_str()).collect();
                let leaving: Vec<String> = before
                    .iter()
                    .filter(|m| !kept.contains(m.user_id.as_str()))
                    .map(|m| m.user_id.clone())
                    .collect();
                let mut seen = std::collections::HashSet::new();
                let joining: Vec<String> = members
                    .iter()
                    .filter(|id| !present.contains(id.as_str()) && seen.insert(id.as_str()))
                    .cloned()
                    .collect();
                let removed = groups::remove_members(c, current.seq, &leaving)?;
                let added = groups::add_members(c, current.seq, &joining)?;
                if added + removed > 0 {
                    let moved: Vec<String> = leaving.iter().chain(&joining).cloned().collect();
                    tasks::enqueue_for_group_change(c, current.seq, &moved, at_now(e))?;
                }
                let changed = added + removed > 0
                    || display_name != current.display_name
                    || external_id != current.external_id;
                if !changed {
                    return Ok((current, before));
                }
                let row = groups::update(
                    c,
                    &current,
                    &display_name,
                    external_id.as_deref(),
                    now_micros(),
                )?;
                let members = if added + removed > 0 {
                    groups::members(c, &[row.seq])?
                } else {
                    before
                };
                Ok((row, members))
            })
            .await?;
        tracing::info!(group.id = %row.id, actor = %actor, "directory group replaced");
        Ok(GroupRecord {
            row,
            members: Some(members),
        })
    }

    /// Applies a group PATCH. Member changes touch only the named members' rows.
    pub async fn patch_group(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
        change: GroupChange,
    ) -> Result<GroupRow, ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_group(StoreError::NotFound));
        }
        let e = self.enqueue(actor);
        let id = id.to_string();
        let (row, added, removed) = self
            .tx(move |c| {
                let current = groups::find_for_update(c, &id)?
                    .ok_or_else(|| not_found_group(StoreError::NotFound))?;
                check_version(&if_match, current.version)?;
                let (mut added, mut removed) = (0, 0);
                for m in &change.members {
                    match m {
                        MemberChange::Add(ids) => {
                            added += groups::add_members(c, current.seq, ids)?
                        }
                        MemberChange::Remove(ids) => {
                            removed += groups::remove_members(c, current.seq, ids)?
                        }
                        MemberChange::RemoveAll => {
                            tasks::enqueue_for_group(c, current.seq, at_now(e))?;
                            removed += groups::remove_all_members(c, current.seq)?
                        }
                    }
                }
                if added + removed > 0 {
                    let moved: Vec<String> = change
                        .members
                        .iter()
                        .flat_map(|m| match m {
                            MemberChange::Add(ids) | MemberChange::Remove(ids) => ids.as_slice(),
                            MemberChange::RemoveAll => &[],
                        })
                        .cloned()
                        .collect();
                    tasks::enqueue_for_group_change(c, current.seq, &moved, at_now(e))?;
                }
                let display = change
                    .display_name
                    .clone()
                    .unwrap_or_else(|| current.display_name.clone());
                let external = match &change.external_id {
                    Some(e) => e.clone(),
                    None => current.external_id.clone(),
                };
                let changed = added + removed > 0
                    || display != current.display_name
                    || external != current.external_id;
                let row = if changed {
                    groups::update(c, &current, &display, external.as_deref(), now_micros())?
                } else {
                    current
                };
                Ok((row, added, removed))
            })
            .await?;
        tracing::info!(group.id = %row.id, actor = %actor, added, removed, "directory group patched");
        Ok(row)
    }

    pub async fn delete_group(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<IfMatch>,
    ) -> Result<(), ServiceError> {
        if !plausible_id(id) {
            return Err(not_found_group(StoreError::NotFound));
        }
        let e = self.enqueue(actor);
        let gid = id.to_string();
        self.tx(move |c| {
            let current = groups::find_for_update(c, &gid)?
                .ok_or_else(|| not_found_group(StoreError::NotFound))?;
            check_version(&if_match, current.version)?;
            // Before the delete: its grants go with it.
            tasks::enqueue_for_group(c, current.seq, at_now(e))?;
            groups::delete(c, current.seq)?;
            Ok(())
        })
        .await?;
        tracing::info!(group.id = %id, actor = %actor, "directory group deleted");
        Ok(())
    }

    pub async fn list_groups(
        &self,
        spec: ListSpec,
        with_members: bool,
    ) -> Result<Page<GroupRecord>, ServiceError> {
        let backend = self.store.backend();
        let (total, rows, members) = self
            .store
            .read(move |c| {
                let (total, rows) =
                    groups::list(c, backend, &spec.cond, spec.sort, spec.offset, spec.limit)?;
                let members = if with_members {
                    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
                    Some(groups::members(c, &seqs)?)
                } else {
                    None
                };
                Ok((total, rows, members))
            })
            .await?;
        // Members by group, in one pass (not one pass over all members per group).
        let mut by_group: Option<std::collections::HashMap<i64, Vec<MemberRow>>> =
            members.map(|all| {
                let mut map = std::collections::HashMap::new();
                for m in all {
                    map.entry(m.group_seq).or_insert_with(Vec::new).push(m);
                }
                map
            });
        let items = rows
            .into_iter()
            .map(|row| {
                let m = by_group
                    .as_mut()
                    .map(|map| map.remove(&row.seq).unwrap_or_default());
                GroupRecord { row, members: m }
            })
            .collect();
        Ok(Page { total, items })
    }
}

fn not_found_user(e: StoreError) -> ServiceError {
    if e.is_not_found() {
        ServiceError::not_found("no User with that id")
    } else {
        e.into()
    }
}

fn not_found_group(e: StoreError) -> ServiceError {
    if e.is_not_found() {
        ServiceError::not_found("no Group with that id")
    } else {
        e.into()
    }
}

/// How often a heavy PATCH computed outside the write is retried when the row changed
/// meanwhile, before it is applied inside the write transaction.
const PATCH_ATTEMPTS: usize = 3;

/// A user PATCH applied to a stored row: the new document, its text, and the column copies
/// and value rows before and after.
struct Patched {
    doc: Map<String, Value>,
    attrs: String,
    before: Copies,
    after: Copies,
}

fn patched(current: &UserRow, patch: &dyn UserPatch) -> Result<Patched, ServiceError> {
    let doc = parse_doc(current)?;
    let before = user_columns(&doc);
    let doc = patch.apply(doc)?;
    let attrs = Value::Object(doc.clone()).to_string();
    let after = user_columns(&doc);
    Ok(Patched {
        doc,
        attrs,
        before,
        after,
    })
}

type Copies = (UserColumns, Vec<ValueRow>);

/// Stores a changed user over `current` (only if it is still that version), and queues
/// the reconciles of the hubs where the change can matter: when the user was activated or
/// deactivated, or the address an invitation goes to changed.
fn store_patch(
    c: &mut AnyConnection,
    current: &UserRow,
    before: &Copies,
    after: &Copies,
    attrs: &str,
    e: Enqueue<'static>,
) -> Result<UserRow, StoreError> {
    let change = users::Change {
        before: (&before.0, &before.1),
        after: (&after.0, &after.1),
    };
    let row = users::update(c, current, change, attrs, now_micros())?;
    if access_relevant(before, after) {
        tasks::enqueue_for_user(c, row.seq, &row.id, at_now(e))?;
    }
    Ok(row)
}

/// Does a change of a user matter to Meta? Its `active` flag, its `userName`, or its
/// emails (the invitation goes to the primary one).
fn access_relevant(before: &Copies, after: &Copies) -> bool {
    let emails = |c: &Copies| -> Vec<ValueRow> {
        c.1.iter().filter(|v| v.attr == "emails").cloned().collect()
    };
    before.0.active != after.0.active
        || before.0.user_name != after.0.user_name
        || emails(before) != emails(after)
}

fn at_now(e: Enqueue<'static>) -> Enqueue<'static> {
    Enqueue {
        now: now_micros(),
        ..e
    }
}

fn parse_doc(row: &UserRow) -> Result<Map<String, Value>, ServiceError> {
    match serde_json::from_str::<Value>(&row.attrs) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ServiceError::internal(&format!(
            "stored document of user {} is not a JSON object",
            row.id
        ))),
    }
}

/// The column copies and value rows of a validated user document.
pub fn user_columns(doc: &Map<String, Value>) -> (UserColumns, Vec<ValueRow>) {
    let s = |path: &[&str]| {
        let (last, parents) = path.split_last()?;
        let mut obj = doc;
        for p in parents {
            obj = obj.get(*p)?.as_object()?;
        }
        obj.get(*last)?.as_str().map(str::to_string)
    };
    let e = |name: &str| {
        doc.get(ENTERPRISE_SCHEMA)
            .and_then(|x| x.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let user_name = s(&["userName"]).unwrap_or_default();
    let cols = UserColumns {
        user_name_ci: fold(&user_name),
        user_name,
        external_id: s(&["externalId"]),
        display_name: s(&["displayName"]),
        nick_name: s(&["nickName"]),
        title: s(&["title"]),
        user_type: s(&["userType"]),
        preferred_language: s(&["preferredLanguage"]),
        locale: s(&["locale"]),
        timezone: s(&["timezone"]),
        profile_url: s(&["profileUrl"]),
        // SCIM leaves `active` unset meaning active; an IdP deactivates explicitly.
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        name_formatted: s(&["name", "formatted"]),
        name_family: s(&["name", "familyName"]),
        name_given: s(&["name", "givenName"]),
        name_middle: s(&["name", "middleName"]),
        name_prefix: s(&["name", "honorificPrefix"]),
        name_suffix: s(&["name", "honorificSuffix"]),
        employee_number: e("employeeNumber"),
        cost_center: e("costCenter"),
        organization: e("organization"),
        division: e("division"),
        department: e("department"),
        manager_id: doc
            .get(ENTERPRISE_SCHEMA)
            .and_then(|x| x.get("manager"))
            .and_then(|m| m.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let mut values = Vec::new();
    for attr in VALUE_ATTRS {
        if let Some(Value::Array(items)) = doc.get(attr) {
            for item in items {
                let get = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
                values.push(ValueRow {
                    attr,
                    value: get("value"),
                    type_: get("type"),
                    is_primary: item
                        .get("primary")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    display: get("display"),
                });
            }
        }
    }
    (cols, values)
}
