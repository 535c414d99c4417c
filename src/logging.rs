//! Logging to a file under `CAO_HOME` (never stdout: for `cao mcp-server` stdout is the MCP
//! channel). The filter comes from `CAO_LOG`; without it only warnings are kept.

use std::path::Path;

use tracing_subscriber::EnvFilter;

use crate::env;

/// Installs the file logger for this process; logging trouble never stops cao.
pub fn init(home: &Path) {
    let dir = home.join("logs");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("cao.log"))
    else {
        return;
    };
    let filter = EnvFilter::try_from_env(env::CAO_LOG).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}
