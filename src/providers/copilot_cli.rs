//! GitHub Copilot CLI (`copilot`, npm `@github/copilot`).
//!
//! Its screen, bottom up: a footer (` ◎ Working esc esc interrupt ...` while a turn runs,
//! the glyph cycling through `○◎◉●`; otherwise ` ← open sidebar · Interactive · ...`), a
//! rule, the input (`❯ ` and the text, or `[Paste #1 - 30 lines]`), a rule, the working
//! directory, and above that the conversation: user turns ` ❯ text` (with the time at the
//! right edge), answers ` ● text` with three-space indented lines, failures ` ✗ ...`,
//! notices ` ! ...`, tool details `└ ...`. When the conversation overflows, a scrollbar `┃`
//! is drawn in the last column. Messages typed during a turn are queued (`└ [pending]`).
//! A folder-trust dialog (`Do you trust the files in this folder?`, `❯ 1. Yes`) comes first
//! in a new directory.
//!
//! The profile's system prompt goes into `AGENTS.md` in a scratch directory named by
//! `COPILOT_CUSTOM_INSTRUCTIONS_DIRS`; MCP servers go in through `--additional-mcp-config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::screen::{self, dedent, indented, is_rule};
use super::{LaunchSpec, Locate, Provider, ProviderError, Status, Submit};
use crate::env;

/// The Copilot CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopilotCli;

const NAME: &str = "copilot_cli";

impl Provider for CopilotCli {
    fn name(&self) -> &'static str {
        NAME
    }

    fn locate(&self) -> Locate {
        Locate {
            var: env::CAO_COPILOT_CLI_BIN,
            programs: &["copilot"],
            install_hint: "install it with `npm install -g @github/copilot`",
        }
    }

    fn command(
        &self,
        executable: &Path,
        spec: &LaunchSpec<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut argv = vec![executable.display().to_string()];
        screen::push_common_flags(&mut argv, spec, "--yolo");
        let servers: serde_json::Map<String, serde_json::Value> = spec
            .mcp_servers
            .iter()
            .map(|(name, server)| {
                (
                    name.clone(),
                    json!({
                        "type": "local",
                        "command": server.command,
                        "args": server.args,
                        "env": server.env,
                        "tools": ["*"],
                    }),
                )
            })
            .collect();
        if !servers.is_empty() {
            let config = json!({ "mcpServers": servers });
            let file =
                screen::write_scratch(NAME, spec.scratch_dir, "mcp.json", &config.to_string())?;
            argv.push(format!("--additional-mcp-config=@{}", file.display()));
        }
        if spec.mcp_servers.contains_key("cao") {
            // cao's own tools never ask: a worker must always be able to report back.
            argv.push("--allow-tool=cao".into());
        }
        let prompt = spec.profile.system_prompt.trim();
        if !prompt.is_empty() {
            screen::write_private(
                NAME,
                &instructions_dir(spec.scratch_dir).join("AGENTS.md"),
                prompt,
            )?;
        }
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        if spec.profile.system_prompt.trim().is_empty() {
            return Vec::new();
        }
        vec![(
            "COPILOT_CUSTOM_INSTRUCTIONS_DIRS".into(),
            instructions_dir(spec.scratch_dir).display().to_string(),
        )]
    }

    fn status(&self, screen: &str) -> Status {
        let lines = clean(screen);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        if trust_dialog(&lines) || menu_dialog(&lines) {
            return Status::WaitingUserAnswer;
        }
        let Some((top, bottom)) = input_box(&lines) else {
            return Status::Processing;
        };
        if lines[bottom + 1..].iter().any(|l| busy_footer(l)) {
            return Status::Processing;
        }
        if fresh(&lines[..top]) {
            return Status::Idle;
        }
        for line in lines[..top].iter().rev().filter(|l| !l.trim().is_empty()) {
            let t = line.trim_start();
            if t.starts_with("✗ ") {
                return Status::Error;
            }
            if let Some(text) = line.strip_prefix(" ● ") {
                if text.starts_with("Operation cancelled") {
                    return Status::Idle;
                }
                if !notice(text) {
                    return Status::Completed;
                }
            }
            if user_line(line) {
                return Status::Idle;
            }
        }
        Status::Idle
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = clean(screen);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let end = input_box(&lines).map_or(lines.len(), |(top, _)| top);
        let turn = &lines[..end];
        if fresh(turn) {
            return Err(ProviderError::NoAnswer { provider: NAME });
        }
        let start = turn.iter().rposition(|l| user_line(l)).map_or(0, |i| i + 1);
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut i = start;
        while i < turn.len() {
            let Some(first) = turn[i].strip_prefix(" ● ") else {
                i += 1;
                continue;
            };
            let mut body = vec![first.to_string()];
            let mut j = i + 1;
            while j < turn.len() && (turn[j].is_empty() || indented(turn[j], 3)) {
                body.push(dedent(turn[j], 3).to_string());
                j += 1;
            }
            if body.get(1).is_some_and(|l| l.trim_start().starts_with('└')) {
                // A tool call with its detail line.
                blocks.clear();
            } else if first.contains(" (MCP: ") && !first.starts_with(' ') {
                // A one-line MCP tool call: ` ● list_profiles (MCP: cao) {"profiles": ...`.
                blocks.clear();
            } else if notice(first) {
                // Not an answer.
            } else {
                blocks.push(body);
            }
            i = j;
        }
        screen::join_answer(&blocks, NAME)
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = clean(screen);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        if !trust_dialog(&lines) {
            return None;
        }
        // "1. Yes" trusts the folder for this session only.
        screen::bottom_region(&lines, 25)
            .iter()
            .any(|l| l.contains("❯ 1. Yes"))
            .then_some(&["Enter"][..])
    }

    fn submit(&self) -> Submit {
        Submit {
            enters: 1,
            pause: Duration::from_millis(200),
        }
    }

    fn interrupt_keys(&self) -> &'static [&'static str] {
        // Ctrl-C cancels the running turn at once (` ● Operation cancelled by user`); the
        // footer's "esc esc" needs two Escapes with a pause between them.
        &["C-c"]
    }
}

/// Bullets that are notices, not answers: a retry, MCP servers (re)connecting, a cancelled
/// turn.
fn notice(text: &str) -> bool {
    text.trim_end().ends_with("Retrying...")
        || text.starts_with("MCP Servers reloaded")
        || text.starts_with("Operation cancelled")
}

/// Only the banner and start-up notices (`● Tip: ...`) so far: no user turn yet.
fn fresh(conversation: &[&str]) -> bool {
    !conversation.iter().any(|l| user_line(l))
        && conversation.iter().any(|l| l.contains("Copilot v"))
}

fn instructions_dir(scratch: &Path) -> PathBuf {
    scratch.join("instructions")
}

/// The screen without the scrollbar column and the right-aligned times of user turns.
fn clean(screen: &str) -> Vec<String> {
    screen::lines(screen)
        .into_iter()
        .map(|line| {
            let mut line = line;
            if line.trim() == "┃" && line.len() > 40 {
                // A scrollbar cell on an otherwise blank row.
                return String::new();
            }
            if let Some(rest) = line.strip_suffix('┃')
                && rest.ends_with(' ')
                && !line.trim_start().starts_with('┃')
            {
                line = rest.trim_end();
            }
            if user_line(line)
                && let Some(gap) = line.rfind("   ")
            {
                let tail = line[gap..].trim();
                if tail.len() == 5 && tail.as_bytes()[2] == b':' {
                    line = line[..gap].trim_end();
                }
            }
            line.to_string()
        })
        .collect()
}

/// A user turn in the conversation: ` ❯ text` (one space in; the input line has none).
fn user_line(line: &str) -> bool {
    line.starts_with(" ❯ ")
}

/// The input box: the rules around the `❯` line(s) at the bottom.
fn input_box(lines: &[&str]) -> Option<(usize, usize)> {
    let mut footer = 0;
    for (i, line) in lines.iter().enumerate().rev() {
        if is_rule(line) {
            let top = lines[..i].iter().rposition(|l| is_rule(l))?;
            let first = lines.get(top + 1)?;
            return (first.starts_with('❯') && top + 1 < i).then_some((top, i));
        }
        if !line.trim().is_empty() {
            footer += 1;
            if footer > 3 {
                return None;
            }
        }
    }
    None
}

/// ` ◎ Working esc esc interrupt`, ` ● Cancelling`: a glyph (it cycles) and a word in
/// `-ing` (the idle footer is ` ← open sidebar · ...`). Only footer lines below the input
/// box are passed in.
fn busy_footer(line: &str) -> bool {
    let t = line.trim_start();
    let Some(first) = t.chars().next() else {
        return false;
    };
    let word = t[first.len_utf8()..]
        .split_whitespace()
        .next()
        .unwrap_or("");
    !first.is_alphanumeric()
        && word.ends_with("ing")
        && word.starts_with(|c: char| c.is_ascii_uppercase())
}

fn trust_dialog(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 25);
    region.iter().any(|l| {
        l.contains("Do you trust the files in this folder") || l.contains("Confirm folder trust")
    }) && region.iter().any(|l| l.contains("1. Yes"))
}

/// A question with numbered choices and the selector footer, drawn instead of the input.
fn menu_dialog(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 25);
    region
        .iter()
        .any(|l| l.contains("↑/↓ to navigate") && l.contains("enter to select"))
        && region.iter().any(|l| l.contains("❯ 1."))
}
