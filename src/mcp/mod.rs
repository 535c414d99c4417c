//! The stdio MCP server (`cao mcp-server`): the tools a supervisor agent uses to hand out work
//! and pass messages. Each tool is a thin async wrapper that runs one engine operation on a
//! blocking thread, so calls run concurrently and a long handoff never delays anything else.
//! Nothing but JSON-RPC is ever written to stdout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ProtocolVersion, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{Json, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::{self, CreateRequest, Engine, EngineError, OutputMode};
use crate::env;
use crate::providers::Status;
use crate::store::TerminalRecord;

const INSTRUCTIONS: &str = "cao runs worker agents in tmux terminals for you. Three patterns: \
handoff — start a worker with an agent profile, give it a task, wait for its final answer and get it back (the worker is closed afterwards); \
assign — start a worker with a task and get its terminal id at once; the worker reports back later with send_message, so tell it your terminal id and to reply; \
send_message — queue a message for another terminal; it is typed into that terminal when it is idle, in order, exactly once. \
Use list_terminals, get_terminal_output and close_terminal to watch and manage your workers, and list_profiles to see which agent profiles exist. \
A worker that asks its user something (a permission, a yes/no) shows status waiting_user_answer with its question in list_terminals; answer it with answer_user_prompt.";

/// How a worker starts, the same for `handoff` and `assign`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WorkerStart {
    /// Directory the worker starts in (default: your current directory).
    #[serde(default)]
    pub working_directory: Option<String>,
    /// The CLI the worker runs in (e.g. "claude_code", "codex"; default: the profile's, else yours). An error names the CLIs installed.
    #[serde(default)]
    pub provider: Option<String>,
    /// The model the worker's CLI is asked for, in the CLI's own naming (default: the profile's, else the CLI's own). The result says when a CLI cannot take one.
    #[serde(default)]
    pub model: Option<String>,
    /// Start the worker in a git worktree of its own (a new branch from the repository's
    /// HEAD), so parallel workers never edit the same files. Needs a git repository; the
    /// worktree is removed afterwards if it holds nothing, and kept (and reported) if it does.
    #[serde(default)]
    pub use_worktree: bool,
    /// Run the worker on another machine: a host of cao's config ([hosts.NAME]; `cao hosts` lists them), reached over ssh, where its own cao runs the worker.
    #[serde(default)]
    pub host: Option<String>,
}

/// Parameters of `handoff`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HandoffParams {
    /// Agent profile of the worker (see list_profiles), e.g. "developer".
    pub agent_profile: String,
    /// The complete task for the worker: it has no other context.
    pub message: String,
    /// Seconds to wait for the worker's answer, start-up included (1-3600, default 600).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout: u64,
    /// Where and how the worker starts.
    #[serde(flatten)]
    pub start: WorkerStart,
}

fn default_timeout() -> u64 {
    600
}

/// Result of `handoff`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HandoffResult {
    /// Whether the worker finished and answered.
    pub success: bool,
    /// What happened, in one sentence.
    pub message: String,
    /// The worker's final answer.
    pub output: String,
    /// The worker's terminal id.
    pub terminal_id: String,
    /// Where the answer was read: "record" (the CLI's own session record: the model's exact
    /// text) or "screen" (the rendered terminal: formatting may be lost); null on failure.
    pub answer_source: Option<engine::AnswerSource>,
    /// The worker's token usage from its CLI's record; null when unknown.
    pub usage: Option<crate::records::Usage>,
    /// With use_worktree: what became of the worker's worktree ("removed", or "kept" with
    /// its path, branch, commits and uncommitted files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<engine::WorktreeOutcome>,
}

/// Parameters of `assign`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AssignParams {
    /// Agent profile of the worker (see list_profiles), e.g. "developer".
    pub agent_profile: String,
    /// The complete task for the worker. Unless cao adds it for you, end it with your terminal id and an instruction to report back by calling send_message with receiver_id set to that id.
    pub message: String,
    /// Where and how the worker starts.
    #[serde(flatten)]
    pub start: WorkerStart,
}

/// Result of `assign`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssignResult {
    /// Whether the worker was started.
    pub success: bool,
    /// The worker's terminal id.
    pub terminal_id: String,
    /// What happened, in one sentence.
    pub message: String,
    /// Your own terminal id: where the worker's send_message should go.
    pub caller_id: String,
    /// With use_worktree: the worker's worktree (path, branch, the commit it starts from,
    /// notes such as a dirty main checkout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<crate::store::WorktreeRow>,
}

/// Parameters of `send_message`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendMessageParams {
    /// Terminal id of the receiver (8 hex characters).
    pub receiver_id: String,
    /// The text to deliver.
    pub message: String,
}

/// Result of `send_message`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SendMessageResult {
    /// Whether the message was stored for delivery.
    pub success: bool,
    /// Id of the stored message.
    pub message_id: i64,
    /// Who it is from (your terminal id).
    pub sender_id: String,
    /// Who it is for.
    pub receiver_id: String,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
}

/// Parameters of `answer_user_prompt`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnswerParams {
    /// Terminal id of the waiting worker (8 hex characters).
    pub terminal_id: String,
    /// The answer: for a question with choices, a choice's number ("1"), "y" / "n", or the start of a choice's words ("Yes, and don't ask again"); for a question typed on a line, the text to type.
    pub answer: String,
}

/// Result of `answer_user_prompt`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AnswerResult {
    /// Whether the answer was typed.
    pub success: bool,
    /// The terminal that was answered.
    pub terminal_id: String,
    /// What it was asking, with its choices.
    pub question: String,
    /// What was given: the text typed, or the choice picked ("1. Yes").
    pub answered: String,
    /// Its status a moment after the answer (processing once it took it).
    pub status: Status,
    /// The question it asks next, when the answer led to another (a confirmation): answer it the same way.
    pub next_question: Option<String>,
    /// What happened, in one sentence.
    pub message: String,
}

/// Result of `list_terminals`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListTerminalsResult {
    /// Your own terminal id: where your workers send their messages.
    pub caller_id: Option<String>,
    /// Yourself and the terminals of your session (or, for a supervisor cao did not start,
    /// the sessions of your workers).
    pub terminals: Vec<engine::TerminalView>,
}

/// Parameters of `get_terminal_output`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct OutputParams {
    /// Terminal id (8 hex characters).
    pub terminal_id: String,
    /// "last" for the last answer only (default), "full" for the whole scrollback.
    #[serde(default)]
    pub mode: OutputMode,
}

/// Result of `get_terminal_output`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputResult {
    /// The terminal read.
    pub terminal_id: String,
    /// Its status when read.
    pub status: Status,
    /// The text.
    pub output: String,
    /// For mode "last": where the answer was read, "record" (the CLI's own session record:
    /// the model's exact text) or "screen" (the rendered terminal); null for "full".
    pub answer_source: Option<engine::AnswerSource>,
    /// Token usage of the terminal's conversation from its CLI's record; null when unknown.
    pub usage: Option<crate::records::Usage>,
}

/// Parameters of `wait_for_messages`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitParams {
    /// Longest wait in seconds (1-3600, default 60); returns as soon as a message is there.
    #[serde(default = "default_wait")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout: u64,
}

fn default_wait() -> u64 {
    60
}

/// One message handed out by `wait_for_messages`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReceivedMessage {
    /// Id of the message.
    pub message_id: i64,
    /// Who sent it (a terminal id, or "user").
    pub sender_id: String,
    /// The text.
    pub message: String,
    /// When it was sent (RFC 3339, UTC).
    pub created_at: String,
}

/// Result of `wait_for_messages`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WaitResult {
    /// Your terminal id (where workers send their messages).
    pub caller_id: String,
    /// The messages that were waiting, oldest first; each is handed out only once.
    pub messages: Vec<ReceivedMessage>,
    /// True when the wait ended with no message (timeout or cancellation).
    pub timed_out: bool,
}

/// Parameters of tools that act on one terminal.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TerminalParams {
    /// Terminal id (8 hex characters).
    pub terminal_id: String,
}

/// Result of `close_terminal`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CloseResult {
    /// Whether the terminal was closed.
    pub success: bool,
    /// The closed terminal.
    pub terminal_id: String,
    /// What happened.
    pub message: String,
    /// What became of its worktree, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<engine::WorktreeOutcome>,
}

/// One profile in `list_profiles`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProfileSummary {
    /// Name to pass as agent_profile.
    pub name: String,
    /// What the agent is for.
    pub description: String,
    /// The CLI it runs in, when the profile fixes one.
    pub provider: Option<String>,
}

/// Result of `list_profiles`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListProfilesResult {
    /// Every profile cao can find.
    pub profiles: Vec<ProfileSummary>,
}

/// The MCP server: the engine plus the tool table.
#[derive(Clone)]
pub struct CaoServer {
    engine: Arc<Engine>,
    tool_router: ToolRouter<CaoServer>,
    working_directory_enabled: bool,
    /// Who calls through this server.
    caller: Arc<Caller>,
}

impl CaoServer {
    /// Ends the caller's identity with this server: a mailbox goes, an adopted pane stays.
    /// Called once the client has disconnected.
    pub fn release_caller(&self) {
        if let Some(record) = self.caller.known() {
            self.engine.release_caller(&record);
        }
    }

    /// The cao tools the caller may use, from its terminal's record (`None`: all). The
    /// record is the store's, so nothing the caller controls can widen it. A caller that
    /// cannot be identified gets an error, never a guess: a list that later shrinks makes a
    /// CLI refuse its next tool call ("the tool catalog changed").
    async fn allowed_tools(&self) -> Result<Option<Vec<String>>, String> {
        let engine = self.engine.clone();
        let who = self.caller.clone();
        match tokio::task::spawn_blocking(move || who.resolve(&engine)).await {
            Ok(Ok(caller)) => Ok(caller.cao_tools),
            Ok(Err(e)) => Err(format!(
                "cao cannot tell which terminal calls it: {e}; try again"
            )),
            Err(e) => Err(format!("internal error: {e}; try again")),
        }
    }

    /// For a caller whose messages cannot be typed in (a mailbox), a line at the end of a
    /// tool result saying how many wait and how to read them.
    async fn note_waiting_messages(&self, result: &mut CallToolResult) {
        let Some(caller) = self.caller.known() else {
            return;
        };
        if caller.kind != crate::store::TerminalKind::Mailbox {
            return;
        }
        let engine = self.engine.clone();
        let id = caller.id.clone();
        let waiting = tokio::task::spawn_blocking(move || engine.pending_messages(&id))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        if waiting > 0 {
            result.content.push(ContentBlock::text(format!(
                "[cao] {waiting} message(s) wait for you (terminal {}): call wait_for_messages to read them.",
                caller.id
            )));
        }
    }
}

/// The caller of one MCP server: decided on its first tool call, then stable for the
/// server's life.
#[derive(Default)]
struct Caller {
    /// The name the MCP client gave in `initialize` (which CLI calls, for adoption).
    client_name: Mutex<Option<String>>,
    /// The caller's terminal, once decided.
    record: Mutex<Option<TerminalRecord>>,
}

impl Caller {
    /// The caller's terminal (see `Engine::identify_caller`). Runs on a blocking thread.
    fn resolve(&self, engine: &Engine) -> Result<TerminalRecord, EngineError> {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = record.as_ref() {
            return Ok(known.clone());
        }
        let client = self
            .client_name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let found = engine.identify_caller(client.as_deref())?;
        *record = Some(found.clone());
        Ok(found)
    }

    /// The terminal, if decided (without deciding it).
    fn known(&self) -> Option<TerminalRecord> {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A tool failure: `isError: true` with a message that says what to do next.
fn failure(message: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_string())])
}

/// Awaits a long blocking engine call (`work`): forwards each report it sends on `reports` to
/// the client as an MCP progress notification (when the client asked for them; `describe`
/// gives the seconds elapsed and the message), and sets `cancel` when the client cancels the
/// request, which the engine call watches.
async fn with_progress<T, R>(
    ctx: &RequestContext<RoleServer>,
    cancel: &AtomicBool,
    mut reports: tokio::sync::mpsc::UnboundedReceiver<R>,
    mut work: tokio::task::JoinHandle<T>,
    describe: impl Fn(&R) -> (f64, String),
) -> Result<T, tokio::task::JoinError> {
    let token = ctx.meta.get_progress_token();
    loop {
        tokio::select! {
            done = &mut work => return done,
            Some(report) = reports.recv() => {
                if let Some(token) = &token {
                    let (elapsed, message) = describe(&report);
                    let _ = ctx
                        .peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), elapsed).with_message(message),
                        )
                        .await;
                }
            }
            _ = ctx.ct.cancelled(), if !cancel.load(Ordering::SeqCst) => {
                cancel.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// A result sentence followed by the engine's notes (e.g. a model that was not applied).
fn with_notes(message: String, notes: &[String]) -> String {
    if notes.is_empty() {
        message
    } else {
        format!("{message}. {}", notes.join(". "))
    }
}

/// Runs a blocking engine call off the async threads.
async fn blocking<T, F>(f: F) -> Result<T, CallToolResult>
where
    F: FnOnce() -> Result<T, EngineError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failure(e)),
        Err(e) => Err(failure(format!("internal error: {e}; try again"))),
    }
}

/// A store timestamp (ms since the epoch) as RFC 3339 UTC with milliseconds.
fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// Removes schemars' Rust integer formats (`uint32`, `int64`, ...) from a schema: they are
/// not JSON Schema formats, and a strict validator (OpenCode's) prints a warning for each
/// straight onto its TUI, over the screen cao reads. `minimum`/`maximum` keep the range.
fn strip_integer_formats(schema: &mut serde_json::Map<String, serde_json::Value>) {
    let integer = match schema.get("type") {
        Some(serde_json::Value::String(t)) => t == "integer",
        Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    if integer {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        match value {
            serde_json::Value::Object(inner) => strip_integer_formats(inner),
            serde_json::Value::Array(items) => {
                for item in items {
                    if let serde_json::Value::Object(inner) = item {
                        strip_integer_formats(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tool_router]
impl CaoServer {
    /// A server over `engine`, with the tool schemas adjusted to the environment.
    pub fn new(engine: Arc<Engine>) -> CaoServer {
        let mut tool_router = Self::tool_router();
        let working_directory_enabled = env::flag(env::CAO_ENABLE_WORKING_DIRECTORY);
        let sender_id_injection = env::flag(env::CAO_ENABLE_SENDER_ID_INJECTION);
        if !working_directory_enabled {
            for name in ["handoff", "assign"] {
                if let Some(route) = tool_router.map.get_mut(name) {
                    let mut schema = (*route.attr.input_schema).clone();
                    if let Some(props) =
                        schema.get_mut("properties").and_then(|p| p.as_object_mut())
                    {
                        props.remove("working_directory");
                    }
                    route.attr.input_schema = Arc::new(schema);
                }
            }
        }
        for route in tool_router.map.values_mut() {
            let mut input = (*route.attr.input_schema).clone();
            strip_integer_formats(&mut input);
            route.attr.input_schema = Arc::new(input);
            if let Some(output) = &route.attr.output_schema {
                let mut output = (**output).clone();
                strip_integer_formats(&mut output);
                route.attr.output_schema = Some(Arc::new(output));
            }
        }
        if sender_id_injection && let Some(route) = tool_router.map.get_mut("assign") {
            route.attr.description = Some(
                "Start a worker agent with a task and return its terminal id at once, without waiting. \
                 cao appends your terminal id and reply instructions to the task, and the worker's report \
                 arrives later in your input as a message."
                    .into(),
            );
        }
        CaoServer {
            engine,
            tool_router,
            working_directory_enabled,
            caller: Arc::default(),
        }
    }

    /// The engine request for a worker of `profile` started as `start` asks, once the
    /// caller is known; refused at once when it asks for a working directory this server
    /// does not allow.
    fn worker_request(
        &self,
        profile: String,
        start: WorkerStart,
    ) -> Result<impl FnOnce(TerminalRecord) -> CreateRequest + Send + 'static, CallToolResult> {
        let working_dir = self.working_dir(start.working_directory)?;
        if start.host.is_some() && start.use_worktree {
            return Err(failure(
                "use_worktree is not available for a worker on another host yet; leave out one of host and use_worktree",
            ));
        }
        Ok(move |caller| CreateRequest {
            use_worktree: start.use_worktree,
            provider: start.provider,
            model: start.model,
            host: start.host,
            ..CreateRequest::worker(profile, caller, working_dir)
        })
    }

    fn working_dir(
        &self,
        requested: Option<String>,
    ) -> Result<Option<std::path::PathBuf>, CallToolResult> {
        match requested {
            None => Ok(None),
            Some(_) if !self.working_directory_enabled => Err(failure(
                "working_directory is disabled on this cao server; leave it out (workers start in your directory) or ask the user to set CAO_ENABLE_WORKING_DIRECTORY=true",
            )),
            Some(dir) => Ok(Some(dir.into())),
        }
    }

    /// Start a worker agent with the given profile, give it a task, wait until it has finished, and return its final answer. The worker is closed afterwards. Use this when you need the result before you can continue. provider and model pick the worker's CLI and model for this call. If the worker asks its user something and nobody answers within a grace period, the handoff fails with the question and leaves the worker running: answer it with answer_user_prompt and read its answer with get_terminal_output.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn handoff(
        &self,
        Parameters(p): Parameters<HandoffParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<HandoffResult>, CallToolResult> {
        if !(1..=3600).contains(&p.timeout) {
            return Err(failure(format!(
                "timeout must be between 1 and 3600 seconds, got {}",
                p.timeout
            )));
        }
        let request = self.worker_request(p.agent_profile, p.start)?;
        let engine = self.engine.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<engine::Progress>();
        let timeout = Duration::from_secs(p.timeout);
        let flag = cancel.clone();
        let who = self.caller.clone();
        let work = tokio::task::spawn_blocking(move || {
            let caller = who.resolve(&engine)?;
            engine.handoff(
                request(caller),
                p.message,
                timeout,
                &flag,
                &mut |progress| {
                    let _ = tx.send(progress);
                },
            )
        });
        let outcome = with_progress(&ctx, &cancel, rx, work, |progress| {
            let elapsed = progress.elapsed.as_secs_f64();
            let id = &progress.terminal_id;
            let message = match &progress.question {
                Some(question) => {
                    format!("worker {id} is waiting for an answer: {question} ({elapsed:.0}s)")
                }
                None => format!("worker {id} is {} ({elapsed:.0}s)", progress.status),
            };
            (elapsed, message)
        })
        .await;
        match outcome {
            Ok(Ok(done)) => Ok(Json(HandoffResult {
                success: true,
                message: with_notes(
                    format!(
                        "worker {} finished; its answer is in output",
                        done.terminal_id
                    ),
                    &done
                        .notes
                        .iter()
                        .cloned()
                        .chain(done.worktree.as_ref().map(|w| w.sentence()))
                        .collect::<Vec<_>>(),
                ),
                output: done.output,
                terminal_id: done.terminal_id,
                answer_source: Some(done.answer_source),
                usage: done.usage,
                worktree: done.worktree,
            })),
            Ok(Err(e)) => {
                let terminal_id = match &e {
                    EngineError::Timeout { id, .. }
                    | EngineError::Stuck { id, .. }
                    | EngineError::Exited { id, .. }
                    | EngineError::Cancelled(id) => id.clone(),
                    _ => String::new(),
                };
                let mut result = failure(&e);
                result.structured_content = Some(serde_json::json!({
                    "success": false,
                    "message": e.to_string(),
                    "output": "",
                    "terminal_id": terminal_id,
                    "answer_source": null,
                    "usage": null,
                }));
                Err(result)
            }
            Err(e) => Err(failure(format!("internal error: {e}; try again"))),
        }
    }

    /// Start a worker agent with the given profile and task, and return its terminal id at once without waiting. The worker reports back later by calling send_message, which arrives in your input as a new message: end the task with your terminal id (from list_terminals' caller_id) and an instruction to call send_message with receiver_id set to it. provider and model pick the worker's CLI and model for this call.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn assign(
        &self,
        Parameters(p): Parameters<AssignParams>,
    ) -> Result<Json<AssignResult>, CallToolResult> {
        let request = self.worker_request(p.agent_profile, p.start)?;
        let engine = self.engine.clone();
        let who = self.caller.clone();
        let (started, caller_id, worktree) = blocking(move || {
            let caller = who.resolve(&engine)?;
            let caller_id = caller.id.clone();
            let started = engine.assign(request(caller), p.message)?;
            let worktree = engine.worktree_of(&started.terminal_id)?;
            Ok((started, caller_id, worktree))
        })
        .await?;
        let place = started
            .host
            .as_ref()
            .map(|h| format!(" on host {h}"))
            .unwrap_or_default();
        Ok(Json(AssignResult {
            success: true,
            message: with_notes(
                format!(
                    "worker {} ({} on {}){place} started; its task is typed as soon as it is ready. Your terminal id is {caller_id}: the worker reports back with send_message to {caller_id}",
                    started.terminal_id, started.profile, started.provider
                ),
                &started.notes,
            ),
            terminal_id: started.terminal_id,
            caller_id,
            worktree,
        }))
    }

    /// Send a message to another terminal (a worker or your supervisor). It is stored at once and typed into the receiver when the receiver is idle: in order, exactly once. Returns without waiting for delivery.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn send_message(
        &self,
        Parameters(p): Parameters<SendMessageParams>,
    ) -> Result<Json<SendMessageResult>, CallToolResult> {
        let engine = self.engine.clone();
        let who = self.caller.clone();
        let message = blocking(move || {
            let sender = who.resolve(&engine)?.id;
            engine.post(&sender, &p.receiver_id, &p.message)
        })
        .await?;
        Ok(Json(SendMessageResult {
            success: true,
            message_id: message.id,
            sender_id: message.sender_id,
            receiver_id: message.receiver_id,
            created_at: rfc3339(message.created_at),
        }))
    }

    /// Answer a worker that is asking its user something (status waiting_user_answer: a permission, a yes/no, a numbered choice; its question is in list_terminals). The answer is typed the worker's CLI's way: a choice is picked by its number, y/n or its words. Refused, with nothing typed, when the terminal is not waiting for an answer.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn answer_user_prompt(
        &self,
        Parameters(p): Parameters<AnswerParams>,
    ) -> Result<Json<AnswerResult>, CallToolResult> {
        let engine = self.engine.clone();
        let who = self.caller.clone();
        let done = blocking(move || {
            let caller = who.resolve(&engine)?;
            engine.answer_user_prompt(Some(&caller), &p.terminal_id, &p.answer)
        })
        .await?;
        Ok(Json(AnswerResult {
            success: true,
            message: match &done.next_question {
                Some(next) => format!(
                    "answered {} to the question of terminal {}; it asks next: {next}",
                    done.typed, done.terminal_id
                ),
                None => format!(
                    "answered {} to the question of terminal {}; it is now {}",
                    done.typed, done.terminal_id, done.status
                ),
            },
            terminal_id: done.terminal_id,
            question: done.question,
            answered: done.typed,
            status: done.status,
            next_question: done.next_question,
        }))
    }

    /// List your terminal (caller_id) and your workers with their profile and live status: idle, processing, completed, waiting_user_answer (then with the question it asks: answer it with answer_user_prompt) or error.
    #[tool(annotations(
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_terminals(&self) -> Result<Json<ListTerminalsResult>, CallToolResult> {
        let engine = self.engine.clone();
        let who = self.caller.clone();
        let result = blocking(move || {
            let caller = who.resolve(&engine)?;
            Ok(ListTerminalsResult {
                terminals: engine.list_for(&caller)?,
                caller_id: Some(caller.id),
            })
        })
        .await?;
        Ok(Json(result))
    }

    /// Read a terminal's output: its last answer ("last", default) or the whole scrollback ("full").
    #[tool(annotations(
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_terminal_output(
        &self,
        Parameters(p): Parameters<OutputParams>,
    ) -> Result<Json<OutputResult>, CallToolResult> {
        let engine = self.engine.clone();
        let result = blocking(move || {
            let view = engine.view(&p.terminal_id)?;
            let (output, answer_source) = match p.mode {
                OutputMode::Last => {
                    let answer = engine.answer(&p.terminal_id)?;
                    (answer.text, Some(answer.source))
                }
                OutputMode::Full => (engine.output(&p.terminal_id, p.mode)?, None),
            };
            Ok(OutputResult {
                terminal_id: p.terminal_id,
                status: view.status,
                output,
                answer_source,
                usage: view.usage,
            })
        })
        .await?;
        Ok(Json(result))
    }

    /// Close a worker: ask its CLI to exit and close its terminal. Messages still waiting for it are marked failed. You cannot close your own terminal.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn close_terminal(
        &self,
        Parameters(p): Parameters<TerminalParams>,
    ) -> Result<Json<CloseResult>, CallToolResult> {
        let engine = self.engine.clone();
        let id = p.terminal_id.clone();
        let who = self.caller.clone();
        let worktree = blocking(move || engine.close_for(&who.resolve(&engine)?, &id)).await?;
        let mut message = format!("terminal {} closed", p.terminal_id);
        if let Some(outcome) = &worktree {
            message = format!("{message}; {}", outcome.sentence());
        }
        Ok(Json(CloseResult {
            success: true,
            message,
            terminal_id: p.terminal_id,
            worktree,
        }))
    }

    /// Wait for messages sent to you (your workers' send_message replies) and return them. Returns as soon as at least one is there, with every message waiting, oldest first; each message is handed out only once. Use it when cao cannot type messages into your input (you run outside tmux): other tool results tell you when messages wait.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn wait_for_messages(
        &self,
        Parameters(p): Parameters<WaitParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<WaitResult>, CallToolResult> {
        if !(1..=3600).contains(&p.timeout) {
            return Err(failure(format!(
                "timeout must be between 1 and 3600 seconds, got {}",
                p.timeout
            )));
        }
        let engine = self.engine.clone();
        let who = self.caller.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
        let timeout = Duration::from_secs(p.timeout);
        let work = tokio::task::spawn_blocking(move || {
            let caller = who.resolve(&engine)?;
            let mut last_beat = Duration::ZERO;
            let messages = engine.wait_for_messages(&caller.id, timeout, &flag, &mut |waited| {
                if waited >= last_beat + Duration::from_secs(5) {
                    last_beat = waited;
                    let _ = tx.send(waited);
                }
            })?;
            Ok::<_, EngineError>((caller.id, messages))
        });
        let outcome = with_progress(&ctx, &cancel, rx, work, |waited| {
            let waited = waited.as_secs_f64();
            (waited, format!("waiting for messages ({waited:.0}s)"))
        })
        .await;
        let (caller_id, messages) = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(failure(e)),
            Err(e) => return Err(failure(format!("internal error: {e}; try again"))),
        };
        Ok(Json(WaitResult {
            caller_id,
            timed_out: messages.is_empty(),
            messages: messages
                .into_iter()
                .map(|m| ReceivedMessage {
                    message_id: m.id,
                    sender_id: m.sender_id,
                    message: m.body,
                    created_at: rfc3339(m.created_at),
                })
                .collect(),
        }))
    }

    /// List the agent profiles you can pass as agent_profile, with what each is for.
    #[tool(annotations(
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_profiles(&self) -> Result<Json<ListProfilesResult>, CallToolResult> {
        let engine = self.engine.clone();
        let profiles = blocking(move || Ok(engine.profiles())).await?;
        Ok(Json(ListProfilesResult {
            profiles: profiles
                .into_iter()
                .map(|p| ProfileSummary {
                    name: p.name,
                    description: p.description,
                    provider: p.provider,
                })
                .collect(),
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CaoServer {
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, rmcp::ErrorData> {
        let allowed = self
            .allowed_tools()
            .await
            .map_err(|e| rmcp::ErrorData::internal_error(e, None))?;
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| {
                allowed
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|n| *n == tool.name))
            })
            .collect();
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms: supports_cache_hints.then_some(0),
            // The list depends on who asks.
            cache_scope: supports_cache_hints.then_some(CacheScope::Private),
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        let allowed = match self.allowed_tools().await {
            Ok(allowed) => allowed,
            Err(e) => return Ok(CallToolResponse::Complete(failure(e))),
        };
        if let Some(allowed) = allowed
            && !allowed.iter().any(|n| *n == request.name)
        {
            return Ok(CallToolResponse::Complete(failure(format!(
                "the tool {} is not available to this terminal: its profile's caoTools allows only {}",
                request.name,
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ))));
        }
        let collecting = request.name == "wait_for_messages";
        let tcc = ToolCallContext::new(self, request, context);
        let mut response = self.tool_router.call(tcc).await?;
        if !collecting && let CallToolResponse::Complete(result) = &mut response {
            self.note_waiting_messages(result).await;
        }
        Ok(response)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(info) = context.peer.peer_info() {
            *self
                .caller
                .client_name
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(info.client_info.name.clone());
        }
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cao", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }
}
