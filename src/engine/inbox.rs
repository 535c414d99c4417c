//! Typing inbox messages into their receiver, exactly once and in order.
//!
//! The pane's watcher does the typing: `send_message` and `handoff` ring its doorbell (see
//! `watcher::ring`) and deliver themselves only when no watcher listens; `cao send` delivers
//! itself. A per-receiver file lock serializes deliverers so order holds; messages are claimed
//! in a transaction before they are typed, and the outcome is recorded after, so no message is
//! typed twice. A deliverer that dies (or fails) holding claims leaves them behind; the next
//! one puts those it had not begun to type back in the queue, and marks the others failed
//! (they may be partly typed) rather than retype or hide them.
//!
//! Several waiting messages are typed as one turn, each under a header naming its sender; a
//! lone message is typed exactly as sent.

use std::fs::{File, TryLockError};
use std::time::Duration;

use super::{Clock, Engine, EngineError, wait};
use crate::mux::MuxError;
use crate::providers::{self, Status};
use crate::store::{Message, TerminalKind, TerminalRecord};

/// What one delivery attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing was waiting.
    Nothing,
    /// The receiver is busy (or starting): the messages wait for it to become idle.
    NotReady(Status),
    /// These message ids were typed as one turn.
    Delivered(Vec<i64>),
}

/// Exclusive per-receiver delivery lock, released on drop (or when the process dies).
pub(super) struct DeliveryLock(File);

impl DeliveryLock {
    /// Takes the terminal's lock: held by whoever types into it (a delivery, a dialog's or a
    /// question's answer), so two typists never interleave.
    pub(super) fn acquire(engine: &Engine, receiver: &str) -> Result<DeliveryLock, EngineError> {
        let path = engine.run_dir()?.lock(receiver);
        DeliveryLock::acquire_at(engine.clock.as_ref(), &path, receiver, LOCK_WAIT)
    }

    fn acquire_at(
        clock: &dyn Clock,
        path: &std::path::Path,
        receiver: &str,
        patience: Duration,
    ) -> Result<DeliveryLock, EngineError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| EngineError::Io {
                what: format!("cannot open {}", path.display()),
                source,
            })?;
        // Holders keep it for one delivery (a capture, a paste, a few seconds at most to see
        // the turn taken). A holder that is stopped, not dead, would keep it forever: give up
        // after LOCK_WAIT rather than hang; the messages stay queued for the next try.
        let locked = wait::wait_until(clock, clock.now() + patience, LOCK_POLL, None, || {
            // An exclusive flock(2) on Unix, as other cao processes take it.
            match file.try_lock() {
                Ok(()) => Ok(Some(())),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(source)) => Err(EngineError::Io {
                    what: format!("cannot lock {}", path.display()),
                    source,
                }),
            }
        })?;
        match locked {
            Some(()) => Ok(DeliveryLock(file)),
            None => Err(EngineError::Timeout {
                id: receiver.to_string(),
                seconds: patience.as_secs(),
                what: "be free of another cao process typing into it",
            }),
        }
    }
}

impl Drop for DeliveryLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// How long after typing cao watches for the CLI to take the turn before pressing Enter once
/// more (some CLIs swallow an Enter that follows a paste too closely).
const SUBMIT_CONFIRM: Duration = Duration::from_millis(1500);
/// How long a dialog screen that was answered is left alone to react before it is answered
/// again: a CLI may take a moment to repaint after the keys, and a second press would land on
/// whatever comes next (often another dialog, whose default may be "exit").
const DIALOG_PATIENCE: Duration = Duration::from_secs(2);

/// Longest wait for another process's delivery to the same terminal to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Retry interval while that lock is held.
const LOCK_POLL: Duration = Duration::from_millis(2);

/// Screen re-read interval while confirming a submission.
const CONFIRM_POLL: Duration = Duration::from_millis(10);

impl Engine {
    /// Answers the start-up dialog on the terminal's screen, once, whichever cao process asks
    /// (its watcher, `cao launch` waiting for it, a handoff): under the terminal's lock, the
    /// screen is read again, and a dialog screen answered in the last [`DIALOG_PATIENCE`] (by
    /// anyone: the answer is noted in the run directory) is left alone.
    pub(super) fn answer_dialog(
        &self,
        record: &TerminalRecord,
        provider: &dyn providers::Provider,
    ) -> Result<(), EngineError> {
        let _lock = DeliveryLock::acquire(self, &record.id)?;
        let Some(screen) = self.screen(record)? else {
            return Ok(());
        };
        let Some(keys) = provider.startup_keys(&screen) else {
            return Ok(());
        };
        let note = self.run_dir()?.dialog_note(&record.id);
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            screen.hash(&mut h);
            h.finish()
        };
        let now = crate::store::now_ms();
        let answered_recently = std::fs::read_to_string(&note).ok().is_some_and(|text| {
            let mut parts = text.split_whitespace();
            parts.next().and_then(|f| f.parse::<u64>().ok()) == Some(fingerprint)
                && parts
                    .next()
                    .and_then(|t| t.parse::<i64>().ok())
                    .is_some_and(|at| now - at < DIALOG_PATIENCE.as_millis() as i64)
        });
        if answered_recently {
            return Ok(());
        }
        self.mux.send_keys(&record.pane_id, keys)?;
        let _ = std::fs::write(&note, format!("{fingerprint} {now}"));
        Ok(())
    }

    /// Types every pending message of `receiver` if its CLI is ready for input.
    pub fn deliver(&self, receiver: &str) -> Result<Delivery, EngineError> {
        if !self.store().has_undelivered(receiver)? {
            return Ok(Delivery::Nothing);
        }
        let record = self.terminal(receiver)?;
        if !record.kind.has_pane() {
            return Ok(Delivery::Nothing); // Collected by its owner, never typed.
        }
        let provider = providers::get(&record.provider)?;
        let _lock = DeliveryLock::acquire(self, receiver)?;
        let (requeued, failed) = self.store().recover_interrupted_claims(receiver)?;
        if requeued + failed > 0 {
            tracing::warn!(
                receiver,
                requeued,
                failed,
                "a deliverer died holding messages"
            );
        }
        let Some(screen) = self.screen(&record)? else {
            return Err(self.exited(&record, "before its messages could be delivered"));
        };
        let status = provider.status(&screen);
        if !status.accepts_input() || provider.startup_keys(&screen).is_some() {
            return Ok(Delivery::NotReady(status));
        }
        // A pane cao adopted has a user at its keyboard: never type over their half-typed
        // input. The output of their typing wakes the watcher, which looks again.
        if record.kind == TerminalKind::Adopted && !provider.input_is_empty(&screen) {
            return Ok(Delivery::NotReady(status));
        }
        let messages = self.store().claim_pending(receiver)?;
        if messages.is_empty() {
            return Ok(Delivery::Nothing);
        }
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        let text = compose(&messages);
        self.store().mark_typing(&ids)?;
        let turns_before = self.record_turns(&record, provider);
        match self.type_turn(&record.pane_id, &text, provider) {
            Ok(()) => {
                self.store().finish_delivery(&ids, None)?;
                self.store().touch_terminal(receiver)?;
                self.note_typed_turn(&record, turns_before);
                // Still under the lock: the next delivery must not type into an input box
                // whose text the CLI has not taken yet.
                self.confirm_submitted(&record.pane_id, provider, &screen);
                // Logged here, whoever typed (the watcher, or a handoff when no watcher
                // listened yet).
                tracing::debug!(terminal = %receiver, ?ids, "delivered");
                Ok(Delivery::Delivered(ids))
            }
            Err(e) => {
                let reason = format!("typing into the terminal failed: {e}");
                self.store().finish_delivery(&ids, Some(&reason))?;
                Err(e.into())
            }
        }
    }

    /// Types `text` as one bracketed paste and submits it the provider's way (Enter count,
    /// and a pause before Enter for CLIs that take a fast Enter after a paste as a newline).
    pub(super) fn type_turn(
        &self,
        pane: &str,
        text: &str,
        provider: &dyn providers::Provider,
    ) -> Result<(), MuxError> {
        let submit = provider.submit();
        let enters = vec!["Enter"; submit.enters as usize];
        if submit.pause.is_zero() {
            return self.mux.paste(pane, text, &enters);
        }
        self.mux.paste(pane, text, &[])?;
        self.clock.pause(submit.pause, None);
        self.mux.send_keys(pane, &enters)
    }

    /// Waits until the CLI has visibly taken the typed turn: it is busy, or a new answer is on
    /// the screen. If neither shows within a moment, presses Enter once more (some CLIs take a
    /// fast Enter after a paste as a newline) and waits once more.
    fn confirm_submitted(&self, pane: &str, provider: &dyn providers::Provider, before: &str) {
        let before_answer = provider.last_response(before).ok();
        let taken = || {
            let deadline = self.clock.now() + SUBMIT_CONFIRM;
            // The first look after a pause: the CLI has not drawn anything yet.
            self.clock.pause(CONFIRM_POLL, None);
            let Ok(taken) = self.wait_until(deadline, CONFIRM_POLL, None, || {
                let Ok(screen) = self.mux.capture(pane) else {
                    return Ok::<_, std::convert::Infallible>(Some(())); // The pane is gone.
                };
                let taken = !provider.status(&screen).accepts_input()
                    || provider.last_response(&screen).ok() != before_answer;
                Ok(taken.then_some(()))
            });
            taken.is_some()
        };
        if !taken() {
            tracing::debug!(pane, "turn not taken; pressing Enter once more");
            let _ = self.mux.send_keys(pane, &["Enter"]);
            if !taken() {
                tracing::warn!(pane, "the CLI did not visibly take the typed turn");
            }
        }
    }
}

/// The text typed for a batch of messages.
pub fn compose(messages: &[Message]) -> String {
    if let [only] = messages {
        return sanitize(&only.body);
    }
    let total = messages.len();
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "[message {} of {total} from {}]\n{}",
                i + 1,
                m.sender_id,
                sanitize(&m.body)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Makes message text safe to paste: drops escape sequences and control characters (so a
/// message can neither end the bracketed paste early nor drive the terminal), keeping tabs
/// and newlines; CRLF becomes LF.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\u{1b}' => skip_escape(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence (CSI, OSC, or a two-byte escape).
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') | Some('P') | Some('_') | Some('^') => {
            // OSC/DCS/APC/PM: until BEL or ST (ESC \).
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::store::MessageStatus;

    fn msg(id: i64, sender: &str, body: &str) -> Message {
        Message {
            id,
            sender_id: sender.into(),
            receiver_id: "r".into(),
            body: body.into(),
            status: MessageStatus::Delivering,
            created_at: 0,
            updated_at: 0,
            error: None,
        }
    }

    #[test]
    fn a_held_delivery_lock_is_waited_for_then_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abcd1234.lock");
        let clock = super::wait::SystemClock;
        let held =
            DeliveryLock::acquire_at(&clock, &path, "abcd1234", Duration::from_secs(1)).unwrap();
        // Held elsewhere (a stopped process, say): a bounded wait, then a clear error.
        let started = Instant::now();
        let err = DeliveryLock::acquire_at(&clock, &path, "abcd1234", Duration::from_millis(200))
            .err()
            .expect("the lock is held");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(err.to_string().contains("another cao process"), "{err}");
        // Released: the next one gets it at once.
        drop(held);
        DeliveryLock::acquire_at(&clock, &path, "abcd1234", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_lone_message_is_typed_as_sent() {
        let body = "line 1\n  \"quoted\" $(rm -rf /) `x` → ✓";
        assert_eq!(compose(&[msg(1, "a", body)]), body);
    }

    #[test]
    fn a_batch_names_each_sender_in_order() {
        let text = compose(&[msg(1, "aaaa1111", "one"), msg(2, "user", "two")]);
        assert_eq!(
            text,
            "[message 1 of 2 from aaaa1111]\none\n\n[message 2 of 2 from user]\ntwo"
        );
    }

    #[test]
    fn escape_sequences_cannot_break_out_of_the_paste() {
        let evil = "a\u{1b}[201~b\u{1b}]52;c;ZXZpbA==\u{7}c\u{0}d\u{8}e\r\nf";
        assert_eq!(sanitize(evil), "abcde\nf");
    }
}
