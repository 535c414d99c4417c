//! The OpenCode session record.
//!
//! OpenCode (1.18) keeps every session in one SQLite database in its data directory
//! (`$XDG_DATA_HOME/opencode/opencode.db`, WAL mode): table `message` holds one row per
//! message (`data`: JSON with `role`, `time.created`/`time.completed`, `finish`, `error`,
//! `tokens`), table `part` one row per part of a message (`data`: JSON with `type` —
//! `text`, `tool`, `reasoning`, `step-start`, `step-finish`, ... — and, for text, `text`
//! and `synthetic`). Every step of a turn is its own assistant message (`finish:
//! "tool-calls"` while the model goes on); the turn ends with a message whose `finish` is
//! anything else, or one with an `error` (`MessageAbortedError` for an interrupt).
//!
//! The database is shared by every OpenCode of the user (a supervisor may be one), so the
//! session is named by the CLI itself: at launch cao names the database for OpenCode
//! (`OPENCODE_DB`) and writes that path down in the run directory ([`LOCATION_FILE`]), and
//! the config lists a plugin of cao's ([`plugin_source`]) that runs `cao _hook` with the
//! session id when this OpenCode starts working on a session and when the session goes
//! idle. The reader takes the session of the latest such event and reads its rows with a
//! read-only connection that never waits long on OpenCode's locks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{RecordError, RecordFiles, Transcript, Usage, hooks, read_record};

/// The variable that names OpenCode's database.
pub const DB_VAR: &str = "OPENCODE_DB";
/// Where cao writes down, in the run directory, which database this terminal's OpenCode
/// uses.
pub const LOCATION_FILE: &str = "opencode-record.json";
/// The plugin cao writes in the run directory.
pub const PLUGIN_FILE: &str = "cao-opencode-plugin.js";
/// Hook event: OpenCode started working on a session (a new one, or another one).
pub const EVENT_START: &str = "session";
/// Hook event: a session went idle (its turn ended: finished, failed or interrupted).
pub const EVENT_STOP: &str = "stop";
/// How long a read waits for a lock OpenCode holds before giving up (the caller falls back
/// to the screen); readers of a WAL database rarely wait at all.
const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// What the provider wrote down at launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    /// The database OpenCode was told to use; `None` when it keeps none (`OPENCODE_DB` is
    /// `:memory:`) or none could be resolved.
    pub db: Option<PathBuf>,
}

/// The database path OpenCode uses, resolved as it does: `OPENCODE_DB` when set (`:memory:`
/// keeps no file; a relative path is relative to the data directory), else `opencode.db` in
/// the data directory `$XDG_DATA_HOME/opencode` (`~/.local/share/opencode` without it).
/// Release builds use `opencode.db`; only development channels default to another name,
/// and naming the path in `OPENCODE_DB` makes it the one used.
pub fn database_path(
    opencode_db: Option<&std::ffi::OsStr>,
    xdg_data_home: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let data = match xdg_data_home.filter(|x| !x.is_empty()) {
        Some(x) => Some(PathBuf::from(x)),
        None => home.map(|h| h.join(".local/share")),
    };
    let data = data.filter(|d| d.is_absolute()).map(|d| d.join("opencode"));
    match opencode_db.filter(|v| !v.is_empty()) {
        Some(v) if v == ":memory:" => None,
        Some(v) if Path::new(v).is_absolute() => Some(PathBuf::from(v)),
        Some(v) => Some(data?.join(v)),
        None => Some(data?.join("opencode.db")),
    }
}

/// A `file://` URL of an absolute path (for the config's `plugin` list).
pub fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.display().to_string().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// The plugin that reports this OpenCode's sessions to cao: `start` runs when the OpenCode
/// starts working on a top-level session other than the last one reported (the first
/// prompt, `/new`, a session switched to), `stop` when a top-level session goes idle. Each
/// gets `{"sessionID", "event", "at"}` (`at`: OpenCode's clock, ms) as its last argument.
/// Subagent sessions (those with a parent) are left out. A failing hook never disturbs
/// OpenCode.
pub fn plugin_source(start: &[String], stop: &[String]) -> String {
    let start = serde_json::to_string(start).expect("argv serializes");
    let stop = serde_json::to_string(stop).expect("argv serializes");
    format!(
        r#"// Written by cao (CLI agent orchestrator) for one terminal: tells cao which OpenCode
// session is this terminal's and when its turn ends. Regenerated at every launch.
import {{ spawn }} from "node:child_process";

const START = {start};
const STOP = {stop};
const children = new Set();
let reported = null;

function run(argv, sessionID, event) {{
  try {{
    const payload = JSON.stringify({{ sessionID, event, at: Date.now() }});
    const child = spawn(argv[0], [...argv.slice(1), payload], {{ stdio: "ignore" }});
    child.on("error", () => {{}});
    child.unref();
  }} catch {{}}
}}

export const CaoSessionRecord = async () => ({{
  event: async ({{ event }}) => {{
    const props = (event && event.properties) || {{}};
    if (event.type === "session.created" || event.type === "session.updated") {{
      if (props.info && props.info.parentID) children.add(props.info.id);
      if (event.type === "session.updated") return;
    }}
    const sessionID = props.sessionID || (props.info && props.info.id);
    if (typeof sessionID !== "string" || children.has(sessionID)) return;
    const busy = event.type === "session.status" && props.status && props.status.type === "busy";
    if ((event.type === "session.created" || busy) && sessionID !== reported) {{
      reported = sessionID;
      run(START, sessionID, event.type);
    }} else if (event.type === "session.idle") {{
      reported = sessionID;
      run(STOP, sessionID, event.type);
    }}
  }},
}});
"#
    )
}

/// Reads the terminal's record: the session its OpenCode last reported, in the database
/// written down at launch.
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let path = files.run_dir.join(LOCATION_FILE);
    let text = read_record(&path, &files.run_dir)?;
    let located: Located =
        serde_json::from_str(&text).map_err(|e| RecordError::unreadable(&path, e))?;
    let db = located.db.ok_or_else(|| {
        RecordError::Missing("this OpenCode keeps no database file (OPENCODE_DB=:memory:)".into())
    })?;
    let events = hooks::events(&files.run_dir)?;
    let reported = |e: &&hooks::HookEvent| {
        (e.event == EVENT_START || e.event == EVENT_STOP) && e.field("sessionID").is_some()
    };
    let Some(session) = events
        .iter()
        .rfind(reported)
        .and_then(|e| e.field("sessionID"))
    else {
        return Err(RecordError::Missing(
            "OpenCode has not reported a session yet".into(),
        ));
    };
    let idle_at = events
        .iter()
        .rfind(|e| e.event == EVENT_STOP && e.field("sessionID") == Some(session))
        .and_then(|e| e.payload.get("at").and_then(Value::as_i64));
    let rows = query(&db, session)?;
    parse(&rows, idle_at).map_err(|reason| RecordError::unreadable(&db, reason))
}

/// The rows of one session, as OpenCode stored them.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// `(id, data)` of every message, in order (ids ascend with time).
    pub messages: Vec<(String, String)>,
    /// `(message_id, data)` of every part, in order. Only the text parts of the latest turn
    /// carry their whole `data`; the others carry `type`, `synthetic` and `ignored`.
    pub parts: Vec<(String, String)>,
}

/// Reads session `session` from the database at `db`, read-only, in one read transaction.
fn query(db: &Path, session: &str) -> Result<Rows, RecordError> {
    use rusqlite::{Connection, OpenFlags};
    let meta = match std::fs::symlink_metadata(db) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::Missing(format!(
                "{} does not exist",
                db.display()
            )));
        }
        Err(e) => return Err(RecordError::unreadable(db, e)),
    };
    let refused = |reason: &str| RecordError::Refused {
        path: db.to_path_buf(),
        reason: reason.into(),
    };
    if !db.is_absolute() {
        return Err(refused("it is not an absolute path"));
    }
    if meta.file_type().is_symlink() {
        return Err(refused("it is a symbolic link"));
    }
    if !meta.is_file() {
        return Err(refused("it is not a regular file"));
    }
    let fail = |e: rusqlite::Error| RecordError::unreadable(db, e);
    // Not `immutable`: the database is in WAL mode, and an immutable reader would not see
    // the writes still in the WAL — the latest turn.
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    let tx = conn.unchecked_transaction().map_err(fail)?;
    // A user message's `summary` holds the diffs of the files its turn changed: not needed.
    let mut rows = Rows::default();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, json_remove(data, '$.summary') FROM message \
                 WHERE session_id = ?1 ORDER BY id",
            )
            .map_err(fail)?;
        let found = stmt
            .query_map([session], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(fail)?;
        for row in found {
            rows.messages.push(row.map_err(fail)?);
        }
    }
    if rows.messages.is_empty() {
        return Err(RecordError::Missing(format!(
            "session {session} has no messages in {}",
            db.display()
        )));
    }
    // The latest user message starts the latest turn: text parts from there on are read
    // whole, older parts (tool outputs, old answers) only for their kind.
    let turn_start = rows
        .messages
        .iter()
        .rev()
        .find(|(_, data)| role(data) == Some("user"))
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    {
        let mut stmt = tx
            .prepare(
                "SELECT message_id, CASE \
                   WHEN message_id >= ?2 AND json_extract(data, '$.type') = 'text' THEN data \
                   ELSE json_object('type', json_extract(data, '$.type'), \
                                    'synthetic', json_extract(data, '$.synthetic'), \
                                    'ignored', json_extract(data, '$.ignored')) END \
                 FROM part WHERE session_id = ?1 ORDER BY message_id, id",
            )
            .map_err(fail)?;
        let found = stmt
            .query_map([session, turn_start.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(fail)?;
        let mut bytes = 0u64;
        for row in found {
            let row: (String, String) = row.map_err(fail)?;
            bytes += row.1.len() as u64;
            if bytes > super::MAX_RECORD_BYTES {
                return Err(refused("the latest turn is over the size limit"));
            }
            rows.parts.push(row);
        }
    }
    tx.finish().map_err(fail)?;
    Ok(rows)
}

/// The `role` of a message's `data`, without parsing the rest.
fn role(data: &str) -> Option<&'static str> {
    let value: Value = serde_json::from_str(data).ok()?;
    match value.get("role")?.as_str()? {
        "user" => Some("user"),
        "assistant" => Some("assistant"),
        _ => None,
    }
}

/// One message, as much of it as the transcript needs.
struct Message {
    id: String,
    user: bool,
    created: Option<i64>,
    completed: bool,
    finish: Option<String>,
    error: bool,
    tokens: Option<Value>,
    parts: Vec<Value>,
}

impl Message {
    /// The message's token counts; unknown until a step of it finished.
    fn usage(&self) -> Usage {
        let finished_step = self
            .parts
            .iter()
            .any(|p| p.get("type").and_then(Value::as_str) == Some("step-finish"));
        usage(self.tokens.as_ref(), finished_step)
    }
}

/// The transcript of a session's rows. `idle_at` is when the plugin last reported the
/// session idle (OpenCode's clock): a turn whose last message the record does not show as
/// finished (interrupted between steps, or while a request was being retried) ended if the
/// session went idle after its prompt.
pub fn parse(rows: &Rows, idle_at: Option<i64>) -> Result<Transcript, String> {
    let mut messages = Vec::with_capacity(rows.messages.len());
    for (id, data) in &rows.messages {
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("message {id} is not JSON: {e}"))?;
        let time = v.get("time");
        messages.push(Message {
            id: id.clone(),
            user: v.get("role").and_then(Value::as_str) == Some("user"),
            created: time.and_then(|t| t.get("created")).and_then(Value::as_i64),
            completed: time
                .and_then(|t| t.get("completed"))
                .is_some_and(|c| !c.is_null()),
            finish: v.get("finish").and_then(Value::as_str).map(str::to_string),
            error: v.get("error").is_some_and(|e| !e.is_null()),
            tokens: v.get("tokens").cloned(),
            parts: Vec::new(),
        });
    }
    let index: std::collections::HashMap<&str, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut parts = Vec::with_capacity(rows.parts.len());
    for (message, data) in &rows.parts {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("a part of message {message} is not JSON: {e}"))?;
        if let Some(&i) = index.get(message.as_str()) {
            parts.push((i, v));
        }
    }
    for (i, v) in parts {
        messages[i].parts.push(v);
    }

    let flag = |p: &Value, key: &str| p.get(key).and_then(Value::as_bool) == Some(true);
    let kind = |p: &Value| {
        p.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // A prompt: a user message with something the user sent (not only parts OpenCode
    // added itself, such as the "continue" after a compaction).
    let turns = messages
        .iter()
        .filter(|m| m.user && (m.parts.is_empty() || m.parts.iter().any(|p| !flag(p, "synthetic"))))
        .count();
    let total_usage = messages
        .iter()
        .filter(|m| !m.user)
        .fold(Usage::default(), |sum, m| sum.add(m.usage()));
    let Some(start) = messages.iter().rposition(|m| m.user) else {
        return Ok(Transcript {
            turns,
            total_usage,
            ..Transcript::default()
        });
    };
    let prompt = &messages[start];
    let replies = &messages[start + 1..];
    let last_usage = replies
        .iter()
        .fold(Usage::default(), |sum, m| sum.add(m.usage()));
    let last = replies.last();
    // As OpenCode's own loop decides: a step that finished for another reason than tool
    // calls ends the turn, and so does an error.
    let finished = last.is_some_and(|m| {
        m.error
            || (m.completed
                && m.finish
                    .as_deref()
                    .is_some_and(|f| f != "tool-calls" && f != "unknown"))
    });
    let went_idle = matches!((idle_at, prompt.created), (Some(idle), Some(asked)) if idle >= asked);
    let turn_ended = finished || went_idle;
    let answer = if turn_ended && !last.is_some_and(|m| m.error) {
        // The text after the last tool call, joined as OpenCode's "copy message" does.
        let all: Vec<&Value> = replies.iter().flat_map(|m| m.parts.iter()).collect();
        let after = all
            .iter()
            .rposition(|p| kind(p) == "tool")
            .map_or(0, |i| i + 1);
        let text: String = all[after..]
            .iter()
            .filter(|p| kind(p) == "text" && !flag(p, "synthetic") && !flag(p, "ignored"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        (!text.trim().is_empty()).then_some(text)
    } else {
        None
    };
    Ok(Transcript {
        turns,
        turn_ended,
        answer,
        last_usage,
        total_usage,
    })
}

/// A message's `tokens`. OpenCode counts input without the cached part and output without
/// the reasoning; cao's input includes cached tokens and its output includes reasoning.
/// Counts are set when a step finishes (`finished_step`; `total` appears then when the
/// provider reports it); before that they are all 0 and stay unknown.
fn usage(tokens: Option<&Value>, finished_step: bool) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    let Some(t) = tokens else {
        return Usage::default();
    };
    let nonzero = ["input", "output", "reasoning"]
        .iter()
        .any(|k| n(t.get(*k)).is_some_and(|c| c > 0));
    if !(finished_step || nonzero || t.get("total").is_some_and(Value::is_u64)) {
        return Usage::default();
    }
    let cache = t.get("cache");
    let read = n(cache.and_then(|c| c.get("read")));
    let write = n(cache.and_then(|c| c.get("write")));
    let input = n(t.get("input")).map(|i| i + read.unwrap_or(0) + write.unwrap_or(0));
    let output = n(t.get("output")).map(|o| o + n(t.get("reasoning")).unwrap_or(0));
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_tokens: read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{assert_answered, assert_failed_third_turn, usage};

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/records/opencode"
    );
    /// The scripted answer of the fixture's first turn, as the model sent it.
    fn markdown() -> String {
        format!(
            "# Heading\n\n```rust\nfn main() {{ let v: Vec<u8> = vec![]; if a && b || c {{ \
             println!(\"<>&|{{}}\"); }} }}\n```\n\n| col a | col b |\n|---|---|\n| 1 | 2 |\n\n\
             LONGLINE_START {} END\n\nUnicode: héllo wörld — ✓ 日本語 🚀",
            "a".repeat(520)
        )
    }
    const SESSION: &str = "ses_dcf48d357ffeRvTx9MjgjqcbwA";
    /// The prompts of the fixture's four turns.
    const PROMPTS: [&str; 4] = [
        "msg_230b72d2e001a1cUGwR9As7Jtt",
        "msg_230b7443e001lPs5HIBsdV2YVH",
        "msg_230b74c3d001SduWoWez90yrTa",
        "msg_230b75686001QDvEKu5vE43B7Q",
    ];

    /// A run directory as the provider sets it up, with the database OpenCode wrote
    /// (`dump`, cut to the turns before `before` when given) and `hook_lines` of its hooks.
    struct Run {
        dir: tempfile::TempDir,
        db: PathBuf,
    }

    impl Run {
        fn new(dump: &str, before: Option<&str>, hook_lines: usize) -> Run {
            let dir = tempfile::tempdir().unwrap();
            let run_dir = dir.path().join("run");
            std::fs::create_dir_all(&run_dir).unwrap();
            let db = dir.path().join("data/opencode.db");
            std::fs::create_dir_all(db.parent().unwrap()).unwrap();
            let sql = std::fs::read_to_string(format!("{FIXTURES}/{dump}")).unwrap();
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch(&sql).unwrap();
            if let Some(id) = before {
                conn.execute("DELETE FROM part WHERE message_id >= ?1", [id])
                    .unwrap();
                conn.execute("DELETE FROM message WHERE id >= ?1", [id])
                    .unwrap();
            }
            drop(conn);
            let located = Located {
                db: Some(db.clone()),
            };
            std::fs::write(
                run_dir.join(LOCATION_FILE),
                serde_json::to_string(&located).unwrap(),
            )
            .unwrap();
            let hooks = std::fs::read_to_string(format!("{FIXTURES}/hooks.jsonl")).unwrap();
            let hooks: String = hooks
                .lines()
                .take(hook_lines)
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(run_dir.join(hooks::HOOKS_FILE), hooks).unwrap();
            Run { dir, db }
        }

        fn files(&self) -> RecordFiles {
            RecordFiles {
                terminal_id: "0123abcd".into(),
                run_dir: self.dir.path().join("run"),
                working_dir: self.dir.path().to_path_buf(),
                user_home: None,
            }
        }

        fn read(&self) -> Result<Transcript, RecordError> {
            read(&self.files())
        }
    }

    #[test]
    fn a_markdown_answer_is_read_byte_exact() {
        let run = Run::new("session.sql", Some(PROMPTS[1]), 2);
        let t = run.read().unwrap();
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        assert_eq!(t.answer, Some(markdown()));
        assert_eq!(t.last_usage, usage(10, 5, 0));
        assert_eq!(t.total_usage, usage(10, 5, 0));
    }

    #[test]
    fn after_a_tool_call_the_answer_is_the_text_after_it() {
        let run = Run::new("session.sql", Some(PROMPTS[2]), 3);
        let rows = query(&run.db, SESSION).unwrap();
        // The record alone says the turn ended: its last step finished with "stop".
        let t = parse(&rows, None).unwrap();
        assert_eq!(t.turns, 2);
        // Two steps (the tool call, then the answer), each 10 in and 5 out.
        assert_answered(&t, "After the tool: **done**.\n\nSecond para.");
        assert_eq!(run.read().unwrap(), t);
    }

    #[test]
    fn a_failed_turn_ended_without_an_answer() {
        let run = Run::new("session.sql", Some(PROMPTS[3]), 5);
        let t = run.read().unwrap();
        assert_failed_third_turn(&t);
    }

    #[test]
    fn a_turn_in_progress_has_not_ended() {
        // Caught while the answer streamed (OpenCode stores a text part's text when it ends).
        let run = Run::new("in_progress.sql", None, 5);
        let t = run.read().unwrap();
        assert_eq!(t.turns, 4);
        assert!(!t.turn_ended);
        assert_eq!(t.answer, None);
        assert_eq!(t.last_usage, Usage::default());
    }

    #[test]
    fn an_interrupted_turn_ended_without_an_answer() {
        let run = Run::new("session.sql", None, 7);
        let t = run.read().unwrap();
        assert_eq!(t.turns, 4);
        assert!(t.turn_ended);
        // Its partial text is not an answer.
        assert_eq!(t.answer, None);
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    #[test]
    fn the_session_is_the_one_the_plugin_reported() {
        let run = Run::new("session.sql", None, 7);
        let hooks = run.files().run_dir.join(hooks::HOOKS_FILE);
        hooks::append(
            &run.files().run_dir,
            EVENT_START,
            r#"{"sessionID":"ses_other","event":"session.created","at":1}"#,
        )
        .unwrap();
        assert!(matches!(run.read(), Err(RecordError::Missing(_))));
        std::fs::write(&hooks, "").unwrap();
        assert!(matches!(run.read(), Err(RecordError::Missing(_))));
    }

    #[test]
    fn missing_and_refused_records() {
        let run = Run::new("session.sql", None, 7);
        let files = run.files();
        std::fs::remove_file(&run.db).unwrap();
        assert!(matches!(run.read(), Err(RecordError::Missing(_))));
        std::os::unix::fs::symlink("/etc/passwd", &run.db).unwrap();
        assert!(matches!(run.read(), Err(RecordError::Refused { .. })));
        std::fs::write(
            files.run_dir.join(LOCATION_FILE),
            serde_json::to_string(&Located { db: None }).unwrap(),
        )
        .unwrap();
        assert!(matches!(run.read(), Err(RecordError::Missing(_))));
        std::fs::remove_file(files.run_dir.join(LOCATION_FILE)).unwrap();
        assert!(matches!(run.read(), Err(RecordError::Missing(_))));
    }

    /// Rows of one turn: a prompt, then assistant messages `(data, parts)`.
    fn turn(replies: &[(&str, &[&str])]) -> Rows {
        let mut rows = Rows::default();
        rows.messages.push((
            "msg_1".into(),
            r#"{"role":"user","time":{"created":1000}}"#.into(),
        ));
        rows.parts
            .push(("msg_1".into(), r#"{"type":"text","text":"do it"}"#.into()));
        for (i, (data, parts)) in replies.iter().enumerate() {
            let id = format!("msg_{}", i + 2);
            rows.messages.push((id.clone(), data.to_string()));
            for p in *parts {
                rows.parts.push((id.clone(), p.to_string()));
            }
        }
        rows
    }

    const DONE: &str = r#"{"role":"assistant","time":{"created":1001,"completed":1002},"finish":"stop","tokens":{"total":9,"input":3,"output":4,"reasoning":2,"cache":{"read":7,"write":1}}}"#;
    const STEP: &str = r#"{"role":"assistant","time":{"created":1001,"completed":1002},"finish":"tool-calls","tokens":{"total":9,"input":3,"output":4,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    const RUNNING: &str = r#"{"role":"assistant","time":{"created":1001},"tokens":{"input":0,"output":0,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    const FINISHED: &str = r#"{"type":"step-finish","reason":"stop"}"#;
    const TOOL: &str = r#"{"type":"tool","tool":"bash","state":{"status":"completed"}}"#;

    #[test]
    fn the_answer_is_the_text_after_the_last_tool_call_joined_as_opencode_copies_it() {
        let rows = turn(&[(
            DONE,
            &[
                r#"{"type":"text","text":"Let me look."}"#,
                TOOL,
                r#"{"type":"text","text":"First half, "}"#,
                r#"{"type":"reasoning","text":"hmm"}"#,
                r#"{"type":"text","text":"added by OpenCode","synthetic":true}"#,
                r#"{"type":"text","text":"second half."}"#,
                FINISHED,
            ],
        )]);
        let t = parse(&rows, None).unwrap();
        assert_eq!(t.answer.as_deref(), Some("First half, second half."));
        // Input with the cached tokens (read and written), output with the reasoning.
        assert_eq!(t.last_usage, usage(11, 6, 7));
    }

    #[test]
    fn a_step_that_called_tools_does_not_end_the_turn() {
        let rows = turn(&[(STEP, &[TOOL, FINISHED])]);
        let t = parse(&rows, None).unwrap();
        assert!(!t.turn_ended);
        assert_eq!(t.answer, None);
        assert_eq!(t.last_usage, usage(3, 4, 0));
        // Unless the session went idle after the prompt (interrupted between steps).
        let t = parse(&rows, Some(1500)).unwrap();
        assert!(t.turn_ended);
        assert_eq!(t.answer, None);
        // An idle report from before the prompt is the previous turn's.
        assert!(!parse(&rows, Some(999)).unwrap().turn_ended);
    }

    #[test]
    fn a_turn_without_replies_or_with_a_running_step_has_not_ended() {
        let t = parse(&turn(&[]), None).unwrap();
        assert_eq!(t.turns, 1);
        assert!(!t.turn_ended);
        let t = parse(&turn(&[(RUNNING, &[r#"{"type":"text","text":""}"#])]), None).unwrap();
        assert!(!t.turn_ended);
        assert_eq!(t.last_usage, Usage::default());
        assert_eq!(
            parse(&Rows::default(), None).unwrap(),
            Transcript::default()
        );
    }

    #[test]
    fn prompts_opencode_added_itself_are_not_turns() {
        let mut rows = turn(&[(DONE, &[r#"{"type":"text","text":"Summary."}"#, FINISHED])]);
        rows.messages.push((
            "msg_9".into(),
            r#"{"role":"user","time":{"created":2000}}"#.into(),
        ));
        rows.parts.push((
            "msg_9".into(),
            r#"{"type":"text","text":"Continue","synthetic":true}"#.into(),
        ));
        let t = parse(&rows, None).unwrap();
        assert_eq!(t.turns, 1);
        assert!(!t.turn_ended);
    }

    #[test]
    fn a_corrupt_row_is_an_error() {
        let mut rows = turn(&[]);
        rows.messages.push(("msg_2".into(), "{not json".into()));
        assert!(parse(&rows, None).is_err());
    }

    #[test]
    fn the_database_is_where_opencode_looks_for_it() {
        use std::ffi::OsStr;
        let home = Path::new("/home/u");
        assert_eq!(
            database_path(None, None, Some(home)),
            Some(PathBuf::from("/home/u/.local/share/opencode/opencode.db"))
        );
        assert_eq!(
            database_path(None, Some(OsStr::new("/xdg")), Some(home)),
            Some(PathBuf::from("/xdg/opencode/opencode.db"))
        );
        assert_eq!(
            database_path(Some(OsStr::new("/db/oc.db")), None, None),
            Some(PathBuf::from("/db/oc.db"))
        );
        assert_eq!(
            database_path(Some(OsStr::new("other.db")), Some(OsStr::new("/xdg")), None),
            Some(PathBuf::from("/xdg/opencode/other.db"))
        );
        assert_eq!(
            database_path(Some(OsStr::new(":memory:")), None, Some(home)),
            None
        );
        assert_eq!(
            database_path(None, Some(OsStr::new("rel")), Some(home)),
            None
        );
        assert_eq!(database_path(None, None, None), None);
    }

    #[test]
    fn the_plugin_reports_to_cao_hook() {
        let start = vec!["/bin/cao".to_string(), "_hook".into(), "session".into()];
        let stop = vec!["/bin/cao".to_string(), "it's \"stop\"".into()];
        let source = plugin_source(&start, &stop);
        assert!(source.contains(r#"const START = ["/bin/cao","_hook","session"];"#));
        assert!(source.contains(r#"const STOP = ["/bin/cao","it's \"stop\""];"#));
        assert!(source.contains("export const CaoSessionRecord"));
        assert_eq!(
            file_url(Path::new("/tmp/a b/é.js")),
            "file:///tmp/a%20b/%C3%A9.js"
        );
    }
}
