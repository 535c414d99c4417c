//! The Copilot CLI session record: `<COPILOT_HOME>/session-state/<session id>/events.jsonl`
//! (`COPILOT_HOME` defaults to `~/.copilot`), one JSON event per line,
//! `{"type","data","id","timestamp","parentId"}`, written as the session goes. The file
//! appears with the first prompt (Copilot writes nothing before it).
//!
//! cao starts each terminal's Copilot with a session id of its own choosing
//! (`--session-id`) and notes it in the terminal's run directory ([`SESSION_FILE`]), so the
//! reader opens exactly that session's file, even when the user or the supervisor runs other
//! Copilot sessions in the same home.
//!
//! The events that matter (ephemeral ones such as `session.idle` and `assistant.usage` are
//! never written to the file):
//! - `user.message` — a prompt the CLI took: a new turn.
//! - `assistant.turn_start` / `assistant.turn_end` — one model round of the turn's agent
//!   loop; a turn with tool calls has several.
//! - `assistant.message` — the round's text (`content`) and its `toolRequests`; a round whose
//!   message asks for no tool is the last one: its `turn_end` ends the turn.
//! - `abort` — the turn was interrupted (Ctrl-C: "Operation cancelled by user").
//! - `session.error` — the turn failed (written after the failed round's `turn_end`).
//! - `session.usage_record` — the tokens of one model call.
//! - `session.shutdown` — the CLI exited.
//!
//! Events of sub-agents carry an `agentId` (or a `parentToolCallId`); they are not the
//! terminal's turns.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{RecordError, RecordFiles, Transcript, Usage, count, json_lines, read_record};

/// The file in the run directory that names the terminal's Copilot session.
pub const SESSION_FILE: &str = "copilot-session.json";

/// The session cao started a terminal's Copilot with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (a UUID) given with `--session-id`.
    pub session_id: String,
    /// `<COPILOT_HOME>/session-state/<session id>`: the session's own folder.
    pub session_dir: PathBuf,
}

impl Session {
    /// A new session (random id) in the Copilot home `copilot_home`.
    pub fn new(copilot_home: &Path) -> Session {
        let session_id = crate::records::new_session_id();
        Session {
            session_dir: copilot_home.join("session-state").join(&session_id),
            session_id,
        }
    }

    /// The session's event log.
    pub fn events(&self) -> PathBuf {
        self.session_dir.join("events.jsonl")
    }

    /// What [`SESSION_FILE`] holds.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "session_id": self.session_id,
            "session_dir": self.session_dir,
        })
        .to_string()
    }

    /// The session [`Session::to_json`] wrote, if `text` is one (an id that is a UUID and a
    /// folder named by it).
    pub fn from_json(text: &str) -> Option<Session> {
        let value: Value = serde_json::from_str(text).ok()?;
        let session_id = value.get("session_id")?.as_str()?.to_string();
        let session_dir = PathBuf::from(value.get("session_dir")?.as_str()?);
        let named = session_dir.file_name().and_then(|n| n.to_str()) == Some(&session_id);
        (is_uuid(&session_id) && named && session_dir.is_absolute()).then_some(Session {
            session_id,
            session_dir,
        })
    }
}

/// Copilot's home (configuration and state) directory: `COPILOT_HOME` (a relative one is
/// taken from the directory the CLI starts in), else `~/.copilot`.
pub fn copilot_home(
    configured: Option<PathBuf>,
    home: Option<PathBuf>,
    working_dir: &Path,
) -> Option<PathBuf> {
    match configured.filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if dir.is_absolute() => Some(dir),
        Some(dir) => Some(working_dir.join(dir)),
        None => home
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".copilot")),
    }
}

/// Reads the terminal's record: the session named in the run directory, then its events.
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let pointer = files.run_dir.join(SESSION_FILE);
    let text = read_record(&pointer, &files.run_dir)?;
    let session = Session::from_json(&text)
        .ok_or_else(|| RecordError::unreadable(&pointer, "it does not name a Copilot session"))?;
    let events = session.events();
    if !session.session_dir.is_dir() {
        return Err(RecordError::Missing(format!(
            "Copilot has not created {} yet",
            session.session_dir.display()
        )));
    }
    let text = read_record(&events, &session.session_dir)?;
    parse(&text, &events)
}

/// The transcript in the text of an `events.jsonl` (a last line cut mid-write is left out).
pub fn parse(text: &str, path: &Path) -> Result<Transcript, RecordError> {
    Ok(transcript(&json_lines(text, path)?))
}

/// The latest turn as the events tell it.
#[derive(Default)]
struct Turn {
    ended: bool,
    answer: Option<String>,
    usage: Usage,
    /// The current model round had an `assistant.message`.
    round_spoke: bool,
    /// The current round's last message asked for tools.
    round_calls_tools: bool,
    /// The texts of the current round's messages since its last tool request.
    round_texts: Vec<String>,
}

fn transcript(events: &[Value]) -> Transcript {
    let mut turns = 0;
    let mut turn: Option<Turn> = None;
    let mut total = Usage::default();
    for event in events {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        let data = event.get("data").unwrap_or(&Value::Null);
        if kind == "session.usage_record" {
            // Sub-agents' calls are tokens this terminal spent too.
            let usage = usage_of(data.get("usage").unwrap_or(&Value::Null));
            total = total.add(usage);
            if let Some(t) = turn.as_mut() {
                t.usage = t.usage.add(usage);
            }
            continue;
        }
        if sub_agent(event) {
            continue;
        }
        if kind == "user.message" && !prompt(data) {
            // Text the CLI adds to a running turn (a skill's hidden context, an autopilot
            // continuation): the same turn goes on.
            if let Some(t) = turn.as_mut() {
                t.ended = false;
                t.answer = None;
            }
            continue;
        }
        if kind == "user.message" {
            turns += 1;
            turn = Some(Turn::default());
            continue;
        }
        let Some(t) = turn.as_mut() else {
            continue;
        };
        match kind {
            "assistant.turn_start" => {
                t.ended = false;
                t.answer = None;
                t.round_spoke = false;
                t.round_calls_tools = false;
                t.round_texts.clear();
            }
            "assistant.message" => {
                t.round_spoke = true;
                let calls = data
                    .get("toolRequests")
                    .and_then(Value::as_array)
                    .is_some_and(|r| !r.is_empty());
                if calls {
                    t.round_calls_tools = true;
                    t.round_texts.clear();
                } else {
                    t.round_calls_tools = false;
                    if let Some(text) = data.get("content").and_then(Value::as_str)
                        && !text.is_empty()
                    {
                        t.round_texts.push(text.to_string());
                    }
                }
            }
            // A round that asked for tools is followed by another; a round without a message
            // is failing or being cancelled (its error or abort follows).
            "assistant.turn_end" if t.round_spoke && !t.round_calls_tools => {
                t.ended = true;
                t.answer = (!t.round_texts.is_empty()).then(|| t.round_texts.join("\n\n"));
            }
            "abort" | "session.error" => {
                t.ended = true;
                t.answer = None;
            }
            "session.shutdown" if !t.ended => {
                // The CLI exited in the middle of the turn: it will not end otherwise.
                t.ended = true;
                t.answer = None;
            }
            _ => {}
        }
    }
    let (turn_ended, answer, last_usage) = match turn {
        Some(t) => (t.ended, if t.ended { t.answer } else { None }, t.usage),
        None => (false, None, Usage::default()),
    };
    Transcript {
        turns,
        turn_ended,
        answer,
        last_usage,
        total_usage: total,
    }
}

/// A `user.message` that is a prompt the CLI took (typed, pasted, or sent by another agent),
/// not text it injected itself (`source` `skill-...`, `isAutopilotContinuation`).
fn prompt(data: &Value) -> bool {
    let injected_skill = data
        .get("source")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with("skill-"));
    let continuation = data.get("isAutopilotContinuation") == Some(&Value::Bool(true));
    !injected_skill && !continuation
}

/// An event of a sub-agent (its own turns and messages, inside a tool call of the main one).
fn sub_agent(event: &Value) -> bool {
    event.get("agentId").is_some_and(|a| !a.is_null())
        || event
            .get("data")
            .and_then(|d| d.get("parentToolCallId"))
            .is_some_and(|p| !p.is_null())
}

/// The counts of one `session.usage_record` (`inputTokens` includes cached input for
/// OpenAI-style providers, which count it so; Copilot passes the provider's figure on).
fn usage_of(usage: &Value) -> Usage {
    Usage {
        input_tokens: count(usage, "inputTokens"),
        output_tokens: count(usage, "outputTokens"),
        cached_tokens: count(usage, "cacheReadTokens"),
    }
}

/// `8-4-4-4-12` lowercase hex digits.
fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{AFTER_TOOL, assert_answered, usage};

    /// A session the real CLI (1.0.102) wrote, with cao's hooks installed: a markdown
    /// answer, a tool call then text, a 400 failure, a 500 failure after five retries, a
    /// turn interrupted with Ctrl-C while the answer streamed, and the CLI's exit.
    const SESSION: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/records/copilot_cli/session.jsonl"
    ));
    /// Ctrl-C as the last chunk arrived: `abort`, then the whole message and `turn_end`.
    const ABORT_AFTER_ANSWER: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/records/copilot_cli/abort_after_answer.jsonl"
    ));

    /// The markdown answer the scripted model gave to the first task.
    fn markdown() -> String {
        let long: String = (0..50).map(|i| format!("w{i:02}xxxxxx ")).collect();
        format!(
            "# Heading ünïcødé ✓\n\nSome **bold** text.\n\n```rust\nfn f<T: Fn() -> u8>(x: &T) -> bool \
             {{ x() > 1 && 2 < 3 || false }}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n{}\n\n\
             Last line — done.",
            long.trim_end()
        )
    }

    /// The record as it was when its `nth` (1-based) event of type `kind` had just been
    /// written (the file only grows, so every prefix is a state the reader can meet).
    fn through(kind: &str, nth: usize) -> String {
        let mut seen = 0;
        let mut end = 0;
        for line in SESSION.split_inclusive('\n') {
            end += line.len();
            let value: Value = serde_json::from_str(line).unwrap();
            if value["type"] == kind {
                seen += 1;
                if seen == nth {
                    return SESSION[..end].to_string();
                }
            }
        }
        panic!("no {kind} #{nth} in the fixture");
    }

    fn parsed(text: &str) -> Transcript {
        parse(text, Path::new("events.jsonl")).unwrap()
    }

    #[test]
    fn a_markdown_answer_is_returned_byte_for_byte() {
        let t = parsed(&through("assistant.turn_end", 1));
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some(markdown().as_str()));
        assert_eq!(t.last_usage, usage(10, 5, 0));
        assert_eq!(t.total_usage, usage(10, 5, 0));
    }

    #[test]
    fn a_turn_is_open_until_its_round_without_tool_calls_ends() {
        // The prompt taken, the model not done.
        let t = parsed(&through("assistant.turn_start", 1));
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
        // The tool-calling round has ended; the next round has not started.
        let t = parsed(&through("assistant.turn_end", 2));
        assert_eq!(
            (t.turns, t.turn_ended, t.answer.as_deref()),
            (2, false, None)
        );
        let t = parsed(&through("tool.execution_complete", 1));
        assert!(!t.turn_ended);
        // The round after the tool, with its text.
        let t = parsed(&through("assistant.turn_end", 3));
        assert_answered(&t, AFTER_TOOL);
    }

    #[test]
    fn a_failed_turn_ends_with_its_error_and_no_answer() {
        // The failed round's end comes before the error: not ended yet.
        let t = parsed(&through("assistant.turn_end", 4));
        assert_eq!((t.turns, t.turn_ended), (3, false));
        let t = parsed(&through("session.error", 1));
        assert_eq!((t.turns, t.turn_ended, t.answer), (3, true, None));
        assert!(!t.last_usage.is_known());
        // Retries (an errorOccurred hook each) keep the turn open until the final error.
        let t = parsed(&through("hook.end", 9));
        assert_eq!((t.turns, t.turn_ended), (4, false));
        let t = parsed(&through("session.error", 2));
        assert_eq!((t.turns, t.turn_ended, t.answer), (4, true, None));
    }

    #[test]
    fn an_interrupted_turn_ends_without_an_answer() {
        let t = parsed(&through("assistant.turn_end", 6));
        assert_eq!((t.turns, t.turn_ended), (5, false));
        let t = parsed(&through("abort", 1));
        assert_eq!((t.turns, t.turn_ended, t.answer), (5, true, None));
        assert!(!t.last_usage.is_known());
        // The whole record, up to the CLI's exit.
        let t = parsed(SESSION);
        assert_eq!((t.turns, t.turn_ended, t.answer), (5, true, None));
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    #[test]
    fn an_answer_recorded_after_the_interrupt_is_kept() {
        let t = parsed(ABORT_AFTER_ANSWER);
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        assert_eq!(
            t.answer.as_deref(),
            Some(
                "slow answer that takes a while to stream out fully, word by word by word by word."
            )
        );
        assert_eq!(t.last_usage, usage(10, 5, 0));
    }

    #[test]
    fn a_line_cut_mid_write_is_left_for_the_next_read() {
        let whole = through("assistant.turn_end", 1);
        let message = through("assistant.message", 1);
        let cut = &message[..message.len() - 40];
        let t = parsed(cut);
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
        assert!(parsed(&whole).turn_ended);
        assert!(
            parse(
                "{\"type\":\"user.message\"}\nnot json\n{}\n",
                Path::new("e")
            )
            .is_err()
        );
    }

    #[test]
    fn no_turn_is_not_an_ended_turn() {
        let t = parsed(&through("session.model_change", 1));
        assert_eq!(t, Transcript::default());
        assert_eq!(parsed(""), Transcript::default());
    }

    #[test]
    fn a_turn_cut_short_by_the_exit_has_ended() {
        let open = through("assistant.turn_start", 6);
        let shutdown = SESSION.lines().last().unwrap();
        let t = parsed(&format!("{open}{shutdown}\n"));
        assert_eq!((t.turns, t.turn_ended, t.answer), (5, true, None));
    }

    #[test]
    fn sub_agent_events_are_not_the_terminal_s_turns() {
        // Shaped like the schema's sub-agent events (an agentId, or a parentToolCallId).
        let text = [
            r#"{"type":"user.message","data":{"content":"go"}}"#,
            r#"{"type":"assistant.turn_start","data":{"turnId":"0"}}"#,
            r#"{"type":"assistant.message","data":{"content":"","toolRequests":[{"toolCallId":"t1","name":"task"}]}}"#,
            r#"{"type":"user.message","agentId":"a1","data":{"content":"sub task"}}"#,
            r#"{"type":"assistant.message","agentId":"a1","data":{"content":"sub answer","toolRequests":[]}}"#,
            r#"{"type":"assistant.turn_end","data":{"turnId":"0","parentToolCallId":"t1"}}"#,
            r#"{"type":"session.usage_record","agentId":"a1","data":{"usage":{"inputTokens":7,"outputTokens":3}}}"#,
        ]
        .join("\n")
            + "\n";
        let t = parsed(&text);
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
        assert_eq!(t.last_usage.input_tokens, Some(7));
        assert_eq!(t.last_usage.cached_tokens, None);
        let done = format!(
            "{text}{}\n{}\n{}\n",
            r#"{"type":"assistant.turn_end","data":{"turnId":"0"}}"#,
            r#"{"type":"assistant.turn_start","data":{"turnId":"1"}}"#,
            r#"{"type":"assistant.message","data":{"content":"main answer","toolRequests":[]}}"#,
        );
        assert!(!parsed(&done).turn_ended);
        let done = format!(
            "{done}{}\n",
            r#"{"type":"assistant.turn_end","data":{"turnId":"1"}}"#
        );
        assert_eq!(parsed(&done).answer.as_deref(), Some("main answer"));
    }

    #[test]
    fn text_the_cli_injects_is_not_a_new_turn() {
        let open = through("assistant.turn_start", 1);
        let skill =
            r#"{"type":"user.message","data":{"content":"skill text","source":"skill-pdf"}}"#;
        let t = parsed(&format!("{open}{skill}\n"));
        assert_eq!((t.turns, t.turn_ended), (1, false));
        let ended = through("assistant.turn_end", 1);
        let more =
            r#"{"type":"user.message","data":{"content":"go on","isAutopilotContinuation":true}}"#;
        let t = parsed(&format!("{ended}{more}\n"));
        assert_eq!((t.turns, t.turn_ended, t.answer), (1, false, None));
    }

    #[test]
    fn the_session_file_names_one_uuid_session() {
        let session = Session::new(Path::new("/home/u/.copilot"));
        assert!(is_uuid(&session.session_id));
        assert_eq!(
            session.events(),
            Path::new("/home/u/.copilot/session-state")
                .join(&session.session_id)
                .join("events.jsonl")
        );
        assert_eq!(
            Session::from_json(&session.to_json()),
            Some(session.clone())
        );
        for bad in [
            r#"{"session_id":"../x","session_dir":"/h/session-state/../x"}"#,
            r#"{"session_id":"5fb00f44-1f89-493c-9a25-6ea31b6da783","session_dir":"/h/other"}"#,
            r#"{"session_id":"5fb00f44-1f89-493c-9a25-6ea31b6da783","session_dir":"rel/5fb00f44-1f89-493c-9a25-6ea31b6da783"}"#,
            "not json",
        ] {
            assert_eq!(Session::from_json(bad), None, "{bad}");
        }
        assert_ne!(Session::new(Path::new("/h")).session_id, session.session_id);
    }

    #[test]
    fn the_copilot_home_is_copilot_home_else_dot_copilot() {
        let work = Path::new("/work");
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            copilot_home(None, home.clone(), work),
            Some(PathBuf::from("/home/u/.copilot"))
        );
        assert_eq!(
            copilot_home(Some("".into()), home.clone(), work),
            Some(PathBuf::from("/home/u/.copilot"))
        );
        assert_eq!(
            copilot_home(Some("/c".into()), home.clone(), work),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            copilot_home(Some("rel".into()), home, work),
            Some(PathBuf::from("/work/rel"))
        );
        assert_eq!(copilot_home(None, None, work), None);
    }

    fn files(run_dir: &Path) -> RecordFiles {
        RecordFiles {
            terminal_id: "0a1b2c3d".into(),
            run_dir: run_dir.to_path_buf(),
            working_dir: PathBuf::from("/tmp"),
            user_home: None,
        }
    }

    #[test]
    fn read_opens_exactly_the_session_named_in_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let home = dir.path().join("copilot");
        std::fs::create_dir_all(&run).unwrap();
        assert!(matches!(read(&files(&run)), Err(RecordError::Missing(_))));

        let session = Session::new(&home);
        std::fs::write(run.join(SESSION_FILE), session.to_json()).unwrap();
        // Launched, but Copilot has not created the session yet.
        assert!(matches!(read(&files(&run)), Err(RecordError::Missing(_))));
        // Another session in the same home is never read.
        let other = home
            .join("session-state")
            .join(crate::records::new_session_id());
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("events.jsonl"), SESSION).unwrap();
        assert!(matches!(read(&files(&run)), Err(RecordError::Missing(_))));

        std::fs::create_dir_all(&session.session_dir).unwrap();
        assert!(matches!(read(&files(&run)), Err(RecordError::Missing(_))));
        std::fs::write(session.events(), through("assistant.turn_end", 1)).unwrap();
        let t = read(&files(&run)).unwrap();
        assert_eq!(t.answer.as_deref(), Some(markdown().as_str()));

        // A record swapped for a link elsewhere is refused.
        std::fs::remove_file(session.events()).unwrap();
        std::os::unix::fs::symlink(other.join("events.jsonl"), session.events()).unwrap();
        assert!(matches!(
            read(&files(&run)),
            Err(RecordError::Refused { .. })
        ));

        std::fs::write(run.join(SESSION_FILE), "{}").unwrap();
        assert!(matches!(
            read(&files(&run)),
            Err(RecordError::Unreadable { .. })
        ));
    }
}
