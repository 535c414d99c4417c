//! `cao mcp-server` driven by a real MCP client over stdio: the tool list and schemas,
//! handoff (answer, progress, cancellation, timeout, stuck workers), assign, send_message,
//! and errors as `isError` results.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientRequest, JsonObject, ProgressNotificationParam, Request,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::util::{Cao, call_tool as call, result_text as text, wait_for};

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

type Client = RunningService<RoleClient, Recorder>;

async fn connect(cao: &Cao, env: &[(&str, &str)]) -> (Client, Recorder) {
    let transport = TokioChildProcess::new(cao.mcp_server(env)).expect("cao mcp-server starts");
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.expect("initialize");
    (client, recorder)
}

fn args(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_have_schemas_annotations_and_instructions() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[]).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "cao");
    assert!(info.instructions.as_deref().unwrap().contains("handoff"));
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "answer_user_prompt",
            "assign",
            "close_terminal",
            "get_terminal_output",
            "handoff",
            "list_profiles",
            "list_terminals",
            "send_message",
            "wait_for_messages",
        ]
    );
    let tool = |n: &str| tools.iter().find(|t| t.name == n).unwrap().clone();
    for t in &tools {
        assert!(t.output_schema.is_some(), "{} has no output schema", t.name);
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 40),
            "{}",
            t.name
        );
    }
    let handoff = serde_json::to_value(&*tool("handoff").input_schema).unwrap();
    let props = &handoff["properties"];
    assert_eq!(props["timeout"]["minimum"], 1);
    assert_eq!(props["timeout"]["maximum"], 3600);
    assert_eq!(props["timeout"]["default"], 600);
    assert!(props.get("working_directory").is_none());
    let required: Vec<&str> = handoff["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["agent_profile", "message"]);
    let send = serde_json::to_value(&*tool("send_message").input_schema).unwrap();
    assert!(send["properties"]["receiver_id"].is_object());
    let out =
        serde_json::to_value(&**tool("send_message").output_schema.as_ref().unwrap()).unwrap();
    for key in [
        "success",
        "message_id",
        "sender_id",
        "receiver_id",
        "created_at",
    ] {
        assert!(out["properties"][key].is_object(), "{key}");
    }
    let ann = |n: &str| tool(n).annotations.unwrap();
    assert_eq!(ann("list_terminals").read_only_hint, Some(true));
    assert_eq!(ann("close_terminal").destructive_hint, Some(true));
    assert_eq!(ann("handoff").read_only_hint, Some(false));
    client.cancel().await.unwrap();

    // The working_directory parameter appears only when enabled.
    let (client, _) = connect(&cao, &[("CAO_ENABLE_WORKING_DIRECTORY", "true")]).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in ["handoff", "assign"] {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        let schema = serde_json::to_value(&*t.input_schema).unwrap();
        assert!(
            schema["properties"]["working_directory"].is_object(),
            "{name}"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn handoff_returns_the_answer_reports_progress_and_closes_the_worker() {
    let cao = Cao::new();
    let (client, recorder) = connect(&cao, &[]).await;
    let result = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "write the parser [[sleep 0.6]]"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let s = result.structured_content.unwrap();
    assert_eq!(s["success"], true);
    assert_eq!(s["output"], "fake answer: write the parser [[sleep 0.6]]");
    let id = s["terminal_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 8);
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(
        progress.iter().any(|p| p
            .message
            .as_deref()
            .is_some_and(|m| m.contains("processing"))),
        "{progress:?}"
    );
    // The worker's window is gone.
    assert!(cao.list().is_empty());
    let err = cao.fails(&["status", &id]);
    assert!(err.contains("no terminal"), "{err}");
    client.cancel().await.unwrap();
}

/// A worker that starts with dialogs: the handoff's wait loop and the worker's watcher both see
/// them, and each is still answered once (a second answer to the first dialog quits the fake
/// agent at the second).
#[tokio::test(flavor = "multi_thread")]
async fn handoff_to_a_worker_with_start_up_dialogs() {
    let cao = Cao::new().with_env("CAO_FAKE_DIALOGS", "1");
    let (client, _) = connect(&cao, &[]).await;
    for n in 0..3 {
        let result = call(
            &client,
            "handoff",
            json!({"agent_profile": "developer", "message": format!("task {n} behind dialogs")}),
        )
        .await;
        assert_eq!(result.is_error, Some(false), "{}", text(&result));
        let s = result.structured_content.unwrap();
        assert_eq!(s["output"], format!("fake answer: task {n} behind dialogs"));
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_handoff_closes_the_worker() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[]).await;
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("handoff").with_arguments(args(
                    json!({"agent_profile": "developer", "message": "long job [[sleep 60]]"}),
                )),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    wait_for("the worker to be busy", Duration::from_secs(10), || {
        cao.list().iter().any(|t| t["status"] == "processing")
    });
    handle
        .cancel(Some("user changed their mind".into()))
        .await
        .unwrap();
    wait_for("the worker to be closed", Duration::from_secs(10), || {
        cao.list().is_empty()
    });
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn handoff_timeout_leaves_the_worker_running() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[]).await;
    let started = Instant::now();
    let result = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "slow [[sleep 60]]", "timeout": 2}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(result.is_error, Some(true));
    let s = result.structured_content.unwrap();
    let id = s["terminal_id"].as_str().unwrap().to_string();
    let message = s["message"].as_str().unwrap();
    assert!(
        message.contains("timed out") && message.contains("still running"),
        "{message}"
    );
    let list = cao.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "processing");
    // The caller can close it.
    let closed = call(&client, "close_terminal", json!({"terminal_id": id})).await;
    assert_eq!(closed.is_error, Some(false), "{}", text(&closed));
    assert!(cao.list().is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_or_asking_worker_ends_the_handoff_early() {
    let cao = Cao::new();
    // No grace for a question: the handoff ends as soon as the worker asks.
    let (client, _) = connect(&cao, &[("CAO_ANSWER_GRACE", "0")]).await;
    let failed = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "break [[fail]]", "timeout": 60}),
    )
    .await;
    assert_eq!(failed.is_error, Some(true));
    assert!(
        text(&failed).contains("simulated failure"),
        "{}",
        text(&failed)
    );
    let asked = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "deploy [[ask]]", "timeout": 60}),
    )
    .await;
    assert_eq!(asked.is_error, Some(true));
    let t = text(&asked);
    assert!(
        t.contains("waiting_user_answer") && t.contains("Proceed"),
        "{t}"
    );
    client.cancel().await.unwrap();
}

/// The id of the one worker `list_terminals` shows in `status`.
async fn worker_in(client: &Client, status: &str) -> Value {
    let listed = call(client, "list_terminals", json!({})).await;
    let s = listed.structured_content.unwrap();
    s["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == status)
        .unwrap_or_else(|| panic!("no {status} terminal in {s}"))
        .clone()
}

const QUESTION: &str = "Proceed with the change? (y/n)";

/// Issue 13: a worker that asks is reported in the handoff's progress and in
/// list_terminals / `cao status` with its question; answer_user_prompt types the answer
/// and the handoff returns the worker's answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_worker_is_answered_and_its_handoff_returns_the_answer() {
    let cao = Cao::new();
    let (client, recorder) = connect(&cao, &[("CAO_ANSWER_GRACE", "120")]).await;
    let client = Arc::new(client);
    let handoff = {
        let client = client.clone();
        tokio::spawn(async move {
            call(
                &client,
                "handoff",
                json!({"agent_profile": "developer", "message": "deploy [[ask]]", "timeout": 120}),
            )
            .await
        })
    };
    let waiting = |recorder: &Recorder| {
        recorder.progress.lock().unwrap().iter().find_map(|p| {
            p.message
                .as_deref()
                .filter(|m| m.contains("is waiting for an answer: "))
                .map(str::to_string)
        })
    };
    wait_for(
        "a progress note of the question",
        Duration::from_secs(20),
        || waiting(&recorder).is_some(),
    );
    let worker = worker_in(&client, "waiting_user_answer").await;
    let id = worker["id"].as_str().unwrap().to_string();
    let note = waiting(&recorder).unwrap();
    assert!(
        note.starts_with(&format!(
            "worker {id} is waiting for an answer: {QUESTION} ("
        )),
        "{note}"
    );
    assert_eq!(worker["question"], QUESTION);
    assert_eq!(
        cao.ok(&["status", &id]),
        format!("waiting_user_answer\nquestion: {QUESTION}\n")
    );
    let status: Value = serde_json::from_str(&cao.ok(&["status", &id, "--json"])).unwrap();
    assert_eq!(status["question"], QUESTION);
    assert!(cao.ok(&["list"]).contains(&format!("asks: {QUESTION}")));

    let answered = call(
        &client,
        "answer_user_prompt",
        json!({"terminal_id": id, "answer": "y"}),
    )
    .await;
    assert_eq!(answered.is_error, Some(false), "{}", text(&answered));
    let a = answered.structured_content.unwrap();
    assert_eq!(a["success"], true);
    assert_eq!(a["question"], QUESTION);
    assert_eq!(a["answered"], "y");
    assert_ne!(a["status"], "waiting_user_answer");

    let result = handoff.await.unwrap();
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let s = result.structured_content.unwrap();
    assert_eq!(s["output"], "fake answer: you said y");
    assert_eq!(s["terminal_id"], id.as_str());
    assert!(cao.list().is_empty(), "the worker is closed");
}

/// Issue 13: answer_user_prompt and `cao answer` never type into a terminal that is not
/// asking: idle, working, or unknown.
#[tokio::test(flavor = "multi_thread")]
async fn answering_a_terminal_that_is_not_waiting_is_refused_and_types_nothing() {
    let cao = Cao::new();
    let log = cao.path("t.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let worker = cao.launch("developer");
    let (client, _) = connect(&cao, &[]).await;
    let refused = |r: &rmcp::model::CallToolResult, status: &str| {
        assert_eq!(r.is_error, Some(true), "{}", text(r));
        let t = text(r);
        assert!(
            t.contains(&format!("is {status}, not waiting for an answer"))
                && t.contains("nothing was typed"),
            "{t}"
        );
    };
    let r = call(
        &client,
        "answer_user_prompt",
        json!({"terminal_id": worker, "answer": "y"}),
    )
    .await;
    refused(&r, "idle");
    let err = cao.fails(&["answer", &worker, "y"]);
    assert!(err.contains("is idle, not waiting for an answer"), "{err}");

    cao.ok(&["send", &worker, "work hard [[sleep 30]]"]);
    wait_for("the worker to be busy", Duration::from_secs(10), || {
        cao.status(&worker) == "processing"
    });
    let r = call(
        &client,
        "answer_user_prompt",
        json!({"terminal_id": worker, "answer": "1"}),
    )
    .await;
    refused(&r, "processing");
    for (id, expect) in [
        ("0badbeef", "no terminal 0badbeef"),
        ("%1", "invalid terminal id"),
    ] {
        let r = call(
            &client,
            "answer_user_prompt",
            json!({"terminal_id": id, "answer": "y"}),
        )
        .await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains(expect), "{}", text(&r));
    }
    // Only the task was ever typed.
    assert_eq!(crate::util::transcript(&log), ["work hard [[sleep 30]]"]);
    assert!(!cao.screen(&worker).contains("[[sleep 30]]y"));
    client.cancel().await.unwrap();
}

/// Issue 13: a handoff whose worker waits past the grace fails with the question and
/// leaves the worker running; answered later (here with `cao answer`), its answer is read
/// with get_terminal_output.
#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_whose_worker_waits_past_the_grace_fails_with_the_question() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[("CAO_ANSWER_GRACE", "1")]).await;
    let started = Instant::now();
    let result = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "migrate [[ask]]", "timeout": 120}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(result.is_error, Some(true));
    let s = result.structured_content.unwrap();
    let id = s["terminal_id"].as_str().unwrap().to_string();
    let message = s["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("for an answer to: {QUESTION}"))
            && message.contains("still running")
            && message.contains("answer_user_prompt")
            && message.contains(&id),
        "{message}"
    );
    // The worker is still there, still asking.
    let worker = worker_in(&client, "waiting_user_answer").await;
    assert_eq!(worker["id"], id.as_str());
    assert_eq!(worker["question"], QUESTION);

    let out = cao.ok(&["answer", &id, "yes please"]);
    assert!(
        out.contains(&format!("answered yes please to: {QUESTION}")),
        "{out}"
    );
    wait_for("the worker to finish", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    let output = call(&client, "get_terminal_output", json!({"terminal_id": id})).await;
    assert_eq!(
        output.structured_content.unwrap()["output"],
        "fake answer: you said yes please"
    );
    let closed = call(&client, "close_terminal", json!({"terminal_id": id})).await;
    assert_eq!(closed.is_error, Some(false), "{}", text(&closed));
    client.cancel().await.unwrap();
}

/// Issue 13: handoff and assign take a provider and a model per call. A model goes on the
/// CLI's command line its own way (a stand-in `claude` records its argv); a CLI that takes
/// none is said so; an unknown or missing provider is an error naming the installed ones.
#[tokio::test(flavor = "multi_thread")]
async fn provider_and_model_are_chosen_per_call() {
    let cao = Cao::new();
    let argv_file = cao.path("claude-argv.txt");
    let stub = cao.path("claude");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexec sleep 60\n",
            argv_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cao = cao
        .with_env("CAO_CLAUDE_CODE_BIN", stub.to_str().unwrap())
        .with_env("CAO_CODEX_BIN", "/no/such/codex");
    let (client, _) = connect(&cao, &[]).await;

    // The profile names no provider: the call's wins, and its model is on the argv.
    let r = call(
        &client,
        "assign",
        json!({"agent_profile": "developer", "message": "x", "provider": "claude_code", "model": "opus-test-1"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.unwrap();
    let id = s["terminal_id"].as_str().unwrap().to_string();
    assert!(!s["message"].as_str().unwrap().contains("not applied"));
    wait_for("the CLI to start", Duration::from_secs(10), || {
        std::fs::read_to_string(&argv_file).is_ok_and(|a| a.contains("--model\nopus-test-1\n"))
    });
    let listed = cao.list();
    let row = listed.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(row["provider"], "claude_code");
    let closed = call(&client, "close_terminal", json!({"terminal_id": id})).await;
    assert_eq!(closed.is_error, Some(false), "{}", text(&closed));

    // The fake CLI takes no model: the result says so, and the work is done all the same.
    let r = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "hello", "provider": "fake", "model": "big-model"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.unwrap();
    assert_eq!(s["output"], "fake answer: hello");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("model 'big-model' was not applied: the fake CLI takes no model option"),
        "{s}"
    );

    for (a, expect) in [
        (
            json!({"provider": "nope"}),
            vec![
                "unknown provider 'nope'",
                "Installed here: claude_code",
                "fake; pass one of them as provider",
            ],
        ),
        (
            json!({"provider": "codex"}),
            vec![
                "CAO_CODEX_BIN is set to '/no/such/codex'",
                "Installed here: claude_code",
                "fake; pass one",
            ],
        ),
        (
            json!({"model": "--yolo"}),
            vec!["invalid model", "--yolo", "leave model out"],
        ),
    ] {
        for tool in ["assign", "handoff"] {
            let mut args = json!({"agent_profile": "developer", "message": "x"});
            args.as_object_mut()
                .unwrap()
                .extend(a.as_object().unwrap().clone());
            let r = call(&client, tool, args).await;
            assert_eq!(r.is_error, Some(true), "{tool} {a}");
            for e in &expect {
                assert!(text(&r).contains(e), "{tool} {a}: {}", text(&r));
            }
        }
    }
    assert!(cao.list().is_empty(), "nothing was started");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_calls_are_tool_errors_that_say_what_to_do() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[]).await;
    let cases = [
        (
            "assign",
            json!({"agent_profile": "nobody", "message": "x"}),
            "unknown agent profile",
        ),
        (
            "assign",
            json!({"agent_profile": "../etc", "message": "x"}),
            "invalid profile name",
        ),
        (
            "assign",
            json!({"agent_profile": "developer", "message": "  "}),
            "empty",
        ),
        (
            "assign",
            json!({"agent_profile": "developer", "message": "x", "working_directory": "/tmp"}),
            "CAO_ENABLE_WORKING_DIRECTORY",
        ),
        (
            "handoff",
            json!({"agent_profile": "developer", "message": "x", "timeout": 0}),
            "between 1 and 3600",
        ),
        (
            "handoff",
            json!({"agent_profile": "developer", "message": "x", "timeout": 4000}),
            "between 1 and 3600",
        ),
        (
            "send_message",
            json!({"receiver_id": "0badbeef", "message": "x"}),
            "no terminal 0badbeef",
        ),
        (
            "send_message",
            json!({"receiver_id": "../../x", "message": "x"}),
            "invalid terminal id",
        ),
        (
            "get_terminal_output",
            json!({"terminal_id": "%1"}),
            "invalid terminal id",
        ),
        (
            "close_terminal",
            json!({"terminal_id": "ABCDEF12"}),
            "invalid terminal id",
        ),
        (
            "send_message",
            json!({"receiver_id": 5}),
            "expected a string",
        ),
    ];
    for (tool, a, expect) in cases {
        let r = call(&client, tool, a.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {a}");
        assert!(text(&r).contains(expect), "{tool} {a}: {}", text(&r));
    }
    // The server still serves, and nothing was created.
    assert!(client.list_all_tools().await.is_ok());
    assert!(cao.list().is_empty());
    client.cancel().await.unwrap();

    // A bad working directory is refused by assign itself when the parameter is enabled.
    let (client, _) = connect(&cao, &[("CAO_ENABLE_WORKING_DIRECTORY", "true")]).await;
    for (dir, expect) in [("/etc", "system directory"), ("/no/such", "does not exist")] {
        let r = call(
            &client,
            "assign",
            json!({"agent_profile": "developer", "message": "x", "working_directory": dir}),
        )
        .await;
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains(expect), "{}", text(&r));
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_run_concurrently() {
    let cao = Cao::new();
    let (client, _) = connect(&cao, &[]).await;
    let client = Arc::new(client);
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..3 {
        let c = client.clone();
        calls.push(tokio::spawn(async move {
            call(
                &c,
                "handoff",
                json!({"agent_profile": "developer", "message": format!("job {i} [[sleep 3]]")}),
            )
            .await
        }));
    }
    // tools/list answers while the handoffs run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list_started = Instant::now();
    client.list_all_tools().await.unwrap();
    assert!(list_started.elapsed() < Duration::from_secs(1));
    for (i, c) in calls.into_iter().enumerate() {
        let r = c.await.unwrap();
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        assert_eq!(
            r.structured_content.unwrap()["output"],
            format!("fake answer: job {i} [[sleep 3]]")
        );
    }
    // Three 3-second jobs one after another would take at least 9 s.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn assign_returns_at_once_and_the_task_is_typed_when_ready() {
    let cao = Cao::new().with_env("CAO_FAKE_STARTUP_MS", "800");
    let (client, _) = connect(&cao, &[]).await;
    let r = call(
        &client,
        "assign",
        json!({"agent_profile": "reviewer", "message": "review it"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let id = r.structured_content.unwrap()["terminal_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the task to be answered", Duration::from_secs(10), || {
        cao.status(&id) == "completed"
    });
    assert_eq!(
        cao.ok(&["output", &id]).trim_end(),
        "fake answer: review it"
    );
    let listed = call(&client, "list_terminals", json!({})).await;
    let s = listed.structured_content.unwrap();
    // A caller outside tmux is listed first, as its own mailbox, then its worker.
    assert_eq!(s["terminals"][0]["id"], s["caller_id"]);
    assert_eq!(s["terminals"][0]["kind"], "mailbox");
    assert_eq!(s["terminals"][1]["id"], id.as_str());
    assert_eq!(s["terminals"][1]["profile"], "reviewer");
    let out = call(&client, "get_terminal_output", json!({"terminal_id": id})).await;
    assert_eq!(
        out.structured_content.unwrap()["output"],
        "fake answer: review it"
    );
    let profiles = call(&client, "list_profiles", json!({})).await;
    let names: Vec<String> = profiles.structured_content.unwrap()["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"code_supervisor".to_string()));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_dies_at_start_up_is_reported_to_its_creator() {
    let cao = Cao::new();
    let log = cao.path("t.jsonl");
    let scenario = json!({"rules": [{"match": "^spawn", "calls": [
        {"tool": "assign", "args": {"agent_profile": "developer", "message": "doomed task"}}
    ]}]});
    let cao = cao
        .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap())
        .with_env("CAO_FAKE_SCENARIO", &scenario.to_string());
    let sup = cao.launch("code_supervisor");
    // Workers of this supervisor get a broken agent binary: their CLI exits at once.
    let broken = cao.path("broken-agent");
    std::fs::write(&broken, "#!/bin/sh\nsleep 0.3\nexit 1\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (client, _) = connect(
        &cao,
        &[
            ("CAO_TERMINAL_ID", &sup),
            ("CAO_FAKE_AGENT", broken.to_str().unwrap()),
        ],
    )
    .await;
    let r = call(
        &client,
        "assign",
        json!({"agent_profile": "developer", "message": "doomed task"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let worker = r.structured_content.unwrap()["terminal_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(
        "the supervisor to hear of it",
        Duration::from_secs(10),
        || {
            crate::util::transcript(&log).iter().any(|i| {
                i.contains(&worker)
                    && i.contains("exited during start-up")
                    && i.contains("doomed task")
            })
        },
    );
    assert!(cao.list().iter().all(|t| t["id"] != worker.as_str()));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_identity_comes_from_the_env_or_the_tmux_pane() {
    let cao = Cao::new();
    let sup = cao.launch("code_supervisor");
    let pane = String::from_utf8_lossy(&cao.tmux(&["list-panes", "-a", "-F", "#{pane_id}"]).stdout)
        .trim()
        .to_string();
    // No CAO_TERMINAL_ID, but running in the supervisor's pane.
    let (client, _) = connect(&cao, &[("TMUX_PANE", &pane)]).await;
    let listed = call(&client, "list_terminals", json!({})).await;
    assert_eq!(
        listed.structured_content.unwrap()["caller_id"],
        sup.as_str()
    );
    client.cancel().await.unwrap();
    // By CAO_TERMINAL_ID: messages are sent as that terminal.
    let (client, _) = connect(&cao, &[("CAO_TERMINAL_ID", &sup)]).await;
    let worker = cao.launch("developer");
    let sent = call(
        &client,
        "send_message",
        json!({"receiver_id": worker, "message": "hi"}),
    )
    .await;
    assert_eq!(sent.structured_content.unwrap()["sender_id"], sup.as_str());
    client.cancel().await.unwrap();
    // Outside any cao terminal (#17): sent as the caller's own mailbox id, stable for the
    // server's life, so a reply can come back.
    let (client, _) = connect(&cao, &[]).await;
    let sent = call(
        &client,
        "send_message",
        json!({"receiver_id": worker, "message": "hi"}),
    )
    .await;
    let s = sent.structured_content.unwrap();
    let listed = call(&client, "list_terminals", json!({})).await;
    let me = listed.structured_content.unwrap()["caller_id"].clone();
    assert_eq!(s["sender_id"], me);
    assert_ne!(me, json!("user"));
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_gets_only_the_cao_tools_its_profile_allows() {
    let cao = Cao::new();
    let supervisor = cao.launch("code_supervisor");
    let worker = cao.launch("developer");
    // The supervisor keeps every tool.
    let (client, _) = connect(&cao, &[("CAO_TERMINAL_ID", &supervisor)]).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 9);
    client.cancel().await.unwrap();
    // The built-in developer may report and read, not hand out work or close terminals.
    let (client, _) = connect(&cao, &[("CAO_TERMINAL_ID", &worker)]).await;
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "get_terminal_output",
            "list_profiles",
            "list_terminals",
            "send_message"
        ]
    );
    for (tool, a) in [
        (
            "handoff",
            json!({"agent_profile": "developer", "message": "go"}),
        ),
        ("close_terminal", json!({"terminal_id": supervisor})),
    ] {
        let refused = call(&client, tool, a).await;
        assert_eq!(refused.is_error, Some(true), "{tool}");
        assert!(
            text(&refused).contains("caoTools allows only"),
            "{}",
            text(&refused)
        );
    }
    // Nothing was started and the supervisor is still there.
    assert_eq!(cao.list().len(), 2);
    let sent = call(
        &client,
        "send_message",
        json!({"receiver_id": supervisor, "message": "done"}),
    )
    .await;
    assert_ne!(sent.is_error, Some(true), "{}", text(&sent));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_of_a_handoff_holds_neither_the_task_nor_a_secret() {
    const TASK: &str = "refactor the zanzibar-quokka module";
    const KEY: &str = "sk-ant-test-7f3c9a1e5b";
    for level in ["", "cao=debug"] {
        // `""`: the default log level, as a user runs it.
        let cao = Cao::new()
            .with_env("CAO_LOG", level)
            .with_env("ANTHROPIC_API_KEY", KEY);
        let (client, _) = connect(&cao, &[]).await;
        let result = call(
            &client,
            "handoff",
            json!({"agent_profile": "developer", "message": TASK}),
        )
        .await;
        assert_eq!(result.is_error, Some(false), "{}", text(&result));
        // The worker got the key (it needs it) and the task; the log got neither.
        assert!(text(&result).contains(TASK), "{}", text(&result));
        client.cancel().await.unwrap();
        let logs = cao.home.path().join("logs");
        let mut all = String::new();
        for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        if level.is_empty() {
            assert!(!all.contains("DEBUG") && !all.contains("INFO"), "{all}");
        } else {
            // At least the handoff's own steps ("terminal created" and on).
            assert!(
                all.contains("INFO"),
                "the debug run logged nothing: {logs:?}"
            );
        }
        assert!(
            !all.contains("zanzibar-quokka"),
            "the task is in the log ({level}):\n{all}"
        );
        assert!(
            !all.contains(KEY),
            "the key is in the log ({level}):\n{all}"
        );
    }
}
