//! The terminal multiplexer behind cao: the few tmux operations the engine needs, as a trait,
//! so the engine's logic (handoff, dialogs, delivery, crash recovery) can run against a
//! scripted fake in-process, and against tmux ([`TmuxCli`]) everywhere else.
//!
//! Every implementation keeps the same promises: user text never travels as a command
//! argument (it is pasted from a buffer), and targets are tmux ids (`%3`, `@2`) or validated
//! session names.

#[cfg(test)]
pub mod fake;
mod tmux;

pub use tmux::TmuxCli;

/// What can go wrong talking to the multiplexer.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// tmux itself is not installed.
    #[error(
        "tmux is not installed or not on PATH ({0}); install tmux (e.g. `apt-get install tmux`)"
    )]
    NotInstalled(#[source] std::io::Error),
    /// No tmux server is running on the selected socket: no cao session exists.
    #[error("no tmux server is running{}; start agents with `cao launch`", on_socket(.socket))]
    NoServer {
        /// The `-L` socket name in use, if any.
        socket: Option<String>,
    },
    /// tmux ran and refused the command.
    #[error("tmux {command} failed: {stderr}")]
    Failed {
        /// The (first) tmux command of the invocation.
        command: String,
        /// What tmux said.
        stderr: String,
    },
    /// tmux succeeded but printed something cao cannot read.
    #[error("tmux {command} printed {output:?}, which is not the pane line cao asked for")]
    Unexpected {
        /// The tmux command.
        command: String,
        /// What it printed.
        output: String,
    },
    /// Spawning or talking to the tmux process failed.
    #[error("could not run tmux {command}: {source}")]
    Io {
        /// The tmux command.
        command: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}

fn on_socket(socket: &Option<String>) -> String {
    socket
        .as_deref()
        .map(|s| format!(" on socket '{s}'"))
        .unwrap_or_default()
}

impl MuxError {
    /// Whether the error only says there is nothing to list: no server, or a server that is
    /// shutting down after its last session closed.
    pub fn means_no_sessions(&self) -> bool {
        match self {
            MuxError::NoServer { .. } => true,
            MuxError::Failed { stderr, .. } => {
                stderr.contains("no current target") || stderr.contains("no sessions")
            }
            _ => false,
        }
    }
}

/// One pane as the multiplexer reports it, used to reconcile the store with what is really
/// alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneInfo {
    /// Session the pane lives in.
    pub session: String,
    /// Window id (`@N`).
    pub window_id: String,
    /// Window name (cao names windows after the profile and terminal id).
    pub window_name: String,
    /// Pane id (`%N`): the stable target cao uses for every pane operation.
    pub pane_id: String,
    /// Pid of the process running in the pane (the agent CLI).
    pub pid: u32,
    /// Whether a `pipe-pane` is active: the inbox watcher is alive.
    pub piped: bool,
    /// The pane's current working directory.
    pub current_path: String,
    /// The name of the program in the foreground of the pane (`claude`, `node`, `bash`).
    pub current_command: String,
}

/// A window to open: where, under what name, and the program it runs.
#[derive(Debug, Clone, Copy)]
pub struct WindowSpec<'a> {
    /// The session it goes in.
    pub session: &'a str,
    /// The window's name (cao names windows after the profile and terminal id).
    pub name: &'a str,
    /// The directory the program starts in.
    pub cwd: &'a str,
    /// The program and its arguments, run directly (no shell): at least two elements, so
    /// tmux execs it instead of handing it to `sh -c`.
    pub argv: &'a [String],
}

/// The multiplexer operations cao uses. Implementations: [`TmuxCli`] (tmux, through one
/// choke point) and, in tests, `fake::FakeMux` (scripted panes in memory).
pub trait Mux: Send + Sync {
    /// The `-L` socket name in use, if any (passed on to child cao processes).
    fn socket(&self) -> Option<&str>;

    /// Where the running server's socket is (`None` when there is no server, or for a
    /// multiplexer without one).
    fn socket_path(&self) -> Result<Option<std::path::PathBuf>, MuxError> {
        Ok(None)
    }

    /// Whether a session with exactly this name exists.
    fn has_session(&self, name: &str) -> Result<bool, MuxError>;

    /// Creates a detached session `window.session` whose first window is `window`; returns
    /// its pane.
    fn new_session(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError>;

    /// Adds `window` to the existing session `window.session`; returns its pane.
    fn new_window(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError>;

    /// Types `text` into a pane as one bracketed paste (the application sees it as pasted,
    /// so newlines do not submit), then presses `then_keys`. The text goes through a buffer,
    /// never a command argument.
    fn paste(&self, pane: &str, text: &str, then_keys: &[&str]) -> Result<(), MuxError>;

    /// Presses named keys (`Enter`, `Escape`, `C-c`, `M-x`, `Down`) in a pane.
    fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), MuxError>;

    /// The visible screen of a pane.
    fn capture(&self, pane: &str) -> Result<String, MuxError>;

    /// The whole scrollback and screen of a pane.
    fn capture_all(&self, pane: &str) -> Result<String, MuxError>;

    /// The visible screen of a pane with its colours as SGR escape sequences (`cao tui`'s
    /// preview shows the screen as the agent drew it; status is never read from this).
    fn capture_styled(&self, pane: &str) -> Result<String, MuxError>;

    /// Makes a window the current one of its session (what a client attached to the
    /// session then shows).
    fn select_window(&self, window_id: &str) -> Result<(), MuxError>;

    /// Switches the tmux client this process runs in to a window's session and window
    /// (`cao tui`'s Enter inside tmux).
    fn switch_client(&self, window_id: &str) -> Result<(), MuxError>;

    /// Starts piping the pane's output to a shell command (the inbox watcher), replacing any
    /// pipe already open. The command is built by cao from its own path and ids only.
    fn pipe_pane(&self, pane: &str, shell_command: &str) -> Result<(), MuxError>;

    /// Every pane on the server (empty when no server runs).
    fn list_panes(&self) -> Result<Vec<PaneInfo>, MuxError>;

    /// One pane, or `None` when it no longer exists.
    fn pane(&self, pane: &str) -> Result<Option<PaneInfo>, MuxError>;

    /// Closes a window (and the process in it).
    fn kill_window(&self, window_id: &str) -> Result<(), MuxError>;

    /// Closes a whole session.
    fn kill_session(&self, session: &str) -> Result<(), MuxError>;

    /// Names of all sessions on the server (empty when no server runs).
    fn list_sessions(&self) -> Result<Vec<String>, MuxError>;

    /// Hands this process's terminal to a client of `session` until the user detaches (the
    /// one operation that uses the caller's terminal).
    fn attach(&self, session: &str) -> Result<(), MuxError>;
}

/// Quotes a string for `/bin/sh` (single quotes; embedded quotes closed and escaped), for the
/// shell command of [`Mux::pipe_pane`] and the hook commands CLIs are given.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn errors_say_where_and_keep_their_source() {
        let none = MuxError::NoServer {
            socket: Some("t1".into()),
        };
        assert_eq!(
            none.to_string(),
            "no tmux server is running on socket 't1'; start agents with `cao launch`"
        );
        assert!(none.means_no_sessions());
        let io = MuxError::Io {
            command: "capture-pane".into(),
            source: std::io::Error::other("broken pipe"),
        };
        let source = std::error::Error::source(&io).expect("the io error is kept");
        assert_eq!(source.to_string(), "broken pipe");
    }
}
