//! Contract tests run on the one harness, [`TestApp`]: its sandbox (with its control API)
//! and its Graph client pointed at it. They use the server's SQLite database only as the
//! harness starts it.

use hubbridge::meta::GraphConfig;
use hubbridge::sandbox::{SandboxConfig, Seed};

use crate::helpers::Db;
pub use crate::helpers::TestApp;

/// A sandbox with the demo seed and a Graph client pointed at it.
pub async fn spawn() -> TestApp {
    TestApp::spawn(Db::Sqlite).await
}

pub async fn spawn_with(
    config: SandboxConfig,
    seed: Seed,
    tune: impl FnOnce(&mut GraphConfig),
) -> TestApp {
    TestApp::with_sandbox(config, seed, tune).await
}
