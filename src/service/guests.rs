//! Guests: external collaborators (name, email, optionally their partner business). Their
//! members are `guest` rather than `unmatched` on every hub, and never matched by the
//! bridge on its own.

use super::{Actor, ServiceError, ServiceResult};
use crate::store::guests::{self, GuestRow};
use crate::store::{now_micros, sql::fold, Store};

#[derive(Clone)]
pub struct Guests {
    store: Store,
}

impl Guests {
    pub fn new(store: Store) -> Self {
        Guests { store }
    }

    /// Registers a guest: a name (1–200 characters), an email (with one `@`, at most 254
    /// characters), an optional partner business id (digits).
    pub async fn register(
        &self,
        actor: &Actor,
        name: &str,
        email: &str,
        partner_business_id: Option<&str>,
    ) -> ServiceResult<GuestRow> {
        let (name, email) = (name.trim().to_string(), email.trim().to_string());
        let bad = |m: &str| Err(ServiceError::invalid_value(m.to_string()));
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return bad("name: 1 to 200 characters, without control characters");
        }
        let at = email.matches('@').count();
        if at != 1
            || email.starts_with('@')
            || email.ends_with('@')
            || email.len() > 254
            || email.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return bad("email: an address like name@example.com");
        }
        if partner_business_id
            .is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad("partner_business_id: a Meta business id (digits)");
        }
        let row = GuestRow {
            seq: 0,
            id: crate::crypto::new_id(),
            name,
            email_ci: fold(&email),
            email,
            partner_business_id: partner_business_id.map(str::to_string),
            created_by: actor.to_string(),
            created_at: now_micros(),
        };
        let row = self.store.write(move |c| guests::insert(c, &row)).await?;
        tracing::info!(guest.id = %row.id, actor = %actor, "guest registered");
        Ok(row)
    }

    pub async fn list(&self, after_seq: i64, limit: i64) -> ServiceResult<Vec<GuestRow>> {
        Ok(self
            .store
            .read(move |c| guests::list(c, after_seq, limit))
            .await?)
    }

    /// Removes a guest; its members become `unmatched` again.
    pub async fn remove(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        let key = id.to_string();
        if !self.store.write(move |c| guests::delete(c, &key)).await? {
            return Err(ServiceError::not_found("no guest with that id"));
        }
        tracing::info!(guest.id = %id, actor = %actor, "guest removed");
        Ok(())
    }
}
