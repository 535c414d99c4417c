//! Terminals on other hosts (`[hosts.NAME]`): started, watched, messaged, read and closed
//! through the host's own cao over ssh ([`crate::remote`]). The host's store holds the
//! terminal; this store remembers that this machine started it, so `cao list` shows it and
//! `cao status`, `output`, `send` and `shutdown` reach it. Status and turn ends come from the
//! remote cao (its screen and records), so nothing scrapes across the network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::answers::{Answer, AnswerSource};
use super::{
    Assigned, CreateRequest, Engine, EngineError, HandoffOutcome, Progress, TerminalView,
    validate_terminal_id, watcher,
};
use crate::providers::Status;
use crate::remote::{CALL_TIMEOUT, Host, LAUNCH_TIMEOUT, RemoteError};
use crate::store::{Message, MessageStatus, RemoteTerminal, TerminalKind, TerminalRecord, now_ms};

/// How long a launch or a send is tried again after the link failed: long enough for a
/// blip, short enough that a host that is down fails within 10 s (a handoff already
/// running retries until its own timeout).
const RETRY_WINDOW: Duration = Duration::from_secs(8);
/// Longest a remote handoff's call waits there for the worker's turn to settle.
const SETTLE_WAIT: Duration = Duration::from_secs(20);
/// How often the waiting end looks at the screen between doorbells.
const SETTLE_TICK: Duration = Duration::from_millis(250);
/// How long a collector's call waits there for a reply before it asks again (a long poll:
/// an idle link costs one ssh round trip per this period).
const COLLECT_WAIT: Duration = Duration::from_secs(20);
/// Pause after a failed collection before the next try.
const COLLECT_RETRY: Duration = Duration::from_secs(2);
/// How long a collector keeps trying a host that does not answer.
const COLLECT_GIVE_UP: Duration = Duration::from_secs(600);
/// Most messages handed over in one collection.
const COLLECT_BATCH: usize = 100;

/// How often a remote handoff looks at its worker: a round trip over ssh, so far slower
/// than the local tick, and still well inside what a person waits for.
const REMOTE_TICK: Duration = Duration::from_millis(1000);

/// A remote terminal as `cao list` shows it: live, or (its host unreachable) its row here
/// and why.
pub type RemoteListing = Result<TerminalView, (RemoteTerminal, String)>;

/// What `cao _remote send` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteSent {
    /// The message's id in the receiving store.
    pub message_id: i64,
    /// Whether that store had it already (a retried send): nothing new was stored.
    pub duplicate: bool,
}

/// What `cao _remote answer` answers: the terminal's last answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteAnswer {
    /// The text, exactly as the remote cao read it.
    pub text: String,
    /// Where the remote cao read it.
    pub source: AnswerSource,
    /// Token usage, when the remote CLI recorded it.
    pub usage: Option<crate::records::Usage>,
}

impl From<Answer> for RemoteAnswer {
    fn from(a: Answer) -> RemoteAnswer {
        RemoteAnswer {
            text: a.text,
            source: a.source,
            usage: a.usage,
        }
    }
}

/// What `cao _remote collect` answers: replies waiting for a relay, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayBatch {
    /// Messages not yet acknowledged.
    pub messages: Vec<Message>,
    /// How many terminals the relay started there are still running.
    pub workers: usize,
}

/// What `cao _remote probe` answers: what `cao hosts check` needs to know about a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// The remote cao's version.
    pub version: String,
    /// `tmux -V` there, or why not.
    pub tmux: Result<String, String>,
    /// The provider CLIs installed there.
    pub providers: Vec<String>,
}

impl Engine {
    /// The hosts of the config, by name.
    pub fn hosts(&self) -> Vec<Host> {
        self.config()
            .hosts
            .iter()
            .map(|(name, config)| Host::new(name, config.clone(), self.home()))
            .collect()
    }

    /// The host `name`, or an error naming the known ones.
    pub fn host(&self, name: &str) -> Result<Host, EngineError> {
        self.hosts()
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| {
                let known: Vec<String> = self.config().hosts.keys().cloned().collect();
                RemoteError::UnknownHost {
                    name: name.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                }
                .into()
            })
    }

    /// The remote terminal `id` and its host, when this machine started it there.
    pub fn remote_terminal(&self, id: &str) -> Result<Option<(RemoteTerminal, Host)>, EngineError> {
        let Some(row) = self.store().remote(id)? else {
            return Ok(None);
        };
        let host = self.host(&row.host)?;
        Ok(Some((row, host)))
    }

    /// What a host has: its cao's version, tmux, the CLIs (`cao hosts check`).
    pub fn probe_host(&self, host: &Host) -> Result<Probe, EngineError> {
        Ok(host.call(&["probe"], None, CALL_TIMEOUT)?)
    }

    /// What this machine can tell another about itself (`cao _remote probe`).
    pub fn probe(&self) -> Probe {
        Probe {
            version: env!("CARGO_PKG_VERSION").to_string(),
            tmux: tmux_version(),
            providers: self
                .installed_providers()
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }

    /// Starts a terminal on `req.host` (its task, if any, queued there as its first
    /// message) and remembers it here. Not retried: a launch whose reply was lost may have
    /// started a terminal, and a second one would do the work twice.
    pub fn launch_remote(&self, req: &CreateRequest) -> Result<TerminalView, EngineError> {
        self.launch_remote_for(req, None)
    }

    /// [`Engine::launch_remote`] of a worker whose `send_message`s to `reply_to` (its
    /// creator here) wait there in a relay until this machine collects them.
    fn launch_remote_for(
        &self,
        req: &CreateRequest,
        reply_to: Option<&str>,
    ) -> Result<TerminalView, EngineError> {
        let host_name = req.host.as_deref().unwrap_or_default();
        let host = self.host(host_name)?;
        let workdir = req
            .working_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .or_else(|| host.config.workdir.clone());
        let mut args = vec!["launch", "--agents", req.profile.as_str()];
        if let Some(p) = &req.provider {
            args.extend(["--provider", p.as_str()]);
        }
        if let Some(m) = &req.model {
            args.extend(["--model", m.as_str()]);
        }
        if let Some(w) = &workdir {
            args.extend(["--working-directory", w.as_str()]);
        }
        if req.yolo {
            args.push("--yolo");
        }
        if req.initial_message.is_some() {
            args.push("--task-on-stdin");
        }
        if let Some(id) = reply_to {
            args.extend(["--reply-to", id]);
        }
        // A launch key: a launch retried after its reply was lost finds the terminal the
        // first try made instead of starting a second worker.
        let key = uuid::Uuid::new_v4().to_string();
        args.extend(["--key", key.as_str()]);
        let deadline = self.clock.now() + RETRY_WINDOW;
        let mut view: TerminalView = retry_transient(self, deadline, || {
            Ok(host.call(&args, req.initial_message.as_deref(), LAUNCH_TIMEOUT)?)
        })?;
        view.host = Some(host.name.clone());
        self.store().insert_remote(&RemoteTerminal {
            id: view.id.clone(),
            host: host.name.clone(),
            profile: view.profile.clone(),
            provider: view.provider.clone(),
            created_by: req.caller.as_ref().map(|c| c.id.clone()),
            working_dir: view.working_dir.clone(),
            created_at: now_ms(),
        })?;
        tracing::info!(terminal = %view.id, host = %host.name, "remote terminal created");
        Ok(view)
    }

    /// The terminal a remote launch with `key` made here, if one did (and still lives).
    pub fn launched_with(&self, key: &str) -> Result<Option<String>, EngineError> {
        let Some(path) = self.launch_key_path(key) else {
            return Ok(None);
        };
        let Ok(id) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let id = id.trim().to_string();
        Ok(self.terminal(&id).is_ok().then_some(id))
    }

    /// Notes that the remote launch with `key` made terminal `id`.
    pub fn remember_launch(&self, key: &str, id: &str) -> Result<(), EngineError> {
        let path = self.launch_key_path(key).ok_or_else(|| {
            EngineError::Remote(RemoteError::Failed {
                host: "here".into(),
                message: format!("{key:?} is not a launch key (letters, digits and '-')"),
            })
        })?;
        let io = |source| EngineError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("a launches folder")).map_err(io)?;
        std::fs::write(&path, id).map_err(io)
    }

    /// Where the terminal of launch `key` is noted; `None` for a key that is no file name.
    fn launch_key_path(&self, key: &str) -> Option<std::path::PathBuf> {
        let valid = !key.is_empty()
            && key.len() <= 64
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        valid.then(|| self.home().join("launches").join(key))
    }

    /// The live view of a remote terminal.
    pub fn remote_view(&self, host: &Host, id: &str) -> Result<TerminalView, EngineError> {
        let mut view: TerminalView = host.call(&["view", id], None, CALL_TIMEOUT)?;
        view.host = Some(host.name.clone());
        Ok(view)
    }

    /// Every remote terminal this machine started, live: one call per host. A terminal that
    /// has ended there is forgotten; one whose host cannot be reached comes back as `Err`
    /// with its row and the reason, and stays remembered.
    pub fn list_remote(&self) -> Result<Vec<RemoteListing>, EngineError> {
        let rows = self.store().remotes()?;
        let mut out = Vec::new();
        let mut hosts: Vec<&str> = rows.iter().map(|r| r.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        // Every host at once: one slow or unreachable host does not hold up the others.
        let listings: Vec<Result<Vec<TerminalView>, EngineError>> = std::thread::scope(|s| {
            let calls: Vec<_> = hosts
                .iter()
                .map(|name| {
                    let host = self.host(name);
                    s.spawn(move || {
                        let host = host?;
                        Ok(host.call::<Vec<TerminalView>>(&["list"], None, CALL_TIMEOUT)?)
                    })
                })
                .collect();
            calls
                .into_iter()
                .map(|c| c.join().expect("a host listing does not panic"))
                .collect()
        });
        for (name, listed) in hosts.into_iter().zip(listings) {
            let mine: Vec<&RemoteTerminal> = rows.iter().filter(|r| r.host == name).collect();
            match listed {
                Ok(views) => {
                    for row in mine {
                        match views.iter().find(|v| v.id == row.id) {
                            Some(v) => {
                                let mut v = v.clone();
                                v.host = Some(name.to_string());
                                out.push(Ok(v));
                            }
                            None => {
                                // It ended there: forget it here too.
                                self.store().delete_remote(&row.id)?;
                            }
                        }
                    }
                }
                Err(e) => {
                    for row in mine {
                        out.push(Err((row.clone(), e.to_string())));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Queues `body` for remote terminal `id`, under a delivery key: a send retried after a
    /// dropped connection is stored there once.
    pub fn send_remote(
        &self,
        host: &Host,
        id: &str,
        sender: &str,
        body: &str,
        key: &str,
    ) -> Result<RemoteSent, EngineError> {
        super::check_message(body)?;
        Ok(host.call(
            &["send", id, "--sender", sender, "--key", key],
            Some(body),
            CALL_TIMEOUT,
        )?)
    }

    /// [`Engine::post`] to a terminal on another host: stored in that host's inbox (typed
    /// there when it is idle), under a fresh delivery key, so the send is retried across a
    /// dropped connection without a second copy. The message returned is the remote one.
    pub(super) fn post_remote(
        &self,
        host: &Host,
        sender: &str,
        receiver: &str,
        body: &str,
    ) -> Result<Message, EngineError> {
        let key = uuid::Uuid::new_v4().to_string();
        let deadline = self.clock.now() + RETRY_WINDOW;
        let sent = retry_transient(self, deadline, || {
            self.send_remote(host, receiver, sender, body, &key)
        })?;
        Ok(Message::pending(
            sent.message_id,
            sender,
            receiver,
            body,
            now_ms(),
        ))
    }

    /// A remote terminal's view once its turn has settled there (completed, error, asking),
    /// or after `wait_secs`: one long-polled call instead of a look every tick.
    fn remote_settled(
        &self,
        host: &Host,
        id: &str,
        wait_secs: u64,
    ) -> Result<TerminalView, EngineError> {
        let secs = wait_secs.to_string();
        let mut view: TerminalView = host.call(
            &["wait", id, "--wait", &secs],
            None,
            Duration::from_secs(wait_secs) + CALL_TIMEOUT,
        )?;
        view.host = Some(host.name.clone());
        Ok(view)
    }

    /// The view of terminal `id` once its turn has settled (completed, error, asking its
    /// user) or `wait` has passed (`cao _remote wait`): woken by its hooks and watcher, with
    /// a short tick for what only the screen shows.
    pub fn wait_settled(&self, id: &str, wait: Duration) -> Result<TerminalView, EngineError> {
        let record = self.terminal(id)?;
        let mut waiter = watcher::Waiter::new(&self.record_files(&record).run_dir);
        let deadline = self.clock.now() + wait;
        let settled = self.wait_until(deadline, SETTLE_TICK, Some(&mut waiter), || {
            let view = self.view(id)?;
            let done = matches!(
                view.status,
                Status::Completed | Status::Error | Status::WaitingUserAnswer
            );
            Ok::<_, EngineError>(done.then_some(view))
        })?;
        match settled {
            Some(view) => Ok(view),
            None => self.view(id),
        }
    }

    /// A remote terminal's last answer.
    pub fn remote_answer(&self, host: &Host, id: &str) -> Result<RemoteAnswer, EngineError> {
        Ok(host.call(&["answer", id], None, CALL_TIMEOUT)?)
    }

    /// Ends a remote terminal and forgets it here.
    pub fn close_remote(&self, host: &Host, id: &str) -> Result<(), EngineError> {
        let _: serde_json::Value = host.call(&["close", id], None, CALL_TIMEOUT)?;
        self.store().delete_remote(id)?;
        Ok(())
    }

    /// `assign` to a worker on `req.host`: started there with its task, a relay there for
    /// its creator, and a collector here (`cao _collect`) that brings its replies over.
    pub(super) fn assign_remote(&self, req: CreateRequest) -> Result<Assigned, EngineError> {
        let caller = req.caller.as_ref().map(|c| c.id.clone());
        let view = self.launch_remote_for(&req, caller.as_deref())?;
        let host = view.host.clone().unwrap_or_default();
        if let Some(relay) = &caller {
            self.start_collector(&host, relay)?;
        }
        Ok(Assigned {
            terminal_id: view.id,
            profile: view.profile,
            provider: view.provider,
            host: Some(host),
            notes: Vec::new(),
        })
    }

    /// The relay for terminal `id` of the machine calling: made on first use.
    pub fn ensure_relay(&self, id: &str) -> Result<TerminalRecord, EngineError> {
        validate_terminal_id(id)?;
        if let Some(record) = self.store().terminal(id)? {
            if record.kind == TerminalKind::Relay {
                return Ok(record);
            }
            return Err(EngineError::Remote(RemoteError::Failed {
                host: "here".into(),
                message: format!("terminal id {id} is taken by a terminal of this machine"),
            }));
        }
        let record = TerminalRecord::paneless(
            id.to_string(),
            TerminalKind::Relay,
            "remote".into(),
            "relay".into(),
            String::new(),
            None,
        );
        self.store().insert_terminal(&record)?;
        self.make_run_dir(id)?;
        Ok(record)
    }

    /// The replies waiting for relay `id`, after waiting up to `wait` for the first (woken
    /// by the sender's ring). They stay waiting until [`Engine::acknowledge`]: a collector
    /// that dies on the way loses nothing.
    pub fn relay_pending(&self, id: &str, wait: Duration) -> Result<RelayBatch, EngineError> {
        let record = self.terminal(id)?;
        let mut waiter = watcher::Waiter::new(&self.record_files(&record).run_dir);
        let deadline = self.clock.now() + wait;
        let pending = |engine: &Engine| -> Result<Vec<Message>, EngineError> {
            Ok(engine
                .store()
                .inbox(id)?
                .into_iter()
                .filter(|m| m.status == MessageStatus::Pending)
                .take(COLLECT_BATCH)
                .collect())
        };
        let messages = self
            .wait_until(deadline, COLLECT_WAIT, Some(&mut waiter), || {
                let found = pending(self)?;
                Ok::<_, EngineError>((!found.is_empty()).then_some(found))
            })?
            .unwrap_or_default();
        let workers = self
            .list()?
            .iter()
            .filter(|t| t.created_by.as_deref() == Some(id))
            .count();
        Ok(RelayBatch { messages, workers })
    }

    /// Marks collected replies delivered.
    pub fn acknowledge(&self, id: &str, ids: &[i64]) -> Result<usize, EngineError> {
        Ok(self.store().acknowledge(id, ids)?)
    }

    /// One collection from `host` for local terminal `relay`: the replies are stored here
    /// under their delivery keys (a repeat after a lost acknowledgement is stored once),
    /// then acknowledged there. `false` once nothing is left to wait for.
    pub fn collect_once(&self, host: &Host, relay: &str) -> Result<bool, EngineError> {
        let wait = COLLECT_WAIT.as_secs().to_string();
        let batch: RelayBatch = host.call(
            &["collect", relay, "--wait", &wait],
            None,
            COLLECT_WAIT + CALL_TIMEOUT,
        )?;
        for m in &batch.messages {
            let key = format!("relay:{}:{}", host.name, m.id);
            self.post_once(&m.sender_id, relay, &m.body, &key)?;
        }
        if !batch.messages.is_empty() {
            let ids: Vec<String> = batch.messages.iter().map(|m| m.id.to_string()).collect();
            let _: serde_json::Value =
                host.call(&["ack", relay, "--ids", &ids.join(",")], None, CALL_TIMEOUT)?;
        }
        Ok(batch.workers > 0 || !batch.messages.is_empty())
    }

    /// Collects `relay`'s replies from `host` until its workers there have ended and nothing
    /// waits, or `relay` ends here (`cao _collect`). One collector per pair: a second one
    /// returns at once.
    pub fn run_collector(&self, host_name: &str, relay: &str) -> Result<(), EngineError> {
        let host = self.host(host_name)?;
        let lock_path = self
            .run_dir()?
            .terminal(relay)
            .join(format!("collect-{host_name}.lock"));
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| EngineError::Io {
                what: format!("cannot open {}", lock_path.display()),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Ok(());
        }
        let mut failing_since: Option<Instant> = None;
        loop {
            if self.terminal(relay).is_err() {
                return Ok(());
            }
            match self.collect_once(&host, relay) {
                Ok(true) => failing_since = None,
                Ok(false) => return Ok(()),
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(|| self.clock.now());
                    if self.clock.now() - since > COLLECT_GIVE_UP {
                        // The replies stay waiting there; the next assign to the host starts
                        // a collector that takes them.
                        tracing::warn!(host = %host.name, relay, "gave up collecting replies: {e}");
                        return Err(e);
                    }
                    tracing::warn!(host = %host.name, relay, "collecting replies failed, trying again: {e}");
                    self.clock.pause(COLLECT_RETRY, None);
                }
            }
        }
    }

    /// Starts `cao _collect HOST RELAY` in the background (its own process group, so the
    /// CLI that started this MCP server can end without taking it along).
    fn start_collector(&self, host: &str, relay: &str) -> Result<(), EngineError> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().map_err(|source| EngineError::Io {
            what: "cannot find cao's own executable".into(),
            source,
        })?;
        let mut child = std::process::Command::new(exe)
            .args(["_collect", host, relay])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|source| EngineError::Io {
                what: "cannot start the reply collector".into(),
                source,
            })?;
        // Reaped when it ends, so a long-lived MCP server keeps no zombie.
        std::thread::spawn(move || child.wait());
        Ok(())
    }

    /// A handoff to a worker on `req.host`: started there with its task, watched through the
    /// host's cao until its turn ends, its answer read there, closed. A dropped connection
    /// is reconnected on the next look (ssh opens a new master) until the timeout; on
    /// timeout or error the worker is left running there, as a local handoff leaves it.
    pub(super) fn remote_handoff(
        &self,
        mut req: CreateRequest,
        task: String,
        timeout: Duration,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<HandoffOutcome, EngineError> {
        let started = self.clock.now();
        let deadline = started + timeout;
        req.initial_message = Some(task);
        let view = self.launch_remote(&req)?;
        let host = self.host(req.host.as_deref().unwrap_or_default())?;
        let id = view.id.clone();
        let mut last_error: Option<String> = None;
        let mut asking_since: Option<Instant> = None;
        loop {
            if cancel.load(Ordering::SeqCst) {
                let _ = self.close_remote(&host, &id);
                return Err(EngineError::Cancelled(id));
            }
            let now = self.clock.now();
            if now >= deadline {
                return Err(EngineError::Timeout {
                    id,
                    seconds: timeout.as_secs(),
                    what: "finish its turn on its host",
                });
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(SETTLE_WAIT)
                .as_secs()
                .max(1);
            let mut pause = Duration::ZERO;
            match self.remote_settled(&host, &id, wait) {
                Ok(view) => {
                    last_error = None;
                    if view.status == Status::WaitingUserAnswer {
                        let since = *asking_since.get_or_insert(now);
                        if now - since > super::questions::grace() {
                            return Err(EngineError::Stuck {
                                id: id.clone(),
                                status: Status::WaitingUserAnswer,
                                detail: format!(
                                    "it has waited {}s on host {} for an answer to: {}\nIt is still running there: answer it with answer_user_prompt there, or read it with `cao output {id}`.",
                                    (now - since).as_secs(),
                                    host.name,
                                    view.question.as_deref().unwrap_or("(its screen)")
                                ),
                            });
                        }
                        // The host answers at once while it asks: look again in a moment.
                        pause = REMOTE_TICK;
                    } else {
                        asking_since = None;
                    }
                    progress(Progress {
                        terminal_id: id.clone(),
                        status: view.status,
                        elapsed: now - started,
                        question: view.question.clone(),
                    });
                    match view.status {
                        Status::Completed => break,
                        Status::Error => {
                            return Err(EngineError::Stuck {
                                id: id.clone(),
                                status: Status::Error,
                                detail: format!(
                                    "the worker on host {} reported an error. It is still running there: read it with `cao output {id}`, or close it with `cao shutdown --all`.",
                                    host.name
                                ),
                            });
                        }
                        _ => {}
                    }
                }
                Err(EngineError::Remote(e)) if e.is_transient() => {
                    if last_error.is_none() {
                        tracing::warn!(terminal = %id, host = %host.name, "lost the link, reconnecting: {e}");
                    }
                    last_error = Some(e.to_string());
                    pause = REMOTE_TICK;
                }
                Err(EngineError::Remote(RemoteError::Failed { message, .. }))
                    if message.contains("no terminal") =>
                {
                    self.store().delete_remote(&id)?;
                    return Err(EngineError::Exited {
                        id,
                        detail: format!(" on host {} before it finished", host.name),
                    });
                }
                Err(e) => return Err(e),
            }
            if !pause.is_zero() {
                pause_until(self, pause, deadline, cancel);
            }
        }
        let answer = retry_transient(self, deadline, || self.remote_answer(&host, &id))?;
        if let Err(e) = self.close_remote(&host, &id) {
            tracing::warn!(terminal = %id, host = %host.name, "cannot close the remote worker: {e}");
        }
        Ok(HandoffOutcome {
            terminal_id: id,
            output: answer.text,
            answer_source: answer.source,
            usage: answer.usage,
            worktree: None,
            notes: vec![format!("the worker ran on host {}", host.name)],
        })
    }
}

/// `tmux -V` of the tmux on `PATH`, or why it cannot be run.
fn tmux_version() -> Result<String, String> {
    let out = std::process::Command::new("tmux")
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("tmux cannot be run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tmux -V failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Pauses one `tick` (never past `deadline`), cut short by a cancel.
fn pause_until(engine: &Engine, tick: Duration, deadline: Instant, cancel: &AtomicBool) {
    let now = engine.clock.now();
    if now < deadline && !cancel.load(Ordering::SeqCst) {
        engine.clock.pause(tick.min(deadline - now), None);
    }
}

/// `call` until it succeeds or fails for a reason other than the link, or `deadline` passes.
fn retry_transient<T>(
    engine: &Engine,
    deadline: Instant,
    mut call: impl FnMut() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    loop {
        match call() {
            Err(EngineError::Remote(e)) if e.is_transient() && engine.clock.now() < deadline => {
                tracing::warn!("lost the link, trying again: {e}");
                pause_until(engine, REMOTE_TICK, deadline, &AtomicBool::new(false));
            }
            other => return other,
        }
    }
}
