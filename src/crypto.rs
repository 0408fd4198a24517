//! Secrets: SCIM bearer tokens are generated here and only their SHA-256 is ever stored.
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

/// A random identifier for rows (UUID v4 text).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
