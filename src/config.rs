//! Settings: `config/base.toml` (compiled in), then an optional file given with `--config`,
//! then environment variables `HUBBRIDGE__SECTION__KEY`. Every problem names the key at fault.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::crypto::Secret;

/// The defaults, shipped inside the binary so it runs from any directory.
const BASE_TOML: &str = include_str!("../config/base.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub scim: ScimSettings,
    pub log: LogSettings,
    pub meta: MetaSettings,
    pub crypto: CryptoSettings,
    pub admin: AdminSettings,
    pub engine: EngineSettings,
}

/// Where the Graph API is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// The Graph host without a version: Meta's, or the sandbox's.
    pub graph_url: String,
    /// `v25.0`.
    pub api_version: String,
    /// Meta's rolling rate-limit window, which the client paces its calls over (an hour).
    /// Only a sandbox started with a shorter window needs another value.
    pub rate_window_secs: u64,
}

/// The key that encrypts Meta and partner tokens at rest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSettings {
    /// Standard base64 of 32 random bytes; empty when `key_file` holds it (or no key is set).
    pub key: Secret,
    /// A file holding that base64 text.
    pub key_file: String,
}

/// How admin API tokens (JWTs) are verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// HS256 key (its UTF-8 bytes, at least 32); empty: no HS256 tokens.
    pub jwt_secret: Secret,
    /// `iss` and `aud` a token must carry, when not empty.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// A JWKS file of public keys for RS256 / ES256 tokens; empty: none.
    pub jwks_file: String,
}

/// The task queue's workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Tasks run at once by this process; 0 runs none (a replica that only serves requests).
    pub workers: usize,
    /// How long a claimed task is leased; a worker renews it while the task runs, and a task
    /// whose lease ran out (its process died) is run again.
    pub lease_secs: u64,
    /// Attempts before a task that keeps failing is marked `failed`.
    pub max_attempts: u32,
    /// First retry delay after a failed attempt, in milliseconds; doubles per attempt (with
    /// full jitter) up to `retry_cap_secs`.
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    /// How often an idle worker looks for due tasks, in milliseconds.
    pub poll_ms: u64,
    /// While this many SCIM requests are in flight, workers wait before claiming more work
    /// (the IdP's pushes get the server first); 0: never.
    pub give_way_at: usize,
    /// The longest a worker waits so, per claim, in milliseconds.
    pub give_way_max_ms: u64,
}

impl CryptoSettings {
    /// The 32-byte key from `crypto.key` or `crypto.key_file`, or `None` when neither is set.
    /// A key that is set but unusable is an error naming the setting.
    pub fn load_key(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        let (text, from) = match (self.key.expose().trim(), self.key_file.trim()) {
            ("", "") => return Ok(None),
            (k, "") => (k.to_string(), "crypto.key"),
            ("", path) => match std::fs::read_to_string(path) {
                Ok(t) => (t.trim().to_string(), "crypto.key_file"),
                Err(e) => {
                    return Err(ConfigError(format!(
                        "crypto.key_file: cannot read {path}: {e}"
                    )))
                }
            },
            _ => {
                return Err(ConfigError(
                    "crypto.key and crypto.key_file: set one, not both".into(),
                ))
            }
        };
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Some)
            .ok_or_else(|| {
                ConfigError(format!(
                    "{from}: must be standard base64 of 32 bytes (try: openssl rand -base64 32)"
                ))
            })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub trust_forwarded_headers: bool,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u32,
    pub acquire_timeout_secs: u64,
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimSettings {
    pub default_page_size: usize,
    pub max_page_size: usize,
    pub max_filter_length: usize,
    pub max_patch_operations: usize,
    pub max_values_per_attribute: usize,
    pub token_cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// A configuration problem, always naming the key (`server.port`) or the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads base, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, Env::prefixed("HUBBRIDGE__").split("__"))
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(BASE_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let settings: Settings = figment
            .merge(env.lowercase(true))
            .extract()
            .map_err(|e| ConfigError(describe_figment_error(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.server.host.trim().is_empty() {
            return fail("server.host", "must not be empty");
        }
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes", "must be at least 1024");
        }
        if !self.server.public_url.is_empty() {
            match url::Url::parse(&self.server.public_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => {
                    return fail(
                        "server.public_url",
                        "must be an absolute http(s) URL or empty",
                    )
                }
            }
        }
        if self.database.url.trim().is_empty() {
            return fail("database.url", "must not be empty");
        }
        if self.database.statement_timeout_ms == 0 {
            return fail("database.statement_timeout_ms", "must be at least 1");
        }
        if self.database.max_connections == 0 {
            return fail("database.max_connections", "must be at least 1");
        }
        if self.scim.max_page_size == 0 {
            return fail("scim.max_page_size", "must be at least 1");
        }
        if self.scim.default_page_size == 0 || self.scim.default_page_size > self.scim.max_page_size
        {
            return fail(
                "scim.default_page_size",
                "must be between 1 and scim.max_page_size",
            );
        }
        if self.scim.max_filter_length < 64 {
            return fail("scim.max_filter_length", "must be at least 64");
        }
        if self.scim.max_patch_operations == 0 {
            return fail("scim.max_patch_operations", "must be at least 1");
        }
        if self.scim.max_values_per_attribute == 0 {
            return fail("scim.max_values_per_attribute", "must be at least 1");
        }
        match url::Url::parse(&self.meta.graph_url) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.path() == "/" => {}
            _ => {
                return fail(
                    "meta.graph_url",
                    "must be an http(s) URL without a path (the version is meta.api_version)",
                )
            }
        }
        if self.meta.rate_window_secs == 0 {
            return fail("meta.rate_window_secs", "must be at least 1");
        }
        let v = self.meta.api_version.strip_prefix('v').unwrap_or("");
        if v.split('.').count() != 2 || !v.split('.').all(|n| n.parse::<u32>().is_ok()) {
            return fail("meta.api_version", "must look like v25.0");
        }
        self.crypto.load_key()?;
        let secret = self.admin.jwt_secret.expose();
        if !secret.is_empty() && secret.len() < 32 {
            return fail(
                "admin.jwt_secret",
                "must be at least 32 bytes long, or empty",
            );
        }
        if !self.admin.jwks_file.is_empty() && !Path::new(&self.admin.jwks_file).is_file() {
            return fail("admin.jwks_file", "names no readable file");
        }
        if self.engine.lease_secs < 5 {
            return fail("engine.lease_secs", "must be at least 5");
        }
        if self.engine.max_attempts == 0 {
            return fail("engine.max_attempts", "must be at least 1");
        }
        if self.engine.retry_base_ms == 0 || self.engine.retry_cap_secs == 0 {
            return fail(
                "engine.retry_base_ms / engine.retry_cap_secs",
                "must be at least 1",
            );
        }
        if !(10..=60_000).contains(&self.engine.poll_ms) {
            return fail("engine.poll_ms", "must be between 10 and 60000");
        }
        if self.engine.give_way_max_ms > 60_000 {
            return fail("engine.give_way_max_ms", "must be at most 60000");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return fail("log.level", "is not a valid tracing filter (try \"info\")");
        }
        Ok(())
    }
}

/// figment's messages already carry the key path; make sure it is spelled as dotted.
fn describe_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("{key}: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closure type is fixed by figment"
)]
mod tests {
    use super::*;

    #[test]
    fn base_config_loads_and_validates() {
        figment::Jail::expect_with(|_jail| {
            let s = Settings::load(None).expect("base config is valid");
            assert_eq!(s.server.port, 8080);
            assert_eq!(s.log.format, LogFormat::Text);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_base_and_bad_values_name_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HUBBRIDGE__SERVER__PORT", "9001");
            jail.set_env("HUBBRIDGE__DATABASE__URL", "postgres://x@127.0.0.1/db");
            let s = Settings::load(None).expect("valid");
            assert_eq!(s.server.port, 9001);
            assert_eq!(s.database.url, "postgres://x@127.0.0.1/db");

            jail.set_env("HUBBRIDGE__SERVER__PORT", "not-a-port");
            let e = Settings::load(None).expect_err("must fail").to_string();
            assert!(e.contains("server.port"), "{e}");

            jail.set_env("HUBBRIDGE__SERVER__PORT", "0");
            jail.set_env("HUBBRIDGE__SCIM__DEFAULT_PAGE_SIZE", "5000");
            let e = Settings::load(None).expect_err("must fail").to_string();
            assert!(e.contains("scim.default_page_size"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_a_file_is_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("x.toml", "[server]\nprot = 1\n")?;
            let e = Settings::load(Some(Path::new("x.toml")))
                .expect_err("must fail")
                .to_string();
            assert!(e.contains("prot"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn engine_settings_load_from_the_environment_and_secrets_never_print() {
        figment::Jail::expect_with(|jail| {
            let key = "A".repeat(43) + "=";
            jail.set_env("HUBBRIDGE__META__GRAPH_URL", "http://127.0.0.1:9999");
            jail.set_env("HUBBRIDGE__CRYPTO__KEY", &key);
            jail.set_env("HUBBRIDGE__ADMIN__JWT_SECRET", "s".repeat(32));
            jail.set_env("HUBBRIDGE__ENGINE__WORKERS", "2");
            jail.set_env("HUBBRIDGE__ENGINE__LEASE_SECS", "15");
            jail.set_env("HUBBRIDGE__ENGINE__MAX_ATTEMPTS", "3");
            let s = Settings::load(None).expect("valid");
            assert_eq!(s.meta.graph_url, "http://127.0.0.1:9999");
            assert_eq!(s.meta.api_version, "v25.0");
            assert_eq!(s.crypto.load_key().unwrap(), Some([0u8; 32]));
            assert_eq!(
                (s.engine.workers, s.engine.lease_secs, s.engine.max_attempts),
                (2, 15, 3)
            );
            let shown = format!("{s:?}");
            assert!(
                !shown.contains(&key) && !shown.contains(&"s".repeat(32)),
                "{shown}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_crypto_key_comes_from_a_file_or_the_setting_and_must_be_32_bytes() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(
                Settings::load(None).unwrap().crypto.load_key().unwrap(),
                None
            );
            jail.create_file("key", &format!("{}A=\n", "B".repeat(42)))?;
            jail.set_env("HUBBRIDGE__CRYPTO__KEY_FILE", "key");
            let key = Settings::load(None).unwrap().crypto.load_key().unwrap();
            assert!(key.is_some_and(|k| k[0] == 0x04), "{key:?}");

            jail.set_env("HUBBRIDGE__CRYPTO__KEY", "A".repeat(43) + "=");
            let e = Settings::load(None).expect_err("both set").to_string();
            assert!(e.contains("crypto.key and crypto.key_file"), "{e}");

            jail.set_env("HUBBRIDGE__CRYPTO__KEY_FILE", "");
            jail.set_env("HUBBRIDGE__CRYPTO__KEY", "c2hvcnQ=");
            let e = Settings::load(None).expect_err("short key").to_string();
            assert!(e.contains("crypto.key:") && e.contains("32 bytes"), "{e}");
            assert!(!e.contains("c2hvcnQ"), "the key is not repeated: {e}");

            jail.set_env("HUBBRIDGE__CRYPTO__KEY", "");
            jail.set_env("HUBBRIDGE__CRYPTO__KEY_FILE", "missing");
            let e = Settings::load(None).expect_err("missing file").to_string();
            assert!(e.contains("crypto.key_file"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn bad_engine_admin_and_meta_settings_name_their_key() {
        for (var, value, key) in [
            (
                "HUBBRIDGE__ADMIN__JWT_SECRET",
                "too-short",
                "admin.jwt_secret",
            ),
            (
                "HUBBRIDGE__ADMIN__JWKS_FILE",
                "no-such.json",
                "admin.jwks_file",
            ),
            ("HUBBRIDGE__META__GRAPH_URL", "ftp://x", "meta.graph_url"),
            (
                "HUBBRIDGE__META__GRAPH_URL",
                "https://x/v25.0",
                "meta.graph_url",
            ),
            ("HUBBRIDGE__META__API_VERSION", "25", "meta.api_version"),
            ("HUBBRIDGE__ENGINE__LEASE_SECS", "1", "engine.lease_secs"),
            (
                "HUBBRIDGE__ENGINE__MAX_ATTEMPTS",
                "0",
                "engine.max_attempts",
            ),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let e = Settings::load(None).expect_err(key).to_string();
                assert!(e.contains(key), "{var}={value}: {e}");
                Ok(())
            });
        }
    }
}
