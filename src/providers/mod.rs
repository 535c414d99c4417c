//! One provider per agent CLI. A provider knows how to start its CLI from a profile, how to
//! answer its start-up dialogs, how input is submitted, and — as pure functions of the screen
//! text — which of the five statuses the CLI is in and what its last answer was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::provider_id::{Locate, ProviderId, UnknownProvider};
use crate::records::{RecordError, RecordFiles, Transcript};

mod amazon_chat;
mod claude_code;
mod codex;
mod copilot_cli;
mod fake;
mod gemini_cli;
mod kimi_cli;
mod kiro_cli;
mod opencode;
mod q_cli;
mod question;
mod screen;

pub use amazon_chat::{DEFAULT_KIRO_ALLOWED_TOOLS, KiroAgent};
pub use claude_code::ClaudeCode;
pub use codex::Codex;
pub use copilot_cli::CopilotCli;
pub use fake::Fake;
pub use gemini_cli::GeminiCli;
pub use kimi_cli::KimiCli;
pub use kiro_cli::KiroCli;
pub use opencode::OpenCode;
pub use q_cli::QCli;
pub use question::{Layout, Question, Reply};

/// The five terminal statuses, as in the original CAO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// At its prompt with nothing answered yet: ready for a task.
    Idle,
    /// Working on input (or still starting up).
    Processing,
    /// At its prompt after an answer: ready, and the answer can be read.
    Completed,
    /// Asking the user something (a permission or yes/no question).
    WaitingUserAnswer,
    /// The last turn ended in an error.
    Error,
}

impl Status {
    /// Whether text typed now would be taken as a new turn (the inbox only types then).
    /// Every provider reports `Error` only with the CLI back at its prompt, so a failed turn
    /// does not block the next message (typically the one that says "try again").
    pub fn accepts_input(self) -> bool {
        matches!(self, Status::Idle | Status::Completed | Status::Error)
    }

    /// The lowercase name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::WaitingUserAnswer => "waiting_user_answer",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What can go wrong in a provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No provider has this name.
    #[error(transparent)]
    Unknown(#[from] UnknownProvider),
    /// The provider's CLI could not be found.
    #[error("the {provider} CLI ('{program}') was not found on PATH{hint}")]
    NotInstalled {
        provider: &'static str,
        program: &'static str,
        hint: String,
    },
    /// The screen holds no answer to extract.
    #[error("no answer found on the {provider} screen; the agent may not have answered yet")]
    NoAnswer { provider: &'static str },
    /// Preparing the CLI's configuration failed.
    #[error("could not prepare {provider}'s configuration: {reason}")]
    Config {
        provider: &'static str,
        reason: String,
    },
}

/// An MCP server to hand to a CLI, in the `{command, args, env}` shape most CLIs share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServer {
    /// Program to run.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment for it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The name cao's own MCP server has in every CLI's configuration and agent file.
pub const CAO_SERVER: &str = "cao";

impl McpServer {
    /// cao's own MCP server: this same binary's `mcp-server`, with `env` (at least
    /// `CAO_HOME`, so a worker reaches the store that started it).
    pub fn cao(env: BTreeMap<String, String>) -> McpServer {
        let command = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "cao".into());
        McpServer {
            command,
            args: vec!["mcp-server".into()],
            env,
        }
    }
}

/// The agent a CLI is started as: the part of a profile providers read. The engine builds it
/// from the resolved profile, so providers never depend on how profiles are found or parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentSpec {
    /// The profile's name.
    pub name: String,
    /// One line on what the agent is for.
    pub description: String,
    /// The system prompt (may be empty).
    pub system_prompt: String,
    /// Model to ask the CLI for.
    pub model: Option<String>,
    /// Tools the agent may use; `None` leaves the CLI's default (all).
    pub tools: Option<Vec<String>>,
    /// Tools usable without asking; `None` lets cao pick a cautious default.
    pub allowed_tools: Option<Vec<String>>,
    /// Renamed tools, for CLIs that support them.
    pub tool_aliases: BTreeMap<String, String>,
    /// Per-tool settings, passed through to CLIs that support them.
    pub tools_settings: BTreeMap<String, serde_json::Value>,
    /// Lifecycle hooks, passed through to CLIs that support them.
    pub hooks: BTreeMap<String, serde_json::Value>,
    /// Context files (`file://README.md`), for CLIs that load them.
    pub resources: Vec<String>,
}

/// Everything a provider needs to build its CLI's command line.
#[derive(Debug, Clone)]
pub struct LaunchSpec<'a> {
    /// The new terminal's id.
    pub terminal_id: &'a str,
    /// The agent to start (name, system prompt, model).
    pub agent: &'a AgentSpec,
    /// MCP servers to give the CLI: cao's own first, then the profile's.
    pub mcp_servers: BTreeMap<String, McpServer>,
    /// Skip the CLI's permission prompts (the user asked with `--yolo`).
    pub yolo: bool,
    /// Directory the CLI starts in.
    pub working_dir: &'a Path,
    /// A private directory for files the CLI needs (e.g. an MCP config file): the
    /// terminal's run directory, where its hook events and record go too.
    pub scratch_dir: &'a Path,
    /// cao's state directory (`CAO_HOME`), for the hook commands a CLI is given.
    pub cao_home: &'a Path,
    /// Where this CLI keeps its agent definitions (the config file's `agents_dir`, else the
    /// CLI's default under the user's home), for CLIs that load an agent by name; `None` when
    /// it has none or there is no home directory.
    pub agents_dir: Option<PathBuf>,
}

/// How typed text becomes a submitted turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submit {
    /// Enter presses after the paste.
    pub enters: u8,
    /// Pause between the paste and the first Enter (CLIs that treat a fast Enter after a
    /// paste burst as a newline need one).
    pub pause: Duration,
}

/// How to make a CLI quit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Type this text and submit it (e.g. `/exit`).
    Text(&'static str),
    /// Press these keys (e.g. `C-d`, `C-x`).
    Keys(&'static [&'static str]),
}

/// One agent CLI, as cao drives it.
pub trait Provider: Send + Sync {
    /// Which CLI this is.
    fn id(&self) -> ProviderId;

    /// The provider's name (`claude_code`, `fake`, ...).
    fn name(&self) -> &'static str {
        self.id().name()
    }

    /// Where the CLI's executable is looked for.
    fn locate(&self) -> Locate {
        self.id().locate()
    }

    /// The environment variable that names the CLI's executable for one run; it beats the
    /// config file's `executable`, which beats a `PATH` lookup.
    fn executable_var(&self) -> &'static str {
        self.locate().var
    }

    /// The absolute path of the CLI's executable, resolved before any window is created so a
    /// missing CLI is reported at once.
    fn executable(&self) -> Result<PathBuf, ProviderError> {
        let locate = self.locate();
        screen::resolve_executable(
            self.name(),
            locate.var,
            locate.programs,
            locate.install_hint,
        )
    }

    /// The CLI's own arguments for this launch (its system prompt, MCP servers, session
    /// record), after which come the permission and model flags ([`ProviderId::yolo_flag`],
    /// [`ProviderId::model_flag`]).
    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError>;

    /// The CLI's argv (first element: `executable`).
    fn command(
        &self,
        executable: &Path,
        spec: &LaunchSpec<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut argv = vec![executable.display().to_string()];
        argv.extend(self.args(spec)?);
        if spec.yolo
            && let Some(flag) = self.id().yolo_flag()
        {
            argv.push(flag.to_string());
        }
        let model = spec.agent.model.as_deref().filter(|m| !m.is_empty());
        if let (Some(flag), Some(model)) = (self.id().model_flag(), model) {
            argv.extend([flag.to_string(), model.to_string()]);
        }
        Ok(argv)
    }

    /// Extra environment for the CLI process.
    fn env(&self, _spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The status shown on `screen` (the visible pane), read from the bottom up.
    fn status(&self, screen: &str) -> Status;

    /// The text of the last answer on `screen` (scrollback included), without UI chrome.
    fn last_response(&self, screen: &str) -> Result<String, ProviderError>;

    /// The CLI's own record of the terminal's conversation (exact answers, turn ends,
    /// usage); `None` for a CLI that keeps no record cao can read, whose screen is then
    /// the only source.
    fn transcript(&self, _files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        None
    }

    /// The question the CLI asks its user on `screen` (a permission, a y/n, a numbered
    /// choice; see [`Status::WaitingUserAnswer`]): its text, choices and how they are taken.
    /// `None` when the screen shows no question this provider can read.
    fn question(&self, _screen: &str) -> Option<Question> {
        None
    }

    /// Whether the CLI's input box on `screen` is empty: nothing typed that a message typed
    /// now would be mixed into. Checked before typing into a pane cao adopted (a user may be
    /// typing there); a CLI whose input box cao cannot read answers `true`.
    fn input_is_empty(&self, _screen: &str) -> bool {
        true
    }

    /// Keys that answer a start-up dialog visible on `screen`, if any.
    fn startup_keys(&self, _screen: &str) -> Option<&'static [&'static str]> {
        None
    }

    /// How input is submitted.
    fn submit(&self) -> Submit {
        Submit {
            enters: 1,
            pause: Duration::ZERO,
        }
    }

    /// Keys that interrupt the current turn.
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Escape"]
    }

    /// How to make the CLI quit.
    fn exit(&self) -> Exit {
        Exit::Text("/exit")
    }
}

/// The provider that drives `id`'s CLI. Providers hold no state, so each is one static value.
pub fn of(id: ProviderId) -> &'static dyn Provider {
    match id {
        ProviderId::ClaudeCode => &ClaudeCode,
        ProviderId::Codex => &Codex,
        ProviderId::GeminiCli => &GeminiCli,
        ProviderId::KiroCli => &KiroCli,
        ProviderId::OpenCode => &OpenCode,
        ProviderId::KimiCli => &KimiCli,
        ProviderId::CopilotCli => &CopilotCli,
        ProviderId::QCli => &QCli,
        ProviderId::Fake => &Fake,
    }
}

/// The provider called `name`.
pub fn get(name: &str) -> Result<&'static dyn Provider, ProviderError> {
    Ok(of(name.parse()?))
}

/// Finds `program` on the `PATH` of this process (absolute path returned; cao never relies
/// on a shell's PATH): the first executable regular file named `program` in its directories.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    if program.is_empty() || Path::new(program).components().count() != 1 {
        return None;
    }
    which::which(program).ok().filter(|path| path.is_absolute())
}

/// Whether `path` is an executable regular file (a symlink counts by its target). A relative
/// path is taken from the current directory, never looked up on `PATH`.
pub fn is_executable(path: &Path) -> bool {
    // `which` checks a path of more than one component in place, and a bare name on PATH:
    // an absolute path is always checked in place.
    std::path::absolute(path).is_ok_and(|path| which::which(path).is_ok())
}

/// Lines of a screen from the bottom up, skipping trailing blank lines.
pub fn lines_from_bottom(screen: &str) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = screen.lines().collect();
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    lines.into_iter().take(end).rev()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn programs_are_found_on_path_as_absolute_executables() {
        let sh = find_on_path("sh").expect("sh on PATH");
        assert!(sh.is_absolute() && is_executable(&sh), "{}", sh.display());
        assert_eq!(find_on_path("cao-no-such-program-anywhere"), None);
        assert_eq!(find_on_path(""), None);
        assert_eq!(find_on_path("bin/sh"), None, "names only, never paths");
    }

    #[test]
    fn only_executable_regular_files_are_executable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!is_executable(&file), "no execute bit");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&file));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(is_executable(&link), "a symlink counts by its target");
        assert!(!is_executable(dir.path()), "a directory is not");
        assert!(!is_executable(&dir.path().join("missing")));
        assert!(!is_executable(Path::new("")));
    }
}
