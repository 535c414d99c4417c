//! Gemini CLI (`gemini`, npm `@google/gemini-cli`).
//!
//! Its screen, bottom up: a footer (workspace, sandbox, model), the input box framed by a
//! row of `▄` above and `▀` below (` *   Type your message or @path/to/file` when empty),
//! then status rows (`YOLO Ctrl+Y`, a rule, `? for shortcuts`, and
//! ` ⠇ Thinking... (esc to cancel, 1s)` while busy). Above them the conversation: user turns
//! in the same `▄`/`▀` frame with ` > text`, answers `✦ text` with two-space indented lines,
//! tool calls in rounded `╭`/`╰` boxes, errors as `✕ ...`. In a terminal without true color
//! (a tmux with no `COLORTERM`) the frames are colored blocks whose padding rows read as
//! blank lines, and a `True color (24-bit) support not detected` warning sits above the
//! first turn. For 3 s after a hook started, `  Executing Hook: NAME` shows above the rule.
//!
//! The profile's system prompt goes into a `GEMINI.md` in the terminal's scratch directory,
//! which is added to the workspace (`--include-directories`) so Gemini loads it as project
//! memory. Gemini has no flag for MCP servers, and it ignores a system settings file
//! (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) unless the file and every directory above it are owned
//! by root and writable by no one else (0.61), so the servers go in through a per-terminal
//! state directory instead: `GEMINI_CLI_HOME` points at the scratch directory, whose
//! `.gemini/` links every entry of the user's own `~/.gemini` (credentials, history,
//! extensions) except `settings.json`, which is the user's settings plus the MCP servers and
//! cao's hooks, and `tmp/`, Gemini's per-project state, which is the terminal's own so its
//! chat record lands there (see [`crate::records::gemini_cli`]); cao names the session
//! (`--session-id`). The user's files are only read, never written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::question;
use super::screen::{self, Blocks, Piece, indented, is_rule};
use super::{Exit, LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit};
use crate::env;
use crate::records::gemini_cli::{self as record, OVERLAY_DIR, SESSION_ID_FILE};
use crate::records::{RecordError, RecordFiles, Transcript, hooks};

/// The Gemini CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiCli;

const NAME: &str = ProviderId::GeminiCli.name();
/// Gemini looks for its state directory (`.gemini/`) here instead of in `HOME`.
const GEMINI_HOME_VAR: &str = "GEMINI_CLI_HOME";
/// A file in an overlay naming the user's real Gemini home, so a Gemini started from inside
/// a cao Gemini terminal (a worker of a Gemini supervisor) overlays the real one again.
const REAL_HOME_MARKER: &str = "cao-real-gemini-home";
/// Gemini's directory of per-project state (chat records among it), private per terminal.
const TMP_DIR: &str = "tmp";

impl Provider for GeminiCli {
    fn id(&self) -> ProviderId {
        ProviderId::GeminiCli
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let mut argv = Vec::new();
        let prompt = spec.agent.system_prompt.trim();
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
        let hook = |event| hooks::hook_command(spec.cao_home, spec.terminal_id, event);
        build_overlay(
            &user_gemini_home(),
            &spec.scratch_dir.join(OVERLAY_DIR),
            servers,
            &(hook(record::STOP_EVENT), hook(record::START_EVENT)),
        )?;
        // A session id of cao's choosing names this terminal's chat record.
        let session = crate::records::new_session_id();
        screen::write_private(NAME, &spec.scratch_dir.join(SESSION_ID_FILE), &session)?;
        argv.extend(["--session-id".into(), session]);
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        vec![(
            GEMINI_HOME_VAR.into(),
            spec.scratch_dir.join(OVERLAY_DIR).display().to_string(),
        )]
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(record::read(files))
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
            if is_bar(line, '▀') || is_user_row(line) {
                return Status::Idle;
            }
        }
        Status::Idle
    }

    fn question(&self, screen: &str) -> Option<Question> {
        // A framed box with a numbered list (`● 1. Allow once`).
        let lines = screen::lines(screen);
        if !confirmation(&lines) {
            return None;
        }
        question::numbered_menu(&lines, question::no_top)
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        let lines = screen::lines(screen);
        let Some((top, bottom)) = input_box(&lines) else {
            return false;
        };
        let rows = &lines[top + 1..bottom.min(lines.len())];
        let Some(prompt) = rows.iter().position(|l| is_prompt_row(l)) else {
            return false;
        };
        // ` * ` (or `>`, `!`, `(r:)`) and the text or the placeholder; typed lines continue
        // indented below it.
        let row = &rows[prompt][1..];
        let text = ["(r:)", "*", ">", "!"]
            .iter()
            .find_map(|p| row.strip_prefix(p))
            .unwrap_or(row)
            .trim();
        (text.is_empty() || PLACEHOLDERS.contains(&text))
            && rows
                .iter()
                .enumerate()
                .all(|(i, l)| i == prompt || l.trim().is_empty())
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
            .rposition(|l| is_bar(l, '▀') || is_user_row(l))
            .map_or(0, |i| i + 1);
        let blocks = BLOCKS.final_answer(&turn[start..]);
        screen::join_answer(&blocks, NAME)
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

/// The directory holding the user's `.gemini/`: `GEMINI_CLI_HOME`, else `HOME` — seen
/// through a cao overlay back to the real one.
fn user_gemini_home() -> PathBuf {
    let base = env::non_empty(GEMINI_HOME_VAR)
        .or_else(|| env::non_empty(env::HOME))
        .map(PathBuf::from)
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    match std::fs::read_to_string(base.join(REAL_HOME_MARKER)) {
        Ok(real) if !real.trim().is_empty() => PathBuf::from(real.trim()),
        _ => base,
    }
}

/// Builds `overlay/.gemini/`: links to every entry of `user_home/.gemini/` but
/// `settings.json` and `tmp`, a `settings.json` that is the user's with `servers` added to
/// `mcpServers` (cao's entries win over same-named ones) and cao's `hooks` (the `stop` and
/// `start` command lines, see [`add_hooks`]), and a private `tmp/` (where Gemini keeps its chat records, so this
/// terminal's stay its own) that links only the user's downloaded tools (`tmp/bin`).
fn build_overlay(
    user_home: &Path,
    overlay: &Path,
    servers: serde_json::Map<String, serde_json::Value>,
    hooks: &(String, String),
) -> Result<(), ProviderError> {
    let fail = |what: &str, e: std::io::Error| ProviderError::Config {
        provider: NAME,
        reason: format!("{what}: {e}"),
    };
    let user_state = user_home.join(".gemini");
    let state = overlay.join(".gemini");
    std::fs::create_dir_all(&state)
        .map_err(|e| fail(&format!("cannot create {}", state.display()), e))?;
    screen::write_private(
        NAME,
        &overlay.join(REAL_HOME_MARKER),
        &user_home.display().to_string(),
    )?;
    let link = |from: PathBuf, to: PathBuf| -> Result<(), ProviderError> {
        if to.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(from, &to)
                .map_err(|e| fail(&format!("cannot link {}", to.display()), e))?;
        }
        Ok(())
    };
    if let Ok(entries) = std::fs::read_dir(&user_state) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == "settings.json" || name == TMP_DIR {
                continue;
            }
            link(entry.path(), state.join(&name))?;
        }
    }
    let tmp = state.join(TMP_DIR);
    if tmp
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        std::fs::remove_file(&tmp)
            .map_err(|e| fail(&format!("cannot remove {}", tmp.display()), e))?;
    }
    std::fs::create_dir_all(&tmp)
        .map_err(|e| fail(&format!("cannot create {}", tmp.display()), e))?;
    let tools = user_state.join(TMP_DIR).join("bin");
    if tools.is_dir() {
        link(tools, tmp.join("bin"))?;
    }
    let mut settings = std::fs::read_to_string(user_state.join("settings.json"))
        .ok()
        .and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&strip_json_comments(&text)).ok()
        })
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !settings["mcpServers"].is_object() {
        settings["mcpServers"] = json!({});
    }
    for (name, server) in servers {
        settings["mcpServers"][name] = server;
    }
    add_hooks(&mut settings, &hooks.0, &hooks.1);
    screen::write_private(
        NAME,
        &state.join("settings.json"),
        &serde_json::to_string_pretty(&settings).expect("settings serialize"),
    )?;
    Ok(())
}

/// Adds cao's hooks after the user's own: `stop` runs when the agent loop of a prompt ends
/// (`AfterAgent`: finished, failed or interrupted), `start` when a session starts
/// (`SessionStart`: at start-up and after `/clear`, with the new session's record). Gemini
/// passes the event as JSON on stdin (`session_id`, `transcript_path`, `timestamp`, and
/// `prompt`, `prompt_response` for `AfterAgent`). While one runs, and for 3 s after it
/// started, Gemini shows `Executing Hook: NAME` above its input box.
fn add_hooks(settings: &mut serde_json::Value, stop: &str, start: &str) {
    if !settings["hooks"].is_object() {
        settings["hooks"] = json!({});
    }
    for (event, name, command) in [
        ("AfterAgent", "cao-turn-end", stop),
        ("SessionStart", "cao-session-start", start),
    ] {
        let ours = json!({"hooks": [{
            "type": "command",
            "name": name,
            "command": command,
            "timeout": 10_000,
        }]});
        match settings["hooks"][event].as_array_mut() {
            Some(list) => list.push(ours),
            None => settings["hooks"][event] = json!([ours]),
        }
    }
}

/// Removes `//` and `/* */` comments outside strings (Gemini's settings allow them).
fn strip_json_comments(text: &str) -> String {
    use std::io::Read;
    let mut out = String::with_capacity(text.len());
    let stripped = json_comments::CommentSettings::c_style()
        .strip_comments(text.as_bytes())
        .read_to_string(&mut out);
    if stripped.is_ok() {
        out
    } else {
        text.to_string()
    }
}

/// What an empty input box shows, dimmed, after its prompt (0.61): the usual one, the shell
/// mode's, vim mode's, voice mode's. capture-pane drops the dimming, so an input holding
/// exactly these words reads as empty.
const PLACEHOLDERS: &[&str] = &[
    "Type your message or @path/to/file",
    "Type your shell command",
    "Press 'Esc' for NORMAL mode.",
    "Press 'i' for INSERT mode.",
    "Type your message or hold space to talk (Esc to exit)",
    "Type your message or space to talk (Esc to exit)",
];

/// A full-width row of `c` (`▄` opens a frame, `▀` closes it).
fn is_bar(line: &str, c: char) -> bool {
    let t = line.trim();
    t.chars().count() >= 10 && t.chars().all(|x| x == c)
}

/// The input box, found from the bottom of the screen: its top and bottom frame rows. In a
/// terminal with true color those are a row of `▄` and a row of `▀`; without it (a plain
/// tmux without `COLORTERM`) the box is a colored block whose padding rows read as blank
/// lines, and with `ui.useBackgroundColor` off a rule is drawn above it and nothing below.
fn input_box(lines: &[&str]) -> Option<(usize, usize)> {
    half_block_box(lines).or_else(|| padded_box(lines))
}

/// The `▄`/`▀` input box.
fn half_block_box(lines: &[&str]) -> Option<(usize, usize)> {
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

/// The input box without half-block rows: a prompt row (` * `, ` > `, ` ! `, ` (r:) `, then
/// its continuation rows) right under a blank padding row or a rule, with status rows above
/// that, and at most a footer of four rows below. Returns the padding (or rule) row and the
/// row just past the input.
fn padded_box(lines: &[&str]) -> Option<(usize, usize)> {
    let mut below = 0;
    for i in (1..lines.len()).rev() {
        let line = lines[i];
        if is_prompt_row(line) && (lines[i - 1].trim().is_empty() || is_rule(lines[i - 1])) {
            let top = i - 1;
            let above = lines[..top]
                .iter()
                .rposition(|l| !l.trim().is_empty())
                .map(|j| lines[j]);
            let framed = is_rule(lines[top])
                || above.is_some_and(|l| is_rule(l) || is_status_row(l) || is_yolo_row(l));
            if framed {
                let bottom = (i + 1..lines.len())
                    .find(|&j| lines[j].trim().is_empty())
                    .unwrap_or(lines.len());
                return Some((top, bottom));
            }
        }
        if !line.trim().is_empty() && !indented(line, 3) {
            below += 1;
            if below > 5 {
                return None;
            }
        }
    }
    None
}

/// The first row of the input: one space, the mode's prompt character, a space.
fn is_prompt_row(line: &str) -> bool {
    ["*", ">", "!", "(r:)"].iter().any(|p| {
        line.strip_prefix(' ')
            .and_then(|l| l.strip_prefix(p))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

/// The approval-mode row above the input box (`YOLO Ctrl+Y`, `Accepting edits`, ...).
fn is_yolo_row(line: &str) -> bool {
    line.starts_with(' ') && !line.starts_with("  ") && line.contains("Ctrl+Y")
}

/// A user turn in the conversation: ` > text` (a slash command too), framed like the input.
fn is_user_row(line: &str) -> bool {
    line.starts_with(" > ")
}

/// ` ⠇ Thinking... (esc to cancel, 3s)`, one space in (an indented copy is answer text).
/// Gemini's answer blocks: `✦ ` bullets, two-space continuation lines; a tool call's box
/// (`╭`), an error (`✕`) or a cancel notice resets the answer.
const BLOCKS: Blocks = Blocks {
    bullet: |line| line.strip_prefix("✦ "),
    indent: 2,
    ends_block: screen::never,
    block: |_, _| Piece::Answer,
    line: |line| {
        let t = line.trim_start();
        if line.starts_with('╭')
            || t.starts_with('✕')
            || (t.starts_with('ℹ') && t.contains("cancelled"))
        {
            Piece::Reset
        } else {
            Piece::Skip
        }
    },
};

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
        || t.starts_with("Executing Hook")
        || busy_line(line)
        || (line.starts_with(' ')
            && !line.starts_with("  ")
            && !t.starts_with(['✕', 'ℹ'])
            && !is_user_row(line))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings() {
        let text = "{\n  // a comment\n  \"url\": \"http://x/*y*/\", /* block */ \"a\": 1\n}";
        let v: serde_json::Value = serde_json::from_str(&strip_json_comments(text)).unwrap();
        assert_eq!(v["url"], "http://x/*y*/");
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn overlay_links_the_user_state_and_adds_servers() {
        let user = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let state = user.path().join(".gemini");
        std::fs::create_dir_all(state.join("tmp/bin")).unwrap();
        std::fs::create_dir_all(state.join("tmp/project/chats")).unwrap();
        std::fs::write(state.join("oauth_creds.json"), "{}").unwrap();
        std::fs::write(
            state.join("settings.json"),
            "{ // mine\n \"security\": {\"auth\": {\"selectedType\": \"oauth-personal\"}},\n \"mcpServers\": {\"other\": {\"command\": \"x\"}, \"cao\": {\"command\": \"old\"}},\n \"hooks\": {\"AfterAgent\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"mine\"}]}]} }",
        )
        .unwrap();
        let overlay = scratch.path().join(OVERLAY_DIR);
        let mut servers = serde_json::Map::new();
        servers.insert("cao".into(), json!({"command": "/bin/cao", "trust": true}));
        let hooks = (
            "'/bin/cao' 'stop'".to_string(),
            "'/bin/cao' 'start'".to_string(),
        );
        build_overlay(user.path(), &overlay, servers, &hooks).unwrap();

        let mine = overlay.join(".gemini");
        assert_eq!(
            std::fs::read_link(mine.join("oauth_creds.json")).unwrap(),
            state.join("oauth_creds.json")
        );
        // Gemini's per-project state (chat records among it) is the terminal's own; only
        // the user's downloaded tools are shared.
        let tmp = mine.join("tmp");
        assert!(tmp.is_dir() && !tmp.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(!tmp.join("project").exists());
        assert_eq!(
            std::fs::read_link(tmp.join("bin")).unwrap(),
            state.join("tmp/bin")
        );
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(mine.join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(
            settings["security"]["auth"]["selectedType"],
            "oauth-personal"
        );
        assert_eq!(settings["mcpServers"]["other"]["command"], "x");
        assert_eq!(settings["mcpServers"]["cao"]["command"], "/bin/cao");
        // cao's hooks come after the user's own.
        let after = &settings["hooks"]["AfterAgent"];
        assert_eq!(after[0]["hooks"][0]["command"], "mine");
        assert_eq!(after[1]["hooks"][0]["command"], "'/bin/cao' 'stop'");
        assert_eq!(after[1]["hooks"][0]["type"], "command");
        let start = &settings["hooks"]["SessionStart"][0]["hooks"][0];
        assert_eq!(start["command"], "'/bin/cao' 'start'");
        // The user's own file is untouched.
        assert!(
            std::fs::read_to_string(state.join("settings.json"))
                .unwrap()
                .contains("\"old\"")
        );
        // An overlay built from inside this overlay reaches the real home again.
        assert_eq!(
            std::fs::read_to_string(overlay.join(REAL_HOME_MARKER)).unwrap(),
            user.path().display().to_string()
        );
    }
}
