//! Reliability and security: bad input, faults and load, each part printing its counts (also
//! appended to `target/test-reports/reliability.txt`, which CI prints).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Cao, transcript, wait_for};

/// Records a part's counts where CI can show them.
fn report(line: &str) {
    eprintln!("{line}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-reports");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("reliability.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A raw JSON-RPC connection to `cao mcp-server`, for feeding it garbage.
struct RawMcp {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Responses that arrived while another was awaited (calls run concurrently).
    early: HashMap<i64, Value>,
}

impl RawMcp {
    fn start(cao: &Cao, env: &[(&str, &str)]) -> RawMcp {
        let mut cmd = cao.cmd();
        cmd.arg("mcp-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        RawMcp {
            child,
            stdin,
            lines,
            early: HashMap::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stdin.write_all(bytes);
        let _ = self.stdin.flush();
    }

    fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The response to request `id` (other lines are skipped); every stdout line must be JSON.
    fn response(&mut self, id: i64) -> Value {
        if let Some(v) = self.early.remove(&id) {
            return v;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no response to request {id}"));
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("non-JSON on the MCP stdout: {line:?}"));
            if v["id"] == id {
                return v;
            }
            if let Some(other) = v["id"].as_i64() {
                self.early.insert(other, v);
            }
        }
    }

    fn initialize(&mut self) {
        self.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        );
        let r = self.response(1);
        assert_eq!(r["result"]["serverInfo"]["name"], "cao", "{r}");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }

    fn call(&mut self, id: i64, tool: &str, args: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}));
        self.response(id)
    }
}

impl Drop for RawMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_tool_error(r: &Value) -> bool {
    r["result"]["isError"] == true || r.get("error").is_some()
}

fn error_text(r: &Value) -> String {
    if let Some(e) = r.get("error") {
        return e["message"].as_str().unwrap_or_default().to_string();
    }
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn part1_bad_input_is_refused_or_delivered_exactly() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let receiver = cao.launch("developer");
    let mut tried = 0;
    let mut handled = 0;

    // Identifiers, through every CLI command and every MCP tool that takes one.
    let bad_ids = [
        "../x",
        "a:b.c",
        "-t",
        "%1",
        "@1",
        "0a1b2c3",
        "0a1b2c3d4",
        "0A1B2C3D",
        "",
        " ",
        "abcd123;",
        "$(id)",
        "#{pane_id}",
        "abcd\u{0}123",
        "abc\n1234",
    ];
    for id in bad_ids {
        for args in [
            vec!["status", id],
            vec!["output", id],
            vec!["inbox", id],
            vec!["send", id, "hi"],
        ] {
            tried += 1;
            let out = cao.cmd().args(&args).output();
            // A NUL cannot even be passed as an argument; that is a refusal too.
            let ok = match out {
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    !out.status.success()
                        && (err.contains("invalid terminal id")
                            || err.contains("unexpected argument")
                            || err.contains("no terminal"))
                }
                Err(_) => true,
            };
            assert!(ok, "{args:?}");
            handled += 1;
        }
    }
    let mut mcp = RawMcp::start(&cao, &[]);
    mcp.initialize();
    let mut next_id = 10;
    for id in bad_ids {
        for (tool, args) in [
            ("send_message", json!({"receiver_id": id, "message": "x"})),
            ("get_terminal_output", json!({"terminal_id": id})),
            ("close_terminal", json!({"terminal_id": id})),
        ] {
            tried += 1;
            next_id += 1;
            let r = mcp.call(next_id, tool, args.clone());
            assert!(is_tool_error(&r), "{tool} {args}: {r}");
            handled += 1;
        }
    }

    // Names with tmux target syntax, option injection, traversal, NUL and control characters.
    let bad_profiles = [
        "../developer",
        "a/b",
        "a\\b",
        "..",
        "dev\u{0}eloper",
        "dev\u{7}x",
        "-t",
        "a:b",
        "#{pane_id}",
    ];
    for p in bad_profiles {
        tried += 1;
        next_id += 1;
        let r = mcp.call(
            next_id,
            "assign",
            json!({"agent_profile": p, "message": "x"}),
        );
        assert!(is_tool_error(&r), "{p:?}: {r}");
        let text = error_text(&r);
        assert!(text.contains("profile"), "{p:?}: {text}");
        handled += 1;
    }
    for name in ["a:b", "a.b", "-t", "x;y", "#{s}", "a b", "a\u{1b}b"] {
        tried += 1;
        let out = cao.run(&crate::util::launch_args(
            "developer",
            &["--session-name", name],
        ));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && (err.contains("invalid session name") || err.contains("unexpected argument")),
            "{name:?}: {err}"
        );
        handled += 1;
    }

    // Working directories: blocked, symlinked into blocked, missing, a file.
    let link = cao.path("etc-link");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let file = cao.path("a-file");
    std::fs::write(&file, "x").unwrap();
    for dir in [
        "/",
        "/etc",
        "/root",
        link.to_str().unwrap(),
        "/no/such/dir",
        file.to_str().unwrap(),
    ] {
        tried += 1;
        let out = cao.run(&crate::util::launch_args(
            "developer",
            &["--working-directory", dir],
        ));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("working directory"),
            "{dir}: {err}"
        );
        handled += 1;
    }

    // JSON-RPC garbage and an oversized line on the MCP stdin: the server keeps serving.
    for garbage in [
        &b"not json at all\n"[..],
        b"{\"jsonrpc\": \"2.0\", \"id\": \n",
        b"\xff\xfe\x00garbage\n",
        b"[1,2,3]\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"no/such/method\"}\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":98,\"method\":\"tools/call\",\"params\":{\"name\":\"handoff\",\"arguments\":\"nope\"}}\n",
    ] {
        tried += 1;
        mcp.send_raw(garbage);
        handled += 1;
    }
    tried += 1;
    let mut huge =
        b"{\"jsonrpc\":\"2.0\",\"id\":97,\"method\":\"tools/list\",\"params\":{\"pad\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 17 * 1024 * 1024));
    huge.extend(b"\"}}\n");
    mcp.send_raw(&huge);
    handled += 1;
    next_id += 1;
    mcp.send(json!({"jsonrpc": "2.0", "id": next_id, "method": "tools/list"}));
    let r = mcp.response(next_id);
    assert!(
        r["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.len() == 9),
        "{r}"
    );

    // Messages: escapes are stripped, everything else arrives exactly; empty and oversized
    // messages are refused.
    let mut expected_inputs = Vec::new();
    let cases: Vec<(String, Option<String>)> = vec![
        (
            "break \u{1b}[201~ out\u{1b}[200~ of paste".into(),
            Some("break  out of paste".into()),
        ),
        (
            "clip \u{1b}]52;c;ZXZpbA==\u{7}board".into(),
            Some("clip board".into()),
        ),
        (
            "bell\u{7} back\u{8} nul\u{0} esc\u{1b}c".into(),
            Some("bell back nul esc".into()),
        ),
        ("tab\tand\nnewline".into(), Some("tab\tand\nnewline".into())),
        (
            "-leading dash; trailing semicolon;".into(),
            Some("-leading dash; trailing semicolon;".into()),
        ),
        ("x".repeat(100_000), Some("x".repeat(100_000))),
        ("".into(), None),
        ("  \n\t ".into(), None),
        ("y".repeat(1_000_000), None),
    ];
    for (message, expect) in cases {
        tried += 1;
        next_id += 1;
        let r = mcp.call(
            next_id,
            "send_message",
            json!({"receiver_id": receiver, "message": message}),
        );
        match expect {
            Some(exact) => {
                assert!(!is_tool_error(&r), "{r}");
                expected_inputs.push(exact);
                let want = expected_inputs.clone();
                wait_for("delivery", Duration::from_secs(20), || {
                    transcript(&log) == want
                });
            }
            None => {
                assert!(is_tool_error(&r), "{r}");
                let text = error_text(&r);
                assert!(text.contains("empty") || text.contains("limit"), "{text}");
            }
        }
        handled += 1;
    }

    // Profiles that are YAML bombs or deeply nested: a clear error, no hang.
    let profiles_dir = cao.home.path().join("profiles");
    std::fs::create_dir_all(&profiles_dir).unwrap();
    let mut bomb = String::from(
        "---\nname: bomb\ndescription: d\na: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n",
    );
    for i in 0..9 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    bomb.push_str("---\nbody\n");
    std::fs::write(profiles_dir.join("bomb.md"), bomb).unwrap();
    let deep = format!(
        "---\nname: deep\ndescription: d\nx: {}{}\n---\nbody\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    std::fs::write(profiles_dir.join("deep.md"), deep).unwrap();
    for p in ["bomb", "deep"] {
        tried += 1;
        next_id += 1;
        let started = Instant::now();
        let r = mcp.call(
            next_id,
            "assign",
            json!({"agent_profile": p, "message": "x"}),
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(is_tool_error(&r), "{p}: {r}");
        handled += 1;
    }
    tried += 1;
    next_id += 1;
    let r = mcp.call(next_id, "list_profiles", json!({}));
    assert!(!is_tool_error(&r), "{r}");
    handled += 1;

    // Nothing stored was corrupted: the receiver still works and its inbox is intact.
    let inbox: Vec<Value> = serde_json::from_str(&cao.ok(&["inbox", &receiver, "--json"])).unwrap();
    assert_eq!(inbox.len(), expected_inputs.len());
    assert!(inbox.iter().all(|m| m["status"] == "delivered"));
    assert_eq!(cao.list().len(), 1);
    assert!(!std::path::Path::new("/tmp/cao-pwned").exists());
    report(&format!(
        "reliability part 1 — bad inputs tried: {tried}, handled: {handled}"
    ));
    assert_eq!(tried, handled);
}

#[test]
fn part2_faults_lose_nothing() {
    let cao = Cao::new();
    let mut faults = 0;

    // 1. kill -9 the MCP server during a handoff: the worker stays, visible in `cao list`.
    let mut mcp = RawMcp::start(&cao, &[]);
    mcp.initialize();
    mcp.send(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "handoff", "arguments": {"agent_profile": "developer", "message": "long [[sleep 30]]"}}}));
    wait_for_working(&cao);
    unsafe {
        libc::kill(mcp.child.id() as i32, libc::SIGKILL);
    }
    let _ = mcp.child.wait();
    let list = cao.list();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "processing");
    let worker = list[0]["id"].as_str().unwrap().to_string();
    let db = rusqlite::Connection::open(cao.home.path().join("cao.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    cao.ok(&["shutdown", "--all"]);
    assert!(cao.list().is_empty());
    faults += 1;

    // 1b. kill -9 the MCP server right after each send_message returns (as a CLI that quits
    // or restarts its MCP server does): every message still arrives, exactly once.
    {
        let sink = Cao::new();
        let log = sink.path("killed-senders.jsonl");
        // A pause between paste and Enter, as Codex and Gemini CLI need: a sender killed
        // inside it would leave a half-submitted message behind.
        let sink = sink
            .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap())
            .with_env("CAO_FAKE_SUBMIT_PAUSE_MS", "300");
        let receiver = sink.launch("developer");
        wait_for("the receiver to be idle", Duration::from_secs(10), || {
            sink.status(&receiver) == "idle"
        });
        for n in 0..10 {
            let mut mcp = RawMcp::start(&sink, &[]);
            mcp.initialize();
            let r = mcp.call(
                7,
                "send_message",
                json!({"receiver_id": receiver, "message": format!("from a doomed sender {n}")}),
            );
            assert!(!is_tool_error(&r), "{r}");
            // At a different moment each time: before, during and after the typing.
            std::thread::sleep(Duration::from_millis(n * 30));
            unsafe {
                libc::kill(mcp.child.id() as i32, libc::SIGKILL);
            }
        }
        let arrived = || {
            transcript(&log)
                .iter()
                .flat_map(|i| split_batch(i))
                .filter(|b| b.starts_with("from a doomed sender"))
                .count()
        };
        wait_for("all 10 messages typed", Duration::from_secs(20), || {
            arrived() >= 10
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(arrived(), 10, "{:?}", transcript(&log));
        let inbox: Vec<Value> =
            serde_json::from_str(&sink.ok(&["inbox", &receiver, "--json"])).unwrap();
        assert!(
            inbox.iter().all(|m| m["status"] == "delivered"),
            "{inbox:#?}"
        );
        faults += 1;
    }

    // 2. Kill the worker's CLI mid-task: the handoff fails promptly, not at its timeout.
    let mut mcp = RawMcp::start(&cao, &[]);
    mcp.initialize();
    mcp.send(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
        "params": {"name": "handoff", "arguments": {"agent_profile": "developer", "message": "long [[sleep 60]]", "timeout": 120}}}));
    wait_for_working(&cao);
    let pid = cao.pane_pids("cao-")[0];
    let killed_at = Instant::now();
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let r = mcp.response(6);
    assert!(killed_at.elapsed() < Duration::from_secs(10));
    assert!(
        is_tool_error(&r) && error_text(&r).contains("exited"),
        "{r}"
    );
    assert!(!worker.is_empty());
    drop(mcp);
    faults += 1;

    // 3. Kill the whole tmux server: clear answers, then a new launch works.
    let id = cao.launch("developer");
    let _ = cao.tmux(&["kill-server"]);
    assert!(cao.list().is_empty());
    let err = cao.fails(&["status", &id]);
    assert!(err.contains("no terminal"), "{err}");
    let err = cao.fails(&["send", &id, "hello?"]);
    assert!(err.contains("no terminal"), "{err}");
    let id = cao.launch("developer");
    assert_eq!(cao.status(&id), "idle");
    faults += 1;

    // 4. Two MCP servers (and the CLI) delivering to one receiver at once: exactly once.
    let log = cao.path("t4.jsonl");
    let cao4 = Cao::new().with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let receiver = cao4.launch("developer");
    let mut a = RawMcp::start(&cao4, &[]);
    let mut b = RawMcp::start(&cao4, &[]);
    a.initialize();
    b.initialize();
    for n in 0..25 {
        a.send(json!({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call",
            "params": {"name": "send_message", "arguments": {"receiver_id": receiver, "message": format!("a{n}")}}}));
        b.send(json!({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call",
            "params": {"name": "send_message", "arguments": {"receiver_id": receiver, "message": format!("b{n}")}}}));
    }
    for n in 0..25 {
        assert!(!is_tool_error(&a.response(100 + n)));
        assert!(!is_tool_error(&b.response(100 + n)));
    }
    let bodies = || -> Vec<String> {
        transcript(&log)
            .iter()
            .flat_map(|i| split_batch(i))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies().len() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if bodies().len() < 50 {
        let inbox = cao4.ok(&["inbox", &receiver]);
        panic!(
            "only {:?}\ninbox:\n{inbox}\nscreen:\n{}",
            transcript(&log),
            cao4.screen(&receiver)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let got = bodies();
    assert_eq!(got.len(), 50, "{got:?}");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 50);
    faults += 1;

    // 5. SQLite under contention: many concurrent CLI senders, all succeed.
    let before = bodies().len();
    std::thread::scope(|s| {
        for t in 0..8 {
            let cao4 = &cao4;
            let receiver = receiver.clone();
            s.spawn(move || {
                for n in 0..10 {
                    let out = cao4.run(&["send", &receiver, &format!("c{t}-{n}")]);
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    wait_for("eighty more", Duration::from_secs(30), || {
        bodies().len() >= before + 80
    });
    faults += 1;

    // 6. An unusable CAO_HOME: a clear error naming it.
    let file = cao.path("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = cao
        .cmd()
        .env("CAO_HOME", file.join("home"))
        .args(["list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("CAO_HOME"), "{err}");
    faults += 1;

    report(&format!(
        "reliability part 2 — faults injected: {faults}, survived: {faults}"
    ));
}

/// Waits until the only worker shows the fake agent's working line (its task was typed).
fn wait_for_working(cao: &Cao) {
    wait_for(
        "the worker to work on its task",
        Duration::from_secs(20),
        || {
            cao.list().first().is_some_and(|t| {
                t["status"] == "processing"
                    && cao
                        .screen(t["id"].as_str().unwrap())
                        .contains("(esc to interrupt)")
            })
        },
    );
}

/// The message bodies inside one typed input (a batch carries `[message i of n from X]` headers).
fn split_batch(input: &str) -> Vec<String> {
    if !input.starts_with("[message 1 of ") {
        return vec![input.to_string()];
    }
    input
        .split("[message ")
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.split_once("]\n")
                .unwrap()
                .1
                .trim_end_matches("\n\n")
                .to_string()
        })
        .collect()
}

#[test]
fn part3_load_loses_and_duplicates_nothing() {
    let cao = Cao::new();
    let log = cao.path("load.jsonl");
    let cao = cao
        .with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap())
        .with_env("CAO_FAKE_DELAY_MS", "0");
    // 20 live workers: 5 receivers, 10 senders, 5 bystanders.
    let ids: Vec<String> = (0..20).map(|_| cao.launch("developer")).collect();
    let receivers = &ids[0..5];
    let senders = &ids[5..15];
    let started = Instant::now();
    std::thread::scope(|s| {
        for sender in senders {
            let cao = &cao;
            s.spawn(move || {
                let mut mcp = RawMcp::start(cao, &[("CAO_TERMINAL_ID", sender)]);
                mcp.initialize();
                // Each sender calls send_message one after another, as an agent does; the
                // order guarantee is per sender-receiver pair for such calls.
                for n in 0..100 {
                    let receiver = &receivers[n % 5];
                    let r = mcp.call(
                        1000 + n as i64,
                        "send_message",
                        json!({"receiver_id": receiver,
                        "message": format!("load {sender} {receiver} {n}")}),
                    );
                    assert!(!is_tool_error(&r), "{r}");
                }
            });
        }
    });
    let received = || -> Vec<String> {
        transcript(&log)
            .iter()
            .flat_map(|i| split_batch(i))
            .filter(|b| b.starts_with("load "))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while received().len() < 1000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if received().len() < 1000 {
        for r in receivers {
            let inbox: Vec<Value> = serde_json::from_str(&cao.ok(&["inbox", r, "--json"])).unwrap();
            let mut counts: HashMap<String, usize> = HashMap::new();
            for m in &inbox {
                *counts
                    .entry(m["status"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            eprintln!("receiver {r}: {counts:?} status {}", cao.status(r));
            let screen = cao.screen(r);
            let tail: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
            eprintln!("{}", tail[tail.len().saturating_sub(8)..].join("\n"));
        }
        let odd: Vec<String> = transcript(&log)
            .into_iter()
            .filter(|i| i.matches("load ").count() > 1 && !i.starts_with("[message"))
            .take(3)
            .collect();
        panic!(
            "only {} of 1000 arrived; merged inputs: {odd:?}",
            received().len()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let got = received();
    let unique: HashSet<&String> = got.iter().collect();
    let duplicated = got.len() - unique.len();
    let mut last: HashMap<(String, String), i64> = HashMap::new();
    let mut out_of_order = 0;
    for body in &got {
        let parts: Vec<&str> = body.split(' ').collect();
        let key = (parts[1].to_string(), parts[2].to_string());
        let n: i64 = parts[3].parse().unwrap();
        if last.get(&key).is_some_and(|prev| *prev > n) {
            out_of_order += 1;
        }
        last.insert(key, n);
    }
    let delivered = unique.len();
    report(&format!(
        "reliability part 3 — messages: sent 1000, delivered {delivered}, duplicated {duplicated}, out of order {out_of_order} ({:.1}s)",
        started.elapsed().as_secs_f64()
    ));
    assert_eq!((delivered, duplicated, out_of_order), (1000, 0, 0));
    cao.ok(&["shutdown", "--all"]);

    // 50 handoffs in parallel from 5 supervisors: each gets its own worker's answer.
    let sups: Vec<String> = (0..5).map(|_| cao.launch("code_supervisor")).collect();
    let started = Instant::now();
    let results: Vec<(String, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = sups
            .iter()
            .map(|sup| {
                let cao = &cao;
                s.spawn(move || {
                    let mut mcp = RawMcp::start(cao, &[("CAO_TERMINAL_ID", sup)]);
                    mcp.initialize();
                    for n in 0..10 {
                        mcp.send(json!({"jsonrpc": "2.0", "id": 2000 + n, "method": "tools/call",
                            "params": {"name": "handoff", "arguments": {"agent_profile": "developer",
                                "message": format!("task {sup} {n}"), "timeout": 300}}}));
                    }
                    (0..10)
                        .map(|n| (format!("task {sup} {n}"), mcp.response(2000 + n)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let correct = results
        .iter()
        .filter(|(task, r)| {
            r["result"]["structuredContent"]["output"] == format!("fake answer: {task}")
        })
        .count();
    report(&format!(
        "reliability part 3 — handoffs: 50 in parallel from 5 supervisors, correct {correct}, cross-talk or failed {} ({:.1}s)",
        50 - correct,
        started.elapsed().as_secs_f64()
    ));
    assert_eq!(correct, 50, "{results:?}");
}
