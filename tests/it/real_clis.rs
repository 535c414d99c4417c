//! End-to-end tests with the real agent CLIs (Claude Code, Codex, Gemini CLI, OpenCode,
//! Copilot CLI), run through the real `cao` binary on a private tmux server, offline against
//! the scripted model in `util/model_server.rs`. For each CLI:
//!
//! - `handoff`: a real supervisor's model calls cao's `handoff`; a real worker answers; the
//!   answer comes back to the supervisor's model as the tool result.
//! - `assign_and_replies`: a real supervisor assigns two real workers, whose models call
//!   `send_message` back; both replies reach the supervisor as new turns.
//! - `message_waits_while_busy`: a message sent to a real CLI while its model is still
//!   streaming is typed only after the answer is finished.
//! - `exact_answer`: this CLI as the worker of a supervisor running the next CLI in the ring
//!   Claude Code → Codex → Gemini CLI → OpenCode → Copilot CLI → Claude Code (the worker's
//!   profile, installed with `cao install`, names its provider) answers
//!   `crate::util::markdown_answer()`; the handoff result the supervisor's model gets carries it
//!   byte for byte with `answer_source: "record"`. Run as on a user's machine: `TERM` as tmux
//!   sets it, no `COLORTERM` (`exact_answer_gemini_cli_truecolor` once with
//!   `COLORTERM=truecolor`).
//! - `permission_answered`: a worker started without `--yolo` asks before running a shell
//!   command; its question shows in `cao list --json`, cao's `answer_user_prompt` answers
//!   it, the command runs (its output reaches the model) and the turn completes.
//!
//! `adopted_claude_code_supervisor`: a Claude Code the user started in tmux themselves, with
//! cao in its MCP config, is adopted on its first tool call; its real workers' replies are
//! typed into its pane, and a message waits while the user has text in the input box.
//!
//! A CLI whose binary is missing (its `CAO_*_BIN` variable unset and nothing on `PATH`) is
//! skipped with one line saying how to install it. `.ci/run` installs all five.
//!
//! `CAO_DRIFT=1` turns `drift_check` on: it starts every installed CLI against the scripted
//! model, walks it through the screens cao relies on, and prints a table of which status and
//! extraction expectations still hold (see README, "Supported CLIs").
//! Debugging aids: `CAO_E2E_MODEL_LOG=FILE` logs every model request, `CAO_E2E_RECORD=DIR`
//! saves the screens the drift check sees.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::Cao;
use crate::util::clis::{self, Cli};
use crate::util::model_server::{Exchange, ModelServer, RefusingProxy, Rule};

/// Bound on any single wait: real CLIs on a loaded 2-core CI machine can be slow to start.
const WAIT: Duration = Duration::from_secs(180);

/// One CLI wired to a scripted model: a cao installation whose agents run that CLI in the
/// installation's throwaway `HOME`, seeded for offline use.
struct Rig {
    /// The CLI of the terminals the rig launches itself (the supervisor's).
    cli: Cli,
    /// What failure messages call this rig: the CLI, or the worker/supervisor pair.
    label: String,
    /// Variables every cao command of the rig runs without (so no agent inherits them).
    unset: Vec<&'static str>,
    model: ModelServer,
    proxy: RefusingProxy,
    cao: Cao,
}

/// What the agents of a rig are told about colour support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColorTerm {
    /// No `COLORTERM` at all, as on most users' machines (tmux does not set it).
    Unset,
    /// `COLORTERM=truecolor`, as a truecolor terminal emulator exports it.
    Truecolor,
}

impl Rig {
    /// The rig for `cli`, or `None` (after printing why) when its binary is not installed.
    fn new(cli: Cli) -> Option<Rig> {
        let bin = cli.binary()?;
        // As on most users' machines: tmux sets TERM, nothing sets COLORTERM.
        Some(Rig::build(
            cli,
            &[(cli, bin)],
            cli.label().to_string(),
            ColorTerm::Unset,
        ))
    }

    /// A rig whose own terminals run `supervisor` and that can also run `worker` (both
    /// binaries named by their variables, both CLIs' homes seeded); `None` (after a `SKIP`
    /// line naming the missing CLI) when either is not installed.
    fn pair(supervisor: Cli, worker: Cli, colorterm: ColorTerm) -> Option<Rig> {
        let label = format!(
            "{} worker under a {} supervisor{}",
            worker.label(),
            supervisor.label(),
            match colorterm {
                ColorTerm::Truecolor => " (COLORTERM=truecolor)",
                _ => "",
            }
        );
        let mut bins = Vec::new();
        for cli in [worker, supervisor] {
            let Some(bin) = cli.binary() else {
                println!("SKIP {label}: {} is not installed", cli.label());
                return None;
            };
            bins.push((cli, bin));
        }
        Some(Rig::build(supervisor, &bins, label, colorterm))
    }

    fn build(
        cli: Cli,
        bins: &[(Cli, std::path::PathBuf)],
        label: String,
        colorterm: ColorTerm,
    ) -> Rig {
        let log = std::env::var_os("CAO_E2E_MODEL_LOG").map(std::path::PathBuf::from);
        let model = ModelServer::start(log);
        let proxy = RefusingProxy::start();
        let mut cao = Cao::new().with_env("CAO_PROVIDER", cli.provider());
        for (cli, bin) in bins {
            cao = cao.with_env(cli.bin_var(), &bin.display().to_string());
        }
        let home = cao.user_home.path().to_path_buf();
        for (k, v) in clis::environment(&home, &model.url(), &proxy.url()) {
            cao = cao.with_env(&k, &v);
        }
        let unset = match colorterm {
            // Not even from the environment the tests were started in.
            ColorTerm::Unset => vec!["COLORTERM"],
            ColorTerm::Truecolor => {
                cao = cao.with_env("COLORTERM", "truecolor");
                Vec::new()
            }
        };
        clis::seed_home(&home, cao.work.path(), &model.url());
        Rig {
            cli,
            label,
            unset,
            model,
            proxy,
            cao,
        }
    }

    /// `cao ARGS` with this rig's environment.
    fn cao_run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.cao.cmd();
        for key in &self.unset {
            cmd.env_remove(key);
        }
        cmd.args(args).output().expect("cao runs")
    }

    /// `cao ARGS`, asserted to succeed; its stdout.
    fn cao_ok(&self, args: &[&str]) -> String {
        let out = self.cao_run(args);
        assert!(
            out.status.success(),
            "{}: cao {args:?} failed: {}{}",
            self.label,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cao launch --headless --yolo` of `profile` on this CLI; returns the terminal id.
    fn launch(&self, profile: &str) -> String {
        self.launch_with(profile, &["--yolo"])
    }

    /// `cao launch --headless --trust` of `profile` on this CLI: no `--yolo`, so the CLI
    /// asks before it acts, as it does by default.
    fn launch_asking(&self, profile: &str) -> String {
        self.launch_with(profile, &["--trust"])
    }

    fn launch_with(&self, profile: &str, flags: &[&str]) -> String {
        let mut args = vec!["launch", "--headless"];
        args.extend(flags);
        args.extend(["--provider", self.cli.provider(), "--agents", profile]);
        let out = self.cao_ok(&args);
        out.split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no terminal id in {out:?}"))
            .to_string()
    }

    /// Live status of a terminal (`gone` once it has exited).
    fn status(&self, id: &str) -> String {
        let out = self.cao_run(&["status", id]);
        if out.status.success() {
            // The first line; a waiting terminal's question follows on the next.
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines().next().unwrap_or_default().trim().to_string()
        } else {
            "gone".into()
        }
    }

    /// Polls until the terminal shows one of `wanted`; returns it.
    fn wait_status(&self, id: &str, wanted: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.status(id);
            if wanted.contains(&status.as_str()) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: terminal {id} never became {wanted:?} (last: {status})",
                self.label
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Polls `cond` (bounded by [`WAIT`]).
    fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting until {what}",
                self.label
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Polls `cao output ID` until the extracted answer satisfies `ok` (a full-screen CLI can
    /// be caught between frames by any single read).
    fn wait_output(&self, id: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.cao_run(&["output", id]);
            let last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() && ok(&String::from_utf8_lossy(&out.stdout)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: unexpected answer of {id}: {last:?}",
                self.label
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the model to see a main request that satisfies `pred`.
    fn wait_model(&self, what: &str, pred: impl Fn(&Exchange) -> bool) -> Exchange {
        self.model
            .wait_for(what, WAIT, pred)
            .unwrap_or_else(|e| panic!("{}: {e}", self.label))
    }

    fn inbox(&self, id: &str) -> Vec<Value> {
        serde_json::from_str(&self.cao_ok(&["inbox", id, "--json"])).unwrap()
    }

    fn terminals(&self) -> Vec<Value> {
        serde_json::from_str(&self.cao_ok(&["list", "--json"])).expect("list --json is JSON")
    }

    /// The tmux pane of terminal `id`.
    fn pane(&self, id: &str) -> Option<String> {
        let out = self
            .cao
            .tmux(&["list-panes", "-a", "-F", "#{pane_id} #{window_name}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.ends_with(&format!("-{id}")))
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
    }

    /// The visible screen of terminal `id` (empty when it is gone).
    fn visible(&self, id: &str) -> String {
        let Some(pane) = self.pane(id) else {
            return String::new();
        };
        let out = self.cao.tmux(&["capture-pane", "-p", "-J", "-t", &pane]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// With `CAO_E2E_RECORD=DIR`, saves the visible screen of `id` as
    /// `DIR/<provider>/<name>.txt` and `.ansi` (material for recorded-screen tests).
    fn record(&self, id: &str, name: &str) {
        let Some(dir) = std::env::var_os("CAO_E2E_RECORD") else {
            return;
        };
        let Some(pane) = self.pane(id) else { return };
        let dir = std::path::Path::new(&dir).join(self.cli.provider());
        std::fs::create_dir_all(&dir).unwrap();
        for (ext, extra) in [("txt", None), ("ansi", Some("-e"))] {
            let mut args = vec!["capture-pane", "-p", "-J", "-t", &pane];
            args.extend(extra);
            let out = self.cao.tmux(&args);
            std::fs::write(dir.join(format!("{name}.{ext}")), out.stdout).unwrap();
        }
    }

    /// Everything useful after a failure: each pane's screen, the model's log, the proxy's.
    fn dump(&self) {
        let out = self
            .cao
            .tmux(&["list-panes", "-a", "-F", "#{pane_id} #{window_name}"]);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let pane = line.split_whitespace().next().unwrap_or_default();
            let screen = self.cao.tmux(&["capture-pane", "-p", "-t", pane]);
            eprintln!(
                "----- {line} -----\n{}",
                String::from_utf8_lossy(&screen.stdout).trim_end()
            );
        }
        let log =
            std::fs::read_to_string(self.cao.home.path().join("logs/cao.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        eprintln!("----- cao log (last 40 lines) -----\n{}", tail.join("\n"));
        self.dump_records();
        eprintln!("----- model -----\n{}", self.model.summary());
        eprintln!("----- proxy -----\n{:?}", self.proxy.seen());
    }

    /// Each terminal's run directory: its hook events, its typed-turn note, and the tail of
    /// the session record a `*-session.json` names (what cao read the turn's end from).
    fn dump_records(&self) {
        let cut = |line: &str| -> String {
            let short: String = line.chars().take(300).collect();
            if short.len() < line.len() {
                format!("{short}…")
            } else {
                short
            }
        };
        let tail = |path: &std::path::Path, n: usize| -> String {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..]
                .iter()
                .map(|l| cut(l))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let Ok(dirs) = std::fs::read_dir(self.cao.home.path().join("run")) else {
            return;
        };
        for dir in dirs.flatten().map(|d| d.path()).filter(|d| d.is_dir()) {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            eprintln!(
                "----- run/{} -----\n{names:?}",
                dir.file_name().unwrap().to_string_lossy()
            );
            for name in &names {
                let path = dir.join(name);
                if name == "hooks.jsonl" || name == "typed-turn.json" {
                    eprintln!("{name}:\n{}", tail(&path, 10));
                }
                if name.ends_with("-session.json")
                    && let Ok(meta) = std::fs::read_to_string(&path)
                    && let Ok(meta) = serde_json::from_str::<Value>(&meta)
                    && let Some(record) = meta["transcript"].as_str()
                {
                    eprintln!("{record} (last 25 lines):\n{}", tail(record.as_ref(), 25));
                }
            }
        }
    }

    /// Runs a scenario; on failure prints the rig's state before failing the test.
    fn run(self, scenario: impl FnOnce(&Rig)) {
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&self)));
        if let Err(panic) = result {
            self.dump();
            std::panic::resume_unwind(panic);
        }
        println!(
            "{} passed in {:.1}s",
            self.label,
            started.elapsed().as_secs_f64()
        );
    }
}

impl Drop for Rig {
    /// Ends everything this rig started, failed test or not: cao's shutdown first (it exits
    /// the agents), then any process still carrying this installation's `CAO_HOME` (Gemini
    /// CLI, for one, outlives a killed tmux server). The harness then kills the tmux server.
    fn drop(&mut self) {
        let _ = self.cao_run(&["shutdown", "--all"]);
        let marker = format!("CAO_HOME={}", self.cao.home.path().display());
        let me = std::process::id() as i32;
        for pid in processes_with_env(&marker) {
            if pid != me {
                // SAFETY: plain kill(2) on a pid we just found running with our CAO_HOME.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Pids of live processes whose environment holds the `KEY=value` entry `entry`.
fn processes_with_env(entry: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == entry.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Whether a tool result (as the CLI passed it back to the model: raw, or escaped inside a
/// wrapper such as Gemini's `{"output": "..."}`) reports `"success": true`.
fn succeeded(result: &str) -> bool {
    let flat: String = result
        .chars()
        .filter(|c| *c != '\\' && !c.is_whitespace())
        .collect();
    flat.contains("\"success\":true")
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The worker's answer: several paragraphs and a list, so a truncated extraction shows.
const WORKER_ANSWER: &str = "The magic word is PAPAYA-7.\n\nI checked two places:\n\n- the README\n- the config file\n\nBoth agree, and this last paragraph ends the answer.";

fn handoff(cli: Cli) {
    let Some(rig) = Rig::new(cli) else { return };
    rig.run(|rig| {
        rig.model.script(
            Rule::when("E2E-HANDOFF-TASK")
                .call(
                    "handoff",
                    json!({"agent_profile": "developer", "message": "E2E-WORKER-TASK: find the magic word", "timeout": 300}),
                )
                .say("SUPERVISOR-DONE: the worker found it."),
        );
        rig.model
            .script(Rule::when("E2E-WORKER-TASK").say(WORKER_ANSWER));
        let sup = rig.launch("code_supervisor");
        rig.cao.ok(&[
            "send",
            &sup,
            "E2E-HANDOFF-TASK: ask a developer for the magic word",
        ]);

        let back = rig.wait_model("the handoff's result", |x| {
            x.user_text.contains("E2E-HANDOFF-TASK") && !x.tool_results.is_empty()
        });
        let result = &back.tool_results[0];
        assert!(succeeded(result), "the handoff failed: {result}");
        assert!(
            result.contains("PAPAYA-7") && result.contains("this last paragraph ends the answer"),
            "the handoff result lacks the worker's whole answer: {result}"
        );
        let worker_turns = rig
            .model
            .exchanges()
            .iter()
            .filter(|x| x.user_text.contains("E2E-WORKER-TASK"))
            .count();
        assert_eq!(worker_turns, 1, "the worker's task was typed {worker_turns} times");
        rig.wait_status(&sup, &["completed"]);
        rig.wait_output(&sup, |out| out.contains("SUPERVISOR-DONE"));
        // The worker was closed by the handoff.
        let left: Vec<String> = rig
            .terminals()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(left, vec![sup.clone()]);
    });
}

/// The supervisor of `worker` in [`exact_answer`]: the next CLI in the ring
/// Claude Code → Codex → Gemini CLI → OpenCode → Copilot CLI → Claude Code, so each CLI is
/// once the worker and once the supervisor, never of itself.
fn ring_supervisor(worker: Cli) -> Cli {
    let at = Cli::ALL.iter().position(|c| *c == worker).unwrap();
    Cli::ALL[(at + 1) % Cli::ALL.len()]
}

/// The handoff result object (the one with `success` and `output`) inside a tool result as
/// a CLI passed it to its model: raw JSON, JSON wrapped in the CLI's own envelope, or JSON
/// escaped into a string of that envelope (Gemini's `{"output": "..."}`), nested any depth.
fn handoff_object(raw: &str) -> Option<serde_json::Map<String, Value>> {
    fn within(v: &Value) -> Option<serde_json::Map<String, Value>> {
        match v {
            Value::Object(m) if m.contains_key("success") && m.contains_key("output") => {
                Some(m.clone())
            }
            Value::Object(m) => m.values().find_map(within),
            Value::Array(a) => a.iter().find_map(within),
            Value::String(s) => json_in(s).iter().find_map(within),
            _ => None,
        }
    }
    json_in(raw).iter().find_map(within)
}

/// The JSON values a text is or starts with at one of its `{`s (a CLI may put a prefix
/// such as a tool name before the JSON).
fn json_in(text: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return vec![v];
    }
    text.match_indices('{')
        .filter_map(|(at, _)| {
            serde_json::Deserializer::from_str(&text[at..])
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .filter(Value::is_object)
        .collect()
}

/// Where `got` first differs from `want`, in a few lines: the line number, both lines (cut
/// to the neighbourhood of the first differing character) and both sizes.
fn first_difference(want: &str, got: &str) -> String {
    let sizes = format!(
        "want {} bytes in {} lines, got {} bytes in {} lines",
        want.len(),
        want.split('\n').count(),
        got.len(),
        got.split('\n').count()
    );
    let (w, g): (Vec<&str>, Vec<&str>) = (want.split('\n').collect(), got.split('\n').collect());
    let Some(n) = (0..w.len().max(g.len())).find(|&i| w.get(i) != g.get(i)) else {
        return format!("identical ({sizes})");
    };
    let excerpt = |line: Option<&&str>| -> String {
        let Some(line) = line else {
            return "(no such line)".into();
        };
        let other = if w.get(n) == Some(line) {
            g.get(n)
        } else {
            w.get(n)
        };
        let col = line
            .chars()
            .zip(other.map_or("", |o| *o).chars())
            .take_while(|(a, b)| a == b)
            .count();
        let from = col.saturating_sub(40);
        let cut: String = line.chars().skip(from).take(120).collect();
        let more = line.chars().count() > from + 120;
        format!(
            "{}{cut:?}{} (column {})",
            if from > 0 { "…" } else { "" },
            if more { "…" } else { "" },
            col + 1
        )
    };
    format!(
        "first difference at line {}:\n  want: {}\n  got:  {}\n  ({sizes})",
        n + 1,
        excerpt(w.get(n)),
        excerpt(g.get(n))
    )
}

/// The initial environment of the CLI running in terminal `id` (its pane's process, which
/// `cao _exec` became), or `None` when the terminal is gone.
fn pane_env(rig: &Rig, id: &str) -> Option<Vec<(String, String)>> {
    let out = rig
        .cao
        .tmux(&["list-panes", "-a", "-F", "#{pane_pid} #{window_name}"]);
    let pid = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with(&format!("-{id}")))?
        .split_whitespace()
        .next()?
        .to_string();
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        env.split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Checks that a CLI got the terminal environment of a user's machine: `TERM` as tmux sets
/// it for its panes, `COLORTERM` only in the truecolor case. Returns `TERM=… COLORTERM=…`.
fn check_terminal_env(env: &[(String, String)], colorterm: ColorTerm, who: &str) -> String {
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let term = get("TERM");
    assert!(
        term.is_some_and(|t| t.starts_with("screen") || t.starts_with("tmux")),
        "{who} runs with TERM={term:?}, not the one tmux sets for its panes"
    );
    let want = match colorterm {
        ColorTerm::Truecolor => Some("truecolor"),
        _ => None,
    };
    assert_eq!(get("COLORTERM"), want, "{who}'s COLORTERM");
    format!(
        "TERM={} COLORTERM={}",
        term.unwrap(),
        want.unwrap_or("(unset)")
    )
}

/// `worker` answers a supervisor of another CLI (see [`ring_supervisor`]) with
/// [`crate::util::markdown_answer`] (over 100 lines: a heading, a fenced block holding `<>&|{}`,
/// a table, a 500-character line, unicode); the handoff result the supervisor's model gets
/// must carry that text byte for byte, read from the worker's record.
fn exact_answer(worker: Cli, colorterm: ColorTerm) {
    let supervisor = ring_supervisor(worker);
    let Some(rig) = Rig::pair(supervisor, worker, colorterm) else {
        return;
    };
    rig.run(|rig| {
        let answer = crate::util::markdown_answer();
        assert!(answer.lines().count() >= 100);
        // The worker's profile, installed the way a user would: its provider is the worker CLI.
        let profile = rig.cao.path("exact-worker.md");
        std::fs::write(
            &profile,
            format!(
                "---\nname: exact_worker\ndescription: Answers one question in full\nprovider: {}\n---\nAnswer the question you are given, completely.\n",
                worker.provider()
            ),
        )
        .unwrap();
        rig.cao_ok(&["install", "--yes", &profile.display().to_string()]);

        rig.model.script(
            Rule::when("E2E-EXACT-TASK")
                .call(
                    "handoff",
                    json!({"agent_profile": "exact_worker", "message": "E2E-EXACT-WORKER: write up the findings", "timeout": 300}),
                )
                .say("SUPERVISOR-DONE: got the findings."),
        );
        rig.model
            .script(Rule::when("E2E-EXACT-WORKER").say(&answer));
        let sup = rig.launch("code_supervisor");
        let sup_env = check_terminal_env(
            &pane_env(rig, &sup).expect("the supervisor is running"),
            colorterm,
            "the supervisor",
        );
        rig.cao_ok(&["send", &sup, "E2E-EXACT-TASK: ask a worker for the findings"]);

        let returned = |x: &Exchange| {
            x.user_text.contains("E2E-EXACT-TASK") && !x.tool_results.is_empty()
        };
        // While the worker's answer streams (about 1.5 s), its terminal is still there. (A
        // handoff that fails before its worker asks the model skips to the result.)
        let first = rig.wait_model("the worker's task (or the handoff's result)", |x| {
            x.user_text.contains("E2E-EXACT-WORKER") || returned(x)
        });
        let worker_env = rig
            .terminals()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .find(|id| *id != sup)
            .and_then(|id| pane_env(rig, id))
            .map_or("not sampled (already closed)".to_string(), |env| {
                check_terminal_env(&env, colorterm, "the worker")
            });
        let back = if returned(&first) {
            first
        } else {
            rig.wait_model("the handoff's result", returned)
        };
        let raw = &back.tool_results[0];
        let cut: String = raw.chars().take(600).collect();
        let result = handoff_object(raw).unwrap_or_else(|| {
            panic!("no handoff result object (with success and output) in the tool result: {cut}")
        });
        assert_eq!(
            result.get("success"),
            Some(&Value::Bool(true)),
            "the handoff failed: {}",
            result.get("message").unwrap_or(&Value::Null)
        );
        let output = result.get("output").and_then(Value::as_str).unwrap_or_default();
        let source = result.get("answer_source").unwrap_or(&Value::Null);
        let mut problems = Vec::new();
        if source != "record" {
            problems.push(format!("answer_source is {source}, not \"record\""));
        }
        if output != answer {
            problems.push(format!(
                "the output is not the scripted text: {}",
                first_difference(&answer, output)
            ));
        }
        assert!(problems.is_empty(), "{}", problems.join("; "));
        println!(
            "{}: output byte-exact ({} bytes), answer_source record, usage {}; supervisor {sup_env}, worker {worker_env}",
            rig.label,
            output.len(),
            result.get("usage").unwrap_or(&Value::Null)
        );
    });
}

/// The decoding and diffing [`exact_answer`] relies on, offline.
#[test]
fn handoff_result_decoding() {
    let answer = crate::util::markdown_answer();
    let raw = json!({"success": true, "output": answer, "answer_source": "record"}).to_string();
    let escaped = json!({"output": raw}).to_string();
    for wrapped in [
        raw.clone(),
        escaped.clone(),
        json!({"output": escaped}).to_string(),
        json!([{"type": "text", "text": raw}]).to_string(),
        format!("cao_handoff returned: {raw}"),
    ] {
        let found = handoff_object(&wrapped).unwrap_or_else(|| panic!("not found in {wrapped}"));
        assert_eq!(found["output"], answer.as_str());
        assert_eq!(found["answer_source"], "record");
    }
    assert!(handoff_object(r#"{"output": "no result here"}"#).is_none());

    assert!(first_difference(&answer, &answer).starts_with("identical"));
    let changed = answer.replacen("point 42:", "point 42 :", 1);
    let diff = first_difference(&answer, &changed);
    assert!(
        diff.contains("line 63:") && diff.contains("column 11"),
        "{diff}"
    );
    let diff = first_difference(&answer, &format!("{answer}\n"));
    assert!(diff.contains("line 104:"), "{diff}");
}

/// The scripted model with MCP tools deferred, as Claude Code 2.1.3xx sends them (the request
/// shapes are trimmed from a real 2.1.332 session): it first loads the scripted tool with
/// `ToolSearch`, then calls it once the tool is loaded, and the `ToolSearch` round is not a
/// step of the script. Offline.
#[test]
fn scripted_model_loads_deferred_tools() {
    use std::io::{BufRead, BufReader, Read, Write};
    let model = ModelServer::start(None);
    model.script(
        Rule::when("E2E-DEFERRED")
            .call("list_profiles", json!({}))
            .say("Listed: {result}"),
    );
    let post = |body: &Value| -> Value {
        let body = body.to_string();
        let addr = model.url().trim_start_matches("http://").to_string();
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "POST /v1/messages?beta=true HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reader = BufReader::new(conn);
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    };
    let search = json!({"name": "ToolSearch", "description": "Fetches full schema definitions for deferred tools",
        "input_schema": {"type": "object", "required": ["query"], "additionalProperties": false, "properties": {
            "query": {"type": "string", "description": "Query to find deferred tools. Use \"select:<tool_name>\" for direct selection, or keywords to search."},
            "max_results": {"type": "number", "default": 5}}}});
    let placeholder = json!({"name": "DeferredToolPlaceholder", "defer_loading": true, "input_schema": {"type": "object", "properties": {}}});
    let listed = json!({"role": "system", "content": [{"type": "text", "text":
        "The following deferred tools are now available via ToolSearch. Their schemas are NOT loaded:\nmcp__cao__handoff\nmcp__cao__list_profiles"}]});
    let user =
        json!({"role": "user", "content": [{"type": "text", "text": "E2E-DEFERRED: list them"}]});
    let request = |tools: Vec<Value>, messages: Vec<Value>| json!({"model": "mock", "stream": false, "tools": tools, "messages": messages});
    let tool_use = |reply: &Value| reply["content"][0].clone();

    // First request: only the names; the model loads the tool.
    let first = post(&request(
        vec![search.clone(), placeholder.clone()],
        vec![user.clone(), listed.clone()],
    ));
    let call = tool_use(&first);
    assert_eq!(call["name"], "ToolSearch", "{first}");
    assert_eq!(
        call["input"],
        json!({"query": "select:mcp__cao__list_profiles"})
    );

    // Second: the tool came back as a reference and is in the list, deferred: now it is called.
    let mut messages = vec![
        user.clone(),
        listed.clone(),
        json!({"role": "assistant", "content": [call.clone()]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
            "content": [{"type": "tool_reference", "tool_name": "mcp__cao__list_profiles"}]}]}),
    ];
    let deferred = json!({"name": "mcp__cao__list_profiles", "defer_loading": true,
        "input_schema": {"type": "object", "properties": {}}});
    let tools = vec![search, placeholder, deferred];
    let second = post(&request(tools.clone(), messages.clone()));
    let call = tool_use(&second);
    assert_eq!(call["name"], "mcp__cao__list_profiles", "{second}");

    // Third: the tool's result is the script's first result, the ToolSearch round is not.
    messages.push(json!({"role": "assistant", "content": [call.clone()]}));
    messages.push(json!({"role": "user", "content": [{"type": "tool_result",
        "tool_use_id": call["id"], "content": "developer, reviewer"}]}));
    let third = post(&request(tools, messages));
    assert_eq!(
        third["content"][0]["text"], "Listed: developer, reviewer",
        "{third}"
    );
    let served: Vec<String> = model.exchanges().into_iter().map(|x| x.served).collect();
    assert!(served[0].starts_with("ToolSearch "), "{served:?}");
}

fn assign_and_replies(cli: Cli) {
    let Some(rig) = Rig::new(cli) else { return };
    rig.run(|rig| {
        let sup = rig.launch("code_supervisor");
        let task = |letter: &str| {
            json!({"agent_profile": "developer",
                   "message": format!("E2E-REPORT-{letter}: do part {letter}, then report to {sup}")})
        };
        rig.model.script(
            Rule::when("E2E-ASSIGN-TASK")
                .call("assign", task("A"))
                .call("assign", task("B"))
                .say("Both workers are on it."),
        );
        for letter in ["A", "B"] {
            rig.model.script(
                Rule::when(&format!("E2E-REPORT-{letter}"))
                    .call(
                        "send_message",
                        json!({"receiver_id": sup, "message": format!("E2E-REPLY-{letter}: part {letter} is done")}),
                    )
                    .say(&format!("Reported part {letter}.")),
            );
        }
        rig.model
            .script(Rule::when("E2E-REPLY-").say("Thanks, noted."));
        rig.cao
            .ok(&["send", &sup, "E2E-ASSIGN-TASK: split the work in two"]);
        let assigned = rig.wait_model("both assign results", |x| {
            x.user_text.contains("E2E-ASSIGN-TASK") && x.tool_results.len() == 2
        });
        for result in &assigned.tool_results {
            assert!(succeeded(result), "assign failed: {result}");
        }

        for letter in ["A", "B"] {
            let reply = format!("E2E-REPLY-{letter}");
            rig.wait_model(&format!("{reply} as the supervisor's turn"), |x| {
                x.user_text.contains(&reply) && !x.user_text.contains("E2E-REPORT")
            });
        }
        // The typing is recorded right after the paste, a moment after the model may see it.
        rig.wait_until("both replies marked delivered", || {
            rig.inbox(&sup)
                .iter()
                .filter(|m| m["body"].as_str().unwrap_or("").starts_with("E2E-REPLY-"))
                .all(|m| m["status"] == "delivered")
        });
        let inbox = rig.inbox(&sup);
        let replies: Vec<&Value> = inbox
            .iter()
            .filter(|m| m["body"].as_str().unwrap_or("").starts_with("E2E-REPLY-"))
            .collect();
        assert_eq!(replies.len(), 2, "supervisor inbox: {inbox:#?}");
        for m in &replies {
            assert_eq!(m["status"], "delivered", "{m:#}");
            assert_ne!(m["sender_id"], "user", "{m:#}");
        }
        // Each reply reached the supervisor's model exactly once.
        for letter in ["A", "B"] {
            let reply = format!("E2E-REPLY-{letter}");
            let turns: Vec<usize> = rig
                .model
                .exchanges()
                .iter()
                .filter(|x| x.user_text.contains(&reply) && x.tool_results.is_empty())
                .map(|x| x.seq)
                .collect();
            assert_eq!(turns.len(), 1, "{reply} typed {} times", turns.len());
        }
        rig.wait_status(&sup, &["completed"]);
    });
}

fn message_waits_while_busy(cli: Cli) {
    let Some(rig) = Rig::new(cli) else { return };
    rig.run(|rig| {
        let slow: String = (1..=12)
            .map(|i| format!("Slow line {i} of the long answer."))
            .collect::<Vec<_>>()
            .join("\n\n");
        rig.model.script(
            Rule::when("E2E-SLOW-TASK")
                .say(&slow)
                .paced(Duration::from_millis(200), 6),
        );
        rig.model
            .script(Rule::when("E2E-FOLLOW-UP").say("Follow-up answered."));
        let id = rig.launch("developer");
        rig.cao.ok(&["send", &id, "E2E-SLOW-TASK: answer slowly"]);
        rig.wait_model("the slow task", |x| x.user_text.contains("E2E-SLOW-TASK"));
        rig.wait_status(&id, &["processing"]);

        rig.cao.ok(&["send", &id, "E2E-FOLLOW-UP: one more thing"]);
        let follow_up = |rig: &Rig| -> Value {
            rig.inbox(&id)
                .into_iter()
                .find(|m| {
                    m["body"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("E2E-FOLLOW-UP")
                })
                .expect("the follow-up is in the inbox")
        };
        // While the answer streams, the message waits.
        let mut checks = 0;
        loop {
            let slow_turn = rig
                .model
                .exchanges()
                .into_iter()
                .find(|x| x.user_text.contains("E2E-SLOW-TASK"))
                .unwrap();
            if slow_turn.finished.is_some() {
                break;
            }
            let m = follow_up(rig);
            assert_eq!(
                m["status"], "pending",
                "typed while the model was still answering: {m:#}"
            );
            checks += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            checks > 0,
            "the slow answer finished before it could be checked"
        );

        let next = rig.wait_model("the follow-up as its own turn", |x| {
            x.user_text.contains("E2E-FOLLOW-UP")
        });
        let slow_turn = rig
            .model
            .exchanges()
            .into_iter()
            .find(|x| x.user_text.contains("E2E-SLOW-TASK"))
            .unwrap();
        assert!(slow_turn.completed, "the slow answer was cut off");
        let finished = slow_turn.finished.unwrap();
        assert!(
            next.received >= finished,
            "the follow-up overlapped the slow answer"
        );
        assert!(
            !next.user_text.contains("E2E-SLOW-TASK"),
            "the follow-up was merged into the slow turn: {:?}",
            next.user_text
        );
        let m = follow_up(rig);
        assert_eq!(m["status"], "delivered", "{m:#}");
        assert!(m["updated_at"].as_i64().unwrap() >= ms(finished));
        rig.wait_status(&id, &["completed"]);
        rig.wait_output(&id, |out| out.trim() == "Follow-up answered.");
    });
}

/// The CLI's own tool that asks its user first under the CLI's default settings, called so
/// that its result proves it ran (`printf` prints `PERM-42`, or the file read holds it)
/// and, for a command, leaves `proof` behind. `proof` lies outside the worker's folder, which
/// is what makes OpenCode ask (it allows commands inside by default).
fn permission_calls(cli: Cli, proof: &std::path::Path) -> Vec<(&'static str, Value)> {
    // No `$(...)`: Gemini CLI refuses any command substitution.
    let command = format!("touch {} && printf 'PERM-%d\\n' 42", proof.display());
    let why = "Create the proof file";
    match cli {
        Cli::Claude => vec![("Bash", json!({"command": command, "description": why}))],
        Cli::Gemini => vec![(
            "run_shell_command",
            json!({"command": command, "description": why}),
        )],
        Cli::Copilot => vec![("bash", json!({"command": command, "description": why}))],
        // Reading a file outside the folder is OpenCode's `external_directory` question.
        Cli::OpenCode => vec![("read", json!({"filePath": proof.display().to_string()}))],
        // Asking for the sandbox to be lifted is what makes Codex ask its user.
        Cli::Codex => vec![
            (
                "shell_command",
                json!({"command": command, "sandbox_permissions": "require_escalated", "justification": why}),
            ),
            (
                "exec_command",
                json!({"cmd": command, "sandbox_permissions": "require_escalated", "justification": why}),
            ),
            (
                "shell",
                json!({"command": ["bash", "-lc", command], "sandbox_permissions": "require_escalated", "justification": why}),
            ),
        ],
    }
}

/// A worker started without `--yolo` asks before it runs a shell command; the question shows
/// in `list_terminals`, `answer_user_prompt` answers it, the command runs and the turn ends.
fn permission_answered(cli: Cli) {
    let Some(rig) = Rig::new(cli) else { return };
    clis::default_permissions(rig.cao.user_home.path());
    rig.run(|rig| {
        let proof = rig.cao.user_home.path().join("perm-proof.txt");
        if cli == Cli::OpenCode {
            std::fs::write(&proof, "PERM-42\n").unwrap();
        }
        rig.model.script(
            Rule::when("E2E-PERM-TASK")
                .native(&permission_calls(cli, &proof))
                .say("PERM-DONE: the tool gave {result}"),
        );
        let id = rig.launch_asking("developer");
        rig.cao
            .ok(&["send", &id, "E2E-PERM-TASK: create the proof file"]);
        rig.wait_status(&id, &["waiting_user_answer"]);
        rig.record(&id, "50-permission");
        let listed = rig
            .terminals()
            .into_iter()
            .find(|t| t["id"] == id.as_str())
            .expect("the worker is listed");
        let question = listed["question"].as_str().unwrap_or_default().to_string();
        assert!(
            !question.is_empty(),
            "list_terminals does not show what the worker asks: {listed:#}"
        );
        assert!(
            rig.model
                .exchanges()
                .iter()
                .all(|x| !x.user_text.contains("E2E-PERM-TASK") || x.tool_results.is_empty()),
            "the tool ran before it was allowed"
        );

        let mcp = DriftMcp::connect(rig).unwrap_or_else(|e| panic!("{e}"));
        // The second choice (every CLI's "allow, and do not ask again" or "for this
        // session"): reaching it takes the arrow keys, not just Enter.
        let answered = mcp
            .call(
                "answer_user_prompt",
                json!({"terminal_id": id, "answer": "2"}),
            )
            .unwrap_or_else(|e| panic!("answer_user_prompt: {e}"));
        assert!(
            answered["answered"]
                .as_str()
                .is_some_and(|a| a.starts_with("2. ")),
            "answer_user_prompt did not pick the second choice: {answered}"
        );
        rig.record(&id, "51-answered");
        // A choice may lead to a second question (OpenCode confirms "Allow always"): the
        // result names it, and it is answered the same way.
        let mut follow_ups = Vec::new();
        let mut next = answered["next_question"].clone();
        while next.is_string() {
            assert!(
                follow_ups.len() < 2,
                "questions without end: {follow_ups:?}"
            );
            let again = mcp
                .call(
                    "answer_user_prompt",
                    json!({"terminal_id": id, "answer": "yes"}),
                )
                .unwrap_or_else(|e| panic!("answer_user_prompt on {next}: {e}"));
            next = again["next_question"].clone();
            follow_ups.push(again);
        }
        rig.record(&id, "52-after-follow-ups");
        let back = rig.wait_model("the command's output", |x| {
            x.user_text.contains("E2E-PERM-TASK") && !x.tool_results.is_empty()
        });
        assert!(
            back.tool_results[0].contains("PERM-42"),
            "the tool did not run after answer_user_prompt {answered}: the model got {:?}",
            back.tool_results
        );
        assert!(proof.exists(), "the command's file is missing");
        eprintln!(
            "{}: asked {question:?}; answered {answered}; then {follow_ups:?}",
            rig.label
        );
        rig.wait_status(&id, &["completed"]);
        rig.wait_output(&id, |out| out.contains("PERM-DONE"));
        // Nothing is waiting any more: a second answer types nothing.
        let again = mcp.call(
            "answer_user_prompt",
            json!({"terminal_id": id, "answer": "yes"}),
        );
        assert!(
            again.as_ref().is_err_and(|e| e.contains("not waiting")),
            "a second answer was not refused: {again:?}"
        );
    });
}

macro_rules! real_cli_tests {
    ($($module:ident => $cli:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn handoff() {
                super::handoff($cli);
            }

            #[test]
            fn assign_and_replies() {
                super::assign_and_replies($cli);
            }

            #[test]
            fn message_waits_while_busy() {
                super::message_waits_while_busy($cli);
            }

            #[test]
            fn permission_answered() {
                super::permission_answered($cli);
            }

            /// This CLI as the worker of the next CLI in the ring, without `COLORTERM`.
            #[test]
            fn exact_answer() {
                super::exact_answer($cli, ColorTerm::Unset);
            }
        }
    )*};
}

real_cli_tests!(
    claude_code => Cli::Claude,
    codex => Cli::Codex,
    gemini_cli => Cli::Gemini,
    opencode => Cli::OpenCode,
    copilot_cli => Cli::Copilot,
);

/// The Gemini CLI worker's exact answer once more with `COLORTERM=truecolor`: the answer must
/// not depend on how colourful the screen is.
#[test]
fn exact_answer_gemini_cli_truecolor() {
    exact_answer(Cli::Gemini, ColorTerm::Truecolor);
}

// ---------------------------------------------------------------------------------------
// Drift check
// ---------------------------------------------------------------------------------------

/// A plain multi-paragraph answer: what extraction must return exactly.
const DRIFT_ANSWER: &str = "Drift check answer, first paragraph.\n\nSecond paragraph, still the same answer.\n\nThird and last paragraph.";

/// One expectation about a CLI's screens and what became of it.
struct Check {
    name: &'static str,
    outcome: Result<(), String>,
}

/// Polls the visible screen through the provider until `want` holds on two reads in a row
/// (a CLI may repaint its last line just after its footer settles); `Err` with the last
/// status seen (and the screen recorded as `name-wrong`) on timeout.
fn until_status(
    rig: &Rig,
    id: &str,
    name: &str,
    timeout: Duration,
    want: &[cao::providers::Status],
) -> Result<(), String> {
    let provider = cao::providers::get(rig.cli.provider()).unwrap();
    let deadline = Instant::now() + timeout;
    let mut seen = false;
    loop {
        let screen = rig.visible(id);
        let status = provider.status(&screen);
        if want.contains(&status) {
            if seen {
                rig.record(id, name);
                return Ok(());
            }
            seen = true;
            std::thread::sleep(Duration::from_millis(250));
            continue;
        }
        seen = false;
        if Instant::now() >= deadline {
            rig.record(id, &format!("{name}-wrong"));
            return Err(format!("status {status} after {timeout:?}, want {want:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cao output ID` gives `want` within a few seconds (one read can catch a frame mid-paint).
fn extracts(rig: &Rig, id: &str, want: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = rig.cao.run(&["output", id]);
        let got = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        if got == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            rig.record(id, "extract-wrong");
            return Err(format!(
                "extracted {got:?}{}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sends `text` with `cao send` and waits until the model sees it.
fn drift_send(rig: &Rig, id: &str, text: &str, marker: &str) -> Result<Exchange, String> {
    rig.cao.ok(&["send", id, text]);
    rig.model.wait_for(marker, Duration::from_secs(60), |x| {
        x.user_text.contains(marker)
    })
}

/// Every row of the drift table, in order: one that [`drift_one`] did not reach (an earlier
/// step failed) is listed as not evaluated rather than left out.
const DRIFT_EXPECTATIONS: &[&str] = &[
    "starts idle",
    "busy while streaming",
    "completed after the answer",
    "extracts the whole answer",
    "answer from the record",
    "usage after a turn",
    "tool call, then answer",
    "model error shows as error",
    "next turn after an error",
    "completed only after the end",
    "markdown answer byte-exact",
    "interrupt returns to the prompt",
    "exit command quits",
];

/// How an outcome that could not be evaluated starts: shown as `NOT EVALUATED`, never `ok`.
const NOT_EVALUATED: &str = "not evaluated: ";

fn not_evaluated(why: impl std::fmt::Display) -> Result<(), String> {
    Err(format!("{NOT_EVALUATED}{why}"))
}

/// An MCP client of the rig's `cao mcp-server`, for what only tool results carry
/// (`answer_source`, and status and answer read in one call).
struct DriftMcp {
    client: Option<rmcp::service::RunningService<rmcp::RoleClient, ()>>,
    rt: tokio::runtime::Runtime,
}

impl DriftMcp {
    fn connect(rig: &Rig) -> Result<DriftMcp, String> {
        use rmcp::ServiceExt;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("no tokio runtime: {e}"))?;
        let client = rt.block_on(async {
            let transport = rmcp::transport::TokioChildProcess::new(rig.cao.mcp_server(&[]))
                .map_err(|e| format!("cao mcp-server does not start: {e}"))?;
            tokio::time::timeout(Duration::from_secs(30), ().serve(transport))
                .await
                .map_err(|_| "cao mcp-server did not initialize within 30s".to_string())?
                .map_err(|e| format!("MCP initialize failed: {e}"))
        })?;
        Ok(DriftMcp {
            client: Some(client),
            rt,
        })
    }

    /// The structured result of `get_terminal_output` (mode `last`) for `id`.
    fn output(&self, id: &str) -> Result<Value, String> {
        self.call("get_terminal_output", json!({"terminal_id": id}))
    }

    /// The structured result of cao's tool `tool`; `Err` with the tool's error text.
    fn call(&self, tool: &str, args: Value) -> Result<Value, String> {
        let client = self.client.as_ref().expect("connected");
        let args = args.as_object().expect("arguments are an object").clone();
        self.rt.block_on(async {
            let call = client.call_tool(
                rmcp::model::CallToolRequestParams::new(tool.to_string()).with_arguments(args),
            );
            let result = tokio::time::timeout(Duration::from_secs(30), call)
                .await
                .map_err(|_| format!("{tool} took over 30s"))?
                .map_err(|e| format!("{tool} failed: {e}"))?;
            if result.is_error == Some(true) {
                return Err(format!("{tool}: {:?}", result.content));
            }
            result
                .structured_content
                .ok_or_else(|| format!("{tool} has no structured result"))
        })
    }
}

impl Drop for DriftMcp {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.cancel()).await
            });
        }
    }
}

/// Why cao last read terminal `id`'s answer from the screen, from its log.
fn screen_reason(rig: &Rig, id: &str) -> String {
    let log = std::fs::read_to_string(rig.cao.home.path().join("logs/cao.log")).unwrap_or_default();
    log.lines()
        .rev()
        .find(|l| l.contains("answer read from the screen") && l.contains(id))
        .and_then(|l| l.split("answer read from the screen").nth(1))
        .map_or("the log does not say why".into(), |why| {
            format!("\"answer read from the screen{}\"", why.trim_end())
        })
}

/// What a `get_terminal_output` result that is not `want` from the record got wrong.
fn not_from_record(rig: &Rig, id: &str, result: &Value, want: &str) -> String {
    let got = result["output"].as_str().unwrap_or_default();
    match result["answer_source"].as_str() {
        Some("record") => format!(
            "the record's answer is wrong: {}",
            first_difference(want, got)
        ),
        source => format!(
            "answer_source {source:?} ({}), output {}",
            screen_reason(rig, id),
            if got == want { "exact" } else { "not exact" }
        ),
    }
}

/// (a) After an answered turn, `get_terminal_output` reads `want` from the record.
fn from_record(rig: &Rig, mcp: &DriftMcp, id: &str, want: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = mcp.output(id)?;
        if result["answer_source"] == "record" && result["output"] == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(not_from_record(rig, id, &result, want));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// (d) After an answered turn, `cao status ID --json` has usage with output tokens.
fn usage_after_turn(rig: &Rig, id: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = rig.cao.run(&["status", id, "--json"]);
        let view: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let usage = &view["usage"];
        if usage["output_tokens"].as_u64().is_some_and(|n| n > 0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(if view.is_null() {
                format!(
                    "cao status --json gave no JSON: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            } else {
                format!("usage is {usage}")
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// (b) and (c): `crate::util::markdown_answer()`, streamed slowly. The status is sampled while
/// the model streams (`get_terminal_output`, which reads status and answer in one call; while
/// it has no answer yet, `cao status`): no `completed` may show before the stream ended, and
/// the first one after it must come with the whole answer from the record. Then the answer
/// must come back byte for byte from the record.
fn markdown_turn(rig: &Rig, mcp: &DriftMcp, id: &str) -> [Result<(), String>; 2] {
    const MARKER: &str = "E2E-DRIFT-MARKDOWN";
    let answer = crate::util::markdown_answer();
    let asked = match drift_send(rig, id, "E2E-DRIFT-MARKDOWN: write up the findings", MARKER) {
        Ok(x) => x.received,
        Err(e) => {
            let why = format!("the markdown turn never reached the model: {e}");
            return [not_evaluated(&why), not_evaluated(&why)];
        }
    };
    let open = || {
        rig.model
            .exchanges()
            .iter()
            .any(|x| x.user_text.contains(MARKER) && x.finished.is_none())
    };
    let since = || {
        SystemTime::now()
            .duration_since(asked)
            .unwrap_or_default()
            .as_millis()
    };
    // Each status change, with the milliseconds since the model got the request.
    let mut timeline: Vec<String> = Vec::new();
    let mut last = String::new();
    // Status reads made while the model was certainly still streaming.
    let mut during = 0;
    let mut early: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    let ended = loop {
        let before = open();
        let sample = mcp.output(id);
        let after = open();
        let at = since();
        // No answer to give yet: get_terminal_output fails; the status alone.
        let (status, result) = match sample {
            Ok(result) => (
                result["status"].as_str().unwrap_or("?").to_string(),
                Ok(result),
            ),
            Err(e) => (rig.status(id), Err(e)),
        };
        if status != last {
            timeline.push(format!("{status}@{at}ms"));
            last = status.clone();
        }
        if status == "completed" && after {
            if early.is_none() {
                rig.record(id, "completed-early");
                early = Some(format!(
                    "completed {at} ms after the model got the request, while it was still streaming (answer then: {})",
                    match &result {
                        Ok(r) => format!(
                            "{} bytes from the {}, starting {:?}",
                            r["output"].as_str().unwrap_or_default().len(),
                            r["answer_source"].as_str().unwrap_or("?"),
                            r["output"]
                                .as_str()
                                .unwrap_or_default()
                                .chars()
                                .take(40)
                                .collect::<String>()
                        ),
                        Err(e) => e.clone(),
                    }
                ));
            }
        } else if status == "completed" {
            match result {
                Ok(result) => {
                    let got = result["output"].as_str().unwrap_or_default();
                    break if result["answer_source"] != "record" || got != answer {
                        rig.record(id, "completed-partial");
                        Err(format!(
                            "at the first completed after the stream: {}",
                            not_from_record(rig, id, &result, &answer)
                        ))
                    } else {
                        Ok(())
                    };
                }
                // Completed, yet no answer in that read: read again.
                Err(e) if Instant::now() >= deadline => {
                    break Err(format!("completed, but no answer to read: {e}"));
                }
                Err(_) => {}
            }
        } else if before && after {
            during += 1;
        }
        if Instant::now() >= deadline {
            break Err("not completed within 90s".to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let timeline = timeline.join(" → ");
    let early = match (early, ended) {
        (Some(early), _) => Err(format!("{early}; statuses {timeline}")),
        (None, Err(e)) => Err(format!("{e}; statuses {timeline}")),
        (None, Ok(())) if during < 2 => not_evaluated(format!(
            "only {during} status reads while the answer streamed; statuses {timeline}"
        )),
        (None, Ok(())) => Ok(()),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let exact = loop {
        let result = mcp.output(id);
        if let Ok(r) = &result
            && r["answer_source"] == "record"
            && r["output"] == answer.as_str()
        {
            break Ok(());
        }
        if Instant::now() >= deadline {
            rig.record(id, "markdown-wrong");
            break match result {
                Ok(r) => Err(format!(
                    "status {}: {}",
                    r["status"],
                    not_from_record(rig, id, &r, &answer)
                )),
                Err(e) => Err(format!("status {}: {e}", rig.status(id))),
            };
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    [early, exact]
}

/// Walks one CLI through the screens cao relies on.
fn drift_one(rig: &Rig) -> Vec<Check> {
    use cao::providers::Status;
    let provider = cao::providers::get(rig.cli.provider()).unwrap();
    let long: String = (1..=40)
        .map(|i| format!("Interrupted line {i}."))
        .collect::<Vec<_>>()
        .join("\n\n");
    rig.model.script(
        Rule::when("E2E-DRIFT-SLOW")
            .say(DRIFT_ANSWER)
            .paced(Duration::from_millis(150), 4),
    );
    rig.model.script(
        Rule::when("E2E-DRIFT-TOOL")
            .call("list_profiles", json!({}))
            .say("Tool turn answered."),
    );
    rig.model.script(Rule::when("E2E-DRIFT-FAIL").fail(400));
    rig.model.script(
        Rule::when("E2E-DRIFT-LONG")
            .say(&long)
            .paced(Duration::from_millis(300), 4),
    );
    rig.model
        .script(Rule::when("E2E-DRIFT-AFTER").say("Recovered after the error."));
    // About 4 KB in 40-character pieces 50 ms apart: some 5 s of streaming.
    rig.model.script(
        Rule::when("E2E-DRIFT-MARKDOWN")
            .say(&crate::util::markdown_answer())
            .paced(Duration::from_millis(50), 40),
    );

    let mut checks = Vec::new();
    let mut check = |name: &'static str, outcome: Result<(), String>| {
        let ok = outcome.is_ok();
        checks.push(Check { name, outcome });
        ok
    };

    let launched = rig.cao.run(&[
        "launch",
        "--headless",
        "--yolo",
        "--provider",
        rig.cli.provider(),
        "--agents",
        "developer",
    ]);
    let stdout = String::from_utf8_lossy(&launched.stdout).into_owned();
    let id = match stdout.split_whitespace().nth(1) {
        Some(id) if launched.status.success() => id.to_string(),
        _ => {
            check(
                "starts idle",
                Err(format!(
                    "launch failed: {}",
                    String::from_utf8_lossy(&launched.stderr).trim()
                )),
            );
            return checks;
        }
    };
    let id = id.as_str();
    if !check(
        "starts idle",
        until_status(rig, id, "idle", Duration::from_secs(5), &[Status::Idle]),
    ) {
        return checks;
    }

    // A slowly streamed answer: busy the whole time, then completed, then extracted whole.
    let streaming = drift_send(rig, id, "E2E-DRIFT-SLOW: answer slowly", "E2E-DRIFT-SLOW")
        .and_then(|_| {
            // The CLI may repaint a moment after its request went out (a loaded machine
            // delays a TUI's frame): busy must show within a second, then stay.
            let asked = Instant::now();
            let mut samples = 0;
            loop {
                let open = rig
                    .model
                    .exchanges()
                    .iter()
                    .any(|x| x.user_text.contains("E2E-DRIFT-SLOW") && x.finished.is_none());
                if !open {
                    break;
                }
                let screen = rig.visible(id);
                let status = provider.status(&screen);
                if samples == 3 {
                    rig.record(id, "streaming");
                }
                if status != Status::Processing {
                    if samples == 0 && asked.elapsed() < Duration::from_secs(1) {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    rig.record(id, "streaming-wrong");
                    return Err(format!("{status} while the answer was streaming"));
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            if samples < 5 {
                return Err(format!("only {samples} samples while streaming"));
            }
            Ok(())
        });
    let streamed = streaming.is_ok() || streaming.as_ref().is_err_and(|e| e.contains("while"));
    check("busy while streaming", streaming);
    if !streamed {
        return checks;
    }
    check(
        "completed after the answer",
        until_status(
            rig,
            id,
            "completed",
            Duration::from_secs(30),
            &[Status::Completed],
        ),
    );
    check("extracts the whole answer", extracts(rig, id, DRIFT_ANSWER));

    // What only the record gives: the answer's source (through MCP), token usage.
    let mcp = DriftMcp::connect(rig);
    check(
        "answer from the record",
        match &mcp {
            Ok(mcp) => from_record(rig, mcp, id, DRIFT_ANSWER),
            Err(e) => not_evaluated(e),
        },
    );
    check("usage after a turn", usage_after_turn(rig, id));

    // An MCP tool call, then an answer: extraction skips the tool panel.
    let tool = drift_send(
        rig,
        id,
        "E2E-DRIFT-TOOL: list the profiles",
        "E2E-DRIFT-TOOL",
    )
    .and_then(|_| {
        rig.model
            .wait_for("the tool result", Duration::from_secs(60), |x| {
                x.user_text.contains("E2E-DRIFT-TOOL") && !x.tool_results.is_empty()
            })
    })
    .map(drop)
    .and_then(|()| {
        until_status(
            rig,
            id,
            "tool-completed",
            Duration::from_secs(30),
            &[Status::Completed],
        )
    })
    .and_then(|()| extracts(rig, id, "Tool turn answered."));
    check("tool call, then answer", tool);

    // A failed request shows as an error; the next turn works again.
    let failed = drift_send(
        rig,
        id,
        "E2E-DRIFT-FAIL: this request fails",
        "E2E-DRIFT-FAIL",
    )
    .and_then(|_| until_status(rig, id, "error", Duration::from_secs(60), &[Status::Error]));
    check("model error shows as error", failed);
    let after =
        drift_send(rig, id, "E2E-DRIFT-AFTER: try again", "E2E-DRIFT-AFTER").and_then(|_| {
            until_status(
                rig,
                id,
                "recovered",
                Duration::from_secs(30),
                &[Status::Completed],
            )
        });
    check("next turn after an error", after);

    // A long markdown answer: the record's turn end after its last token, the text exact.
    let [early, exact] = match &mcp {
        Ok(mcp) => markdown_turn(rig, mcp, id),
        Err(e) => [not_evaluated(e), not_evaluated(e)],
    };
    check("completed only after the end", early);
    check("markdown answer byte-exact", exact);

    // Interrupting a turn returns to the prompt.
    let interrupted = drift_send(rig, id, "E2E-DRIFT-LONG: a long answer", "E2E-DRIFT-LONG")
        .and_then(|_| {
            until_status(
                rig,
                id,
                "long",
                Duration::from_secs(30),
                &[Status::Processing],
            )
        })
        .and_then(|()| {
            // As the engine does: one key per write, a moment apart.
            let pane = rig.pane(id).ok_or("pane gone")?;
            for key in provider.interrupt_keys() {
                rig.cao.tmux(&["send-keys", "-t", &pane, key]);
                std::thread::sleep(Duration::from_millis(150));
            }
            // Back at the prompt: idle, or (Claude Code 2.1 drops the interrupted turn
            // from the screen) completed with the previous answer.
            until_status(
                rig,
                id,
                "interrupted",
                Duration::from_secs(20),
                &[Status::Idle, Status::Completed],
            )
        })
        .and_then(|()| match rig.cao.run(&["output", id]) {
            out if String::from_utf8_lossy(&out.stdout).contains("Interrupted line") => {
                Err("the interrupted partial answer is extracted as the answer".into())
            }
            _ => Ok(()),
        });
    check("interrupt returns to the prompt", interrupted);

    // The exit command quits the CLI.
    let exited = (|| {
        let pane = rig.pane(id).ok_or("pane gone")?;
        until_status(
            rig,
            id,
            "before-exit",
            Duration::from_secs(20),
            &[Status::Idle, Status::Completed, Status::Error],
        )?;
        match provider.exit() {
            cao::providers::Exit::Text(text) => {
                rig.cao.tmux(&["send-keys", "-t", &pane, "-l", text]);
                std::thread::sleep(provider.submit().pause);
                rig.cao.tmux(&["send-keys", "-t", &pane, "Enter"]);
            }
            cao::providers::Exit::Keys(keys) => {
                let mut args = vec!["send-keys", "-t", pane.as_str()];
                args.extend(keys);
                rig.cao.tmux(&args);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while rig.pane(id).is_some() {
            if Instant::now() >= deadline {
                rig.record(id, "exit-wrong");
                return Err("still running 15s after the exit command".to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    })();
    check("exit command quits", exited);
    checks
}

/// `CAO_DRIFT=1 cargo test --test it real_clis::drift_check -- --nocapture`: runs every installed
/// CLI (or those named in `CAO_DRIFT_CLIS`, comma-separated provider names) through
/// [`drift_one`] and prints a table; fails if any expectation no longer holds.
#[test]
fn drift_check() {
    if !cao::env::flag("CAO_DRIFT") {
        println!(
            "drift check off; run it with CAO_DRIFT=1 cargo test --test it real_clis::drift_check -- --nocapture"
        );
        return;
    }
    let only: Vec<String> = std::env::var("CAO_DRIFT_CLIS")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut rows: Vec<(Cli, String, Vec<Check>)> = Vec::new();
    for cli in Cli::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == cli.provider()) {
            continue;
        }
        let Some(bin) = cli.binary() else { continue };
        let version = cli.version(&bin);
        let rig = Rig::new(cli).unwrap();
        let started = Instant::now();
        let mut reached = drift_one(&rig);
        // Every row, in order; one the walk did not reach says so.
        let mut checks: Vec<Check> = DRIFT_EXPECTATIONS
            .iter()
            .map(|name| match reached.iter().position(|c| c.name == *name) {
                Some(at) => reached.remove(at),
                None => Check {
                    name,
                    outcome: not_evaluated("an earlier step failed"),
                },
            })
            .collect();
        checks.append(&mut reached);
        if checks.iter().any(|c| c.outcome.is_err()) {
            rig.dump();
        }
        println!(
            "drift: {} {version} checked in {:.1}s",
            cli.label(),
            started.elapsed().as_secs_f64()
        );
        rows.push((cli, version, checks));
    }
    let (mut failed, mut unevaluated) = (0, 0);
    println!(
        "\n{:<14} {:<10} {:<30} result",
        "CLI", "version", "expectation"
    );
    for (cli, version, checks) in &rows {
        for c in checks {
            let result = match &c.outcome {
                Ok(()) => "ok".to_string(),
                Err(e) => match e.strip_prefix(NOT_EVALUATED) {
                    Some(why) => {
                        unevaluated += 1;
                        format!("NOT EVALUATED: {why}")
                    }
                    None => {
                        failed += 1;
                        format!("DRIFTED: {e}")
                    }
                },
            };
            println!(
                "{:<14} {:<10} {:<30} {result}",
                cli.label(),
                version,
                c.name
            );
        }
    }
    assert!(
        failed == 0 && unevaluated == 0,
        "{failed} expectation(s) no longer hold, {unevaluated} could not be evaluated; see the table above"
    );
}

// ---------------------------------------------------------------------------------------
// A supervisor cao did not start
// ---------------------------------------------------------------------------------------

/// A real Claude Code the user started themselves in a tmux pane (not by `cao launch`), with
/// cao registered in its MCP config: its first tool call (`assign`) adopts the pane; the two
/// real workers (Claude Code too) reply with `send_message` to the caller id cao appended to
/// their tasks (`CAO_ENABLE_SENDER_ID_INJECTION`), and each reply is typed into the pane as
/// a new turn exactly once. A message that comes while the user has half a prompt typed
/// waits until the input box is empty. `cao shutdown --all` ends the workers and leaves the
/// user's session alone.
#[test]
fn adopted_claude_code_supervisor() {
    let Some(rig) = Rig::new(Cli::Claude) else {
        return;
    };
    let bin = Cli::Claude.binary().unwrap();
    rig.run(|rig| {
        let started = Instant::now();
        let task = |letter: &str| {
            json!({"agent_profile": "developer",
                   "message": format!("E2E-ADOPTED-REPORT-{letter}: do part {letter}")})
        };
        rig.model.script(
            Rule::when("E2E-ADOPT-TASK")
                .call("assign", task("A"))
                .call("assign", task("B"))
                .say("Both workers are on it."),
        );
        for letter in ["A", "B"] {
            rig.model.script(
                Rule::when(&format!("E2E-ADOPTED-REPORT-{letter}"))
                    .call(
                        "send_message",
                        json!({"receiver_id": "{receiver_id}",
                               "message": format!("E2E-ADOPTED-REPLY-{letter}: part {letter} is done")}),
                    )
                    .say(&format!("Reported part {letter}.")),
            );
        }
        rig.model
            .script(Rule::when("E2E-ADOPTED-REPLY-").say("Thanks, noted."));
        rig.model
            .script(Rule::when("E2E-ADOPTED-LATE").say("Late message read."));

        // The user's own Claude Code: cao only in its MCP config, the yolo flag cao's provider
        // passes, the installation's environment (HOME, CAO_HOME, CAO_TMUX_SOCKET, the model).
        let mcp = rig.cao.path("my-mcp.json");
        std::fs::write(
            &mcp,
            // As a user registers it (`claude mcp add cao -- cao mcp-server`): no CAO_YOLO, so
            // the workers start without --yolo and must still be able to report back (cao
            // allows its own tools in each worker's settings).
            json!({"mcpServers": {"cao": {"command": crate::util::cao_bin(), "args": ["mcp-server"]}}})
            .to_string(),
        )
        .unwrap();
        let mut cmd = rig.cao.cmd();
        for key in &rig.unset {
            cmd.env_remove(key);
        }
        // `env -u KEY ... KEY=VALUE ...`: the removals first (env takes options first).
        let mut removed: Vec<String> = vec!["env".into()];
        let mut set = Vec::new();
        for (k, v) in cmd.get_envs() {
            let k = k.to_string_lossy();
            match v {
                Some(v) => set.push(format!("{k}={}", v.to_string_lossy())),
                // tmux's own TMUX and TMUX_PANE are what adoption reads.
                None if k != "TMUX" && k != "TMUX_PANE" => {
                    removed.extend(["-u".into(), k.into_owned()])
                }
                None => {}
            }
        }
        let mut argv = removed;
        argv.extend(set);
        argv.push("CAO_ENABLE_SENDER_ID_INJECTION=true".into());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // As cao's provider does: as root, Claude Code wants this for its yolo flag.
            argv.push("IS_SANDBOX=1".into());
        }
        argv.extend([
            bin.display().to_string(),
            "--dangerously-skip-permissions".into(),
            format!("--mcp-config={}", mcp.display()),
        ]);
        let work = rig.cao.work.path().display().to_string();
        let mut args = vec![
            "new-session", "-d", "-s", "mine", "-x", "200", "-y", "50", "-P", "-F",
            "#{pane_id}", "-c", &work, "--",
        ];
        args.extend(argv.iter().map(String::as_str));
        // A CLI that dies keeps its last screen (for the failure message).
        args.extend([";", "set-option", "-t", "mine", "remain-on-exit", "on"]);
        let out = rig.cao.tmux(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let pane = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let provider = cao::providers::get("claude_code").unwrap();
        let screen = || {
            let out = rig.cao.tmux(&["capture-pane", "-p", "-J", "-t", &pane]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let dead = rig.cao.tmux(&["display-message", "-p", "-t", &pane, "#{pane_dead}"]);
            assert_ne!(
                String::from_utf8_lossy(&dead.stdout).trim(),
                "1",
                "the user's Claude Code exited:\n{text}"
            );
            text
        };
        rig.wait_until("the user's Claude Code at its prompt", || {
            let s = screen();
            provider.status(&s) == cao::providers::Status::Idle && provider.input_is_empty(&s)
        });
        let ready = started.elapsed();

        // The user types the task and presses Enter (again if the CLI took it as a newline).
        rig.cao.tmux(&["send-keys", "-t", &pane, "-l", "E2E-ADOPT-TASK: split the work in two"]);
        std::thread::sleep(Duration::from_millis(300));
        rig.cao.tmux(&["send-keys", "-t", &pane, "Enter"]);
        if rig
            .model
            .wait_for("the task", Duration::from_secs(10), |x| {
                x.user_text.contains("E2E-ADOPT-TASK")
            })
            .is_err()
        {
            rig.cao.tmux(&["send-keys", "-t", &pane, "Enter"]);
        }
        let assigned = rig.wait_model("both assign results", |x| {
            x.user_text.contains("E2E-ADOPT-TASK") && x.tool_results.len() == 2
        });
        for result in &assigned.tool_results {
            assert!(succeeded(result), "assign failed: {result}");
        }

        // Adopted: listed with its kind and the pane's CLI, its id the one the workers got.
        let listed = rig.terminals();
        let me = listed
            .iter()
            .find(|t| t["kind"] == "adopted")
            .unwrap_or_else(|| panic!("no adopted terminal in {listed:#?}"));
        let sup = me["id"].as_str().unwrap().to_string();
        assert_eq!(me["provider"], "claude_code", "{me:#}");
        for letter in ["A", "B"] {
            let report = format!("E2E-ADOPTED-REPORT-{letter}");
            let asked = rig.wait_model(&report, |x| x.user_text.contains(&report));
            assert!(
                asked.user_text.contains(&format!("receiver_id \"{sup}\"")),
                "the worker's task does not name the supervisor {sup}: {:?}",
                asked.user_text
            );
        }

        // Each reply is a new user turn of the supervisor's model, exactly once.
        let reply_turns = |letter: &str| -> usize {
            let reply = format!("E2E-ADOPTED-REPLY-{letter}");
            rig.model
                .exchanges()
                .iter()
                .filter(|x| {
                    x.user_text.contains(&reply)
                        && x.tool_results.is_empty()
                        && !x.user_text.contains("E2E-ADOPTED-REPORT")
                })
                .count()
        };
        rig.wait_until("both replies as the supervisor's turns", || {
            reply_turns("A") >= 1 && reply_turns("B") >= 1
        });
        let replied = started.elapsed();
        rig.wait_until("both replies marked delivered", || {
            let inbox = rig.inbox(&sup);
            let replies: Vec<&Value> = inbox
                .iter()
                .filter(|m| m["body"].as_str().unwrap_or("").starts_with("E2E-ADOPTED-REPLY-"))
                .collect();
            replies.len() == 2 && replies.iter().all(|m| m["status"] == "delivered")
        });
        rig.wait_until("the supervisor back at its prompt", || {
            let s = screen();
            provider.status(&s) == cao::providers::Status::Completed
        });
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            (reply_turns("A"), reply_turns("B")),
            (1, 1),
            "replies typed more than once"
        );

        // The user has half a prompt typed when a message comes: it waits for the empty box.
        rig.cao.tmux(&["send-keys", "-t", &pane, "-l", "half typed by the user"]);
        rig.wait_until("the user's text on the screen", || {
            screen().contains("half typed by the user")
        });
        rig.cao_ok(&["send", &sup, "E2E-ADOPTED-LATE: one more thing"]);
        std::thread::sleep(Duration::from_secs(4));
        let late = |rig: &Rig| -> Value {
            rig.inbox(&sup)
                .into_iter()
                .find(|m| m["body"].as_str().unwrap_or("").starts_with("E2E-ADOPTED-LATE"))
                .expect("the late message is in the inbox")
        };
        assert_eq!(late(rig)["status"], "pending", "typed into the user's input");
        assert!(
            screen().contains("half typed by the user"),
            "the user's input changed:\n{}",
            screen()
        );
        // The user clears the input (Ctrl-C empties a non-empty box): the message goes in.
        rig.cao.tmux(&["send-keys", "-t", &pane, "C-c"]);
        let turn = rig.wait_model("the late message as its own turn", |x| {
            x.user_text.contains("E2E-ADOPTED-LATE")
        });
        assert!(
            !turn.user_text.contains("half typed"),
            "the message was mixed into the user's text: {:?}",
            turn.user_text
        );
        rig.wait_until("the late message marked delivered", || {
            late(rig)["status"] == "delivered"
        });

        // Shutdown ends the workers and leaves the user's own session running.
        rig.cao_ok(&["shutdown", "--all"]);
        let alive = rig.cao.tmux(&["has-session", "-t", "mine"]);
        assert!(alive.status.success(), "cao shutdown killed the user's own session");
        screen(); // Its Claude Code still runs (the pane is not dead).
        let panes = rig
            .cao
            .tmux(&["list-panes", "-a", "-F", "#{pane_id} #{pane_current_command}"]);
        let panes = String::from_utf8_lossy(&panes.stdout).into_owned();
        assert_eq!(panes.lines().count(), 1, "panes left: {panes}");
        assert!(
            panes.starts_with(&format!("{pane} ")),
            "the user's pane is gone: {panes}"
        );
        println!(
            "adopted Claude Code supervisor: at its prompt after {:.1}s, both replies after {:.1}s, done after {:.1}s",
            ready.as_secs_f64(),
            replied.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    });
}
