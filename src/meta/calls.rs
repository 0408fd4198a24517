//! The typed Graph calls hubbridge makes (reference sections 3–6), one method each, on
//! [`GraphClient`]. Lists are read to their end; writes are sent once.

use serde_json::Value;

use super::client::{Call, GraphClient};
use super::error::{CallKind, GraphError, MetaError};
use super::secret::{AccessToken, GraphAuth};
use super::types::*;

const USER_FIELDS: &str =
    "id,name,email,first_name,last_name,title,role,finance_permission,ip_permission,two_fac_status,tasks";
const INVITATION_FIELDS: &str = "id,email,role,status,created_time,expiration_time,tasks";
const AD_ACCOUNT_FIELDS: &str = "id,account_id,name,account_status";

/// Which of a person's asset edges to read (reference 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Page,
    AdAccount,
    Catalog,
}

fn expect_success(v: &Value, what: &str) -> Result<(), GraphError> {
    let ok = match v {
        Value::Bool(b) => *b,
        Value::Object(o) => match o.get("success") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            // Some writes answer `{"id": …}` instead (reference 1.4).
            None => o.contains_key("id"),
            _ => false,
        },
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(GraphError::Other {
            meta: None,
            detail: format!("{what}: Meta did not confirm success"),
        })
    }
}

fn id_of(v: &Value, what: &str) -> Result<String, GraphError> {
    match v.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(GraphError::Other {
            meta: None,
            detail: format!("{what}: the response carries no id"),
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, GraphError> {
    serde_json::from_value(v).map_err(|e| GraphError::Other {
        meta: None,
        detail: format!("{what}: unexpected response: {e}"),
    })
}

fn json_list(items: &[String]) -> String {
    Value::from(items.to_vec()).to_string()
}

/// The expected enum in Meta's "JSON schema constraint 'enum'" message (reference 5.3).
fn expected_enum(message: &str) -> Option<Vec<String>> {
    let start = message.find("expected : '[")? + "expected : '[".len();
    let end = message[start..].find(']')? + start;
    Some(
        message[start..end]
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

impl GraphClient {
    /// `GET /me`: the token's owner (reference 3.1).
    pub async fn me(&self, auth: &GraphAuth) -> Result<Me, GraphError> {
        let v = self
            .call(auth, Call::get("me").param("fields", "id,name"))
            .await?;
        parse(v, "me")
    }

    /// `GET /debug_token` for `input` (reference 3.2), asked as the single `GET` operation of
    /// a batch request (reference 9): the inspected token travels only inside the POST body,
    /// never in a URL. An expired or revoked `input` comes back as `is_valid: false` with
    /// `error`, not as an `Err`.
    pub async fn debug_token(
        &self,
        auth: &GraphAuth,
        input: &AccessToken,
    ) -> Result<TokenInfo, GraphError> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("input_token", input.expose());
        let op = format!("debug_token?{}", q.finish());
        let v = self
            .batch_get(auth, &[op])
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| {
                Err(GraphError::Transient {
                    meta: None,
                    detail: "debug_token: the batch answered nothing".into(),
                })
            })?;
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        parse(data, "debug_token")
    }

    /// Validates a hub or partner token: `debug_token` on itself (validity, type, expiry,
    /// scopes) plus a probe of the business (reference 3.2 client rule). An invalid token is
    /// `GraphError::TokenInvalid` with the reason `debug_token` gave.
    pub async fn check_token(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<TokenCheck, GraphError> {
        self.check_token_as(auth, auth, business_id).await
    }

    /// [`GraphClient::check_token`] with another caller inspecting the token (an app token
    /// `{app-id}|{app-secret}` or another valid token, reference 3.2): a revoked or expired
    /// `auth` then comes back from `debug_token` as `is_valid: false`, reported as
    /// `GraphError::TokenInvalid` (HTTP status 200 in its `meta`) with the reason given.
    pub async fn check_token_as(
        &self,
        inspector: &GraphAuth,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<TokenCheck, GraphError> {
        let info = self.debug_token(inspector, auth.token()).await?;
        if !info.is_valid {
            let problem = info.error.clone();
            return Err(GraphError::TokenInvalid {
                meta: Box::new(MetaError {
                    message: problem
                        .as_ref()
                        .and_then(|p| p.message.clone())
                        .unwrap_or_else(|| "debug_token: the token is not valid".into()),
                    error_type: None,
                    code: problem.as_ref().and_then(|p| p.code).unwrap_or(190),
                    subcode: problem.as_ref().and_then(|p| p.subcode),
                    fbtrace_id: None,
                    is_transient: None,
                    user_title: None,
                    user_msg: None,
                    http_status: 200,
                }),
            });
        }
        let business = self.business(auth, business_id).await?;
        Ok(TokenCheck { info, business })
    }

    /// `GET /{business-id}` (reference 3.1).
    pub async fn business(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Business, GraphError> {
        let v = self
            .call(
                auth,
                Call::get(business_id).param(
                    "fields",
                    "id,name,verification_status,two_factor_type,created_time",
                ),
            )
            .await?;
        parse(v, "business")
    }

    /// All active people (reference 4.2).
    pub async fn business_users(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<BusinessUser>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/business_users"),
            vec![("fields".into(), USER_FIELDS.into())],
        )
        .await
    }

    /// All invitations (reference 4.3).
    pub async fn pending_users(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<Invitation>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/pending_users"),
            vec![("fields".into(), INVITATION_FIELDS.into())],
        )
        .await
    }

    /// Invitations for one address — how an invitation is found after `invite` (reference 4.5).
    pub async fn pending_users_by_email(
        &self,
        auth: &GraphAuth,
        business_id: &str,
        email: &str,
    ) -> Result<Vec<Invitation>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/pending_users"),
            vec![
                ("fields".into(), INVITATION_FIELDS.into()),
                ("email".into(), email.into()),
            ],
        )
        .await
    }

    /// All system users (reference 4.4).
    pub async fn system_users(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<SystemUser>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/system_users"),
            vec![("fields".into(), "id,name,role".into())],
        )
        .await
    }

    /// `GET /{invitation-id}` (reference 4.7).
    pub async fn invitation(
        &self,
        auth: &GraphAuth,
        invitation_id: &str,
    ) -> Result<Invitation, GraphError> {
        let v = self
            .call(
                auth,
                Call::get(invitation_id).param("fields", INVITATION_FIELDS),
            )
            .await?;
        parse(v, "invitation")
    }

    /// `POST /{business-id}/business_users`: sends an invitation (reference 4.5). Returns the
    /// id Meta gave; whether that is the invitation id is unconfirmed, so callers locate the
    /// invitation with [`GraphClient::pending_users_by_email`].
    pub async fn invite(
        &self,
        auth: &GraphAuth,
        business_id: &str,
        invite: &Invite,
    ) -> Result<String, GraphError> {
        let mut call = Call::post(format!("{business_id}/business_users"), CallKind::Invite)
            .param("email", invite.email.trim())
            .param("role", invite.role.as_str());
        if !invite.tasks.is_empty() {
            call = call.param("tasks", json_list(&invite.tasks));
        }
        let v = self.call(auth, call).await?;
        id_of(&v, "invite")
    }

    /// `POST /{business-user-id}` `role` (reference 4.8); 3914 when it would demote the last admin.
    pub async fn set_business_user_role(
        &self,
        auth: &GraphAuth,
        business_user_id: &str,
        role: BusinessRole,
        tasks: Option<&[String]>,
    ) -> Result<(), GraphError> {
        let mut call = Call::post(business_user_id, CallKind::Write).param("role", role.as_str());
        if let Some(t) = tasks {
            call = call.param("tasks", json_list(t));
        }
        let v = self.call(auth, call).await?;
        expect_success(&v, "change role")
    }

    /// `POST /{business-role-request-id}` `role` (reference 4.7); returns the invitation id.
    pub async fn set_invitation_role(
        &self,
        auth: &GraphAuth,
        invitation_id: &str,
        role: BusinessRole,
        tasks: Option<&[String]>,
    ) -> Result<String, GraphError> {
        let mut call = Call::post(invitation_id, CallKind::Write).param("role", role.as_str());
        if let Some(t) = tasks {
            call = call.param("tasks", json_list(t));
        }
        let v = self.call(auth, call).await?;
        id_of(&v, "change invitation role")
    }

    /// `DELETE /{business-user-id}` (reference 4.9). A 100/33 answer does not prove the person
    /// is gone: re-read the lists.
    pub async fn remove_business_user(
        &self,
        auth: &GraphAuth,
        business_user_id: &str,
    ) -> Result<(), GraphError> {
        let v = self.call(auth, Call::delete(business_user_id)).await?;
        expect_success(&v, "remove person")
    }

    /// `DELETE /{business-role-request-id}` (reference 4.7).
    pub async fn cancel_invitation(
        &self,
        auth: &GraphAuth,
        invitation_id: &str,
    ) -> Result<(), GraphError> {
        let v = self.call(auth, Call::delete(invitation_id)).await?;
        expect_success(&v, "cancel invitation")
    }

    pub async fn owned_pages(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<Page>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/owned_pages"),
            vec![("fields".into(), "id,name".into())],
        )
        .await
    }

    pub async fn client_pages(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<Page>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/client_pages"),
            vec![("fields".into(), "id,name,permitted_tasks".into())],
        )
        .await
    }

    pub async fn owned_ad_accounts(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<AdAccount>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/owned_ad_accounts"),
            vec![("fields".into(), AD_ACCOUNT_FIELDS.into())],
        )
        .await
    }

    pub async fn client_ad_accounts(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<AdAccount>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/client_ad_accounts"),
            vec![(
                "fields".into(),
                format!("{AD_ACCOUNT_FIELDS},permitted_tasks"),
            )],
        )
        .await
    }

    pub async fn owned_catalogs(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<Catalog>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/owned_product_catalogs"),
            vec![("fields".into(), "id,name,vertical,product_count".into())],
        )
        .await
    }

    pub async fn client_catalogs(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<Catalog>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/client_product_catalogs"),
            vec![(
                "fields".into(),
                "id,name,vertical,product_count,permitted_tasks".into(),
            )],
        )
        .await
    }

    /// Who holds which tasks on an asset (reference 5.2; `business` is sent, as required).
    pub async fn assigned_users(
        &self,
        auth: &GraphAuth,
        asset: &AssetRef,
        business_id: &str,
    ) -> Result<Vec<AssignedUser>, GraphError> {
        self.get_all(
            auth,
            &format!("{}/assigned_users", asset.node_id()),
            vec![
                ("business".into(), business_id.into()),
                (
                    "fields".into(),
                    "id,name,user_type,tasks,permitted_tasks".into(),
                ),
            ],
        )
        .await
    }

    /// `assigned_users` for many assets through batch requests of up to 50 (reference 9); an
    /// asset whose first page is not its last is read to its end with ordinary calls.
    pub async fn assigned_users_many(
        &self,
        auth: &GraphAuth,
        assets: &[AssetRef],
        business_id: &str,
    ) -> Result<Vec<(AssetRef, Result<Vec<AssignedUser>, GraphError>)>, GraphError> {
        let mut out = Vec::with_capacity(assets.len());
        for chunk in assets.chunks(50) {
            let urls: Vec<String> = chunk
                .iter()
                .map(|a| {
                    let mut q = url::form_urlencoded::Serializer::new(String::new());
                    q.append_pair("business", business_id)
                        .append_pair("fields", "id,name,user_type,tasks,permitted_tasks")
                        .append_pair("limit", &self.config().page_size.to_string());
                    format!("{}/assigned_users?{}", a.node_id(), q.finish())
                })
                .collect();
            let answers = self.batch_get(auth, &urls).await?;
            for (asset, answer) in chunk.iter().zip(answers) {
                let result = match answer {
                    Err(e) => Err(e),
                    Ok(v) => {
                        let more = v.pointer("/paging/next").is_some_and(|n| !n.is_null());
                        if more {
                            self.assigned_users(auth, asset, business_id).await
                        } else {
                            parse::<ListPageOwned>(v, "assigned_users").map(|p| p.data)
                        }
                    }
                };
                out.push((asset.clone(), result));
            }
        }
        Ok(out)
    }

    /// `POST /{asset}/assigned_users`: gives `user` exactly `tasks` on the asset (reference 5.2:
    /// always the complete set). On a Page that rejects the legacy task names with Meta's
    /// "JSON schema constraint 'enum'" error, retries once with the mapped unified names.
    pub async fn assign_asset(
        &self,
        auth: &GraphAuth,
        asset: &AssetRef,
        business_id: &str,
        user_id: &str,
        tasks: &[String],
    ) -> Result<(), GraphError> {
        let send = |tasks: Vec<String>| {
            Call::post(
                format!("{}/assigned_users", asset.node_id()),
                CallKind::Write,
            )
            .param("user", user_id)
            .param("tasks", json_list(&tasks))
            .param("business", business_id)
        };
        match self.call(auth, send(tasks.to_vec())).await {
            Ok(v) => expect_success(&v, "assign asset"),
            Err(GraphError::NotFoundOrInvalidParam { meta })
                if matches!(asset, AssetRef::Page(_))
                    && meta.message.contains("JSON schema constraint 'enum'") =>
            {
                let expected = expected_enum(&meta.message).unwrap_or_default();
                let mapped: Option<Vec<String>> = tasks
                    .iter()
                    .map(|t| {
                        self.config()
                            .page_task_map
                            .iter()
                            .find_map(|(legacy, unified)| {
                                if legacy == t {
                                    Some(unified.clone())
                                } else if unified == t {
                                    Some(legacy.clone())
                                } else {
                                    None
                                }
                            })
                            .filter(|m| expected.is_empty() || expected.contains(m))
                    })
                    .collect();
                let Some(mapped) = mapped else {
                    return Err(GraphError::NotFoundOrInvalidParam { meta });
                };
                tracing::warn!(asset.id = %asset.node_id(), "Page rejected its task names; retrying once with the other vocabulary");
                let v = self.call(auth, send(mapped)).await?;
                expect_success(&v, "assign asset")
            }
            Err(e) => Err(e),
        }
    }

    /// `DELETE /{asset}/assigned_users`: takes all of `user`'s access to the asset.
    pub async fn unassign_asset(
        &self,
        auth: &GraphAuth,
        asset: &AssetRef,
        business_id: &str,
        user_id: &str,
    ) -> Result<(), GraphError> {
        let call = Call::delete(format!("{}/assigned_users", asset.node_id()))
            .param("user", user_id)
            .param("business", business_id);
        let v = self.call(auth, call).await?;
        expect_success(&v, "unassign asset")
    }

    /// One person's assets of a kind (reference 5.4).
    pub async fn user_assets(
        &self,
        auth: &GraphAuth,
        user_id: &str,
        kind: AssetKind,
    ) -> Result<Vec<AssignedAsset>, GraphError> {
        let edge = match kind {
            AssetKind::Page => "assigned_pages",
            AssetKind::AdAccount => "assigned_ad_accounts",
            AssetKind::Catalog => "assigned_product_catalogs",
        };
        self.get_all(
            auth,
            &format!("{user_id}/{edge}"),
            vec![("fields".into(), "id,name,tasks".into())],
        )
        .await
    }

    /// Businesses this business shares assets with (reference 6.1).
    pub async fn agencies(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<PartnerBusiness>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/agencies"),
            vec![(
                "fields".into(),
                "id,name,page_permissions,adaccount_permissions,productcatalog_permissions".into(),
            )],
        )
        .await
    }

    /// Businesses that share assets with this business (reference 6.1).
    pub async fn clients(
        &self,
        auth: &GraphAuth,
        business_id: &str,
    ) -> Result<Vec<PartnerBusiness>, GraphError> {
        self.get_all(
            auth,
            &format!("{business_id}/clients"),
            vec![(
                "fields".into(),
                "id,name,page_permissions,adaccount_permissions,productcatalog_permissions".into(),
            )],
        )
        .await
    }

    /// A partner's own people, read in the partner's business with the partner's credentials
    /// (reference 6.3).
    pub async fn partner_people(
        &self,
        partner: &GraphAuth,
        partner_business_id: &str,
    ) -> Result<PartnerPeople, GraphError> {
        let business = self.business(partner, partner_business_id).await?;
        let users = self.business_users(partner, partner_business_id).await?;
        let invitations = self.pending_users(partner, partner_business_id).await?;
        Ok(PartnerPeople {
            business,
            users,
            invitations,
        })
    }
}

#[derive(serde::Deserialize)]
struct ListPageOwned {
    #[serde(default)]
    data: Vec<AssignedUser>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_enum_is_read_from_metas_message() {
        let m = "(#100) Your request has violated JSON schema constraint 'enum' for the JSON field 'tasks.0' with value 'MANAGE', expected : '[FULL_CONTROL, CONTENT, MESSAGES]' but got MANAGE";
        assert_eq!(
            expected_enum(m),
            Some(vec![
                "FULL_CONTROL".into(),
                "CONTENT".into(),
                "MESSAGES".into()
            ])
        );
        assert_eq!(expected_enum("no list here"), None);
    }

    #[test]
    fn success_shapes_are_accepted() {
        assert!(expect_success(&serde_json::json!({"success": true}), "x").is_ok());
        assert!(expect_success(&serde_json::json!(true), "x").is_ok());
        assert!(expect_success(&serde_json::json!({"success": "true"}), "x").is_ok());
        assert!(expect_success(&serde_json::json!({"success": false}), "x").is_err());
    }
}
