//! Test harness: runs the real `cao` binary against a private tmux server (`CAO_TMUX_SOCKET`)
//! with a temporary `CAO_HOME` and working directory, and the fake agent from `tools/`.
//! Dropping the harness kills that private tmux server and nothing else.
//!
//! For the real-CLI tests: `clis` (the CLIs' binaries and throwaway homes) and `model_server`
//! (the scripted model they talk to).

pub mod clis;
pub mod model_server;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One isolated cao installation: state dir, tmux server, working dir, extra environment.
pub struct Cao {
    pub home: tempfile::TempDir,
    /// `HOME` for cao and its agents: never the real home directory.
    pub user_home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub socket: String,
    pub env: Vec<(String, String)>,
}

/// Path of the cao binary under test.
pub fn cao_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cao"))
}

impl Cao {
    /// A fresh installation with its own tmux server.
    pub fn new() -> Cao {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let socket = format!("cao-test-{}-{n}", std::process::id());
        let fake = cao_bin().with_file_name("cao-fake-agent");
        assert!(
            fake.exists(),
            "the fake agent is not built at {}; run the tests with `cargo test --workspace`",
            fake.display()
        );
        Cao {
            home: tempfile::tempdir().unwrap(),
            user_home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            socket,
            env: vec![
                ("CAO_FAKE_AGENT".into(), fake.display().to_string()),
                ("CAO_PROVIDER".into(), "fake".into()),
            ],
        }
    }

    /// Adds an environment variable for every cao command (and so every agent) from now on.
    pub fn with_env(mut self, key: &str, value: &str) -> Cao {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The environment a cao process of this installation gets.
    pub fn apply_env(&self, cmd: &mut Command) {
        for key in [
            "TMUX",
            "TMUX_PANE",
            "CAO_TERMINAL_ID",
            "CAO_PROVIDER",
            "CAO_ENABLE_WORKING_DIRECTORY",
            "CAO_ENABLE_SENDER_ID_INJECTION",
            "CAO_FAKE_SCENARIO",
            "CAO_FAKE_DELAY_MS",
            "CAO_FAKE_ENTERS",
            "CAO_FAKE_TRANSCRIPT",
            "CAO_FAKE_RECORD_LAG_MS",
            "CAO_YOLO",
        ] {
            cmd.env_remove(key);
        }
        cmd.env("CAO_HOME", self.home.path())
            .env("HOME", self.user_home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("CAO_TMUX_SOCKET", &self.socket)
            .env("CAO_LOG", "cao=debug");
        for (k, v) in &self.env {
            // An empty value unsets: e.g. `CAO_LOG` to see the default log level.
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
    }

    /// A `cao mcp-server` command with this installation's environment (plus `extra`), run
    /// in the working directory, for an rmcp client to spawn.
    pub fn mcp_server(&self, extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(cao_bin());
        cmd.arg("mcp-server").current_dir(self.work.path());
        let mut std_cmd = Command::new("true");
        self.apply_env(&mut std_cmd);
        for (k, v) in std_cmd.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// A `cao` command with this installation's environment, run in the working directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(cao_bin());
        self.apply_env(&mut cmd);
        cmd.current_dir(self.work.path()).stdin(Stdio::null());
        cmd
    }

    /// Runs `cao ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("cao runs")
    }

    /// Runs `cao ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cao {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cao ARGS`, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "cao {args:?} should have failed but printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Launches a headless fake agent with `profile` and returns its terminal id.
    pub fn launch(&self, profile: &str) -> String {
        self.launch_with(profile, &[])
    }

    /// Launches a headless fake agent with extra launch arguments.
    pub fn launch_with(&self, profile: &str, extra: &[&str]) -> String {
        let out = self.ok(&launch_args(profile, extra));
        out.split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no terminal id in {out:?}"))
            .to_string()
    }

    /// `cao list --json`.
    pub fn list(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["list", "--json"])).expect("list --json is JSON")
    }

    /// Live status of a terminal.
    pub fn status(&self, id: &str) -> String {
        self.ok(&["status", id]).trim().to_string()
    }

    /// The full scrollback of a terminal.
    pub fn screen(&self, id: &str) -> String {
        self.ok(&["output", id, "--mode", "full"])
    }

    /// Runs tmux on the private server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .envs(self.tmux_tmpdir().map(|dir| ("TMUX_TMPDIR", dir)))
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    /// The `TMUX_TMPDIR` this installation's tmux server uses, when a test gave it one.
    fn tmux_tmpdir(&self) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == "TMUX_TMPDIR")
            .map(|(_, v)| v.as_str())
    }

    /// Pids of the processes running in panes of sessions whose name starts with `prefix`.
    pub fn pane_pids(&self, prefix: &str) -> Vec<i32> {
        let out = self.tmux(&["list-panes", "-a", "-F", "#{session_name} #{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(s, _)| s.starts_with(prefix))
            .filter_map(|(_, p)| p.trim().parse().ok())
            .collect()
    }

    /// A path inside the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

impl Drop for Cao {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        // tmux leaves the socket file of a killed server behind; remove ours.
        let dir = self
            .tmux_tmpdir()
            .map(str::to_string)
            .or_else(|| std::env::var("TMUX_TMPDIR").ok())
            .unwrap_or_else(|| "/tmp".into());
        let uid = unsafe { libc::getuid() };
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.socket));
    }
}

/// The arguments of a headless `cao launch` of the fake agent with `profile`, then `extra`.
pub fn launch_args<'a>(profile: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "launch",
        "--headless",
        "--yolo",
        "--provider",
        "fake",
        "--agents",
        profile,
    ];
    args.extend(extra);
    args
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; panics with `what` then.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Whether a process is alive.
pub fn alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Inputs the fake agents recorded in a transcript file (one JSON line per submitted input).
pub fn transcript(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["input"].as_str().map(str::to_string))
        .collect()
}

/// Pids of live processes whose command line contains `needle` (read from /proc).
pub fn processes_matching(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// A long markdown answer that a screen cannot carry intact: over 100 lines with a heading,
/// bold text, a nested list, a fenced block holding `<>&|{}`, a table, a 500-character line
/// and unicode bullets. Returned byte for byte only from a CLI's own record.
pub fn markdown_answer() -> String {
    let mut text =
        String::from("## Findings for the parser\n\nThe **short** answer: it works.\n\n");
    text.push_str("- first level\n  - second level, `inline code`\n    - third level\n\n");
    text.push_str("```rust\nfn pick<T: Ord>(a: T, b: T) -> T {\n    if a > b && !(a < b) || false { a } else { b } // <>&|{}\n}\n```\n\n");
    text.push_str(
        "| column | value |\n|--------|-------|\n| alpha  | 1     |\n| beta   | 2     |\n\n",
    );
    let long: String = (0..50).map(|i| format!("word{i:03} ")).collect();
    text.push_str(long.trim_end());
    text.push_str("\n\n");
    for i in 1..=80 {
        text.push_str(&format!("• point {i}: ünïcödé → ✓ 日本語\n"));
    }
    text.push_str("\nThe last line of the answer.");
    text
}

/// Calls an MCP tool with JSON arguments; the call itself must get an answer.
pub async fn call_tool<H: rmcp::service::Service<rmcp::RoleClient>>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, H>,
    tool: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(tool.to_string()).with_arguments(arguments),
        )
        .await
        .expect("the call gets an answer")
}

/// A tool result's text content, for assertion messages.
pub fn result_text(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(&result.content).unwrap()
}

/// A git repository with one commit (`README.md`, `src/lib.rs`) in a new folder under `parent`.
pub fn git_repo(parent: &Path, name: &str) -> PathBuf {
    let repo = parent.join(name);
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
    std::fs::write(repo.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    repo
}

/// Runs git in `dir` as a test user (fixed identity, no global config) and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
