//! The claude_code session record: the transcript Claude Code writes as JSON lines to
//! `<config dir>/projects/<cwd, every non-alphanumeric char as '-'>/<session id>.jsonl`
//! (config dir: `CLAUDE_CONFIG_DIR`, else `~/.claude`).
//!
//! cao picks the session id at launch (`--session-id`) and writes the transcript's path
//! into the terminal's run directory ([`SESSION_FILE`]); hooks added with `--settings`
//! report turn ends (`Stop`, `StopFailure`) and new transcripts (`SessionStart`, e.g. after
//! `/clear`) to the terminal's `hooks.jsonl`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::hooks::{self, HookEvent};
use super::{RecordError, RecordFiles, Transcript, Usage, count, json_lines, read_record};

/// The file in the run directory naming the terminal's session and transcript.
pub const SESSION_FILE: &str = "claude-session.json";

/// Hook event names cao gives Claude Code's hooks.
pub const EVENT_STOP: &str = "stop";
/// An API error ended the turn (Claude Code runs `StopFailure` instead of `Stop`).
pub const EVENT_STOP_FAILURE: &str = "stop_failure";
/// A session started, resumed or was cleared: its transcript is the one to read.
pub const EVENT_SESSION_START: &str = "session_start";

/// The terminal's session as set up at launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The id given to `--session-id`.
    pub session_id: String,
    /// `<config dir>/projects`: every transcript of this terminal lies inside it.
    pub projects_dir: PathBuf,
    /// Where Claude Code writes the transcript of `session_id`.
    pub transcript: PathBuf,
}

impl Session {
    /// A new session (random id) for a CLI started in `working_dir` with `config_dir`.
    pub fn new(config_dir: &Path, working_dir: &Path) -> Session {
        let session_id = crate::records::new_session_id();
        let projects_dir = config_dir.join("projects");
        let transcript = projects_dir
            .join(project_dir_name(&working_dir.display().to_string()))
            .join(format!("{session_id}.jsonl"));
        Session {
            session_id,
            projects_dir,
            transcript,
        }
    }
}

/// Claude Code's configuration directory: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub fn config_dir(configured: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    configured
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| home.map(|h| h.join(".claude")))
}

/// The folder name Claude Code gives a working directory under `projects/`: every UTF-16
/// unit that is not an ASCII letter or digit becomes `-`; past 200 units the name is cut and
/// a base-36 hash of the whole path appended (as Claude Code 2.1 does).
pub fn project_dir_name(cwd: &str) -> String {
    const MAX: usize = 200;
    let units: Vec<u16> = cwd.encode_utf16().collect();
    let name: String = units
        .iter()
        .map(|&u| match char::from_u32(u32::from(u)) {
            Some(c) if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    if name.len() <= MAX {
        return name;
    }
    let mut hash: i32 = 0;
    for &u in &units {
        hash = hash
            .wrapping_shl(5)
            .wrapping_sub(hash)
            .wrapping_add(i32::from(u));
    }
    format!(
        "{}-{}",
        &name[..MAX],
        base36(i64::from(hash).unsigned_abs())
    )
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

/// Reads the terminal's record: the transcript of the session cao started it with, or of
/// the session a later `SessionStart`/`Stop` hook reported (a `/clear` starts a new one).
/// Claude Code creates the file with the first prompt; before that it is
/// [`RecordError::Missing`].
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let meta = files.run_dir.join(SESSION_FILE);
    let session: Session = match read_record(&meta, &files.run_dir) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| RecordError::unreadable(&meta, e))?,
        Err(RecordError::Missing(_)) => {
            return Err(RecordError::Missing(format!(
                "terminal {} was not launched with a Claude Code session record",
                files.terminal_id
            )));
        }
        Err(e) => return Err(e),
    };
    // A corrupt hooks.jsonl only loses the `/clear` tracking, not the record.
    let events = hooks::events(&files.run_dir).unwrap_or_default();
    let path = current_transcript(&session, &events);
    let text = read_record(&path, &session.projects_dir)?;
    parse(&text, &path)
}

/// The transcript to read: the one the latest hook event names (its file named after the
/// session id it reports), else the one set up at launch. [`read_record`] still checks that
/// it lies inside the projects folder.
fn current_transcript(session: &Session, events: &[HookEvent]) -> PathBuf {
    events
        .iter()
        .rev()
        .filter(|e| {
            [EVENT_SESSION_START, EVENT_STOP, EVENT_STOP_FAILURE].contains(&e.event.as_str())
        })
        .find_map(|e| {
            let path = hooks::path_field(e, "transcript_path")?;
            let id = e.field("session_id")?;
            (path.file_name()? == format!("{id}.jsonl").as_str()).then_some(path)
        })
        .unwrap_or_else(|| session.transcript.clone())
}

/// How the latest turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still running (or nothing recorded after the prompt yet).
    Open,
    /// Finished: `turn_duration`, or the Stop hooks ran with nothing after them.
    Finished,
    /// An API error ended it.
    Failed,
    /// The user interrupted it (Esc, a refused tool).
    Interrupted,
}

/// Tool results that mean the user stopped the turn (Claude Code's own markers).
const INTERRUPT_MARKERS: &[&str] = &[
    "[Request interrupted by user",
    "The user doesn't want to take this action right now",
    "The user doesn't want to proceed with this tool use",
];

/// Parses a transcript's text (JSON lines; a cut last line is left for the next read).
///
/// A turn starts at a user prompt (typed text or a slash command; not tool results, meta
/// entries, compaction summaries or interrupt markers). It has ended once Claude Code wrote
/// `system/turn_duration`, or `system/stop_hook_summary` with no model activity after it
/// (the Stop hooks ran, also when background tasks defer `turn_duration`), or
/// `system/local_command` (a slash command that ran locally); it failed on an assistant
/// entry marked `isApiErrorMessage`; it was interrupted at a `[Request interrupted by
/// user…]` marker. The answer is the text blocks after the turn's last tool call (blocks of
/// one message concatenated, separate messages joined by a blank line). Usage is counted
/// once per API message id; Claude Code's `<synthetic>` messages (errors, interrupted
/// partial answers) carry no real usage and are skipped.
///
/// Entries are taken in conversation order ([`chain_order`]), not file order.
pub fn parse(text: &str, path: &Path) -> Result<Transcript, RecordError> {
    let entries = chain_order(json_lines(text, path)?);
    let mut seen = HashSet::new();
    let mut turns = 0;
    let mut end = End::Open;
    // A meta entry since the model last spoke: it will be called again.
    let mut continuing = false;
    // Text segments of the current turn since its last tool call: (message id, text).
    let mut texts: Vec<(String, String)> = Vec::new();
    // Usage per API message, in order, with the turn it belongs to (last entry wins).
    let mut usage: Vec<(String, usize, Usage)> = Vec::new();
    for entry in &entries {
        if let Some(uuid) = entry.get("uuid").and_then(Value::as_str)
            && !seen.insert(uuid)
        {
            continue;
        }
        if entry.get("isSidechain").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        match entry.get("type").and_then(Value::as_str) {
            Some("user") => match user_kind(entry) {
                UserKind::Prompt => {
                    turns += 1;
                    end = End::Open;
                    continuing = false;
                    texts.clear();
                }
                UserKind::Interrupt => end = End::Interrupted,
                UserKind::ToolResult => end = End::Open,
                UserKind::LocalOutput if end == End::Open && turns > 0 => end = End::Finished,
                UserKind::LocalOutput => {}
                UserKind::Other => {
                    // Hook feedback (a Stop hook that blocked), an expanded skill, a
                    // compaction summary: the model goes on, and what it said before is
                    // not the final answer.
                    if end == End::Open {
                        continuing = true;
                        texts.clear();
                    }
                }
            },
            Some("assistant") => {
                let Some(message) = entry.get("message") else {
                    continue;
                };
                if entry.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true) {
                    end = End::Failed;
                    continue;
                }
                end = End::Open;
                continuing = false;
                let synthetic = message.get("model").and_then(Value::as_str) == Some("<synthetic>");
                let id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !synthetic
                    && !id.is_empty()
                    && let Some(u) = message.get("usage").map(message_usage)
                {
                    match usage.iter_mut().find(|(m, _, _)| *m == id) {
                        Some(slot) => slot.2 = u,
                        None => usage.push((id.clone(), turns, u)),
                    }
                }
                for block in content_blocks(message) {
                    match block_type(block) {
                        "text" => {
                            let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                            match texts.last_mut() {
                                Some((m, t)) if *m == id && !id.is_empty() => t.push_str(text),
                                _ => texts.push((id.clone(), text.to_string())),
                            }
                        }
                        t if t.ends_with("tool_use") => texts.clear(),
                        _ => {}
                    }
                }
            }
            Some("system") => match entry.get("subtype").and_then(Value::as_str) {
                Some("turn_duration" | "local_command") if end == End::Open && turns > 0 => {
                    end = End::Finished;
                }
                // The Stop hooks ran: the turn ended, unless one blocked it (its feedback,
                // a meta entry, came first) and the model goes on.
                Some("stop_hook_summary") if end == End::Open && turns > 0 && !continuing => {
                    end = End::Finished;
                }
                _ => {}
            },
            _ => {}
        }
    }
    let answer = match end {
        End::Finished => {
            let parts: Vec<&str> = texts
                .iter()
                .map(|(_, t)| t.as_str())
                .filter(|t| !t.trim().is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n\n"))
        }
        _ => None,
    };
    let sum = |turn: Option<usize>| {
        usage
            .iter()
            .filter(|(_, t, _)| turn.is_none_or(|n| *t == n))
            .fold(Usage::default(), |acc, (_, _, u)| acc.add(*u))
    };
    Ok(Transcript {
        turns,
        turn_ended: turns > 0 && end != End::Open,
        answer,
        last_usage: if turns > 0 {
            sum(Some(turns))
        } else {
            Usage::default()
        },
        total_usage: sum(None),
    })
}

/// The entries in conversation order: one whose parent (`parentUuid`) comes later in the
/// file is moved to right after that parent; the rest keep their file order. Claude Code
/// appends entries from more than one place: on a loaded machine 2.1.197 was seen writing a
/// turn's answer before the turn's prompt (whose entry waits for a file-history snapshot),
/// and in file order that answer would have belonged to the turn before, leaving the new turn
/// ended without one. An entry whose parent is not in the file (the first of a session, or
/// one whose parent is not written yet) stays where it is.
fn chain_order(entries: Vec<Value>) -> Vec<Value> {
    let field = |e: &Value, key: &str| e.get(key).and_then(Value::as_str).map(str::to_string);
    let present: HashSet<String> = entries.iter().filter_map(|e| field(e, "uuid")).collect();
    let mut emitted: HashSet<String> = HashSet::new();
    // Parent uuid → entries (by index) waiting for it, in file order.
    let mut waiting: HashMap<String, Vec<usize>> = HashMap::new();
    let mut order = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if let Some(parent) = field(entry, "parentUuid")
            && present.contains(&parent)
            && !emitted.contains(&parent)
            && field(entry, "uuid").as_ref() != Some(&parent)
        {
            waiting.entry(parent).or_default().push(i);
            continue;
        }
        let mut next = vec![i];
        while let Some(j) = next.pop() {
            order.push(j);
            if let Some(uuid) = field(&entries[j], "uuid")
                && emitted.insert(uuid.clone())
                && let Some(children) = waiting.remove(&uuid)
            {
                next.extend(children.into_iter().rev());
            }
        }
    }
    // Parents that never came (a cycle in a corrupt file): those entries in file order.
    let mut rest: Vec<usize> = waiting.into_values().flatten().collect();
    rest.sort_unstable();
    order.extend(rest);
    let mut slots: Vec<Option<Value>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// What a `user` entry is.
enum UserKind {
    Prompt,
    Interrupt,
    ToolResult,
    /// The output of a slash command that ran locally (`<local-command-stdout>`).
    LocalOutput,
    Other,
}

fn user_kind(entry: &Value) -> UserKind {
    let flag = |k: &str| entry.get(k).and_then(Value::as_bool) == Some(true);
    let Some(message) = entry.get("message") else {
        return UserKind::Other;
    };
    let blocks = content_blocks(message);
    let interrupt = |t: &str| INTERRUPT_MARKERS.iter().any(|m| t.starts_with(m));
    if blocks.iter().any(|b| block_type(b) == "tool_result") {
        let stopped = blocks
            .iter()
            .filter(|b| block_type(b) == "tool_result")
            .any(|b| block_text(b.get("content")).is_some_and(|t| interrupt(&t)));
        return if stopped {
            UserKind::Interrupt
        } else {
            UserKind::ToolResult
        };
    }
    let text = block_text(message.get("content")).unwrap_or_default();
    if interrupt(&text) {
        return UserKind::Interrupt;
    }
    if text.starts_with("<local-command-stdout>") || text.starts_with("<local-command-stderr>") {
        return UserKind::LocalOutput;
    }
    if flag("isMeta") || flag("isCompactSummary") || flag("isVisibleInTranscriptOnly") {
        return UserKind::Other;
    }
    if text.starts_with("<local-command-") {
        return UserKind::Other;
    }
    UserKind::Prompt
}

/// The content blocks of a message (a plain string content is one text block).
fn content_blocks(message: &Value) -> Vec<&Value> {
    match message.get("content") {
        Some(Value::Array(blocks)) => blocks.iter().collect(),
        Some(text @ Value::String(_)) => vec![text],
        _ => Vec::new(),
    }
}

fn block_type(block: &Value) -> &str {
    if block.is_string() {
        return "text";
    }
    block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The text of a content value: a string, or its text blocks concatenated.
fn block_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => Some(
            blocks
                .iter()
                .filter_map(|b| match b {
                    Value::String(s) => Some(s.as_str()),
                    b => b.get("text").and_then(Value::as_str),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// A message's `usage`: input counts cache reads and cache writes in.
fn message_usage(u: &Value) -> Usage {
    let input = count(u, "input_tokens");
    let read = count(u, "cache_read_input_tokens");
    let created = count(u, "cache_creation_input_tokens");
    let input = match (input, read, created) {
        (None, None, None) => None,
        (a, b, c) => Some(a.unwrap_or(0) + b.unwrap_or(0) + c.unwrap_or(0)),
    };
    Usage {
        input_tokens: input,
        output_tokens: count(u, "output_tokens"),
        cached_tokens: read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{line_of, usage};

    const SESSION: &str = include_str!("../../tests/fixtures/records/claude_code/session.jsonl");
    const TOOLS: &str = include_str!("../../tests/fixtures/records/claude_code/tools.jsonl");
    const CLEARED: &str = include_str!("../../tests/fixtures/records/claude_code/cleared.jsonl");
    const HOOKS: &str = include_str!("../../tests/fixtures/records/claude_code/hooks.jsonl");

    fn parsed(text: &str) -> Transcript {
        parse(text, Path::new("t.jsonl")).unwrap()
    }

    /// The first `n` lines of a fixture, as the file was when the CLI had written them.
    fn lines(text: &str, n: usize) -> String {
        text.lines().take(n).map(|l| format!("{l}\n")).collect()
    }

    /// The `last_assistant_message` Claude Code gave its Stop hooks, in order.
    fn stop_messages() -> Vec<String> {
        HOOKS
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["event"] == "stop")
            .map(|v| {
                v["payload"]["last_assistant_message"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_markdown_answer_is_kept_byte_exact() {
        let summary = line_of(SESSION, "stop_hook_summary");
        let t = parsed(&lines(SESSION, summary));
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        let answer = t.answer.unwrap();
        assert_eq!(answer, stop_messages()[0], "as the CLI told its Stop hook");
        assert!(answer.starts_with("# Heading ünïcødé ✓\n\nSome **bold** text."));
        assert!(answer.contains(
            "```rust\nfn f<T: Fn() -> u8>(x: &T) -> bool { x() > 1 && 2 < 3 || false }\n```"
        ));
        assert!(answer.contains("| a | b |\n|---|---|\n| 1 | 2 |"));
        let long = answer.lines().find(|l| l.starts_with("w00")).unwrap();
        assert!(long.len() > 490 && long.ends_with("w49xxxxxx"), "{long}");
        assert!(answer.ends_with("Last line — done."));
        assert_eq!(t.last_usage, usage(10, 5, 0));
    }

    #[test]
    fn a_turn_is_open_until_the_cli_records_its_end() {
        // The prompt alone, then the answer before the Stop hooks ran.
        let prompt = line_of(SESSION, "TASK-ONE please");
        let t = parsed(&lines(SESSION, prompt));
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
        let t = parsed(&lines(SESSION, line_of(SESSION, "msg_000002")));
        assert!(!t.turn_ended);
        assert_eq!(t.answer, None);
        // No prompt yet: no turn.
        let t = parsed(&lines(SESSION, prompt - 1));
        assert_eq!(t, Transcript::default());
        // The line being written is left for the next read.
        let cut = lines(SESSION, prompt + 3);
        let t = parsed(&format!("{cut}{{\"type\":\"system\",\"subty"));
        assert!(!t.turn_ended);
    }

    #[test]
    fn an_api_error_ends_the_turn_without_an_answer() {
        let error = line_of(SESSION, "isApiErrorMessage\":true");
        let t = parsed(&lines(SESSION, error));
        assert_eq!(t.turns, 3);
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);
        // The synthetic error message has no real usage.
        assert_eq!(t.last_usage, Usage::default());
    }

    #[test]
    fn an_interrupt_ends_the_turn_without_the_partial_answer() {
        let prompt = line_of(SESSION, "TASK-THREE please");
        let partial = parsed(&lines(SESSION, prompt + 1));
        assert_eq!(partial.turns, 4);
        assert!(!partial.turn_ended, "a partial answer is still streaming");
        let marker = line_of(SESSION, "[Request interrupted by user]");
        let t = parsed(&lines(SESSION, marker));
        assert_eq!(t.turns, 4);
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);
    }

    #[test]
    fn the_whole_session_counts_prompts_and_usage_once_per_message() {
        let t = parsed(SESSION);
        assert_eq!(t.turns, 5);
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some("Fourth answer."));
        assert_eq!(stop_messages().last().unwrap(), "Fourth answer.");
        assert_eq!(t.last_usage, usage(10, 5, 0));
        // msg_000002, msg_000003 and the last answer; the error and the interrupted
        // partial answer are synthetic.
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    #[test]
    fn the_answer_is_the_text_after_the_last_tool_call() {
        let t = parsed(TOOLS);
        assert_eq!(t.turns, 2);
        assert!(t.turn_ended);
        assert_eq!(
            t.answer.as_deref(),
            Some("After the tool: **done**\n\n- one\n- two")
        );
        // Two tool calls and the answer: three API calls in the turn.
        assert_eq!(t.last_usage, usage(30, 15, 0));
        assert_eq!(t.total_usage, usage(40, 20, 0));
        // Between the tool result and the answer the turn is open.
        let result = TOOLS.lines().filter(|l| l.contains("tool_result")).count();
        let result = TOOLS
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("tool_result"))
            .nth(result - 1)
            .unwrap()
            .0
            + 1;
        assert!(!parsed(&lines(TOOLS, result)).turn_ended);
    }

    #[test]
    fn a_local_slash_command_is_a_turn_that_ends_without_an_answer() {
        let t = parsed(&lines(CLEARED, line_of(CLEARED, "local_command")));
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, true, None));
        let t = parsed(CLEARED);
        assert_eq!(t.turns, 2);
        assert_eq!(t.answer.as_deref(), Some("Fourth answer."));
    }

    fn entry(v: Value) -> String {
        format!("{v}\n")
    }

    fn prompt(text: &str) -> String {
        entry(
            serde_json::json!({"type": "user", "uuid": text, "message": {"role": "user", "content": text}}),
        )
    }

    fn assistant(uuid: &str, id: &str, blocks: Value, output: u64) -> String {
        entry(
            serde_json::json!({"type": "assistant", "uuid": uuid, "message": {
            "id": id, "model": "m", "role": "assistant", "content": blocks,
            "usage": {"input_tokens": 3, "cache_read_input_tokens": 100,
                      "cache_creation_input_tokens": 7, "output_tokens": output}}}),
        )
    }

    fn system(uuid: &str, subtype: &str) -> String {
        entry(serde_json::json!({"type": "system", "uuid": uuid, "subtype": subtype}))
    }

    #[test]
    fn streamed_blocks_of_one_message_are_joined_and_counted_once() {
        let text = [
            prompt("go"),
            assistant(
                "a1",
                "m1",
                serde_json::json!([{"type": "thinking", "thinking": "hm"}]),
                1,
            ),
            assistant(
                "a2",
                "m1",
                serde_json::json!([{"type": "text", "text": "Looking."}]),
                2,
            ),
            assistant(
                "a3",
                "m1",
                serde_json::json!([{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]),
                9,
            ),
            entry(
                serde_json::json!({"type": "user", "uuid": "r1", "message": {"role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}}),
            ),
            assistant(
                "a4",
                "m2",
                serde_json::json!([{"type": "text", "text": "Part one, "}]),
                4,
            ),
            assistant(
                "a5",
                "m2",
                serde_json::json!([{"type": "text", "text": "part two."}]),
                6,
            ),
            // The same entry written twice is read once.
            assistant(
                "a5",
                "m2",
                serde_json::json!([{"type": "text", "text": "part two."}]),
                6,
            ),
            entry(
                serde_json::json!({"type": "assistant", "uuid": "s1", "isSidechain": true,
                "message": {"id": "m9", "content": [{"type": "text", "text": "subagent"}],
                            "usage": {"output_tokens": 50}}}),
            ),
            assistant(
                "a6",
                "m3",
                serde_json::json!([{"type": "text", "text": "Second message."}]),
                1,
            ),
            system("d1", "turn_duration"),
        ]
        .concat();
        let t = parsed(&text);
        assert_eq!(t.turns, 1);
        assert_eq!(
            t.answer.as_deref(),
            Some("Part one, part two.\n\nSecond message.")
        );
        // m1 (last entry's usage), m2, m3; the sidechain is left out.
        assert_eq!(t.last_usage, usage(3 * 110, 9 + 6 + 1, 300));
        assert_eq!(t.total_usage, t.last_usage);
    }

    #[test]
    fn a_stop_hook_that_blocks_keeps_the_turn_open() {
        let head = [
            prompt("go"),
            assistant(
                "a1",
                "m1",
                serde_json::json!([{"type": "text", "text": "Too early."}]),
                1,
            ),
            entry(
                serde_json::json!({"type": "user", "uuid": "h1", "isMeta": true,
                "message": {"role": "user", "content": "Stop hook feedback: run the tests"}}),
            ),
            system("s1", "stop_hook_summary"),
        ]
        .concat();
        let t = parsed(&head);
        assert!(!t.turn_ended, "the model goes on after the blocking hook");
        let done = [
            head,
            assistant(
                "a2",
                "m2",
                serde_json::json!([{"type": "text", "text": "Tests pass."}]),
                1,
            ),
            system("s2", "stop_hook_summary"),
        ]
        .concat();
        // The Stop hooks ran and nothing followed (background tasks defer turn_duration).
        let t = parsed(&done);
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some("Tests pass."));
    }

    #[test]
    fn an_interrupted_tool_call_ends_the_turn() {
        let text = [
            prompt("go"),
            assistant("a1", "m1", serde_json::json!([{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]), 1),
            entry(serde_json::json!({"type": "user", "uuid": "r1", "message": {"role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": true,
                             "content": [{"type": "text", "text": "[Request interrupted by user for tool use]"}]}]}})),
        ]
        .concat();
        let t = parsed(&text);
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);
        assert!(parse("{\"type\":\"user\"}\nnot json\n", Path::new("t")).is_err());
    }

    /// `entry` with `parentUuid` set, as Claude Code links its entries.
    fn child_of(parent: Option<&str>, entry: String) -> String {
        let mut v: Value = serde_json::from_str(&entry).unwrap();
        v["parentUuid"] = serde_json::json!(parent);
        format!("{v}\n")
    }

    #[test]
    fn an_answer_written_before_its_prompt_belongs_to_that_prompt() {
        let text = |t: &str| serde_json::json!([{"type": "text", "text": t}]);
        let attachment = |uuid: &str| {
            entry(serde_json::json!({"type": "attachment", "uuid": uuid,
                "attachment": {"type": "skill_listing", "content": "- a skill"}}))
        };
        let first = [
            child_of(None, prompt("one")),
            child_of(Some("one"), assistant("a1", "m1", text("First answer."), 1)),
            child_of(Some("a1"), system("s1", "stop_hook_summary")),
            child_of(Some("s1"), system("d1", "turn_duration")),
        ]
        .concat();
        // The second turn as a loaded Claude Code 2.1.197 wrote it: its answer first, then a
        // snapshot (no uuid), the prompt, its attachment, and the turn's end.
        let answer = child_of(
            Some("at2"),
            assistant("a2", "m2", text("Second answer."), 1),
        );
        let snapshot =
            entry(serde_json::json!({"type": "file-history-snapshot", "messageId": "two"}));
        let rest = [
            child_of(Some("d1"), prompt("two")),
            child_of(Some("two"), attachment("at2")),
            child_of(Some("a2"), system("s2", "stop_hook_summary")),
            child_of(Some("s2"), system("d2", "turn_duration")),
        ]
        .concat();
        let t = parsed(&format!("{first}{answer}{snapshot}{rest}"));
        assert_eq!((t.turns, t.turn_ended), (2, true));
        assert_eq!(t.answer.as_deref(), Some("Second answer."));
        assert_eq!(t.last_usage.output_tokens, Some(1));
        assert_eq!(t.total_usage.output_tokens, Some(2));
        // Read before the prompt was written: the answer has no turn of its own yet, so the
        // turn before is not ended by it (the engine waits for the prompt to show).
        let t = parsed(&format!("{first}{answer}{snapshot}"));
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
        // A cycle in a corrupt file loses nothing and does not hang.
        let cycle = [
            child_of(Some("y"), system("x", "informational")),
            child_of(Some("x"), system("y", "informational")),
        ]
        .concat();
        let t = parsed(&format!("{first}{cycle}"));
        assert_eq!(t.answer.as_deref(), Some("First answer."));
    }

    #[test]
    fn project_folders_are_named_as_claude_code_names_them() {
        assert_eq!(project_dir_name("/tmp/.tmptD2DsU"), "-tmp--tmptD2DsU");
        // Every UTF-16 unit of a non-ASCII char becomes a dash (the emoji is two).
        assert_eq!(project_dir_name("/tmp/ü😀 x"), "-tmp-----x");
        // Values computed with Claude Code's own function (node).
        let long = format!(
            "/home/user/{}ünï 😀",
            "a-very-long-directory-name/".repeat(8)
        );
        assert_eq!(
            project_dir_name(&long),
            format!(
                "-home-user{}--zh4ydz",
                "-a-very-long-directory-name".repeat(7)
            )
        );
    }

    #[test]
    fn a_session_lives_in_the_config_dir() {
        let dir = config_dir(None, Some("/home/u".into())).unwrap();
        assert_eq!(dir, Path::new("/home/u/.claude"));
        assert_eq!(
            config_dir(Some("/c".into()), Some("/home/u".into())).unwrap(),
            Path::new("/c")
        );
        let s = Session::new(&dir, Path::new("/w/x.y"));
        assert_eq!(s.projects_dir, Path::new("/home/u/.claude/projects"));
        assert_eq!(
            s.transcript,
            Path::new("/home/u/.claude/projects/-w-x-y").join(format!("{}.jsonl", s.session_id))
        );
        let id = &s.session_id;
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(Session::new(&dir, Path::new("/w")).session_id, *id);
    }

    /// A run dir and a config dir as a launch leaves them, with `transcript` written.
    fn launched(transcript: &str) -> (tempfile::TempDir, RecordFiles, Session) {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run/0a1b2c3d");
        std::fs::create_dir_all(&run_dir).unwrap();
        let session = Session::new(&dir.path().join("config"), Path::new("/work/p"));
        std::fs::write(
            run_dir.join(SESSION_FILE),
            serde_json::to_string(&session).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(session.transcript.parent().unwrap()).unwrap();
        std::fs::write(&session.transcript, transcript).unwrap();
        let files = RecordFiles {
            terminal_id: "0a1b2c3d".into(),
            run_dir,
            working_dir: "/work/p".into(),
            user_home: None,
        };
        (dir, files, session)
    }

    #[test]
    fn read_finds_the_launch_session_and_follows_a_clear() {
        let (_dir, files, session) = launched(SESSION);
        assert_eq!(
            read(&files).unwrap().answer.as_deref(),
            Some("Fourth answer.")
        );

        // `/clear`: SessionStart names the new session's file.
        let new_id = "f022e5d6-119f-4bed-bb52-a8ac6b494e20";
        let new_path = session.transcript.with_file_name(format!("{new_id}.jsonl"));
        std::fs::write(&new_path, lines(CLEARED, 5)).unwrap();
        let event = |id: &str, path: &Path| {
            serde_json::json!({"hook_event_name": "SessionStart", "source": "clear",
                               "session_id": id, "transcript_path": path})
            .to_string()
        };
        hooks::append(
            &files.run_dir,
            EVENT_SESSION_START,
            &event(new_id, &new_path),
        )
        .unwrap();
        let t = read(&files).unwrap();
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, true, None));

        // A path that is not the reported session's file is not followed.
        hooks::append(&files.run_dir, EVENT_STOP, &event("other", &new_path)).unwrap();
        assert_eq!(read(&files).unwrap().turns, 1);

        // Nor one outside the config dir's projects folder.
        let outside = files.run_dir.join(format!("{new_id}.jsonl"));
        std::fs::write(&outside, SESSION).unwrap();
        hooks::append(&files.run_dir, EVENT_STOP, &event(new_id, &outside)).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Refused { .. })));
    }

    #[test]
    fn read_reports_what_is_missing_or_refused() {
        let (_dir, files, session) = launched(SESSION);
        std::fs::remove_file(&session.transcript).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));
        std::os::unix::fs::symlink(files.run_dir.join(SESSION_FILE), &session.transcript).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Refused { .. })));
        std::fs::remove_file(files.run_dir.join(SESSION_FILE)).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));
    }
}
