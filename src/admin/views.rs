//! What the admin API reads and writes: request bodies parsed into service inputs, and
//! rows rendered into the contract's JSON (snake_case, RFC 3339 times, never a secret).

use base64::Engine;
use serde_json::{json, Map, Value};

use super::problem::Problem;
use crate::access::{AssetKind, Grantee, HubRole, Role};
use crate::crypto::Secret;
use crate::service::hubs::{ConnectHub, GrantPlan, GrantPlanRequest, NewGrant};
use crate::store::hubs::{GrantView, HubCounts, HubRow};
use crate::store::tasks::{TaskCall, TaskRow};

pub fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{seq}"))
}

pub fn decode_cursor(c: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.as_bytes())
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("after:")?
        .parse()
        .ok()
}

/// Microseconds since the epoch as RFC 3339 UTC.
pub fn time(micros: i64) -> Value {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

pub fn hub(h: &HubRow, c: &HubCounts, last_sync: Option<&TaskRow>) -> Value {
    json!({
        "id": h.id,
        "label": h.label,
        "business_id": h.business_id,
        "business_name": h.business_name,
        "app_id": h.app_id,
        "login_method": h.login_method,
        "status": h.status,
        "status_reason": h.status_reason,
        "owner": h.owner,
        "safeguard": {
            "percent": h.safeguard_percent,
            "window_minutes": h.safeguard_window_minutes,
            "max_removals": h.safeguard_max_removals,
        },
        "sync_interval_hours": h.sync_interval_hours,
        "last_sync": last_sync.map(|t| json!({
            "task_id": t.id,
            "finished_at": t.finished_at.map_or(Value::Null, time),
            "status": t.status,
        })),
        "counts": {
            "unmatched": c.unmatched,
            "onboarded": c.onboarded,
            "guest": c.guest,
            "exempted": c.exempted,
            "pending_tasks": c.pending_tasks,
            "failed_tasks": c.failed_tasks,
        },
        "created_at": time(h.created_at),
        "updated_at": time(h.updated_at),
    })
}

fn object(body: &Value) -> Result<&Map<String, Value>, Problem> {
    body.as_object()
        .ok_or_else(|| Problem::bad_request("the body must be a JSON object"))
}

fn string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, Problem> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::invalid_field(field, "must be a string")),
    }
}

fn required(obj: &Map<String, Value>, field: &str) -> Result<String, Problem> {
    string(obj, field)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Problem::invalid_field(field, "is required"))
}

fn int(obj: &Map<String, Value>, field: &str, name: &str) -> Result<Option<i32>, Problem> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| Problem::invalid_field(name, "must be an integer")),
    }
}

pub fn connect_hub(body: &Value) -> Result<ConnectHub, Problem> {
    let obj = object(body)?;
    let safeguard = match obj.get("safeguard") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Problem::invalid_field("safeguard", "must be an object")),
    };
    Ok(ConnectHub {
        label: required(obj, "label")?,
        business_id: required(obj, "business_id")?,
        app_id: required(obj, "app_id")?,
        access_token: Secret::new(required(obj, "access_token")?),
        app_secret: string(obj, "app_secret")?.map(Secret::new),
        login_method: string(obj, "login_method")?.unwrap_or_else(|| "sso".into()),
        sync_interval_hours: int(obj, "sync_interval_hours", "sync_interval_hours")?.unwrap_or(24),
        safeguard_percent: int(&safeguard, "percent", "safeguard.percent")?.unwrap_or(20),
        safeguard_window_minutes: int(&safeguard, "window_minutes", "safeguard.window_minutes")?
            .unwrap_or(60),
        safeguard_max_removals: int(&safeguard, "max_removals", "safeguard.max_removals")?,
    })
}

/// A grant's body; `known` maps the hub's assets (as its last sync saw them) to their kind.
/// `PATCH /hubs/{id}`: the fields present change.
pub fn hub_change(body: &Value) -> Result<crate::service::hubs::HubChange, Problem> {
    let obj = object(body)?;
    let known = [
        "label",
        "login_method",
        "safeguard",
        "sync_interval_hours",
        "access_token",
        "app_secret",
    ];
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Problem::invalid_field(k, "cannot be changed"));
    }
    let safeguard = match obj.get("safeguard") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(Problem::invalid_field("safeguard", "must be an object")),
    };
    let sg = safeguard.unwrap_or_default();
    Ok(crate::service::hubs::HubChange {
        label: string(obj, "label")?,
        login_method: string(obj, "login_method")?,
        sync_interval_hours: int(obj, "sync_interval_hours", "sync_interval_hours")?,
        safeguard_percent: int(&sg, "percent", "safeguard.percent")?,
        safeguard_window_minutes: int(&sg, "window_minutes", "safeguard.window_minutes")?,
        safeguard_max_removals: if sg.contains_key("max_removals") {
            Some(int(&sg, "max_removals", "safeguard.max_removals")?)
        } else {
            None
        },
        access_token: string(obj, "access_token")?.map(Secret::new),
        app_secret: string(obj, "app_secret")?.map(Secret::new),
    })
}

pub fn new_grant(
    body: &Value,
    known: &std::collections::HashMap<String, AssetKind>,
) -> Result<NewGrant, Problem> {
    let obj = object(body)?;
    let grantee = match (string(obj, "group_id")?, string(obj, "user_id")?) {
        (Some(g), None) => Grantee::Group(g),
        (None, Some(u)) => Grantee::User(u),
        _ => {
            return Err(Problem::invalid_field(
                "group_id",
                "give exactly one of group_id and user_id",
            ))
        }
    };
    let hub_role = required(obj, "hub_role")?;
    let hub_role = HubRole::parse(&hub_role).ok_or_else(|| {
        Problem::invalid_field("hub_role", "must be \"owner\" or \"collaborator\"")
    })?;
    let role = required(obj, "business_role")?;
    let role = Role::parse(&role).ok_or_else(|| {
        Problem::invalid_field("business_role", "must be \"ADMIN\" or \"EMPLOYEE\"")
    })?;
    let assets = match obj.get("assets") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => parse_assets(v, known)?,
    };
    Ok(NewGrant {
        grantee,
        hub_role,
        role,
        assets,
    })
}

type AssetGrants = Vec<(String, AssetKind, Vec<String>)>;

/// `assets: [{asset_id, tasks}]`, each asset among `known` and each task valid for its kind.
fn parse_assets(
    v: &Value,
    known: &std::collections::HashMap<String, AssetKind>,
) -> Result<AssetGrants, Problem> {
    let Value::Array(list) = v else {
        return Err(Problem::invalid_field("assets", "must be an array"));
    };
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let field = format!("assets[{i}]");
        let id = a
            .get("asset_id")
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::invalid_field(&field, "needs an asset_id"))?;
        let kind = *known.get(id).ok_or_else(|| {
            Problem::invalid_field(
                &format!("{field}.asset_id"),
                format!("{id:?} is not among the hub's assets (its last sync's list)"),
            )
        })?;
        let tasks: Vec<String> = match a.get("tasks").and_then(Value::as_array) {
            Some(t) if !t.is_empty() => t
                .iter()
                .map(|t| {
                    t.as_str().map(str::to_string).ok_or_else(|| {
                        Problem::invalid_field(&format!("{field}.tasks"), "must be strings")
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Problem::invalid_field(
                    &format!("{field}.tasks"),
                    "must list at least one task",
                ))
            }
        };
        if let Some(bad) = tasks
            .iter()
            .find(|t| !crate::service::hubs::valid_task(kind, t))
        {
            return Err(Problem::invalid_field(
                &format!("{field}.tasks"),
                format!("{bad:?} is not a task of a {}", kind.as_str()),
            ));
        }
        out.push((id.to_string(), kind, tasks));
    }
    Ok(out)
}

/// `PATCH` of a grant: `hub_role`, `business_role`, `assets` (the grantee does not change).
pub fn grant_change(
    body: &Value,
    known: &std::collections::HashMap<String, AssetKind>,
) -> Result<crate::service::hubs::GrantChange, Problem> {
    let obj = object(body)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["hub_role", "business_role", "assets"].contains(&k.as_str()))
    {
        return Err(Problem::invalid_field(k, "cannot be changed"));
    }
    Ok(crate::service::hubs::GrantChange {
        hub_role: string(obj, "hub_role")?
            .map(|r| {
                HubRole::parse(&r).ok_or_else(|| {
                    Problem::invalid_field("hub_role", "must be \"owner\" or \"collaborator\"")
                })
            })
            .transpose()?,
        role: string(obj, "business_role")?
            .map(|r| {
                Role::parse(&r).ok_or_else(|| {
                    Problem::invalid_field("business_role", "must be \"ADMIN\" or \"EMPLOYEE\"")
                })
            })
            .transpose()?,
        assets: match obj.get("assets") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(v) => Some(parse_assets(v, known)?),
        },
    })
}

/// The body of `POST /hubs/{id}/grants/plan`: a create's body, `{grant_id, change}` or
/// `{grant_id, delete: true}`.
pub fn grant_plan_request(
    body: &Value,
    known: &std::collections::HashMap<String, AssetKind>,
) -> Result<GrantPlanRequest, Problem> {
    let obj = object(body)?;
    let Some(grant_id) = string(obj, "grant_id")? else {
        return Ok(GrantPlanRequest::Create(new_grant(body, known)?));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["grant_id", "change", "delete"].contains(&k.as_str()))
    {
        return Err(Problem::invalid_field(
            k,
            "is not allowed with grant_id (give change or delete)",
        ));
    }
    match (obj.get("change"), obj.get("delete")) {
        (Some(change), None) => Ok(GrantPlanRequest::Change {
            grant_id,
            change: grant_change(change, known)?,
        }),
        (None, Some(Value::Bool(true))) => Ok(GrantPlanRequest::Delete { grant_id }),
        (None, Some(_)) => Err(Problem::invalid_field("delete", "must be true")),
        _ => Err(Problem::invalid_field(
            "change",
            "give exactly one of change {...} and delete: true",
        )),
    }
}

/// People listed in a plan at most (the summary counts everyone).
const PLAN_LIST_LIMIT: usize = 1000;

pub fn grant_plan(hub_id: &str, plan: &GrantPlan) -> Value {
    let count = |action: &str| plan.people.iter().filter(|p| p.action == action).count();
    let affected: Vec<Value> = plan
        .people
        .iter()
        .filter(|p| p.action != "none")
        .take(PLAN_LIST_LIMIT)
        .map(|p| {
            json!({"user_id": p.user_id, "email": p.email, "member_id": p.member_id,
                   "action": p.action, "calls": p.calls})
        })
        .collect();
    let truncated = affected.len() < plan.people.len() - count("none");
    json!({
        "hub_id": hub_id,
        "summary": {"reached": plan.people.len(), "invite": count("invite"),
                    "change": count("change"), "remove": count("remove"),
                    "unchanged": count("none")},
        "people": affected,
        "truncated": truncated,
    })
}

/// A SCIM token as listed: never its secret or hash.
pub fn scim_token(t: &crate::service::tokens::TokenInfo) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_at": time(t.created_at),
        "last_used_at": t.last_used_at.map_or(Value::Null, time),
        "revoked_at": t.revoked_at.map_or(Value::Null, time),
    })
}

/// `{name}` of `POST /scim-tokens`.
pub fn scim_token_name(body: &Value) -> Result<String, Problem> {
    let obj = object(body)?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "name") {
        return Err(Problem::invalid_field(k, "is not a field of a SCIM token"));
    }
    required(obj, "name")
}

/// `{user_id, hub_role}` of a member match.
pub fn member_match(body: &Value) -> Result<(String, HubRole), Problem> {
    let obj = object(body)?;
    let user_id = required(obj, "user_id")?;
    let hub_role = HubRole::parse(&required(obj, "hub_role")?).ok_or_else(|| {
        Problem::invalid_field("hub_role", "must be \"owner\" or \"collaborator\"")
    })?;
    Ok((user_id, hub_role))
}

/// `{name, email, partner_business_id?}` of a guest.
pub fn new_guest(body: &Value) -> Result<(String, String, Option<String>), Problem> {
    let obj = object(body)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["name", "email", "partner_business_id"].contains(&k.as_str()))
    {
        return Err(Problem::invalid_field(k, "is not a field of a guest"));
    }
    Ok((
        required(obj, "name")?,
        required(obj, "email")?,
        string(obj, "partner_business_id")?,
    ))
}

pub fn guest(g: &crate::store::guests::GuestRow) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "email": g.email,
        "partner_business_id": g.partner_business_id,
        "created_by": g.created_by,
        "created_at": time(g.created_at),
    })
}

/// `{member_id}` of a claim.
pub fn claimed_member(body: &Value) -> Result<String, Problem> {
    required(object(body)?, "member_id")
}

/// `{reason}` of an exemption (required, not blank).
pub fn exemption_reason(body: &Value) -> Result<String, Problem> {
    required(object(body)?, "reason")
}

pub fn grant(hub_id: &str, g: &GrantView) -> Value {
    let assets: Value = serde_json::from_str::<Vec<Value>>(&g.grant.assets)
        .map(|list| {
            Value::Array(
                list.into_iter()
                    .map(|a| json!({"asset_id": a["asset_id"], "tasks": a["tasks"]}))
                    .collect(),
            )
        })
        .unwrap_or_else(|_| json!([]));
    json!({
        "id": g.grant.id,
        "hub_id": hub_id,
        "grantee": {"type": g.grantee_type, "id": g.grantee_id, "display": g.grantee_display},
        "hub_role": g.grant.hub_role,
        "business_role": g.grant.business_role,
        "assets": assets,
        "created_at": time(g.grant.created_at),
        "updated_at": time(g.grant.updated_at),
    })
}

pub fn task(t: &TaskRow, hub_id: &str, calls: Option<&[TaskCall]>) -> Value {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null)
    };
    let mut v = json!({
        "id": t.id,
        "hub_id": hub_id,
        "kind": t.kind,
        "subject": {"user_id": t.user_id, "member_id": t.member_id, "email": t.email},
        "trigger": t.triggered_by,
        "status": t.status,
        "attempts": t.attempts,
        "max_attempts": t.max_attempts,
        "next_run_at": time(t.run_after),
        "status_reason": t.status_reason,
        "last_error": parse(&t.last_error),
        "progress": parse(&t.progress),
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
        "finished_at": t.finished_at.map_or(Value::Null, time),
    });
    if let Some(calls) = calls {
        v["changes"] = Value::Array(
            calls
                .iter()
                .map(|c| {
                    json!({"call": c.request, "target": c.target, "outcome": c.outcome,
                           "attempt": c.attempt, "at": time(c.at)})
                })
                .collect(),
        );
    }
    v
}

pub fn asset(a: &crate::store::hubs::AssetRow) -> Value {
    json!({"id": a.asset_id, "kind": a.kind, "name": a.name, "owned_by": a.owned_by})
}

/// A member; `user` is the matched directory user's (id, userName, display), when matched.
/// The first line of the members CSV.
pub const MEMBERS_CSV_HEADER: &str = "id,state,email,name,meta_status,business_role,\
business_user_id,invitation_id,user_id,user_name,hub_role,granted_by,exemption_reason,\
exemption_by,partner_business_id,first_seen_at,last_seen_at\r\n";

/// One CSV field (RFC 4180 quoting). A text that a spreadsheet would run as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`: names and
/// emails come from Meta and the directory, not from the admin reading the file.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A member as one CSV line (`MEMBERS_CSV_HEADER`'s columns).
pub fn member_csv_line(
    m: &crate::store::members::MemberRow,
    user: Option<&super::MatchedUser>,
) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let when = |micros: i64| time(micros).as_str().unwrap_or_default().to_string();
    let granted_by = user.map_or_else(String::new, |u| {
        u.granted_by
            .iter()
            .map(|(grant, group)| match group {
                Some((_, display)) => format!("{grant} (group {display})"),
                None => grant.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    let fields = [
        m.id.clone(),
        m.state.clone(),
        m.email.clone(),
        opt(&m.name),
        m.meta_status.clone(),
        opt(&m.business_role),
        opt(&m.business_user_id),
        opt(&m.invitation_id),
        opt(&m.user_id),
        user.map(|u| u.user_name.clone()).unwrap_or_default(),
        opt(&m.hub_role),
        granted_by,
        opt(&m.exemption_reason),
        opt(&m.exemption_by),
        opt(&m.partner_business_id),
        when(m.first_seen_at),
        when(m.last_seen_at),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

pub fn member(
    hub_id: &str,
    m: &crate::store::members::MemberRow,
    user: Option<&super::MatchedUser>,
) -> Value {
    let assets: Value = serde_json::from_str::<Map<String, Value>>(&m.assets)
        .map(|map| {
            Value::Array(
                map.into_iter()
                    .map(|(id, v)| json!({"asset_id": id, "tasks": v["tasks"]}))
                    .collect(),
            )
        })
        .unwrap_or_else(|_| json!([]));
    json!({
        "id": m.id,
        "hub_id": hub_id,
        "state": m.state,
        "meta": {
            "business_user_id": m.business_user_id,
            "invitation_id": m.invitation_id,
            "status": m.meta_status,
            "email": m.email,
            "name": m.name,
            "business_role": m.business_role,
            "assets": assets,
        },
        "user": user.map(|u| json!({"id": u.id, "user_name": u.user_name, "display": u.display})),
        "granted_by": user.map_or_else(Vec::new, |u| {
            u.granted_by
                .iter()
                .map(|(grant_id, group)| match group {
                    Some((id, display)) => json!({"grant_id": grant_id, "via": "group",
                                                  "group": {"id": id, "display": display}}),
                    None => json!({"grant_id": grant_id, "via": "user", "group": null}),
                })
                .collect()
        }),
        "hub_role": m.hub_role,
        "exemption": m.exemption_reason.as_ref().map(|r| json!({
            "reason": r, "by": m.exemption_by, "at": m.exemption_at.map_or(Value::Null, time),
        })),
        "partner_business_id": m.partner_business_id,
        "first_seen_at": time(m.first_seen_at),
        "last_seen_at": time(m.last_seen_at),
    })
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_run_as_formulas() {
        assert_eq!(csv_field("ada@example.com"), "ada@example.com");
        assert_eq!(csv_field("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field(""), "");
    }
}
