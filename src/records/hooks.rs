//! Turn-end hooks and notify commands: a CLI that has one runs `cao _hook ID` at the end of
//! each turn (and at other events it offers), and cao appends what the CLI reported to the
//! terminal's `hooks.jsonl`. The events say *that* a turn ended — the doorbell that wakes a
//! waiting handoff — and often *where* the CLI's record is (a transcript path, a thread id).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{RecordError, json_lines, read_record};

/// The file in a terminal's run directory that collects its hook events, one JSON line each.
pub const HOOKS_FILE: &str = "hooks.jsonl";
/// Largest payload kept from one hook call; longer ones are cut (the events cao needs are
/// small; a CLI that sends the whole conversation gets its head kept, marked as cut).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Largest `hooks.jsonl` cao appends to; past it new events are dropped with a warning
/// (a CLI stuck in a loop must not fill the disk).
pub const MAX_HOOKS_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The argv a CLI runs as its hook for terminal `terminal_id` (the CLI appends nothing or
/// its payload as a last argument; a payload on stdin is read as well).
pub fn hook_argv(cao_home: &Path, terminal_id: &str, event: &str) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "cao".into());
    vec![
        exe,
        "_hook".into(),
        "--home".into(),
        cao_home.display().to_string(),
        "--event".into(),
        event.into(),
        terminal_id.into(),
    ]
}

/// [`hook_argv`] as one `sh` command line, for CLIs that run hooks through a shell.
pub fn hook_command(cao_home: &Path, terminal_id: &str, event: &str) -> String {
    hook_argv(cao_home, terminal_id, event)
        .iter()
        .map(|arg| crate::mux::shell_quote(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One event as stored: what the hook was called for, when, and the CLI's payload (JSON
/// when it parsed as JSON, else the text).
pub fn append(run_dir: &Path, event: &str, payload: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = run_dir.join(HOOKS_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_HOOKS_FILE_BYTES) {
        tracing::warn!(
            "{} is over its size limit; hook event dropped",
            path.display()
        );
        return Ok(());
    }
    let mut payload = payload.trim();
    let mut cut = false;
    if payload.len() > MAX_PAYLOAD_BYTES {
        let mut end = MAX_PAYLOAD_BYTES;
        while !payload.is_char_boundary(end) {
            end -= 1;
        }
        payload = &payload[..end];
        cut = true;
    }
    let value = match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(v) if !cut => v,
        _ => serde_json::Value::String(payload.to_string()),
    };
    let line = serde_json::json!({
        "event": event,
        "at_ms": crate::store::now_ms(),
        "cut": cut,
        "payload": value,
    });
    let mut text = serde_json::to_string(&line).expect("a JSON value serializes");
    text.push('\n');
    // One write of one line with O_APPEND: concurrent hooks never interleave their lines.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    file.write_all(text.as_bytes())
}

/// The hook events of a terminal, oldest first (none when its CLI has run no hook yet).
pub fn events(run_dir: &Path) -> Result<Vec<HookEvent>, RecordError> {
    let path = run_dir.join(HOOKS_FILE);
    let text = match read_record(&path, run_dir) {
        Ok(text) => text,
        Err(RecordError::Missing(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(json_lines(&text, &path)?
        .into_iter()
        .map(|v| HookEvent {
            event: v
                .get("event")
                .and_then(|e| e.as_str())
                .unwrap_or_default()
                .to_string(),
            payload: v.get("payload").cloned().unwrap_or_default(),
        })
        .collect())
}

/// One hook call.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// The event name cao gave the hook (`stop`, `notify`, ...).
    pub event: String,
    /// What the CLI passed.
    pub payload: serde_json::Value,
}

impl HookEvent {
    /// A string field of the payload.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(|v| v.as_str())
    }
}

/// The path of `file` if it is a path string naming a file (used for a transcript path a
/// hook reported; [`read_record`] still checks where it leads).
pub fn path_field(event: &HookEvent, key: &str) -> Option<PathBuf> {
    event
        .field(key)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_commands_are_quoted_for_the_shell_and_session_ids_are_fresh_uuids() {
        let command = hook_command(Path::new("/opt/my cao"), "0a1b2c3d", "it's");
        assert!(
            command.ends_with(" '_hook' '--home' '/opt/my cao' '--event' 'it'\\''s' '0a1b2c3d'"),
            "{command}"
        );
        let (a, b) = (
            crate::records::new_session_id(),
            crate::records::new_session_id(),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }

    #[test]
    fn events_are_appended_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(events(dir.path()).unwrap().is_empty());
        append(dir.path(), "stop", r#"{"transcript_path":"/x/y.jsonl"}"#).unwrap();
        append(dir.path(), "notify", "not json").unwrap();
        let all = events(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].event, "stop");
        assert_eq!(
            path_field(&all[0], "transcript_path"),
            Some(PathBuf::from("/x/y.jsonl"))
        );
        assert_eq!(all[1].payload, serde_json::json!("not json"));
    }

    #[test]
    fn a_huge_payload_is_cut_not_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = format!("{{\"a\":\"{}\"}}", "é".repeat(MAX_PAYLOAD_BYTES));
        append(dir.path(), "stop", &big).unwrap();
        let all = events(dir.path()).unwrap();
        assert!(all[0].payload.as_str().unwrap().len() <= MAX_PAYLOAD_BYTES);
    }
}
