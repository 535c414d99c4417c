//! Answers, turn ends and token usage: from the CLI's own session record when it keeps one
//! (exact text, the CLI's own word that a turn ended), else from the screen — and always
//! saying which, so a supervisor knows whether it holds the model's words or a rendering.

use serde::Serialize;

use super::{Engine, EngineError};
use crate::providers::{Provider, Status};
use crate::records::{RecordError, RecordFiles, Transcript, Usage};
use crate::store::TerminalRecord;

/// Where an answer was read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// The CLI's own session record: the text exactly as the model produced it.
    Record,
    /// The rendered screen (the CLI keeps no record cao can read, or it could not be read):
    /// markdown may be rendered, long lines wrapped, a long answer cut to the scrollback.
    Screen,
}

/// A terminal's last answer and what is known about it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer's text.
    pub text: String,
    /// Where it was read.
    pub source: AnswerSource,
    /// Token usage of the conversation so far, when the record has it.
    pub usage: Option<Usage>,
}

/// What the record says, read once per look: `None` when the CLI keeps no record.
pub(crate) type RecordRead = Option<Result<Transcript, RecordError>>;

impl Engine {
    /// Where a terminal's record may be.
    pub(crate) fn record_files(&self, record: &TerminalRecord) -> RecordFiles {
        RecordFiles {
            terminal_id: record.id.clone(),
            run_dir: self.run.terminal(&record.id),
            working_dir: record.working_dir.clone().into(),
            user_home: crate::env::non_empty(crate::env::HOME)
                .map(Into::into)
                .or_else(dirs::home_dir),
        }
    }

    /// Reads the terminal's record through its provider.
    pub(crate) fn read_record(
        &self,
        record: &TerminalRecord,
        provider: &dyn Provider,
    ) -> RecordRead {
        provider.transcript(&self.record_files(record))
    }

    /// The last answer: the record's when it has one for an ended turn, else the screen's
    /// (scrollback included), with the reason logged.
    pub(crate) fn answer_of(
        &self,
        record: &TerminalRecord,
        provider: &dyn Provider,
        read: &RecordRead,
    ) -> Result<Answer, EngineError> {
        let usage = usage_of(read);
        let why = match read {
            None => None,
            Some(Ok(t)) if t.turn_ended && t.answer.is_some() => {
                return Ok(Answer {
                    text: t.answer.clone().unwrap_or_default(),
                    source: AnswerSource::Record,
                    usage,
                });
            }
            Some(Ok(t)) if t.turns == 0 => Some("the record holds no turn yet".to_string()),
            Some(Ok(t)) if !t.turn_ended => Some("the record's last turn has not ended".into()),
            Some(Ok(_)) => Some("the record's last turn ended without an answer".into()),
            Some(Err(e)) => Some(e.to_string()),
        };
        if let Some(why) = why {
            tracing::info!(
                terminal = %record.id,
                provider = provider.name(),
                "answer read from the screen: {why}"
            );
        }
        let text = self.mux.capture_all(&record.pane_id)?;
        Ok(Answer {
            text: provider.last_response(&text)?,
            source: AnswerSource::Screen,
            usage,
        })
    }
}

/// The file in a terminal's run directory that notes the last turn cao typed: how many
/// turns the record held then, and when.
const TYPED_FILE: &str = "typed-turn.json";
/// How long a typed turn that the record does not show yet counts as running: long enough
/// for any CLI to write its prompt, short enough that a turn the CLI swallowed (typed into a
/// dialog, say) cannot keep the terminal `processing` for good.
const TYPED_AHEAD_FOR_MS: i64 = 30_000;

impl Engine {
    /// The record's turn count now (`None` for a CLI without a record), taken before cao
    /// types a turn so [`Engine::note_typed_turn`] can tell when the record shows it.
    pub(crate) fn record_turns(
        &self,
        record: &TerminalRecord,
        provider: &dyn Provider,
    ) -> Option<usize> {
        self.read_record(record, provider)
            .map(|read| read.map_or(0, |t| t.turns))
    }

    /// Notes that a turn was just typed into the terminal, whose record held `turns` turns
    /// before the typing.
    pub(crate) fn note_typed_turn(&self, record: &TerminalRecord, turns: Option<usize>) {
        let Some(turns) = turns else {
            return; // No record: the screen alone decides.
        };
        let note = serde_json::json!({"record_turns": turns, "at_ms": crate::store::now_ms()});
        let path = self.record_files(record).run_dir.join(TYPED_FILE);
        if let Err(e) = std::fs::write(&path, note.to_string()) {
            tracing::warn!(terminal = %record.id, "cannot note the typed turn: {e}");
        }
    }

    /// Whether cao typed a turn lately that the record does not show yet.
    pub(crate) fn typed_ahead(&self, record: &TerminalRecord, read: &RecordRead) -> bool {
        let Some(Ok(transcript)) = read else {
            return false;
        };
        let path = self.record_files(record).run_dir.join(TYPED_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return false;
        };
        let Ok(note) = serde_json::from_str::<serde_json::Value>(&text) else {
            return false;
        };
        let (Some(turns), Some(at)) = (note["record_turns"].as_u64(), note["at_ms"].as_i64())
        else {
            return false;
        };
        if transcript.turns as u64 > turns {
            // The record shows the typed turn: the note has done its work.
            let _ = std::fs::remove_file(self.record_files(record).run_dir.join(TYPED_FILE));
            return false;
        }
        // Equal, not fewer: a record that lost turns since (rewritten, cut) is not one to
        // wait on.
        transcript.turns as u64 == turns && crate::store::now_ms() - at < TYPED_AHEAD_FOR_MS
    }
}

/// The conversation's token usage when the record knows any of it.
pub(crate) fn usage_of(read: &RecordRead) -> Option<Usage> {
    match read {
        Some(Ok(t)) if t.total_usage.is_known() => Some(t.total_usage),
        _ => None,
    }
}

/// The status to report: the record decides whether a turn runs or ended; the screen
/// decides what only it shows (a question to the user, an error line, start-up). A record
/// that cannot be read leaves the screen's word. `typed_ahead`: cao typed a turn that the
/// record does not show yet (Claude Code writes a prompt to its transcript a few hundred ms
/// after it sent it): that turn runs, whatever the record's last turn says.
pub(crate) fn combined_status(screen: Status, read: &RecordRead, typed_ahead: bool) -> Status {
    let Some(Ok(transcript)) = read else {
        return screen;
    };
    match screen {
        Status::WaitingUserAnswer => screen,
        _ if typed_ahead => Status::Processing,
        _ if transcript.turns == 0 => screen,
        _ if !transcript.turn_ended => Status::Processing,
        Status::Error => Status::Error,
        _ if transcript.answer.is_none() && screen.accepts_input() => screen,
        _ => Status::Completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(answer: Option<&str>) -> RecordRead {
        Some(Ok(Transcript {
            turns: 1,
            turn_ended: true,
            answer: answer.map(str::to_owned),
            ..Transcript::default()
        }))
    }

    #[test]
    fn the_record_decides_turn_ends_and_the_screen_decides_questions() {
        let running = Some(Ok(Transcript {
            turns: 1,
            ..Transcript::default()
        }));
        // A screen that looks still while the record says the turn runs: still processing.
        assert_eq!(
            combined_status(Status::Completed, &running, false),
            Status::Processing
        );
        assert_eq!(
            combined_status(Status::Idle, &running, false),
            Status::Processing
        );
        // A screen that looks busy while the record says the turn ended: completed.
        assert_eq!(
            combined_status(Status::Processing, &ended(Some("x")), false),
            Status::Completed
        );
        assert_eq!(
            combined_status(Status::WaitingUserAnswer, &running, false),
            Status::WaitingUserAnswer
        );
        assert_eq!(
            combined_status(Status::Error, &ended(None), false),
            Status::Error
        );
        // No turn in the record, or no record: the screen's word.
        let empty = Some(Ok(Transcript::default()));
        assert_eq!(combined_status(Status::Idle, &empty, false), Status::Idle);
        assert_eq!(
            combined_status(Status::Processing, &None, false),
            Status::Processing
        );
        // A turn cao typed that the record does not show yet runs.
        assert_eq!(
            combined_status(Status::Completed, &ended(Some("old")), true),
            Status::Processing
        );
        let broken = Some(Err(RecordError::Missing("gone".into())));
        assert_eq!(
            combined_status(Status::Completed, &broken, false),
            Status::Completed
        );
    }
}
