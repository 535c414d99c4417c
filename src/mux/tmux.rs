//! [`TmuxCli`]: the [`Mux`] on the `tmux` program. Commands are built with
//! `tmux_interface`'s builders and all run through [`TmuxCli::run`], the one choke point that
//! selects the private server from `CAO_TMUX_SOCKET`, gives tmux a null (or piped) stdin — the
//! MCP server's stdin is its JSON-RPC stream, and `tmux_interface` would let tmux inherit it —
//! and turns a non-zero exit into a typed error (`tmux_interface`'s `output()` returns `Ok`
//! when tmux fails).

use std::io::Write;

use tmux_interface::{
    CapturePane, DisplayMessage, HasSession, KillSession, KillWindow, ListPanes, ListSessions,
    LoadBuffer, NewSession, NewWindow, PasteBuffer, PipePane, SelectWindow, SendKeys, StdIO,
    SwitchClient, Tmux, TmuxCommand, TmuxCommands,
};

use super::{Mux, MuxError, PaneInfo, WindowSpec};
use crate::env;

/// Field separator for `-F` formats: a control character no name contains.
const SEP: char = '\u{1f}';
const PANE_FORMAT: &str = "#{session_name}\u{1f}#{window_id}\u{1f}#{window_name}\u{1f}#{pane_id}\u{1f}#{pane_pid}\u{1f}#{pane_pipe}\u{1f}#{pane_current_path}\u{1f}#{pane_current_command}";
/// The size of a new session's window (no client is attached to size it).
const WIDTH: usize = 220;
const HEIGHT: usize = 50;

/// What a tmux process gets on its standard streams.
enum Io<'a> {
    /// Null stdin, captured stdout and stderr: every command but two.
    Null,
    /// These bytes on stdin (`load-buffer -`), captured stdout and stderr.
    Input(&'a [u8]),
    /// The caller's terminal (`attach-session`): a client needs it.
    Terminal,
}

/// A handle on one tmux server (the default one, or `-L CAO_TMUX_SOCKET`).
#[derive(Debug, Clone)]
pub struct TmuxCli {
    socket: Option<String>,
}

impl TmuxCli {
    /// The server selected by the environment.
    pub fn from_env() -> Self {
        TmuxCli {
            socket: env::non_empty(env::CAO_TMUX_SOCKET),
        }
    }

    /// Runs one invocation of tmux (a command sequence when `commands` holds several) and
    /// returns its stdout. The only place cao starts a tmux process.
    fn run(&self, commands: TmuxCommands<'_>, io: Io<'_>) -> Result<String, MuxError> {
        let name = commands
            .commands
            .first()
            .and_then(|c| c.name.as_deref())
            .unwrap_or_default()
            .to_string();
        // `-u`: in a locale that is not UTF-8 (a login over ssh, cron, a service) tmux would
        // print every byte outside printable ASCII as `_`: the field separator of the pane
        // format and every non-ASCII glyph of a captured screen.
        let mut tmux = Tmux::new().force_utf8().commands(commands);
        if let Some(socket) = &self.socket {
            tmux = tmux.socket_name(socket.as_str());
        }
        let (stdin, output) = match io {
            Io::Null => (StdIO::Null, StdIO::Piped),
            Io::Input(_) => (StdIO::Piped, StdIO::Piped),
            Io::Terminal => (StdIO::Inherit, StdIO::Inherit),
        };
        let mut cmd = tmux
            .stdin(Some(stdin))
            .stdout(Some(output.clone()))
            .stderr(Some(output))
            .into_command();
        if matches!(io, Io::Terminal) {
            // A client started inside tmux refuses to nest unless TMUX is unset.
            cmd.env_remove("TMUX");
        }
        let io_error = |source| MuxError::Io {
            command: name.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                MuxError::NotInstalled(e)
            } else {
                io_error(e)
            }
        })?;
        if let Io::Input(bytes) = io {
            let mut stdin = child.stdin.take().expect("stdin was piped");
            stdin.write_all(bytes).map_err(io_error)?;
        }
        let out = child.wait_with_output().map_err(io_error)?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.contains("no server running")
            || stderr.contains("error connecting to")
            || stderr.contains("server exited unexpectedly")
        {
            return Err(MuxError::NoServer {
                socket: self.socket.clone(),
            });
        }
        Err(MuxError::Failed {
            command: name,
            stderr: if stderr.is_empty() {
                format!("exit status {}", out.status)
            } else {
                stderr
            },
        })
    }

    /// Runs one command with a null stdin.
    fn run_one(&self, command: TmuxCommand<'_>) -> Result<String, MuxError> {
        self.run(TmuxCommands::new().cmd(command), Io::Null)
    }

    /// Runs a command that prints one pane line (`-P -F PANE_FORMAT`) and reads it.
    fn run_for_pane(&self, command: TmuxCommand<'_>) -> Result<PaneInfo, MuxError> {
        let name = command.name.clone().unwrap_or_default().into_owned();
        let out = self.run_one(command)?;
        parse_pane_line(out.trim()).ok_or(MuxError::Unexpected {
            command: name,
            output: out,
        })
    }
}

/// The builders, one function per operation, kept apart from running them so each
/// command line is pinned by a test.
mod build {
    use super::*;

    /// A session target that matches the name exactly (`=name`), not as a prefix.
    fn exact(session: &str) -> String {
        format!("={session}")
    }

    /// Appends `-- argv...`: the program tmux runs in the new window, as argv.
    fn with_argv<'a>(mut command: TmuxCommand<'a>, argv: &'a [String]) -> TmuxCommand<'a> {
        command.push_param("--");
        for arg in argv {
            command.push_param(arg.as_str());
        }
        command
    }

    pub(super) fn has_session(name: &str) -> TmuxCommand<'static> {
        HasSession::new().target_session(exact(name)).build()
    }

    pub(super) fn new_session<'a>(window: &WindowSpec<'a>) -> TmuxCommand<'a> {
        let command = NewSession::new()
            .detached()
            .print()
            .format(PANE_FORMAT)
            .width(WIDTH)
            .height(HEIGHT)
            .session_name(window.session)
            .window_name(window.name)
            .start_directory(window.cwd)
            .build();
        with_argv(command, window.argv)
    }

    pub(super) fn new_window<'a>(window: &WindowSpec<'a>) -> TmuxCommand<'a> {
        let command = NewWindow::new()
            .detached()
            .print()
            .format(PANE_FORMAT)
            .target_window(format!("={}:", window.session))
            .window_name(window.name)
            .start_directory(window.cwd)
            .build();
        with_argv(command, window.argv)
    }

    /// `load-buffer -b BUF -` (the text comes on stdin) `; paste-buffer -p -d -b BUF -t PANE`
    /// (bracketed, the buffer deleted after) `[; send-keys -t PANE KEYS]`.
    pub(super) fn paste<'a>(
        buffer: &'a str,
        pane: &'a str,
        then_keys: &[&'a str],
    ) -> TmuxCommands<'a> {
        let mut commands = TmuxCommands::new()
            .cmd(LoadBuffer::new().buffer_name(buffer).path("-").build())
            .cmd(
                PasteBuffer::new()
                    .bracket_codes()
                    .delete()
                    .buffer_name(buffer)
                    .target_pane(pane)
                    .build(),
            );
        if !then_keys.is_empty() {
            commands.push(send_keys(pane, then_keys));
        }
        commands
    }

    pub(super) fn send_keys<'a>(pane: &'a str, keys: &[&'a str]) -> TmuxCommand<'a> {
        keys.iter()
            .fold(SendKeys::new().target_pane(pane), |c, key| c.key(*key))
            .build()
    }

    /// `capture-pane -p -J -t PANE`, from the top of the scrollback (`-S -`) when `all`.
    pub(super) fn capture(pane: &str, all: bool) -> TmuxCommand<'_> {
        let command = CapturePane::new().stdout().join().target_pane(pane);
        let command = if all {
            command.start_line("-")
        } else {
            command
        };
        command.build()
    }

    /// `capture-pane -p -e -J -t PANE`: the visible screen with its colours.
    pub(super) fn capture_styled(pane: &str) -> TmuxCommand<'_> {
        CapturePane::new()
            .stdout()
            .escape_sequences()
            .join()
            .target_pane(pane)
            .build()
    }

    /// `select-window -t WINDOW`.
    pub(super) fn select_window(window_id: &str) -> TmuxCommand<'_> {
        SelectWindow::new().target_window(window_id).build()
    }

    /// `switch-client -t WINDOW`: the client of the calling process (found through `TMUX`).
    pub(super) fn switch_client(window_id: &str) -> TmuxCommand<'_> {
        SwitchClient::new().target_session(window_id).build()
    }

    /// `pipe-pane -O -t PANE COMMAND` (the builder calls `-O` `stdin`).
    pub(super) fn pipe_pane<'a>(pane: &'a str, shell_command: &'a str) -> TmuxCommand<'a> {
        PipePane::new()
            .stdin()
            .target_pane(pane)
            .shell_command(shell_command)
            .build()
    }

    pub(super) fn list_panes() -> TmuxCommand<'static> {
        ListPanes::new().all().format(PANE_FORMAT).build()
    }

    pub(super) fn pane(pane: &str) -> TmuxCommand<'_> {
        DisplayMessage::new()
            .print()
            .target_pane(pane)
            .message(PANE_FORMAT)
            .build()
    }

    pub(super) fn kill_window(window_id: &str) -> TmuxCommand<'_> {
        KillWindow::new().target_window(window_id).build()
    }

    pub(super) fn kill_session(session: &str) -> TmuxCommand<'static> {
        KillSession::new().target_session(exact(session)).build()
    }

    pub(super) fn socket_path() -> TmuxCommand<'static> {
        DisplayMessage::new()
            .print()
            .message("#{socket_path}")
            .build()
    }

    pub(super) fn list_sessions() -> TmuxCommand<'static> {
        ListSessions::new().format("#{session_name}").build()
    }

    pub(super) fn attach(session: &str) -> TmuxCommand<'static> {
        tmux_interface::AttachSession::new()
            .target_session(exact(session))
            .build()
    }
}

impl Mux for TmuxCli {
    fn socket(&self) -> Option<&str> {
        self.socket.as_deref()
    }

    fn has_session(&self, name: &str) -> Result<bool, MuxError> {
        match self.run_one(build::has_session(name)) {
            Ok(_) => Ok(true),
            Err(MuxError::NoServer { .. }) | Err(MuxError::Failed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn new_session(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError> {
        self.run_for_pane(build::new_session(window))
    }

    fn new_window(&self, window: &WindowSpec<'_>) -> Result<PaneInfo, MuxError> {
        self.run_for_pane(build::new_window(window))
    }

    fn paste(&self, pane: &str, text: &str, then_keys: &[&str]) -> Result<(), MuxError> {
        // A uniquely named buffer, deleted by the paste: concurrent pastes never mix.
        let buffer = format!("cao-{}-{}", std::process::id(), rand::random::<u32>());
        self.run(
            build::paste(&buffer, pane, then_keys),
            Io::Input(text.as_bytes()),
        )
        .map(drop)
    }

    fn send_keys(&self, pane: &str, keys: &[&str]) -> Result<(), MuxError> {
        self.run_one(build::send_keys(pane, keys)).map(drop)
    }

    fn capture(&self, pane: &str) -> Result<String, MuxError> {
        self.run_one(build::capture(pane, false))
    }

    fn capture_all(&self, pane: &str) -> Result<String, MuxError> {
        self.run_one(build::capture(pane, true))
    }

    fn capture_styled(&self, pane: &str) -> Result<String, MuxError> {
        self.run_one(build::capture_styled(pane))
    }

    fn select_window(&self, window_id: &str) -> Result<(), MuxError> {
        self.run_one(build::select_window(window_id)).map(drop)
    }

    fn switch_client(&self, window_id: &str) -> Result<(), MuxError> {
        self.run_one(build::switch_client(window_id)).map(drop)
    }

    fn pipe_pane(&self, pane: &str, shell_command: &str) -> Result<(), MuxError> {
        self.run_one(build::pipe_pane(pane, shell_command))
            .map(drop)
    }

    fn list_panes(&self) -> Result<Vec<PaneInfo>, MuxError> {
        match self.run_one(build::list_panes()) {
            Ok(out) => Ok(out.lines().filter_map(parse_pane_line).collect()),
            Err(e) if e.means_no_sessions() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn pane(&self, pane: &str) -> Result<Option<PaneInfo>, MuxError> {
        match self.run_one(build::pane(pane)) {
            Ok(out) => Ok(parse_pane_line(out.trim())),
            Err(MuxError::NoServer { .. }) | Err(MuxError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn kill_window(&self, window_id: &str) -> Result<(), MuxError> {
        self.run_one(build::kill_window(window_id)).map(drop)
    }

    fn kill_session(&self, session: &str) -> Result<(), MuxError> {
        self.run_one(build::kill_session(session)).map(drop)
    }

    fn socket_path(&self) -> Result<Option<std::path::PathBuf>, MuxError> {
        match self.run_one(build::socket_path()) {
            Ok(out) if !out.trim().is_empty() => Ok(Some(out.trim().into())),
            Ok(_) => Ok(None),
            Err(e) if e.means_no_sessions() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list_sessions(&self) -> Result<Vec<String>, MuxError> {
        match self.run_one(build::list_sessions()) {
            Ok(out) => Ok(out.lines().map(str::to_string).collect()),
            Err(e) if e.means_no_sessions() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn attach(&self, session: &str) -> Result<(), MuxError> {
        self.run(
            TmuxCommands::new().cmd(build::attach(session)),
            Io::Terminal,
        )
        .map(drop)
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

/// The argv a command sequence gives tmux (after `tmux [-L socket]`), as a shell would show
/// it: arguments with spaces quoted, the pane format as `FMT`.
#[cfg(test)]
fn command_line(commands: &TmuxCommands<'_>) -> String {
    let quoted = |a: std::borrow::Cow<'_, str>| match a.as_ref() {
        PANE_FORMAT => "FMT".to_string(),
        a if a.contains(' ') => format!("'{a}'"),
        a => a.to_string(),
    };
    let argv: Vec<String> = commands.to_vec().into_iter().map(quoted).collect();
    argv.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(command: TmuxCommand<'_>) -> String {
        command_line(&TmuxCommands::new().cmd(command))
    }

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

    /// The builders give tmux the command lines cao gave it before it used them (flags in
    /// the builders' order).
    #[test]
    fn each_operation_builds_the_command_line_tmux_expects() {
        let argv = ["/bin/cao".to_string(), "_exec".into(), "/r/x.json".into()];
        let window = WindowSpec {
            session: "cao-a",
            name: "dev-1",
            cwd: "/w",
            argv: &argv,
        };
        let expected = [
            (
                one(build::new_session(&window)),
                "new-session -d -P -c /w -F FMT -n dev-1 -s cao-a -x 220 -y 50 -- /bin/cao _exec /r/x.json",
            ),
            (
                one(build::new_window(&window)),
                "new-window -d -P -c /w -F FMT -n dev-1 -t =cao-a: -- /bin/cao _exec /r/x.json",
            ),
            (
                command_line(&build::paste("cao-1-2", "%3", &["Enter"])),
                "load-buffer -b cao-1-2 - ; paste-buffer -d -p -b cao-1-2 -t %3 ; send-keys -t %3 Enter",
            ),
            (
                command_line(&build::paste("cao-1-2", "%3", &[])),
                "load-buffer -b cao-1-2 - ; paste-buffer -d -p -b cao-1-2 -t %3",
            ),
            (
                one(build::send_keys("%3", &["Escape", "C-c"])),
                "send-keys -t %3 Escape C-c",
            ),
            (one(build::capture("%3", false)), "capture-pane -p -J -t %3"),
            (
                one(build::capture("%3", true)),
                "capture-pane -p -J -S - -t %3",
            ),
            (
                one(build::pipe_pane("%3", "exec cao _watch x")),
                "pipe-pane -O -t %3 'exec cao _watch x'",
            ),
            (one(build::list_panes()), "list-panes -a -F FMT"),
            (one(build::pane("%3")), "display-message -p -t %3 FMT"),
            (one(build::has_session("cao-a")), "has-session -t =cao-a"),
            (one(build::kill_session("cao-a")), "kill-session -t =cao-a"),
            (one(build::kill_window("@2")), "kill-window -t @2"),
            (
                one(build::list_sessions()),
                "list-sessions -F #{session_name}",
            ),
            (one(build::attach("cao-a")), "attach-session -t =cao-a"),
        ];
        for (built, expected) in expected {
            assert_eq!(built, expected);
        }
    }
}
