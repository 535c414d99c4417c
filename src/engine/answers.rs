//! Answers, turn ends and token usage: from the CLI's own session record when it keeps one
//! (exact text, the CLI's own word that a turn ended), else from the screen — and always
//! saying which, so a supervisor knows whether it holds the model's words or a rendering.

use serde::Serialize;

use super::{Engine, EngineError};
use crate::providers::{Provider, Status};
use crate::records::{RecordError, RecordFiles, Transcript, Usage};
use crate::store::TerminalRecord;

/// Where an answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
            run_dir: self.home.join("run").join(&record.id),
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
        let text = self.tmux.capture_all(&record.pane_id)?;
        Ok(Answer {
            text: provider.last_response(&text)?,
            source: AnswerSource::Screen,
            usage,
        })
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
/// that cannot be read leaves the screen's word.
pub(crate) fn combined_status(screen: Status, read: &RecordRead) -> Status {
    let Some(Ok(transcript)) = read else {
        return screen;
    };
    match screen {
        Status::WaitingUserAnswer => screen,
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
            combined_status(Status::Completed, &running),
            Status::Processing
        );
        assert_eq!(combined_status(Status::Idle, &running), Status::Processing);
        // A screen that looks busy while the record says the turn ended: completed.
        assert_eq!(
            combined_status(Status::Processing, &ended(Some("x"))),
            Status::Completed
        );
        assert_eq!(
            combined_status(Status::WaitingUserAnswer, &running),
            Status::WaitingUserAnswer
        );
        assert_eq!(
            combined_status(Status::Error, &ended(None)),
            Status::Error
        );
        // No turn in the record, or no record: the screen's word.
        let empty = Some(Ok(Transcript::default()));
        assert_eq!(combined_status(Status::Idle, &empty), Status::Idle);
        assert_eq!(combined_status(Status::Processing, &None), Status::Processing);
        let broken = Some(Err(RecordError::Missing("gone".into())));
        assert_eq!(combined_status(Status::Completed, &broken), Status::Completed);
    }
}
