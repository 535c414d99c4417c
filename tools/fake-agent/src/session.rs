//! The agent's own session record, kept the way real CLIs keep theirs: one JSON line per
//! event (`user`, `assistant` with token usage, `turn_end` with how the turn ended) in the
//! file given by `--session-record`, and a turn-end hook (`--stop-hook`, a JSON argv) run
//! after each turn with `{"session_record": PATH}` on its stdin, as Claude Code runs its
//! Stop hook. cao reads this record for exact answers; the screen stays what users see.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde_json::json;

/// Where the record goes and what runs when a turn ends.
#[derive(Debug, Clone, Default)]
pub struct SessionRecord {
    /// The JSONL file, if any.
    pub path: Option<String>,
    /// The turn-end hook's argv, if any.
    pub stop_hook: Option<Vec<String>>,
}

/// How a turn ended, as written in its `turn_end` line.
#[derive(Debug, Clone, Copy)]
pub enum TurnEnd {
    /// An answer was given.
    Answered,
    /// `[[fail]]`.
    Failed,
    /// Escape or Ctrl-C.
    Interrupted,
}

impl SessionRecord {
    /// Notes a submitted input that starts a turn — `CAO_FAKE_RECORD_LAG_MS` later, when set,
    /// as Claude Code writes a prompt to its transcript only after it has sent it.
    pub fn user(&self, text: &str) -> Result<()> {
        let line = json!({"type": "user", "text": text});
        let lag = std::env::var("CAO_FAKE_RECORD_LAG_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if lag == 0 {
            return self.write(line);
        }
        let this = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(lag));
            let _ = this.write(line);
        });
        Ok(())
    }

    /// Notes the answer of a turn, with made-up but stable token counts (a word a token).
    pub fn assistant(&self, prompt: &str, text: &str) -> Result<()> {
        let tokens = |s: &str| s.split_whitespace().count() as u64;
        self.write(json!({
            "type": "assistant",
            "text": text,
            "usage": {"input_tokens": tokens(prompt), "output_tokens": tokens(text), "cached_tokens": 0},
        }))
    }

    /// Notes the end of a turn and runs the stop hook.
    pub fn turn_end(&self, how: TurnEnd) -> Result<()> {
        let outcome = match how {
            TurnEnd::Answered => "answered",
            TurnEnd::Failed => "failed",
            TurnEnd::Interrupted => "interrupted",
        };
        self.write(json!({"type": "turn_end", "outcome": outcome}))?;
        self.run_stop_hook();
        Ok(())
    }

    fn write(&self, line: serde_json::Value) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the session record {path:?}"))?;
        file.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Runs the hook in the background with its payload on stdin; a failing hook is the
    /// hook's business, as in real CLIs.
    fn run_stop_hook(&self) {
        let Some((program, args)) = self.stop_hook.as_ref().and_then(|a| a.split_first()) else {
            return;
        };
        let payload = json!({"session_record": self.path}).to_string();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            std::thread::spawn(move || {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(payload.as_bytes());
                }
                let _ = child.wait();
            });
        }
    }
}
