//! Answers and turn ends from the CLI's own session record (issue #11), with the fake agent,
//! which keeps a record the way real CLIs do (`tools/fake-agent/src/session.rs`): exact long
//! markdown through handoff, `cao output` and `get_terminal_output`; token usage; and an honest
//! fall-back to the screen when the record is corrupt, huge or swapped for a symlink.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{Cao, markdown_answer, wait_for};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn connect(cao: &Cao) -> Client {
    let transport = TokioChildProcess::new(cao.mcp_server(&[])).expect("cao mcp-server starts");
    ().serve(transport).await.expect("initialize")
}

async fn call(client: &Client, tool: &str, args: Value) -> Value {
    let result = client
        .call_tool(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .expect("the call gets an answer");
    assert_eq!(result.is_error, Some(false), "{:?}", result.content);
    result.structured_content.unwrap()
}

/// `cao send ID -` with `text` on stdin.
fn send(cao: &Cao, id: &str, text: &str) {
    let mut child = cao
        .cmd()
        .args(["send", id, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn record_file(cao: &Cao, id: &str) -> std::path::PathBuf {
    cao.home
        .path()
        .join("run")
        .join(id)
        .join("fake-session.jsonl")
}

#[tokio::test(flavor = "multi_thread")]
async fn handoff_returns_a_long_markdown_answer_byte_for_byte_with_usage() {
    let cao = Cao::new();
    let client = connect(&cao).await;
    let task = markdown_answer();
    let s = call(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": task}),
    )
    .await;
    assert_eq!(s["success"], true);
    assert_eq!(s["answer_source"], "record", "{s}");
    let output = s["output"].as_str().unwrap();
    assert_eq!(output, format!("fake answer: {task}"));
    assert!(output.lines().count() > 100);
    assert!(s["usage"]["output_tokens"].as_u64().unwrap() > 100, "{s}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn output_status_and_list_read_the_record() {
    let cao = Cao::new();
    let id = cao.launch("developer");
    let task = markdown_answer();
    send(&cao, &id, &task);
    wait_for("the answer", Duration::from_secs(20), || {
        cao.status(&id) == "completed"
    });
    assert_eq!(
        cao.ok(&["output", &id]).trim_end_matches('\n'),
        format!("fake answer: {task}")
    );
    let view: Value = serde_json::from_str(&cao.ok(&["status", &id, "--json"])).unwrap();
    assert!(
        view["usage"]["input_tokens"].as_u64().unwrap() > 0,
        "{view}"
    );
    let table = cao.ok(&["list"]);
    assert!(table.contains("TOKENS IN/OUT"), "{table}");

    let client = connect(&cao).await;
    let s = call(&client, "get_terminal_output", json!({"terminal_id": id})).await;
    assert_eq!(s["answer_source"], "record");
    assert_eq!(s["output"], format!("fake answer: {task}"));
    let full = call(
        &client,
        "get_terminal_output",
        json!({"terminal_id": id, "mode": "full"}),
    )
    .await;
    assert_eq!(full["answer_source"], Value::Null);
    client.cancel().await.unwrap();
}

/// A record that cannot be trusted is never followed: cao answers from the screen, says so in
/// `answer_source`, and neither crashes nor reads what the record points at.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_huge_or_symlinked_record_falls_back_to_the_screen() {
    let cao = Cao::new();
    let id = cao.launch("developer");
    send(&cao, &id, "short question");
    wait_for("the answer", Duration::from_secs(20), || {
        cao.status(&id) == "completed"
    });
    let client = connect(&cao).await;
    let record = record_file(&cao, &id);
    let secret = cao.work.path().join("secret.jsonl");
    std::fs::write(
        &secret,
        "{\"type\":\"user\",\"text\":\"x\"}\n{\"type\":\"assistant\",\"text\":\"SECRET\"}\n{\"type\":\"turn_end\",\"outcome\":\"answered\"}\n",
    )
    .unwrap();

    type Spoil = fn(&std::path::Path, &std::path::Path);
    let cases: [(&str, Spoil); 4] = [
        ("corrupt", |r, _| {
            std::fs::write(r, "{\"type\":\"user\"}\nnot json at all\n").unwrap()
        }),
        ("cut mid-line", |r, _| {
            std::fs::write(r, "{\"type\":\"user\",\"te").unwrap()
        }),
        ("100 MB", |r, _| {
            std::fs::File::create(r)
                .unwrap()
                .set_len(100 * 1024 * 1024)
                .unwrap()
        }),
        ("a symlink to another file", |r, secret| {
            std::fs::remove_file(r).unwrap();
            std::os::unix::fs::symlink(secret, r).unwrap();
        }),
    ];
    for (what, spoil) in cases {
        let _ = std::fs::remove_file(&record);
        std::fs::write(&record, "").unwrap();
        spoil(&record, &secret);
        let started = std::time::Instant::now();
        let s = call(&client, "get_terminal_output", json!({"terminal_id": id})).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: too slow"
        );
        assert_eq!(s["answer_source"], "screen", "{what}: {s}");
        assert_eq!(s["output"], "fake answer: short question", "{what}: {s}");
        assert_eq!(cao.status(&id), "completed", "{what}");
    }
    let log = std::fs::read_to_string(cao.home.path().join("logs/cao.log")).unwrap();
    assert!(
        log.contains("answer read from the screen"),
        "the log says why"
    );
    client.cancel().await.unwrap();
}

/// A CLI that writes a prompt to its record only after it has sent it (Claude Code, by
/// 100-230 ms; the drift check found it): the turn cao typed runs from the moment it is typed,
/// never "completed" with the previous turn's answer in between.
#[test]
fn a_typed_turn_runs_before_the_record_shows_it() {
    let cao = Cao::new().with_env("CAO_FAKE_RECORD_LAG_MS", "700");
    let id = cao.launch("developer");
    send(&cao, &id, "first [[sleep 1]]");
    wait_for("the first answer", Duration::from_secs(20), || {
        cao.status(&id) == "completed"
    });
    send(&cao, &id, "second [[sleep 2]]");
    // The record still shows the first turn ended; the status must not say so.
    let seen: Vec<String> = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            cao.status(&id)
        })
        .collect();
    assert!(
        seen.iter().all(|s| s == "processing"),
        "statuses while the second turn starts: {seen:?}"
    );
    wait_for("the second answer", Duration::from_secs(20), || {
        cao.status(&id) == "completed"
    });
    assert_eq!(
        cao.ok(&["output", &id]).trim_end_matches('\n'),
        "fake answer: second [[sleep 2]]"
    );
}
