//! Settings: `config/base.toml` (compiled in), then an optional file given with `--config`,
//! then environment variables `HUBBRIDGE__SECTION__KEY`. Every problem names the key at fault.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// The defaults, shipped inside the binary so it runs from any directory.
const BASE_TOML: &str = include_str!("../config/base.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub scim: ScimSettings,
    pub log: LogSettings,
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
}
