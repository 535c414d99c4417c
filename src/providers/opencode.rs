//! OpenCode (`opencode`, npm `opencode-ai`).
//!
//! A full-screen TUI: the bottom line is a footer that shows `esc interrupt` (with an
//! animated bar) while a turn runs; above it the input box, a column of `┃` lines closed by
//! a `╹▀▀▀` row; above that the conversation: user turns are `┃` blocks, answers are plain
//! text indented five spaces, tool calls are lines such as `⚙ server_tool [args]`, and every
//! assistant message ends with `▣  Build · <model> · 4.9s` (no duration while it runs).
//! A permission request shows `△  Permission required`. On wide panes a sidebar appears to
//! the right of the conversation; it is cut off before reading.
//!
//! The profile's system prompt and MCP servers go into an `opencode.json` in the terminal's
//! scratch directory, named by `OPENCODE_CONFIG` (merged over the user's own config).
//!
//! The session record: OpenCode keeps its sessions in a SQLite database in its data
//! directory. cao names that database explicitly (`OPENCODE_DB`, the path OpenCode would use
//! anyway) and writes it down in the run directory; a plugin listed in the private config
//! runs `cao _hook` when a session starts and when it goes idle, with the session id, so the
//! reader knows which session of the shared database is this terminal's (see
//! [`crate::records::opencode`]).

use serde_json::json;

use super::question::{self, Layout};
use super::screen::{self, dedent};
use super::{Exit, LaunchSpec, Provider, ProviderError, ProviderId, Question, Status};
use crate::records::opencode as record;
use crate::records::{RecordError, RecordFiles, Transcript, hooks};

/// The OpenCode provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCode;

const NAME: &str = ProviderId::OpenCode.name();
const CONFIG_FILE: &str = "opencode.json";
/// A run of spaces at least this long comes before the sidebar's text.
const SIDEBAR_GAP: usize = 20;
/// Glyphs that open a tool-call line in an answer.
const TOOL_GLYPHS: &[char] = &['⚙', '→', '←', '✱', '$', '◇', '%'];

impl Provider for OpenCode {
    fn id(&self) -> ProviderId {
        ProviderId::OpenCode
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let argv = Vec::new();
        let mcp: serde_json::Map<String, serde_json::Value> = spec
            .mcp_servers
            .iter()
            .map(|(name, server)| {
                let mut command = vec![server.command.clone()];
                command.extend(server.args.iter().cloned());
                (
                    name.clone(),
                    json!({
                        "type": "local",
                        "command": command,
                        "environment": server.env,
                        "enabled": true,
                    }),
                )
            })
            .collect();
        let mut config = json!({
            "$schema": "https://opencode.ai/config.json",
            "mcp": mcp,
        });
        let prompt = spec.agent.system_prompt.trim();
        if !prompt.is_empty() {
            let file = screen::write_scratch(NAME, spec.scratch_dir, "system-prompt.md", prompt)?;
            config["instructions"] = json!([file.display().to_string()]);
        }
        config["plugin"] = json!([session_record(spec)?]);
        screen::write_scratch(NAME, spec.scratch_dir, CONFIG_FILE, &config.to_string())?;
        Ok(argv)
    }

    fn env(&self, spec: &LaunchSpec<'_>) -> Vec<(String, String)> {
        let mut env = vec![(
            "OPENCODE_CONFIG".into(),
            spec.scratch_dir.join(CONFIG_FILE).display().to_string(),
        )];
        if let Some(db) = database() {
            env.push((record::DB_VAR.into(), db.display().to_string()));
        }
        env
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(record::read(files))
    }

    fn status(&self, screen: &str) -> Status {
        let lines = cut_sidebar(screen);
        let Some(footer) = lines.iter().rposition(|l| !l.trim().is_empty()) else {
            return Status::Processing;
        };
        let region = screen::bottom_region(&refs(&lines), 30);
        if region.iter().any(|l| permission_title(l)) {
            return Status::WaitingUserAnswer;
        }
        if lines[footer].contains("esc interrupt") {
            return Status::Processing;
        }
        let Some(top) = input_box_top(&lines) else {
            return Status::Processing;
        };
        let mut i = top;
        while i > 0 {
            i -= 1;
            let t = lines[i].trim();
            if t.starts_with('┃') {
                let first = block_start(&lines, i);
                if !is_reasoning(&lines[first..=i]) {
                    return Status::Idle;
                }
                i = first;
                continue;
            }
            if let Some(rest) = message_marker(t) {
                if rest.contains("interrupted") {
                    return Status::Idle;
                }
                return if has_duration(rest) {
                    Status::Completed
                } else if failed_turn(&lines, i) {
                    Status::Error
                } else {
                    Status::Processing
                };
            }
            if t.starts_with(['✕', '■']) && t.contains("Error") {
                return Status::Error;
            }
        }
        Status::Idle
    }

    fn question(&self, screen: &str) -> Option<Question> {
        // `△  Permission required`, what is asked, then a row of buttons (`Allow once   Allow
        // always   Reject`, the selected one only colored: the first when it appears), moved
        // through with Left/Right.
        let lines = cut_sidebar(screen);
        let lines = refs(&lines);
        let from = lines.len().saturating_sub(30);
        let title = from + lines[from..].iter().rposition(|l| permission_title(l))?;
        let buttons = title
            + 1
            + lines[title + 1..]
                .iter()
                .position(|l| button_row(l).len() >= 2)?;
        let mut text = vec![question::unframe(lines[title]).trim_start_matches('△')];
        text.extend(
            lines[title + 1..buttons]
                .iter()
                .map(|l| question::unframe(l))
                .filter(|l| !l.is_empty()),
        );
        let mut question = Question::line(&text.join("\n"));
        question.options = button_row(lines[buttons]);
        question.layout = Layout::Horizontal;
        Some(question)
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        let lines = cut_sidebar(screen);
        let Some(top) = input_box_top(&lines) else {
            return false;
        };
        let bottom = lines
            .iter()
            .rposition(|l| l.trim_start().starts_with('╹'))
            .unwrap_or(lines.len());
        let mut rows: Vec<&str> = lines[top..bottom]
            .iter()
            .map(|l| l.trim().trim_start_matches('┃').trim())
            .collect();
        // The box ends with the agent and model row (`Build · Model Provider`) under a blank
        // row; the input (or the placeholder) is above it.
        if let Some(last) = rows.iter().rposition(|r| !r.is_empty())
            && last > 0
            && rows[last - 1].is_empty()
            && rows[last].contains(" · ")
        {
            rows.truncate(last);
        }
        let mut text = rows.iter().filter(|r| !r.is_empty());
        match (text.next(), text.next()) {
            (None, _) => true,
            (Some(only), None) => placeholder(only),
            _ => false,
        }
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = cut_sidebar(screen);
        let end = input_box_top(&lines).unwrap_or(lines.len());
        let turn = &lines[..end];
        // The last user turn: a `┃` block that is not reasoning.
        let mut start = 0;
        let mut i = turn.len();
        while i > 0 {
            i -= 1;
            if turn[i].trim().starts_with('┃') {
                let first = block_start(turn, i);
                if !is_reasoning(&turn[first..=i]) {
                    start = i + 1;
                    break;
                }
                i = first;
            }
        }
        // Its answer ends at the last finished-message marker after it.
        let Some(marker) = turn[start..]
            .iter()
            .rposition(|l| message_marker(l.trim()).is_some_and(has_duration))
            .map(|m| start + m)
        else {
            return Err(ProviderError::NoAnswer { provider: NAME });
        };
        let mut body: Vec<String> = Vec::new();
        let mut in_reasoning = false;
        for line in &turn[start..marker] {
            let t = line.trim();
            if t.starts_with('┃') {
                in_reasoning = true;
                continue;
            }
            if in_reasoning && t.is_empty() {
                in_reasoning = false;
                continue;
            }
            in_reasoning = false;
            if t.starts_with(TOOL_GLYPHS) && t.chars().nth(1) == Some(' ') {
                body.clear();
                continue;
            }
            if message_marker(t).is_some() {
                body.clear();
                continue;
            }
            body.push(dedent(line, 5).to_string());
        }
        let answer = screen::join_trimmed(&body);
        if answer.is_empty() {
            Err(ProviderError::NoAnswer { provider: NAME })
        } else {
            Ok(answer)
        }
    }

    fn interrupt_keys(&self) -> &'static [&'static str] {
        // The first Escape arms the interrupt, the second confirms it.
        &["Escape", "Escape"]
    }

    fn exit(&self) -> Exit {
        // A typed `/exit` is not always taken as the command (the drift check saw it fail
        // once, right after an interrupt). Ctrl-C clears a non-empty input box and quits
        // from an empty one, so twice always quits (checked on 1.18.33).
        Exit::Keys(&["C-c", "C-c"])
    }
}

/// The database this OpenCode will use: resolved from cao's environment, which the CLI
/// inherits (see [`record::database_path`]).
fn database() -> Option<std::path::PathBuf> {
    record::database_path(
        std::env::var_os(record::DB_VAR).as_deref(),
        std::env::var_os("XDG_DATA_HOME").as_deref(),
        dirs::home_dir().as_deref(),
    )
}

/// Sets up this terminal's session record: the database path written down for the reader,
/// and the plugin that reports the session id at session start and turn end. Returns the
/// plugin's entry for the config's `plugin` list (OpenCode concatenates plugin lists, so the
/// user's own plugins stay).
fn session_record(spec: &LaunchSpec<'_>) -> Result<String, ProviderError> {
    let located = record::Located { db: database() };
    screen::write_scratch(
        NAME,
        spec.scratch_dir,
        record::LOCATION_FILE,
        &serde_json::to_string(&located).expect("a location serializes"),
    )?;
    let source = record::plugin_source(
        &hooks::hook_argv(spec.cao_home, spec.terminal_id, record::EVENT_START),
        &hooks::hook_argv(spec.cao_home, spec.terminal_id, record::EVENT_STOP),
    );
    let plugin = screen::write_scratch(NAME, spec.scratch_dir, record::PLUGIN_FILE, &source)?;
    Ok(record::file_url(&plugin))
}

/// The text after `▣` of a finished-or-running message marker (`▣  Build · model · 4.9s`).
/// OpenCode's own stderr warnings are sometimes printed over the start of the line, so the
/// glyph is looked for anywhere outside a `┃` block.
fn message_marker(trimmed: &str) -> Option<&str> {
    if trimmed.starts_with('┃') {
        return None;
    }
    let at = trimmed.find("▣  ")?;
    Some(&trimmed[at + '▣'.len_utf8()..])
}

/// `· 4.9s`, `· 1m 3s` at the end of a message marker.
fn has_duration(marker: &str) -> bool {
    // Only the first word counts: stray stderr text may follow it on the same row.
    let last = marker.rsplit('·').next().unwrap_or("").trim();
    let first = last.split_whitespace().next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_digit()) && first.ends_with(['s', 'm'])
}

/// The screen's lines with any right-hand sidebar removed. The sidebar (session title,
/// context, MCP and LSP state) starts at the same column on every row it uses; rows that
/// hold only sidebar text start there after a long run of spaces. Its column is the most
/// common start of text that follows a long gap in the right part of the screen.
fn cut_sidebar(screen: &str) -> Vec<String> {
    let lines = screen::lines(screen);
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut starts: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for line in &lines {
        let chars: Vec<char> = line.chars().collect();
        let mut spaces = 0;
        for (col, c) in chars.iter().enumerate() {
            if *c == ' ' {
                spaces += 1;
                continue;
            }
            if spaces >= SIDEBAR_GAP && col * 100 >= width * 55 {
                *starts.entry(col).or_default() += 1;
            }
            spaces = 0;
        }
    }
    let column = starts
        .iter()
        .filter(|(_, n)| **n >= 2)
        .max_by_key(|(col, n)| (**n, std::cmp::Reverse(**col)))
        .map(|(col, _)| *col);
    lines
        .into_iter()
        .map(|line| match column {
            Some(col) => line
                .chars()
                .take(col)
                .collect::<String>()
                .trim_end()
                .to_string(),
            None => line.to_string(),
        })
        .collect()
}

/// The title row of a permission prompt (`△  Permission required`, or `△  Always allow`
/// when "Allow always" asks to confirm).
fn permission_title(line: &str) -> bool {
    line.contains('△') && (line.contains("Permission required") || line.contains("Always allow"))
}

/// The buttons of a permission prompt's last row (`Allow once   Allow always   Reject`,
/// `Confirm   Cancel`), without the key hints after them (`⇆ select   enter confirm`).
fn button_row(line: &str) -> Vec<String> {
    const BUTTONS: &[&str] = &["Allow once", "Allow always", "Reject", "Confirm", "Cancel"];
    question::unframe(line)
        .split("  ")
        .map(str::trim)
        .filter(|b| BUTTONS.contains(b))
        .map(str::to_string)
        .collect()
}

fn refs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// Whether the unfinished message marker at `marker` closes a failed turn: OpenCode (1.18)
/// draws the failure as a `┃` block of its own right above the marker, under the user's
/// `┃` block, with no answer between them. One block alone (the user's) is a turn that has
/// not produced anything yet.
fn failed_turn(lines: &[String], marker: usize) -> bool {
    let Some(last) = lines[..marker].iter().rposition(|l| !l.trim().is_empty()) else {
        return false;
    };
    if !lines[last].trim().starts_with('┃') {
        return false;
    }
    let first = block_start(lines, last);
    if is_reasoning(&lines[first..=last]) {
        return false;
    }
    for line in lines[..first].iter().rev() {
        let t = line.trim();
        if t.starts_with('┃') {
            return true;
        }
        if message_marker(t).is_some() {
            return false;
        }
    }
    false
}

/// First line of the contiguous `┃` block that ends at `last`.
fn block_start(lines: &[String], last: usize) -> usize {
    let mut first = last;
    while first > 0 && lines[first - 1].trim().starts_with('┃') {
        first -= 1;
    }
    first
}

/// A `┃` block holding the model's reasoning (`Thinking: ...`) rather than a user turn.
fn is_reasoning(block: &[String]) -> bool {
    block.iter().any(|l| {
        l.trim()
            .trim_start_matches('┃')
            .trim()
            .starts_with("Thinking:")
    })
}

/// The dim hint of an empty input box: `Ask anything… "<example>"`, in shell mode
/// `Run a command… "<example>"` (1.18; the examples rotate). capture-pane drops the
/// dimming, so it is told apart by its words.
fn placeholder(row: &str) -> bool {
    ["Ask anything", "Run a command"].iter().any(|lead| {
        row.strip_prefix(lead)
            .and_then(|r| r.strip_prefix('…').or_else(|| r.strip_prefix("...")))
            .and_then(|r| r.strip_prefix(" \""))
            .is_some_and(|r| r.len() > 1 && r.ends_with('"'))
    })
}

/// First line of the input box: the `┃` column that ends in the `╹▀▀▀` row.
fn input_box_top(lines: &[String]) -> Option<usize> {
    let bottom = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with('╹'))?;
    let mut top = bottom;
    while top > 0 && lines[top - 1].trim_start().starts_with('┃') {
        top -= 1;
    }
    (top < bottom).then_some(top)
}
