//! Secrets: SCIM bearer tokens are generated here and only their SHA-256 is ever stored;
//! Meta tokens and app secrets are sealed here (AES-256-GCM) before they are stored.
//!
//! A token is 32 random bytes in base64url behind the prefix `hbs_` (hubbridge SCIM), so a
//! leaked token is recognisable by secret scanners. 256 bits of entropy make a slow hash
//! pointless; SHA-256 lets every request look its token up by hash in microseconds.

use aws_lc_rs::{constant_time, digest, rand as lc_rand};
use base64::Engine;

const PREFIX: &str = "hbs_";

/// A secret string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: call only where it must leave the process (once, to the operator).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Secrets in settings (`crypto.key`, `admin.jwt_secret`) are read as plain strings.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A new random SCIM token.
pub fn generate_scim_token() -> Secret {
    let mut bytes = [0u8; 32];
    // aws-lc's system RNG only fails if the OS has no entropy source at all.
    lc_rand::fill(&mut bytes).expect("the operating system random source is available");
    Secret(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// A new row's identifier: a UUID v7 (RFC 9562), the clock in milliseconds then 74 random
/// bits. Time first, so new rows land at the end of every index keyed by their id (users'
/// ids key the group memberships' and the task queue's lookups) instead of on a random page
/// of it: fewer pages rewritten per commit. The creation time it shows is already public
/// (`meta.created`).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Seals and opens secrets stored in the database (Meta tokens, app secrets) with
/// AES-256-GCM under `crypto.key`. Each ciphertext is bound to the row it belongs to
/// (associated data: the row's id), so it cannot be copied to another row and opened there.
/// Stored form: 12-byte random nonce, ciphertext, 16-byte tag.
pub struct SecretBox {
    key: aws_lc_rs::aead::RandomizedNonceKey,
}

/// A sealed secret could not be opened: wrong key, wrong row, or altered.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be opened (crypto.key changed, or the row was altered)")]
pub struct OpenError;

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            key: aws_lc_rs::aead::RandomizedNonceKey::new(&aws_lc_rs::aead::AES_256_GCM, key)
                .expect("a 32-byte key fits AES-256-GCM"),
        }
    }

    pub fn seal(&self, row_id: &str, secret: &str) -> Vec<u8> {
        use aws_lc_rs::aead::Aad;
        let mut in_out = secret.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(row_id.as_bytes()), &mut in_out)
            .expect("sealing a short secret cannot fail");
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&in_out);
        out
    }

    pub fn open(&self, row_id: &str, sealed: &[u8]) -> Result<Secret, OpenError> {
        use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut in_out = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(row_id.as_bytes()), &mut in_out)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain.to_vec())
            .map(Secret)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_the_same_key_and_row() {
        let sealer = SecretBox::new(&[7u8; 32]);
        let sealed = sealer.seal("hub-1", "EAAB-meta-token");
        assert!(!sealed
            .windows(b"EAAB".len())
            .any(|w| w == b"EAAB".as_slice()));
        assert_eq!(
            sealer.open("hub-1", &sealed).unwrap().expose(),
            "EAAB-meta-token"
        );
        // Random nonces: sealing twice differs.
        assert_ne!(sealer.seal("hub-1", "EAAB-meta-token"), sealed);
        assert!(
            sealer.open("hub-2", &sealed).is_err(),
            "moved to another row"
        );
        assert!(SecretBox::new(&[8u8; 32]).open("hub-1", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("hub-1", &altered).is_err());
        assert!(sealer.open("hub-1", &sealed[..5]).is_err());
    }

    #[test]
    fn tokens_are_unique_prefixed_and_hash_deterministically() {
        let a = generate_scim_token();
        let b = generate_scim_token();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("hbs_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_eq!(hash_token(a.expose()), hash_token(a.expose()));
        assert!(hashes_equal(&hash_token("x"), &hash_token("x")));
        assert!(!hashes_equal(&hash_token("x"), &hash_token("y")));
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }
}
