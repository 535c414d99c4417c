//! Supervisors that cao did not start (issue #17): the user runs their agent and registers
//! `cao mcp-server` in it. Inside tmux the pane is adopted, and workers' replies are typed
//! into it when it is idle with an empty input box; outside tmux the caller gets a mailbox
//! and collects replies with `wait_for_messages`, each exactly once.

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::util::{Cao, cao_bin, transcript, wait_for};

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A fake worker that reports back to whoever its task names.
const REPORTING_WORKER: &str = r#"{"match": "^task (\\w+) for ([0-9a-f]{8})", "calls": [{"tool": "send_message", "args": {"receiver_id": "{{2}}", "message": "result {{1}}"}}]}"#;

async fn connect(cao: &Cao) -> Client {
    let transport = TokioChildProcess::new(cao.mcp_server(&[])).expect("cao mcp-server starts");
    ().serve(transport).await.expect("initialize")
}

async fn call(client: &Client, tool: &str, args: Value) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .expect("the call gets an answer")
}

async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args).await;
    assert_eq!(result.is_error, Some(false), "{:?}", result.content);
    result.structured_content.unwrap()
}

fn scenario(rules: &[&str]) -> String {
    format!(r#"{{"rules": [{}]}}"#, rules.join(","))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_outside_tmux_collects_its_workers_replies_exactly_once() {
    let cao = Cao::new().with_env("CAO_FAKE_SCENARIO", &scenario(&[REPORTING_WORKER]));
    let client = connect(&cao).await;
    let other = connect(&cao).await;
    let me = ok(&client, "list_terminals", json!({})).await["caller_id"]
        .as_str()
        .unwrap()
        .to_string();
    let them = ok(&other, "list_terminals", json!({})).await["caller_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(me, them, "two supervisors, two ids");

    let mut workers = Vec::new();
    for task in ["alpha", "beta"] {
        let r = ok(
            &client,
            "assign",
            json!({"agent_profile": "developer", "message": format!("task {task} for {me}")}),
        )
        .await;
        assert_eq!(r["caller_id"], me.as_str());
        assert!(r["message"].as_str().unwrap().contains(&me));
        workers.push(r["terminal_id"].as_str().unwrap().to_string());
    }
    // The other supervisor's worker reports to it, not to us.
    ok(
        &other,
        "assign",
        json!({"agent_profile": "developer", "message": format!("task gamma for {them}")}),
    )
    .await;

    let mut got: Vec<(String, String)> = Vec::new();
    while got.len() < 2 {
        let r = ok(&client, "wait_for_messages", json!({"timeout": 30})).await;
        assert_eq!(r["timed_out"], false, "{r}");
        for m in r["messages"].as_array().unwrap() {
            got.push((
                m["sender_id"].as_str().unwrap().to_string(),
                m["message"].as_str().unwrap().to_string(),
            ));
        }
    }
    got.sort();
    let mut want = vec![
        (workers[0].clone(), "result alpha".to_string()),
        (workers[1].clone(), "result beta".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
    // Handed out once: nothing more comes.
    let again = ok(&client, "wait_for_messages", json!({"timeout": 1})).await;
    assert_eq!(again["timed_out"], true);
    assert!(again["messages"].as_array().unwrap().is_empty());
    // The other supervisor's reply waited for it, and other calls said so.
    wait_for("gamma's reply", Duration::from_secs(30), || {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let r = call(&other, "list_profiles", json!({})).await;
                serde_json::to_string(&r.content)
                    .unwrap()
                    .contains("1 message(s) wait for you")
            })
        })
    });
    let theirs = ok(&other, "wait_for_messages", json!({"timeout": 5})).await;
    assert_eq!(theirs["messages"][0]["message"], "result gamma");
    client.cancel().await.unwrap();
    other.cancel().await.unwrap();
}

/// A fake supervisor started straight in tmux (not by `cao launch`) with cao registered in its
/// MCP config, the way a user runs Claude Code with `claude mcp add cao -- cao mcp-server`.
struct UsersOwnAgent {
    pane: String,
    log: std::path::PathBuf,
}

fn start_users_own_agent(cao: &Cao, scenario: &str) -> UsersOwnAgent {
    let log = cao.path("supervisor.jsonl");
    let fake = cao_bin().with_file_name("cao-fake-agent");
    let mcp = json!({"mcpServers": {"cao": {"command": cao_bin(), "args": ["mcp-server"]}}});
    let mut argv: Vec<String> = vec!["env".into()];
    // The agent's environment is the installation's (CAO_HOME, CAO_TMUX_SOCKET, HOME, ...).
    for (k, v) in cao.cmd().get_envs() {
        if let Some(v) = v {
            argv.push(format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    argv.extend([
        format!("CAO_FAKE_SCENARIO={scenario}"),
        format!("CAO_FAKE_TRANSCRIPT={}", log.display()),
        "CAO_ENABLE_SENDER_ID_INJECTION=true".into(),
        fake.display().to_string(),
        "--mcp-config".into(),
        mcp.to_string(),
    ]);
    let mut args = vec![
        "new-session",
        "-d",
        "-s",
        "mine",
        "-x",
        "160",
        "-y",
        "40",
        "-P",
        "-F",
        "#{pane_id}",
        "-c",
    ];
    let work = cao.work.path().display().to_string();
    args.push(&work);
    args.push("--");
    args.extend(argv.iter().map(String::as_str));
    let out = cao.tmux(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pane = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_for("the supervisor's prompt", Duration::from_secs(10), || {
        let screen = cao.tmux(&["capture-pane", "-p", "-t", &pane]);
        String::from_utf8_lossy(&screen.stdout).contains("fake>")
    });
    UsersOwnAgent { pane, log }
}

fn type_into(cao: &Cao, pane: &str, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", pane];
    args.extend(keys);
    assert!(cao.tmux(&args).status.success());
}

#[test]
fn an_adopted_supervisor_gets_its_workers_replies_typed_in_and_is_never_closed() {
    let cao = Cao::new();
    let delegate = r#"{"match": "^delegate", "calls": [{"tool": "assign", "args": {"agent_profile": "developer", "message": "worker task one"}}, {"tool": "assign", "args": {"agent_profile": "developer", "message": "worker task two"}}]}"#;
    let worker = r#"{"match": "^worker task (\\w+)[\\s\\S]*receiver_id \"([0-9a-f]{8})\"", "calls": [{"tool": "send_message", "args": {"receiver_id": "{{2}}", "message": "reply {{1}}"}}]}"#;
    let agent = start_users_own_agent(&cao, &scenario(&[delegate, worker]));
    type_into(&cao, &agent.pane, &["delegate", "Enter"]);

    let replies = |word: &str| {
        transcript(&agent.log)
            .iter()
            .filter(|input| input.contains(&format!("reply {word}")))
            .count()
    };
    wait_for("both replies typed in", Duration::from_secs(30), || {
        replies("one") >= 1 && replies("two") >= 1
    });
    assert_eq!((replies("one"), replies("two")), (1, 1));

    // Listed as adopted; shutdown and close leave it alone.
    let listed = cao.list();
    let me = listed
        .iter()
        .find(|t| t["kind"] == "adopted")
        .unwrap_or_else(|| panic!("no adopted terminal in {listed:?}"));
    let id = me["id"].as_str().unwrap().to_string();
    assert_eq!(me["provider"], "fake");
    let refused = cao.fails(&["shutdown", "--session", "mine"]);
    assert!(refused.contains("no cao session"), "{refused}");
    cao.ok(&["shutdown", "--all"]);
    let alive = cao.tmux(&["has-session", "-t", "mine"]);
    assert!(
        alive.status.success(),
        "cao shutdown killed the user's own session"
    );
    assert_eq!(cao.status(&id), "completed");
}

#[test]
fn a_message_for_an_adopted_pane_waits_while_its_user_is_typing() {
    // The first tool call adopts the pane: list_terminals through the agent's own server.
    let list = r#"{"match": "^who am i", "calls": [{"tool": "list_terminals", "args": {}}]}"#;
    let cao = Cao::new();
    let agent = start_users_own_agent(&cao, &scenario(&[list]));
    type_into(&cao, &agent.pane, &["who am i", "Enter"]);
    let mut id = String::new();
    wait_for("the pane to be adopted", Duration::from_secs(20), || {
        id = cao
            .list()
            .iter()
            .find(|t| t["kind"] == "adopted")
            .and_then(|t| t["id"].as_str())
            .unwrap_or_default()
            .to_string();
        !id.is_empty() && cao.status(&id) == "completed"
    });

    // The user has typed half a prompt when a message comes.
    type_into(&cao, &agent.pane, &["-l", "half typed"]);
    cao.ok(&["send", &id, "a reply from a worker"]);
    std::thread::sleep(Duration::from_millis(1500));
    let typed = transcript(&agent.log);
    assert!(
        !typed.iter().any(|i| i.contains("a reply from a worker")),
        "typed over the user's input: {typed:?}"
    );
    let inbox = cao.ok(&["inbox", &id, "--json"]);
    assert!(inbox.contains("\"pending\""), "{inbox}");

    // The user clears the input: the message goes in, alone and once.
    type_into(&cao, &agent.pane, &["C-c"]);
    wait_for("the message typed", Duration::from_secs(15), || {
        transcript(&agent.log)
            .iter()
            .any(|i| i == "a reply from a worker")
    });
    let typed = transcript(&agent.log);
    assert_eq!(
        typed
            .iter()
            .filter(|i| i.contains("a reply from a worker"))
            .count(),
        1,
        "{typed:?}"
    );
}

/// A mailbox whose MCP server was killed (kill -9: no clean release) is cleaned up by the
/// next `cao shutdown --all` and `cao list`, which must not hang on it (they deadlocked on the
/// store before the fix).
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_callers_mailbox_is_cleaned_up_without_hanging() {
    let cao = Cao::new();
    let client = connect(&cao).await;
    ok(&client, "list_terminals", json!({})).await;
    let pids = crate::util::processes_matching(&format!("{} mcp-server", cao_bin().display()));
    for pid in &pids {
        if crate::util::alive(*pid)
            && std::fs::read_to_string(format!("/proc/{pid}/environ"))
                .is_ok_and(|e| e.contains(&cao.socket))
        {
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
    }
    let mut child = cao.cmd().args(["shutdown", "--all"]).spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("cao shutdown --all hung on a dead caller's mailbox");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cao.list().is_empty());
    drop(client);
}
