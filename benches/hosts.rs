//! `cargo bench --bench hosts`: what workers on other machines cost (`[hosts.NAME]`), through
//! a real sshd on loopback with 1, 4 and 16 simulated hosts, each its own cao installation
//! (`CAO_HOME`, `HOME`, tmux server) behind the same sshd. The release `cao` and the fake
//! agent (answering at once) on both sides; the figures are those of `docs/scaling.md`.
//!
//! Loopback hides network latency: the figures are cao's and ssh's own cost per operation
//! (process start-up on both ends, one round trip on the shared master connection). Over a
//! real link each ssh call adds one round trip.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

#[path = "common.rs"]
mod common;
// The tests' sshd harness; the bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/util/sshd.rs"]
mod sshd;

/// Handoffs per median.
const HANDOFFS: usize = 5;
/// Messages sent per host in the throughput figure.
const MESSAGES: usize = 40;

/// One simulated remote machine: its own state, home and tmux server.
struct Remote {
    home: tempfile::TempDir,
    user_home: tempfile::TempDir,
    work: tempfile::TempDir,
    socket: String,
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

struct Bench {
    cao: PathBuf,
    fake: PathBuf,
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    socket: String,
    sshd: sshd::Sshd,
    remotes: Vec<Remote>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.cao(&["shutdown", "--all"]);
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

impl Bench {
    fn new(sshd: sshd::Sshd) -> Bench {
        let cao = std::fs::canonicalize(env!("CARGO_BIN_EXE_cao")).expect("cao is built");
        let fake = common::build_fake_agent(&cao);
        Bench {
            cao,
            fake,
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            socket: format!("cao-bench-hosts-{}", std::process::id()),
            sshd,
            remotes: Vec::new(),
        }
    }

    /// Grows the config to `n` hosts, `h0`..`h{n-1}`.
    fn hosts(&mut self, n: usize) {
        while self.remotes.len() < n {
            let i = self.remotes.len();
            let remote = Remote {
                home: tempfile::tempdir().unwrap(),
                user_home: tempfile::tempdir().unwrap(),
                work: tempfile::tempdir().unwrap(),
                socket: format!("cao-bench-remote-{}-{i}", std::process::id()),
            };
            let args: Vec<String> = self
                .sshd
                .ssh_args()
                .iter()
                .map(|a| format!("{a:?}"))
                .collect();
            let table = format!(
                "\n[hosts.h{i}]\nssh = {:?}\nssh_args = [{}]\ncao = {:?}\nworkdir = {:?}\n[hosts.h{i}.env]\nCAO_HOME = {:?}\nHOME = {:?}\nCAO_TMUX_SOCKET = {:?}\nCAO_PROVIDER = \"fake\"\nCAO_FAKE_AGENT = {:?}\nCAO_FAKE_DELAY_MS = \"0\"\n",
                self.sshd.dest(),
                args.join(", "),
                self.cao.display().to_string(),
                remote.work.path().display().to_string(),
                remote.home.path().display().to_string(),
                remote.user_home.path().display().to_string(),
                remote.socket,
                self.fake.display().to_string(),
            );
            let path = self.home.path().join("config.toml");
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&table);
            std::fs::write(path, text).unwrap();
            self.remotes.push(remote);
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.cao);
        cmd.env("CAO_HOME", self.home.path())
            .env("CAO_TMUX_SOCKET", &self.socket)
            .env("CAO_PROVIDER", "fake")
            .env("CAO_FAKE_AGENT", &self.fake)
            .env("CAO_FAKE_DELAY_MS", "0")
            .env_remove("TMUX")
            .env_remove("CAO_TERMINAL_ID")
            .current_dir(self.work.path())
            .stdin(Stdio::null());
        cmd
    }

    fn cao(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("cao runs");
        assert!(
            out.status.success(),
            "cao {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median handoff time, locally or to `host`.
fn handoffs(bench: &Bench, host: Option<&str>) -> f64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut cmd = tokio::process::Command::new(&bench.cao);
    let std_cmd = bench.command();
    for (k, v) in std_cmd.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let transport = TokioChildProcess::new(cmd.configure(|c| {
        c.arg("mcp-server").current_dir(bench.work.path());
    }))
    .unwrap();
    let client = rt.block_on(().serve(transport)).expect("initialize");
    let times = (0..HANDOFFS)
        .map(|i| {
            let mut args = json!({"agent_profile": "developer", "message": format!("bench {i}")});
            if let Some(h) = host {
                args["host"] = json!(h);
            }
            let started = Instant::now();
            let r = rt
                .block_on(
                    client.call_tool(
                        CallToolRequestParams::new("handoff")
                            .with_arguments(args.as_object().unwrap().clone()),
                    ),
                )
                .expect("handoff answers");
            assert_eq!(r.is_error, Some(false), "{:?}", r.content);
            ms(started.elapsed())
        })
        .collect();
    let _ = rt.block_on(client.cancel());
    median(times)
}

fn main() {
    let Some(sshd) = sshd::Sshd::start("the hosts benchmark") else {
        return;
    };
    let mut bench = Bench::new(sshd);
    bench.hosts(1);
    let local = handoffs(&bench, None);
    let remote = handoffs(&bench, Some("h0"));
    println!("\nhandoff, fake agent answering at once (median of {HANDOFFS})");
    println!("  local              {local:8.1} ms");
    println!(
        "  to a host          {remote:8.1} ms   (+{:.1} ms through ssh)",
        remote - local
    );

    println!(
        "\n{:<6} {:>16} {:>14} {:>16} {:>18}",
        "hosts", "launch (median)", "cao list", "send, 1 host", "send, all hosts"
    );
    for n in [1, 4, 16] {
        bench.hosts(n);
        // One terminal per host, launched in parallel.
        let launches: Vec<f64> = std::thread::scope(|s| {
            let joins: Vec<_> = (0..n)
                .map(|i| {
                    let bench = &bench;
                    s.spawn(move || {
                        let started = Instant::now();
                        bench.cao(&[
                            "launch",
                            "--host",
                            &format!("h{i}"),
                            "--trust",
                            "--agents",
                            "developer",
                        ]);
                        ms(started.elapsed())
                    })
                })
                .collect();
            joins.into_iter().map(|j| j.join().unwrap()).collect()
        });
        let started = Instant::now();
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&bench.cao(&["list", "--json"])).unwrap();
        let list_ms = ms(started.elapsed());
        assert_eq!(listed.len(), n, "one terminal per host");
        let ids: Vec<String> = listed
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        // Messages per second to one host, then to every host at once.
        let started = Instant::now();
        for m in 0..MESSAGES {
            bench.cao(&["send", &ids[0], &format!("message {m}")]);
        }
        let one = MESSAGES as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        std::thread::scope(|s| {
            for id in &ids {
                let bench = &bench;
                s.spawn(move || {
                    for m in 0..MESSAGES {
                        bench.cao(&["send", id, &format!("message {m}")]);
                    }
                });
            }
        });
        let all = (MESSAGES * n) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{n:<6} {:>13.1} ms {list_ms:>11.1} ms {one:>12.1} msg/s {all:>14.1} msg/s",
            median(launches)
        );
        bench.cao(&["shutdown", "--all"]);
    }
}
