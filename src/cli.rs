//! The command line: `serve`, `migrate`, `token create|list|revoke`, `demo`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Settings};
use crate::sandbox::{self, demo_ids, SandboxConfig, Seed};
use crate::service::tokens::Tokens;
use crate::service::Actor;
use crate::startup::Application;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "hubbridge",
    version,
    about = "SCIM 2.0 provisioning bridge to Meta Business Manager"
)]
pub struct Cli {
    /// Configuration file layered over the built-in defaults (then HUBBRIDGE__* variables).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format: text or json (overrides log.format).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage SCIM bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Mint an admin API token (HS256 with admin.jwt_secret); printed alone on the last line.
    AdminToken {
        /// The admin's identity (the token's `sub`).
        #[arg(long)]
        subject: String,
        /// Workspace role: owner, super_admin, admin or user.
        #[arg(long)]
        role: String,
        #[arg(long)]
        email: Option<String>,
        /// Lifetime: a number of seconds, or with a unit: 30m, 12h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Run the Meta Graph API simulator alone (for tests, demos and benchmarks).
    Sandbox {
        /// Port to listen on (0 picks a free one; the URL is printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Seed file (JSON or TOML) describing businesses, people, assets, partners, tokens,
        /// and optionally a `sandbox` section (rate limits, require_appsecret_proof, faults).
        /// Default: the demo seed.
        #[arg(long, value_name = "FILE")]
        seed: Option<PathBuf>,
        /// Refuse Graph calls without `appsecret_proof` (overrides the seed).
        #[arg(long)]
        require_appsecret_proof: bool,
        /// Calls per rolling window per business (overrides the seed).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        business_budget: Option<u32>,
        /// Calls per rolling window per app (overrides the seed).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        app_budget: Option<u32>,
        /// Rate-limit window in milliseconds (Meta: 3600000; overrides the seed).
        #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
        window_ms: Option<u64>,
        /// Faults active at start: a JSON file shaped like `PUT /_sandbox/faults` (replaces the
        /// seed's `sandbox.faults`).
        #[arg(long, value_name = "FILE")]
        faults: Option<PathBuf>,
    },
    /// Try hubbridge locally: SQLite in a scratch folder, a fresh SCIM token, the server and
    /// the Graph API sandbox with the demo seed.
    Demo {
        /// Folder for the demo database (default: a new temporary folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line of stdout.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

/// Loads settings, applying `--log-format`.
pub fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(f) = &cli.log_format {
        s.log.format = match f.to_ascii_lowercase().as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => anyhow::bail!("--log-format: {other:?} is not text or json"),
        };
    }
    Ok(s)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = settings(&cli)?;
    crate::telemetry::init(settings.log.format, &settings.log.level, std::io::stderr);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
            tracing::info!("hubbridge stopped");
        }
        Command::AdminToken {
            subject,
            role,
            email,
            ttl,
        } => {
            let role: crate::admin::auth::WorkspaceRole =
                serde_json::from_value(serde_json::Value::String(role.clone())).map_err(|_| {
                    anyhow::anyhow!("--role {role:?}: must be owner, super_admin, admin or user")
                })?;
            if !role.may_use_admin_api() {
                anyhow::bail!("--role: guests and login-only members may not use the admin API");
            }
            if subject.trim().is_empty() {
                anyhow::bail!("--subject must not be empty");
            }
            let ttl = parse_ttl(&ttl)?;
            let token = crate::admin::auth::mint(
                &settings.admin,
                subject.trim(),
                role,
                email.as_deref(),
                ttl,
            )?;
            eprintln!(
                "Admin token for {subject:?} ({role:?}), valid for {}s.",
                ttl.as_secs()
            );
            println!("{token}");
        }
        Command::Migrate => {
            let store = Store::connect(&settings.database)?;
            let n = store.migrate().await?;
            println!("{n} migration(s) applied");
        }
        Command::Token { command } => {
            let store = Store::connect(&settings.database)?;
            store.migrate().await?;
            token_command(&store, command).await?;
        }
        Command::Sandbox {
            port,
            host,
            seed,
            require_appsecret_proof,
            business_budget,
            app_budget,
            window_ms,
            faults,
        } => {
            let seed = match seed {
                Some(path) => Seed::from_path(&path)?,
                None => Seed::demo(),
            };
            let mut config = seed.sandbox.apply(SandboxConfig::default())?;
            if require_appsecret_proof {
                config.require_appsecret_proof = true;
            }
            if let Some(n) = business_budget {
                config.rate_limit.business_budget = n;
            }
            if let Some(n) = app_budget {
                config.rate_limit.app_budget = n;
            }
            if let Some(ms) = window_ms {
                config.rate_limit.window = std::time::Duration::from_millis(ms);
            }
            if let Some(path) = faults {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("reading faults file {}: {e}", path.display()))?;
                let f: sandbox::FaultConfig = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("parsing faults file {}: {e}", path.display()))?;
                config = sandbox::seed::SeedSettings {
                    faults: Some(f),
                    ..Default::default()
                }
                .apply(config)?;
            }
            let listener = std::net::TcpListener::bind((host.as_str(), port))
                .map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port}: {e}"))?;
            let server = sandbox::start(config, seed, listener).await?;
            println!("Graph API sandbox");
            println!("  Graph URL:      {}/v25.0/", server.url());
            println!("  control token:  {}", server.control_token().expose());
            println!("  control API:    {}/_sandbox/", server.url());
            println!("Stop with Ctrl-C.");
            shutdown_signal().await;
            server.stop().await;
        }
        Command::Demo { dir } => {
            let dir = match dir {
                Some(d) => {
                    std::fs::create_dir_all(&d)?;
                    d
                }
                // Kept after exit so the operator can look at the database.
                None => tempfile::Builder::new()
                    .prefix("hubbridge-demo-")
                    .tempdir()?
                    .keep(),
            };
            settings.database.url = dir.join("hubbridge.db").to_string_lossy().into_owned();
            let graph = sandbox::start(
                SandboxConfig::default(),
                Seed::demo(),
                std::net::TcpListener::bind(("127.0.0.1", 0))?,
            )
            .await?;
            settings.meta.graph_url = graph.url();
            if settings.crypto.load_key()?.is_none() {
                settings.crypto.key = demo_secret(&dir, "crypto.key", || {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
                })?;
            }
            if settings.admin.jwt_secret.expose().is_empty() {
                settings.admin.jwt_secret = demo_secret(&dir, "admin-jwt.secret", || {
                    rand::random::<[u8; 32]>()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect()
                })?;
            }
            let app = Application::build(settings.clone()).await?;
            let (_, token) = Tokens::new(app.store().clone())
                .issue(&Actor::Cli, "demo")
                .await?;
            let (hub, group) = demo_hub(&app, &settings).await?;
            let admin_token = crate::admin::auth::mint(
                &settings.admin,
                "demo-admin",
                crate::admin::auth::WorkspaceRole::Owner,
                None,
                std::time::Duration::from_secs(12 * 3600),
            )?;
            let host = if settings.server.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                settings.server.host.as_str()
            };
            let url = format!("http://{host}:{}/scim/v2", app.port());
            println!("hubbridge demo");
            println!("  database:   {}", settings.database.url);
            println!("  SCIM URL:   {url}");
            println!("  SCIM token: {}", token.expose());
            println!(
                "  Graph API sandbox: {}/v25.0/ (demo business {}, hub token {})",
                graph.url(),
                demo_ids::BUSINESS_ID,
                demo_ids::HUB_TOKEN
            );
            println!(
                "  sandbox control token: {}",
                graph.control_token().expose()
            );
            println!(
                "  hub: {} (business {}), connected; directory group Marketing ({group}) is \
                 granted EMPLOYEE with ANALYZE on Page {}",
                hub.id,
                hub.business_id,
                demo_ids::PAGE_IDS[0]
            );
            println!("  Marketing group id: {group}");
            println!("  admin API:  http://{host}:{}/admin/v1/", app.port());
            println!("  admin token: {admin_token}");
            println!("Try:");
            println!(
                "  curl -s -H 'Authorization: Bearer {}' {url}/Users",
                token.expose()
            );
            println!(
                "  (add a user to group {group} with a SCIM PATCH: the engine invites them in the \
                 sandbox; see {}/_sandbox/businesses/{} with the control token)",
                graph.url(),
                demo_ids::BUSINESS_ID
            );
            println!("Stop with Ctrl-C.");
            app.run_until_stopped().await?;
            graph.stop().await;
        }
    }
    Ok(())
}

async fn token_command(store: &Store, command: TokenCommand) -> anyhow::Result<()> {
    let tokens = Tokens::new(store.clone());
    match command {
        TokenCommand::Create { name } => {
            let (info, token) = tokens.issue(&Actor::Cli, &name).await?;
            eprintln!(
                "Created SCIM token {:?} (id {}). It is shown once; store it in your IdP now.",
                info.name, info.id
            );
            println!("{}", token.expose());
        }
        TokenCommand::List => {
            println!(
                "{:<36}  {:<24}  {:<20}  {:<20}  status",
                "id", "name", "created", "last used"
            );
            for t in tokens.list().await? {
                let fmt = |m: Option<i64>| {
                    m.and_then(chrono::DateTime::from_timestamp_micros)
                        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "{:<36}  {:<24}  {:<20}  {:<20}  {}",
                    t.id,
                    t.name,
                    fmt(Some(t.created_at)),
                    fmt(t.last_used_at),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(&Actor::Cli, &id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// A secret of the demo (its `crypto.key`, its `admin.jwt_secret`), kept in `DIR/name`
/// (made by `make` on the first run), so that a demo started again on the same folder can
/// open the hub token it stored and accept the admin tokens it printed.
fn demo_secret(
    dir: &std::path::Path,
    name: &str,
    make: impl FnOnce() -> String,
) -> anyhow::Result<crate::crypto::Secret> {
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(crate::crypto::Secret::new(text.trim()));
    }
    let secret = make();
    std::fs::write(&path, &secret)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(crate::crypto::Secret::new(secret))
}

/// Connects the sandbox's demo business (once per database) and grants a directory group
/// "Marketing" EMPLOYEE with ANALYZE on the first Page. Returns the hub and the group's id.
async fn demo_hub(
    app: &Application,
    settings: &Settings,
) -> anyhow::Result<(crate::store::hubs::HubRow, String)> {
    use crate::access::{AssetKind, Grantee, HubRole, Role};
    use crate::crypto::Secret;
    use crate::service::directory::Directory;
    use crate::service::hubs::{ConnectHub, NewGrant};
    let admin = Actor::Admin {
        subject: "demo-admin".into(),
    };
    let existing = app
        .store()
        .read(|c| crate::store::hubs::find_by_business(c, demo_ids::BUSINESS_ID))
        .await?;
    let directory = Directory::new(app.store().clone(), settings.engine.max_attempts);
    if let Some(hub) = existing {
        let groups = directory
            .list_groups(
                crate::service::directory::ListSpec {
                    cond: crate::store::sql::Cond::True,
                    sort: None,
                    offset: 0,
                    limit: 1000,
                },
                false,
            )
            .await?;
        let group = groups
            .items
            .iter()
            .find(|g| g.row.display_name == "Marketing")
            .map(|g| g.row.id.clone())
            .unwrap_or_default();
        return Ok((hub, group));
    }
    let hub = app
        .hubs()
        .connect(
            &admin,
            ConnectHub {
                label: "Acme (demo)".into(),
                business_id: demo_ids::BUSINESS_ID.into(),
                app_id: demo_ids::APP_ID.into(),
                access_token: Secret::new(demo_ids::HUB_TOKEN),
                app_secret: Some(Secret::new(demo_ids::APP_SECRET)),
                login_method: "sso".into(),
                sync_interval_hours: 24,
                safeguard_percent: 20,
                safeguard_window_minutes: 60,
                safeguard_max_removals: None,
            },
        )
        .await?;
    let group = directory
        .create_group(&admin, "Marketing".into(), None, vec![])
        .await?;
    app.hubs()
        .grant(
            &admin,
            &hub.id,
            NewGrant {
                grantee: Grantee::Group(group.row.id.clone()),
                hub_role: HubRole::Collaborator,
                role: Role::Employee,
                assets: vec![(
                    demo_ids::PAGE_IDS[0].into(),
                    AssetKind::Page,
                    vec!["ANALYZE".into()],
                )],
            },
        )
        .await?;
    Ok((hub, group.row.id))
}

/// `90`, `30m`, `12h`, `7d` → a duration (at most 366 days).
fn parse_ttl(s: &str) -> anyhow::Result<std::time::Duration> {
    let s = s.trim();
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--ttl {s:?}: a number with s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("--ttl {s:?}: a number with s, m, h or d"),
    };
    if secs == 0 || secs > 366 * 86_400 {
        anyhow::bail!("--ttl {s:?}: between 1 second and 366 days");
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
