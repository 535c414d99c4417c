//! The fake agent's session record (`tools/fake-agent/src/session.rs`): JSON lines
//! `{"type":"user","text"}`, `{"type":"assistant","text","usage"}` and
//! `{"type":"turn_end","outcome":"answered"|"failed"|"interrupted"}` in the terminal's run
//! directory, where cao told the agent to write it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{RecordError, RecordFiles, Transcript, Usage, count, json_lines, read_record};

/// The file name of the record in the terminal's run directory.
const RECORD_FILE: &str = "fake-session.jsonl";

/// Where the fake agent of the terminal whose run directory is `run_dir` keeps its record.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join(RECORD_FILE)
}

/// Reads the terminal's record.
pub fn read(files: &RecordFiles) -> Result<Transcript, RecordError> {
    let path = record_path(&files.run_dir);
    let text = read_record(&path, &files.run_dir)?;
    Ok(parse(&json_lines(&text, &path)?))
}

/// The transcript of the record's lines.
pub fn parse(lines: &[Value]) -> Transcript {
    let mut transcript = Transcript::default();
    for line in lines {
        match line.get("type").and_then(Value::as_str) {
            Some("user") => {
                transcript.turns += 1;
                transcript.turn_ended = false;
                transcript.answer = None;
                transcript.last_usage = Usage::default();
            }
            Some("assistant") => {
                transcript.answer = line.get("text").and_then(Value::as_str).map(str::to_owned);
                if let Some(usage) = line.get("usage") {
                    let usage = Usage {
                        input_tokens: count(usage, "input_tokens"),
                        output_tokens: count(usage, "output_tokens"),
                        cached_tokens: count(usage, "cached_tokens"),
                    };
                    transcript.last_usage = transcript.last_usage.add(usage);
                    transcript.total_usage = transcript.total_usage.add(usage);
                }
            }
            Some("turn_end") => {
                transcript.turn_ended = true;
                if line.get("outcome").and_then(Value::as_str) != Some("answered") {
                    transcript.answer = None;
                }
            }
            _ => {}
        }
    }
    transcript
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Value> {
        json_lines(text, Path::new("fake-session.jsonl")).unwrap()
    }

    #[test]
    fn an_answered_turn_gives_its_exact_text_and_usage() {
        let t = parse(&lines(concat!(
            r#"{"type":"user","text":"hi"}"#,
            "\n",
            r#"{"type":"assistant","text":"fake answer: hi\n```rust\nfn main() {}\n```","usage":{"input_tokens":1,"output_tokens":5,"cached_tokens":0}}"#,
            "\n",
            r#"{"type":"turn_end","outcome":"answered"}"#,
            "\n",
        )));
        assert_eq!(t.turns, 1);
        assert!(t.turn_ended);
        assert_eq!(
            t.answer.as_deref(),
            Some("fake answer: hi\n```rust\nfn main() {}\n```")
        );
        assert_eq!(t.total_usage.output_tokens, Some(5));
    }

    #[test]
    fn a_running_turn_is_not_ended_and_a_failed_one_has_no_answer() {
        let running = parse(&lines(concat!(
            r#"{"type":"user","text":"a"}"#,
            "\n",
            r#"{"type":"assistant","text":"x"}"#,
            "\n",
            r#"{"type":"turn_end","outcome":"answered"}"#,
            "\n",
            r#"{"type":"user","text":"b"}"#,
            "\n",
        )));
        assert_eq!(running.turns, 2);
        assert!(!running.turn_ended);
        assert_eq!(running.answer, None);
        let failed = parse(&lines(concat!(
            r#"{"type":"user","text":"a"}"#,
            "\n",
            r#"{"type":"turn_end","outcome":"failed"}"#,
            "\n",
        )));
        assert!(failed.turn_ended);
        assert_eq!(failed.answer, None);
        assert!(!failed.total_usage.is_known());
    }
}
