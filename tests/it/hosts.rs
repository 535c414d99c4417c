//! Workers on another machine (`[hosts.NAME]`), through a real sshd on loopback: the
//! "remote" is a second cao installation (its own state, home and tmux server) on this
//! machine, reached only over ssh.

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use std::path::{Path, PathBuf};

use crate::util::sshd::{self, Sshd};
use crate::util::{Cao, call_tool, cao_bin, result_text, wait_for};

/// A local installation with host `far` (a remote installation behind an sshd).
struct Link {
    local: Cao,
    remote: Cao,
    sshd: Sshd,
}

impl Link {
    fn new(test: &str) -> Option<Link> {
        Link::with_remote(test, Cao::new())
    }

    /// A link whose remote installation is `remote` (its agents' scenario, say).
    fn with_remote(test: &str, remote: Cao) -> Option<Link> {
        let sshd = Sshd::start(test)?;
        let local = Cao::new();
        add_host(&local, "far", &sshd, &remote);
        Some(Link {
            local,
            remote,
            sshd,
        })
    }

    /// Starts a handoff of `task` to host `far` in the background and returns once its
    /// worker is working there.
    fn handoff_working(
        &self,
        client: &std::sync::Arc<rmcp::service::RunningService<rmcp::RoleClient, ()>>,
        task: &'static str,
    ) -> tokio::task::JoinHandle<rmcp::model::CallToolResult> {
        let client = client.clone();
        let call = tokio::spawn(async move {
            call_tool(
                &*client,
                "handoff",
                json!({"agent_profile": "developer", "message": task, "host": "far", "timeout": 120}),
            )
            .await
        });
        wait_for("the worker working there", Duration::from_secs(60), || {
            self.remote
                .list()
                .first()
                .is_some_and(|t| t["status"] == "processing")
        });
        call
    }

    /// Ends the shared ssh connection, as a network drop would; whether there was one.
    fn cut(&self) -> bool {
        let control = self.local.home.path().join("ssh/%C");
        let out = std::process::Command::new("ssh")
            .args(self.sshd.ssh_args())
            .arg("-o")
            .arg(format!("ControlPath={}", control.display()))
            .args(["-O", "exit", "--", &self.sshd.dest()])
            .output()
            .unwrap();
        out.status.success()
    }
}

#[test]
fn hosts_lists_and_checks_a_reachable_host() {
    let Some(link) = Link::new("hosts_lists_and_checks_a_reachable_host") else {
        return;
    };
    let hosts: Vec<Value> =
        serde_json::from_str(&link.local.ok(&["hosts", "--json"])).expect("hosts --json");
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["name"], "far");
    assert_eq!(hosts[0]["reachable"], true, "{hosts:?}");
    assert_eq!(hosts[0]["cao_version"], env!("CARGO_PKG_VERSION"));
    let check = link.local.ok(&["hosts", "check", "far"]);
    assert!(check.contains("✓ ssh connects"), "{check}");
    assert!(check.contains("✓ tmux"), "{check}");
    assert!(check.contains("fake"), "{check}");
}

#[test]
fn a_host_that_is_down_fails_within_ten_seconds_naming_it() {
    let local = Cao::new();
    let port = sshd::free_port().to_string();
    let args: Vec<String> = ["-F", "/dev/null", "-p", &port]
        .iter()
        .map(|s| s.to_string())
        .collect();
    write_host(
        &local,
        "down",
        "nobody@127.0.0.1",
        &args,
        local.work.path(),
        &[],
    );
    let started = Instant::now();
    let out = local.run(&["hosts", "check", "down"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        text.contains("host down") && text.contains("Connection refused"),
        "{text}"
    );
    let started = Instant::now();
    let err = local.fails(&[
        "launch",
        "--host",
        "down",
        "--trust",
        "--agents",
        "developer",
    ]);
    // Within 10 s, a retry window for a blip included.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("host down") && err.contains("not reachable"),
        "{err}"
    );
    let unknown = local.fails(&[
        "launch",
        "--host",
        "nowhere",
        "--trust",
        "--agents",
        "developer",
    ]);
    assert!(
        unknown.contains("no host named \"nowhere\"") && unknown.contains("down"),
        "{unknown}"
    );
}

#[test]
fn a_remote_terminal_is_listed_messaged_read_and_shut_down_from_here() {
    let Some(link) = Link::new("a_remote_terminal_is_listed_messaged_read_and_shut_down_from_here")
    else {
        return;
    };
    let out = link.local.ok(&[
        "launch",
        "--host",
        "far",
        "--trust",
        "--agents",
        "developer",
    ]);
    assert!(out.contains("on host far"), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    // It runs there, in the remote's tmux and store, not here.
    assert_eq!(link.remote.list().len(), 1);
    let listed = link.local.list();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["host"], "far");
    let table = link.local.ok(&["list"]);
    assert!(table.contains("HOST") && table.contains(" far "), "{table}");

    let body = "over the link: quotes ' \" $(not run) `nor this` & | ; done";
    link.local.ok(&["send", &id, body]);
    wait_for("the remote answer", Duration::from_secs(20), || {
        link.local.status(&id) == "completed"
    });
    let answer = link.local.ok(&["output", &id]);
    assert_eq!(answer.trim_end(), format!("fake answer: {body}"));
    let inbox: Vec<Value> =
        serde_json::from_str(&link.remote.ok(&["inbox", &id, "--json"])).unwrap();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["body"], body);

    link.local.ok(&["shutdown", "--all"]);
    assert!(link.remote.list().is_empty(), "still running there");
    assert!(link.local.list().is_empty());
}

async fn mcp(cao: &Cao) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = TokioChildProcess::new(cao.mcp_server(&[])).expect("cao mcp-server starts");
    ().serve(transport).await.expect("initialize")
}

#[tokio::test(flavor = "multi_thread")]
async fn handoff_to_a_host_returns_the_workers_answer_and_closes_it() {
    let Some(link) = Link::new("handoff_to_a_host_returns_the_workers_answer_and_closes_it") else {
        return;
    };
    let client = mcp(&link.local).await;
    let task = "summarise the build log [[sleep 1]]";
    let result = call_tool(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": task, "host": "far", "timeout": 120}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", result_text(&result));
    let s = result.structured_content.unwrap();
    assert_eq!(s["output"], format!("fake answer: {task}"));
    assert_eq!(s["answer_source"], "record");
    assert!(
        link.remote.list().is_empty(),
        "the remote worker was not closed"
    );
    assert!(link.local.list().is_empty());
    // Unknown host: a clear error, nothing started.
    let bad = call_tool(
        &client,
        "handoff",
        json!({"agent_profile": "developer", "message": "x", "host": "nowhere"}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    assert!(
        result_text(&bad).contains("no host named"),
        "{}",
        result_text(&bad)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_survives_its_ssh_connection_being_cut() {
    let Some(link) = Link::new("a_handoff_survives_its_ssh_connection_being_cut") else {
        return;
    };
    let client = std::sync::Arc::new(mcp(&link.local).await);
    let task = "a long job [[sleep 6]]";
    let call = link.handoff_working(&client, task);
    // While the worker works there, cut the link twice.
    assert!(link.cut(), "no ssh connection to cut");
    std::thread::sleep(Duration::from_millis(2500));
    let cut_again = link.cut();
    let result = call.await.unwrap();
    assert_eq!(result.is_error, Some(false), "{}", result_text(&result));
    let s = result.structured_content.unwrap();
    assert_eq!(s["output"], format!("fake answer: {task}"));
    assert!(cut_again, "the handoff did not reconnect while it waited");
    // The task was stored (and typed) once there.
    let db = rusqlite::Connection::open(link.remote.home.path().join("cao.db")).unwrap();
    let copies: i64 = db
        .query_row("SELECT COUNT(*) FROM inbox WHERE body = ?1", [task], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(copies, 1);
    assert!(link.remote.list().is_empty());
    drop(client);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_survives_the_remote_watcher_being_killed() {
    let Some(link) = Link::new("a_handoff_survives_the_remote_watcher_being_killed") else {
        return;
    };
    let client = std::sync::Arc::new(mcp(&link.local).await);
    let task = "a job whose watcher dies [[sleep 4]]";
    let call = link.handoff_working(&client, task);
    let worker = link.remote.list()[0]["id"].as_str().unwrap().to_string();
    let watchers = crate::util::processes_matching(&format!("_watch {worker}"));
    assert!(!watchers.is_empty(), "no watcher of {worker} found");
    for pid in watchers {
        // SAFETY: kill(2) on the watcher the remote cao started for this test's worker.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let result = call.await.unwrap();
    assert_eq!(result.is_error, Some(false), "{}", result_text(&result));
    assert_eq!(
        result.structured_content.unwrap()["output"],
        format!("fake answer: {task}")
    );
    assert!(link.remote.list().is_empty());
    drop(client);
}

/// Messages per direction in the bulk test.
const BULK: usize = 200;

/// The fake worker's rules: a task reports back once; `burst` sends [`BULK`] numbered
/// messages back in a row.
fn reporting_scenario() -> String {
    let burst: Vec<Value> = (0..BULK)
        .map(|i| json!({"tool": "send_message", "args": {"receiver_id": "{{1}}", "message": format!("up {i:03}")}}))
        .collect();
    json!({"rules": [
        {"match": "^worker task (\\w+)[\\s\\S]*receiver_id \"([0-9a-f]{8})\"", "calls": [
            {"tool": "send_message", "args": {"receiver_id": "{{2}}", "message": "reply {{1}}"}}
        ]},
        {"match": "^burst for ([0-9a-f]{8})", "calls": burst}
    ]})
    .to_string()
}

/// `wait_for_messages` until `n` bodies have come (or a minute passes).
async fn collect(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    n: usize,
) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < n && Instant::now() < deadline {
        let r = call_tool(client, "wait_for_messages", json!({"timeout": 10})).await;
        let s = r
            .structured_content
            .expect("wait_for_messages has a result");
        for m in s["messages"].as_array().unwrap() {
            got.push(m["message"].as_str().unwrap().to_string());
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn assign_to_a_host_and_its_replies_come_back_exactly_once_in_order() {
    let remote = Cao::new()
        .with_env("CAO_FAKE_SCENARIO", &reporting_scenario())
        .with_env("CAO_FAKE_DELAY_MS", "20");
    let Some(link) = Link::with_remote(
        "assign_to_a_host_and_its_replies_come_back_exactly_once_in_order",
        remote,
    ) else {
        return;
    };
    let transport = TokioChildProcess::new(
        link.local
            .mcp_server(&[("CAO_ENABLE_SENDER_ID_INJECTION", "true")]),
    )
    .unwrap();
    let client = ().serve(transport).await.unwrap();
    let assigned = call_tool(
        &client,
        "assign",
        json!({"agent_profile": "developer", "message": "worker task A", "host": "far"}),
    )
    .await;
    assert_eq!(assigned.is_error, Some(false), "{}", result_text(&assigned));
    let s = assigned.structured_content.unwrap();
    let worker = s["terminal_id"].as_str().unwrap().to_string();
    let me = s["caller_id"].as_str().unwrap().to_string();
    assert!(
        s["message"].as_str().unwrap().contains("on host far"),
        "{s}"
    );
    assert_eq!(collect(&client, 1).await, ["reply A"]);

    // 200 messages down to the worker, each typed there once, in order.
    let down: Vec<String> = (0..BULK).map(|i| format!("down {i:03}")).collect();
    for body in &down {
        link.local.ok(&["send", &worker, body]);
    }
    // 200 messages up from it.
    link.local
        .ok(&["send", &worker, &format!("burst for {me}")]);
    let up = collect(&client, BULK).await;
    let want_up: Vec<String> = (0..BULK).map(|i| format!("up {i:03}")).collect();
    assert_eq!(up, want_up, "lost, repeated or out of order");
    // Nothing more comes: no duplicate arrives late.
    let late = call_tool(&client, "wait_for_messages", json!({"timeout": 2})).await;
    assert_eq!(late.structured_content.unwrap()["messages"], json!([]));

    wait_for(
        "the remote worker to take all",
        Duration::from_secs(60),
        || {
            let inbox: Vec<Value> =
                serde_json::from_str(&link.remote.ok(&["inbox", &worker, "--json"])).unwrap();
            inbox.iter().all(|m| m["status"] == "delivered")
        },
    );
    let inbox: Vec<Value> =
        serde_json::from_str(&link.remote.ok(&["inbox", &worker, "--json"])).unwrap();
    let bodies: Vec<&str> = inbox
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .filter(|b| b.starts_with("down "))
        .collect();
    assert_eq!(bodies, down.iter().map(String::as_str).collect::<Vec<_>>());
    // The relay there holds nothing uncollected.
    let relay: Vec<Value> =
        serde_json::from_str(&link.remote.ok(&["inbox", &me, "--json"])).unwrap();
    assert_eq!(relay.len(), BULK + 1);
    assert!(
        relay.iter().all(|m| m["status"] == "delivered"),
        "{relay:?}"
    );
    link.local.ok(&["shutdown", "--all"]);
    client.cancel().await.unwrap();
}

/// Writes `[hosts.NAME]` into `local`'s config: `remote`'s installation reached through
/// `sshd` (or through `port`, when `sshd` is `None`: a host that is down).
fn add_host(local: &Cao, name: &str, sshd: &Sshd, remote: &Cao) {
    let mut env: Vec<(String, String)> = vec![
        ("CAO_HOME".into(), remote.home.path().display().to_string()),
        ("HOME".into(), remote.user_home.path().display().to_string()),
        ("CAO_TMUX_SOCKET".into(), remote.socket.clone()),
        ("CAO_LOG".into(), "cao=debug".into()),
    ];
    env.extend(remote.env.iter().cloned());
    write_host(
        local,
        name,
        &sshd.dest(),
        &sshd.ssh_args(),
        remote.work.path(),
        &env,
    );
}

/// Writes a `[hosts.NAME]` table.
fn write_host(
    local: &Cao,
    name: &str,
    dest: &str,
    ssh_args: &[String],
    workdir: &Path,
    env: &[(String, String)],
) {
    let path: PathBuf = local.home.path().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let list = |items: &[String]| {
        items
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    text.push_str(&format!(
        "\n[hosts.{name}]\nssh = {dest:?}\nssh_args = [{}]\ncao = {:?}\nworkdir = {:?}\n[hosts.{name}.env]\n",
        list(ssh_args),
        cao_bin().display().to_string(),
        workdir.display().to_string(),
    ));
    for (k, v) in env {
        text.push_str(&format!("{k} = {v:?}\n"));
    }
    std::fs::write(path, text).unwrap();
}
