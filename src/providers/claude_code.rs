//! Claude Code (`claude`, npm `@anthropic-ai/claude-code`).
//!
//! Its screen, bottom up: a footer (`esc to interrupt` appears there while a turn runs), a
//! horizontal rule, the input box (`❯ ` then two-space continuation lines), another rule, and
//! above that the conversation: user turns start with `❯ ` at column 0, answers with `● `
//! (older versions `⏺`) plus two-space indented lines, a spinner line such as `✽ Flambéing…`
//! while busy and a summary such as `✻ Brewed for 3s` when done. Tool calls are `● Name(...)`
//! blocks with `⎿` result lines, or collapsed `Called <server>` lines. Dialogs (start-up,
//! permissions) replace the input box with a numbered menu and an `Enter to confirm` or
//! `Esc to cancel` footer.

use std::time::Duration;

use super::question;
use super::screen::{self, Blocks, Piece, is_rule};
use super::{Exit, LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit};
use crate::records::claude_code as record;
use crate::records::{RecordError, RecordFiles, Transcript, hooks};

/// The Claude Code provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeCode;

const NAME: &str = ProviderId::ClaudeCode.name();
/// Longest system prompt passed inline; longer ones go through a file.
const INLINE_PROMPT_MAX: usize = 100_000;

const SPINNER_GLYPHS: &[char] = &['✻', '✽', '✢', '✳', '✶', '*', '·', '∗'];

impl Provider for ClaudeCode {
    fn id(&self) -> ProviderId {
        ProviderId::ClaudeCode
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let mut argv = Vec::new();
        let prompt = spec.agent.system_prompt.trim();
        if !prompt.is_empty() {
            if prompt.len() <= INLINE_PROMPT_MAX {
                argv.extend(["--append-system-prompt".into(), prompt.to_string()]);
            } else {
                let file =
                    screen::write_scratch(NAME, spec.scratch_dir, "system-prompt.md", prompt)?;
                argv.extend([
                    "--append-system-prompt-file".into(),
                    file.display().to_string(),
                ]);
            }
        }
        if !spec.mcp_servers.is_empty() {
            let config = serde_json::json!({ "mcpServers": spec.mcp_servers });
            let file =
                screen::write_scratch(NAME, spec.scratch_dir, "mcp.json", &config.to_string())?;
            // `--mcp-config` takes several values; the `=` form keeps it to exactly one.
            argv.push(format!("--mcp-config={}", file.display()));
        }
        argv.extend(session_record(spec)?);
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        // As root, Claude Code refuses --dangerously-skip-permissions outside a sandbox.
        if spec.yolo && screen::running_as_root() {
            vec![("IS_SANDBOX".into(), "1".into())]
        } else {
            Vec::new()
        }
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(record::read(files))
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        if lines.is_empty() {
            return Status::Processing;
        }
        let Some(input) = find_input_box(&lines) else {
            return if menu_dialog(&lines) {
                Status::WaitingUserAnswer
            } else {
                Status::Processing
            };
        };
        if lines[input.bottom + 1..]
            .iter()
            .any(|l| l.contains("esc to interrupt"))
        {
            return Status::Processing;
        }
        last_turn_status(&lines[..input.top])
    }

    fn question(&self, screen: &str) -> Option<Question> {
        // A dialog replaces the input box: a numbered menu under a rule.
        let lines = screen::lines(screen);
        if find_input_box(&lines).is_some() || !menu_dialog(&lines) {
            return None;
        }
        question::numbered_menu(&lines, question::no_top)
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        let lines = screen::lines(screen);
        // No input box (a dialog, a screen mid-repaint): nothing shows it is empty.
        let Some(input) = find_input_box(&lines) else {
            return false;
        };
        let mut rows = lines[input.top + 1..input.bottom].iter();
        let first = rows.next().map_or("", |l| prompt_text(l));
        (first.is_empty() || placeholder(first)) && rows.all(|l| l.trim().is_empty())
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        let end = find_input_box(&lines).map_or(lines.len(), |b| b.top);
        let turn = &lines[..end];
        let start = turn
            .iter()
            .rposition(|l| is_user_line(l))
            .map_or(0, |i| i + 1);
        let answer = final_text_blocks(&turn[start..]);
        if answer.is_empty() {
            Err(ProviderError::NoAnswer { provider: NAME })
        } else {
            Ok(answer)
        }
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        if find_input_box(&lines).is_some() {
            return None;
        }
        let region = screen::bottom_region(&lines, 24);
        if !region.iter().any(|l| l.contains("Enter to confirm")) {
            return None;
        }
        let cursor = region
            .iter()
            .find(|l| l.trim_start().starts_with('❯'))
            .map(|l| l.trim_start().trim_start_matches('❯').trim())?;
        let has = |s: &str| region.iter().any(|l| l.contains(s));
        if has("Yes, I trust this folder") {
            return cursor.starts_with("1.").then_some(&["Enter"][..]);
        }
        if has("Do you want to use this API key?") {
            return Some(if cursor.starts_with("1.") {
                &["Enter"][..]
            } else {
                &["Up", "Enter"][..]
            });
        }
        if has("Yes, I accept") && has("Bypass Permissions mode") {
            return Some(if cursor.contains("Yes, I accept") {
                &["Enter"][..]
            } else {
                &["Down", "Enter"][..]
            });
        }
        None
    }

    fn submit(&self) -> Submit {
        // One Enter submits a bracketed paste; the short pause lets the engine confirm the
        // turn started and press Enter once more if it did not.
        Submit {
            enters: 1,
            pause: Duration::from_millis(150),
        }
    }

    fn exit(&self) -> Exit {
        // An interrupted turn puts its prompt back into the input box (2.1), so a typed
        // `/exit` would be sent to the model as part of that prompt. Ctrl-C clears a
        // non-empty input; on an empty one, twice quits.
        Exit::Keys(&["C-c", "C-c", "C-c"])
    }
}

/// The permission rule that allows every tool of the MCP server named `cao`.
const CAO_TOOLS_RULE: &str = "mcp__cao";

/// Sets up this terminal's session record: a session id cao chose (so the transcript is
/// `<config dir>/projects/<cwd>/<id>.jsonl`, written down in the run directory for the
/// reader) and turn-end hooks added for this run only. `--settings` is merged with the
/// user's own settings (hook lists are concatenated), so their hooks and permissions stay.
fn session_record(spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
    let config_dir = record::config_dir(
        std::env::var_os("CLAUDE_CONFIG_DIR").map(std::path::PathBuf::from),
        dirs::home_dir(),
    )
    .ok_or_else(|| ProviderError::Config {
        provider: NAME,
        reason: "neither CLAUDE_CONFIG_DIR nor a home directory is set".into(),
    })?;
    let session = record::Session::new(&config_dir, spec.working_dir);
    screen::write_scratch(
        NAME,
        spec.scratch_dir,
        record::SESSION_FILE,
        &serde_json::to_string(&session).expect("a session serializes"),
    )?;
    let hook = |event: &str| {
        let command = hooks::hook_command(spec.cao_home, spec.terminal_id, event);
        serde_json::json!([{ "hooks": [{ "type": "command", "command": command }] }])
    };
    let settings = serde_json::json!({
        "hooks": {
            // A turn that ended (Stop), failed on an API error (StopFailure fires instead of
            // Stop), and a new transcript (SessionStart: `/clear` starts a new session id).
            "Stop": hook(record::EVENT_STOP),
            "StopFailure": hook(record::EVENT_STOP_FAILURE),
            "SessionStart": hook(record::EVENT_SESSION_START),
        },
        // cao's own tools never wait on a permission prompt: without this, a worker of a
        // supervisor started without --yolo stops at "Do you want to proceed?" before it
        // can report back with send_message. (Merged with the user's own allow rules.)
        "permissions": { "allow": [CAO_TOOLS_RULE] },
    });
    let file = screen::write_scratch(
        NAME,
        spec.scratch_dir,
        "claude-settings.json",
        &settings.to_string(),
    )?;
    Ok(vec![
        "--session-id".into(),
        session.session_id.clone(),
        "--settings".into(),
        file.display().to_string(),
    ])
}

/// Where the input box sits: the rule above it and the rule below it.
#[derive(Debug, Clone, Copy)]
struct InputBox {
    top: usize,
    bottom: usize,
}

/// Lines below the bottom rule that may still be footer, not conversation.
const MAX_FOOTER: usize = 4;

fn find_input_box(lines: &[&str]) -> Option<InputBox> {
    let mut footer = 0;
    let mut bottom = None;
    for (i, line) in lines.iter().enumerate().rev() {
        if is_rule(line) {
            bottom = Some(i);
            break;
        }
        if !line.trim().is_empty() {
            footer += 1;
            if footer > MAX_FOOTER {
                return None;
            }
        }
    }
    let bottom = bottom?;
    let top = lines[..bottom].iter().rposition(|l| is_rule(l))?;
    let first = lines.get(top + 1)?;
    (top + 1 < bottom && is_prompt_line(first)).then_some(InputBox { top, bottom })
}

/// The input line or a user turn: `❯` (or the older `>`) at column 0.
fn is_prompt_line(line: &str) -> bool {
    line == "❯"
        || line.starts_with("❯ ")
        || line.starts_with("❯\u{a0}")
        || line == ">"
        || line.starts_with("> ")
}

/// The text on the input line after its `❯ ` (or `> `), trimmed (the prompt is padded with a
/// no-break space).
fn prompt_text(line: &str) -> &str {
    line.strip_prefix('❯')
        .or_else(|| line.strip_prefix('>'))
        .unwrap_or(line)
        .trim()
}

/// The dim hint an empty input box shows instead of text (capture-pane drops the dimming, so
/// it is told apart by its exact words): `Try "<example>"` on a fresh session with prompt
/// suggestions on (the examples name a file of the project, or `<filepath>`),
/// `Press up to edit queued messages`, and `Message @<agent>…` while viewing an agent.
fn placeholder(text: &str) -> bool {
    if text == "Press up to edit queued messages" {
        return true;
    }
    if let Some(agent) = text.strip_prefix("Message @") {
        return agent.ends_with('…') && agent.chars().count() > 1;
    }
    let Some(example) = text
        .strip_prefix("Try \"")
        .and_then(|t| t.strip_suffix('"'))
    else {
        return false;
    };
    const FIXED: &[&str] = &[
        "fix lint errors",
        "fix typecheck errors",
        "how do I log an error?",
        "create a util logging.py that...",
    ];
    // The examples that name a file: the file is one word (a path, or `<filepath>`).
    let file = |f: &str| !f.is_empty() && !f.contains(char::is_whitespace);
    FIXED.contains(&example)
        || example
            .strip_prefix("how does ")
            .and_then(|t| t.strip_suffix(" work?"))
            .is_some_and(file)
        || example.strip_prefix("refactor ").is_some_and(file)
        || example
            .strip_prefix("edit ")
            .and_then(|t| t.strip_suffix(" to..."))
            .is_some_and(file)
        || example.strip_prefix("write a test for ").is_some_and(file)
}

/// A user turn in the conversation (the input box is excluded by the caller).
fn is_user_line(line: &str) -> bool {
    is_prompt_line(line)
}

/// A numbered menu with a cursor and a confirm/cancel footer at the bottom of the screen.
fn menu_dialog(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 24);
    let cursor = region.iter().any(|l| {
        let t = l.trim_start();
        t.strip_prefix('❯')
            .map(str::trim_start)
            .is_some_and(|rest| {
                rest.split('.')
                    .next()
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
    });
    let footer = region
        .iter()
        .any(|l| l.contains("Enter to confirm") || l.contains("Esc to cancel"));
    cursor && footer
}

fn spinner_line(line: &str) -> bool {
    line.starts_with(SPINNER_GLYPHS) && line.contains('…')
}

/// `✻ Brewed for 3s`, `✻ Worked for 1m 12s`.
fn summary_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix(SPINNER_GLYPHS) else {
        return false;
    };
    let rest = rest.trim_start();
    let mut words = rest.split_whitespace();
    words.next().is_some()
        && words.next() == Some("for")
        && words
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
}

fn bullet_text(line: &str) -> Option<&str> {
    line.strip_prefix("● ").or_else(|| line.strip_prefix("⏺ "))
}

/// `⎿  API Error: 500 ...` under a turn (or as its own bullet), `⎿  Error: ...`.
fn error_line(line: &str) -> bool {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('⎿') {
        let rest = rest.trim_start();
        return rest.starts_with("API Error") || rest.starts_with("Error");
    }
    bullet_text(t).is_some_and(|rest| rest.starts_with("API Error"))
}

/// `  ⎿  Interrupted · What should Claude do instead?` (answer text that happens to start
/// with the word has no `⎿`).
fn interrupted_line(line: &str) -> bool {
    line.trim_start()
        .strip_prefix('⎿')
        .is_some_and(|rest| rest.trim_start().starts_with("Interrupted"))
}

/// Collapsed tool calls: `  Called mock (ctrl+o to expand)`, `● Calling mock…`.
fn tool_marker(line: &str) -> bool {
    let t = line
        .trim_start()
        .trim_start_matches(['●', '⏺'])
        .trim_start();
    t.starts_with("Called ") || t.starts_with("Calling ")
}

/// Status from the conversation above the input box, read from its bottom. A turn's
/// `✻ Worked for 3s` summary follows its answer and also a failed request's
/// `● API Error: ...` bullet (2.1), so the summary alone does not mean success.
fn last_turn_status(conversation: &[&str]) -> Status {
    let mut finished = false;
    for (n, line) in conversation
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        if n == 0 && spinner_line(line) {
            return Status::Processing;
        }
        if interrupted_line(line) {
            return Status::Idle;
        }
        if error_line(line) {
            return Status::Error;
        }
        if summary_line(line) {
            finished = true;
            continue;
        }
        if tool_marker(line) {
            continue;
        }
        if let Some(text) = bullet_text(line) {
            if !looks_like_tool_call(text) {
                return Status::Completed;
            }
            continue;
        }
        if is_user_line(line) {
            break;
        }
    }
    if finished {
        Status::Completed
    } else {
        Status::Idle
    }
}

/// `Bash(ls)`, `Read(src/x.rs)`, `mock - echo (MCP)(message: "hi")`.
fn looks_like_tool_call(first: &str) -> bool {
    if tool_marker(first) || first.contains("(ctrl+o to expand)") {
        return true;
    }
    let head: String = first.chars().take_while(|c| *c != '(').collect();
    first.trim_end().ends_with(')')
        && !head.is_empty()
        && head.len() < first.len()
        && head.chars().next().is_some_and(|c| c.is_alphabetic())
        && !head.ends_with(' ')
        && head.split_whitespace().count() <= 4
}

/// Claude Code's answer blocks: `● ` bullets, two-space continuation lines; a tool call's
/// block (or a collapsed `Called ...` line) resets the answer.
const BLOCKS: Blocks = Blocks {
    bullet: bullet_text,
    indent: 2,
    ends_block: screen::never,
    block: |_, body| {
        let tool = looks_like_tool_call(&body[0])
            || body.get(1).is_some_and(|l| l.trim_start().starts_with('⎿'));
        if tool { Piece::Reset } else { Piece::Answer }
    },
    line: |line| {
        if tool_marker(line) {
            Piece::Reset
        } else {
            Piece::Skip
        }
    },
};

/// The answer blocks of one turn after its last tool call, joined by blank lines.
fn final_text_blocks(turn: &[&str]) -> String {
    BLOCKS
        .final_answer(turn)
        .iter()
        .map(|b| screen::join_trimmed(b))
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::AgentSpec;
    use std::path::Path;

    #[test]
    fn each_launch_gets_its_own_session_and_turn_end_hooks() {
        let scratch = tempfile::tempdir().unwrap();
        let agent = AgentSpec {
            name: "dev".into(),
            description: "d".into(),
            system_prompt: "Write code.\n".into(),
            ..AgentSpec::default()
        };
        let home = scratch.path().join("cao home");
        let spec = LaunchSpec {
            terminal_id: "0a1b2c3d",
            agent: &agent,
            mcp_servers: Default::default(),
            yolo: true,
            working_dir: Path::new("/tmp"),
            scratch_dir: scratch.path(),
            cao_home: &home,
            agents_dir: None,
        };
        let argv = ClaudeCode.command(Path::new("/bin/claude"), &spec).unwrap();
        let after = |flag: &str| {
            let i = argv.iter().position(|a| a == flag).unwrap();
            argv[i + 1].clone()
        };
        let session: record::Session = serde_json::from_str(
            &std::fs::read_to_string(scratch.path().join(record::SESSION_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(after("--session-id"), session.session_id);
        assert!(
            session
                .transcript
                .ends_with(format!("projects/-tmp/{}.jsonl", session.session_id))
        );
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(after("--settings")).unwrap()).unwrap();
        for (hook, event) in [
            ("Stop", record::EVENT_STOP),
            ("StopFailure", record::EVENT_STOP_FAILURE),
            ("SessionStart", record::EVENT_SESSION_START),
        ] {
            let command = settings["hooks"][hook][0]["hooks"][0]["command"]
                .as_str()
                .unwrap();
            let want = hooks::hook_command(&home, "0a1b2c3d", event);
            assert_eq!(command, want);
            assert!(command.contains("'--home' '"), "{command}");
        }
        assert_eq!(settings["permissions"]["allow"][0], CAO_TOOLS_RULE);
        // A second launch: another session.
        let again = ClaudeCode.command(Path::new("/bin/claude"), &spec).unwrap();
        assert!(!again.contains(&session.session_id));
    }
}
