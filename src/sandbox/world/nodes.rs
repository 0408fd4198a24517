//! Identity, business and people calls: `/me`, `/debug_token`, business, people and
//! invitation nodes, the business edges, inviting (reference 3, 4, 5.1, 6.1).

use super::*;

const KNOWN_BUSINESS_EDGES: [&str; 12] = [
    "business_users",
    "pending_users",
    "system_users",
    "owned_pages",
    "owned_ad_accounts",
    "owned_product_catalogs",
    "client_pages",
    "client_ad_accounts",
    "client_product_catalogs",
    "agencies",
    "clients",
    "assigned_users",
];

pub(super) fn valid_role(r: &str) -> GraphResult<String> {
    let r = r.trim().trim_matches('"').to_ascii_uppercase();
    if ROLES.contains(&r.as_str()) {
        Ok(r)
    } else {
        Err(GraphFault::invalid_param(format!(
            "Param role must be one of {{{}}}",
            ROLES.join(", ")
        )))
    }
}

pub(super) fn valid_roles_list(list: Vec<String>) -> GraphResult<Vec<String>> {
    list.iter().map(|r| valid_role(r)).collect()
}

/// The optional `role` and `tasks` parameters of a person or invitation update, validated.
fn role_and_tasks(req: &Request) -> GraphResult<(Option<String>, Option<Vec<String>>)> {
    let role = req.params.get("role").map(valid_role).transpose()?;
    let tasks = req
        .params
        .list("tasks")?
        .map(valid_roles_list)
        .transpose()?;
    Ok((role, tasks))
}

/// A granted role as the business-users edge shows it: base role plus the finance / ads-rights
/// permission it implies (reference 4.1, 4.6).
pub(super) fn split_role(role: &str) -> (String, Option<String>, Option<String>) {
    match role {
        "ADMIN" => ("ADMIN".into(), None, None),
        "FINANCE_EDITOR" | "FINANCE_EDIT" => ("EMPLOYEE".into(), Some("EDITOR".into()), None),
        "FINANCE_ANALYST" | "FINANCE_VIEW" => ("EMPLOYEE".into(), Some("ANALYST".into()), None),
        "ADS_RIGHTS_REVIEWER" => ("EMPLOYEE".into(), None, Some("REVIEWER".into())),
        _ => ("EMPLOYEE".into(), None, None),
    }
}

pub(super) fn valid_email(e: &str) -> bool {
    let mut parts = e.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !e.contains(char::is_whitespace))
}

impl World {
    pub(super) fn get_me(&self, req: &Request, tok: &Token) -> GraphResult<Value> {
        let name = self
            .businesses
            .get(&tok.business_id)
            .and_then(|b| {
                b.system_users
                    .iter()
                    .find(|s| s.id == tok.user_id)
                    .map(|s| s.name.clone())
                    .or_else(|| {
                        b.people
                            .iter()
                            .find(|p| p.id == tok.user_id)
                            .map(|p| p.name.clone())
                    })
            })
            .unwrap_or_default();
        wire::select(
            &json!({ "id": tok.user_id, "name": name }),
            req.params.get("fields"),
            &["id", "name"],
            &["id", "name"],
        )
    }

    pub(super) fn get_my_businesses(&self, req: &Request, tok: &Token) -> GraphResult<Value> {
        let role = if self.actor_is_admin(tok) {
            "ADMIN"
        } else {
            "EMPLOYEE"
        };
        let items = self
            .businesses
            .get(&tok.business_id)
            .map(|b| vec![json!({ "id": b.id, "name": b.name, "permitted_roles": [role] })])
            .unwrap_or_default();
        self.list(
            req,
            tok,
            items,
            &["id", "name"],
            &["id", "name", "permitted_roles"],
        )
    }

    pub(super) fn get_debug_token(&self, req: &Request) -> GraphResult<Value> {
        let input = req.params.required("input_token")?;
        let t = self
            .tokens
            .iter()
            .find(|t| t.value == input)
            .ok_or_else(GraphFault::bad_token)?;
        let expired = t.expires_at > 0 && t.expires_at < chrono::Utc::now().timestamp();
        let mut data = json!({
            "app_id": t.app_id,
            "type": t.token_type,
            "application": self.apps.get(&t.app_id).map(|a| a.0.clone()).unwrap_or_default(),
            "data_access_expires_at": 0,
            "expires_at": t.expires_at,
            "is_valid": !(t.revoked || expired),
            "issued_at": t.issued_at,
            "scopes": t.scopes,
            "granular_scopes": t.scopes.iter().map(|s| json!({ "scope": s })).collect::<Vec<_>>(),
            "user_id": t.user_id,
        });
        let problem = if t.revoked {
            Some(GraphFault::revoked_token())
        } else if expired {
            Some(GraphFault::expired_token())
        } else {
            None
        };
        if let (Some(p), Some(obj)) = (problem, data.as_object_mut()) {
            obj.insert(
                "error".into(),
                json!({ "code": p.code, "message": p.message, "subcode": p.subcode }),
            );
        }
        Ok(json!({ "data": data }))
    }

    pub(super) fn business_json(b: &Business) -> Value {
        json!({
            "id": b.id, "name": b.name, "verification_status": b.verification_status,
            "two_factor_type": b.two_factor_type, "created_time": b.created_time,
        })
    }

    pub(super) fn person_json(b: &Business, p: &Person) -> Value {
        json!({
            "id": p.id, "name": p.name, "business": { "id": b.id, "name": b.name },
            "email": p.email, "first_name": p.first_name, "last_name": p.last_name,
            "title": p.title, "role": p.role, "finance_permission": p.finance_permission,
            "ip_permission": p.ip_permission, "two_fac_status": "enabled", "tasks": p.tasks,
            "business_role_request": p.invitation_id.as_ref().map(|i| json!({ "id": i })),
            "marked_for_removal": false,
        })
    }

    pub(super) fn invitation_json(b: &Business, i: &Invitation) -> Value {
        json!({
            "id": i.id, "email": i.email, "role": i.role, "status": i.status,
            "created_time": i.created_time, "updated_time": i.updated_time,
            "expiration_time": i.expiration_time, "expiry_time": i.expiration_time,
            "owner": { "id": b.id, "name": b.name }, "invited_user_type": i.invited_user_type,
            "tasks": i.tasks,
        })
    }

    pub(super) fn node(
        &mut self,
        req: &Request,
        tok: &Token,
        m: Method,
        id: &str,
    ) -> GraphResult<Value> {
        let unknown = || GraphFault::unknown_object(m.verb(), id);
        let (node, owner) = self.locate(id).ok_or_else(unknown)?;
        let fields = req.params.get("fields");
        if let Node::Asset(aid) = &node {
            let a = self.assets.get(aid).ok_or_else(unknown)?;
            if !self.asset_visible(a, &tok.business_id) || m != Method::Get {
                return Err(unknown());
            }
            Self::need_scope(tok, "business_management")?;
            let v = self.asset_json(a, None);
            return wire::select(&v, fields, &["id", "name"], &ASSET_FIELDS);
        }
        if owner != tok.business_id {
            return Err(unknown());
        }
        Self::need_scope(tok, "business_management")?;
        match (node, m) {
            (Node::Business, Method::Get) => {
                let b = self.businesses.get(id).ok_or_else(unknown)?;
                wire::select(
                    &Self::business_json(b),
                    fields,
                    &["id", "name"],
                    &BUSINESS_FIELDS,
                )
            }
            (Node::Person, Method::Get) => {
                let b = self.businesses.get(&owner).ok_or_else(unknown)?;
                let p = b.people.iter().find(|p| p.id == id).ok_or_else(unknown)?;
                wire::select(
                    &Self::person_json(b, p),
                    fields,
                    &["id", "name", "business"],
                    &USER_FIELDS,
                )
            }
            (Node::Invitation, Method::Get) => {
                let b = self.businesses.get(&owner).ok_or_else(unknown)?;
                let i = b
                    .invitations
                    .iter()
                    .find(|i| i.id == id)
                    .ok_or_else(unknown)?;
                wire::select(
                    &Self::invitation_json(b, i),
                    fields,
                    &["id", "email", "role", "status"],
                    &INVITATION_FIELDS,
                )
            }
            (Node::SystemUser, Method::Get) => {
                let b = self.businesses.get(&owner).ok_or_else(unknown)?;
                let s = b
                    .system_users
                    .iter()
                    .find(|s| s.id == id)
                    .ok_or_else(unknown)?;
                wire::select(
                    &json!({ "id": s.id, "name": s.name, "role": s.role }),
                    fields,
                    &["id", "name"],
                    &SYSTEM_USER_FIELDS,
                )
            }
            (Node::Person, Method::Post) => self.update_person(req, tok, &owner, id),
            (Node::Person, Method::Delete) => self.remove_person(tok, &owner, id),
            (Node::Invitation, Method::Post) => self.update_invitation(req, tok, &owner, id),
            (Node::Invitation, Method::Delete) => {
                self.may_manage_people(tok)?;
                let b = self.businesses.get_mut(&owner).ok_or_else(unknown)?;
                b.invitations.retain(|i| i.id != id);
                Ok(json!({ "success": true }))
            }
            _ => Err(unknown()),
        }
    }

    pub(super) fn update_person(
        &mut self,
        req: &Request,
        tok: &Token,
        bid: &str,
        id: &str,
    ) -> GraphResult<Value> {
        self.may_manage_people(tok)?;
        let (role, tasks) = role_and_tasks(req)?;
        let b = self
            .businesses
            .get_mut(bid)
            .ok_or_else(|| GraphFault::unknown_object("post", id))?;
        let admins = b.people.iter().filter(|p| p.role == "ADMIN").count();
        let p = b
            .people
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| GraphFault::unknown_object("post", id))?;
        if let Some(role) = role {
            let (base, finance, ip) = split_role(&role);
            if p.role == "ADMIN" && base != "ADMIN" && admins <= 1 {
                return Err(GraphFault::last_admin());
            }
            p.role = base;
            if finance.is_some() {
                p.finance_permission = finance;
            }
            if ip.is_some() {
                p.ip_permission = ip;
            }
        }
        if let Some(t) = tasks {
            p.tasks = t;
        }
        for (key, slot) in [
            ("first_name", &mut p.first_name),
            ("last_name", &mut p.last_name),
            ("title", &mut p.title),
        ] {
            if let Some(v) = req.params.get(key) {
                *slot = Some(v.to_string());
            }
        }
        Ok(json!({ "success": true }))
    }

    pub(super) fn remove_person(&mut self, tok: &Token, bid: &str, id: &str) -> GraphResult<Value> {
        self.may_manage_people(tok)?;
        let b = self
            .businesses
            .get_mut(bid)
            .ok_or_else(|| GraphFault::unknown_object("delete", id))?;
        let admins = b.people.iter().filter(|p| p.role == "ADMIN").count();
        let is_admin = b.people.iter().any(|p| p.id == id && p.role == "ADMIN");
        if is_admin && admins <= 1 {
            return Err(GraphFault::last_admin());
        }
        b.people.retain(|p| p.id != id);
        for a in self.assets.values_mut() {
            a.assigned.remove(id);
        }
        Ok(json!({ "success": true }))
    }

    pub(super) fn update_invitation(
        &mut self,
        req: &Request,
        tok: &Token,
        bid: &str,
        id: &str,
    ) -> GraphResult<Value> {
        self.may_manage_people(tok)?;
        let (role, tasks) = role_and_tasks(req)?;
        let b = self
            .businesses
            .get_mut(bid)
            .ok_or_else(|| GraphFault::unknown_object("post", id))?;
        let inv = b
            .invitations
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or_else(|| GraphFault::unknown_object("post", id))?;
        if inv.status != "PENDING" {
            return Err(GraphFault::invalid_param(
                "The invitation is no longer pending",
            ));
        }
        if let Some(r) = role {
            inv.role = r;
        }
        if let Some(t) = tasks {
            inv.tasks = t;
        }
        inv.updated_time = now_rfc(0);
        Ok(json!({ "id": id }))
    }

    pub(super) fn business_edge(
        &mut self,
        req: &Request,
        tok: &Token,
        m: Method,
        bid: &str,
        edge: &str,
    ) -> GraphResult<Value> {
        let Some(b) = self.businesses.get(bid) else {
            return Err(GraphFault::unknown_object(m.verb(), bid));
        };
        match (m, edge) {
            (Method::Get, "business_users") => {
                let items = b.people.iter().map(|p| Self::person_json(b, p)).collect();
                self.list(req, tok, items, &["id", "name", "business"], &USER_FIELDS)
            }
            (Method::Post, "business_users") => self.invite(req, tok, bid),
            (Method::Get, "pending_users") => {
                let email = req.params.get("email");
                let items = b
                    .invitations
                    .iter()
                    .filter(|i| email.is_none_or(|e| e.eq_ignore_ascii_case(&i.email)))
                    .map(|i| Self::invitation_json(b, i))
                    .collect();
                self.list(
                    req,
                    tok,
                    items,
                    &["id", "email", "role", "status"],
                    &INVITATION_FIELDS,
                )
            }
            (Method::Get, "system_users") => {
                if !self.actor_is_admin(tok) {
                    return Err(GraphFault::not_admin());
                }
                let items = b
                    .system_users
                    .iter()
                    .map(|s| json!({ "id": s.id, "name": s.name, "role": s.role }))
                    .collect();
                self.list(
                    req,
                    tok,
                    items,
                    &["id", "name", "role"],
                    &SYSTEM_USER_FIELDS,
                )
            }
            (Method::Get, "owned_pages" | "owned_ad_accounts" | "owned_product_catalogs") => {
                let kind = edge_kind(edge);
                let search = req.params.get("search_query").map(str::to_lowercase);
                let items = self
                    .assets
                    .values()
                    .filter(|a| a.kind == kind && a.owner == bid)
                    .filter(|a| {
                        search
                            .as_ref()
                            .is_none_or(|s| a.name.to_lowercase().contains(s))
                    })
                    .map(|a| self.asset_json(a, None))
                    .collect();
                self.list(req, tok, items, asset_defaults(kind), &ASSET_FIELDS)
            }
            (Method::Get, "client_pages" | "client_ad_accounts" | "client_product_catalogs") => {
                let kind = edge_kind(edge);
                let mut items = Vec::new();
                for o in self.businesses.values() {
                    for ag in o.agencies.iter().filter(|a| a.business_id == bid) {
                        let ids = match kind {
                            AssetKind::Page => &ag.pages,
                            AssetKind::AdAccount => &ag.ad_accounts,
                            AssetKind::Catalog => &ag.catalogs,
                        };
                        for id in ids {
                            if let Some(a) = self.assets.get(id) {
                                items.push(self.asset_json(a, Some(&ag.permitted_tasks)));
                            }
                        }
                    }
                }
                let mut defaults = asset_defaults(kind).to_vec();
                defaults.push("permitted_tasks");
                self.list(req, tok, items, &defaults, &ASSET_FIELDS)
            }
            (Method::Get, "agencies") => {
                let items = b
                    .agencies
                    .iter()
                    .filter_map(|ag| {
                        let partner = self.businesses.get(&ag.business_id)?;
                        Some(partner_json(&partner.id, &partner.name, ag))
                    })
                    .collect();
                self.list(req, tok, items, &PARTNER_FIELDS, &PARTNER_FIELDS)
            }
            (Method::Get, "clients") => {
                let items = self
                    .businesses
                    .values()
                    .filter_map(|o| {
                        let ag = o.agencies.iter().find(|a| a.business_id == bid)?;
                        Some(partner_json(&o.id, &o.name, ag))
                    })
                    .collect();
                self.list(req, tok, items, &PARTNER_FIELDS, &PARTNER_FIELDS)
            }
            (_, e) if KNOWN_BUSINESS_EDGES.contains(&e) => {
                Err(GraphFault::unknown_object(m.verb(), bid))
            }
            (_, other) => Err(GraphFault::unknown_path(other)),
        }
    }

    pub(super) fn invite(&mut self, req: &Request, tok: &Token, bid: &str) -> GraphResult<Value> {
        self.may_manage_people(tok)?;
        let email = req.params.required("email")?.trim().to_string();
        if !valid_email(&email) {
            return Err(GraphFault::invalid_param(
                "Invalid parameter: email is not a valid e-mail address",
            ));
        }
        let role = valid_role(req.params.get("role").unwrap_or("EMPLOYEE"))?;
        let tasks = valid_roles_list(req.params.list("tasks")?.unwrap_or_default())?;
        let user_type = req
            .params
            .list("invited_user_type")?
            .unwrap_or_else(|| vec!["FB".into()]);
        if user_type.iter().any(|t| t != "FB" && t != "MWA") {
            return Err(GraphFault::invalid_param(
                "Param invited_user_type[0] must be one of {FB, MWA}",
            ));
        }
        let lifetime = self.config.invitation_lifetime_days;
        let new_id = self.new_id();
        let b = self
            .businesses
            .get_mut(bid)
            .ok_or_else(|| GraphFault::unknown_object("post", bid))?;
        if b.people
            .iter()
            .any(|p| p.email.eq_ignore_ascii_case(&email))
        {
            return Err(GraphFault::invalid_param(format!(
                "The person with e-mail {email} is already a member of this business"
            )));
        }
        if let Some(existing) = b
            .invitations
            .iter()
            .find(|i| i.status == "PENDING" && i.email.eq_ignore_ascii_case(&email))
        {
            return Ok(json!({ "id": existing.id }));
        }
        if let Some(limit) = b.invitation_limit {
            let now = Instant::now();
            let day = Duration::from_secs(24 * 3600);
            while b
                .invites_sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= day)
            {
                b.invites_sent.pop_front();
            }
            if b.invites_sent.len() >= limit as usize {
                return Err(GraphFault::invitation_limit());
            }
            b.invites_sent.push_back(now);
        }
        b.invitations
            .retain(|i| !(i.status != "PENDING" && i.email.eq_ignore_ascii_case(&email)));
        b.invitations.push(Invitation {
            id: new_id.clone(),
            email,
            role,
            tasks,
            status: "PENDING".into(),
            created_time: now_rfc(0),
            updated_time: now_rfc(0),
            expiration_time: now_rfc(lifetime),
            invited_user_type: user_type,
        });
        Ok(json!({ "id": new_id }))
    }
}
