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
//! memory. Gemini has no flag for MCP servers, and it ignores a system settings file
//! (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) unless the file and every directory above it are owned
//! by root and writable by no one else (0.61), so the servers go in through a per-terminal
//! state directory instead: `GEMINI_CLI_HOME` points at the scratch directory, whose
//! `.gemini/` links every entry of the user's own `~/.gemini` (credentials, history,
//! extensions) except `settings.json`, which is the user's settings plus the MCP servers.
//! The user's files are only read, never written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::screen::{self, dedent, indented, is_rule};
use super::{Exit, LaunchSpec, Locate, Provider, ProviderError, Status, Submit};
use crate::env;

/// The Gemini CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiCli;

const NAME: &str = "gemini_cli";
/// Gemini looks for its state directory (`.gemini/`) here instead of in `HOME`.
const GEMINI_HOME_VAR: &str = "GEMINI_CLI_HOME";
/// The terminal's Gemini home, inside its scratch directory.
const OVERLAY_DIR: &str = "gemini-home";
/// A file in an overlay naming the user's real Gemini home, so a Gemini started from inside
/// a cao Gemini terminal (a worker of a Gemini supervisor) overlays the real one again.
const REAL_HOME_MARKER: &str = "cao-real-gemini-home";

impl Provider for GeminiCli {
    fn name(&self) -> &'static str {
        NAME
    }

    fn locate(&self) -> Locate {
        Locate {
            var: env::CAO_GEMINI_CLI_BIN,
            programs: &["gemini"],
            install_hint: "install it with `npm install -g @google/gemini-cli`",
        }
    }

    fn command(
        &self,
        executable: &Path,
        spec: &LaunchSpec<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut argv = vec![executable.display().to_string()];
        screen::push_common_flags(&mut argv, spec, "--yolo");
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
        build_overlay(
            &user_gemini_home(),
            &spec.scratch_dir.join(OVERLAY_DIR),
            servers,
        )?;
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        vec![(
            GEMINI_HOME_VAR.into(),
            spec.scratch_dir.join(OVERLAY_DIR).display().to_string(),
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
/// `settings.json`, and a `settings.json` that is the user's with `servers` added to
/// `mcpServers` (cao's entries win over same-named ones).
fn build_overlay(
    user_home: &Path,
    overlay: &Path,
    servers: serde_json::Map<String, serde_json::Value>,
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
    if let Ok(entries) = std::fs::read_dir(&user_state) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == "settings.json" {
                continue;
            }
            let link = state.join(&name);
            if link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(entry.path(), &link)
                    .map_err(|e| fail(&format!("cannot link {}", link.display()), e))?;
            }
        }
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
    screen::write_private(
        NAME,
        &state.join("settings.json"),
        &serde_json::to_string_pretty(&settings).expect("settings serialize"),
    )?;
    Ok(())
}

/// Removes `//` and `/* */` comments outside strings (Gemini's settings allow them).
fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
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
        std::fs::create_dir_all(state.join("tmp")).unwrap();
        std::fs::write(state.join("oauth_creds.json"), "{}").unwrap();
        std::fs::write(
            state.join("settings.json"),
            "{ // mine\n \"security\": {\"auth\": {\"selectedType\": \"oauth-personal\"}},\n \"mcpServers\": {\"other\": {\"command\": \"x\"}, \"cao\": {\"command\": \"old\"}} }",
        )
        .unwrap();
        let overlay = scratch.path().join(OVERLAY_DIR);
        let mut servers = serde_json::Map::new();
        servers.insert("cao".into(), json!({"command": "/bin/cao", "trust": true}));
        build_overlay(user.path(), &overlay, servers).unwrap();

        let mine = overlay.join(".gemini");
        assert_eq!(
            std::fs::read_link(mine.join("oauth_creds.json")).unwrap(),
            state.join("oauth_creds.json")
        );
        assert!(mine.join("tmp").is_dir());
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(mine.join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(
            settings["security"]["auth"]["selectedType"],
            "oauth-personal"
        );
        assert_eq!(settings["mcpServers"]["other"]["command"], "x");
        assert_eq!(settings["mcpServers"]["cao"]["command"], "/bin/cao");
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
