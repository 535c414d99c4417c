//! The agent's event loop: reads keys, draws the prompt, runs turns (delay, directives,
//! scripted MCP calls) in the background so Escape can interrupt them, and prints the outcome
//! in the screen grammar of [`crate::screen`].

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::{Instant as TokioInstant, sleep, sleep_until};

use crate::config::Settings;
use crate::directives::Directives;
use crate::editor::{Editor, EnterOutcome};
use crate::keys::{Decoder, ESCAPE_WINDOW_MS, Key};
use crate::mcp::{McpClients, result_text};
use crate::scenario::{Plan, Scenario};
use crate::screen::{self, ASK_QUESTION, ERASE_LINE, FAILURE, INTERRUPTED, NL, PROMPT, WORKING};
use crate::session::{SessionRecord, TurnEnd};
use crate::tty;

/// How a turn ended, as computed by its background task.
#[derive(Debug)]
enum Outcome {
    /// Print this answer and the done line.
    Answer(String),
    /// `[[fail]]`: print the simulated failure.
    Fail,
    /// `[[ask]]`: ask the y/n question and wait for the reply.
    Ask,
}

/// What the agent is doing, which decides what each key means and whether it is echoed.
enum Mode {
    /// Before the banner (`CAO_FAKE_STARTUP_MS`): keys are buffered, Enter is dropped.
    Starting(TokioInstant),
    /// At `fake> `: keys are echoed, Enter submits.
    Prompt,
    /// A turn is running: keys are buffered for the next prompt, Enter is dropped,
    /// Escape / Ctrl-C interrupt.
    Working {
        task: JoinHandle<Outcome>,
        started: Instant,
    },
    /// On the `[[ask]]` question: keys are echoed after it, one Enter sends the reply.
    Asking,
    /// On start-up dialog `n` (`CAO_FAKE_DIALOGS=1`): `1` or `2` answers it.
    Dialog(usize),
    /// Dialog `n - 1` was answered; dialog `n` (or the prompt, past the last) shows at the
    /// deadline. Digit keys pressed meanwhile are kept for it.
    Repainting(usize, TokioInstant),
}

/// What woke the event loop up.
enum Wake {
    /// Bytes from the terminal, or None once input has ended.
    Input(Option<Vec<u8>>),
    /// A lone ESC was not followed by anything in time.
    EscapeTimeout,
    /// The start-up delay is over.
    Started,
    /// The running turn finished (or its task died).
    TurnDone(Result<Outcome, tokio::task::JoinError>),
}

/// The running agent: its settings, input state and screen state.
pub struct Agent {
    profile: Option<String>,
    delay: Duration,
    enters: u8,
    transcript: Option<String>,
    session: SessionRecord,
    /// The input of the running turn (for the record's usage counts).
    turn_input: String,
    scenario: Arc<Scenario>,
    mcp: Arc<McpClients>,
    decoder: Decoder,
    editor: Editor,
    mode: Mode,
    /// Rows between the start of the visible input (prompt or question) and the cursor.
    rows_above: usize,
    /// False once stdin has ended; the agent then leaves as soon as it is not busy.
    input_open: bool,
    /// Whether the start-up dialogs come first.
    dialogs: bool,
    /// Digit keys pressed while a dialog was repainting, for the next dialog.
    dialog_keys: Vec<char>,
}

impl Agent {
    /// An agent ready to start, built from the start-up settings.
    pub fn new(settings: Settings) -> Self {
        let start = TokioInstant::now() + settings.startup;
        Self {
            profile: settings.profile,
            delay: settings.delay,
            enters: settings.enters,
            transcript: settings.transcript,
            session: settings.session,
            turn_input: String::new(),
            scenario: Arc::new(settings.scenario),
            mcp: Arc::new(McpClients::new(settings.mcp)),
            decoder: Decoder::new(),
            editor: Editor::default(),
            mode: Mode::Starting(start),
            rows_above: 0,
            input_open: true,
            dialogs: settings.dialogs,
            dialog_keys: Vec::new(),
        }
    }

    /// Runs until `/exit`, Ctrl-D, `[[exit]]` or the end of input; returns the exit status.
    pub async fn run(mut self) -> Result<i32> {
        let mut input = spawn_stdin_reader();
        loop {
            if !self.input_open && matches!(self.mode, Mode::Prompt | Mode::Asking) {
                return Ok(0);
            }
            let input_open = self.input_open;
            let awaiting_escape = self.decoder.awaiting_escape();
            let starting = match self.mode {
                Mode::Starting(deadline) | Mode::Repainting(_, deadline) => Some(deadline),
                _ => None,
            };
            // Biased: a state change that is due is shown before the keys that follow it.
            let wake = tokio::select! {
                biased;
                _ = sleep_until(starting.unwrap_or_else(TokioInstant::now)), if starting.is_some() => {
                    Wake::Started
                }
                done = turn_task(&mut self.mode) => Wake::TurnDone(done),
                bytes = input.recv(), if input_open => Wake::Input(bytes),
                _ = sleep(Duration::from_millis(ESCAPE_WINDOW_MS)), if awaiting_escape => {
                    Wake::EscapeTimeout
                }
            };
            match wake {
                Wake::Input(Some(bytes)) => {
                    let mut keys = Vec::new();
                    self.decoder.feed(&bytes, &mut keys);
                    for key in keys {
                        if let Some(code) = self.on_key(key)? {
                            return Ok(code);
                        }
                    }
                }
                Wake::Input(None) => self.input_open = false,
                Wake::EscapeTimeout => {
                    if let Some(key) = self.decoder.escape_timeout()
                        && let Some(code) = self.on_key(key)?
                    {
                        return Ok(code);
                    }
                }
                Wake::Started => {
                    let next = match self.mode {
                        Mode::Repainting(n, _) => n,
                        _ if self.dialogs => 0,
                        _ => screen::DIALOGS.len(),
                    };
                    if let Some(dialog) = screen::DIALOGS.get(next) {
                        self.mode = Mode::Dialog(next);
                        write_out(&format!("{NL}{dialog}"))?;
                        for c in std::mem::take(&mut self.dialog_keys) {
                            if let Some(code) = self.on_key(Key::Char(c))? {
                                return Ok(code);
                            }
                        }
                    } else {
                        self.mode = Mode::Prompt;
                        let banner = screen::banner(self.profile.as_deref());
                        self.show_input_after(&format!("{banner}{PROMPT}"))?;
                    }
                }
                Wake::TurnDone(done) => self.finish_turn(done)?,
            }
        }
    }

    /// Applies one key; returns an exit status when the key ends the program.
    fn on_key(&mut self, key: Key) -> Result<Option<i32>> {
        match (&self.mode, &key) {
            (Mode::Dialog(n), Key::Char(c @ ('1' | '2'))) => {
                // Dialog 0: 1 = trust, 2 = exit. Dialog 1: 1 = exit, 2 = accept.
                let quits = (*n == 0) == (*c == '2');
                if quits {
                    write_out(&format!("{NL}exiting at the start-up dialog{NL}"))?;
                    return Ok(Some(4));
                }
                self.mode = Mode::Repainting(n + 1, TokioInstant::now() + screen::DIALOG_REPAINT);
                return Ok(None);
            }
            (Mode::Repainting(..), Key::Char(c)) => {
                self.dialog_keys.push(*c);
                return Ok(None);
            }
            (Mode::Dialog(_) | Mode::Repainting(..), _) => return Ok(None),
            _ => {}
        }
        let visible = matches!(self.mode, Mode::Prompt | Mode::Asking);
        match key {
            Key::Char(c) => {
                self.editor.push_char(c);
                if visible {
                    self.echo(&screen::input_display(&c.to_string()))?;
                }
            }
            Key::Paste(text) => {
                self.editor.push_paste(&text);
                if visible {
                    self.echo(&screen::input_display(&text))?;
                }
            }
            Key::Backspace => {
                if self.editor.backspace().is_some() && visible {
                    self.redraw()?;
                }
            }
            Key::Escape | Key::CtrlC => match &self.mode {
                Mode::Working { .. } | Mode::Asking => self.interrupt()?,
                Mode::Prompt if key == Key::CtrlC => {
                    self.editor.clear();
                    self.redraw()?;
                }
                _ => {}
            },
            Key::CtrlD => {
                if matches!(self.mode, Mode::Prompt) && self.editor.text().is_empty() {
                    write_out(NL)?;
                    return Ok(Some(0));
                }
            }
            Key::Enter => match self.mode {
                Mode::Prompt => match self.editor.enter(self.enters) {
                    EnterOutcome::Submit(text) => return self.submit(text),
                    EnterOutcome::Empty => {
                        write_out(&format!("{NL}{PROMPT}"))?;
                        self.rows_above = 0;
                    }
                    EnterOutcome::Swallowed => {}
                },
                Mode::Asking => {
                    if let EnterOutcome::Submit(text) = self.editor.enter(1) {
                        // The reply continues the asking turn: no new turn in the record.
                        self.record(&text)?;
                        let answer = format!("fake answer: you said {text}");
                        self.start_turn(async move { Outcome::Answer(answer) }, None)?;
                    }
                }
                // Typed-ahead text waits for an Enter at the next prompt.
                Mode::Starting(_)
                | Mode::Working { .. }
                | Mode::Dialog(_)
                | Mode::Repainting(..) => {}
            },
        }
        Ok(None)
    }

    /// Handles a submitted input: transcript, `/exit`, directives, then the turn.
    fn submit(&mut self, input: String) -> Result<Option<i32>> {
        self.record(&input)?;
        if input.trim() == "/exit" {
            write_out(&format!("{NL}bye{NL}"))?;
            return Ok(Some(0));
        }
        let directives = Directives::parse(&input);
        if directives.exit {
            return Ok(Some(3));
        }
        self.session.user(&input)?;
        self.turn_input = input.clone();
        let env = |name: &str| std::env::var(name).ok();
        let plan = self.scenario.plan(&input, &env);
        let mcp = Arc::clone(&self.mcp);
        let work = async move {
            if directives.fail {
                return Outcome::Fail;
            }
            if directives.ask {
                return Outcome::Ask;
            }
            match plan {
                Some(plan) => Outcome::Answer(run_calls(&plan, &mcp).await),
                None => Outcome::Answer(format!("fake answer: {input}")),
            }
        };
        self.start_turn(work, directives.sleep)?;
        Ok(None)
    }

    /// Shows the working line and runs `work` after the delay, in the background.
    fn start_turn(
        &mut self,
        work: impl Future<Output = Outcome> + Send + 'static,
        sleep_for: Option<Duration>,
    ) -> Result<()> {
        let delay = sleep_for.unwrap_or(self.delay);
        write_out(&format!("{NL}{WORKING}"))?;
        let task = tokio::spawn(async move {
            sleep(delay).await;
            work.await
        });
        self.mode = Mode::Working {
            task,
            started: Instant::now(),
        };
        Ok(())
    }

    /// Prints how the turn ended and goes back to the prompt (or to the question).
    fn finish_turn(&mut self, done: Result<Outcome, tokio::task::JoinError>) -> Result<()> {
        let Mode::Working { started, .. } = std::mem::replace(&mut self.mode, Mode::Prompt) else {
            return Ok(());
        };
        let outcome = done.unwrap_or_else(|e| Outcome::Answer(format!("internal error: {e}")));
        let text = match outcome {
            Outcome::Answer(answer) => {
                self.session.assistant(&self.turn_input, &answer)?;
                self.session.turn_end(TurnEnd::Answered)?;
                screen::answer(&answer, started.elapsed())
            }
            Outcome::Fail => {
                self.session.turn_end(TurnEnd::Failed)?;
                screen::ended_with(FAILURE)
            }
            Outcome::Ask => {
                self.mode = Mode::Asking;
                ASK_QUESTION.to_owned()
            }
        };
        self.show_input_after(&format!("{ERASE_LINE}{text}"))
    }

    /// Stops the running turn (or abandons the question) and returns to the prompt.
    fn interrupt(&mut self) -> Result<()> {
        self.session.turn_end(TurnEnd::Interrupted)?;
        let lead = match std::mem::replace(&mut self.mode, Mode::Prompt) {
            Mode::Working { task, .. } => {
                // Dropping the turn cancels any tool call in flight (rmcp tells the server).
                task.abort();
                ERASE_LINE
            }
            _ => {
                // The half-typed reply to the question is moot now.
                self.editor.clear();
                NL
            }
        };
        self.show_input_after(&format!("{lead}{}", screen::ended_with(INTERRUPTED)))
    }

    /// Writes `text` (which ends with the prompt or the question) followed by whatever the
    /// user typed ahead, and starts a fresh Enter count.
    fn show_input_after(&mut self, text: &str) -> Result<()> {
        self.editor.reset_enters();
        self.rows_above = 0;
        write_out(text)?;
        self.echo(&screen::input_display(self.editor.text()))
    }

    /// Writes echoed input and updates where the cursor sits relative to the prompt.
    fn echo(&mut self, display: &str) -> Result<()> {
        self.rows_above =
            screen::rows_above_cursor(self.prefix(), self.editor.text(), tty::columns());
        write_out(display)
    }

    /// Erases and redraws the visible input after it changed in the middle.
    fn redraw(&mut self) -> Result<()> {
        let bytes = screen::redraw(self.rows_above, self.prefix(), self.editor.text());
        self.rows_above =
            screen::rows_above_cursor(self.prefix(), self.editor.text(), tty::columns());
        write_out(&bytes)
    }

    /// What the visible input line starts with.
    fn prefix(&self) -> &'static str {
        match self.mode {
            Mode::Asking => ASK_QUESTION,
            _ => PROMPT,
        }
    }

    /// Appends one submitted input to the transcript file, if there is one.
    fn record(&self, input: &str) -> Result<()> {
        let Some(path) = &self.transcript else {
            return Ok(());
        };
        let line = format!("{{\"input\": {}}}\n", serde_json::to_string(input)?);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open CAO_FAKE_TRANSCRIPT file {path:?}"))?;
        file.write_all(line.as_bytes())?;
        file.flush()?;
        Ok(())
    }
}

/// Runs a scenario rule's calls in order and builds the answer: the rule's template, or one
/// `called <tool>: <result>` line per call; a failing call ends the list with
/// `tool <tool> failed: <message>`.
async fn run_calls(plan: &Plan, mcp: &McpClients) -> String {
    let env = |name: &str| std::env::var(name).ok();
    let mut lines = Vec::new();
    let mut last = String::new();
    for call in &plan.calls {
        match mcp
            .call(call.server.as_deref(), &call.tool, call.args.clone())
            .await
        {
            Ok(result) => {
                last = result_text(&result);
                lines.push(format!("called {}: {last}", call.tool));
            }
            Err(message) => {
                let failed = format!("tool {} failed: {message}", call.tool);
                if plan.answer(&last, &env).is_some() {
                    return failed;
                }
                lines.push(failed);
                return lines.join("\n");
            }
        }
    }
    plan.answer(&last, &env).unwrap_or_else(|| lines.join("\n"))
}

/// Waits for the running turn; never resolves when no turn is running.
async fn turn_task(mode: &mut Mode) -> Result<Outcome, tokio::task::JoinError> {
    match mode {
        Mode::Working { task, .. } => task.await,
        _ => std::future::pending().await,
    }
}

/// Reads the terminal on a plain thread (stdin reads block) and forwards the bytes.
fn spawn_stdin_reader() -> UnboundedReceiver<Vec<u8>> {
    let (tx, rx) = unbounded_channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
    rx
}

/// Writes to the terminal at once (the screen must never lag behind the agent's state).
fn write_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
