//! Each CLI's own record of a terminal's conversation — its transcript, rollout or chat
//! file, and the events its turn-end hook reports — read for what the screen cannot give
//! exactly: the final answer as the model wrote it (markdown, fences, long lines, any
//! length), whether the turn has ended, and token usage.
//!
//! Every record belongs to exactly one terminal: cao sets it up at launch in that
//! terminal's private files (its run directory, or a session id cao chose), never by
//! guessing the newest file in a shared folder. Reading is defensive: a record that is
//! missing, corrupt, cut mid-line, huge, or a symlink out of the places that terminal may
//! read is an error, and the caller falls back to the screen and says so.
//!
//! The parsers are pure functions of the record's text, one file per CLI, tested on
//! records the real CLIs wrote.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod claude_code;
pub mod codex;
pub mod copilot_cli;
pub mod fake;
pub mod gemini_cli;
pub mod hooks;
pub mod opencode;

/// Largest record file cao reads; past it cao falls back to the screen (a record this big
/// is not a conversation cao should parse on every wake-up).
pub const MAX_RECORD_BYTES: u64 = 32 * 1024 * 1024;

/// What a CLI's record says about a terminal's conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// User turns in the record (prompts the CLI took).
    pub turns: usize,
    /// Whether the latest turn has ended — finished, failed or interrupted — as the CLI
    /// recorded it. `false` while the model works, and when there is no turn yet.
    pub turn_ended: bool,
    /// The final assistant text of the latest ended turn, exactly as the model produced it
    /// (after tool calls: the text after the last one). `None` when the turn ended without
    /// text (an error, an interrupt) or no turn has ended.
    pub answer: Option<String>,
    /// Token usage of the latest turn.
    pub last_usage: Usage,
    /// Token usage of the whole conversation.
    pub total_usage: Usage,
}

/// Token counts as the CLI recorded them. Unknown is `None`, never 0.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Usage {
    /// Input (prompt) tokens, cached ones included.
    pub input_tokens: Option<u64>,
    /// Output (completion) tokens.
    pub output_tokens: Option<u64>,
    /// Input tokens served from the provider's cache.
    pub cached_tokens: Option<u64>,
}

impl Usage {
    /// `input/output` token counts as `cao list` and `cao tui` show them, `-` where unknown.
    pub fn label(usage: Option<&Usage>) -> String {
        let count = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        match usage {
            Some(u) => format!("{}/{}", count(u.input_tokens), count(u.output_tokens)),
            None => "-".into(),
        }
    }

    /// Whether any count is known.
    pub fn is_known(&self) -> bool {
        self.input_tokens.is_some() || self.output_tokens.is_some() || self.cached_tokens.is_some()
    }

    /// Field-wise sum; a field stays unknown only when it is unknown on both sides. An
    /// inherent method (not `std::ops::Add`), so the parsers need no trait import.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Usage) -> Usage {
        fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            }
        }
        Usage {
            input_tokens: sum(self.input_tokens, other.input_tokens),
            output_tokens: sum(self.output_tokens, other.output_tokens),
            cached_tokens: sum(self.cached_tokens, other.cached_tokens),
        }
    }
}

/// Where a terminal's record may be: what the reader of one CLI gets to find it.
#[derive(Debug, Clone)]
pub struct RecordFiles {
    /// The terminal's id.
    pub terminal_id: String,
    /// The terminal's private run directory (`CAO_HOME/run/ID`): the CLI's private
    /// configuration, the hook events (`hooks.jsonl`), and records cao placed there.
    pub run_dir: PathBuf,
    /// The directory the CLI started in.
    pub working_dir: PathBuf,
    /// The home directory the CLI runs with (`HOME` of the cao process that launched it),
    /// for CLIs whose record stays under the user's own data directory.
    pub user_home: Option<PathBuf>,
}

/// Why a record could not be used; the caller falls back to the screen.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Nothing recorded yet (or the CLI keeps it somewhere cao did not find).
    #[error("no session record found ({0})")]
    Missing(String),
    /// The file is there but cannot be read or parsed.
    #[error("the session record {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    /// The file is not one this terminal may read, or too big to read.
    #[error("the session record {path} was refused: {reason}")]
    Refused { path: PathBuf, reason: String },
}

impl RecordError {
    /// An unreadable-record error for `path`.
    pub fn unreadable(path: &Path, reason: impl std::fmt::Display) -> RecordError {
        RecordError::Unreadable {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// Reads a record file that must lie inside `root` (after resolving every symlink) and be a
/// regular file of at most [`MAX_RECORD_BYTES`]. Invalid UTF-8 is replaced, not fatal: a
/// record cut mid-character is still worth its complete lines.
pub fn read_record(path: &Path, root: &Path) -> Result<String, RecordError> {
    let refused = |reason: String| RecordError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::Missing(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Err(e) => return Err(RecordError::unreadable(path, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(refused("it is a symbolic link".into()));
    }
    if !meta.is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    let root = root.canonicalize().map_err(|e| {
        refused(format!(
            "its folder {} cannot be resolved: {e}",
            root.display()
        ))
    })?;
    let real = path
        .canonicalize()
        .map_err(|e| RecordError::unreadable(path, e))?;
    if !real.starts_with(&root) {
        return Err(refused(format!("it lies outside {}", root.display())));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(refused(format!(
            "it is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            meta.len()
        )));
    }
    let mut file = open_no_follow(&real).map_err(|e| RecordError::unreadable(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.by_ref()
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RecordError::unreadable(path, e))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(refused(format!(
            "it grew past the {MAX_RECORD_BYTES}-byte limit"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Opens a file for reading without following a symlink in its last component (a file
/// swapped for a link between the checks and the open is refused by the kernel).
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Complete JSON lines of a JSONL record, parsed; a last line cut mid-write (no newline
/// yet) is left for the next read, and a corrupt complete line is an error.
pub fn json_lines(text: &str, path: &Path) -> Result<Vec<serde_json::Value>, RecordError> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut values = Vec::new();
    for (number, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| {
            RecordError::unreadable(path, format!("line {} is not JSON: {e}", number + 1))
        })?;
        values.push(value);
    }
    // A last line without its newline may still be complete (some writers end without one).
    let tail = text[complete.len()..].trim();
    if !tail.is_empty()
        && let Ok(value) = serde_json::from_str(tail)
    {
        values.push(value);
    }
    Ok(values)
}

/// A fresh random session id (a version-4 UUID), for the CLIs that let cao choose the id of
/// the session a terminal records into.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A count from a JSON number field, if it is one.
pub fn count(value: &serde_json::Value, key: &str) -> Option<u64> {
    value.get(key).and_then(serde_json::Value::as_u64)
}

/// What the readers' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Transcript, Usage};

    /// The answer the scripted model gives after a tool call, in the fixtures whose second
    /// turn calls one.
    pub(crate) const AFTER_TOOL: &str = "After the tool: **done**\n\n- one\n- two";

    /// `t` shows the ended turn that answered `answer` with the scripted usage: 20 in and 10
    /// out for the turn (two model requests), 30 and 15 in all.
    pub(crate) fn assert_answered(t: &Transcript, answer: &str) {
        assert!(t.turn_ended, "{t:?}");
        assert_eq!(t.answer.as_deref(), Some(answer));
        assert_eq!(t.last_usage, usage(20, 10, 0));
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    /// `t` shows the scripted third turn, which failed: ended, no answer, no tokens counted
    /// in it, the first two turns' in all.
    pub(crate) fn assert_failed_third_turn(t: &Transcript) {
        assert_eq!((t.turns, t.turn_ended), (3, true), "{t:?}");
        assert_eq!(t.answer, None);
        assert_eq!(t.last_usage, Usage::default());
        assert_eq!(t.total_usage, usage(30, 15, 0));
    }

    /// Usage with all three counts known.
    pub(crate) fn usage(input: u64, output: u64, cached: u64) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            cached_tokens: Some(cached),
        }
    }

    /// The first `n` lines of `text`, each with its newline: the record as it stood then.
    pub(crate) fn first_lines(text: &str, n: usize) -> String {
        text.split_inclusive('\n').take(n).collect()
    }

    /// The line number (1-based) of the first line of `text` containing `needle`.
    pub(crate) fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_field_wise_and_keeps_unknown_unknown() {
        let a = Usage {
            input_tokens: Some(10),
            output_tokens: None,
            cached_tokens: None,
        };
        let b = Usage {
            input_tokens: Some(5),
            output_tokens: Some(2),
            cached_tokens: None,
        };
        let sum = a.add(b);
        assert_eq!(sum.input_tokens, Some(15));
        assert_eq!(sum.output_tokens, Some(2));
        assert_eq!(sum.cached_tokens, None);
        assert!(!Usage::default().is_known());
    }

    #[test]
    fn records_outside_the_root_or_behind_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        std::fs::create_dir_all(&root).unwrap();
        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, "secret\n").unwrap();
        let inside = root.join("record.jsonl");
        std::fs::write(&inside, "{}\n").unwrap();
        assert_eq!(read_record(&inside, &root).unwrap(), "{}\n");

        let link = root.join("link.jsonl");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(matches!(
            read_record(&link, &root),
            Err(RecordError::Refused { .. })
        ));
        assert!(matches!(
            read_record(&outside, &root),
            Err(RecordError::Refused { .. })
        ));
        assert!(matches!(
            read_record(&root.join("none.jsonl"), &root),
            Err(RecordError::Missing(_))
        ));
    }

    #[test]
    fn oversized_records_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.jsonl");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_RECORD_BYTES + 1).unwrap();
        assert!(matches!(
            read_record(&big, dir.path()),
            Err(RecordError::Refused { .. })
        ));
    }

    #[test]
    fn json_lines_leave_a_cut_last_line_and_reject_corrupt_ones() {
        let path = Path::new("r.jsonl");
        let values = json_lines("{\"a\":1}\n{\"b\":", path).unwrap();
        assert_eq!(values.len(), 1);
        let values = json_lines("{\"a\":1}\n{\"b\":2}", path).unwrap();
        assert_eq!(values.len(), 2);
        assert!(json_lines("{\"a\":1}\nnot json\n{}\n", path).is_err());
    }
}
