//! The agent CLIs cao knows, as plain data: names, where each executable is found, where each
//! keeps its agent definitions. A leaf module (it uses nothing else of cao), so the config
//! file, profiles and providers can all name a CLI without depending on one another.

use std::fmt;
use std::str::FromStr;

use crate::env;

/// One agent CLI cao can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    /// Claude Code (`claude`).
    ClaudeCode,
    /// Codex CLI (`codex`).
    Codex,
    /// Gemini CLI (`gemini`).
    GeminiCli,
    /// Kiro CLI (`kiro-cli`).
    KiroCli,
    /// OpenCode (`opencode`).
    OpenCode,
    /// Kimi CLI (`kimi`).
    KimiCli,
    /// GitHub Copilot CLI (`copilot`).
    CopilotCli,
    /// Amazon Q Developer CLI (`q`).
    QCli,
    /// cao's scripted stand-in agent, for tests and the embedded default.
    Fake,
}

/// Where a CLI's executable comes from: an absolute path in `var`, else the first of
/// `programs` on `PATH`; `install_hint` tells a user without it how to get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locate {
    /// The environment variable naming the executable (`CAO_*_BIN`).
    pub var: &'static str,
    /// Program names to look up on `PATH`, preferred first.
    pub programs: &'static [&'static str],
    /// How to install the CLI, as the end of an error sentence.
    pub install_hint: &'static str,
}

/// A provider name cao does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider '{name}'; supported providers: {}", ProviderId::names().join(", "))]
pub struct UnknownProvider {
    /// The name asked for.
    pub name: String,
}

impl ProviderId {
    /// Every provider, in the order auto-detection tries them (`Fake` last: it is resolvable
    /// by name but never auto-detected).
    pub const ALL: [ProviderId; 9] = [
        ProviderId::ClaudeCode,
        ProviderId::Codex,
        ProviderId::GeminiCli,
        ProviderId::KiroCli,
        ProviderId::OpenCode,
        ProviderId::KimiCli,
        ProviderId::CopilotCli,
        ProviderId::QCli,
        ProviderId::Fake,
    ];

    /// The CLIs that keep agent definitions in a directory of their own, in the order cao
    /// looks for profiles there (after its own store).
    pub const WITH_AGENT_DIRS: [ProviderId; 4] = [
        ProviderId::KiroCli,
        ProviderId::ClaudeCode,
        ProviderId::CopilotCli,
        ProviderId::QCli,
    ];

    /// The name used in profiles, the config file, the store and tool arguments.
    pub const fn name(self) -> &'static str {
        match self {
            ProviderId::ClaudeCode => "claude_code",
            ProviderId::Codex => "codex",
            ProviderId::GeminiCli => "gemini_cli",
            ProviderId::KiroCli => "kiro_cli",
            ProviderId::OpenCode => "opencode",
            ProviderId::KimiCli => "kimi_cli",
            ProviderId::CopilotCli => "copilot_cli",
            ProviderId::QCli => "q_cli",
            ProviderId::Fake => "fake",
        }
    }

    /// Every provider's name, in [`ProviderId::ALL`] order.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|id| id.name()).collect()
    }

    /// Whether `name` is a provider cao can run.
    pub fn is_known(name: &str) -> bool {
        name.parse::<ProviderId>().is_ok()
    }

    /// Where the CLI's executable is looked for.
    pub fn locate(self) -> Locate {
        let (var, programs, install_hint): (_, &'static [&'static str], _) = match self {
            ProviderId::ClaudeCode => (
                env::CAO_CLAUDE_CODE_BIN,
                &["claude"],
                "install it with `npm install -g @anthropic-ai/claude-code`",
            ),
            ProviderId::Codex => (
                env::CAO_CODEX_BIN,
                &["codex"],
                "install it with `npm install -g @openai/codex`",
            ),
            ProviderId::GeminiCli => (
                env::CAO_GEMINI_CLI_BIN,
                &["gemini"],
                "install it with `npm install -g @google/gemini-cli`",
            ),
            ProviderId::KiroCli => (
                env::CAO_KIRO_CLI_BIN,
                &["kiro-cli"],
                "install Kiro CLI from https://kiro.dev/cli",
            ),
            ProviderId::OpenCode => (
                env::CAO_OPENCODE_BIN,
                &["opencode"],
                "install it with `npm install -g opencode-ai`",
            ),
            ProviderId::KimiCli => (
                env::CAO_KIMI_CLI_BIN,
                &["kimi"],
                "install it with `uv tool install kimi-cli`",
            ),
            ProviderId::CopilotCli => (
                env::CAO_COPILOT_CLI_BIN,
                &["copilot"],
                "install it with `npm install -g @github/copilot`",
            ),
            ProviderId::QCli => (
                env::CAO_Q_CLI_BIN,
                &["q"],
                "install the Amazon Q Developer CLI from AWS",
            ),
            ProviderId::Fake => (
                env::CAO_FAKE_AGENT,
                &[env::FAKE_AGENT_PROGRAM],
                "build it with `cargo build --workspace` (it lands next to cao)",
            ),
        };
        Locate {
            var,
            programs,
            install_hint,
        }
    }

    /// The flag that makes the CLI skip its permission prompts, given when the user asked
    /// for it (`--yolo`); `None` for a CLI without one.
    pub fn yolo_flag(self) -> Option<&'static str> {
        match self {
            ProviderId::ClaudeCode => Some("--dangerously-skip-permissions"),
            ProviderId::Codex => Some("--dangerously-bypass-approvals-and-sandbox"),
            ProviderId::GeminiCli | ProviderId::KimiCli | ProviderId::CopilotCli => Some("--yolo"),
            ProviderId::OpenCode => Some("--auto"),
            ProviderId::KiroCli | ProviderId::QCli => Some("--trust-all-tools"),
            ProviderId::Fake => None,
        }
    }

    /// The flag that picks the model, given when the profile names one.
    pub fn model_flag(self) -> Option<&'static str> {
        match self {
            ProviderId::Fake => None,
            _ => Some("--model"),
        }
    }

    /// Where the CLI keeps its agent definitions by default, relative to the user's home;
    /// `None` for a CLI without agent files.
    pub fn default_agents_dir(self) -> Option<&'static str> {
        match self {
            ProviderId::KiroCli => Some(".kiro/agents"),
            ProviderId::ClaudeCode => Some(".claude/agents"),
            ProviderId::CopilotCli => Some(".copilot/agents"),
            ProviderId::QCli => Some(".aws/amazonq/cli-agents"),
            _ => None,
        }
    }

    /// Whether the CLI takes an agent's prompt, tools and MCP servers only from an agent file
    /// of its own, which `cao install` writes.
    pub fn needs_agent_file(self) -> bool {
        matches!(
            self,
            ProviderId::KiroCli | ProviderId::QCli | ProviderId::CopilotCli
        )
    }
}

impl FromStr for ProviderId {
    type Err = UnknownProvider;

    fn from_str(name: &str) -> Result<ProviderId, UnknownProvider> {
        ProviderId::ALL
            .into_iter()
            .find(|id| id.name() == name)
            .ok_or_else(|| UnknownProvider {
                name: name.to_string(),
            })
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_provider() {
        for id in ProviderId::ALL {
            assert_eq!(id.name().parse::<ProviderId>(), Ok(id));
        }
        let err = "nope".parse::<ProviderId>().unwrap_err().to_string();
        assert!(
            err.contains("'nope'") && err.contains("claude_code, codex"),
            "{err}"
        );
        assert_eq!(ProviderId::ALL.last(), Some(&ProviderId::Fake));
    }

    #[test]
    fn agent_files_are_for_clis_with_an_agents_dir() {
        for id in ProviderId::ALL {
            if id.needs_agent_file() {
                assert!(id.default_agents_dir().is_some(), "{id}");
            }
            assert_eq!(
                id.default_agents_dir().is_some(),
                ProviderId::WITH_AGENT_DIRS.contains(&id),
                "{id}"
            );
        }
    }
}
