//! Who calls cao. A supervisor that cao started is a terminal already; one the user started
//! and registered cao in gets an identity on its MCP server's first tool call, so workers can
//! answer it:
//!
//! - inside tmux (its MCP server runs under a pane of cao's tmux server that is not a cao
//!   terminal): the pane is **adopted** — a terminal whose messages are typed in when its
//!   CLI is idle and its input box empty, and which cao never exits or kills;
//! - anywhere else (an IDE, a desktop app, a plain terminal), or when adoption is off or the
//!   CLI cannot be told: a **mailbox** — a terminal with no pane that lives as long as its MCP
//!   server; its messages wait until the caller collects them (`wait_for_messages`).

use std::time::Duration;

use super::{Engine, EngineError, watcher};
use crate::env;
use crate::mux::PaneInfo;
use crate::store::{Message, TerminalKind, TerminalRecord, now_ms};

/// Profile name shown for terminals cao did not start.
pub const ADOPTED_PROFILE: &str = "(adopted)";
/// Profile name shown for mailboxes.
pub const MAILBOX_PROFILE: &str = "(mailbox)";
/// Provider recorded for a mailbox whose client could not be told apart.
const UNKNOWN_PROVIDER: &str = "unknown";
/// Longest single wait of `wait_for_messages` between two looks (a lost ring is noticed
/// this late at worst; the doorbell makes the usual case immediate).
const MAILBOX_TICK: Duration = Duration::from_millis(500);

/// The provider of an MCP client, from the name it gives in `initialize` (`clientInfo`).
pub fn provider_for_client(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    [
        ("claude", "claude_code"),
        ("codex", "codex"),
        ("gemini", "gemini_cli"),
        ("opencode", "opencode"),
        ("copilot", "copilot_cli"),
        ("kiro", "kiro_cli"),
        ("kimi", "kimi_cli"),
        ("amazon-q", "q_cli"),
        ("cao-fake-agent", "fake"),
    ]
    .into_iter()
    .find(|(needle, _)| name.contains(needle))
    .map(|(_, provider)| provider)
}

/// The provider of the program in a pane's foreground (`pane_current_command`).
fn provider_for_command(command: &str) -> Option<&'static str> {
    match command {
        "claude" => Some("claude_code"),
        "codex" => Some("codex"),
        "gemini" => Some("gemini_cli"),
        "opencode" => Some("opencode"),
        "copilot" => Some("copilot_cli"),
        "kiro-cli" => Some("kiro_cli"),
        "kimi" => Some("kimi_cli"),
        "q" => Some("q_cli"),
        "cao-fake-agent" => Some("fake"),
        _ => None,
    }
}

/// Whether `pid` is this process or one of its ancestors: the pane named by `TMUX_PANE`
/// really is the one this MCP server runs under, on cao's tmux server (a pane id of another
/// tmux server can name an unrelated pane on cao's).
fn is_ancestor(pid: u32) -> bool {
    let mut current = std::process::id();
    for _ in 0..64 {
        if current == pid {
            return true;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{current}/stat")) else {
            return false;
        };
        // The parent pid is the second field after the command name in parentheses.
        let Some(parent) = stat
            .rfind(')')
            .and_then(|end| stat[end + 2..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            return false;
        };
        if parent <= 1 {
            return false;
        }
        current = parent;
    }
    false
}

/// Whether process `pid` is alive (and this user may signal it): `kill(pid, 0)`, which sends
/// nothing. Pid 0 and pids past `i32::MAX` name no single process, so they are never alive.
pub(crate) fn process_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

/// Kills process `pid` (SIGKILL), when it names one process.
pub(crate) fn kill_process(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

impl Engine {
    /// The terminal of an MCP server's caller, made one if it is not yet: its cao terminal,
    /// else its tmux pane adopted (unless `CAO_ADOPT=false`), else a mailbox owned by this
    /// process. `client` is the name the MCP client gave in `initialize`.
    pub fn identify_caller(&self, client: Option<&str>) -> Result<TerminalRecord, EngineError> {
        if let Some(record) = self.caller()? {
            return Ok(record);
        }
        let from_client = client.and_then(provider_for_client);
        if env::flag_or(env::CAO_ADOPT, true)
            && let Some(pane_id) = env::non_empty(env::TMUX_PANE)
            && let Some(pane) = self.mux.pane(&pane_id).unwrap_or(None)
            && is_ancestor(pane.pid)
        {
            match from_client.or_else(|| provider_for_command(&pane.current_command)) {
                Some(provider) => return self.adopt(&pane, provider),
                None => tracing::info!(
                    pane = %pane_id,
                    client,
                    command = %pane.current_command,
                    "cannot tell which CLI runs in the pane; the caller gets a mailbox"
                ),
            }
        }
        self.open_mailbox(from_client)
    }

    /// Records a pane cao did not start as a terminal and arms its watcher.
    fn adopt(&self, pane: &PaneInfo, provider: &str) -> Result<TerminalRecord, EngineError> {
        let now = now_ms();
        let record = TerminalRecord {
            id: super::new_terminal_id(),
            session: pane.session.clone(),
            window_id: pane.window_id.clone(),
            pane_id: pane.pane_id.clone(),
            provider: provider.to_string(),
            profile: ADOPTED_PROFILE.to_string(),
            created_by: None,
            working_dir: pane.current_path.clone(),
            created_at: now,
            last_active: now,
            kind: TerminalKind::Adopted,
            owner_pid: None,
            cao_tools: None,
        };
        self.store().insert_terminal(&record)?;
        self.make_run_dir(&record.id)?;
        tracing::info!(terminal = %record.id, pane = %pane.pane_id, provider, "adopted a pane");
        // A pane the user pipes elsewhere keeps its pipe: its messages are then typed by the
        // cao calls that queue them.
        if !pane.piped {
            watcher::arm(self, &record)?;
        }
        Ok(record)
    }

    /// A mailbox for a caller outside tmux, owned by this process.
    fn open_mailbox(&self, provider: Option<&str>) -> Result<TerminalRecord, EngineError> {
        let record = TerminalRecord::paneless(
            super::new_terminal_id(),
            TerminalKind::Mailbox,
            provider.unwrap_or(UNKNOWN_PROVIDER).to_string(),
            MAILBOX_PROFILE.to_string(),
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            Some(std::process::id()),
        );
        self.store().insert_terminal(&record)?;
        self.make_run_dir(&record.id)?;
        Ok(record)
    }

    /// Lets go of a caller's identity when its MCP server ends: a mailbox goes (its
    /// uncollected messages are marked failed); an adopted pane stays a terminal while it
    /// lives, so a restarted MCP server in it keeps the same id and mail.
    pub fn release_caller(&self, record: &TerminalRecord) {
        if record.kind == TerminalKind::Mailbox
            && let Err(e) = self.forget(
                record,
                "stopped collecting its messages (its MCP server ended)",
            )
        {
            tracing::warn!(terminal = %record.id, "cannot remove the mailbox: {e}");
        }
    }

    /// How many messages wait for `id`.
    pub fn pending_messages(&self, id: &str) -> Result<u32, EngineError> {
        Ok(self.store().pending_count(id)?)
    }

    /// Hands out the messages waiting for `id`, oldest first, each exactly once.
    pub fn take_messages(&self, id: &str) -> Result<Vec<Message>, EngineError> {
        self.terminal(id)?;
        Ok(self.store().take_pending(id)?)
    }

    /// Waits until at least one message waits for `id` (or `timeout` passes, or `cancel` is
    /// set) and hands out all that wait. Woken by the sender's ring; a slow tick covers a
    /// lost one. `progress` is called on every tick with the time waited so far.
    pub fn wait_for_messages(
        &self,
        id: &str,
        timeout: Duration,
        cancel: &std::sync::atomic::AtomicBool,
        progress: &mut dyn FnMut(Duration),
    ) -> Result<Vec<Message>, EngineError> {
        let record = self.terminal(id)?;
        let mut waiter = watcher::Waiter::new(&self.record_files(&record).run_dir);
        let started = self.clock.now();
        let deadline = started + timeout;
        let messages = self.wait_until(deadline, MAILBOX_TICK, Some(&mut waiter), || {
            let messages = self.take_messages(id)?;
            let now = self.clock.now();
            let cancelled = cancel.load(std::sync::atomic::Ordering::SeqCst);
            if !messages.is_empty() || now >= deadline || cancelled {
                return Ok::<_, EngineError>(Some(messages));
            }
            progress(now - started);
            Ok(None)
        })?;
        Ok(messages.unwrap_or_default())
    }

    /// The terminals a caller sees in `list_terminals`: a cao terminal, its session's; a
    /// supervisor cao did not start, itself and the sessions its workers run in.
    pub fn list_for(
        &self,
        caller: &TerminalRecord,
    ) -> Result<Vec<super::TerminalView>, EngineError> {
        let all = self.list()?;
        let sessions: Vec<String> = match caller.kind {
            TerminalKind::Created => vec![caller.session.clone()],
            TerminalKind::Adopted | TerminalKind::Mailbox | TerminalKind::Relay => all
                .iter()
                .filter(|t| t.created_by.as_deref() == Some(caller.id.as_str()))
                .map(|t| t.session.clone())
                .collect(),
        };
        let mut mine: Vec<super::TerminalView> = all
            .into_iter()
            .filter(|t| t.id == caller.id || sessions.contains(&t.session))
            .collect();
        if caller.kind == TerminalKind::Mailbox {
            mine.insert(0, self.view(&caller.id)?);
        }
        Ok(mine)
    }

    pub(super) fn make_run_dir(&self, id: &str) -> Result<(), EngineError> {
        let dir = self.run_dir()?.terminal(id);
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_and_commands_name_their_providers() {
        assert_eq!(provider_for_client("claude-code"), Some("claude_code"));
        assert_eq!(provider_for_client("codex-mcp-client"), Some("codex"));
        assert_eq!(
            provider_for_client("gemini-cli-mcp-client"),
            Some("gemini_cli")
        );
        assert_eq!(provider_for_client("cao-fake-agent"), Some("fake"));
        assert_eq!(provider_for_client("Visual Studio Code"), None);
        assert_eq!(provider_for_command("claude"), Some("claude_code"));
        assert_eq!(provider_for_command("bash"), None);
    }

    #[test]
    fn this_process_is_its_own_ancestor_and_init_is_not_followed() {
        assert!(is_ancestor(std::process::id()));
        assert!(is_ancestor(std::os::unix::process::parent_id()));
        assert!(!is_ancestor(u32::MAX));
    }

    #[test]
    fn process_alive_sees_live_processes_only() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid), "a reaped child is gone");
        // Neither names one process (kill(2) would take them as process groups).
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
