//! Secrets the client handles — access tokens and app secrets — in newtypes whose `Debug` and
//! `Display` never show them, and the `appsecret_proof` derived from them (reference 10).

use std::fmt;

/// A Graph access token (system-user, user or Page token).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

/// An app secret, used only to compute `appsecret_proof`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(String);

macro_rules! redacted {
    ($t:ident) => {
        impl $t {
            pub fn new(value: impl Into<String>) -> Self {
                $t(value.into())
            }
            /// The secret itself, for the one place that must send it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "([redacted])"))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($t)
            }
        }
    };
}

redacted!(AccessToken);
redacted!(AppSecret);

/// Lowercase hex of HMAC-SHA256(key = app secret, message = access token).
pub fn appsecret_proof(secret: &AppSecret, token: &AccessToken) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.0.as_bytes());
    let tag = hmac::sign(&key, token.0.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What one Graph call authenticates with: the token, its proof (made with the secret of the
/// app the token belongs to — a partner's token needs the partner app's secret) and a
/// non-secret key naming the token for pacing.
#[derive(Clone)]
pub struct GraphAuth {
    token: AccessToken,
    proof: Option<String>,
    key: String,
}

impl GraphAuth {
    pub fn new(token: AccessToken, app_secret: Option<&AppSecret>) -> GraphAuth {
        let proof = app_secret.map(|s| appsecret_proof(s, &token));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.0.as_bytes());
        let key = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        GraphAuth { token, proof, key }
    }
    pub fn token(&self) -> &AccessToken {
        &self.token
    }
    pub(crate) fn proof(&self) -> Option<&str> {
        self.proof.as_deref()
    }
    /// A short hash of the token: safe to log, used as the pacing key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for GraphAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphAuth")
            .field("token", &self.token)
            .field("proof", &self.proof.as_ref().map(|_| "[redacted]"))
            .field("key", &self.key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_matches_the_reference_test_vector() {
        let p = appsecret_proof(
            &AppSecret::new("app-secret-123"),
            &AccessToken::new("EAAtoken-abc"),
        );
        assert_eq!(
            p,
            "e484997750bd7f32533265428e7cd128d68ea7e9866e8f205267ce9a8cb2968f"
        );
    }

    #[test]
    fn secrets_never_print() {
        let auth = GraphAuth::new(
            AccessToken::new("EAAsecret"),
            Some(&AppSecret::new("s3cret")),
        );
        let shown = format!("{auth:?} {} {:?}", auth.token(), AppSecret::new("s3cret"));
        assert!(
            !shown.contains("EAAsecret") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
