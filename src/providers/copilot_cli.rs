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
//!
//! Answers and turn ends come from Copilot's own session record (see
//! [`crate::records::copilot_cli`]): each terminal starts with a session id cao chose
//! (`--session-id`), and a plugin in its run directory (`--plugin-dir`) whose `agentStop`
//! and `errorOccurred` hooks run `cao _hook`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::question;
use super::screen::{self, Blocks, Piece, is_rule};
use super::{LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit};
use crate::records::{RecordError, RecordFiles, Transcript, copilot_cli};

/// The Copilot CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopilotCli;

const NAME: &str = ProviderId::CopilotCli.name();

impl Provider for CopilotCli {
    fn id(&self) -> ProviderId {
        ProviderId::CopilotCli
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let mut argv = Vec::new();
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
        argv.extend(record_setup(
            spec,
            copilot_home(spec.working_dir).as_deref(),
        )?);
        let prompt = spec.agent.system_prompt.trim();
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
        if spec.agent.system_prompt.trim().is_empty() {
            return Vec::new();
        }
        vec![(
            "COPILOT_CUSTOM_INSTRUCTIONS_DIRS".into(),
            instructions_dir(spec.scratch_dir).display().to_string(),
        )]
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(copilot_cli::read(files))
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

    fn question(&self, screen: &str) -> Option<Question> {
        // A framed box with a numbered list (`❯ 1. Yes`) above the selector footer.
        let lines = clean(screen);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        if !(trust_dialog(&lines) || menu_dialog(&lines)) {
            return None;
        }
        question::numbered_menu(&lines, question::no_top)
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        // An empty input is a bare `❯` (1.0.102 draws no placeholder); typed text follows it,
        // further lines are indented, a paste shows as `❯ [Paste #1 - 30 lines]`.
        let lines = clean(screen);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let Some((top, bottom)) = input_box(&lines) else {
            return false;
        };
        lines[top + 1].trim_start_matches('❯').trim().is_empty()
            && lines[top + 2..bottom].iter().all(|l| l.trim().is_empty())
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
        let blocks = BLOCKS.final_answer(&turn[start..]);
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
/// Copilot's answer blocks: ` ● ` bullets, three-space continuation lines; a tool call
/// (with a `└` detail line, or a one-line MCP call) resets the answer.
const BLOCKS: Blocks = Blocks {
    bullet: |line| line.strip_prefix(" ● "),
    indent: 3,
    ends_block: screen::never,
    block: |_, body| {
        let first = body[0].as_str();
        if body.get(1).is_some_and(|l| l.trim_start().starts_with('└')) {
            // A tool call with its detail line.
            Piece::Reset
        } else if first.contains(" (MCP: ") && !first.starts_with(' ') {
            // A one-line MCP tool call: ` ● list_profiles (MCP: cao) {"profiles": ...`.
            Piece::Reset
        } else if notice(first) {
            Piece::Skip
        } else {
            Piece::Answer
        }
    },
    line: screen::skip_line,
};

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

/// The flags that give this terminal its own session record and turn-end hooks, for a CLI
/// whose home (configuration and state) directory is `copilot_home`:
/// - `--session-id`: a new session id cao chose, saved in the run directory
///   ([`copilot_cli::SESSION_FILE`]) so the reader opens exactly this session's
///   `events.jsonl`, never another session in the same home (the user's, the supervisor's).
/// - `--plugin-dir`: a plugin in the run directory whose hooks run `cao _hook` when the
///   agent stops (`agentStop`, after the turn's end is in the record) and when a model call
///   fails (`errorOccurred`, at every failed attempt, before the record says so).
///
/// Nothing is written outside the run directory. (Copilot itself creates an empty
/// `plugin-data/_direct/<hash>` folder in its home for the plugin.)
fn record_setup(
    spec: &LaunchSpec<'_>,
    copilot_home: Option<&Path>,
) -> Result<Vec<String>, ProviderError> {
    let mut flags = Vec::new();
    if let Some(home) = copilot_home {
        let session = copilot_cli::Session::new(home);
        screen::write_private(
            NAME,
            &spec.scratch_dir.join(copilot_cli::SESSION_FILE),
            &session.to_json(),
        )?;
        flags.push(format!("--session-id={}", session.session_id));
    }
    let plugin = spec.scratch_dir.join(PLUGIN_DIR);
    screen::write_private(
        NAME,
        &plugin.join("plugin.json"),
        &json!({
            "name": "cao-record",
            "description": "Tells cao when a turn ends.",
            "version": "1.0.0",
        })
        .to_string(),
    )?;
    let hooks: serde_json::Map<String, serde_json::Value> = HOOK_EVENTS
        .iter()
        .map(|event| {
            let command =
                crate::records::hooks::hook_command(spec.cao_home, spec.terminal_id, event);
            (
                (*event).to_string(),
                json!([{ "type": "command", "bash": command, "timeoutSec": 10 }]),
            )
        })
        .collect();
    screen::write_private(
        NAME,
        &plugin.join("hooks").join("hooks.json"),
        &json!({ "version": 1, "hooks": hooks }).to_string(),
    )?;
    flags.push(format!("--plugin-dir={}", plugin.display()));
    Ok(flags)
}

/// The plugin folder in the run directory.
const PLUGIN_DIR: &str = "copilot-plugin";

/// The hook events reported to cao (payload on stdin: `sessionId`, `transcriptPath`,
/// `stopReason` for `agentStop`; `error`, `errorContext`, `recoverable` for
/// `errorOccurred`). An interrupt runs no hook.
const HOOK_EVENTS: &[&str] = &["agentStop", "errorOccurred"];

/// The home directory Copilot will use: `COPILOT_HOME`, else `~/.copilot`, as the CLI
/// inherits them from cao.
fn copilot_home(working_dir: &Path) -> Option<PathBuf> {
    copilot_cli::copilot_home(
        std::env::var_os("COPILOT_HOME").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .or_else(dirs::home_dir),
        working_dir,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::AgentSpec;

    #[test]
    fn each_terminal_gets_its_own_session_id_and_turn_end_hooks() {
        let scratch = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let agent = AgentSpec {
            name: "dev".into(),
            description: "d".into(),
            system_prompt: "You write code.\n".into(),
            ..AgentSpec::default()
        };
        let spec = LaunchSpec {
            terminal_id: "0a1b2c3d",
            agent: &agent,
            mcp_servers: Default::default(),
            yolo: true,
            working_dir: Path::new("/tmp"),
            scratch_dir: scratch.path(),
            cao_home: Path::new("/opt/cao home"),
            agents_dir: None,
        };
        let flags = record_setup(&spec, Some(home.path())).unwrap();
        let saved =
            std::fs::read_to_string(scratch.path().join(copilot_cli::SESSION_FILE)).unwrap();
        let session = copilot_cli::Session::from_json(&saved).unwrap();
        assert_eq!(
            session.session_dir,
            home.path().join("session-state").join(&session.session_id)
        );
        assert_eq!(flags[0], format!("--session-id={}", session.session_id));
        let plugin = scratch.path().join(PLUGIN_DIR);
        assert_eq!(flags[1], format!("--plugin-dir={}", plugin.display()));
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(plugin.join("plugin.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["name"], "cao-record");
        let hooks: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(plugin.join("hooks/hooks.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(hooks["version"], 1);
        let stop = hooks["hooks"]["agentStop"][0]["bash"].as_str().unwrap();
        assert!(
            stop.ends_with(" '_hook' '--home' '/opt/cao home' '--event' 'agentStop' '0a1b2c3d'"),
            "{stop}"
        );
        assert!(hooks["hooks"]["errorOccurred"][0]["bash"].is_string());
        // Nothing is written in Copilot's home: the CLI creates its session there.
        assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
        // Without a home directory there is no session to name (the screen is used).
        let other = tempfile::tempdir().unwrap();
        let spec = LaunchSpec {
            scratch_dir: other.path(),
            ..spec
        };
        let flags = record_setup(&spec, None).unwrap();
        assert!(flags[0].starts_with("--plugin-dir="));
        assert!(!other.path().join(copilot_cli::SESSION_FILE).exists());
    }
}
