//! Questions a worker asks its user (a permission, a y/n, a numbered choice): what its
//! screen shows, and typing the answer a supervisor gives — only while it is asking, so an
//! answer can never land in a working agent's input.

use std::time::Duration;

use super::inbox::DeliveryLock;
use super::{Engine, EngineError, answers, check_message, validate_terminal_id};
use crate::env;
use crate::providers::{self, Layout, Provider, Question, Reply, Status};
use crate::store::{TerminalKind, TerminalRecord};

/// How long a handoff waits on a worker asking its user something before it fails with the
/// question (the worker stays, to be answered and read later); `CAO_ANSWER_GRACE` changes it.
const ANSWER_GRACE: Duration = Duration::from_secs(30);
/// How long an answer's typist watches the screen for the CLI to take the answer.
const TAKEN_WAIT: Duration = Duration::from_secs(3);
/// How often it looks.
const TAKEN_POLL: Duration = Duration::from_millis(50);
/// Pause between the keys of an answer: a TUI that reads an arrow key and Enter in one
/// write may take them for one unknown key.
const ANSWER_KEY_GAP: Duration = Duration::from_millis(120);
/// How long the typist waits for the screen to show the cursor moved by an arrow key.
const CURSOR_WAIT: Duration = Duration::from_secs(2);
/// Largest answer (bytes): answers are a choice or a few words.
const MAX_ANSWER_BYTES: usize = 2000;
/// Screen lines shown as the question when the provider cannot read it.
const FALLBACK_LINES: usize = 4;

/// An answered question.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The terminal that was asking.
    pub terminal_id: String,
    /// What it asked, on one line.
    pub question: String,
    /// What was given: the text typed, or the choice picked (`1. Yes`).
    pub typed: String,
    /// Its status once it took the answer (or a few seconds later).
    pub status: Status,
    /// The question it asks next, when the answer led to another (a confirmation).
    pub next_question: Option<String>,
}

impl Engine {
    /// Presses `keys` (arrow keys, then Enter) to pick `choice` of `question`. After each
    /// arrow key it waits for the screen to show the cursor on the next choice, so the CLI
    /// has drawn the move before Enter comes (Gemini CLI drops an Enter that arrives while
    /// it redraws); a screen that never shows the cursor gets the keys a gap apart.
    fn pick_choice(
        &self,
        record: &TerminalRecord,
        provider: &dyn Provider,
        question: &Question,
        keys: &[&'static str],
        choice: usize,
    ) -> Result<(), EngineError> {
        let Some((enter, arrows)) = keys.split_last() else {
            return Ok(());
        };
        // A row of buttons (OpenCode's) shows the selected one only in colour, which the
        // captured text does not carry: there is no cursor to watch.
        let watch = question.layout != Layout::Horizontal;
        let mut at = question.selected;
        for key in arrows {
            self.mux.send_keys(&record.pane_id, &[key])?;
            at = if choice > at { at + 1 } else { at - 1 };
            let deadline = self.clock.now() + if watch { CURSOR_WAIT } else { Duration::ZERO };
            self.wait_until(deadline, TAKEN_POLL, None, || {
                if !watch {
                    return Ok(Some(()));
                }
                let Some(screen) = self.screen(record)? else {
                    return Ok::<_, EngineError>(Some(()));
                };
                let moved = provider.question(&screen).is_some_and(|q| q.selected == at);
                Ok(moved.then_some(()))
            })?;
            self.clock.pause(ANSWER_KEY_GAP, None);
        }
        self.mux.send_keys(&record.pane_id, &[enter])?;
        Ok(())
    }
}

/// The grace of a handoff whose worker waits for an answer.
pub(super) fn grace() -> Duration {
    env::non_empty(env::CAO_ANSWER_GRACE)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(ANSWER_GRACE, Duration::from_secs)
}

/// The question on `screen`, on one line: the provider's reading, else the screen's last
/// lines (so a supervisor still sees what is asked).
pub(super) fn asked(provider: &dyn Provider, screen: &str) -> String {
    if let Some(question) = provider.question(screen) {
        return question.summary();
    }
    let tail: Vec<&str> = providers::lines_from_bottom(screen)
        .filter(|l| !l.trim().is_empty())
        .take(FALLBACK_LINES)
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    providers::Question::line(&tail.join("\n")).summary()
}

impl Engine {
    /// Answers the question on a waiting terminal's screen (`answer_user_prompt`, `cao
    /// answer`): under the terminal's typing lock the screen is read again, and unless it
    /// shows a question cao can answer, nothing is typed. The answer is typed the provider's
    /// way (a line and Enter, or arrow keys to the named choice and Enter); then the screen
    /// is watched a moment for the CLI to take it.
    pub fn answer_user_prompt(
        &self,
        caller: Option<&TerminalRecord>,
        id: &str,
        answer: &str,
    ) -> Result<Answered, EngineError> {
        validate_terminal_id(id)?;
        if caller.is_some_and(|c| c.id == id) {
            return Err(EngineError::AnswerSelf(id.to_string()));
        }
        check_message(answer)?;
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(EngineError::MessageTooLarge {
                len: answer.len(),
                max: MAX_ANSWER_BYTES,
            });
        }
        let record = self.terminal(id)?;
        let cannot = |reason: &str| EngineError::CannotAnswer {
            id: id.to_string(),
            reason: reason.to_string(),
        };
        match record.kind {
            TerminalKind::Created => {}
            TerminalKind::Adopted => {
                return Err(cannot(
                    "it is a pane cao adopted (a supervisor you started yourself): answer at its keyboard",
                ));
            }
            TerminalKind::Mailbox | TerminalKind::Relay => {
                return Err(cannot(
                    "it has no screen here (a caller outside tmux, or a terminal on another machine)",
                ));
            }
        }
        let provider = providers::get(&record.provider)?;
        let lock = DeliveryLock::acquire(self, id)?;
        let Some(screen) = self.screen(&record)? else {
            return Err(self.exited(&record, "before it was answered"));
        };
        let status = provider.status(&screen);
        if status != Status::WaitingUserAnswer {
            let read = self.read_record(&record, provider);
            return Err(EngineError::NotWaiting {
                id: id.to_string(),
                status: answers::combined_status(status, &read, self.typed_ahead(&record, &read)),
            });
        }
        if provider.startup_keys(&screen).is_some() {
            return Err(cannot(
                "on a start-up dialog, which cao answers itself; look again in a moment",
            ));
        }
        let question = provider.question(&screen).ok_or_else(|| {
            cannot("cao cannot read this question's choices on its screen; answer it in its tmux window")
        })?;
        let reply = question.reply(answer).map_err(|reason| cannot(&reason))?;
        let typed = match &reply {
            Reply::Text(text) => {
                self.mux.paste(&record.pane_id, text, &["Enter"])?;
                text.clone()
            }
            Reply::Keys { keys, choice } => {
                self.pick_choice(&record, provider, &question, keys, *choice)?;
                format!("{}. {}", choice + 1, question.options[*choice])
            }
        };
        tracing::info!(terminal = %id, provider = provider.name(), "question answered");
        let summary = question.summary();
        let mut status = Status::WaitingUserAnswer;
        let taken = |status: &mut Status| -> Result<bool, EngineError> {
            let Some(screen) = self.screen(&record)? else {
                return Ok(true);
            };
            *status = provider.status(&screen);
            Ok(*status != Status::WaitingUserAnswer || asked(provider, &screen) != summary)
        };
        let waited = self.wait_until(self.clock.now() + TAKEN_WAIT, TAKEN_POLL, None, || {
            Ok::<_, EngineError>(taken(&mut status)?.then_some(()))
        })?;
        if waited.is_none() && matches!(reply, Reply::Keys { .. }) && !taken(&mut status)? {
            // The same question, the cursor on the choice: the CLI let the Enter go by while
            // it redrew after the last arrow key. Pressing it again picks the same choice.
            tracing::debug!(terminal = %id, "answer not taken; pressing Enter once more");
            self.mux.send_keys(&record.pane_id, &["Enter"])?;
            self.wait_until(self.clock.now() + TAKEN_WAIT, TAKEN_POLL, None, || {
                Ok::<_, EngineError>(taken(&mut status)?.then_some(()))
            })?;
        }
        drop(lock);
        let next_question = match status {
            Status::WaitingUserAnswer => self
                .screen(&record)?
                .map(|screen| asked(provider, &screen))
                .filter(|next| *next != summary),
            _ => None,
        };
        Ok(Answered {
            terminal_id: id.to_string(),
            question: summary,
            typed,
            status,
            next_question,
        })
    }
}
