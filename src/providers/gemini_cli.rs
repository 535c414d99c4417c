//! Gemini CLI (`gemini`, npm `@google/gemini-cli`).
//!
//! Its screen, bottom up: a footer (workspace, sandbox, model), the input box framed by a
//! row of `▄` above and `▀` below (` *   Type your message or @path/to/file` when empty),
//! then status rows (`YOLO Ctrl+Y`, a rule, `? for shortcuts`, and
//! ` ⠇ Thinking... (esc to cancel, 1s)` while busy). Above them the conversation: user turns
//! in the same `▄`/`▀` frame with ` > text`, answers `✦ text` with two-space indented lines,
//! tool calls in rounded `╭`/`╰` boxes, errors as `✕ ...`.
//!
//! The profile's system prompt goes into a `GEMINI.md` in the terminal's scratch directory,
//! which is added to the workspace (`--include-directories`) so Gemini loads it as project
//! memory; MCP servers go into a settings file named by `GEMINI_CLI_SYSTEM_SETTINGS_PATH`,
//! which Gemini merges over the user's own settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::screen::{self, dedent, indented, is_rule};
use super::{Exit, LaunchSpec, Provider, ProviderError, Status, Submit};
use crate::env;

/// The Gemini CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiCli;

const NAME: &str = "gemini_cli";
const SETTINGS_FILE: &str = "gemini-settings.json";
/// Where Gemini reads system-wide settings from (merged over user and project settings).
const SYSTEM_SETTINGS_VAR: &str = "GEMINI_CLI_SYSTEM_SETTINGS_PATH";

impl Provider for GeminiCli {
    fn name(&self) -> &'static str {
        NAME
    }

    fn executable(&self) -> Result<PathBuf, ProviderError> {
        screen::resolve_executable(
            NAME,
            env::CAO_GEMINI_CLI_BIN,
            &["gemini"],
            "install it with `npm install -g @google/gemini-cli`",
        )
    }

    fn command(
        &self,
        executable: &Path,
        spec: &LaunchSpec<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut argv = vec![executable.display().to_string()];
        if spec.yolo {
            argv.push("--yolo".into());
        }
        if let Some(model) = spec.profile.model.as_deref().filter(|m| !m.is_empty()) {
            argv.extend(["--model".into(), model.to_string()]);
        }
        let prompt = spec.profile.system_prompt.trim();
        if !prompt.is_empty() {
            let memory = spec.scratch_dir.join("context");
            screen::write_private(NAME, &memory.join("GEMINI.md"), prompt)?;
            argv.extend(["--include-directories".into(), memory.display().to_string()]);
        }
        let servers: serde_json::Map<String, serde_json::Value> = spec
            .mcp_servers
            .iter()
            .map(|(name, server)| {
                let trusted = spec.yolo || name == "cao";
                (
                    name.clone(),
                    json!({
                        "command": server.command,
                        "args": server.args,
                        "env": server.env,
                        "trust": trusted,
                    }),
                )
            })
            .collect();
        let settings = json!({ "mcpServers": servers });
        screen::write_scratch(NAME, spec.scratch_dir, SETTINGS_FILE, &settings.to_string())?;
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        vec![(
            SYSTEM_SETTINGS_VAR.into(),
            spec.scratch_dir.join(SETTINGS_FILE).display().to_string(),
        )]
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        if confirmation(&lines) {
            return Status::WaitingUserAnswer;
        }
        let Some((top, _)) = input_box(&lines) else {
            return Status::Processing;
        };
        let end = conversation_end(&lines, top);
        if lines[end..top].iter().any(|l| busy_line(l)) {
            return Status::Processing;
        }
        for line in lines[..end].iter().rev().filter(|l| !l.trim().is_empty()) {
            let t = line.trim_start();
            if t.starts_with('✕') {
                return Status::Error;
            }
            if t.starts_with('ℹ') && t.contains("cancelled") {
                return Status::Idle;
            }
            if line.starts_with("✦ ") {
                return Status::Completed;
            }
            if is_bar(line, '▀') {
                return Status::Idle;
            }
        }
        Status::Idle
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        let end = match input_box(&lines) {
            Some((top, _)) => conversation_end(&lines, top),
            None => lines.len(),
        };
        let turn = &lines[..end];
        let start = turn
            .iter()
            .rposition(|l| is_bar(l, '▀'))
            .map_or(0, |i| i + 1);
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut i = start;
        while i < turn.len() {
            let line = turn[i];
            if line.starts_with('╭') {
                blocks.clear();
                i += 1;
                continue;
            }
            let Some(first) = line.strip_prefix("✦ ") else {
                i += 1;
                continue;
            };
            let mut body = vec![first.to_string()];
            let mut j = i + 1;
            while j < turn.len() && (turn[j].is_empty() || indented(turn[j], 2)) {
                body.push(dedent(turn[j], 2).to_string());
                j += 1;
            }
            blocks.push(body);
            i = j;
        }
        let answer = blocks
            .iter()
            .map(|b| screen::join_trimmed(b))
            .filter(|b| !b.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        if answer.is_empty() {
            Err(ProviderError::NoAnswer { provider: NAME })
        } else {
            Ok(answer)
        }
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        let region = screen::bottom_region(&lines, 20);
        let trust = region
            .iter()
            .any(|l| l.contains("Do you trust this folder"));
        let first_selected = region
            .iter()
            .any(|l| l.contains("● 1.") && l.contains("Trust folder"));
        (trust && first_selected).then_some(&["Enter"][..])
    }

    fn submit(&self) -> Submit {
        // Like Codex, an Enter right after a burst of input is taken as a newline.
        Submit {
            enters: 1,
            pause: Duration::from_millis(500),
        }
    }

    fn exit(&self) -> Exit {
        // Typed `/quit` would need the paste pause; Ctrl-C twice quits at once.
        Exit::Keys(&["C-c", "C-c"])
    }
}

/// A full-width row of `c` (`▄` opens a frame, `▀` closes it).
fn is_bar(line: &str, c: char) -> bool {
    let t = line.trim();
    t.chars().count() >= 10 && t.chars().all(|x| x == c)
}

/// The input box: its `▄` top row and `▀` bottom row, found from the bottom of the screen.
fn input_box(lines: &[&str]) -> Option<(usize, usize)> {
    let mut footer = 0;
    for (i, line) in lines.iter().enumerate().rev() {
        if is_bar(line, '▀') {
            let top = lines[..i].iter().rposition(|l| is_bar(l, '▄'))?;
            return Some((top, i));
        }
        if !line.trim().is_empty() {
            footer += 1;
            if footer > 4 {
                return None;
            }
        }
    }
    None
}

/// ` ⠇ Thinking... (esc to cancel, 3s)`, one space in (an indented copy is answer text).
fn busy_line(line: &str) -> bool {
    line.starts_with(' ') && !line.starts_with("  ") && line.contains("(esc to cancel")
}

/// The status rows between the conversation and the input box: rules, mode and hint rows
/// (one leading space), the busy row.
fn is_status_row(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || is_rule(line)
        || t.ends_with("for shortcuts")
        || busy_line(line)
        || (line.starts_with(' ') && !line.starts_with("  ") && !t.starts_with(['✕', 'ℹ']))
}

/// Index just past the last conversation line above the input box.
fn conversation_end(lines: &[&str], top: usize) -> usize {
    let mut end = top;
    while end > 0 && is_status_row(lines[end - 1]) {
        end -= 1;
    }
    end
}

/// A tool confirmation or question waiting for an answer.
fn confirmation(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 25);
    let has = |s: &str| region.iter().any(|l| l.contains(s));
    (has("Allow once")
        || has("Allow execution")
        || has("Apply this change?")
        || has("Do you trust this folder"))
        && region.iter().any(|l| l.contains("1."))
}
