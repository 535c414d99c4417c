//! Kimi CLI (`kimi`; PyPI `kimi-cli`, now "Kimi Code"). Not runnable on the test machines
//! (it needs a newer Python and a Moonshot login): its screen patterns are reconstructed
//! from published descriptions, not recorded here.
//!
//! Two layouts are understood. The older one: a bare `💫` (thinking mode) or `✨` prompt,
//! optionally `user@dir💫`; the user's turn is that prompt followed by the text; the answer is
//! `• ` bullets and plain lines below it; a status bar `HH:MM  yolo  agent (model) ...
//! context: 5.0%` at the bottom. The newer one draws an `── input ──` box and a status bar
//! `yolo  agent (model ●) ...` with a `context: 0.0% (0/262.1k)` line; while a turn runs a
//! braille spinner (`⠧ Thinking… 5s`) or a moon glyph (`🌑`…`🌘`) is drawn near the bottom.
//! Thinking bullets differ from answer bullets only by colour, so the plain-text answer
//! includes them.
//!
//! Kimi exits silently under `TERM=tmux-256color`, so the terminal gets `xterm-256color`;
//! it also allows one instance per directory.

use super::screen::{self, dedent};
use super::{LaunchSpec, Provider, ProviderError, ProviderId, Status};

/// The Kimi CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct KimiCli;

const NAME: &str = ProviderId::KimiCli.name();
const PROMPT_GLYPHS: &[char] = &['💫', '✨'];
const MOONS: &[char] = &['🌑', '🌒', '🌓', '🌔', '🌕', '🌖', '🌗', '🌘'];

impl Provider for KimiCli {
    fn id(&self) -> ProviderId {
        ProviderId::KimiCli
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let mut argv = Vec::new();
        let prompt = spec.agent.system_prompt.trim();
        if !prompt.is_empty() {
            screen::write_scratch(NAME, spec.scratch_dir, "system.md", prompt)?;
            // The agent file extends Kimi's default agent with the profile's prompt; its
            // path is relative to the agent file.
            let agent =
                "version: 1\nagent:\n  extend: default\n  system_prompt_path: ./system.md\n";
            let file = screen::write_scratch(NAME, spec.scratch_dir, "agent.yaml", agent)?;
            argv.extend(["--agent-file".into(), file.display().to_string()]);
        }
        if !spec.mcp_servers.is_empty() {
            let config = serde_json::json!({ "mcpServers": spec.mcp_servers });
            argv.extend(["--mcp-config".into(), config.to_string()]);
        }
        Ok(argv)
    }

    fn env(&self, _spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        vec![("TERM".into(), "xterm-256color".into())]
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        let tail = screen::bottom_region(&lines, 18);
        if tail.iter().any(|l| {
            !l.trim_start().starts_with('•')
                && (l.contains("connecting to mcp servers") || l.contains("(connecting)"))
        }) {
            return Status::Processing;
        }
        let new_tui = tail.iter().any(|l| new_status_bar(l));
        if new_tui {
            if tail.iter().any(|l| spinner_line(l)) {
                return Status::Processing;
            }
        } else {
            // The older layout shows its bare prompt only when ready.
            let prompt_at_bottom = tail.iter().rev().take(4).any(|l| bare_prompt(l));
            if !prompt_at_bottom {
                return Status::Processing;
            }
        }
        let Some(start) = last_user_turn(&lines) else {
            return Status::Idle;
        };
        let end = answer_end(&lines, start + 1);
        let turn = &lines[start + 1..end];
        if turn.iter().any(|l| error_line(l)) {
            return Status::Error;
        }
        if turn.iter().any(|l| !l.trim().is_empty()) {
            Status::Completed
        } else {
            Status::Idle
        }
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        let start = last_user_turn(&lines).ok_or(ProviderError::NoAnswer { provider: NAME })?;
        let end = answer_end(&lines, start + 1);
        let turn = &lines[start + 1..end];
        // Continuation lines sit under the bullet text in the newer layout (two spaces in)
        // and at column 0 in the older one.
        let hanging = turn
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("• "))
            .all(|l| l.starts_with("  "));
        let body: Vec<String> = turn
            .iter()
            .filter(|l| !spinner_line(l))
            .map(|l| match l.strip_prefix("• ") {
                Some(text) => text.to_string(),
                None if hanging => dedent(l, 2).to_string(),
                None => l.to_string(),
            })
            .collect();
        let answer = screen::join_trimmed(&body);
        if answer.is_empty() {
            Err(ProviderError::NoAnswer { provider: NAME })
        } else {
            Ok(answer)
        }
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        let region = screen::bottom_region(&lines, 12);
        // The upgrade reminder: `s` skips reminders for this version (a single key).
        region
            .iter()
            .any(|l| l.contains("Skip reminders for version"))
            .then_some(&["s"][..])
    }
}

/// The prompt glyph with nothing typed after it: `💫`, `✨`, `user@dir💫`.
fn bare_prompt(line: &str) -> bool {
    let t = line.trim();
    PROMPT_GLYPHS.iter().any(|g| {
        t.strip_suffix(*g)
            .is_some_and(|head| !head.contains(char::is_whitespace))
    })
}

/// A user turn: the prompt glyph followed by text (`💫 fix the bug`).
fn user_turn(line: &str) -> bool {
    let t = line.trim_start();
    let Some(pos) = t.find(PROMPT_GLYPHS) else {
        return false;
    };
    let (head, rest) = t.split_at(pos);
    let glyph = rest.chars().next().map_or(0, char::len_utf8);
    let rest = &rest[glyph..];
    !head.contains(char::is_whitespace)
        && rest.starts_with(' ')
        && !rest.trim().is_empty()
        && !line.contains("Update:")
}

fn last_user_turn(lines: &[&str]) -> Option<usize> {
    lines.iter().rposition(|l| user_turn(l))
}

/// Where the answer after a user turn stops: the next prompt, input box or status bar.
fn answer_end(lines: &[&str], from: usize) -> usize {
    lines[from..]
        .iter()
        .position(|l| {
            bare_prompt(l)
                || user_turn(l)
                || l.trim_start().starts_with("── input")
                || new_status_bar(l)
                || old_status_bar(l)
        })
        .map_or(lines.len(), |i| from + i)
}

/// `yolo  agent (Kimi-k2.6 ●) ...` or `context: 4.4% (11.4k/262.1k)`.
fn new_status_bar(line: &str) -> bool {
    (line.contains("agent (") && line.contains('●') && line.contains(')'))
        || line.trim_start().starts_with("context:") && line.contains('%')
}

/// `23:15  yolo  agent (kimi-for-coding, thinking)  ctrl-x: toggle mode  context: 5.0%`.
fn old_status_bar(line: &str) -> bool {
    let t = line.trim_start();
    t.len() > 5
        && t.as_bytes()[2] == b':'
        && t[..2].bytes().all(|b| b.is_ascii_digit())
        && (t.contains("agent (") || t.contains("shell ("))
}

/// A live turn indicator: braille spinner or moon phase (boot-time spinners excluded).
fn spinner_line(line: &str) -> bool {
    let spinner = line
        .chars()
        .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c) || MOONS.contains(&c));
    let boot = [
        "MCP Servers",
        "connecting",
        "Resolving dependencies",
        "Loading",
        "Restoring",
    ]
    .iter()
    .any(|s| line.contains(s));
    spinner && !boot && !line.trim_start().starts_with('•')
}

fn error_line(line: &str) -> bool {
    [
        "Error:",
        "ERROR:",
        "Traceback (most recent call last):",
        "APIError:",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}
