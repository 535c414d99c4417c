//! A scripted model on loopback for the real-CLI tests. It speaks the four wire APIs the
//! CLIs use — Anthropic Messages (`POST /v1/messages`), OpenAI Responses (`POST
//! /v1/responses`), Gemini (`…:streamGenerateContent?alt=sse`, `…:generateContent`) and OpenAI
//! Chat Completions (`POST /v1/chat/completions`) — streaming its answers as SSE.
//!
//! A test scripts the model with [`Rule`]s: when the user's latest text contains a marker,
//! the model plays the rule's steps, one per request: say some text, or call an MCP tool.
//! The step is picked by how many tool results came back since that user text, so "call
//! `handoff`, then after its result say Y" is two steps. A scripted call of a tool the
//! request does not offer yet is preceded, as a real model would, by Claude Code's
//! `ToolSearch` (2.1.3xx defers MCP tools until it loads them) or `WaitForMcpServers` (a
//! server still connecting); those helper calls are not steps. Side requests (Claude's session
//! title, Gemini's routing, OpenCode's title) are told apart from main turns by offering no
//! tools, and get a short answer, or JSON that fits the schema they ask for.
//!
//! Every main request is recorded as an [`Exchange`] (user text, tool results, when the
//! answer started and finished, whether it was fully written), for tests to assert on.
//! Plain std: a thread per connection, HTTP/1.1 with keep-alive and chunked responses.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

/// The wire API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (Claude Code).
    Anthropic,
    /// OpenAI Responses (Codex).
    Responses,
    /// Gemini generateContent (Gemini CLI).
    Gemini,
    /// OpenAI Chat Completions (OpenCode, Copilot CLI).
    Chat,
}

/// One thing the model does in reply to a request.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this text. `{result}` is replaced by the last tool result's text.
    Say(String),
    /// Call cao's MCP tool (bare name, e.g. `handoff`) with these arguments. A string
    /// argument `{receiver_id}` becomes the id the user text names in `receiver_id "ID"` (the
    /// reply instructions cao appends with `CAO_ENABLE_SENDER_ID_INJECTION`).
    Call { tool: String, args: Value },
    /// Call one of the CLI's own tools (its shell, its file reader): the first of `choices`
    /// (a tool's exact name, the arguments for it) whose tool the request offers.
    Native { choices: Vec<(String, Value)> },
    /// Fail the request with this HTTP status and an API-shaped error body.
    Fail(u16),
}

/// A scripted turn: when the latest user text contains `when`, play `steps`.
#[derive(Debug, Clone)]
pub struct Rule {
    when: String,
    steps: Vec<Step>,
    pace: Duration,
    chunk_chars: usize,
}

impl Rule {
    /// A rule for user texts containing `marker`.
    pub fn when(marker: &str) -> Rule {
        Rule {
            when: marker.to_string(),
            steps: Vec::new(),
            pace: Duration::from_millis(10),
            chunk_chars: 24,
        }
    }

    /// Then answer with `text`.
    pub fn say(mut self, text: &str) -> Rule {
        self.steps.push(Step::Say(text.to_string()));
        self
    }

    /// Then call cao's tool `tool` with `args`.
    pub fn call(mut self, tool: &str, args: Value) -> Rule {
        self.steps.push(Step::Call {
            tool: tool.to_string(),
            args,
        });
        self
    }

    /// Then call the CLI's own tool: the first of `choices` (name, arguments) the request
    /// offers (CLI releases rename their tools and change their arguments).
    pub fn native(mut self, choices: &[(&str, Value)]) -> Rule {
        self.steps.push(Step::Native {
            choices: choices
                .iter()
                .map(|(t, a)| (t.to_string(), a.clone()))
                .collect(),
        });
        self
    }

    /// Then fail with an HTTP error.
    pub fn fail(mut self, status: u16) -> Rule {
        self.steps.push(Step::Fail(status));
        self
    }

    /// Streams text in `chunk_chars`-sized pieces, `pace` apart (a slow model).
    pub fn paced(mut self, pace: Duration, chunk_chars: usize) -> Rule {
        self.pace = pace;
        self.chunk_chars = chunk_chars.max(1);
        self
    }
}

/// A main (tool-bearing) request and what the model did with it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Sequence number (order of arrival).
    pub seq: usize,
    /// Which API it came in on.
    pub api: Api,
    /// The latest user text block (context blocks such as `<system-reminder>` left out).
    pub user_text: String,
    /// Tool results that came back since that user text, oldest first.
    pub tool_results: Vec<String>,
    /// Names of the tools offered (namespaced ones as `namespace/name`; a deferred one only
    /// once loaded).
    pub tools: Vec<String>,
    /// What was served (`say: ...`, `call: ...`, `fail: ...`, `default`).
    pub served: String,
    /// When the request arrived.
    pub received: SystemTime,
    /// When the answer was fully written (or the client went away).
    pub finished: Option<SystemTime>,
    /// Whether the whole answer was written.
    pub completed: bool,
}

struct Shared {
    rules: Mutex<Vec<Rule>>,
    exchanges: Mutex<Vec<Exchange>>,
    changed: Condvar,
    stop: AtomicBool,
    log: Option<Mutex<std::fs::File>>,
}

/// The running server; dropping it stops accepting connections.
pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn next_id(prefix: &str) -> String {
    format!("{prefix}_{:06}", IDS.fetch_add(1, Ordering::SeqCst))
}

/// Default answer to a main turn no rule matches.
pub const DEFAULT_ANSWER: &str = "Nothing was scripted for this turn.";

impl ModelServer {
    /// Starts a server on 127.0.0.1 (a free port). With `log`, every request is appended to
    /// that file as one JSON line (for debugging a CLI's traffic).
    pub fn start(log: Option<PathBuf>) -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the model server");
        let addr = listener.local_addr().unwrap();
        let log = log.map(|p| {
            Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .expect("open the model log"),
            )
        });
        let shared = Arc::new(Shared {
            rules: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            log,
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn = accept.clone();
                std::thread::spawn(move || serve_connection(stream, &conn));
            }
        });
        ModelServer { addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule (earlier rules win when several match).
    pub fn script(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Every main request so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.exchanges.lock().unwrap().clone()
    }

    /// Waits until some recorded exchange satisfies `pred`; returns it.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Exchange) -> bool,
    ) -> Result<Exchange, String> {
        let deadline = Instant::now() + timeout;
        let mut log = self.shared.exchanges.lock().unwrap();
        loop {
            if let Some(x) = log.iter().find(|x| pred(x)) {
                return Ok(x.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for the model to see {what}; it saw:\n{}",
                    summarize(&log)
                ));
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// A readable list of the exchanges, for failure messages.
    pub fn summary(&self) -> String {
        summarize(&self.shared.exchanges.lock().unwrap())
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn summarize(log: &[Exchange]) -> String {
    log.iter()
        .map(|x| {
            format!(
                "  #{} {:?} tools={} user={:?} results={} served={:?} completed={}",
                x.seq,
                x.api,
                x.tools.len(),
                short(&x.user_text, 80),
                x.tool_results.len(),
                short(&x.served, 80),
                x.completed
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn short(s: &str, n: usize) -> String {
    let flat = s.replace('\n', "⏎");
    if flat.chars().count() <= n {
        flat
    } else {
        format!("{}…", flat.chars().take(n).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        if handle(&req, &mut out, shared).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).ok()?;
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len.parse().ok()?;
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond_json(out: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        out,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

/// An SSE response written as HTTP chunks.
struct Sse<'a> {
    out: &'a mut TcpStream,
}

impl<'a> Sse<'a> {
    fn open(out: &'a mut TcpStream) -> std::io::Result<Sse<'a>> {
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )?;
        out.flush()?;
        Ok(Sse { out })
    }

    fn raw(&mut self, text: &str) -> std::io::Result<()> {
        write!(self.out, "{:x}\r\n{text}\r\n", text.len())?;
        self.out.flush()
    }

    fn data(&mut self, value: &Value) -> std::io::Result<()> {
        self.raw(&format!("data: {value}\n\n"))
    }

    fn event(&mut self, name: &str, value: &Value) -> std::io::Result<()> {
        self.raw(&format!("event: {name}\ndata: {value}\n\n"))
    }

    /// Ends the stream. A client may hang up as soon as it has the final event (Codex does,
    /// now and then), so failing to write the terminator does not make the answer incomplete.
    fn close(self) -> std::io::Result<()> {
        let _ = write!(self.out, "0\r\n\r\n").and_then(|()| self.out.flush());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------

/// What a request turned out to be, in API-neutral terms.
struct Parsed {
    api: Api,
    stream: bool,
    user_text: String,
    tool_results: Vec<String>,
    tools: Vec<String>,
    /// A JSON schema the answer must follow (side requests), if any.
    schema: Option<Value>,
    /// The request wants JSON without giving a schema.
    json_mode: bool,
    /// The input schema of Claude Code's `ToolSearch`, when offered: MCP tools are then
    /// deferred (named in a system message, without a schema) until it loads them.
    tool_search: Option<Value>,
    /// Every text of the request besides the user's latest (system prompt, system messages,
    /// reminders): where a CLI names tools it has not loaded yet.
    context: String,
    /// Helper calls the server made on its own since the latest user text.
    helper_calls: usize,
}

fn handle(req: &Request, out: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    if let Some(log) = &shared.log {
        let line =
            json!({"method": req.method, "path": req.path, "headers": req.headers, "body": body});
        let _ = writeln!(log.lock().unwrap(), "{line}");
    }
    let path = req.path.split('?').next().unwrap_or("");
    if req.method == "GET" {
        if path.ends_with("/models") {
            return respond_json(
                out,
                200,
                &json!({"object": "list", "data": [{"id": "mock", "object": "model", "created": 0, "owned_by": "cao"}]}),
            );
        }
        return respond_json(out, 404, &json!({"error": {"message": "not found"}}));
    }
    if path.ends_with("count_tokens") {
        return respond_json(out, 200, &json!({"input_tokens": 10}));
    }
    if path.ends_with(":countTokens") {
        return respond_json(out, 200, &json!({"totalTokens": 10}));
    }
    let parsed = if path.ends_with("/messages") {
        parse_anthropic(&body)
    } else if path.ends_with("/responses") {
        parse_responses(&body)
    } else if path.contains(":streamGenerateContent") || path.contains(":generateContent") {
        parse_gemini(&body, path.contains(":streamGenerateContent"))
    } else if path.ends_with("/chat/completions") {
        parse_chat(&body)
    } else {
        return respond_json(out, 404, &json!({"error": {"message": "not found"}}));
    };

    if parsed.tools.is_empty() {
        // A side request: a title, a routing decision, a summary.
        let text = match (&parsed.schema, parsed.json_mode) {
            (Some(schema), _) => instance(schema).to_string(),
            (None, true) => "{}".to_string(),
            (None, false) => "Scripted session".to_string(),
        };
        return answer(out, &parsed, &Step::Say(text), Duration::ZERO, 64).map(|_| ());
    }

    let (step, pace, chunk, mut served) = pick_step(shared, &parsed);
    if let Step::Call { tool, .. } = &step
        && resolve_tool(&parsed, tool).is_none()
        && let Ok(((helper, _), args)) = helper_call(&parsed, tool)
    {
        served = format!("{helper} {args} (before {served})");
    }
    let seq = {
        let mut log = shared.exchanges.lock().unwrap();
        let seq = log.len();
        log.push(Exchange {
            seq,
            api: parsed.api,
            user_text: parsed.user_text.clone(),
            tool_results: parsed.tool_results.clone(),
            tools: parsed.tools.clone(),
            served,
            received: SystemTime::now(),
            finished: None,
            completed: false,
        });
        shared.changed.notify_all();
        seq
    };
    let result = answer(out, &parsed, &step, pace, chunk);
    {
        let mut log = shared.exchanges.lock().unwrap();
        log[seq].finished = Some(SystemTime::now());
        log[seq].completed = result.is_ok();
        shared.changed.notify_all();
    }
    result.map(|_| ())
}

fn pick_step(shared: &Shared, parsed: &Parsed) -> (Step, Duration, usize, String) {
    let rules = shared.rules.lock().unwrap();
    let Some(rule) = rules.iter().find(|r| parsed.user_text.contains(&r.when)) else {
        return (
            Step::Say(DEFAULT_ANSWER.into()),
            Duration::ZERO,
            64,
            "default".into(),
        );
    };
    let index = parsed.tool_results.len();
    let step = match rule.steps.get(index) {
        Some(Step::Say(text)) => {
            let last = parsed.tool_results.last().cloned().unwrap_or_default();
            Step::Say(text.replace("{result}", &last))
        }
        Some(Step::Call { tool, args }) => Step::Call {
            tool: tool.clone(),
            args: fill_receiver(args, &parsed.user_text),
        },
        Some(other) => other.clone(),
        None => Step::Say("Done.".into()),
    };
    let served = match &step {
        Step::Say(t) => format!("say: {t}"),
        Step::Call { tool, args } => format!("call: {tool} {args}"),
        Step::Native { choices } => {
            let names: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
            format!("native: one of {}", names.join("|"))
        }
        Step::Fail(s) => format!("fail: {s}"),
    };
    (step, rule.pace, rule.chunk_chars, served)
}

/// `args` with every string `{receiver_id}` replaced by the id in the last
/// `receiver_id "ID"` of `text` (left as it is when the text names none).
fn fill_receiver(args: &Value, text: &str) -> Value {
    const KEY: &str = "receiver_id \"";
    let Some(id) = text
        .rfind(KEY)
        .map(|at| &text[at + KEY.len()..])
        .and_then(|rest| rest.split('"').next())
    else {
        return args.clone();
    };
    match args {
        Value::String(s) if s == "{receiver_id}" => Value::String(id.to_string()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_receiver(v, text)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_receiver(v, text)).collect()),
        other => other.clone(),
    }
}

/// Writes the step in the request's API; an `Err` means the client went away.
fn answer(
    out: &mut TcpStream,
    parsed: &Parsed,
    step: &Step,
    pace: Duration,
    chunk: usize,
) -> std::io::Result<()> {
    if let Step::Fail(status) = step {
        return respond_json(out, *status, &error_body(parsed.api, *status));
    }
    let call = match step {
        Step::Call { tool, args } => match resolve_tool(parsed, tool) {
            Some(name) => Some((name, args.clone())),
            None => match helper_call(parsed, tool) {
                Ok(call) => Some(call),
                Err(text) => {
                    return answer(
                        out,
                        parsed,
                        &Step::Say(format!("SCRIPT ERROR: {text}")),
                        Duration::ZERO,
                        64,
                    );
                }
            },
        },
        Step::Native { choices } => match choices.iter().find(|(t, _)| parsed.tools.contains(t)) {
            Some((name, args)) => Some(((name.clone(), None), args.clone())),
            None => {
                let names: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
                let text = format!(
                    "none of the tools {names:?} is offered; offered: {}",
                    parsed.tools.join(", ")
                );
                return answer(
                    out,
                    parsed,
                    &Step::Say(format!("SCRIPT ERROR: {text}")),
                    Duration::ZERO,
                    64,
                );
            }
        },
        _ => None,
    };
    let text = match step {
        Step::Say(t) => t.clone(),
        _ => String::new(),
    };
    let pieces = split_chunks(&text, chunk);
    match parsed.api {
        Api::Anthropic => anthropic_answer(out, parsed.stream, &pieces, call, pace),
        Api::Responses => responses_answer(out, &pieces, call, pace),
        Api::Gemini => gemini_answer(out, parsed.stream, &pieces, call, pace),
        Api::Chat => chat_answer(out, parsed.stream, &pieces, call, pace),
    }
}

fn split_chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

fn pause(pace: Duration) {
    if !pace.is_zero() {
        std::thread::sleep(pace);
    }
}

fn error_body(api: Api, status: u16) -> Value {
    match api {
        Api::Anthropic => {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": format!("scripted failure {status}")}})
        }
        Api::Gemini => {
            json!({"error": {"code": status, "message": format!("scripted failure {status}"), "status": "INVALID_ARGUMENT"}})
        }
        _ => {
            json!({"error": {"message": format!("scripted failure {status}"), "type": "invalid_request_error", "code": "scripted"}})
        }
    }
}

/// Most helper calls one turn may make before the script gives up on a tool ever showing.
const MAX_HELPER_CALLS: usize = 8;

/// What a real model does when cao's tool `bare` is not among the request's tools yet:
///
/// - Claude Code 2.1.3xx defers MCP tools: a system message names them, and its `ToolSearch`
///   tool loads their schemas (`select:NAME`); the tool is offered from the next request on.
/// - Claude Code 2.1.1xx offers MCP tools once their server has connected, and
///   `WaitForMcpServers` waits for that (also used by later versions while a server that the
///   request does not name yet is still connecting).
///
/// `Err` says why neither applies.
fn helper_call(parsed: &Parsed, bare: &str) -> Result<((String, Option<String>), Value), String> {
    let offered = parsed.tools.join(", ");
    if parsed.helper_calls >= MAX_HELPER_CALLS {
        return Err(format!(
            "tool {bare} is still not offered after {} ToolSearch/WaitForMcpServers calls; offered: {offered}",
            parsed.helper_calls
        ));
    }
    let wanted = format!("mcp__cao__{bare}");
    let waits = parsed.tools.iter().any(|t| t == WAIT_TOOL);
    match &parsed.tool_search {
        Some(schema) if parsed.context.contains(&wanted) || !waits => {
            let args = tool_search_args(schema, &wanted).map_err(|e| {
                format!("tool {bare} is deferred, but ToolSearch cannot be called: {e}")
            })?;
            Ok(((SEARCH_TOOL.to_string(), None), args))
        }
        _ if waits => Ok(((WAIT_TOOL.to_string(), None), json!({"servers": ["cao"]}))),
        _ => Err(format!("tool {bare} is not offered; offered: {offered}")),
    }
}

/// `ToolSearch` arguments that load exactly the tool `name`, built from the tool's input
/// schema: its query property (`query` in Claude Code 2.1.3xx; else the one required string
/// property) gets `select:NAME` (the form its description documents for an exact name; a
/// plain keyword search when the description does not offer it), every other required
/// property a value that fits its schema.
fn tool_search_args(schema: &Value, name: &str) -> Result<Value, String> {
    let props = schema["properties"]
        .as_object()
        .ok_or_else(|| format!("its input schema has no properties: {schema}"))?;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let is_string = |key: &str| props.get(key).is_some_and(|p| p["type"] == "string");
    let key = if is_string("query") {
        "query"
    } else {
        match required
            .iter()
            .copied()
            .filter(|k| is_string(k))
            .collect::<Vec<_>>()[..]
        {
            [only] => only,
            _ => return Err(format!("no query property in its input schema: {schema}")),
        }
    };
    let documented = props[key]["description"]
        .as_str()
        .is_some_and(|d| d.contains("select:"));
    let query = if documented {
        format!("select:{name}")
    } else {
        name.to_string()
    };
    let mut args = serde_json::Map::new();
    args.insert(key.to_string(), json!(query));
    for other in required.into_iter().filter(|k| *k != key) {
        args.insert(other.to_string(), instance(&props[other]));
    }
    Ok(Value::Object(args))
}

/// The name under which the request offers cao's tool `bare`.
fn resolve_tool(parsed: &Parsed, bare: &str) -> Option<(String, Option<String>)> {
    let wanted = match parsed.api {
        Api::Anthropic => format!("mcp__cao__{bare}"),
        Api::Responses => format!("mcp__cao/{bare}"),
        Api::Gemini => format!("mcp_cao_{bare}"),
        Api::Chat => format!("cao_{bare}"),
    };
    let found = parsed.tools.iter().find(|t| **t == wanted).or_else(|| {
        parsed
            .tools
            .iter()
            .find(|t| t.contains("cao") && t.ends_with(bare))
    })?;
    Some(match found.split_once('/') {
        Some((ns, name)) => (name.to_string(), Some(ns.to_string())),
        None => (found.clone(), None),
    })
}

/// A value that satisfies a (simple) JSON schema: first enum value, required properties.
fn instance(schema: &Value) -> Value {
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema.get(key).and_then(|e| e.get(0)) {
            return instance(first);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "string".into(),
    };
    match ty.as_str() {
        "object" => {
            let props = schema.get("properties").and_then(Value::as_object);
            let mut obj = serde_json::Map::new();
            if let Some(props) = props {
                for (k, v) in props {
                    obj.insert(k.clone(), instance(v));
                }
            }
            Value::Object(obj)
        }
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema.get("items").map(instance).unwrap_or(json!("ok"));
            Value::Array((0..min).map(|_| item.clone()).collect())
        }
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "null" => Value::Null,
        _ => json!("Scripted session"),
    }
}

// ---------------------------------------------------------------------------------------
// Reading requests
// ---------------------------------------------------------------------------------------

/// Text blocks that are context the CLI adds, not the user's words.
fn is_context(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || (t.starts_with('<') && t.ends_with('>')) || t.starts_with("# AGENTS.md")
}

/// Tracks the latest user text and the tool results after it while walking a conversation.
#[derive(Default)]
struct Walk {
    user_text: String,
    results: Vec<String>,
    /// Tool call id → tool name, for calls seen in the conversation.
    calls: BTreeMap<String, String>,
    /// Results of helper calls since the latest user text.
    helper_calls: usize,
    /// Deferred tools a `tool_reference` in a tool result has loaded.
    loaded: std::collections::BTreeSet<String>,
}

impl Walk {
    /// A user message: its last text block that is not context is the latest user text
    /// (a CLI may merge consecutive user turns, e.g. after a failed request, into one message).
    fn user(&mut self, texts: Vec<String>) {
        if let Some(text) = texts.into_iter().rev().find(|t| !is_context(t)) {
            self.user_text = text;
            self.results.clear();
            self.helper_calls = 0;
        }
    }

    fn result(&mut self, text: String) {
        self.results.push(text);
    }

    /// A result for call `id`; results of helper calls the server made on its own
    /// (loading deferred tools, waiting for MCP servers) are not steps of the script.
    fn result_for(&mut self, id: &str, text: String) {
        if self
            .calls
            .get(id)
            .is_some_and(|name| HELPER_TOOLS.contains(&name.as_str()))
        {
            self.helper_calls += 1;
        } else {
            self.results.push(text);
        }
    }
}

/// Claude Code's tool that loads deferred tools' schemas.
const SEARCH_TOOL: &str = "ToolSearch";
/// Claude Code's tool that waits for MCP servers still connecting.
const WAIT_TOOL: &str = "WaitForMcpServers";
/// Tools the scripted model calls on its own when a scripted tool is not offered yet.
const HELPER_TOOLS: &[&str] = &[SEARCH_TOOL, WAIT_TOOL];

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| text_of(i))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_anthropic(body: &Value) -> Parsed {
    let mut walk = Walk::default();
    // The system prompt, system messages and context blocks: where deferred tools are named.
    let mut context: Vec<String> = match &body["system"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    for m in body["messages"].as_array().into_iter().flatten() {
        let texts = match &m["content"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
            _ => Vec::new(),
        };
        context.extend(
            texts
                .into_iter()
                .filter(|t| m["role"] == "system" || (m["role"] == "user" && is_context(t)))
                .map(str::to_string),
        );
        if m["role"] == "assistant" {
            for b in m["content"].as_array().into_iter().flatten() {
                if let (Some(id), Some(name)) = (b["id"].as_str(), b["name"].as_str()) {
                    walk.calls.insert(id.to_string(), name.to_string());
                }
            }
            continue;
        }
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => walk.user(vec![s.clone()]),
            Value::Array(blocks) => {
                let mut texts = Vec::new();
                let mut had_result = false;
                for b in blocks {
                    match b["type"].as_str() {
                        Some("tool_result") => {
                            had_result = true;
                            for r in b["content"].as_array().into_iter().flatten() {
                                if r["type"] == "tool_reference"
                                    && let Some(name) = r["tool_name"].as_str()
                                {
                                    walk.loaded.insert(name.to_string());
                                }
                            }
                            let id = b["tool_use_id"].as_str().unwrap_or("");
                            walk.result_for(id, text_of(&b["content"]));
                        }
                        Some("text") => texts.push(b["text"].as_str().unwrap_or("").to_string()),
                        _ => {}
                    }
                }
                if !had_result {
                    walk.user(texts);
                }
            }
            _ => {}
        }
    }
    // A deferred tool (`defer_loading`) is callable once a `tool_reference` to it came back
    // in a tool result (what ToolSearch returns), as the Messages API has it.
    let offered = body["tools"].as_array().cloned().unwrap_or_default();
    let tools = offered
        .iter()
        .filter(|t| {
            t["defer_loading"] != true
                || t["name"].as_str().is_some_and(|n| walk.loaded.contains(n))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    let tool_search = offered
        .iter()
        .find(|t| t["name"] == SEARCH_TOOL)
        .map(|t| t["input_schema"].clone());
    let format = &body["output_config"]["format"];
    let schema = (format["type"] == "json_schema")
        .then(|| format["schema"].clone())
        .filter(|s| !s.is_null());
    Parsed {
        api: Api::Anthropic,
        stream: body["stream"].as_bool().unwrap_or(false),
        user_text: walk.user_text,
        tool_results: walk.results,
        tools,
        json_mode: schema.is_some(),
        schema,
        tool_search,
        context: context.join("\n"),
        helper_calls: walk.helper_calls,
    }
}

fn parse_responses(body: &Value) -> Parsed {
    let mut walk = Walk::default();
    match &body["input"] {
        Value::String(s) => walk.user(vec![s.clone()]),
        Value::Array(items) => {
            for item in items {
                let ty = item["type"].as_str().unwrap_or("message");
                if ty == "message" && item["role"] == "user" {
                    let texts = match &item["content"] {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(parts) => parts
                            .iter()
                            .filter_map(|p| p["text"].as_str().map(str::to_string))
                            .collect(),
                        _ => Vec::new(),
                    };
                    walk.user(texts);
                } else if ty.ends_with("_output") {
                    walk.result(text_of(&item["output"]));
                }
            }
        }
        _ => {}
    }
    let mut tools = Vec::new();
    for t in body["tools"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or("");
        if let Some(inner) = t["tools"].as_array() {
            for i in inner {
                if let Some(n) = i["name"].as_str() {
                    tools.push(format!("{name}/{n}"));
                }
            }
        } else if !name.is_empty() {
            tools.push(name.to_string());
        } else if let Some(ty) = t["type"].as_str() {
            tools.push(ty.to_string());
        }
    }
    let format = &body["text"]["format"];
    let schema = (format["type"] == "json_schema")
        .then(|| format["schema"].clone())
        .filter(|s| !s.is_null());
    Parsed {
        api: Api::Responses,
        stream: true,
        user_text: walk.user_text,
        tool_results: walk.results,
        tools,
        json_mode: schema.is_some(),
        schema,
        tool_search: None,
        context: String::new(),
        helper_calls: 0,
    }
}

fn parse_gemini(body: &Value, stream: bool) -> Parsed {
    let mut walk = Walk::default();
    for c in body["contents"].as_array().into_iter().flatten() {
        if c["role"] == "model" {
            continue;
        }
        let mut texts = Vec::new();
        let mut had_result = false;
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(r) = p.get("functionResponse") {
                had_result = true;
                walk.result(text_of(&r["response"]));
            } else if let Some(t) = p["text"].as_str() {
                texts.push(t.to_string());
            }
        }
        if !had_result {
            walk.user(texts);
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect();
    let config = &body["generationConfig"];
    let schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"))
        .cloned();
    Parsed {
        api: Api::Gemini,
        stream,
        user_text: walk.user_text,
        tool_results: walk.results,
        tools,
        json_mode: config["responseMimeType"] == "application/json",
        schema,
        tool_search: None,
        context: String::new(),
        helper_calls: 0,
    }
}

fn parse_chat(body: &Value) -> Parsed {
    let mut walk = Walk::default();
    for m in body["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str() {
            Some("user") => walk.user(match &m["content"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }),
            Some("tool") => walk.result(text_of(&m["content"])),
            _ => {}
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect();
    let format = &body["response_format"];
    let schema = (format["type"] == "json_schema")
        .then(|| format["json_schema"]["schema"].clone())
        .filter(|s| !s.is_null());
    Parsed {
        api: Api::Chat,
        stream: body["stream"].as_bool().unwrap_or(false),
        user_text: walk.user_text,
        tool_results: walk.results,
        tools,
        json_mode: schema.is_some() || format["type"] == "json_object",
        schema,
        tool_search: None,
        context: String::new(),
        helper_calls: 0,
    }
}

// ---------------------------------------------------------------------------------------
// Writing answers
// ---------------------------------------------------------------------------------------

type Call = Option<((String, Option<String>), Value)>;

fn anthropic_answer(
    out: &mut TcpStream,
    stream: bool,
    pieces: &[String],
    call: Call,
    pace: Duration,
) -> std::io::Result<()> {
    let id = next_id("msg");
    let usage = json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let stop = if call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    if !stream {
        let content = match &call {
            Some(((name, _), args)) => {
                json!([{"type": "tool_use", "id": next_id("toolu"), "name": name, "input": args}])
            }
            None => json!([{"type": "text", "text": pieces.concat()}]),
        };
        return respond_json(
            out,
            200,
            &json!({"id": id, "type": "message", "role": "assistant", "model": "mock",
                    "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage}),
        );
    }
    let mut sse = Sse::open(out)?;
    sse.event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
                "model": "mock", "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}),
    )?;
    match &call {
        Some(((name, _), args)) => {
            sse.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "tool_use", "id": next_id("toolu"), "name": name, "input": {}}}),
            )?;
            sse.event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": args.to_string()}}),
            )?;
        }
        None => {
            sse.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            )?;
            for p in pieces {
                pause(pace);
                sse.event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
                )?;
            }
        }
    }
    sse.event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    )?;
    sse.event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
    )?;
    sse.event("message_stop", &json!({"type": "message_stop"}))?;
    sse.close()
}

fn responses_answer(
    out: &mut TcpStream,
    pieces: &[String],
    call: Call,
    pace: Duration,
) -> std::io::Result<()> {
    let id = next_id("resp");
    let mut sse = Sse::open(out)?;
    sse.event(
        "response.created",
        &json!({"type": "response.created", "response": {"id": id}}),
    )?;
    let item = match &call {
        Some(((name, namespace), args)) => {
            let mut item = json!({"type": "function_call", "id": next_id("fc"), "call_id": next_id("call"),
                                  "name": name, "arguments": args.to_string(), "status": "completed"});
            if let Some(ns) = namespace {
                item["namespace"] = json!(ns);
            }
            item
        }
        None => {
            let item_id = next_id("msg");
            sse.event(
                "response.output_item.added",
                &json!({"type": "response.output_item.added", "output_index": 0,
                        "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}),
            )?;
            for p in pieces {
                pause(pace);
                sse.event(
                    "response.output_text.delta",
                    &json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
                            "content_index": 0, "delta": p}),
                )?;
            }
            json!({"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": pieces.concat(), "annotations": []}]})
        }
    };
    sse.event(
        "response.output_item.done",
        &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    )?;
    sse.event(
        "response.completed",
        &json!({"type": "response.completed", "response": {"id": id, "status": "completed",
                "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": 15}}}),
    )?;
    sse.close()
}

fn gemini_answer(
    out: &mut TcpStream,
    stream: bool,
    pieces: &[String],
    call: Call,
    pace: Duration,
) -> std::io::Result<()> {
    let usage = json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15});
    let chunk = |parts: Value, last: bool| {
        let mut cand = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if last {
            cand["finishReason"] = json!("STOP");
        }
        json!({"candidates": [cand], "usageMetadata": usage, "modelVersion": "mock"})
    };
    let call_part = call
        .as_ref()
        .map(|((name, _), args)| json!([{"functionCall": {"name": name, "args": args}}]));
    if !stream {
        let parts = call_part.unwrap_or_else(|| json!([{"text": pieces.concat()}]));
        return respond_json(out, 200, &chunk(parts, true));
    }
    let mut sse = Sse::open(out)?;
    match call_part {
        Some(parts) => sse.data(&chunk(parts, true))?,
        None => {
            let n = pieces.len();
            for (i, p) in pieces.iter().enumerate() {
                pause(pace);
                sse.data(&chunk(json!([{"text": p}]), i + 1 == n))?;
            }
            if n == 0 {
                sse.data(&chunk(json!([{"text": ""}]), true))?;
            }
        }
    }
    sse.close()
}

fn chat_answer(
    out: &mut TcpStream,
    stream: bool,
    pieces: &[String],
    call: Call,
    pace: Duration,
) -> std::io::Result<()> {
    let id = next_id("chatcmpl");
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
    let tool_call = call.as_ref().map(|((name, _), args)| {
        json!({"id": next_id("call"), "type": "function", "function": {"name": name, "arguments": args.to_string()}})
    });
    let finish = if call.is_some() { "tool_calls" } else { "stop" };
    if !stream {
        let message = match &tool_call {
            Some(tc) => json!({"role": "assistant", "content": null, "tool_calls": [tc]}),
            None => json!({"role": "assistant", "content": pieces.concat()}),
        };
        return respond_json(
            out,
            200,
            &json!({"id": id, "object": "chat.completion", "created": 1, "model": "mock",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}),
        );
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1, "model": "mock",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut sse = Sse::open(out)?;
    sse.data(&chunk(json!({"role": "assistant", "content": ""}), None))?;
    match tool_call {
        Some(mut tc) => {
            tc["index"] = json!(0);
            sse.data(&chunk(json!({"tool_calls": [tc]}), None))?;
        }
        None => {
            for p in pieces {
                pause(pace);
                sse.data(&chunk(json!({"content": p}), None))?;
            }
        }
    }
    let mut last = chunk(json!({}), Some(finish));
    last["usage"] = usage;
    sse.data(&last)?;
    sse.raw("data: [DONE]\n\n")?;
    sse.close()
}

// ---------------------------------------------------------------------------------------
// A proxy that refuses everything
// ---------------------------------------------------------------------------------------

/// A loopback "proxy" that answers every request (CONNECT included) with 403 and records the
/// target, so a CLI's attempts to reach outside hosts fail fast and visibly.
pub struct RefusingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl RefusingProxy {
    /// Starts the proxy on a free loopback port.
    pub fn start() -> RefusingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut line = String::new();
                    if let Ok(clone) = stream.try_clone() {
                        let _ = BufReader::new(clone).read_line(&mut line);
                    }
                    s.lock().unwrap().push(line.trim().to_string());
                    let _ = stream.write_all(
                        b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                });
            }
        });
        RefusingProxy { addr, seen, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request lines received so far (`CONNECT host:443 HTTP/1.1`, ...).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}
