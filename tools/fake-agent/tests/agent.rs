//! Runs the real `cao-fake-agent` binary over pipes (no terminal needed) and checks the screen
//! grammar byte for byte, the transcript, the directives and the MCP client (against the
//! `echo_server` example). A last test drives it in a private tmux server, when tmux exists.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
const AGENT: &str = env!("CARGO_BIN_EXE_cao-fake-agent");

/// How long any expected output may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The banner plus the first prompt, as the bytes arrive on a pipe.
const START: &str =
    "\x1b[?2004hcao fake agent · profile default\r\ntype /exit to quit\r\n\r\nfake> ";

/// Erase-line, as written before the text that replaces the working line.
const WORKING: &str = "\r\n* working (esc to interrupt)\r\x1b[2K";

/// One running agent with its output collected in the background.
struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Agent {
    /// Starts the agent with extra environment and arguments; timing knobs default to fast.
    fn start(env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(AGENT);
        cmd.args(args)
            .env_remove("CAO_FAKE_SCENARIO")
            .env_remove("CAO_FAKE_TRANSCRIPT")
            .env_remove("CAO_FAKE_ENTERS")
            .env_remove("CAO_FAKE_STARTUP_MS")
            .env_remove("CAO_FAKE_DIALOGS")
            .env("CAO_FAKE_DELAY_MS", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start cao-fake-agent");
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            output,
        }
    }

    /// Sends raw bytes as if typed.
    fn send(&mut self, bytes: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Sends `text` as a bracketed paste.
    fn paste(&mut self, text: &str) {
        self.send(&format!("\x1b[200~{text}\x1b[201~"));
    }

    /// Everything written so far, as text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output satisfies `ready`, failing the test after [`PATIENCE`].
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output so far:\n{screen:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the output ends with `tail`.
    fn wait_tail(&self, tail: &str) -> String {
        self.wait_for(tail, |s| s.ends_with(tail))
    }

    /// Waits for the output to contain `count` prompts (the agent is idle again).
    fn wait_prompts(&self, count: usize) -> String {
        self.wait_for(&format!("{count} prompts"), |s| {
            s.matches("fake> ").count() >= count
        })
    }

    /// Sends `keys` and waits for the next prompt (one more than before).
    fn turn(&mut self, keys: &str) -> String {
        let before = self.screen().matches("fake> ").count();
        self.send(keys);
        self.wait_prompts(before + 1)
    }

    /// Waits for the process to exit and returns its status code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "agent did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cao-fake-agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Masks the elapsed seconds of every done line, which vary from run to run.
fn mask_times(screen: &str) -> String {
    let done = regex::Regex::new(r"✓ done in \d+\.\d\ds").unwrap();
    done.replace_all(screen, "✓ done in T").into_owned()
}

#[test]
fn typed_input_gets_a_marked_answer() {
    let mut agent = Agent::start(&[], &["--profile", "reviewer", "--unknown", "x"]);
    agent.wait_tail("fake> ");
    agent.send("hi there\r");
    let screen = agent.wait_prompts(2);
    assert_eq!(
        mask_times(&screen),
        format!(
            "\x1b[?2004hcao fake agent · profile reviewer\r\ntype /exit to quit\r\n\r\n\
             fake> hi there{WORKING}● fake answer: hi there\r\n✓ done in T\r\n\r\nfake> "
        )
    );
    agent.send("/exit\r");
    assert_eq!(agent.exit_code(), 0);
    // The process may be gone before its last output is read from the pipe: wait for it.
    agent.wait_for("the goodbye", |s| {
        s.ends_with("fake> /exit\r\nbye\r\n\x1b[?2004l")
    });
}

#[test]
fn pasted_text_is_shown_answered_and_recorded_exactly() {
    let dir = scratch("paste");
    let transcript = dir.join("t.jsonl");
    let mut agent = Agent::start(
        &[("CAO_FAKE_TRANSCRIPT", transcript.to_str().unwrap())],
        &[],
    );
    agent.wait_tail("fake> ");
    let sent = "first \"quoted\" \\ line\nsecond ● é\n\nlast; -flag";
    // tmux's paste-buffer turns LF into CR; the agent turns it back.
    agent.paste(&sent.replace('\n', "\r"));
    agent.send("\r");
    let screen = agent.wait_prompts(2);
    assert_eq!(
        mask_times(&screen),
        format!(
            "{START}first \"quoted\" \\ line\r\n....  second ● é\r\n....  \r\n....  last; -flag\
             {WORKING}● fake answer: first \"quoted\" \\ line\r\n  second ● é\r\n  \r\n  last; -flag\r\n\
             ✓ done in T\r\n\r\nfake> "
        )
    );
    let recorded = std::fs::read_to_string(&transcript).unwrap();
    assert_eq!(
        recorded,
        format!("{{\"input\": {}}}\n", serde_json::to_string(sent).unwrap())
    );
    let parsed: serde_json::Value = serde_json::from_str(recorded.trim_end()).unwrap();
    assert_eq!(parsed["input"], sent);
}

#[test]
fn two_enters_submit_when_configured() {
    let mut agent = Agent::start(&[("CAO_FAKE_ENTERS", "2")], &[]);
    agent.wait_tail("fake> ");
    agent.paste("one");
    agent.send("\r");
    agent.send("x\x7f"); // any key in between resets the count
    agent.send("\r");
    agent.wait_tail("onex\r\x1b[Jfake> one");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(agent.screen(), format!("{START}onex\r\x1b[Jfake> one"));
    agent.send("\r");
    let screen = agent.wait_for("the answer", |s| {
        s.contains("✓ done") && s.ends_with("fake> ")
    });
    assert!(screen.contains("fake> one\r\n* working"), "{screen:?}");
    assert!(screen.contains("● fake answer: one\r\n"), "{screen:?}");
}

#[test]
fn empty_enter_reprints_the_prompt_and_ctrl_d_quits() {
    let mut agent = Agent::start(&[], &[]);
    agent.wait_tail("fake> ");
    agent.send("\r");
    agent.wait_tail("fake> \r\nfake> ");
    agent.send("abc\x03");
    agent.wait_tail("fake> abc\r\x1b[Jfake> ");
    agent.send("\x04");
    assert_eq!(agent.exit_code(), 0);
}

#[test]
fn fail_and_ask_directives() {
    let dir = scratch("ask");
    let transcript = dir.join("t.jsonl");
    let mut agent = Agent::start(
        &[("CAO_FAKE_TRANSCRIPT", transcript.to_str().unwrap())],
        &[],
    );
    agent.wait_tail("fake> ");
    agent.send("break [[fail]]\r");
    agent.wait_tail("✗ error: simulated failure\r\n\r\nfake> ");
    agent.send("change it [[ask]]\r");
    agent.wait_tail("? Proceed with the change? (y/n) ");
    agent.send("y\r");
    let screen = agent.wait_prompts(3);
    assert_eq!(
        mask_times(&screen),
        format!(
            "{START}break [[fail]]{WORKING}✗ error: simulated failure\r\n\r\n\
             fake> change it [[ask]]{WORKING}? Proceed with the change? (y/n) y\
             {WORKING}● fake answer: you said y\r\n✓ done in T\r\n\r\nfake> "
        )
    );
    assert_eq!(
        std::fs::read_to_string(&transcript).unwrap(),
        "{\"input\": \"break [[fail]]\"}\n{\"input\": \"change it [[ask]]\"}\n{\"input\": \"y\"}\n"
    );
}

#[test]
fn escape_and_ctrl_c_interrupt_work_and_typing_ahead_is_kept() {
    let mut agent = Agent::start(&[], &[]);
    agent.wait_tail("fake> ");
    agent.send("slow [[sleep 30]]\r");
    agent.wait_tail("* working (esc to interrupt)");
    agent.send("next\r"); // buffered, the Enter is dropped while busy
    agent.send("\x1b");
    agent.wait_tail("✗ interrupted\r\n\r\nfake> next");
    agent.send("\r");
    agent.wait_tail("fake> ");
    agent.send("again [[sleep 30]]\r");
    agent.wait_tail("* working (esc to interrupt)");
    agent.send("\x03");
    let screen = agent.wait_tail("✗ interrupted\r\n\r\nfake> ");
    assert_eq!(
        mask_times(&screen),
        format!(
            "{START}slow [[sleep 30]]{WORKING}✗ interrupted\r\n\r\nfake> next{WORKING}\
             ● fake answer: next\r\n✓ done in T\r\n\r\nfake> again [[sleep 30]]{WORKING}\
             ✗ interrupted\r\n\r\nfake> "
        )
    );
}

#[test]
fn sleep_directive_sets_the_working_time() {
    let mut agent = Agent::start(&[], &[]);
    agent.wait_tail("fake> ");
    let start = Instant::now();
    agent.send("[[sleep 0.4]]\r");
    let screen = agent.wait_prompts(2);
    assert!(start.elapsed() >= Duration::from_millis(400));
    let done = regex::Regex::new(r"✓ done in (\d+\.\d\d)s").unwrap();
    let seconds: f64 = done.captures(&screen).expect("a done line")[1]
        .parse()
        .unwrap();
    assert!(seconds >= 0.4, "{screen:?}");
}

#[test]
fn exit_directive_crashes_with_status_3() {
    let mut agent = Agent::start(&[], &[]);
    agent.wait_tail("fake> ");
    agent.send("boom [[exit]]\r");
    assert_eq!(agent.exit_code(), 3);
}

#[test]
fn startup_delay_holds_the_prompt_back() {
    let mut agent = Agent::start(&[("CAO_FAKE_STARTUP_MS", "500")], &[]);
    agent.wait_tail("\x1b[?2004h");
    agent.send("early\r"); // typed before the prompt: kept, but its Enter is dropped
    assert_eq!(agent.screen(), "\x1b[?2004h");
    agent.wait_tail("fake> early");
    let screen = agent.turn("\r");
    assert!(screen.contains("fake> early\r\n* working"), "{screen:?}");
}

#[test]
fn start_up_dialogs_come_first_and_a_double_answer_quits() {
    // Answered once each: trust (1), then bypass (2), then the prompt.
    let mut agent = Agent::start(&[("CAO_FAKE_DIALOGS", "1")], &[]);
    agent.wait_tail("Do you trust the files in this folder?\r\n\r\n 1. Yes, I trust this folder\r\n 2. No, exit\r\n\r\nPress 1 or 2\r\n");
    agent.send("1");
    agent.wait_for("the second dialog", |s| {
        s.contains("Run in bypass-permissions mode?")
    });
    agent.send("2");
    agent.wait_tail("fake> ");
    let screen = agent.turn("hello\r");
    assert!(screen.contains("fake answer: hello"), "{screen:?}");

    // The first answer pressed twice: the second press lands on the next dialog and quits.
    let mut agent = Agent::start(&[("CAO_FAKE_DIALOGS", "1")], &[]);
    agent.wait_for("the first dialog", |s| s.ends_with("Press 1 or 2\r\n"));
    agent.send("1");
    std::thread::sleep(Duration::from_millis(50));
    agent.send("1");
    assert_eq!(agent.exit_code(), 4);
    agent.wait_for("the exit notice", |s| {
        s.contains("exiting at the start-up dialog")
    });
}

/// Path of the `echo_server` example, built by `cargo test` next to the binaries.
fn echo_server() -> PathBuf {
    let path = PathBuf::from(AGENT)
        .parent()
        .unwrap()
        .join("examples")
        .join("echo_server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p cao-fake-agent` (which builds examples) or \
         `cargo build -p cao-fake-agent --examples`",
        path.display()
    );
    path
}

/// An `--mcp-config` value with the echo server under `name`, given `ECHO_SECRET`.
fn mcp_config(name: &str) -> String {
    serde_json::json!({"mcpServers": {name: {
        "command": echo_server(),
        "args": [],
        "env": {"ECHO_SECRET": "s3cret"}
    }}})
    .to_string()
}

#[test]
fn scenario_calls_tools_over_mcp() {
    let scenario = serde_json::json!({"rules": [
        {"match": "^echo (.*)$", "calls": [{"tool": "echo", "args": {"text": "<{{1}}>"}}]},
        {"match": "^add (\\d+) (\\d+)$", "calls": [
            {"server": "echo", "tool": "add", "args": {"a": 1, "b": 2}},
            {"tool": "echo", "args": {"text": "{{1}}+{{2}}"}}
        ]},
        {"match": "^secret$", "calls": [{"tool": "env", "args": {"name": "ECHO_SECRET"}}],
         "answer": "the secret is {{result}} for {{input}} ({{env:CAO_TEST_WHO}})"},
        {"match": "^broken$", "calls": [
            {"tool": "echo", "args": {"text": "ok"}},
            {"tool": "fail", "args": {"message": "bad things"}},
            {"tool": "echo", "args": {"text": "never"}}
        ]},
        {"match": "^nowhere$", "calls": [{"server": "nope", "tool": "echo", "args": {}}]},
        {"match": "^slow$", "calls": [{"tool": "sleep", "args": {"seconds": 30}}]},
    ]});
    let scenario = scenario.to_string();
    let mut agent = Agent::start(
        &[("CAO_FAKE_SCENARIO", &scenario), ("CAO_TEST_WHO", "tester")],
        &["--mcp-config", &mcp_config("echo")],
    );
    agent.wait_tail("fake> ");
    let ask = |agent: &mut Agent, input: &str, answer: &str| {
        let screen = agent.turn(&format!("{input}\r"));
        let want = format!("fake> {input}{WORKING}● {answer}\r\n✓ done in T\r\n\r\nfake> ");
        assert!(
            mask_times(&screen).ends_with(&want),
            "{screen:?}\nwanted the end: {want:?}"
        );
    };
    ask(&mut agent, "echo hi {{2}}", "called echo: <hi {{2}}>");
    ask(
        &mut agent,
        "add 4 5",
        "called add: {\"sum\":3}\r\n  called echo: 4+5",
    );
    ask(
        &mut agent,
        "secret",
        "the secret is s3cret for secret (tester)",
    );
    ask(
        &mut agent,
        "broken",
        "called echo: ok\r\n  tool fail failed: bad things",
    );
    ask(
        &mut agent,
        "nowhere",
        "tool echo failed: no MCP server named \"nope\" in --mcp-config",
    );
    ask(&mut agent, "plain", "fake answer: plain");

    // An interrupted call leaves the server usable.
    agent.send("slow\r");
    agent.wait_tail("* working (esc to interrupt)");
    std::thread::sleep(Duration::from_millis(200));
    agent.send("\x1b");
    agent.wait_tail("✗ interrupted\r\n\r\nfake> ");
    ask(&mut agent, "echo still here", "called echo: <still here>");
}

#[test]
fn unusable_server_is_reported_in_the_answer() {
    let config = serde_json::json!({"mcpServers": {"gone": {"command": "/nonexistent/server"}}});
    let scenario = r#"{"rules": [{"match": "go", "calls": [{"tool": "t"}]}]}"#;
    let mut agent = Agent::start(
        &[("CAO_FAKE_SCENARIO", scenario)],
        &["--mcp-config", &config.to_string()],
    );
    agent.wait_tail("fake> ");
    agent.send("go\r");
    let screen = agent.wait_prompts(2);
    assert!(
        screen
            .contains("● tool t failed: cannot start MCP server \"gone\" (/nonexistent/server): "),
        "{screen:?}"
    );
    assert!(screen.contains("✓ done in "));
}

#[test]
fn bad_scenario_stops_the_agent_at_start() {
    let mut agent = Agent::start(
        &[("CAO_FAKE_SCENARIO", r#"{"rules": [{"match": "("}]}"#)],
        &[],
    );
    assert_eq!(agent.exit_code(), 2);
}

/// A private tmux server for one test, killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs one tmux command on the private socket and returns its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible pane, trailing empty lines dropped.
    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "fa"])
            .trim_end()
            .to_owned()
    }

    /// Waits until the captured pane satisfies `ready`.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.capture();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; pane:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .output();
    }
}

#[test]
fn works_in_a_real_tmux_pane() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping");
        return;
    }
    let dir = scratch("tmux");
    let transcript = dir.join("t.jsonl");
    let tmux = Tmux {
        socket: format!("cao-fake-agent-test-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "fa",
        "-x",
        "120",
        "-y",
        "40",
        "-e",
        &format!("CAO_FAKE_TRANSCRIPT={}", transcript.display()),
        "-e",
        "CAO_FAKE_ENTERS=2",
        "--",
        AGENT,
        "--profile",
        "dev",
    ]);
    tmux.wait_for("the prompt", |s| s.ends_with("fake>"));
    let sent = "line one\nline \"two\"; -x\n";
    let buffer = dir.join("msg.txt");
    std::fs::write(&buffer, sent).unwrap();
    tmux.run(&["load-buffer", "-b", "fa", buffer.to_str().unwrap()]);
    tmux.run(&["paste-buffer", "-p", "-d", "-b", "fa", "-t", "fa"]);
    tmux.run(&["send-keys", "-t", "fa", "Enter"]);
    tmux.run(&["send-keys", "-t", "fa", "Enter"]);
    let screen = tmux.wait_for("the answer", |s| {
        s.ends_with("fake>") && s.contains("✓ done")
    });
    let screen = mask_times(&screen);
    assert_eq!(
        screen,
        "cao fake agent · profile dev\ntype /exit to quit\n\n\
         fake> line one\n....  line \"two\"; -x\n....\n\
         ● fake answer: line one\n  line \"two\"; -x\n\n\
         ✓ done in T\n\nfake>"
    );
    assert_eq!(
        std::fs::read_to_string(&transcript).unwrap(),
        format!("{{\"input\": {}}}\n", serde_json::to_string(sent).unwrap())
    );
    tmux.run(&["send-keys", "-t", "fa", "-l", "wait [[sleep 30]]"]);
    tmux.run(&["send-keys", "-t", "fa", "Enter", "Enter"]);
    tmux.wait_for("the working line", |s| {
        s.ends_with("* working (esc to interrupt)")
    });
    tmux.run(&["send-keys", "-t", "fa", "Escape"]);
    tmux.wait_for("the interruption", |s| {
        s.ends_with("✗ interrupted\n\nfake>")
    });
}
