//! What a live display of the terminals (`cao tui`) needs beyond `list`: cheap signals that
//! something changed, so it re-reads a terminal only when there is news instead of capturing
//! every screen on a fast timer, and the way to bring a terminal's window in front of the user.

use super::{Engine, EngineError, SESSION_PREFIX, cao_session_name, validate_terminal_id, watcher};
use crate::env;
use crate::mux::{MuxError, WindowSpec};

/// What [`Engine::show`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The tmux client this process runs in now shows the terminal's window.
    Switched,
    /// The window is selected in its session, but this process is not in a client of cao's
    /// tmux server: attach to `session` (it opens on that window).
    Attach {
        /// The tmux session to attach to.
        session: String,
    },
}

impl Engine {
    /// Changes whenever another process commits to the store (a terminal created or gone, a
    /// message queued or delivered); one SQLite query (see [`crate::store::Store::data_version`]).
    pub fn store_version(&self) -> Result<i64, EngineError> {
        Ok(self.store().data_version()?)
    }

    /// A doorbell rung when terminal `id`'s screen changes: its watcher rings it when the
    /// pane's output settles (at most every 300 ms while it streams), and the CLI's turn-end
    /// hook rings it too. Poll it with a zero timeout to learn whether there is news.
    pub fn screen_doorbell(&self, id: &str) -> Result<watcher::Waiter, EngineError> {
        validate_terminal_id(id)?;
        Ok(watcher::Waiter::new(&self.run.terminal(id)))
    }

    /// A terminal's visible screen with its colours (SGR escapes), for a preview; `None`
    /// when its pane is gone.
    pub fn styled_screen(&self, id: &str) -> Result<Option<String>, EngineError> {
        let record = self.terminal(id)?;
        match self.mux.capture_styled(&record.pane_id) {
            Ok(screen) => Ok(Some(screen)),
            Err(MuxError::NoServer { .. }) => Ok(None),
            Err(e) => match self.mux.pane(&record.pane_id) {
                Ok(None) | Err(MuxError::NoServer { .. }) => Ok(None),
                _ => Err(e.into()),
            },
        }
    }

    /// Whether cao's tmux server is running (a display says so when it is not, instead of
    /// showing an empty list as if every agent had ended).
    pub fn server_running(&self) -> Result<bool, EngineError> {
        Ok(self.mux.socket_path()?.is_some())
    }

    /// Brings terminal `id`'s window in front: selects it in its session and, when this
    /// process runs inside a client of cao's tmux server, switches that client to it.
    pub fn show(&self, id: &str) -> Result<Shown, EngineError> {
        let record = self.terminal(id)?;
        self.mux.select_window(&record.window_id)?;
        if self.inside_our_server()? {
            self.mux.switch_client(&record.window_id)?;
            return Ok(Shown::Switched);
        }
        Ok(Shown::Attach {
            session: record.session,
        })
    }

    /// Whether `TMUX` (set by tmux in its panes: `socket,pid,session`) names cao's server.
    fn inside_our_server(&self) -> Result<bool, EngineError> {
        let Some(tmux) = env::non_empty(env::TMUX) else {
            return Ok(false);
        };
        let Some(ours) = self.mux.socket_path()? else {
            return Ok(false);
        };
        let theirs = tmux.split(',').next().unwrap_or_default();
        Ok(std::path::Path::new(theirs) == ours)
    }

    /// Opens `cao tui` as a new window of a cao session (`cao tui --window`): `session`, else
    /// the calling terminal's, else the first cao session. The window gets this process's
    /// `CAO_HOME` and tmux socket on its command line (a tmux server's environment is the
    /// one it started with). Returns the session.
    pub fn open_tui_window(&self, session: Option<&str>) -> Result<String, EngineError> {
        let session = match session {
            Some(name) => {
                let name = cao_session_name(name);
                if !self.mux.has_session(&name)? {
                    return Err(EngineError::UnknownSession(name));
                }
                name
            }
            None => match self.caller()? {
                Some(caller) if caller.session.starts_with(SESSION_PREFIX) => caller.session,
                _ => self
                    .mux
                    .list_sessions()?
                    .into_iter()
                    .find(|s| s.starts_with(SESSION_PREFIX))
                    .ok_or(EngineError::NoSession)?,
            },
        };
        let exe = std::env::current_exe().map_err(|source| EngineError::Io {
            what: "cannot find the cao executable".into(),
            source,
        })?;
        let mut argv = vec![
            "env".to_string(),
            format!("{}={}", env::CAO_HOME, self.home.display()),
        ];
        if let Some(socket) = self.mux.socket() {
            argv.push(format!("{}={socket}", env::CAO_TMUX_SOCKET));
        }
        argv.push(exe.display().to_string());
        argv.push("tui".into());
        let cwd = self.home.display().to_string();
        let pane = self.mux.new_window(&WindowSpec {
            session: &session,
            name: "cao-tui",
            cwd: &cwd,
            argv: &argv,
        })?;
        self.mux.select_window(&pane.window_id)?;
        Ok(session)
    }
}
