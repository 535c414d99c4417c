//! The one home of cao's logic: terminal lifecycle, input, status, output, the inbox and the
//! handoff/assign patterns. The MCP server and the CLI are thin callers of [`Engine`].
//!
//! The engine is synchronous: every operation is a handful of short tmux calls and SQLite
//! transactions. Async callers run it on a blocking thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::env;
use crate::mux::{Mux, MuxError, PaneInfo, TmuxCli};
use crate::profiles::{self, Profile, ProfileError};
use crate::providers::{self, Exit, McpServer, Provider, ProviderError, ProviderId, Status};
use crate::store::{
    Message, MessageStatus, Store, StoreError, TerminalKind, TerminalRecord, WorktreeRow,
};
use wait::Clock;

mod answers;
mod callers;
mod display;
mod inbox;
mod launch;
mod questions;
mod remote;
mod run_dir;
#[cfg(test)]
mod scenarios;
mod wait;
pub mod watcher;
pub mod workdir;
pub mod worktree;

pub use answers::{Answer, AnswerSource};
pub use callers::provider_for_client;
pub use display::Shown;
pub use inbox::{Delivery, sanitize as inbox_text};
pub use launch::exec_from_spec as launch_exec;
pub use questions::Answered;
pub use remote::{Probe, RelayBatch, RemoteAnswer, RemoteListing, RemoteSent};
pub use run_dir::RunDir;
pub use workdir::WorkdirError;
pub use worktree::{WorktreeError, WorktreeOutcome, WorktreeState};

/// Sender id used for messages that come from a shell or a non-cao caller.
pub const USER_SENDER: &str = "user";
/// Prefix of every tmux session cao creates; `shutdown --all` touches nothing else.
pub const SESSION_PREFIX: &str = "cao-";

/// Everything that can go wrong in an engine operation. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A terminal id that is not 8 lowercase hex characters.
    #[error(
        "invalid terminal id {0:?}: expected 8 lowercase hex characters, as shown by `cao list`"
    )]
    InvalidTerminalId(String),
    /// A well-formed id that cao does not know (or whose window is gone).
    #[error("no terminal {0}; it may have exited. See `cao list` for live terminals")]
    UnknownTerminal(String),
    /// A session name with characters tmux would read as target syntax.
    #[error(
        "invalid session name {0:?}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidSessionName(String),
    /// The session exists already.
    #[error(
        "session '{0}' already exists; pick another --session-name or `cao shutdown --session {0}`"
    )]
    SessionExists(String),
    /// No such cao session.
    #[error("no cao session named '{0}'; see `cao list`")]
    UnknownSession(String),
    /// A window was to open in a cao session, and none runs.
    #[error("no cao session is running; start one with `cao launch`")]
    NoSession,
    /// A provider asked for that is unknown or whose CLI is not installed.
    #[error("{reason}. Installed here: {}", installed_list(.installed))]
    ProviderUnavailable {
        reason: String,
        installed: Vec<&'static str>,
    },
    /// A model name that could be read as a flag or holds odd characters.
    #[error(
        "invalid model {0:?}: use the CLI's model name (letters, digits and . _ - : / @, not starting with -), or leave model out"
    )]
    InvalidModel(String),
    /// `answer_user_prompt` on a terminal that is not asking anything.
    #[error(
        "terminal {id} is {status}, not waiting for an answer: nothing was typed. Answer only a terminal whose status is waiting_user_answer (see list_terminals)"
    )]
    NotWaiting { id: String, status: Status },
    /// A waiting terminal whose question cao cannot answer.
    #[error("terminal {id} is waiting, but {reason}; nothing was typed")]
    CannotAnswer { id: String, reason: String },
    /// No CLI could be picked.
    #[error(
        "no provider given and none of the supported CLIs is on PATH ({0}); install one, pass --provider, or set CAO_PROVIDER"
    )]
    NoProvider(String),
    /// The terminal's CLI exited.
    #[error("the agent in terminal {id} exited{detail}")]
    Exited { id: String, detail: String },
    /// Waiting ran out of time.
    #[error("timed out after {seconds}s waiting for terminal {id} to {what}")]
    Timeout {
        id: String,
        seconds: u64,
        what: &'static str,
    },
    /// The caller cancelled.
    #[error("cancelled; terminal {0} was interrupted and closed")]
    Cancelled(String),
    /// The worker stopped in a state only a human or the supervisor can resolve.
    #[error("terminal {id} is {status}: {detail}")]
    Stuck {
        id: String,
        status: Status,
        detail: String,
    },
    /// An empty message.
    #[error("the message is empty; send some text")]
    EmptyMessage,
    /// A message over the size cap.
    #[error(
        "the message is {len} bytes, over the {max}-byte limit; send a shorter message or put the text in a file and send its path"
    )]
    MessageTooLarge { len: usize, max: usize },
    /// Refused working directory.
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    /// A worker's git worktree could not be made.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    /// Profile lookup or parsing failed.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Provider failure.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// tmux failure.
    #[error(transparent)]
    Mux(#[from] MuxError),
    /// State store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Talking to another host failed.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// A caller asked to answer a question on its own screen.
    #[error("terminal {0} is your own; a question on your screen is for your user to answer")]
    AnswerSelf(String),
    /// A supervisor asked to close its own terminal.
    #[error("terminal {0} is your own; close workers, not yourself")]
    CloseSelf(String),
    /// An operation cao keeps off terminals it did not start.
    #[error("terminal {id} is {what}; cao never exits or closes it")]
    NotOurs { id: String, what: &'static str },
    /// Local file trouble (run directory, launch spec).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// The installed providers as the end of an error sentence.
fn installed_list(installed: &[&str]) -> String {
    if installed.is_empty() {
        "none of the supported CLIs; install one (see the README's Supported CLIs)".into()
    } else {
        format!("{}; pass one of them as provider", installed.join(", "))
    }
}

/// Largest message cao will type (bytes); bigger texts belong in a file.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// What `create_terminal` should make.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Agent profile name.
    pub profile: String,
    /// Provider chosen explicitly (`--provider`, a tool call's `provider`); wins over
    /// everything else.
    pub provider: Option<String>,
    /// Model chosen explicitly (a tool call's `model`); wins over the profile's and the
    /// config file's. Passed the CLI's own way ([`ProviderId::model_flag`]).
    pub model: Option<String>,
    /// Name for a new session (launch); `None` lets cao pick one or use the caller's session.
    pub session_name: Option<String>,
    /// Start in the caller's session (workers) instead of a new one.
    pub join_caller_session: bool,
    /// Working directory; default: the caller's pane directory, else the current directory.
    pub working_dir: Option<PathBuf>,
    /// The creating terminal.
    pub caller: Option<TerminalRecord>,
    /// Pass permission-skipping flags to the CLI.
    pub yolo: bool,
    /// A first message to queue: typed the moment the CLI is first ready.
    pub initial_message: Option<String>,
    /// Start the worker in a git worktree of its own, on its own branch.
    pub use_worktree: bool,
    /// Run it on this host (`[hosts.NAME]`) instead of this machine.
    pub host: Option<String>,
}

impl CreateRequest {
    /// A worker of `caller` with `profile`, as the MCP tools start one: in the caller's
    /// session, permission prompts skipped only when the user asked with `CAO_YOLO`.
    pub fn worker(profile: String, caller: TerminalRecord, working_dir: Option<PathBuf>) -> Self {
        CreateRequest {
            profile,
            join_caller_session: true,
            working_dir,
            caller: Some(caller),
            yolo: env::flag(env::CAO_YOLO),
            ..Default::default()
        }
    }
}

/// A terminal and its live status, as shown by `list` and `status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct TerminalView {
    /// Terminal id.
    pub id: String,
    /// tmux session.
    pub session: String,
    /// Agent profile.
    pub profile: String,
    /// Provider (CLI).
    pub provider: String,
    /// Live status read from the screen.
    pub status: Status,
    /// Terminal that created it, if any.
    pub created_by: Option<String>,
    /// Working directory.
    pub working_dir: String,
    /// Messages waiting in its inbox.
    pub pending_messages: u32,
    /// Token usage of its conversation, from the CLI's record (`null` when unknown).
    pub usage: Option<crate::records::Usage>,
    /// `created` (cao started it), `adopted` (a supervisor's pane cao did not start) or
    /// `mailbox` (a caller outside tmux).
    pub kind: TerminalKind,
    /// The worker's git worktree (`use_worktree`): branch, uncommitted changes, commits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeState>,
    /// What it asks its user, when its status is `waiting_user_answer`: the question and its choices as its screen shows them (answer with `answer_user_prompt`).
    pub question: Option<String>,
    /// The host it runs on (`[hosts.NAME]`), for a terminal on another machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Unix milliseconds it was created, for the ages `cao tui` shows; kept out of JSON so
    /// the shape of `list_terminals` and `cao list --json` stays as it is.
    #[serde(skip)]
    #[schemars(skip)]
    pub created_at: i64,
}

/// A worktree cao made, as `cao worktrees` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeListing {
    /// What cao recorded when it made it.
    #[serde(flatten)]
    pub row: WorktreeRow,
    /// Whether its terminal is still running.
    pub running: bool,
    /// Its state now (`None`: its folder is gone).
    pub state: Option<WorktreeState>,
}

/// What one look at a terminal showed.
struct Live {
    status: Status,
    usage: Option<crate::records::Usage>,
    /// The question on its screen, when it is waiting for an answer.
    question: Option<String>,
}

/// Which part of a terminal's output to read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// The last answer, exactly as the agent gave it (no UI chrome)
    #[default]
    Last,
    /// Everything on the screen and above it (the whole scrollback)
    Full,
}

/// A status change or heartbeat while waiting on a worker.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The worker's terminal id.
    pub terminal_id: String,
    /// Its current status.
    pub status: Status,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// What the worker asks, while its status is `waiting_user_answer`.
    pub question: Option<String>,
}

/// The result of a finished handoff.
#[derive(Debug, Clone)]
pub struct HandoffOutcome {
    /// The worker's terminal id (now closed).
    pub terminal_id: String,
    /// The worker's last answer.
    pub output: String,
    /// Where the answer was read.
    pub answer_source: AnswerSource,
    /// The worker's token usage, when its CLI recorded it.
    pub usage: Option<crate::records::Usage>,
    /// What became of the worker's worktree (`use_worktree`).
    pub worktree: Option<WorktreeOutcome>,
    /// What the caller should know about how the worker was started (a model that was not
    /// applied, ...).
    pub notes: Vec<String>,
}

/// A worker `assign` started.
#[derive(Debug, Clone)]
pub struct Assigned {
    /// Its terminal id.
    pub terminal_id: String,
    /// Its profile.
    pub profile: String,
    /// The CLI it runs.
    pub provider: String,
    /// The host it runs on, when not this machine.
    pub host: Option<String>,
    /// What the caller should know about how it was started (a model that was not applied).
    pub notes: Vec<String>,
}

/// How long an MCP server started by a terminal cao is creating waits for that terminal's
/// record.
const CALLER_RECORD_WAIT: Duration = Duration::from_secs(5);
/// How often waits re-read the screen: short enough to add little latency, long enough to
/// cost nothing measurable (one `capture-pane` is ~2-3 ms).
const POLL: Duration = Duration::from_millis(20);
/// A handoff's safety tick while its task waits to be typed (start-up: dialogs, readiness);
/// the worker's watcher rings sooner when the pane's output settles.
const START_TICK: Duration = Duration::from_millis(250);
/// A handoff's safety tick once the task is typed, for a CLI that keeps a record: its hook
/// and its watcher ring on every event; the tick only bounds how late a lost ring or a
/// cancellation is noticed (a look costs one small file read).
const RECORD_TICK: Duration = Duration::from_millis(500);
/// How often a handoff reads the screen of a CLI that keeps a record (for a question to the
/// user, an error line, a closed window): one capture costs ~2-3 ms of CPU in cao and tmux.
const SCREEN_TICK: Duration = Duration::from_secs(2);
/// How often a handoff reads the screen when no doorbell rang (the pane printed nothing, no
/// hook ran): a watcher that died or a stalled pipe cannot hide a change for longer.
const SCREEN_SAFETY_TICK: Duration = Duration::from_secs(10);
/// The same before the task is typed, and for a CLI with no record.
const UNRUNG_SCREEN_TICK: Duration = Duration::from_secs(1);
/// A handoff's tick for a CLI with no record, whose screen is the only source.
const SCREEN_ONLY_TICK: Duration = Duration::from_millis(250);
/// How long a finished-looking screen waits for the record to show the turn's end before
/// the screen's answer is taken instead (a CLI release that moved or changed its record).
const RECORD_GRACE: Duration = Duration::from_secs(5);
/// Pause between the keys of a multi-key interrupt.
const INTERRUPT_KEY_GAP: Duration = Duration::from_millis(150);
/// How often an exiting CLI's pane is looked at when no doorbell rings.
const EXIT_TICK: Duration = Duration::from_millis(250);
/// How long an exiting CLI gets before its window is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Checks a terminal id's shape before it goes anywhere near tmux or SQL.
pub fn validate_terminal_id(id: &str) -> Result<(), EngineError> {
    if id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(EngineError::InvalidTerminalId(id.to_string()))
    }
}

fn validate_session_name(name: &str) -> Result<(), EngineError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidSessionName(name.to_string()))
    }
}

/// The tmux name of cao session `name`: `cao-` in front unless it is there already.
pub fn cao_session_name(name: &str) -> String {
    if name.starts_with(SESSION_PREFIX) {
        name.to_string()
    } else {
        format!("{SESSION_PREFIX}{name}")
    }
}

/// A fresh random terminal id.
fn new_terminal_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// The state directory: `CAO_HOME`, else the per-user data directory.
pub fn home_dir() -> PathBuf {
    env::non_empty(env::CAO_HOME)
        .map(PathBuf::from)
        .or_else(|| dirs::data_dir().map(|d| d.join("cao")))
        .unwrap_or_else(|| PathBuf::from(".cao"))
}

/// The orchestrator: a state store plus a multiplexer (tmux) and a clock.
pub struct Engine {
    home: PathBuf,
    /// The config file, read once when the engine is made.
    config: crate::config::Config,
    /// `home/run/`: the files kept per terminal.
    run: RunDir,
    mux: Arc<dyn Mux>,
    clock: Arc<dyn Clock>,
    store: Mutex<Store>,
}

impl Engine {
    /// The engine for the environment's `CAO_HOME` and `CAO_TMUX_SOCKET`.
    pub fn from_env() -> Result<Engine, EngineError> {
        Engine::new(home_dir(), Arc::new(TmuxCli::from_env()))
    }

    /// An engine over an explicit state directory and multiplexer, on the system clock.
    pub fn new(home: PathBuf, mux: Arc<dyn Mux>) -> Result<Engine, EngineError> {
        let store = Store::open(&home)?;
        // A broken config must not stop agents from starting (`cao config` shows why).
        let config = crate::config::Config::load(&home).unwrap_or_else(|e| {
            tracing::warn!("ignoring the config file: {e}");
            crate::config::Config::defaults(&home)
        });
        Ok(Engine {
            run: RunDir::new(&home),
            config,
            home,
            mux,
            clock: wait::system(),
            store: Mutex::new(store),
        })
    }

    /// The same engine on another clock (a test's, whose pauses take no time).
    #[cfg(test)]
    fn with_clock(mut self, clock: Arc<dyn Clock>) -> Engine {
        self.clock = clock;
        self
    }

    /// The state directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Gives this process's terminal to a client of `session` (`cao launch`), until the user
    /// detaches.
    pub fn attach(&self, session: &str) -> Result<(), EngineError> {
        Ok(self.mux.attach(session)?)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run directory, created when missing.
    fn run_dir(&self) -> Result<&RunDir, EngineError> {
        self.run.ensure().map_err(|source| EngineError::Io {
            what: "cannot create the run directory under CAO_HOME".into(),
            source,
        })?;
        Ok(&self.run)
    }

    /// The terminal running this process: `CAO_TERMINAL_ID`, else the tmux pane (`TMUX_PANE`)
    /// mapped back to a terminal. `None` for a caller outside any cao terminal.
    pub fn caller(&self) -> Result<Option<TerminalRecord>, EngineError> {
        if let Some(id) = env::non_empty(env::CAO_TERMINAL_ID) {
            validate_terminal_id(&id)?;
            // cao records a terminal right after its window opens; a CLI that starts its
            // MCP servers at once may ask first. Wait for the record rather than take the
            // caller for someone else.
            let deadline = self.clock.now() + CALLER_RECORD_WAIT;
            return self
                .wait_until(deadline, POLL, None, || {
                    Ok::<_, EngineError>(self.store().terminal(&id)?.map(Some))
                })
                .map(Option::flatten);
        }
        if let Some(pane) = env::non_empty(env::TMUX_PANE) {
            return Ok(self.store().terminal_by_pane(&pane)?);
        }
        Ok(None)
    }

    /// A terminal whose window still exists; a terminal whose window is gone is cleaned up
    /// and reported unknown.
    pub fn terminal(&self, id: &str) -> Result<TerminalRecord, EngineError> {
        validate_terminal_id(id)?;
        let record = self
            .store()
            .terminal(id)?
            .ok_or_else(|| EngineError::UnknownTerminal(id.to_string()))?;
        if !self.is_alive(&record, None)? {
            self.forget(&record, "is gone")?;
            return Err(EngineError::UnknownTerminal(id.to_string()));
        }
        Ok(record)
    }

    /// Whether a terminal still exists: its pane (among `panes` when the caller listed them
    /// already), or for a mailbox the process that owns it.
    fn is_alive(
        &self,
        record: &TerminalRecord,
        panes: Option<&[PaneInfo]>,
    ) -> Result<bool, EngineError> {
        Ok(match (record.kind, panes) {
            (TerminalKind::Mailbox, _) => record.owner_pid.is_some_and(callers::process_alive),
            // Lives as long as the machine that made it may still collect from it.
            (TerminalKind::Relay, _) => true,
            (_, Some(panes)) => panes.iter().any(|p| p.pane_id == record.pane_id),
            (_, None) => self.mux.pane(&record.pane_id)?.is_some(),
        })
    }

    /// Drops a terminal that ended: its record, run files and, for a worker in a worktree,
    /// the worktree when it holds nothing (what happened to it is returned).
    fn forget(
        &self,
        record: &TerminalRecord,
        reason: &str,
    ) -> Result<Option<WorktreeOutcome>, EngineError> {
        self.store()
            .delete_terminal(&record.id, &format!("receiver {} {reason}", record.id))?;
        let outcome = self.finish_worktree(&record.id)?;
        self.run.remove(&record.id);
        Ok(outcome)
    }

    /// Removes a terminal's worktree when it holds nothing, else marks it kept.
    fn finish_worktree(&self, terminal_id: &str) -> Result<Option<WorktreeOutcome>, EngineError> {
        // Bound first: a store guard held in the match would deadlock the re-insert.
        let taken = self.store().take_worktree(terminal_id)?;
        match taken {
            Some(row) => Ok(Some(self.finish_worktree_row(row)?)),
            None => Ok(None),
        }
    }

    /// Finishes a worktree whose row this process took out of the store.
    fn finish_worktree_row(&self, row: WorktreeRow) -> Result<WorktreeOutcome, EngineError> {
        let terminal_id = row.terminal_id.clone();
        let outcome = worktree::finish(&row);
        if outcome.is_kept() {
            // Back in the store, as kept: `cao worktrees` lists it, `clean` looks at it again.
            let kept = WorktreeRow {
                ended_at: row.ended_at.or(Some(crate::store::now_ms())),
                ..row
            };
            self.store().insert_worktree(&kept)?;
        }
        tracing::info!(terminal = %terminal_id, kept = outcome.is_kept(), "worker's worktree finished");
        Ok(outcome)
    }

    /// The worktree cao made for a terminal, if any.
    pub fn worktree_of(&self, terminal_id: &str) -> Result<Option<WorktreeRow>, EngineError> {
        Ok(self.store().worktree(terminal_id)?)
    }

    /// Every worktree cao made and still knows, with its state and whether its terminal
    /// is still running.
    pub fn worktrees(&self) -> Result<Vec<WorktreeListing>, EngineError> {
        let live: Vec<String> = self
            .store()
            .terminals()?
            .into_iter()
            .map(|t| t.id)
            .collect();
        Ok(self
            .store()
            .worktrees()?
            .into_iter()
            .map(|row| WorktreeListing {
                running: live.contains(&row.terminal_id),
                state: worktree::state(&row),
                row,
            })
            .collect())
    }

    /// `cao worktrees clean`: finishes every worktree whose terminal is gone (removing
    /// those that hold nothing) and says what became of each.
    pub fn clean_worktrees(&self) -> Result<Vec<(WorktreeRow, WorktreeOutcome)>, EngineError> {
        let mut done = Vec::new();
        for listing in self.worktrees()? {
            if listing.running {
                continue;
            }
            let id = listing.row.terminal_id.clone();
            if let Some(outcome) = self.finish_worktree(&id)? {
                done.push((listing.row, outcome));
            }
        }
        Ok(done)
    }

    /// Loads a profile by name from this engine's lookup path.
    pub fn profile(&self, name: &str) -> Result<Profile, EngineError> {
        Ok(profiles::load(&self.home, name)?)
    }

    /// Every profile cao can find.
    pub fn profiles(&self) -> Vec<Profile> {
        profiles::list(&self.home)
    }

    /// Picks the provider: explicit, else the profile's (when valid), else the caller's, else
    /// `CAO_PROVIDER`, else the first supported CLI found on PATH.
    pub fn resolve_provider(
        &self,
        explicit: Option<&str>,
        profile: &Profile,
        caller: Option<&TerminalRecord>,
    ) -> Result<&'static dyn Provider, EngineError> {
        if let Some(name) = explicit {
            return Ok(providers::get(name)?);
        }
        if let Some(name) = &profile.provider {
            match providers::get(name) {
                Ok(p) => return Ok(p),
                Err(e) => tracing::warn!("profile {}: {e}; falling back", profile.name),
            }
        }
        // A caller's CLI, when cao knows it (a mailbox's client may be anything).
        if let Some(caller) = caller
            && let Ok(p) = providers::get(&caller.provider)
        {
            return Ok(p);
        }
        // `CAO_PROVIDER`, else the config file's `default_provider`.
        let config = self.config();
        if let Some(name) = &config.default_provider {
            return Ok(providers::get(&name.value)?);
        }
        // The first CLI that is installed.
        let candidates = || {
            ProviderId::ALL
                .into_iter()
                .filter(|id| *id != ProviderId::Fake)
        };
        if let Some(id) = candidates().find(|id| is_installed(config, *id)) {
            return Ok(providers::of(id));
        }
        Err(EngineError::NoProvider(
            candidates()
                .map(ProviderId::name)
                .collect::<Vec<_>>()
                .join(", "),
        ))
    }

    /// The providers whose CLI can be started here, in [`ProviderId::ALL`] order: what an
    /// error about an unusable provider offers instead.
    pub fn installed_providers(&self) -> Vec<&'static str> {
        let config = self.config();
        ProviderId::ALL
            .into_iter()
            .filter(|id| is_installed(config, *id))
            .map(ProviderId::name)
            .collect()
    }

    /// The config file's settings, as read when the engine was made.
    fn config(&self) -> &crate::config::Config {
        &self.config
    }

    /// Creates a terminal: resolves profile, provider, executable and working directory (all
    /// checked before any window exists), starts the CLI in tmux, records it, queues the first
    /// message if any, and arms the inbox watcher. Does not wait for the CLI to be ready.
    pub fn create_terminal(&self, req: CreateRequest) -> Result<TerminalRecord, EngineError> {
        launch::create(self, req)
    }

    /// Waits until the terminal's CLI is ready for input, answering start-up dialogs.
    pub fn wait_ready(&self, id: &str, timeout: Duration) -> Result<Status, EngineError> {
        let record = match self.terminal(id) {
            // Its watcher saw the window close first and has cleaned up already.
            Err(EngineError::UnknownTerminal(_)) => {
                return Err(EngineError::Exited {
                    id: id.to_string(),
                    detail: " while starting".into(),
                });
            }
            other => other?,
        };
        let provider = providers::get(&record.provider)?;
        let deadline = self.clock.now() + timeout;
        // Woken by the watcher when the pane's output settles; the tick covers a lost ring.
        let mut waiter = watcher::Waiter::new(&self.record_files(&record).run_dir);
        let ready = self.wait_until(deadline, START_TICK, Some(&mut waiter), || {
            let Some(screen) = self.screen(&record)? else {
                return Err(self.exited(&record, "while starting"));
            };
            if provider.startup_keys(&screen).is_some() {
                self.answer_dialog(&record, provider)?;
                return Ok(None);
            }
            let status = provider.status(&screen);
            Ok(status.accepts_input().then_some(status))
        })?;
        ready.ok_or_else(|| EngineError::Timeout {
            id: id.to_string(),
            seconds: timeout.as_secs(),
            what: "become ready",
        })
    }

    /// The visible screen, or `None` when the pane is gone.
    fn screen(&self, record: &TerminalRecord) -> Result<Option<String>, EngineError> {
        match self.mux.capture(&record.pane_id) {
            Ok(s) => Ok(Some(s)),
            Err(MuxError::NoServer { .. }) => Ok(None),
            // A failed capture is a gone pane only if tmux no longer lists it: a capture can
            // fail for a moment on a loaded machine, and taking that for an exit would make
            // cao forget a live terminal.
            Err(e @ MuxError::Failed { .. }) => match self.mux.pane(&record.pane_id) {
                Ok(None) | Err(MuxError::NoServer { .. }) => Ok(None),
                Ok(Some(_)) => match self.mux.capture(&record.pane_id) {
                    Ok(s) => Ok(Some(s)),
                    Err(_) => Err(e.into()),
                },
                Err(_) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    fn exited(&self, record: &TerminalRecord, when: &str) -> EngineError {
        let _ = self.forget(record, "exited");
        EngineError::Exited {
            id: record.id.clone(),
            detail: format!(" {when}"),
        }
    }

    /// The live status of a terminal (one screen capture).
    pub fn status(&self, id: &str) -> Result<Status, EngineError> {
        validate_terminal_id(id)?;
        let record = self
            .store()
            .terminal(id)?
            .ok_or_else(|| EngineError::UnknownTerminal(id.to_string()))?;
        Ok(self.status_of(&record)?.status)
    }

    /// The live status of a known terminal (screen and record, see
    /// [`answers::combined_status`]), its usage and its question; a terminal whose pane is
    /// gone is forgotten.
    fn status_of(&self, record: &TerminalRecord) -> Result<Live, EngineError> {
        if !record.kind.has_pane() {
            return Ok(Live {
                status: Status::Idle,
                usage: None,
                question: None,
            });
        }
        let provider = providers::get(&record.provider)?;
        match self.screen(record)? {
            Some(screen) => {
                let read = self.read_record(record, provider);
                let status = answers::combined_status(
                    provider.status(&screen),
                    &read,
                    self.typed_ahead(record, &read),
                );
                Ok(Live {
                    status,
                    usage: answers::usage_of(&read),
                    question: (status == Status::WaitingUserAnswer)
                        .then(|| questions::asked(provider, &screen)),
                })
            }
            None => {
                self.forget(record, "exited")?;
                Err(EngineError::UnknownTerminal(record.id.clone()))
            }
        }
    }

    /// A terminal's output: the last answer, or the whole scrollback.
    pub fn output(&self, id: &str, mode: OutputMode) -> Result<String, EngineError> {
        match mode {
            OutputMode::Full => {
                let record = self.terminal(id)?;
                Ok(self.mux.capture_all(&record.pane_id)?)
            }
            OutputMode::Last => Ok(self.answer(id)?.text),
        }
    }

    /// A terminal's last answer: from its CLI's record when it keeps one, else the screen.
    pub fn answer(&self, id: &str) -> Result<Answer, EngineError> {
        let record = self.terminal(id)?;
        let provider = providers::get(&record.provider)?;
        let read = self.read_record(&record, provider);
        self.answer_of(&record, provider, &read)
    }

    /// Live terminals with their status, oldest first (mailboxes of callers outside tmux are
    /// not terminals on screen and are left out). Terminals whose window is gone are cleaned
    /// up here (tmux is the truth for liveness).
    pub fn list(&self) -> Result<Vec<TerminalView>, EngineError> {
        // Records first, panes second: a terminal is recorded only after its window exists,
        // so every record read here has its pane in the list unless it really ended. The
        // other order forgot a worker whose record landed between the two reads (a `cao
        // list` or `cao tui` during an `assign`: the worker kept running, unlisted).
        let records = self.store().terminals()?;
        let panes = self.mux.list_panes()?;
        let mut views = Vec::new();
        for record in records {
            if !record.kind.has_pane() {
                continue; // Not a terminal on screen; its owner sees it in list_terminals.
            }
            if !self.is_alive(&record, Some(&panes))? {
                self.forget(&record, "exited")?;
                continue;
            }
            if let Some(pane) = panes.iter().find(|p| p.pane_id == record.pane_id) {
                self.ensure_watcher(&record, Some(pane))?;
            }
            let live = match self.status_of(&record) {
                Ok(live) => live,
                Err(EngineError::UnknownTerminal(_)) => continue,
                Err(e) => return Err(e),
            };
            views.push(self.view_of(record, live)?);
        }
        Ok(views)
    }

    /// The status view of one terminal.
    pub fn view(&self, id: &str) -> Result<TerminalView, EngineError> {
        validate_terminal_id(id)?;
        let record = self
            .store()
            .terminal(id)?
            .ok_or_else(|| EngineError::UnknownTerminal(id.to_string()))?;
        let live = self.status_of(&record)?;
        self.view_of(record, live)
    }

    /// A record and what a look at it showed, as the row `cao list` / `list_terminals` show.
    fn view_of(&self, record: TerminalRecord, live: Live) -> Result<TerminalView, EngineError> {
        let pending_messages = self.store().pending_count(&record.id)?;
        let worktree = self
            .store()
            .worktree(&record.id)?
            .and_then(|row| worktree::state(&row));
        Ok(TerminalView {
            id: record.id,
            session: record.session,
            profile: record.profile,
            provider: record.provider,
            status: live.status,
            created_by: record.created_by,
            working_dir: record.working_dir,
            pending_messages,
            usage: live.usage,
            kind: record.kind,
            worktree,
            question: live.question,
            host: None,
            created_at: record.created_at,
        })
    }

    /// `caller` closes one of its workers (the `close_terminal` tool): as
    /// [`Engine::exit_terminal`], but never the caller's own terminal.
    pub fn close_for(
        &self,
        caller: &TerminalRecord,
        id: &str,
    ) -> Result<Option<WorktreeOutcome>, EngineError> {
        validate_terminal_id(id)?;
        if caller.id == id {
            return Err(EngineError::CloseSelf(id.to_string()));
        }
        self.exit_terminal(id)
    }

    /// Asks a terminal's CLI to quit, waits briefly, then closes its window regardless. A
    /// worker's worktree is removed when it holds nothing; what became of it is returned.
    pub fn exit_terminal(&self, id: &str) -> Result<Option<WorktreeOutcome>, EngineError> {
        let record = self.terminal(id)?;
        refuse_unless_created(&record)?;
        let provider = providers::get(&record.provider)?;
        // This close reports what became of the worktree: it takes the row before the CLI
        // quits, so the watcher that sees the pane end does not finish it first.
        let worktree = self.store().take_worktree(id)?;
        let closed = self.close_window(&record, provider);
        let outcome = match worktree {
            Some(row) => Some(self.finish_worktree_row(row)?),
            None => None,
        };
        closed?;
        Ok(outcome)
    }

    /// Asks the CLI to quit, waits briefly, closes the window regardless and forgets it.
    fn close_window(
        &self,
        record: &TerminalRecord,
        provider: &dyn Provider,
    ) -> Result<(), EngineError> {
        // The watcher rings when the pane's output ends (the CLI quit): no need to poll tmux.
        let mut waiter = watcher::Waiter::new(&self.record_files(record).run_dir);
        let asked = match provider.exit() {
            Exit::Text(text) => self.type_turn(&record.pane_id, text, provider),
            Exit::Keys(keys) => self.mux.send_keys(&record.pane_id, keys),
        };
        if asked.is_ok() {
            let deadline = self.clock.now() + EXIT_GRACE;
            self.wait_until(deadline, EXIT_TICK, Some(&mut waiter), || {
                Ok::<_, EngineError>(self.mux.pane(&record.pane_id)?.is_none().then_some(()))
            })?;
        }
        if self.mux.pane(&record.pane_id)?.is_some() {
            self.mux.kill_window(&record.window_id)?;
        }
        self.forget(record, "was closed")?;
        Ok(())
    }

    /// Interrupts the terminal's current turn.
    pub fn interrupt(&self, id: &str) -> Result<(), EngineError> {
        let record = self.terminal(id)?;
        let provider = providers::get(&record.provider)?;
        // One key per write, a moment apart: `Escape Escape` in one write reads as a single
        // Alt-Escape to OpenCode and Copilot CLI, which then do not interrupt.
        for (i, key) in provider.interrupt_keys().iter().enumerate() {
            if i > 0 {
                self.clock.pause(INTERRUPT_KEY_GAP, None);
            }
            self.mux.send_keys(&record.pane_id, &[key])?;
        }
        Ok(())
    }

    /// Kills every cao session (names starting `cao-`) after asking each agent to exit.
    pub fn shutdown_all(&self) -> Result<Vec<String>, EngineError> {
        let sessions: Vec<String> = self
            .mux
            .list_sessions()?
            .into_iter()
            .filter(|s| s.starts_with(SESSION_PREFIX))
            .collect();
        for s in &sessions {
            self.shutdown_session(s)?;
        }
        // Records of terminals whose server is already gone.
        let live = self.mux.list_panes()?;
        // Read first: a store guard held across the loop would deadlock the deletes below.
        let records = self.store().terminals()?;
        for record in records {
            if !self.is_alive(&record, Some(&live))? {
                self.forget(&record, "was shut down")?;
            }
        }
        Ok(sessions)
    }

    /// Exits the agents of one session and kills it.
    pub fn shutdown_session(&self, session: &str) -> Result<(), EngineError> {
        // Only sessions cao made (`cao-*`; the prefix may be left out, as at launch): a
        // user's own session, even one holding an adopted supervisor, is never killed.
        let named = cao_session_name(session);
        let session = named.as_str();
        if !self.mux.has_session(session)? {
            return Err(EngineError::UnknownSession(session.to_string()));
        }
        let (records, adopted): (Vec<TerminalRecord>, Vec<TerminalRecord>) = self
            .store()
            .terminals()?
            .into_iter()
            .filter(|r| r.session == session)
            .partition(|r| r.kind == TerminalKind::Created);
        if !adopted.is_empty() {
            // A supervisor the user started lives in this session: close cao's windows only.
            for record in &records {
                self.exit_terminal(&record.id)?;
            }
            return Ok(());
        }
        for record in &records {
            if let Ok(provider) = providers::get(&record.provider) {
                let _ = self
                    .mux
                    .send_keys(&record.pane_id, provider.interrupt_keys());
            }
        }
        let pids: Vec<u32> = self
            .mux
            .list_panes()?
            .into_iter()
            .filter(|p| p.session == session)
            .map(|p| p.pid)
            .collect();
        self.mux.kill_session(session)?;
        // tmux sends SIGHUP to the panes; make sure nothing we started outlives the session.
        self.wait_for_exit(&pids, EXIT_GRACE);
        for record in &records {
            self.forget(record, "was shut down")?;
        }
        Ok(())
    }

    /// Waits (bounded) for processes to exit; SIGKILLs any that outlive the grace period.
    fn wait_for_exit(&self, pids: &[u32], grace: Duration) {
        let Ok(_) = self.wait_until(self.clock.now() + grace, POLL, None, || {
            let gone = !pids.iter().any(|p| callers::process_alive(*p));
            Ok::<_, std::convert::Infallible>(gone.then_some(()))
        });
        for pid in pids.iter().filter(|p| callers::process_alive(**p)) {
            callers::kill_process(*pid);
        }
    }

    /// Makes sure the terminal's inbox watcher is running (re-arms it if it died).
    pub fn ensure_watcher(
        &self,
        record: &TerminalRecord,
        pane: Option<&PaneInfo>,
    ) -> Result<(), EngineError> {
        let piped = match pane {
            Some(p) => p.piped,
            None => match self.mux.pane(&record.pane_id)? {
                Some(p) => p.piped,
                None => return Ok(()),
            },
        };
        if !piped || watcher::is_dead(self, &record.id) {
            watcher::arm(self, record)?;
        }
        Ok(())
    }

    /// Runs `handoff`: a worker is created with `task` queued, and the call returns the
    /// worker's answer once it has completed, closing the worker. The whole call is bounded
    /// by `timeout`; on timeout the worker is left running for the caller to inspect.
    ///
    /// A worker that asks its user something is reported in `progress` with its question
    /// and given a grace (`CAO_ANSWER_GRACE`) to be answered (by a human at its window, or
    /// `answer_user_prompt`); past it the handoff fails with the question and leaves the
    /// worker running, to be answered and read later.
    ///
    /// Waiting is event-driven: the worker's turn-end hook and its watcher (when the pane's
    /// output settles) ring this call's doorbell; a slow tick covers a lost ring. When the
    /// CLI keeps a record, the record says when the turn ended and holds the exact answer,
    /// and the screen is read only every [`SCREEN_TICK`] for what only it shows (a
    /// question, an error line, a window that closed).
    pub fn handoff(
        &self,
        mut req: CreateRequest,
        task: String,
        timeout: Duration,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<HandoffOutcome, EngineError> {
        check_message(&task)?;
        if req.host.is_some() {
            return self.remote_handoff(req, task, timeout, cancel, progress);
        }
        let started = self.clock.now();
        let deadline = started + timeout;
        req.initial_message = Some(task);
        let model = req.model.clone();
        let record = self.create_terminal(req)?;
        let notes = self.start_notes(&record, model.as_deref())?;
        let id = record.id.clone();
        let provider = providers::get(&record.provider)?;
        let mut waiter = watcher::Waiter::new(&self.record_files(&record).run_dir);
        let task_id = self
            .store()
            .inbox(&id)?
            .first()
            .map(|m| m.id)
            .unwrap_or_default();
        let keeps_record = self.read_record(&record, provider).is_some();
        let mut last_status: Option<Status> = None;
        let mut last_beat = started;
        let mut screen_status = Status::Processing;
        let mut screen_read_at: Option<Instant> = None;
        // Whether a doorbell rang since the screen was last read: without one (no output, no
        // hook) the screen has not changed, and reading it again would cost a tmux call for
        // nothing.
        let mut rung = true;
        let mut delivered = false;
        // Screen-only CLIs: a CLI caught mid-repaint can look completed with half an answer,
        // so the answer is taken only when two reads agree.
        let mut answer_seen: Option<Result<String, String>> = None;
        // Since when the screen has looked finished while the record showed no ended turn:
        // past RECORD_GRACE the record is taken to be missing and the screen answers.
        let mut screen_done_since: Option<Instant> = None;
        // Since when the worker has been asking, and what: past the grace the handoff fails.
        let grace = questions::grace();
        let mut waiting: Option<(Instant, String)> = None;
        loop {
            if cancel.load(Ordering::SeqCst) {
                let _ = self.interrupt(&id);
                let _ = self.exit_terminal(&id);
                return Err(EngineError::Cancelled(id));
            }
            if !delivered {
                delivered = self
                    .store()
                    .message(task_id)?
                    .is_some_and(|m| m.status == MessageStatus::Delivered);
            }
            let read = if delivered && keeps_record {
                self.read_record(&record, provider)
            } else {
                None
            };
            let record_ended = matches!(&read, Some(Ok(t)) if t.turns > 0 && t.turn_ended);
            // A turn that ended without an answer (failed, interrupted) is for the screen to
            // explain: it is read at once.
            let ended_empty = record_ended && matches!(&read, Some(Ok(t)) if t.answer.is_none());
            // The screen, when it may have changed (a doorbell rang): before the task is
            // typed and for screen-only CLIs at once; with a record at most every
            // SCREEN_TICK. A slow safety tick reads it regardless.
            let now = self.clock.now();
            let since_read = screen_read_at.map_or(Duration::MAX, |at| now - at);
            let screen_due = if delivered && keeps_record {
                rung && since_read >= SCREEN_TICK || since_read >= SCREEN_SAFETY_TICK
            } else {
                rung || since_read >= UNRUNG_SCREEN_TICK
            };
            if screen_due && !record_ended || ended_empty {
                let Some(screen) = self.screen(&record)? else {
                    return Err(self.exited(&record, "before finishing the task"));
                };
                screen_read_at = Some(self.clock.now());
                rung = false;
                screen_status = provider.status(&screen);
                if !delivered {
                    // Dialogs are answered once whoever asks (see `answer_dialog`); the task
                    // is typed by the worker's watcher, or here when no watcher listens.
                    if provider.startup_keys(&screen).is_some() {
                        self.answer_dialog(&record, provider)?;
                    } else if screen_status.accepts_input() {
                        self.hand_over(&id);
                    }
                    screen_status = Status::Processing;
                } else if screen_status == Status::WaitingUserAnswer {
                    let question = questions::asked(provider, &screen);
                    // A new question restarts the grace.
                    if waiting.as_ref().is_none_or(|(_, asked)| *asked != question) {
                        waiting = Some((self.clock.now(), question));
                    }
                } else if screen_status == Status::Error && !record_running(&read) || ended_empty {
                    if ended_empty {
                        screen_status = Status::Error;
                    }
                    let tail: Vec<&str> = providers::lines_from_bottom(&screen).take(6).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(EngineError::Stuck {
                        id: id.clone(),
                        status: screen_status,
                        detail: format!(
                            "the worker stopped with this on its screen:\n{}\nIt is still running: answer it with send_message, read it with the output tool, or close it.",
                            tail.join("\n")
                        ),
                    });
                }
            }
            if screen_status != Status::WaitingUserAnswer {
                waiting = None;
            }
            let status = if delivered {
                answers::combined_status(screen_status, &read, self.typed_ahead(&record, &read))
            } else {
                Status::Processing
            };
            let now = self.clock.now();
            if last_status != Some(status) || now - last_beat >= Duration::from_secs(5) {
                progress(Progress {
                    terminal_id: id.clone(),
                    status,
                    elapsed: now - started,
                    question: waiting.as_ref().map(|(_, question)| question.clone()),
                });
                last_status = Some(status);
                last_beat = now;
            }
            if let Some((since, question)) = &waiting
                && (now - *since >= grace || now >= deadline)
            {
                // One more look first: an answer given since the last read must not fail
                // the handoff.
                let still = match self.screen(&record)? {
                    Some(screen) => provider.status(&screen) == Status::WaitingUserAnswer,
                    None => return Err(self.exited(&record, "before finishing the task")),
                };
                if still {
                    return Err(EngineError::Stuck {
                        id: id.clone(),
                        status: Status::WaitingUserAnswer,
                        detail: format!(
                            "it has waited {}s for an answer to: {question}\nIt is still running: answer it with answer_user_prompt (terminal_id \"{id}\"), then read its answer with get_terminal_output, or close it with close_terminal.",
                            (now - *since).as_secs()
                        ),
                    });
                }
                waiting = None;
                screen_status = Status::Processing;
                rung = true;
            }
            if delivered {
                let finished = if record_ended {
                    true
                } else if keeps_record {
                    // The record never showed the turn end: after a grace time with the
                    // screen finished, the screen answers (and the result says so).
                    if screen_status == Status::Completed {
                        now - *screen_done_since.get_or_insert(now) >= RECORD_GRACE
                    } else {
                        screen_done_since = None;
                        false
                    }
                } else if screen_status == Status::Completed {
                    let text = self.mux.capture_all(&record.pane_id)?;
                    let output = provider.last_response(&text).map_err(|e| e.to_string());
                    let agreed = answer_seen.as_ref() == Some(&output);
                    answer_seen = Some(output);
                    agreed
                } else {
                    answer_seen = None;
                    false
                };
                if finished {
                    let answer = self.answer_of(&record, provider, &read)?;
                    let worktree = self.exit_terminal(&id)?;
                    return Ok(HandoffOutcome {
                        terminal_id: id,
                        output: answer.text,
                        answer_source: answer.source,
                        usage: answer.usage,
                        worktree,
                        notes,
                    });
                }
            }
            if self.clock.now() >= deadline {
                return Err(EngineError::Timeout {
                    id,
                    seconds: timeout.as_secs(),
                    what: "finish its task (it is still running: read it with the output tool or close it)",
                });
            }
            let tick = if !delivered {
                START_TICK
            } else if keeps_record {
                RECORD_TICK
            } else {
                SCREEN_ONLY_TICK
            };
            let until = match &waiting {
                Some((since, _)) => deadline.min(*since + grace),
                None => deadline,
            };
            let left = until.saturating_duration_since(self.clock.now());
            rung |= self.clock.pause(tick.min(left), Some(&mut waiter));
        }
    }

    /// The one path of every message (`send_message`, `cao send`, a watcher's report):
    /// stored, then handed to the receiver's typist (see [`Engine::hand_over`]). Never waits
    /// for a busy receiver: its watcher types the message when it goes idle. With
    /// `CAO_ENABLE_SENDER_ID_INJECTION`, the text gains the sender's id and how to reply.
    pub fn post(&self, sender: &str, receiver: &str, body: &str) -> Result<Message, EngineError> {
        check_message(body)?;
        if let Some((_, host)) = self.remote_terminal(receiver)? {
            return self.post_remote(&host, sender, receiver, body);
        }
        let body = if env::flag(env::CAO_ENABLE_SENDER_ID_INJECTION) && sender != USER_SENDER {
            format!(
                "{body}\n\n[cao] From terminal {sender}; to reply, call send_message with receiver_id \"{sender}\"."
            )
        } else {
            body.to_string()
        };
        let message = self.enqueue(sender, receiver, &body)?;
        self.hand_over(receiver);
        Ok(message)
    }

    /// Gets a receiver's queued mail typed: its watcher is rung (a process that lives as long
    /// as the pane: an MCP server can be killed by its CLI at any moment, and one killed
    /// between paste and Enter would leave a half-submitted turn); when no watcher listens
    /// (one is starting), this process types it now if the receiver is ready.
    pub fn hand_over(&self, receiver: &str) {
        if self.ring_watcher(receiver) {
            return;
        }
        if let Err(e) = self.deliver(receiver) {
            tracing::debug!("immediate delivery to {receiver} deferred: {e}");
        }
    }

    /// Runs `assign`: a worker is created with `task` queued and returned at once; the task is
    /// typed the moment its CLI is first ready. With `CAO_ENABLE_SENDER_ID_INJECTION`, the
    /// task gains the caller's id and how to report back.
    pub fn assign(&self, mut req: CreateRequest, task: String) -> Result<Assigned, EngineError> {
        check_message(&task)?;
        let task = match &req.caller {
            Some(caller) if env::flag(env::CAO_ENABLE_SENDER_ID_INJECTION) => format!(
                "{task}\n\n[cao] This task comes from terminal {id}. When you have finished, call the send_message tool with receiver_id \"{id}\" and your result.",
                id = caller.id
            ),
            _ => task,
        };
        req.initial_message = Some(task);
        if req.host.is_some() {
            return self.assign_remote(req);
        }
        let model = req.model.clone();
        let record = self.create_terminal(req)?;
        Ok(Assigned {
            notes: self.start_notes(&record, model.as_deref())?,
            terminal_id: record.id,
            profile: record.profile,
            provider: record.provider,
            host: None,
        })
    }

    /// What the caller of a new worker should know about how it was started: a model its
    /// CLI could not take, what its worktree starts from.
    fn start_notes(
        &self,
        record: &TerminalRecord,
        model: Option<&str>,
    ) -> Result<Vec<String>, EngineError> {
        let mut notes: Vec<String> = model_note(&record.provider, model).into_iter().collect();
        if let Some(worktree) = self.worktree_of(&record.id)? {
            notes.push(format!(
                "it works in the worktree {} on branch {}",
                worktree.path, worktree.branch
            ));
            notes.extend(worktree.notes);
        }
        Ok(notes)
    }

    /// Asks the receiver's watcher to type its queued mail now; `false` when no watcher
    /// listens.
    fn ring_watcher(&self, receiver: &str) -> bool {
        watcher::ring(self, receiver)
    }

    /// [`Engine::post`] of a message that carries a delivery key (one sent from another
    /// host): stored once however often the sender retries; `true` when it was stored
    /// already (nothing new is typed).
    pub fn post_once(
        &self,
        sender: &str,
        receiver: &str,
        body: &str,
        key: &str,
    ) -> Result<(Message, bool), EngineError> {
        check_message(body)?;
        let record = self.terminal(receiver)?;
        let (message, duplicate) = self.store().enqueue_once(sender, receiver, body, key)?;
        if !duplicate {
            self.after_enqueue(&record)?;
            self.hand_over(receiver);
        }
        Ok((message, duplicate))
    }

    /// Stores a message for `receiver` without trying to deliver it.
    pub fn enqueue(
        &self,
        sender: &str,
        receiver: &str,
        body: &str,
    ) -> Result<Message, EngineError> {
        check_message(body)?;
        let record = self.terminal(receiver)?;
        let message = self.store().enqueue(sender, receiver, body)?;
        self.after_enqueue(&record)?;
        Ok(message)
    }

    /// Wakes whoever takes `record`'s new mail: a mailbox's waiting owner, else its watcher.
    fn after_enqueue(&self, record: &TerminalRecord) -> Result<(), EngineError> {
        if !record.kind.has_pane() {
            // Wakes a `wait_for_messages` of the mailbox's owner, a relay's collector.
            watcher::ring_all(&self.record_files(record).run_dir);
        } else {
            self.ensure_watcher(record, None)?;
        }
        Ok(())
    }

    /// A message's status once it is delivered or failed, or after `patience` (a bounded
    /// poll of one SQLite row; the typist is another process).
    pub fn wait_delivered(
        &self,
        id: i64,
        patience: Duration,
    ) -> Result<MessageStatus, EngineError> {
        let mut status = MessageStatus::Pending;
        let done = self.wait_until(self.clock.now() + patience, POLL, None, || {
            status = self
                .message(id)?
                .map_or(MessageStatus::Failed, |m| m.status);
            let done = matches!(status, MessageStatus::Delivered | MessageStatus::Failed);
            Ok::<_, EngineError>(done.then_some(status))
        })?;
        Ok(done.unwrap_or(status))
    }

    /// Every message sent to a terminal.
    pub fn inbox(&self, id: &str) -> Result<Vec<Message>, EngineError> {
        validate_terminal_id(id)?;
        Ok(self.store().inbox(id)?)
    }

    /// One message by id.
    pub fn message(&self, id: i64) -> Result<Option<Message>, EngineError> {
        Ok(self.store().message(id)?)
    }
}

/// Stores one hook event of terminal `id` (what `cao _hook` does when a CLI ends a turn)
/// and rings the terminal's watcher and waiters. The payload is the argument when the CLI
/// passes one, else stdin (skipped when it is a terminal: nothing would end it).
pub fn record_hook(
    home: &Path,
    id: &str,
    event: &str,
    payload: Option<&str>,
) -> Result<(), EngineError> {
    validate_terminal_id(id)?;
    let run_dir = RunDir::new(home).terminal(id);
    if !run_dir.is_dir() {
        return Err(EngineError::UnknownTerminal(id.to_string()));
    }
    let payload = match payload {
        Some(p) => p.to_string(),
        None => read_hook_stdin(),
    };
    crate::records::hooks::append(&run_dir, event, &payload).map_err(|source| EngineError::Io {
        what: format!("cannot record a hook event in {}", run_dir.display()),
        source,
    })?;
    watcher::ring_all(&run_dir);
    Ok(())
}

/// A hook's stdin payload, bounded in size and time (a CLI that never closes the pipe must
/// not keep its hook, and so its turn, waiting).
fn read_hook_stdin() -> String {
    use std::io::{IsTerminal, Read};
    if std::io::stdin().is_terminal() {
        return String::new();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let limit = crate::records::hooks::MAX_PAYLOAD_BYTES as u64 + 1;
        let _ = std::io::stdin().lock().take(limit).read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx.recv_timeout(Duration::from_secs(3))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Refuses to exit or close a terminal cao did not start.
fn refuse_unless_created(record: &TerminalRecord) -> Result<(), EngineError> {
    match record.kind {
        TerminalKind::Created => Ok(()),
        TerminalKind::Adopted => Err(EngineError::NotOurs {
            id: record.id.clone(),
            what: "a pane cao adopted (a supervisor you started yourself)",
        }),
        TerminalKind::Mailbox => Err(EngineError::NotOurs {
            id: record.id.clone(),
            what: "the mailbox of a caller outside tmux",
        }),
        TerminalKind::Relay => Err(EngineError::NotOurs {
            id: record.id.clone(),
            what: "the relay of a terminal on another machine",
        }),
    }
}

/// Whether `id`'s CLI can be started here: its executable configured, named by its variable,
/// or on `PATH`.
fn is_installed(config: &crate::config::Config, id: ProviderId) -> bool {
    let configured = config
        .providers
        .get(id.name())
        .and_then(|s| s.executable.as_ref())
        .is_some_and(|e| providers::is_executable(&e.value));
    configured || providers::of(id).executable().is_ok()
}

/// Whether the record says a turn is under way (the screen's error line is then an old one).
fn record_running(read: &answers::RecordRead) -> bool {
    matches!(read, Some(Ok(t)) if t.turns > 0 && !t.turn_ended)
}

/// What the caller should hear about a model it asked for: `None` when it went to the CLI
/// (or none was asked for), else why it did not.
fn model_note(provider: &str, model: Option<&str>) -> Option<String> {
    let model = model.filter(|m| !m.is_empty())?;
    let id: ProviderId = provider.parse().ok()?;
    id.model_flag().is_none().then(|| {
        format!("model '{model}' was not applied: the {provider} CLI takes no model option")
    })
}

/// Refuses empty or oversized messages.
pub fn check_message(body: &str) -> Result<(), EngineError> {
    if body.trim().is_empty() {
        return Err(EngineError::EmptyMessage);
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(EngineError::MessageTooLarge {
            len: body.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

/// MCP servers given to every CLI cao starts: cao's own (so workers can always reply), then
/// the profile's, unless the profile already declares a server named `cao`.
pub fn mcp_servers_for(
    engine: &Engine,
    terminal_id: &str,
    profile: &Profile,
) -> BTreeMap<String, McpServer> {
    let mut servers = BTreeMap::new();
    for (name, value) in &profile.mcp_servers {
        if let Ok(server) = serde_json::from_value::<McpServer>(value.clone()) {
            servers.insert(name.clone(), server);
        }
    }
    if !servers.contains_key(providers::CAO_SERVER) {
        let mut env = BTreeMap::new();
        env.insert(env::CAO_TERMINAL_ID.to_string(), terminal_id.to_string());
        env.insert(env::CAO_HOME.to_string(), engine.home.display().to_string());
        if let Some(socket) = engine.mux.socket() {
            env.insert(env::CAO_TMUX_SOCKET.to_string(), socket.to_string());
        }
        servers.insert(providers::CAO_SERVER.to_string(), McpServer::cao(env));
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_ids_are_8_lowercase_hex() {
        assert!(validate_terminal_id("0a1b2c3d").is_ok());
        for bad in [
            "../x",
            "a:b.c",
            "-t",
            "%1",
            "0a1b2c3",
            "0a1b2c3d4",
            "0A1B2C3D",
            "",
        ] {
            assert!(validate_terminal_id(bad).is_err(), "{bad}");
        }
        assert_eq!(new_terminal_id().len(), 8);
        assert!(validate_terminal_id(&new_terminal_id()).is_ok());
    }

    #[test]
    fn session_names_refuse_target_syntax() {
        assert!(validate_session_name("cao-team_1").is_ok());
        for bad in ["a:b", "a.b", "-t", "", "x;y", "a b"] {
            assert!(validate_session_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_must_be_non_empty_and_bounded() {
        assert!(matches!(
            check_message("  \n"),
            Err(EngineError::EmptyMessage)
        ));
        assert!(check_message("hi").is_ok());
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(matches!(
            check_message(&big),
            Err(EngineError::MessageTooLarge { .. })
        ));
    }
}
