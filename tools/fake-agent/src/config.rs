//! Start-up settings: the command line (shaped like Claude Code's, unknown flags ignored) and
//! the `CAO_FAKE_*` environment knobs tests use to script the agent.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::mcp::McpConfig;
use crate::scenario::Scenario;
use crate::session::SessionRecord;

/// How long each turn "works" when the input does not say (`CAO_FAKE_DELAY_MS`).
pub const ENV_DELAY_MS: &str = "CAO_FAKE_DELAY_MS";
/// How many Enter presses submit an input, 1 or 2 (`CAO_FAKE_ENTERS`).
pub const ENV_ENTERS: &str = "CAO_FAKE_ENTERS";
/// Tool-call rules, inline JSON or a file path (`CAO_FAKE_SCENARIO`).
pub const ENV_SCENARIO: &str = "CAO_FAKE_SCENARIO";
/// File that receives one JSON line per submitted input (`CAO_FAKE_TRANSCRIPT`).
pub const ENV_TRANSCRIPT: &str = "CAO_FAKE_TRANSCRIPT";
/// Delay before the banner appears, to mimic a slow CLI start (`CAO_FAKE_STARTUP_MS`).
pub const ENV_STARTUP_MS: &str = "CAO_FAKE_STARTUP_MS";
/// `1`: start with two dialogs, as CLIs do on a first run (see `screen::DIALOGS`).
pub const ENV_DIALOGS: &str = "CAO_FAKE_DIALOGS";

/// Everything the agent needs to know before it draws its banner.
#[derive(Debug)]
pub struct Settings {
    /// `--profile`, shown in the banner.
    pub profile: Option<String>,
    /// `--system-prompt`; accepted like a real CLI's, not otherwise used.
    pub system_prompt: Option<String>,
    /// Servers from every `--mcp-config`.
    pub mcp: McpConfig,
    /// Default working time per turn.
    pub delay: Duration,
    /// Enter presses needed to submit.
    pub enters: u8,
    /// Tool-call rules (empty when unset).
    pub scenario: Scenario,
    /// Where to log submitted inputs, if anywhere.
    pub transcript: Option<String>,
    /// Delay before the banner.
    pub startup: Duration,
    /// Whether the start-up dialogs come before the prompt.
    pub dialogs: bool,
    /// The session record and turn-end hook (`--session-record`, `--stop-hook`).
    pub session: SessionRecord,
}

impl Settings {
    /// Reads the command line (without the program name) and the environment.
    pub fn load(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut settings = Settings {
            profile: None,
            system_prompt: None,
            mcp: McpConfig::default(),
            delay: Duration::from_millis(env_ms(ENV_DELAY_MS)?.unwrap_or(50)),
            enters: match std::env::var(ENV_ENTERS).ok().as_deref().map(str::trim) {
                None | Some("") | Some("1") => 1,
                Some("2") => 2,
                Some(other) => bail!("{ENV_ENTERS} must be 1 or 2, not {other:?}"),
            },
            scenario: match non_empty_env(ENV_SCENARIO) {
                Some(value) => Scenario::parse(&json_or_file(&value, ENV_SCENARIO)?)?,
                None => Scenario::default(),
            },
            transcript: non_empty_env(ENV_TRANSCRIPT),
            startup: Duration::from_millis(env_ms(ENV_STARTUP_MS)?.unwrap_or(0)),
            dialogs: non_empty_env(ENV_DIALOGS).is_some_and(|v| v.trim() == "1"),
            session: SessionRecord::default(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            if !matches!(
                flag.as_str(),
                "--profile"
                    | "--system-prompt"
                    | "--mcp-config"
                    | "--session-record"
                    | "--stop-hook"
            ) {
                continue; // Unknown flags and stray values are ignored, silently.
            }
            let Some(value) = inline.or_else(|| args.next()) else {
                break;
            };
            match flag.as_str() {
                "--profile" => settings.profile = Some(value),
                "--system-prompt" => settings.system_prompt = Some(value),
                "--session-record" => settings.session.path = Some(value),
                "--stop-hook" => {
                    settings.session.stop_hook = Some(
                        serde_json::from_str(&value)
                            .context("--stop-hook must be a JSON array of strings (an argv)")?,
                    )
                }
                _ => settings
                    .mcp
                    .merge(McpConfig::parse(&json_or_file(&value, "--mcp-config")?)?),
            }
        }
        Ok(settings)
    }
}

/// An environment variable, treating empty as unset.
fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A whole number of milliseconds from the environment.
fn env_ms(name: &str) -> Result<Option<u64>> {
    non_empty_env(name)
        .map(|v| {
            v.trim().parse().with_context(|| {
                format!("{name} must be a whole number of milliseconds, not {v:?}")
            })
        })
        .transpose()
}

/// The JSON text of a value that is either inline JSON (starts with `{`) or a file path.
fn json_or_file(value: &str, what: &str) -> Result<String> {
    if value.trim_start().starts_with('{') {
        Ok(value.to_owned())
    } else {
        std::fs::read_to_string(value)
            .with_context(|| format!("{what}: cannot read file {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str]) -> Settings {
        Settings::load(args.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn known_flags_in_both_forms() {
        let s = load(&[
            "--profile",
            "developer",
            "--system-prompt=be brief",
            "--mcp-config",
            r#"{"mcpServers": {"cao": {"command": "/bin/cao", "args": ["mcp-server"]}}}"#,
        ]);
        assert_eq!(s.profile.as_deref(), Some("developer"));
        assert_eq!(s.system_prompt.as_deref(), Some("be brief"));
        assert_eq!(s.mcp.names().collect::<Vec<_>>(), ["cao"]);
    }

    #[test]
    fn unknown_flags_are_ignored() {
        let s = load(&[
            "--dangerously-skip-permissions",
            "--model",
            "opus",
            "stray",
            "--profile",
            "p",
            "--profile",
        ]);
        assert_eq!(s.profile.as_deref(), Some("p"));
    }

    #[test]
    fn mcp_config_from_a_file() {
        let path = std::env::temp_dir().join(format!("fake-agent-mcp-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"mcpServers": {"x": {"command": "/bin/true"}}}"#).unwrap();
        let s = load(&["--mcp-config", path.to_str().unwrap()]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(s.mcp.names().collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn json_or_file_reports_missing_files() {
        assert!(json_or_file("/nonexistent/fake-agent.json", "x").is_err());
        assert_eq!(json_or_file(" {\"a\":1}", "x").unwrap(), " {\"a\":1}");
    }
}
