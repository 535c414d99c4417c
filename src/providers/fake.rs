//! The `fake` provider drives `cao-fake-agent` (in `tools/fake-agent`), a scripted TUI agent
//! with no model: what the tests, demos and benchmarks run.
//!
//! Its screen: a banner, a `fake> ` prompt, `* working (esc to interrupt)` while busy, answers
//! as `● first line` + two-space indented lines, then `✓ done in 0.05s`; failures as
//! `✗ error: ...` or `✗ interrupted`; a question as `? ... (y/n)`. With
//! `CAO_FAKE_DIALOGS=1` it starts with two dialogs, each a title, numbered options and
//! `Press 1 or 2`.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit, find_on_path,
    is_executable, lines_from_bottom,
};
use crate::env;
use crate::records::{self, RecordError, RecordFiles, Transcript, hooks};

/// The fake agent's provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fake;

const PROGRAM: &str = "cao-fake-agent";
const PROMPT: &str = "fake>";
const BUSY: &str = "(esc to interrupt)";
const ANSWER: &str = "● ";
const DONE: &str = "✓ done";
const FAILED: &str = "✗ ";
const CONTINUATION: &str = "....  ";
/// What the `[[ask]]` question line starts with.
const QUESTION: &str = "? ";
/// The start-up dialogs' titles and the key that answers each.
const DIALOGS: &[(&str, &[&str])] = &[
    ("Do you trust the files in this folder?", &["1"]),
    ("Run in bypass-permissions mode?", &["2"]),
];
/// The last line of a dialog screen.
const DIALOG_FOOTER: &str = "Press 1 or 2";

impl Provider for Fake {
    fn id(&self) -> ProviderId {
        ProviderId::Fake
    }

    fn executable(&self) -> Result<PathBuf, ProviderError> {
        if let Some(path) = env::non_empty(self.executable_var()) {
            return Ok(PathBuf::from(path));
        }
        // Built with the workspace: next to `cao` (or one level up, for test binaries in deps/).
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1).take(2) {
                let candidate = dir.join(PROGRAM);
                if is_executable(&candidate) {
                    return Ok(candidate);
                }
            }
        }
        find_on_path(PROGRAM).ok_or(ProviderError::NotInstalled {
            provider: "fake",
            program: PROGRAM,
            hint: "; build it with `cargo build --workspace` (it lands next to cao) or set CAO_FAKE_AGENT".into(),
        })
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        let mcp = serde_json::json!({ "mcpServers": spec.mcp_servers });
        Ok(vec![
            "--profile".into(),
            spec.agent.name.clone(),
            "--mcp-config".into(),
            mcp.to_string(),
            "--session-record".into(),
            records::fake::record_path(spec.scratch_dir)
                .display()
                .to_string(),
            "--stop-hook".into(),
            serde_json::to_string(&hooks::hook_argv(spec.cao_home, spec.terminal_id, "stop"))
                .expect("an argv serializes"),
        ])
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(records::fake::read(files))
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        // Only a dialog at the bottom counts: the title is five lines above the footer.
        let mut lines = lines_from_bottom(screen);
        if lines.next()?.trim_end() != DIALOG_FOOTER {
            return None;
        }
        let title = lines.nth(4)?.trim_end();
        DIALOGS
            .iter()
            .find(|(t, _)| *t == title)
            .map(|(_, keys)| *keys)
    }

    fn question(&self, screen: &str) -> Option<Question> {
        // The question is the last line; the reply is typed after it.
        asking(lines_from_bottom(screen).next()?).map(Question::line)
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        // The prompt line is the last one; typed text follows `fake> ` (and continues on
        // `....  ` lines).
        lines_from_bottom(screen)
            .next()
            .is_some_and(|last| last.trim_end() == PROMPT)
    }

    fn status(&self, screen: &str) -> Status {
        let mut lines = lines_from_bottom(screen).skip_while(|l| l.starts_with(CONTINUATION));
        let Some(last) = lines.next() else {
            return Status::Processing;
        };
        if last.contains(BUSY) {
            return Status::Processing;
        }
        if asking(last).is_some() {
            return Status::WaitingUserAnswer;
        }
        if !last.starts_with(PROMPT) {
            return Status::Processing;
        }
        for line in lines {
            if line.starts_with(DONE) {
                return Status::Completed;
            }
            if line.starts_with(FAILED) {
                return Status::Error;
            }
            if line.starts_with(PROMPT) || line.starts_with(ANSWER) {
                break;
            }
        }
        Status::Idle
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines: Vec<&str> = screen.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| l.starts_with(ANSWER))
            .ok_or(ProviderError::NoAnswer { provider: "fake" })?;
        let mut answer = vec![&lines[start][ANSWER.len()..]];
        for line in &lines[start + 1..] {
            if line.starts_with(DONE) {
                break;
            }
            answer.push(line.strip_prefix("  ").unwrap_or(line));
        }
        Ok(answer.join("\n").trim_end().to_string())
    }

    fn submit(&self) -> Submit {
        let enters = env::non_empty(env::CAO_FAKE_ENTERS)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1u8)
            .clamp(1, 2);
        let pause_ms = env::non_empty(env::CAO_FAKE_SUBMIT_PAUSE_MS)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0u64)
            .min(5_000);
        Submit {
            enters,
            pause: Duration::from_millis(pause_ms),
        }
    }
}

/// The question on `line`, when it is the `? ... (y/n)` line the agent waits on.
fn asking(line: &str) -> Option<&str> {
    let question = line.strip_prefix(QUESTION)?.trim_end();
    question.ends_with("(y/n)").then_some(question)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &str = "cao fake agent · profile developer\ntype /exit to quit\n\n";

    #[test]
    fn fresh_prompt_is_idle() {
        assert_eq!(Fake.status(&format!("{BANNER}fake> \n\n\n")), Status::Idle);
        assert_eq!(
            Fake.status(&format!("{BANNER}fake> typing\n")),
            Status::Idle
        );
    }

    #[test]
    fn working_line_is_processing_even_below_an_old_answer() {
        let screen = format!(
            "{BANNER}fake> a\n● fake answer: a\n✓ done in 0.05s\n\nfake> b\n* working (esc to interrupt)\n"
        );
        assert_eq!(Fake.status(&screen), Status::Processing);
    }

    #[test]
    fn answer_then_prompt_is_completed_and_extracted_whole() {
        let screen = format!(
            "{BANNER}fake> x\n● fake answer: line one\n  \n  line three\n✓ done in 0.05s\n\nfake> \n"
        );
        assert_eq!(Fake.status(&screen), Status::Completed);
        assert_eq!(
            Fake.last_response(&screen).unwrap(),
            "fake answer: line one\n\nline three"
        );
    }

    #[test]
    fn error_question_and_startup() {
        let err = format!("{BANNER}fake> x\n✗ error: simulated failure\n\nfake> \n");
        assert_eq!(Fake.status(&err), Status::Error);
        let ask = format!("{BANNER}fake> x\n? Proceed with the change? (y/n)\n");
        assert_eq!(Fake.status(&ask), Status::WaitingUserAnswer);
        let question = Fake.question(&ask).expect("the question");
        assert_eq!(question.summary(), "Proceed with the change? (y/n)");
        assert_eq!(question.layout, crate::providers::Layout::Line);
        assert_eq!(Fake.question(&err), None);
        assert_eq!(Fake.status(""), Status::Processing);
        assert!(Fake.last_response(BANNER).is_err());
    }

    #[test]
    fn the_input_box_is_empty_only_at_a_bare_prompt() {
        assert!(Fake.input_is_empty(&format!("{BANNER}fake> \n\n")));
        assert!(!Fake.input_is_empty(&format!("{BANNER}fake> half typed\n")));
        assert!(!Fake.input_is_empty(&format!("{BANNER}fake> a\n....  b\n")));
    }

    #[test]
    fn typed_multiline_input_keeps_status() {
        let screen = format!(
            "{BANNER}fake> a\n● fake answer: a\n✓ done in 0.05s\n\nfake> first\n....  second\n"
        );
        assert_eq!(Fake.status(&screen), Status::Completed);
    }
}
