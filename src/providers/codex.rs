//! Codex (`codex`, npm `@openai/codex`).
//!
//! Its screen, bottom up: a footer (`model · cwd`, `? for shortcuts`), the composer (`› `
//! with placeholder or typed text, always drawn, even while busy), and above it the
//! conversation: user turns `› text` at column 0, answers `• text` with two-space indented
//! lines and a `Worked for 3s` line, tool calls `• Called server.tool` / `• Ran cmd` with
//! `└` output lines, a `Working (3s • esc to interrupt)` line while busy (hidden while the
//! answer text streams, 0.169), `■ ...` for errors and interruptions. Every finished turn
//! ends with `Worked for ...`. Approval prompts put a numbered menu (`› 1. Yes, proceed`)
//! above a `Press enter to confirm` footer.
//!
//! Codex gives an MCP server only a whitelist of its own environment; cao's server gets the
//! rest through `env_vars`, so the workers it starts inherit what the supervisor had.

use std::path::Path;
use std::time::Duration;

use super::screen::{self, dedent, indented, toml_string};
use super::{Exit, LaunchSpec, Locate, Provider, ProviderError, Status, Submit};
use crate::env;

/// The Codex provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

const NAME: &str = "codex";

/// First words of bullets that report tool activity rather than answer text.
const TOOL_VERBS: &[&str] = &[
    "Called",
    "Calling",
    "Ran",
    "Running",
    "Explored",
    "Exploring",
    "Edited",
    "Editing",
    "Added",
    "Adding",
    "Deleted",
    "Deleting",
    "Updated",
    "Searched",
    "Searching",
    "Read",
    "Reading",
    "Listed",
    "Listing",
    "Viewed",
    "Viewing",
    "Waiting",
    "Interacted",
    "Proposed",
    "Applied",
    "Change",
];

impl Provider for Codex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn locate(&self) -> Locate {
        Locate {
            var: env::CAO_CODEX_BIN,
            programs: &["codex"],
            install_hint: "install it with `npm install -g @openai/codex`",
        }
    }

    fn command(
        &self,
        executable: &Path,
        spec: &LaunchSpec<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut argv = vec![executable.display().to_string()];
        // A worker must not start (or leave behind) the shared background daemon.
        argv.push("--no-daemon".into());
        screen::push_common_flags(
            &mut argv,
            spec,
            "--dangerously-bypass-approvals-and-sandbox",
        );
        let prompt = spec.profile.system_prompt.trim();
        if !prompt.is_empty() {
            argv.extend([
                "-c".into(),
                format!("developer_instructions={}", toml_string(prompt)),
            ]);
        }
        for (name, server) in &spec.mcp_servers {
            // Codex splits override keys at dots; keep the server name a bare TOML key.
            let key: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let prefix = format!("mcp_servers.{key}");
            argv.extend([
                "-c".into(),
                format!("{prefix}.command={}", toml_string(&server.command)),
            ]);
            let args: Vec<String> = server.args.iter().map(|a| toml_string(a)).collect();
            argv.extend(["-c".into(), format!("{prefix}.args=[{}]", args.join(", "))]);
            if !server.env.is_empty() {
                let env: Vec<String> = server
                    .env
                    .iter()
                    .map(|(k, v)| format!("{}={}", toml_string(k), toml_string(v)))
                    .collect();
                argv.extend(["-c".into(), format!("{prefix}.env={{{}}}", env.join(", "))]);
            }
            if name == "cao" {
                // Codex gives MCP servers only a short whitelist of its environment (HOME,
                // PATH, ...). The workers cao's server starts need the rest: API keys, the
                // CLIs' own settings, CAO_* switches. Pass it through by name.
                let names: Vec<String> = forwarded_env_names(&server.env)
                    .iter()
                    .map(|n| toml_string(n))
                    .collect();
                argv.extend([
                    "-c".into(),
                    format!("{prefix}.env_vars=[{}]", names.join(", ")),
                ]);
            }
        }
        Ok(argv)
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        if approval_prompt(&lines) {
            return Status::WaitingUserAnswer;
        }
        let Some(prompt) = composer(&lines) else {
            return Status::Processing;
        };
        let above = &lines[..prompt];
        if above
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .any(|l| busy_line(l))
        {
            return Status::Processing;
        }
        // A finished turn always ends with `Worked for ...` (or a `■` notice). While the
        // answer streams, Codex hides its `Working` row, so turn output below the last user
        // turn with no `Worked for` under it means the turn is still running.
        let mut output = false;
        for line in above.iter().rev().filter(|l| !l.trim().is_empty()) {
            if let Some(notice) = line.strip_prefix("■ ") {
                return if notice.starts_with("Conversation interrupted") {
                    Status::Idle
                } else {
                    Status::Error
                };
            }
            if worked_for(line) {
                return Status::Completed;
            }
            if line.starts_with('›') {
                // The user's turn with nothing finished under it: the turn is starting or
                // streaming.
                return Status::Processing;
            }
            if line.trim_start_matches([' ', '│']).starts_with(">_ ")
                || line.trim_start().starts_with('╭')
            {
                // The start-up banner: no turn yet (notices under it are not answers).
                return Status::Idle;
            }
            if line.starts_with("• ") {
                output = true;
            }
        }
        // The top of the screen: a long answer still streaming, or a bare start-up screen.
        if output {
            Status::Processing
        } else {
            Status::Idle
        }
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        let end = composer(&lines).unwrap_or(lines.len());
        let turn = &lines[..end];
        let start = turn
            .iter()
            .rposition(|l| l.starts_with('›'))
            .map_or(0, |i| i + 1);
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut i = start;
        while i < turn.len() {
            let Some(first) = turn[i].strip_prefix("• ") else {
                i += 1;
                continue;
            };
            let mut body = vec![first.to_string()];
            let mut j = i + 1;
            while j < turn.len()
                && (turn[j].is_empty() || indented(turn[j], 2))
                && !worked_for(turn[j])
            {
                body.push(dedent(turn[j], 2).to_string());
                j += 1;
            }
            if busy_line(turn[i]) {
                // The animated `• Working (...)` status line.
            } else if is_tool_bullet(first, body.get(1).map(String::as_str)) {
                blocks.clear();
            } else {
                blocks.push(body);
            }
            i = j;
        }
        screen::join_answer(&blocks, NAME)
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        let region = screen::bottom_region(&lines, 20);
        let has = |s: &str| region.iter().any(|l| l.contains(s));
        let cursor_on = |s: &str| {
            region
                .iter()
                .any(|l| l.trim_start().starts_with('›') && l.contains(s))
        };
        if has("Press enter to continue") {
            if has("Do you trust the contents of this directory")
                || has("allow Codex to work in this folder")
            {
                // The first option (trust) is preselected.
                return cursor_on("1.").then_some(&["Enter"][..]);
            }
            if has("Update available") && cursor_on("Update now") {
                return Some(&["Down", "Enter"][..]);
            }
        }
        None
    }

    fn submit(&self) -> Submit {
        // An Enter that follows typed text too closely becomes a newline (paste-burst
        // detection), so wait before submitting.
        Submit {
            enters: 1,
            pause: Duration::from_millis(500),
        }
    }

    fn exit(&self) -> Exit {
        // Typed `/exit` would need the paste pause before Enter; Ctrl-C twice quits at once.
        Exit::Keys(&["C-c", "C-c"])
    }
}

/// Names of this process's environment variables that the CLI will also have (nesting
/// markers and `TERM` are not passed on), minus those the server's config sets itself.
fn forwarded_env_names(own: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            !k.is_empty()
                && k != "TERM"
                && !env::NESTING_MARKERS.contains(&k.as_str())
                && !own.contains_key(k)
        })
        .collect();
    names.sort();
    names
}

/// The composer line: the last `›` at column 0 (it is always drawn, placeholder included).
fn composer(lines: &[&str]) -> Option<usize> {
    lines.iter().rposition(|l| l.starts_with('›'))
}

/// `Working (3s • esc to interrupt)` at column 0, with or without a leading bullet or
/// spinner (an indented copy is answer text).
fn busy_line(line: &str) -> bool {
    !line.starts_with(' ') && line.contains("esc to interrupt)") && line.contains('(')
}

/// `  Worked for 3s • 02:33`, `  Worked for <1s • 04:28`, `─ Worked for 1m 2s ─────`.
fn worked_for(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches(['─', ' ']);
    t.strip_prefix("Worked for ").is_some_and(|rest| {
        rest.trim_start_matches('<')
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Tool activity bullets, told from prose that happens to start with the same verb by their
/// `└` detail line or their lack of sentence punctuation.
fn is_tool_bullet(first: &str, second: Option<&str>) -> bool {
    let verb = first.split_whitespace().next().unwrap_or("");
    if !TOOL_VERBS.contains(&verb) {
        return false;
    }
    let detail = second.is_some_and(|l| l.trim_start().starts_with('└'));
    detail || !first.trim_end().ends_with(['.', ':', '!', '?'])
}

/// A numbered menu at the bottom of the screen: an approval, or a start-up dialog.
fn approval_prompt(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 20);
    let menu = region.iter().any(|l| {
        l.strip_prefix("› ").is_some_and(|rest| {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            !n.is_empty() && rest[n.len()..].starts_with(". ")
        })
    });
    let footer = region.iter().any(|l| {
        l.contains("Press enter to confirm")
            || l.contains("to confirm or esc to cancel")
            || l.contains("Press enter to continue")
    });
    let modal = region.iter().any(|l| l.contains("[a] Accept"));
    (menu && footer) || modal
}
