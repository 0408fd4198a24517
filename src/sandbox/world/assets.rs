//! Asset calls: asset nodes, `assigned_users`, a person's `assigned_*` edges, task
//! vocabularies and read-back expansion, partner permission lists (reference 5, 6.1).

use super::*;

/// Tasks as read back: higher tasks imply lower ones (reference 5.3 role→task table).
pub(super) fn expand_tasks(kind: AssetKind, tasks: &[String]) -> Vec<String> {
    let implied: &[(&str, &[&str])] = match kind {
        AssetKind::AdAccount => &[
            ("MANAGE", &["ADVERTISE", "ANALYZE"]),
            ("ADVERTISE", &["ANALYZE"]),
        ],
        AssetKind::Page => &[
            (
                "MANAGE",
                &["CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"],
            ),
            ("CREATE_CONTENT", &["MODERATE", "ADVERTISE", "ANALYZE"]),
            ("MODERATE", &["ADVERTISE", "ANALYZE"]),
            ("ADVERTISE", &["ANALYZE"]),
        ],
        AssetKind::Catalog => &[],
    };
    let mut out: Vec<String> = Vec::new();
    for t in tasks {
        if !out.contains(t) {
            out.push(t.clone());
        }
        for (from, to) in implied {
            if t == from {
                for x in *to {
                    if !out.iter().any(|o| o == x) {
                        out.push((*x).to_string());
                    }
                }
            }
        }
    }
    out
}

pub(super) fn edge_kind(edge: &str) -> AssetKind {
    if edge.ends_with("pages") {
        AssetKind::Page
    } else if edge.ends_with("ad_accounts") {
        AssetKind::AdAccount
    } else {
        AssetKind::Catalog
    }
}

pub(super) fn asset_defaults(kind: AssetKind) -> &'static [&'static str] {
    match kind {
        AssetKind::AdAccount => &["id", "account_id", "name"],
        _ => &["id", "name"],
    }
}

pub(super) fn permitted_for(a: &Asset) -> Vec<&'static str> {
    match a.kind {
        AssetKind::AdAccount => AD_ACCOUNT_TASKS[..4].to_vec(),
        AssetKind::Catalog => CATALOG_TASKS.to_vec(),
        AssetKind::Page if a.unified_tasks => PAGE_UNIFIED_TASKS[..6].to_vec(),
        AssetKind::Page => vec![
            "MANAGE",
            "CREATE_CONTENT",
            "MODERATE",
            "MESSAGING",
            "ADVERTISE",
            "ANALYZE",
        ],
    }
}

pub(super) fn validate_tasks(a: &Asset, tasks: &[String]) -> GraphResult<()> {
    let allowed: &[&str] = match a.kind {
        AssetKind::AdAccount => &AD_ACCOUNT_TASKS,
        AssetKind::Catalog => &CATALOG_TASKS,
        AssetKind::Page if a.unified_tasks => &PAGE_UNIFIED_TASKS,
        AssetKind::Page => PAGE_TASKS,
    };
    for (i, t) in tasks.iter().enumerate() {
        if !allowed.contains(&t.as_str()) {
            if a.kind == AssetKind::Page && a.unified_tasks {
                // The message a live Page with the unified vocabulary gave (reference 5.3).
                return Err(GraphFault::invalid_param(format!(
                    "Your request has violated JSON schema constraint 'enum' for the JSON field 'tasks.{i}' with value '{t}', expected : '[{}]' but got {t}",
                    PAGE_UNIFIED_TASKS.join(", ")
                )));
            }
            return Err(GraphFault::invalid_param(format!(
                "Param tasks[{i}] must be one of {{{}}}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

pub(super) fn partner_json(id: &str, name: &str, ag: &Agency) -> Value {
    let perms = |ids: &[String]| -> Vec<Value> {
        ids.iter()
            .map(|i| {
                json!({
                    "id": i, "permitted_tasks": ag.permitted_tasks, "access_status": ag.access_status,
                    "access_requested_time": "2026-01-07T23:26:09+0000",
                    "access_updated_time": "2026-01-08T10:02:11+0000",
                })
            })
            .collect()
    };
    json!({
        "id": id, "name": name,
        "page_permissions": perms(&ag.pages),
        "adaccount_permissions": perms(&ag.ad_accounts),
        "productcatalog_permissions": perms(&ag.catalogs),
        "application_permissions": [],
        "shared_ca_count": 0,
    })
}

impl World {
    pub(super) fn asset_json(&self, a: &Asset, permitted: Option<&[String]>) -> Value {
        let owner = self.businesses.get(&a.owner);
        let business = owner.map(|o| json!({ "id": o.id, "name": o.name }));
        match a.kind {
            AssetKind::Page => {
                json!({ "id": a.id, "name": a.name, "business": business, "permitted_tasks": permitted })
            }
            AssetKind::AdAccount => json!({
                "id": a.id, "account_id": a.id.trim_start_matches("act_"), "name": a.name,
                "account_status": 1, "business": business, "permitted_tasks": permitted,
            }),
            AssetKind::Catalog => json!({
                "id": a.id, "name": a.name, "vertical": "commerce", "product_count": 0,
                "business": business, "permitted_tasks": permitted,
            }),
        }
    }

    pub(super) fn edge(
        &mut self,
        req: &Request,
        tok: &Token,
        m: Method,
        id: &str,
        edge: &str,
    ) -> GraphResult<Value> {
        let unknown = || GraphFault::unknown_object(m.verb(), id);
        let (node, owner) = self.locate(id).ok_or_else(unknown)?;
        match node {
            Node::Business => {
                if owner != tok.business_id {
                    return Err(unknown());
                }
                Self::need_scope(tok, "business_management")?;
                self.business_edge(req, tok, m, id, edge)
            }
            Node::Asset(aid) => {
                let visible = self
                    .assets
                    .get(&aid)
                    .is_some_and(|a| self.asset_visible(a, &tok.business_id));
                if !visible {
                    return Err(unknown());
                }
                match edge {
                    "assigned_users" => self.assigned_users(req, tok, m, &aid),
                    other => Err(GraphFault::unknown_path(other)),
                }
            }
            Node::Person | Node::SystemUser => {
                if owner != tok.business_id {
                    return Err(unknown());
                }
                Self::need_scope(tok, "business_management")?;
                let kind = match edge {
                    "assigned_pages" => AssetKind::Page,
                    "assigned_ad_accounts" => AssetKind::AdAccount,
                    "assigned_product_catalogs" => AssetKind::Catalog,
                    other => return Err(GraphFault::unknown_path(other)),
                };
                if m != Method::Get {
                    return Err(unknown());
                }
                let items: Vec<Value> = self
                    .assets
                    .values()
                    .filter(|a| a.kind == kind && self.asset_visible(a, &tok.business_id))
                    .filter_map(|a| {
                        a.assigned.get(id).map(|t| {
                            let mut v = self.asset_json(a, None);
                            if let Some(o) = v.as_object_mut() {
                                o.insert("tasks".into(), json!(expand_tasks(kind, t)));
                                o.insert("permitted_tasks".into(), json!(permitted_for(a)));
                            }
                            v
                        })
                    })
                    .collect();
                self.list(req, tok, items, &["id", "name", "tasks"], &ASSET_FIELDS)
            }
            Node::Invitation => Err(GraphFault::unknown_path(edge)),
        }
    }

    pub(super) fn assigned_users(
        &mut self,
        req: &Request,
        tok: &Token,
        m: Method,
        aid: &str,
    ) -> GraphResult<Value> {
        let Some(asset) = self.assets.get(aid) else {
            return Err(GraphFault::unknown_object(m.verb(), aid));
        };
        let kind = asset.kind;
        Self::need_scope(tok, "business_management")?;
        Self::need_scope(
            tok,
            match kind {
                AssetKind::Page => "pages_manage_metadata",
                AssetKind::AdAccount => "ads_management",
                AssetKind::Catalog => "catalog_management",
            },
        )?;
        // `business` is required on reads and accepted everywhere (reference 5.2).
        let business = match (m, req.params.get("business")) {
            (_, Some(b)) => b.to_string(),
            (Method::Get, None) => {
                return Err(GraphFault::invalid_param(
                    "The parameter business is required",
                ))
            }
            (_, None) => tok.business_id.clone(),
        };
        if business != tok.business_id {
            return Err(GraphFault::invalid_param(format!(
                "Param business {business} is not the business of this access token"
            )));
        }
        let b = self
            .businesses
            .get(&business)
            .ok_or_else(|| GraphFault::unknown_object(m.verb(), &business))?;
        match m {
            Method::Get => {
                let items = asset
                    .assigned
                    .iter()
                    .filter_map(|(uid, tasks)| {
                        let (name, user_type) =
                            if let Some(p) = b.people.iter().find(|p| &p.id == uid) {
                                (p.name.clone(), "business_user")
                            } else {
                                let s = b.system_users.iter().find(|s| &s.id == uid)?;
                                (s.name.clone(), "system_user")
                            };
                        Some(json!({
                            "id": uid, "name": name, "user_type": user_type,
                            "business": { "id": b.id, "name": b.name },
                            "tasks": expand_tasks(kind, tasks),
                            "permitted_tasks": permitted_for(asset),
                        }))
                    })
                    .collect();
                self.list(req, tok, items, &["id", "name", "tasks"], &ASSIGNED_FIELDS)
            }
            Method::Post | Method::Delete => {
                if !self.actor_is_admin(tok) {
                    return Err(GraphFault::not_admin());
                }
                let user = req.params.required("user")?.to_string();
                let member = b.people.iter().any(|p| p.id == user)
                    || b.system_users.iter().any(|s| s.id == user);
                if !member {
                    return Err(GraphFault::invalid_param(format!(
                        "The user {user} is not a business user or system user of business {business}"
                    )));
                }
                let tasks = if m == Method::Post {
                    let tasks = req.params.list("tasks")?.ok_or_else(|| {
                        GraphFault::invalid_param("The parameter tasks is required")
                    })?;
                    validate_tasks(asset, &tasks)?;
                    Some(tasks)
                } else {
                    None
                };
                let asset = self
                    .assets
                    .get_mut(aid)
                    .ok_or_else(|| GraphFault::unknown_object(m.verb(), aid))?;
                match tasks {
                    // POST replaces the task set (reference 5.2, field report).
                    Some(t) => {
                        asset.assigned.insert(user, t);
                    }
                    None => {
                        asset.assigned.remove(&user);
                    }
                }
                Ok(json!({ "success": true }))
            }
        }
    }
}
