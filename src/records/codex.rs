//! Codex's session record: its rollout, `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread
//! id>.jsonl`, one JSON line `{timestamp, type, payload}` per item (0.169), appended as the
//! conversation goes:
//!
//! - `session_meta` (first line): `payload.id` is the thread id;
//! - `event_msg` with `payload.type` `task_started` (a turn begins, `turn_id`),
//!   `task_complete` (it finished: `last_agent_message`, or `error` when it failed),
//!   `turn_aborted` (interrupted), `error`, `token_count` (`info.total_token_usage`:
//!   `input_tokens` with the cached ones included, `cached_input_tokens`, `output_tokens`),
//!   and `item_completed` whose `item.type` `UserMessage` is a prompt the user sent (older
//!   versions write `user_message` events instead);
//! - `response_item`: what the model saw and said — `message` (role `assistant`:
//!   `output_text` parts, the model's text verbatim), `function_call` and other `*_call`
//!   items for tool calls, their outputs, reasoning.
//!
//! Codex creates the file at the first prompt, under a name cao cannot know at launch. What
//! ties it to a terminal is the terminal's `notify` program (set up by the provider): at the
//! end of every finished turn Codex runs `cao _hook --event notify ID PAYLOAD`, whose payload
//! (`{"type":"agent-turn-complete","thread-id","turn-id","cwd","input-messages",
//! "last-assistant-message"}`) names the thread. The reader takes the thread of the latest
//! notify and opens the one rollout whose name ends in that id, in the date folder of the
//! thread's creation (the id is a UUIDv7, so it carries its creation time). No notify yet
//! (the first turn still running, or it failed or was interrupted) is
//! [`RecordError::Missing`]; from then on the rollout says whether the latest turn ended,
//! notify or not.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::hooks::{self, HookEvent};
use super::{RecordError, RecordFiles, Transcript, Usage, count, json_lines, read_record};

/// The file in a terminal's run directory naming the `CODEX_HOME` its Codex was started
/// with (written at launch; without it the reader's own `CODEX_HOME` or `~/.codex`).
pub const HOME_FILE: &str = "codex-home";
/// The hook event name the provider gives Codex's notify program.
pub const NOTIFY_EVENT: &str = "notify";

/// Reads the terminal's record.
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let events = hooks::events(&files.run_dir)?;
    let Some(latest) = latest_notify(&events) else {
        return Err(RecordError::Missing(
            "Codex names its thread only when a turn finishes (notify), and none has yet".into(),
        ));
    };
    let sessions = codex_home(files).join("sessions");
    let path = find_rollout(&sessions, &latest.thread)?;
    let text = read_record(&path, &sessions)?;
    let mut rollout = parse(&text, &path, &latest.thread)?;
    rollout.settle(&latest);
    Ok(rollout.done())
}

/// What one notify call said (the payload may be cut: then only the ids at its head).
#[derive(Debug, Clone, PartialEq)]
struct Notify {
    thread: String,
    turn: Option<String>,
    /// `last-assistant-message`, when the payload was kept whole.
    message: Option<String>,
}

/// The latest notify event that names a thread.
fn latest_notify(events: &[HookEvent]) -> Option<Notify> {
    events
        .iter()
        .rev()
        .filter(|e| e.event == NOTIFY_EVENT)
        .find_map(notify_of)
}

fn notify_of(event: &HookEvent) -> Option<Notify> {
    match &event.payload {
        Value::Object(_) => {
            let thread = event.field("thread-id").filter(|t| is_thread_id(t))?;
            Some(Notify {
                thread: thread.to_string(),
                turn: event.field("turn-id").map(str::to_string),
                message: event.field("last-assistant-message").map(str::to_string),
            })
        }
        // A payload over the hook's size limit is kept as the head of its text; Codex puts
        // the ids first.
        Value::String(head) => Some(Notify {
            thread: string_after(head, "\"thread-id\":\"").filter(|t| is_thread_id(t))?,
            turn: string_after(head, "\"turn-id\":\""),
            message: None,
        }),
        _ => None,
    }
}

/// The plain (escape-free) JSON string value that follows `key` in `text`.
fn string_after(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let value = &rest[..rest.find('"')?];
    (!value.contains('\\')).then(|| value.to_string())
}

/// A thread id as Codex writes it: a UUID (36 characters of hex digits and dashes), which
/// also keeps it from naming anything but a file in the sessions tree.
fn is_thread_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The `CODEX_HOME` the terminal's Codex uses: as written at launch, else this process's.
fn codex_home(files: &RecordFiles) -> PathBuf {
    let recorded = read_record(&files.run_dir.join(HOME_FILE), &files.run_dir)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    match recorded {
        Some(home) => PathBuf::from(home),
        None => default_codex_home(files.user_home.as_deref()),
    }
}

/// `CODEX_HOME`, else `HOME/.codex`.
pub fn default_codex_home(user_home: Option<&Path>) -> PathBuf {
    if let Some(home) = crate::env::non_empty("CODEX_HOME") {
        return PathBuf::from(home);
    }
    user_home
        .map(Path::to_path_buf)
        .or_else(|| crate::env::non_empty(crate::env::HOME).map(PathBuf::from))
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".codex")
}

/// The rollout of `thread` in `sessions`: Codex files it under the local date of the
/// thread's creation, which the UUIDv7 id carries in UTC, so the day before and after are
/// looked at too.
fn find_rollout(sessions: &Path, thread: &str) -> Result<PathBuf, RecordError> {
    let Some(ms) = uuid_v7_ms(thread) else {
        return Err(RecordError::Missing(format!(
            "thread id {thread} carries no creation time"
        )));
    };
    let day = (ms / 86_400_000) as i64;
    let suffix = format!("-{thread}.jsonl");
    for day in [day, day - 1, day + 1] {
        let (y, m, d) = civil_from_days(day);
        let dir = sessions
            .join(format!("{y:04}"))
            .join(format!("{m:02}"))
            .join(format!("{d:02}"));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("rollout-") && name.ends_with(&suffix) {
                return Ok(entry.path());
            }
        }
    }
    Err(RecordError::Missing(format!(
        "no rollout of thread {thread} under {}",
        sessions.display()
    )))
}

/// Milliseconds since the epoch in a version-7 UUID.
fn uuid_v7_ms(id: &str) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || hex.as_bytes()[12] != b'7' {
        return None;
    }
    u64::from_str_radix(&hex[..12], 16).ok()
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A rollout read into turns.
#[derive(Debug, Default)]
struct Rollout {
    /// Prompts recorded as user message items (0.169) and as `user_message` events (older).
    user_items: usize,
    user_events: usize,
    turns: Vec<Turn>,
    /// The conversation's running token total (`token_count` events).
    total: Option<Usage>,
}

#[derive(Debug, Default)]
struct Turn {
    id: Option<String>,
    completed: bool,
    aborted: bool,
    /// An `error` event, not followed by more work in the turn.
    failed: bool,
    /// The text of the last assistant message after the last tool call (`None` when a call
    /// came after it).
    text: Option<String>,
    saw_message: bool,
    /// `task_complete.last_agent_message`.
    last_agent_message: Option<String>,
    /// The running total when the turn began, and its latest value during the turn.
    before: Option<Usage>,
    after: Option<Usage>,
}

impl Turn {
    fn ended(&self) -> bool {
        self.completed || self.aborted || self.failed
    }

    fn answer(&self) -> Option<String> {
        if self.aborted || self.failed || !self.completed {
            return None;
        }
        let text = if self.saw_message {
            self.text.clone()
        } else {
            self.last_agent_message.clone()
        };
        text.filter(|t| !t.trim().is_empty())
    }

    /// Tokens the turn used: the running total's growth over it.
    fn usage(&self) -> Usage {
        let Some(after) = self.after else {
            return Usage::default();
        };
        let before = self.before.unwrap_or(Usage {
            input_tokens: Some(0),
            output_tokens: Some(0),
            cached_tokens: Some(0),
        });
        let minus = |a: Option<u64>, b: Option<u64>| a.map(|a| a.saturating_sub(b.unwrap_or(0)));
        Usage {
            input_tokens: minus(after.input_tokens, before.input_tokens),
            output_tokens: minus(after.output_tokens, before.output_tokens),
            cached_tokens: minus(after.cached_tokens, before.cached_tokens),
        }
    }
}

/// Parses rollout text (the thread `thread`'s, when its first line says whose it is).
fn parse(text: &str, path: &Path, thread: &str) -> Result<Rollout, RecordError> {
    let mut rollout = Rollout::default();
    for line in json_lines(text, path)? {
        let payload = &line["payload"];
        match line["type"].as_str().unwrap_or_default() {
            "session_meta" => {
                if let Some(id) = payload["id"].as_str()
                    && id != thread
                {
                    return Err(RecordError::unreadable(
                        path,
                        format!("it is the record of thread {id}, not {thread}"),
                    ));
                }
            }
            "event_msg" => rollout.event(payload),
            "response_item" => rollout.item(payload),
            _ => {}
        }
    }
    Ok(rollout)
}

impl Rollout {
    /// The turn an event names (by `turn_id`), else the latest.
    fn turn(&mut self, payload: &Value) -> Option<&mut Turn> {
        let id = payload["turn_id"].as_str();
        let index = id
            .and_then(|id| self.turns.iter().rposition(|t| t.id.as_deref() == Some(id)))
            .or_else(|| self.turns.len().checked_sub(1))?;
        self.turns.get_mut(index)
    }

    fn event(&mut self, payload: &Value) {
        match payload["type"].as_str().unwrap_or_default() {
            "task_started" => self.turns.push(Turn {
                id: payload["turn_id"].as_str().map(str::to_string),
                before: self.total,
                ..Turn::default()
            }),
            "task_complete" => {
                if let Some(turn) = self.turn(payload) {
                    turn.completed = true;
                    turn.last_agent_message =
                        payload["last_agent_message"].as_str().map(str::to_string);
                    if !payload["error"].is_null() {
                        turn.failed = true;
                    }
                }
            }
            "turn_aborted" => {
                if let Some(turn) = self.turn(payload) {
                    turn.aborted = true;
                }
            }
            "error" => {
                if let Some(turn) = self.turns.last_mut()
                    && !turn.ended()
                {
                    turn.failed = true;
                }
            }
            "token_count" => {
                let totals = &payload["info"]["total_token_usage"];
                if totals.is_object() {
                    let usage = Usage {
                        input_tokens: count(totals, "input_tokens"),
                        output_tokens: count(totals, "output_tokens"),
                        cached_tokens: count(totals, "cached_input_tokens"),
                    };
                    self.total = Some(usage);
                    if let Some(turn) = self.turns.last_mut() {
                        turn.after = Some(usage);
                    }
                }
            }
            "item_completed" if payload["item"]["type"] == "UserMessage" => self.user_items += 1,
            "user_message" => self.user_events += 1,
            _ => {}
        }
    }

    fn item(&mut self, payload: &Value) {
        let Some(turn) = self.turns.last_mut() else {
            return;
        };
        let kind = payload["type"].as_str().unwrap_or_default();
        if !turn.completed && !turn.aborted {
            // Work after an error: the error was not the end of the turn.
            turn.failed = false;
        }
        if kind == "message" && payload["role"] == "assistant" {
            let text: String = payload["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|part| part["type"] == "output_text")
                .filter_map(|part| part["text"].as_str())
                .collect();
            turn.text = Some(text);
            turn.saw_message = true;
        } else if kind.ends_with("_call") {
            turn.text = None;
        }
    }

    /// Settles the latest turn with the latest notify: Codex runs notify once the turn has
    /// finished, and the rollout's own end of it may still be on its way to the disk.
    fn settle(&mut self, notify: &Notify) {
        let Some(turn_id) = notify.turn.as_deref() else {
            return;
        };
        match self
            .turns
            .iter()
            .rposition(|t| t.id.as_deref() == Some(turn_id))
        {
            Some(i) if i + 1 == self.turns.len() => {
                let turn = &mut self.turns[i];
                if !turn.ended() {
                    turn.completed = true;
                    turn.saw_message = false;
                    turn.last_agent_message = notify.message.clone();
                }
            }
            Some(_) => {}
            None => {
                // The turn is not in the file yet at all.
                self.turns.push(Turn {
                    id: Some(turn_id.to_string()),
                    completed: true,
                    last_agent_message: notify.message.clone(),
                    ..Turn::default()
                });
                self.user_items = self.user_items.max(self.user_events) + 1;
            }
        }
    }

    fn done(self) -> Transcript {
        let latest = self.turns.last();
        Transcript {
            turns: if self.user_items > 0 {
                self.user_items
            } else {
                self.user_events
            },
            turn_ended: latest.is_some_and(Turn::ended),
            answer: latest.and_then(Turn::answer),
            last_usage: latest.map(Turn::usage).unwrap_or_default(),
            total_usage: self.total.unwrap_or_default(),
        }
    }
}

/// The transcript of rollout text alone (no notify), as [`read`] makes it.
pub fn parse_rollout(text: &str, path: &Path, thread: &str) -> Result<Transcript, RecordError> {
    Ok(parse(text, path, thread)?.done())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{
        AFTER_TOOL, assert_answered, assert_failed_third_turn, first_lines as lines, line_of, usage,
    };

    const THREAD: &str = "01a230b6-fd0a-7d13-9cbd-e4bfc73fb06c";
    const ROLLOUT: &str = include_str!("../../tests/fixtures/records/codex/rollout.jsonl");
    const MID_TURN: &str =
        include_str!("../../tests/fixtures/records/codex/rollout_mid_turn.jsonl");
    const HOOKS: &str = include_str!("../../tests/fixtures/records/codex/hooks.jsonl");
    const MARKDOWN: &str = include_str!("../../tests/fixtures/records/codex/answer_markdown.txt");

    fn path() -> &'static Path {
        Path::new("rollout.jsonl")
    }

    #[test]
    fn a_finished_markdown_answer_is_read_byte_exact() {
        // Through the first turn's task_complete.
        let end = line_of(ROLLOUT, "\"task_complete\"");
        let t = parse_rollout(&lines(ROLLOUT, end), path(), THREAD).unwrap();
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        assert_eq!(t.answer.as_deref(), Some(MARKDOWN));
        assert_eq!(t.last_usage, usage(10, 5, 0));
        assert_eq!(t.total_usage, usage(10, 5, 0));
    }

    #[test]
    fn after_a_tool_call_the_answer_is_the_text_after_it() {
        let second_end = ROLLOUT
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("\"task_complete\""))
            .nth(1)
            .unwrap()
            .0
            + 1;
        let t = parse_rollout(&lines(ROLLOUT, second_end), path(), THREAD).unwrap();
        assert_eq!(t.turns, 2);
        // Two model requests in the turn: the turn's usage is both.
        assert_answered(&t, AFTER_TOOL);
    }

    #[test]
    fn a_failed_turn_has_ended_without_an_answer() {
        let end = line_of(ROLLOUT, "scripted failure 400");
        let t = parse_rollout(&lines(ROLLOUT, end), path(), THREAD).unwrap();
        // No tokens were counted in the failed turn.
        assert_failed_third_turn(&t);
    }

    #[test]
    fn a_turn_in_progress_has_not_ended() {
        let t = parse_rollout(MID_TURN, path(), THREAD).unwrap();
        assert_eq!(t.turns, 4);
        assert!(!t.turn_ended);
        assert_eq!(t.answer, None);
        // A turn just started: its prompt is in, nothing ended.
        let started = line_of(ROLLOUT, "TASK-TWO please");
        let t = parse_rollout(&lines(ROLLOUT, started), path(), THREAD).unwrap();
        assert_eq!(t.turns, 1, "the prompt item comes after the request line");
        assert!(!t.turn_ended);
        assert_eq!(t.answer, None);
    }

    #[test]
    fn an_interrupted_turn_has_ended_without_an_answer() {
        let t = parse_rollout(ROLLOUT, path(), THREAD).unwrap();
        assert_eq!(t.turns, 4);
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    #[test]
    fn a_line_cut_mid_write_is_left_for_later() {
        let end = line_of(ROLLOUT, "\"task_complete\"");
        let whole = lines(ROLLOUT, end);
        let cut = &whole[..whole.len() - 40];
        let t = parse_rollout(cut, path(), THREAD).unwrap();
        assert!(!t.turn_ended, "the cut task_complete line is not read");
        assert!(parse_rollout("{\"type\":\n{}\n", path(), THREAD).is_err());
    }

    #[test]
    fn another_threads_rollout_is_refused() {
        let other = "01a230b6-fd0a-7d13-9cbd-000000000000";
        assert!(matches!(
            parse_rollout(ROLLOUT, path(), other),
            Err(RecordError::Unreadable { .. })
        ));
    }

    #[test]
    fn no_turn_yet_is_not_ended() {
        let t = parse_rollout(&lines(ROLLOUT, 1), path(), THREAD).unwrap();
        assert_eq!(t, Transcript::default());
    }

    #[test]
    fn notify_names_the_thread_and_settles_a_turn_the_file_has_not_closed_yet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(hooks::HOOKS_FILE), HOOKS).unwrap();
        let events = hooks::events(dir.path()).unwrap();
        let latest = latest_notify(&events).unwrap();
        assert_eq!(latest.thread, THREAD);
        assert_eq!(
            latest.message.as_deref(),
            Some("After the tool: **done**\n\n- one\n- two")
        );
        // The second turn's lines up to its last model reply, without its task_complete.
        let before_end = ROLLOUT
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("\"task_complete\""))
            .nth(1)
            .unwrap()
            .0;
        let mut rollout = parse(&lines(ROLLOUT, before_end), path(), THREAD).unwrap();
        assert!(!rollout.turns.last().unwrap().ended());
        rollout.settle(&latest);
        let t = rollout.done();
        assert!(t.turn_ended);
        assert_eq!(
            t.answer.as_deref(),
            Some("After the tool: **done**\n\n- one\n- two")
        );
        // A notify of an earlier turn does not end a later one.
        let mut rollout = parse(MID_TURN, path(), THREAD).unwrap();
        rollout.settle(&latest);
        assert!(!rollout.done().turn_ended);
    }

    #[test]
    fn a_cut_notify_payload_still_names_the_thread() {
        let head = format!(
            "{{\"type\":\"agent-turn-complete\",\"thread-id\":\"{THREAD}\",\"turn-id\":\"t1\",\"input-messages\":[\"a very long"
        );
        let event = HookEvent {
            event: NOTIFY_EVENT.into(),
            payload: Value::String(head),
        };
        let n = notify_of(&event).unwrap();
        assert_eq!(n.thread, THREAD);
        assert_eq!(n.turn.as_deref(), Some("t1"));
        assert_eq!(n.message, None);
        // Ids that could name anything but a rollout are ignored.
        let bad = HookEvent {
            event: NOTIFY_EVENT.into(),
            payload: serde_json::json!({"thread-id": "../../../../etc/passwd-aaaaaaaaaaaaaa"}),
        };
        assert_eq!(notify_of(&bad), None);
    }

    #[test]
    fn the_rollout_is_found_by_thread_id_in_its_date_folder() {
        assert_eq!(uuid_v7_ms(THREAD), Some(0x01a230b6fd0a));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(0x01a230b6fd0a / 86_400_000), (2026, 12, 1));
        assert_eq!(uuid_v7_ms("b5f6c1c2-1111-2222-3333-444455556666"), None);

        let home = tempfile::tempdir().unwrap();
        let sessions = home.path().join("sessions");
        let day = sessions.join("2026/12/01");
        std::fs::create_dir_all(&day).unwrap();
        let other =
            day.join("rollout-2026-12-01T08-27-08-01a230b6-fd0a-7d13-9cbd-000000000000.jsonl");
        std::fs::write(&other, "{}\n").unwrap();
        assert!(matches!(
            find_rollout(&sessions, THREAD),
            Err(RecordError::Missing(_))
        ));
        let mine = day.join(format!("rollout-2026-12-01T08-27-08-{THREAD}.jsonl"));
        std::fs::write(&mine, ROLLOUT).unwrap();
        assert_eq!(find_rollout(&sessions, THREAD).unwrap(), mine);
    }

    #[test]
    fn read_follows_the_notify_to_the_rollout() {
        let run = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let files = RecordFiles {
            terminal_id: "abcd1234".into(),
            run_dir: run.path().to_path_buf(),
            working_dir: run.path().to_path_buf(),
            user_home: None,
        };
        std::fs::write(
            run.path().join(HOME_FILE),
            home.path().display().to_string(),
        )
        .unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));

        std::fs::write(run.path().join(hooks::HOOKS_FILE), HOOKS).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Missing(_))));

        let day = home.path().join("sessions/2026/12/01");
        std::fs::create_dir_all(&day).unwrap();
        let rollout = day.join(format!("rollout-2026-12-01T08-27-08-{THREAD}.jsonl"));
        std::fs::write(&rollout, MID_TURN).unwrap();
        let t = read(&files).unwrap();
        assert_eq!(t.turns, 4);
        assert!(!t.turn_ended);

        std::fs::write(&rollout, ROLLOUT).unwrap();
        let t = read(&files).unwrap();
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);

        // A rollout swapped for a link is refused.
        std::fs::remove_file(&rollout).unwrap();
        let elsewhere = home.path().join("elsewhere.jsonl");
        std::fs::write(&elsewhere, ROLLOUT).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &rollout).unwrap();
        assert!(matches!(read(&files), Err(RecordError::Refused { .. })));
    }
}
