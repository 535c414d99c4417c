//! `cao tui`: every terminal on one screen, live, and the keys to steer them. A thin front
//! like the CLI: [`app`] is the state and what keys do (pure), [`view`] draws it, [`live`]
//! keeps it current from the engine's change signals, and this loop carries out the
//! [`app::Effect`]s through the engine (messages go through the inbox, as `cao send` does).

pub mod app;
pub mod live;
pub mod view;

use std::time::Duration;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyEventKind,
};
use ratatui::crossterm::execute;

use crate::engine::{Engine, EngineError, OutputMode, Shown, USER_SENDER, WorktreeOutcome};
use app::{App, Effect, Mode};
use live::Live;

/// What can stop the TUI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up, read or drawn.
    #[error("terminal error: {0}; run `cao tui` in an interactive terminal")]
    Terminal(#[from] std::io::Error),
}

/// How long the loop sleeps waiting for a key before it looks at the change signals: the
/// bound on how late a status change shows (a look costs a few microseconds: one SQLite
/// query and a zero-timeout poll of each terminal's doorbell).
const TICK: Duration = Duration::from_millis(250);

/// Runs the TUI until the user quits; the terminal is restored however it ends.
pub fn run(engine: &Engine) -> Result<(), TuiError> {
    let mut terminal = ratatui::try_init()?;
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);
    let result = event_loop(engine, &mut terminal);
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::try_restore()?;
    result
}

fn event_loop(engine: &Engine, terminal: &mut DefaultTerminal) -> Result<(), TuiError> {
    let mut app = App::new();
    let mut live = Live::new();
    let mut dirty = true;
    let mut minute = 0;
    loop {
        dirty |= live.refresh(engine, &mut app);
        // Ages change once a minute: redraw for them, not on every tick.
        let now_minute = crate::store::now_ms() / 60_000;
        if now_minute != minute {
            minute = now_minute;
            app.now_ms = crate::store::now_ms();
            dirty = true;
        }
        if dirty {
            terminal.draw(|frame| view::render(frame, &app))?;
            dirty = false;
        }
        if !event::poll(TICK)? {
            continue;
        }
        let effect = match event::read()? {
            Event::Key(key) if key.kind != KeyEventKind::Release => app.on_key(key),
            Event::Paste(text) => {
                app.on_paste(&text);
                None
            }
            _ => None,
        };
        dirty = true;
        match effect {
            Some(Effect::Quit) => return Ok(()),
            Some(effect) => apply(engine, terminal, &mut app, &mut live, effect)?,
            None => {}
        }
    }
}

/// Carries out one effect through the engine and reports the outcome on screen.
fn apply(
    engine: &Engine,
    terminal: &mut DefaultTerminal,
    app: &mut App,
    live: &mut Live,
    effect: Effect,
) -> Result<(), TuiError> {
    match effect {
        Effect::Quit => {}
        Effect::Preview(id) => live::read_preview(engine, app, &id),
        Effect::Show(id) => match engine.show(&id) {
            Ok(Shown::Switched) => {}
            Ok(Shown::Attach { session }) => {
                // Hand the terminal to a tmux client until the user detaches.
                let _ = execute!(std::io::stdout(), DisableBracketedPaste);
                ratatui::try_restore()?;
                let attached = engine.attach(&session);
                *terminal = ratatui::try_init()?;
                let _ = execute!(std::io::stdout(), EnableBracketedPaste);
                terminal.clear()?;
                if let Err(e) = attached {
                    app.notify(format!("cannot attach to {session}: {e}"));
                }
                live.relist();
            }
            Err(e) => app.notify(failure(&id, &e)),
        },
        Effect::Send { to, body } => match engine.post(USER_SENDER, &to, &body) {
            Ok(message) => {
                app.notify(format!(
                    "message {} queued for {to}: typed in when it is idle (i: its inbox)",
                    message.id
                ));
                live.relist();
            }
            Err(e) => {
                app.notify(failure(&to, &e));
                // Keep what was written: a failed send must not lose the text.
                app.mode = Mode::Compose {
                    to,
                    input: app::TextInput { text: body },
                };
            }
        },
        Effect::Answer { to, text } => match engine.answer_user_prompt(None, &to, &text) {
            Ok(done) => {
                app.notify(format!(
                    "answered {} to {to}; it is now {}",
                    done.typed, done.status
                ));
                live.relist();
            }
            Err(e) => app.notify(failure(&to, &e)),
        },
        Effect::Close(id) => {
            app.notify(format!("closing {id}..."));
            terminal.draw(|frame| view::render(frame, app))?;
            match engine.exit_terminal(&id) {
                Ok(outcome) => {
                    let kept = match outcome {
                        Some(WorktreeOutcome::Kept { path, reason, .. }) => {
                            format!("; its worktree {path} is kept: {reason}")
                        }
                        _ => String::new(),
                    };
                    app.notify(format!("closed {id}{kept}"));
                }
                Err(e) => app.notify(failure(&id, &e)),
            }
            live.relist();
        }
        Effect::OpenInbox(id) => match engine.inbox(&id) {
            Ok(messages) => {
                app.mode = Mode::Inbox {
                    of: id,
                    messages,
                    scroll: 0,
                }
            }
            Err(e) => app.notify(failure(&id, &e)),
        },
        Effect::OpenOutput(id) => match engine.output(&id, OutputMode::Last) {
            Ok(text) => {
                app.mode = Mode::Output {
                    of: id,
                    text,
                    scroll: 0,
                }
            }
            Err(e) => app.notify(failure(&id, &e)),
        },
    }
    Ok(())
}

/// An engine error as a notice; a terminal that vanished is said plainly.
fn failure(id: &str, error: &EngineError) -> String {
    match error {
        EngineError::UnknownTerminal(_) => format!("terminal {id} has exited"),
        e => e.to_string(),
    }
}
