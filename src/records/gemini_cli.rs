//! Gemini CLI's chat record (0.61): one JSONL file per session,
//! `<GEMINI_CLI_HOME>/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`.
//!
//! Its first line is the session's metadata (`sessionId`, `projectHash`, `startTime`, ...);
//! then one line per message written, where a message written again under the same `id`
//! replaces the earlier one (tokens and tool results are added that way), `{"$set": {...}}`
//! updates the metadata (a `$set` of `messages` replaces them all) and `{"$rewindTo": ID}`
//! drops that message and every later one. Messages are
//! `{id, timestamp, type, content, ...}` with `type`:
//!
//! - `user`: a prompt (`content`: parts `[{"text": ...}]`), or the tool results sent back
//!   to the model (parts with `functionResponse`), which are not prompts;
//! - `gemini`: one model response, written when it has finished streaming: `content` is its
//!   text (the CLI trims it and drops zero-width characters and `<!-- -->` comments),
//!   `toolCalls` the calls it made (their `result` and `status` filled in later), `tokens`
//!   `{input, output, cached, thoughts, tool, total}`;
//! - `error` (a failed request), `info` (`Request cancelled.` after an interrupt, and other
//!   notices), `warning`: what the CLI showed, as text.
//!
//! cao ties the file to the terminal at launch: the terminal's Gemini home
//! (`GEMINI_CLI_HOME`) is in its run directory with a private `tmp/`, and cao picks the
//! session id (`--session-id`, kept in [`SESSION_ID_FILE`]). The turn-end hook
//! (`AfterAgent`, stored as `stop` events) reports the file as `transcript_path`, which
//! follows a `/clear` to the new session's file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{RecordError, RecordFiles, Transcript, Usage, hooks, json_lines, read_record};

/// The terminal's Gemini home (`GEMINI_CLI_HOME`), inside its run directory.
pub const OVERLAY_DIR: &str = "gemini-home";
/// The file in the run directory holding the session id cao gave Gemini.
pub const SESSION_ID_FILE: &str = "gemini-session-id";
/// The event cao's `AfterAgent` hook is stored as.
pub const STOP_EVENT: &str = "stop";
/// The event cao's `SessionStart` hook is stored as (at start-up and after `/clear`).
pub const START_EVENT: &str = "start";

/// Reads the terminal's chat record, and the turn ends its hook reported.
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let events = hook_events(&files.run_dir)?;
    let path = record_path(files, events.as_deref().unwrap_or_default())?;
    let text = read_record(&path, &files.run_dir)?;
    let session = session_id(&text);
    let stops = events.map(|events| {
        events
            .iter()
            .filter(|e| e.event == STOP_EVENT)
            .filter(|e| {
                session.is_none()
                    || e.field("session_id")
                        .is_none_or(|s| Some(s) == session.as_deref())
            })
            .filter_map(|e| e.field("timestamp").map(str::to_string))
            .collect::<Vec<_>>()
    });
    parse(&text, &path, stops.as_deref())
}

/// The terminal's hook events; `None` when its hooks report nothing (hooks turned off in
/// the user's or the project's settings, an untrusted folder) or no longer can (the
/// events file is full), so turn ends are read from the record alone.
fn hook_events(run_dir: &Path) -> Result<Option<Vec<hooks::HookEvent>>, RecordError> {
    let file = run_dir.join(hooks::HOOKS_FILE);
    if std::fs::metadata(&file).is_ok_and(|m| m.len() > hooks::MAX_HOOKS_FILE_BYTES) {
        return Ok(None);
    }
    let events = hooks::events(run_dir)?;
    Ok((!events.is_empty()).then_some(events))
}

/// The `sessionId` of a record's first line.
fn session_id(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    serde_json::from_str::<Value>(first)
        .ok()?
        .get("sessionId")?
        .as_str()
        .map(str::to_string)
}

/// The terminal's chat record: the latest one its hooks named, else the one of the session
/// id cao chose.
fn record_path(files: &RecordFiles, events: &[hooks::HookEvent]) -> Result<PathBuf, RecordError> {
    let reported = events
        .iter()
        .rev()
        .find_map(|e| hooks::path_field(e, "transcript_path"));
    if let Some(path) = reported {
        return Ok(path);
    }
    let id_file = files.run_dir.join(SESSION_ID_FILE);
    let session = read_record(&id_file, &files.run_dir)?.trim().to_string();
    if session.len() < 8 || !session.is_char_boundary(8) {
        return Err(RecordError::unreadable(&id_file, "no session id in it"));
    }
    let tmp = files.run_dir.join(OVERLAY_DIR).join(".gemini").join("tmp");
    let suffix = format!("-{}.jsonl", &session[..8]);
    let mut candidates = Vec::new();
    for project in dir_entries(&tmp) {
        for chat in dir_entries(&project.join("chats")) {
            let name = chat.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("session-") && name.ends_with(&suffix) {
                candidates.push(chat);
            }
        }
    }
    for path in candidates {
        let text = read_record(&path, &files.run_dir)?;
        if session_id(&text).as_deref() == Some(session.as_str()) {
            return Ok(path);
        }
    }
    Err(RecordError::Missing(format!(
        "no chat of session {session} under {}",
        tmp.display()
    )))
}

/// The entries of a directory (none when it cannot be read).
fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

/// The messages of a record as they were written, in order: a message written again under
/// its id replaces the earlier copy, a `$rewindTo` (the user's `/rewind`) drops that
/// message and every later one. Whole lists of messages (`$set` of `messages`, written when
/// the CLI syncs its history) are left out: they drop the prompts of failed and
/// interrupted turns and every error and notice, and add no message of their own but
/// history summaries.
fn messages(text: &str, path: &Path) -> Result<Vec<Value>, RecordError> {
    let mut messages: Vec<Value> = Vec::new();
    for line in json_lines(text, path)? {
        if let Some(id) = line.get("$rewindTo").and_then(Value::as_str) {
            match messages
                .iter()
                .position(|m| m.get("id").and_then(Value::as_str) == Some(id))
            {
                Some(i) => messages.truncate(i),
                None => messages.clear(),
            }
            continue;
        }
        let Some(id) = line.get("id").and_then(Value::as_str) else {
            continue;
        };
        match messages
            .iter_mut()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
        {
            Some(old) => *old = line,
            None => messages.push(line),
        }
    }
    Ok(messages)
}

fn kind(msg: &Value) -> &str {
    msg.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The text parts of a message's content (a string, or a list of parts; thoughts left out).
fn text_of(msg: &Value) -> String {
    match msg.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| !p.get("thought").and_then(Value::as_bool).unwrap_or(false))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// A user message that is a prompt: not the tool results sent back to the model, nor the
/// context the CLI sends ahead of the conversation (`<session_context>`, `<hook_context>`).
fn is_prompt(msg: &Value) -> bool {
    if kind(msg) != "user" {
        return false;
    }
    if let Some(Value::Array(parts)) = msg.get("content")
        && parts.iter().any(|p| p.get("functionResponse").is_some())
    {
        return false;
    }
    let text = text_of(msg);
    let text = text.trim_start();
    !text.starts_with("<session_context>") && !text.starts_with("<hook_context>")
}

fn usage_of(msg: &Value) -> Usage {
    let Some(tokens) = msg.get("tokens").filter(|t| t.is_object()) else {
        return Usage::default();
    };
    let output = match (
        super::count(tokens, "output"),
        super::count(tokens, "thoughts"),
    ) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    Usage {
        input_tokens: super::count(tokens, "input"),
        output_tokens: output,
        cached_tokens: super::count(tokens, "cached"),
    }
}

/// How a turn stands after its messages.
#[derive(Debug, PartialEq)]
enum TurnEnd {
    /// Still working (streaming, or running tools).
    Open,
    /// Ended with this text (`None`: no text — an error, an interrupt, an empty answer).
    Ended(Option<String>),
}

/// Where the turn made of `msgs` (the messages after its prompt) stands, from the record
/// alone: the model's last response without tool calls ends it, so do an error and a
/// cancellation. A response is written when it has finished streaming, and its tool calls
/// only once they have run, so a response with no text and no calls yet is one whose
/// calls are running.
fn turn_end(msgs: &[Value]) -> TurnEnd {
    for msg in msgs.iter().rev() {
        match kind(msg) {
            "gemini" => {
                let calls = msg
                    .get("toolCalls")
                    .and_then(Value::as_array)
                    .is_some_and(|c| !c.is_empty());
                let text = text_of(msg);
                // A response written as parts is one the CLI kept as it came (an empty
                // answer to tool results); a text response is written as a string.
                let synthetic = msg.get("content").is_some_and(Value::is_array);
                if calls || (text.is_empty() && !synthetic) {
                    return TurnEnd::Open;
                }
                return TurnEnd::Ended((!text.is_empty()).then_some(text));
            }
            "error" => return TurnEnd::Ended(None),
            "info" if text_of(msg).to_lowercase().contains("cancelled") => {
                return TurnEnd::Ended(None);
            }
            // Tool results on their way back to the model.
            "user" => return TurnEnd::Open,
            _ => {}
        }
    }
    TurnEnd::Open
}

fn timestamp(msg: &Value) -> &str {
    msg.get("timestamp").and_then(Value::as_str).unwrap_or("")
}

/// The transcript in a chat record's text (`path` names it in errors). `hook_stops` are the
/// times (`timestamp` of the payload, ISO 8601 like the record's) of the turn ends cao's
/// `AfterAgent` hook reported for this session, `None` when the terminal's hooks report
/// nothing: with them, a turn has ended when a stop came after its prompt (the CLI's own
/// word, which also covers a response whose tool calls have not been written yet); without
/// them, when the record shows its end.
pub fn parse(
    text: &str,
    path: &Path,
    hook_stops: Option<&[String]>,
) -> Result<Transcript, RecordError> {
    let messages = messages(text, path)?;
    let prompts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| is_prompt(m))
        .map(|(i, _)| i)
        .collect();
    let total_usage = messages
        .iter()
        .fold(Usage::default(), |sum, m| sum.add(usage_of(m)));
    let mut transcript = Transcript {
        turns: prompts.len(),
        total_usage,
        ..Transcript::default()
    };
    let Some(&last) = prompts.last() else {
        return Ok(transcript);
    };
    transcript.last_usage = messages[last..]
        .iter()
        .fold(Usage::default(), |sum, m| sum.add(usage_of(m)));
    let answer = |end: TurnEnd| match end {
        TurnEnd::Ended(answer) => answer,
        TurnEnd::Open => None,
    };
    let end = turn_end(&messages[last + 1..]);
    transcript.turn_ended = match hook_stops {
        Some(stops) => {
            let asked = timestamp(&messages[last]);
            stops.iter().any(|t| t.as_str() >= asked)
        }
        None => end != TurnEnd::Open,
    };
    if transcript.turn_ended {
        transcript.answer = answer(end);
    } else if prompts.len() > 1 {
        let previous = prompts[prompts.len() - 2];
        transcript.answer = answer(turn_end(&messages[previous + 1..last]));
    }
    Ok(transcript)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::usage;

    /// A real record (Gemini CLI 0.61.0 started by cao, offline against the scripted model;
    /// its start-up context trimmed): a slow answer, a markdown answer, a tool call then an
    /// answer, a failed request (HTTP 400), and an interrupted answer. The record is only
    /// appended to, so its first lines are the record as it was at that time.
    const SESSION: &str = include_str!("../../tests/fixtures/records/gemini_cli/session.jsonl");
    /// The hook events of that session (`start`, then one `stop` per prompt), with
    /// `transcript_path` replaced by `TRANSCRIPT`.
    const HOOKS: &str = include_str!("../../tests/fixtures/records/gemini_cli/hooks.jsonl");
    const SESSION_ID: &str = "f94e9675-3d8e-4d2f-8224-ad4a93b5925c";
    const DRIFT: &str = "Drift check answer, first paragraph.\n\nSecond paragraph, still the same answer.\n\nThird and last paragraph.";
    const TOOL: &str = "After the tool: **done**\n\n- one\n- two";

    fn markdown() -> String {
        let long: String = (0..50).map(|i| format!("w{i:02}xxxxxx ")).collect();
        format!(
            "# Heading ünïcødé ✓\n\nSome **bold** text.\n\n```rust\nfn f<T: Fn() -> u8>(x: &T) -> bool {{ x() > 1 && 2 < 3 || false }}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n{}\n\nLast line — done.",
            long.trim_end()
        )
    }

    /// The record's first `n` lines.
    fn head(n: usize) -> String {
        SESSION.lines().take(n).map(|l| format!("{l}\n")).collect()
    }

    fn stops() -> Vec<String> {
        HOOKS
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["event"] == STOP_EVENT)
            .map(|e| e["payload"]["timestamp"].as_str().unwrap().to_string())
            .collect()
    }

    fn at(n: usize, hook_stops: Option<&[String]>) -> Transcript {
        parse(&head(n), Path::new("session.jsonl"), hook_stops).unwrap()
    }

    #[test]
    fn the_whole_session_ends_interrupted_with_its_usage() {
        let stops = stops();
        for hook_stops in [None, Some(stops.as_slice())] {
            let t = at(usize::MAX, hook_stops);
            // The start-up context is no prompt; the failed and the interrupted ones are,
            // though the CLI's own history sync (`$set` of `messages`) dropped them.
            assert_eq!(t.turns, 5);
            assert!(t.turn_ended);
            assert_eq!(t.answer, None);
            assert_eq!(t.last_usage, Usage::default());
            assert_eq!(t.total_usage, usage(40, 20, 0));
        }
    }

    #[test]
    fn each_turn_reads_as_it_stood_from_the_record_alone() {
        // Start-up: metadata and the CLI's context, no prompt yet.
        let t = at(2, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (0, false, None)
        );
        // The first prompt, streaming.
        let t = at(4, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (1, false, None)
        );
        // Its answer, exactly as the model wrote it.
        let t = at(6, None);
        assert_eq!((t.turns, t.turn_ended), (1, true));
        assert_eq!(t.answer.as_deref(), Some(DRIFT));
        assert_eq!(t.last_usage, usage(10, 5, 0));
        let t = at(10, None);
        assert_eq!((t.turns, t.turn_ended), (2, true));
        assert_eq!(t.answer, Some(markdown()));
        // A response that called a tool: written with no text before its calls ran, then
        // again with them, then the results went back. Open all along; the answer is still
        // the previous turn's.
        for n in [14, 15, 17] {
            let t = at(n, None);
            assert_eq!((t.turns, t.turn_ended), (3, false), "line {n}");
            assert_eq!(t.answer, Some(markdown()), "line {n}");
        }
        // The text after the tool call, and the usage of both requests of the turn.
        let t = at(19, None);
        assert_eq!((t.turns, t.turn_ended), (3, true));
        assert_eq!(t.answer.as_deref(), Some(TOOL));
        assert_eq!(t.last_usage, usage(20, 10, 0));
        // The failed request: ended, no answer.
        let t = at(21, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (4, false, Some(TOOL))
        );
        let t = at(26, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (4, true, None)
        );
        // The interrupted one: streaming (no answer before it), then cancelled.
        let t = at(28, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (5, false, None)
        );
        let t = at(30, None);
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (5, true, None)
        );
    }

    #[test]
    fn with_hooks_a_turn_ends_when_its_stop_came() {
        let stops = stops();
        // The slow answer is written; its stop is the first one.
        let t = at(6, Some(&[]));
        assert!(!t.turn_ended, "no stop yet");
        let t = at(6, Some(&stops[..1]));
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some(DRIFT));
        // The next prompt is open until its own stop, whatever came before.
        let t = at(8, Some(&stops[..1]));
        assert_eq!((t.turns, t.turn_ended), (2, false));
        assert_eq!(t.answer.as_deref(), Some(DRIFT));
        let t = at(19, Some(&stops[..3]));
        assert_eq!(t.answer.as_deref(), Some(TOOL));
        assert!(t.turn_ended);
    }

    #[test]
    fn a_response_whose_tool_calls_are_not_written_yet_waits_for_the_stop() {
        // Text and a tool call in one response: the text is written when the stream ends,
        // the calls only once they have run.
        let mut text = head(12);
        text.push_str(r#"{"id":"pre","timestamp":"2026-12-01T08:41:37.984Z","type":"gemini","content":"I will list the profiles first.","tokens":{"input":10,"output":5,"cached":2,"thoughts":3,"tool":0,"total":20}}"#);
        text.push('\n');
        let path = Path::new("session.jsonl");
        let stops = stops();
        let t = parse(&text, path, Some(&stops[..2])).unwrap();
        assert_eq!((t.turns, t.turn_ended), (3, false));
        assert_eq!(t.answer, Some(markdown()));
        assert_eq!(t.last_usage, usage(10, 8, 2), "thoughts count as output");
        // Without hooks the record cannot tell it from a final answer.
        let t = parse(&text, path, None).unwrap();
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some("I will list the profiles first."));
    }

    #[test]
    fn rewinds_drop_messages_and_a_cut_last_line_waits() {
        let mut text = head(19);
        text.push_str(r#"{"$rewindTo":"b4f038a7-8907-4629-8b14-0413e5c89667"}"#);
        text.push('\n');
        let t = parse(&text, Path::new("s.jsonl"), None).unwrap();
        assert_eq!((t.turns, t.turn_ended), (2, true));
        assert_eq!(t.answer, Some(markdown()));

        let mut text = head(8);
        let line = SESSION.lines().nth(8).unwrap();
        text.push_str(&line[..line.len() / 2]);
        let t = parse(&text, Path::new("s.jsonl"), None).unwrap();
        assert_eq!((t.turns, t.turn_ended), (2, false));
        assert!(parse("{\"id\":\"x\"}\nnot json\n{}\n", Path::new("s.jsonl"), None).is_err());
    }

    /// A run directory laid out as cao launches Gemini: the session id it chose, the Gemini
    /// home with the record under `tmp/`, and (with `hooks`) the hook events.
    fn run_dir(hooks: bool) -> (tempfile::TempDir, RecordFiles, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run").join("0a1b2c3d");
        let chats = run.join(OVERLAY_DIR).join(".gemini/tmp/project/chats");
        std::fs::create_dir_all(&chats).unwrap();
        std::fs::write(run.join(SESSION_ID_FILE), SESSION_ID).unwrap();
        let record = chats.join("session-2026-12-01T08-41-f94e9675.jsonl");
        std::fs::write(&record, SESSION).unwrap();
        // Another session of the same project (a `/clear` before this one), not this one.
        let other = SESSION.replacen(SESSION_ID, "f94e9675-0000-4000-8000-000000000000", 1);
        std::fs::write(chats.join("session-2026-12-01T08-40-f94e9675.jsonl"), other).unwrap();
        if hooks {
            let events = HOOKS.replace("TRANSCRIPT", &record.display().to_string());
            std::fs::write(run.join(hooks::HOOKS_FILE), events).unwrap();
        }
        let files = RecordFiles {
            terminal_id: "0a1b2c3d".into(),
            run_dir: run,
            working_dir: dir.path().into(),
            user_home: None,
        };
        (dir, files, record)
    }

    #[test]
    fn read_finds_the_session_cao_chose_then_the_one_the_hooks_name() {
        let (_dir, files, _) = run_dir(false);
        let t = read(&files).unwrap();
        assert_eq!((t.turns, t.turn_ended), (5, true));
        let (_dir, files, record) = run_dir(true);
        let t = read(&files).unwrap();
        assert_eq!((t.turns, t.turn_ended), (5, true));
        // A stop whose session is another one does not end this session's turn.
        std::fs::write(&record, head(6)).unwrap();
        let events: String = HOOKS
            .lines()
            .take(2)
            .map(|l| {
                l.replace("TRANSCRIPT", &record.display().to_string())
                    .replace(
                        &format!("\"session_id\":\"{SESSION_ID}\""),
                        "\"session_id\":\"other\"",
                    )
                    + "\n"
            })
            .collect();
        std::fs::write(files.run_dir.join(hooks::HOOKS_FILE), events).unwrap();
        assert!(!read(&files).unwrap().turn_ended);
    }

    #[test]
    fn read_refuses_records_outside_the_run_dir_and_says_what_is_missing() {
        let (dir, files, _) = run_dir(false);
        let outside = dir.path().join("elsewhere.jsonl");
        std::fs::write(&outside, SESSION).unwrap();
        let event = serde_json::json!({"event": "start", "payload": {"transcript_path": outside}});
        std::fs::write(files.run_dir.join(hooks::HOOKS_FILE), format!("{event}\n")).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Refused { .. })));

        let (_dir, files, _) = run_dir(false);
        std::fs::write(files.run_dir.join(SESSION_ID_FILE), "f94e9675-ffff").unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));
        std::fs::remove_file(files.run_dir.join(SESSION_ID_FILE)).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));
    }
}
