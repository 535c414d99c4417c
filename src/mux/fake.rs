//! A scripted [`Mux`] for in-process tests: panes held in memory, each running an [`Agent`]
//! (a scripted program that draws its screen and reacts to what is typed), and a log of every
//! paste and key press, kept after the pane closes.

use std::sync::Mutex;

use super::{Mux, MuxError, PaneInfo, WindowSpec};

/// How many lines of a pane's text `capture` shows (the rest is scrollback).
const VISIBLE_LINES: usize = 50;

/// One thing a pane's program receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A bracketed paste of this text.
    Paste(&'a str),
    /// One named key (`Enter`, `1`, `C-c`).
    Key(&'a str),
    /// Someone reads the screen: time passes for the program.
    Look,
}

/// Whether a pane's program runs on after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still running.
    Running,
    /// It exited: its window closes.
    Exited,
}

/// A scripted program in a fake pane.
pub trait Agent: Send {
    /// Reacts to `input`, redrawing `screen` (the pane's whole text, scrollback included).
    fn react(&mut self, input: Input<'_>, screen: &mut String) -> Outcome;
}

/// What was typed into a pane, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// A paste of this text.
    Paste(String),
    /// One key press.
    Key(String),
}

/// Starts the program of a new window from its argv, returning it and its first screen.
pub type Spawn = Box<dyn Fn(&[String]) -> (Box<dyn Agent>, String) + Send + Sync>;

struct Pane {
    info: PaneInfo,
    screen: String,
    agent: Box<dyn Agent>,
}

#[derive(Default)]
struct State {
    next_id: u32,
    panes: Vec<Pane>,
    typed: Vec<(String, Typed)>,
    attached: Vec<String>,
}

/// The scripted multiplexer.
pub struct FakeMux {
    spawn: Spawn,
    state: Mutex<State>,
}

fn failed(command: &str, stderr: String) -> MuxError {
    MuxError::Failed {
        command: command.to_string(),
        stderr,
    }
}

impl FakeMux {
    /// A server with no sessions; each new window runs what `spawn` makes of its argv.
    pub fn new(spawn: Spawn) -> FakeMux {
        FakeMux {
            spawn,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything typed into `pane`, in order (also after it closed).
    pub fn typed(&self, pane: &str) -> Vec<Typed> {
        self.state()
            .typed
            .iter()
            .filter(|(p, _)| p == pane)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// The texts pasted into `pane`, in order.
    pub fn pasted(&self, pane: &str) -> Vec<String> {
        self.typed(pane)
            .into_iter()
            .filter_map(|t| match t {
                Typed::Paste(text) => Some(text),
                Typed::Key(_) => None,
            })
            .collect()
    }

    /// Replaces a pane's text, as if its program had redrawn it.
    pub fn set_screen(&self, pane: &str, screen: &str) {
        if let Some(p) = self
            .state()
            .panes
            .iter_mut()
            .find(|p| p.info.pane_id == pane)
        {
            p.screen = screen.to_string();
        }
    }

    /// Whether `pane`'s output is piped (its watcher was armed).
    pub fn is_piped(&self, pane: &str) -> bool {
        self.state()
            .panes
            .iter()
            .any(|p| p.info.pane_id == pane && p.info.piped)
    }

    /// The sessions `attach` was called for.
    pub fn attached(&self) -> Vec<String> {
        self.state().attached.clone()
    }

    /// Ok when a pane of `window_id` exists, tmux's refusal otherwise.
    fn window_exists(&self, command: &str, window_id: &str) -> Result<(), MuxError> {
        if self
            .state()
            .panes
            .iter()
            .any(|p| p.info.window_id == window_id)
        {
            Ok(())
        } else {
            Err(failed(command, format!("can't find window: {window_id}")))
        }
    }

    fn open(&self, window: &WindowSpec<'_>) -> PaneInfo {
        let (agent, screen) = (self.spawn)(window.argv);
        let mut state = self.state();
        state.next_id += 1;
        let n = state.next_id;
        let info = PaneInfo {
            session: window.session.to_string(),
            window_id: format!("@{n}"),
            window_name: window.name.to_string(),
            pane_id: format!("%{n}"),
            pid: 100_000 + n,
            piped: false,
            current_path: window.cwd.to_string(),
            current_command: "fake".to_string(),
        };
        state.panes.push(Pane {
            info: info.clone(),
            screen,
            agent,
        });
        info
    }

    /// Closes the panes `which` picks (their programs get no say), failing as tmux does when
    /// there are none.
    fn close(
        &self,
        command: &str,
        target: &str,
        which: impl Fn(&PaneInfo) -> bool,
    ) -> Result<(), MuxError> {
        let mut state = self.state();
        let before = state.panes.len();
        state.panes.retain(|p| !which(&p.info));
        if state.panes.len() == before {
            return Err(failed(command, format!("can't find {target}")));
        }
        Ok(())
    }

    /// Feeds inputs to a pane's program, logging what is typed; a program that exits takes
    /// its pane with it (later inputs are dropped, as tmux would find no pane).
    fn feed(&self, command: &str, pane: &str, inputs: &[Input<'_>]) -> Result<String, MuxError> {
        let mut state = self.state();
        let Some(at) = state.panes.iter().position(|p| p.info.pane_id == pane) else {
            return Err(failed(command, format!("can't find pane: {pane}")));
        };
        for input in inputs {
            let typed = match input {
                Input::Paste(text) => Some(Typed::Paste(text.to_string())),
                Input::Key(key) => Some(Typed::Key(key.to_string())),
                Input::Look => None,
            };
            if let Some(typed) = typed {
                state.typed.push((pane.to_string(), typed));
            }
            let p = &mut state.panes[at];
            if p.agent.react(*input, &mut p.screen) == Outcome::Exited {
                state.panes.remove(at);
                return match input {
                    Input::Look => Err(failed(command, format!("can't find pane: {pane}"))),
                    _ => Ok(String::new()),
                };
            }
        }
        Ok(state.panes[at].screen.clone())
    }
}

impl Mux for FakeMux {
    fn socket(&self) -> Option<&str> {
        None
    }

    fn has_session(&self, name: &str) -> Result<bool, MuxError> {
        Ok(self.state().panes.iter().any(|p| p.info.session == name))
    }

    fn new_session(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError> {
        if self.has_session(window.session)? {
            let session = window.session;
            return Err(failed(
                "new-session",
                format!("duplicate session: {session}"),
            ));
        }
        Ok(self.open(window))
    }

    fn new_window(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError> {
        if !self.has_session(window.session)? {
            let session = window.session;
            return Err(failed(
                "new-window",
                format!("can't find session: {session}"),
            ));
        }
        Ok(self.open(window))
    }

    fn paste(&self, pane: &str, text: &str, then_keys: &[&str]) -> Result<(), MuxError> {
        let mut inputs = vec![Input::Paste(text)];
        inputs.extend(then_keys.iter().map(|k| Input::Key(k)));
        self.feed("paste-buffer", pane, &inputs).map(drop)
    }

    fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), MuxError> {
        let inputs: Vec<Input<'_>> = keys.iter().map(|k| Input::Key(k)).collect();
        self.feed("send-keys", pane, &inputs).map(drop)
    }

    fn capture(&self, pane: &str) -> Result<String, MuxError> {
        let text = self.feed("capture-pane", pane, &[Input::Look])?;
        let lines: Vec<&str> = text.lines().collect();
        let visible = &lines[lines.len().saturating_sub(VISIBLE_LINES)..];
        Ok(visible.iter().map(|l| format!("{l}\n")).collect())
    }

    fn capture_all(&self, pane: &str) -> Result<String, MuxError> {
        self.feed("capture-pane", pane, &[Input::Look])
    }

    fn capture_styled(&self, pane: &str) -> Result<String, MuxError> {
        self.capture(pane)
    }

    fn select_window(&self, window_id: &str) -> Result<(), MuxError> {
        self.window_exists("select-window", window_id)
    }

    fn switch_client(&self, window_id: &str) -> Result<(), MuxError> {
        self.window_exists("switch-client", window_id)
    }

    fn pipe_pane(&self, pane: &str, _shell_command: &str) -> Result<(), MuxError> {
        match self
            .state()
            .panes
            .iter_mut()
            .find(|p| p.info.pane_id == pane)
        {
            Some(p) => {
                p.info.piped = true;
                Ok(())
            }
            None => Err(failed("pipe-pane", format!("can't find pane: {pane}"))),
        }
    }

    fn list_panes(&self) -> Result<Vec<PaneInfo>, MuxError> {
        Ok(self.state().panes.iter().map(|p| p.info.clone()).collect())
    }

    fn pane(&self, pane: &str) -> Result<Option<PaneInfo>, MuxError> {
        Ok(self
            .state()
            .panes
            .iter()
            .find(|p| p.info.pane_id == pane)
            .map(|p| p.info.clone()))
    }

    fn kill_window(&self, window_id: &str) -> Result<(), MuxError> {
        self.close("kill-window", window_id, |p| p.window_id == window_id)
    }

    fn kill_session(&self, session: &str) -> Result<(), MuxError> {
        self.close("kill-session", session, |p| p.session == session)
    }

    fn list_sessions(&self) -> Result<Vec<String>, MuxError> {
        let mut sessions: Vec<String> = Vec::new();
        for p in &self.state().panes {
            if !sessions.contains(&p.info.session) {
                sessions.push(p.info.session.clone());
            }
        }
        Ok(sessions)
    }

    fn attach(&self, session: &str) -> Result<(), MuxError> {
        if !self.has_session(session)? {
            return Err(failed(
                "attach-session",
                format!("can't find session: {session}"),
            ));
        }
        self.state().attached.push(session.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes pastes onto its screen; `q` + Enter quits; vanishes on the third look.
    struct Echo {
        looks: u32,
        line: String,
    }

    impl Agent for Echo {
        fn react(&mut self, input: Input<'_>, screen: &mut String) -> Outcome {
            match input {
                Input::Paste(text) => self.line.push_str(text),
                Input::Key("Enter") if self.line == "q" => return Outcome::Exited,
                Input::Key("Enter") => {
                    screen.push_str(&std::mem::take(&mut self.line));
                    screen.push('\n');
                }
                Input::Key(_) => {}
                Input::Look => {
                    self.looks += 1;
                    if self.looks == 3 {
                        return Outcome::Exited;
                    }
                }
            }
            Outcome::Running
        }
    }

    fn mux() -> FakeMux {
        FakeMux::new(Box::new(|_argv| {
            let echo = Echo {
                looks: 0,
                line: String::new(),
            };
            (Box::new(echo) as Box<dyn Agent>, "$ \n".to_string())
        }))
    }

    #[test]
    fn panes_run_their_script_and_log_what_was_typed() {
        let mux = mux();
        let argv = ["a".to_string(), "b".to_string()];
        let window = WindowSpec {
            session: "s",
            name: "w",
            cwd: "/",
            argv: &argv,
        };
        let pane = mux.new_session(&window).unwrap();
        assert!(mux.new_session(&window).is_err(), "duplicate");
        let second = mux.new_window(&window).unwrap();
        assert_ne!(pane.pane_id, second.pane_id);
        assert_eq!(mux.list_sessions().unwrap(), ["s"]);

        mux.paste(&pane.pane_id, "hello", &["Enter"]).unwrap();
        assert_eq!(mux.capture(&pane.pane_id).unwrap(), "$ \nhello\n");
        assert_eq!(
            mux.typed(&pane.pane_id),
            [Typed::Paste("hello".into()), Typed::Key("Enter".into())]
        );
        mux.pipe_pane(&pane.pane_id, "cat").unwrap();
        assert!(mux.is_piped(&pane.pane_id));

        // The script exits on its third look: the pane is gone, its log stays.
        mux.capture_all(&pane.pane_id).unwrap();
        let gone = mux.capture(&pane.pane_id).unwrap_err();
        assert!(gone.to_string().contains("can't find pane"), "{gone}");
        assert_eq!(mux.pane(&pane.pane_id).unwrap(), None);
        assert_eq!(mux.pasted(&pane.pane_id), ["hello"]);

        mux.paste(&second.pane_id, "q", &["Enter"]).unwrap();
        assert!(mux.list_panes().unwrap().is_empty());
        assert!(!mux.has_session("s").unwrap());
        assert!(mux.kill_session("s").is_err());
    }
}
