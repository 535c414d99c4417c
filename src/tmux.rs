//! The one place cao talks to tmux. Every call goes through [`Tmux::run`], which selects the
//! private server from `CAO_TMUX_SOCKET`, gives tmux a null (or piped) stdin — the MCP server's
//! stdin is its JSON-RPC stream — and turns a non-zero exit into a typed error.
//!
//! User text never travels as a tmux argument: it goes through `load-buffer -` on stdin and a
//! bracketed `paste-buffer`. Targets are tmux ids (`%3`, `@2`) or validated session names.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::env;

/// What can go wrong talking to tmux.
#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    /// tmux itself is not installed.
    #[error(
        "tmux is not installed or not on PATH ({0}); install tmux (e.g. `apt-get install tmux`)"
    )]
    NotInstalled(std::io::Error),
    /// No tmux server is running on the selected socket: no cao session exists.
    #[error("no tmux server is running{0}; start agents with `cao launch`")]
    NoServer(String),
    /// tmux ran and refused the command.
    #[error("tmux {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    /// Spawning or talking to the tmux process failed.
    #[error("could not run tmux: {0}")]
    Io(#[from] std::io::Error),
}

impl TmuxError {
    /// Whether the error only says there is nothing to list: no server, or a server that is
    /// shutting down after its last session closed.
    fn means_no_sessions(&self) -> bool {
        match self {
            TmuxError::NoServer(_) => true,
            TmuxError::Failed { stderr, .. } => {
                stderr.contains("no current target") || stderr.contains("no sessions")
            }
            _ => false,
        }
    }
}

/// One pane as tmux reports it, used to reconcile the store with what is really alive.
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

/// Field separator for `-F` formats: a control character no name contains.
const SEP: char = '\u{1f}';
const PANE_FORMAT: &str = "#{session_name}\u{1f}#{window_id}\u{1f}#{window_name}\u{1f}#{pane_id}\u{1f}#{pane_pid}\u{1f}#{pane_pipe}\u{1f}#{pane_current_path}\u{1f}#{pane_current_command}";

/// A handle on one tmux server (the default one, or `-L CAO_TMUX_SOCKET`).
#[derive(Debug, Clone)]
pub struct Tmux {
    socket: Option<String>,
}

impl Tmux {
    /// The server selected by the environment.
    pub fn from_env() -> Self {
        Tmux {
            socket: env::non_empty(env::CAO_TMUX_SOCKET),
        }
    }

    /// The `-L` socket name in use, if any (passed on to child cao processes).
    pub fn socket(&self) -> Option<&str> {
        self.socket.as_deref()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        if let Some(socket) = &self.socket {
            cmd.arg("-L").arg(socket);
        }
        cmd
    }

    /// Runs one tmux command line (which may chain commands with `;`) and returns its stdout.
    /// `input` is fed on stdin (for `load-buffer -`); otherwise stdin is null.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, TmuxError> {
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TmuxError::NotInstalled(e)
            } else {
                TmuxError::Io(e)
            }
        })?;
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().expect("stdin was piped");
            stdin.write_all(bytes)?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.contains("no server running")
            || stderr.contains("error connecting to")
            || stderr.contains("server exited unexpectedly")
        {
            let on = self
                .socket
                .as_deref()
                .map(|s| format!(" on socket '{s}'"))
                .unwrap_or_default();
            return Err(TmuxError::NoServer(on));
        }
        Err(TmuxError::Failed {
            command: args.first().copied().unwrap_or_default().to_string(),
            stderr,
        })
    }

    /// Whether a session with exactly this name exists.
    pub fn has_session(&self, name: &str) -> Result<bool, TmuxError> {
        match self.run(&["has-session", "-t", &format!("={name}")], None) {
            Ok(_) => Ok(true),
            Err(TmuxError::NoServer(_)) => Ok(false),
            Err(TmuxError::Failed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a detached session whose first window runs `argv` directly (no shell), and
    /// returns its pane. `argv` must have at least two elements so tmux execs it instead of
    /// handing it to `sh -c`.
    pub fn new_session(
        &self,
        session: &str,
        window_name: &str,
        cwd: &str,
        argv: &[String],
    ) -> Result<PaneInfo, TmuxError> {
        let mut args: Vec<&str> = vec![
            "new-session",
            "-d",
            "-P",
            "-F",
            PANE_FORMAT,
            "-x",
            "220",
            "-y",
            "50",
            "-s",
            session,
            "-n",
            window_name,
            "-c",
            cwd,
            "--",
        ];
        args.extend(argv.iter().map(String::as_str));
        let out = self.run(&args, None)?;
        parse_pane_line(out.trim()).ok_or_else(|| unexpected("new-session", &out))
    }

    /// Adds a window running `argv` directly to an existing session and returns its pane.
    pub fn new_window(
        &self,
        session: &str,
        window_name: &str,
        cwd: &str,
        argv: &[String],
    ) -> Result<PaneInfo, TmuxError> {
        let target = format!("={session}:");
        let mut args: Vec<&str> = vec![
            "new-window",
            "-d",
            "-P",
            "-F",
            PANE_FORMAT,
            "-t",
            &target,
            "-n",
            window_name,
            "-c",
            cwd,
            "--",
        ];
        args.extend(argv.iter().map(String::as_str));
        let out = self.run(&args, None)?;
        parse_pane_line(out.trim()).ok_or_else(|| unexpected("new-window", &out))
    }

    /// Types `text` into a pane as one bracketed paste (the application sees it as pasted, so
    /// newlines do not submit), through a uniquely named buffer that is deleted afterwards.
    /// `then_keys` are pressed in the same tmux invocation right after the paste.
    pub fn paste(&self, pane: &str, text: &str, then_keys: &[&str]) -> Result<(), TmuxError> {
        let buffer = format!("cao-{}-{}", std::process::id(), rand::random::<u32>());
        let mut args: Vec<&str> = vec![
            "load-buffer",
            "-b",
            &buffer,
            "-",
            ";",
            "paste-buffer",
            "-p",
            "-d",
            "-b",
            &buffer,
            "-t",
            pane,
        ];
        if !then_keys.is_empty() {
            args.extend([";", "send-keys", "-t", pane]);
            args.extend(then_keys);
        }
        self.run(&args, Some(text.as_bytes())).map(drop)
    }

    /// Presses named keys (`Enter`, `Escape`, `C-c`, `M-x`, `Down`) in a pane.
    pub fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), TmuxError> {
        let mut args = vec!["send-keys", "-t", pane];
        args.extend(keys);
        self.run(&args, None).map(drop)
    }

    /// The visible screen of a pane, plus `history` lines of scrollback above it.
    pub fn capture(&self, pane: &str, history: Option<u32>) -> Result<String, TmuxError> {
        let start = history.map(|h| format!("-{h}"));
        let mut args = vec!["capture-pane", "-p", "-J", "-t", pane];
        if let Some(start) = &start {
            args.extend(["-S", start.as_str()]);
        }
        self.run(&args, None)
    }

    /// The whole scrollback and screen of a pane.
    pub fn capture_all(&self, pane: &str) -> Result<String, TmuxError> {
        self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", pane], None)
    }

    /// Starts piping the pane's output to a shell command (the inbox watcher), replacing any
    /// pipe already open. The command is built by cao from its own path and ids only.
    pub fn pipe_pane(&self, pane: &str, shell_command: &str) -> Result<(), TmuxError> {
        self.run(&["pipe-pane", "-O", "-t", pane, shell_command], None)
            .map(drop)
    }

    /// Every pane on the server (empty when no server runs).
    pub fn list_panes(&self) -> Result<Vec<PaneInfo>, TmuxError> {
        match self.run(&["list-panes", "-a", "-F", PANE_FORMAT], None) {
            Ok(out) => Ok(out.lines().filter_map(parse_pane_line).collect()),
            Err(e) if e.means_no_sessions() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// One pane, or `None` when it no longer exists.
    pub fn pane(&self, pane: &str) -> Result<Option<PaneInfo>, TmuxError> {
        match self.run(&["display-message", "-p", "-t", pane, PANE_FORMAT], None) {
            Ok(out) => Ok(parse_pane_line(out.trim())),
            Err(TmuxError::NoServer(_)) | Err(TmuxError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Closes a window (and the process in it).
    pub fn kill_window(&self, window_id: &str) -> Result<(), TmuxError> {
        self.run(&["kill-window", "-t", window_id], None).map(drop)
    }

    /// Closes a whole session.
    pub fn kill_session(&self, session: &str) -> Result<(), TmuxError> {
        self.run(&["kill-session", "-t", &format!("={session}")], None)
            .map(drop)
    }

    /// Names of all sessions on the server (empty when no server runs).
    pub fn list_sessions(&self) -> Result<Vec<String>, TmuxError> {
        match self.run(&["list-sessions", "-F", "#{session_name}"], None) {
            Ok(out) => Ok(out.lines().map(str::to_string).collect()),
            Err(e) if e.means_no_sessions() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

fn unexpected(command: &str, out: &str) -> TmuxError {
    TmuxError::Failed {
        command: command.to_string(),
        stderr: format!("unexpected output {out:?}"),
    }
}

fn parse_pane_line(line: &str) -> Option<PaneInfo> {
    let mut f = line.split(SEP);
    Some(PaneInfo {
        session: f.next()?.to_string(),
        window_id: f.next()?.to_string(),
        window_name: f.next()?.to_string(),
        pane_id: f.next()?.to_string(),
        pid: f.next()?.parse().ok()?,
        piped: f.next()? == "1",
        current_path: f.next()?.to_string(),
        current_command: f.next().unwrap_or_default().to_string(),
    })
}

/// Quotes a string for `/bin/sh` (single quotes; embedded quotes closed and escaped).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_pane_line() {
        let line = "cao-a\u{1f}@1\u{1f}dev-1234\u{1f}%2\u{1f}42\u{1f}1\u{1f}/home/x\u{1f}claude";
        let p = parse_pane_line(line).unwrap();
        assert_eq!(p.pane_id, "%2");
        assert_eq!(p.pid, 42);
        assert!(p.piped);
        assert_eq!(p.current_path, "/home/x");
        assert_eq!(p.current_command, "claude");
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
