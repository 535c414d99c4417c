//! `cao tui` driven like a person would: it runs in a pane of a tmux server of its own (a
//! "viewer" server, apart from the one the agents run on, so that one can be killed under
//! it), keys are sent with `send-keys`, and the screen is read with `capture-pane`. Screens
//! are insta snapshots at 80x24 and 200x50, with what varies from run to run (terminal ids,
//! temp paths, timings, token counts) masked to fixed-width placeholders.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Cao, cao_bin, transcript, wait_for};

/// How long any screen state may take to show before a test fails.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long three fake agents may take to start and answer (several tests start theirs at
/// once on a loaded machine).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// `cao tui` running in a pane of its own tmux server.
struct Tui {
    socket: String,
    /// Terminal ids and the fixed-width names they are shown as in snapshots.
    names: Vec<(String, &'static str)>,
}

impl Tui {
    /// Starts `cao tui` for `cao` in a `width`x`height` pane and waits for its first screen.
    fn start(cao: &Cao, width: u16, height: u16) -> Tui {
        let mut env = Command::new("true");
        cao.apply_env(&mut env);
        let mut program = vec!["env".to_string(), "-u".into(), "TMUX".into()];
        for (key, value) in env.get_envs() {
            if let Some(value) = value {
                program.push(format!(
                    "{}={}",
                    key.to_string_lossy(),
                    value.to_string_lossy()
                ));
            }
        }
        program.push(cao_bin().display().to_string());
        program.push("tui".into());
        Tui::spawn(cao, width, height, &program)
    }

    /// A client of cao's own tmux server attached to `session` (whose current window is
    /// `cao tui --window`'s), in a pane of the viewer: the TUI inside tmux, as a user sees it.
    fn attached(cao: &Cao, session: &str, width: u16, height: u16) -> Tui {
        let program = ["env", "-u", "TMUX", "tmux", "-L", &cao.socket, "attach"];
        let mut program: Vec<String> = program.map(String::from).to_vec();
        program.extend(["-t".into(), format!("={session}")]);
        Tui::spawn(cao, width, height, &program)
    }

    /// Runs `program` in a `width`x`height` pane of a new viewer server; waits for the TUI.
    fn spawn(cao: &Cao, width: u16, height: u16, program: &[String]) -> Tui {
        // A server per viewer: a new one on the socket of one just killed can race its exit.
        static VIEWERS: AtomicU32 = AtomicU32::new(0);
        let n = VIEWERS.fetch_add(1, Ordering::SeqCst);
        let tui = Tui {
            socket: format!("{}-viewer{n}", cao.socket),
            names: Vec::new(),
        };
        let (width, height) = (width.to_string(), height.to_string());
        let workdir = cao.work.path().display().to_string();
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "viewer",
            "-x",
            &width,
            "-y",
            &height,
            "-c",
            &workdir,
            "--",
        ];
        args.extend(program.iter().map(String::as_str));
        let out = tui.tmux(&args);
        assert!(out.status.success(), "the viewer starts: {out:?}");
        tui.wait_for_screen("the first screen", |s| s.contains("terminals"));
        tui
    }

    /// Names terminal `id` in snapshots (8 characters, as an id takes).
    fn name(mut self, id: &str, name: &'static str) -> Tui {
        assert_eq!(name.len(), 8, "a name takes an id's width");
        self.names.push((id.to_string(), name));
        self
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    /// Presses named keys (`Down`, `Enter`, `C-j`) or single characters.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.tmux(&["send-keys", "-t", "viewer", key]);
            assert!(out.status.success(), "send-keys {key}: {out:?}");
        }
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "viewer", "-l", text]);
        assert!(out.status.success(), "send-keys -l: {out:?}");
    }

    /// The screen as the user sees it.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "viewer"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its colours (SGR escapes), as tmux keeps it.
    fn styled_screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-e", "-t", "viewer"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `cond` holds; returns that screen.
    fn wait_for_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if cond(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The screen with ids, paths, timings and counts masked (each keeps its width, so
    /// borders stay where they are).
    fn masked(&self, screen: &str) -> String {
        let mut text = screen.to_string();
        for (id, name) in &self.names {
            text = text.replace(id.as_str(), name);
        }
        let same_width = |text: &str, pattern: &str, mask: &str| -> String {
            regex::Regex::new(pattern)
                .unwrap()
                .replace_all(text, |c: &regex::Captures| {
                    let width = c[0].chars().count();
                    format!("{mask:<width$.width$}")
                })
                .into_owned()
        };
        // Ages: a slow run may pass a minute; every row shows "<1m" in the same width.
        text = regex::Regex::new(r"fake( +)(<1m|\d+[mhd])( +)")
            .unwrap()
            .replace_all(&text, |c: &regex::Captures| {
                let width = c[2].len() + c[3].len();
                format!("fake{}{:<width$}", &c[1], "<1m")
            })
            .into_owned();
        text = same_width(&text, r"/[^\s│]*?\.tmp[A-Za-z0-9]{6}[^\s│]*", "<tmp>");
        text = same_width(&text, r"\b[0-9a-f]{8}\b", "<id>");
        text = same_width(&text, r"\d+\.\d+s\b", "#.##s");
        text = same_width(&text, r"tokens [\d-]+/[\d-]+", "tokens #/#");
        text = same_width(&text, r"\b\d+/\d+\b", "#/#");
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Resizes the pane the TUI runs in.
    fn resize(&self, width: u16, height: u16) {
        let out = self.tmux(&[
            "resize-window",
            "-t",
            "viewer",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        assert!(out.status.success(), "resize-window: {out:?}");
    }

    /// Whether `cao tui` still runs in its pane.
    fn running(&self) -> bool {
        let out = self.tmux(&["list-panes", "-t", "viewer", "-F", "#{pane_dead}"]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0"
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// A supervisor (fake agent) that `assign`s a developer and a reviewer when told
/// `fan out`; returns the three ids once the workers' first answers are in.
fn supervisor_and_two_workers(cao: Cao) -> (Cao, String, String, String) {
    let scenario = json!({"rules": [
        {"match": "^fan out", "calls": [
            {"tool": "assign", "args": {"agent_profile": "developer", "message": "first task"}},
            {"tool": "assign", "args": {"agent_profile": "reviewer", "message": "second task"}}
        ]}
    ]});
    let cao = cao.with_env("CAO_FAKE_SCENARIO", &scenario.to_string());
    let sup = cao.launch("code_supervisor");
    cao.ok(&["send", &sup, "fan out"]);
    let deadline = Instant::now() + SETUP_TIMEOUT;
    let workers: Vec<String> = loop {
        let list = cao.list();
        if list.len() == 3 && list.iter().all(|t| t["status"] == "completed") {
            break list
                .iter()
                .filter(|t| t["created_by"] == sup.as_str())
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for two completed workers: {list:#?}\n{}",
            cao.screen(&sup)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (developer, reviewer) = (workers[0].clone(), workers[1].clone());
    (cao, sup, developer, reviewer)
}

fn viewer(cao: &Cao, sup: &str, developer: &str, reviewer: &str, w: u16, h: u16) -> Tui {
    Tui::start(cao, w, h)
        .name(sup, "SUPERVIS")
        .name(developer, "WORKER-1")
        .name(reviewer, "WORKER-2")
}

/// Moves the selection down one row and waits until terminal `id` is the selected one.
fn select_next(tui: &Tui, id: &str) {
    tui.keys(&["Down"]);
    tui.wait_for_screen("the next terminal selected", |s| {
        s.contains(&format!("{id} in cao-"))
    });
}

/// Whether the tree row of `name` (in a masked screen) shows `status`.
fn row_shows(screen: &str, name: &str, status: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains(name) && l.contains(status))
}

#[test]
fn the_tree_shows_a_supervisor_and_its_two_workers() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    for (width, height) in [(80, 24), (200, 50)] {
        let tui = viewer(&cao, &sup, &developer, &reviewer, width, height);
        let screen = tui.wait_for_screen("three rows and the supervisor's screen", |s| {
            let s = tui.masked(s);
            s.contains("└─ WORKER-2") && s.contains("fake> fan out")
        });
        let screen = tui.masked(&screen);
        assert!(screen.contains("├─ WORKER-1"), "{screen}");
        insta::assert_snapshot!(format!("tui_tree_{width}x{height}"), screen);
    }
}

#[test]
fn a_status_change_shows_without_a_key() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    tui.wait_for_screen("the worker completed", |s| {
        row_shows(&tui.masked(s), "WORKER-1", "completed")
    });
    cao.ok(&["send", &developer, "a long task [[sleep 3]]"]);
    let busy = tui.wait_for_screen("the worker processing", |s| {
        row_shows(&tui.masked(s), "WORKER-1", "processing")
    });
    let tree: Vec<&str> = busy.lines().take(7).collect();
    insta::assert_snapshot!("tui_status_processing", tui.masked(&tree.join("\n")));
    tui.wait_for_screen("the worker completed again", |s| {
        row_shows(&tui.masked(s), "WORKER-1", "completed")
    });
}

#[test]
fn the_composer_sends_a_multi_line_message_through_the_inbox() {
    let cao = Cao::new();
    let log = cao.path("transcript.jsonl");
    let cao = cao.with_env("CAO_FAKE_TRANSCRIPT", log.to_str().unwrap());
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(cao);
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    tui.keys(&["Down", "s"]);
    tui.type_text("note from the tui");
    tui.keys(&["C-j"]);
    tui.type_text("and a second line");
    let composer = tui.wait_for_screen("the composer with two lines", |s| {
        s.contains("and a second line_")
    });
    insta::assert_snapshot!("tui_composer_80x24", tui.masked(&composer));
    tui.keys(&["Enter"]);
    tui.wait_for_screen("the message queued", |s| s.contains("queued for"));
    let body = "note from the tui\nand a second line";
    wait_for("the message delivered", SCREEN_TIMEOUT, || {
        let inbox: Vec<Value> =
            serde_json::from_str(&cao.ok(&["inbox", &developer, "--json"])).unwrap();
        inbox
            .iter()
            .any(|m| m["body"] == body && m["status"] == "delivered" && m["sender_id"] == "user")
    });
    // The worker really got it, as one submitted input of two lines.
    wait_for("the worker's input", SCREEN_TIMEOUT, || {
        transcript(&log).iter().any(|input| input == body)
    });
    // Its inbox view says so too.
    tui.keys(&["i"]);
    let inbox = tui.wait_for_screen("the inbox view", |s| s.contains("inbox of"));
    assert!(
        inbox.lines().any(|l| l.contains("user")
            && l.contains("delivered")
            && l.contains("note from the tui")),
        "{inbox}"
    );
}

#[test]
fn closing_a_worker_asks_first_and_it_is_gone() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    tui.keys(&["Down", "Down", "x"]);
    let confirm = tui.wait_for_screen("the confirmation", |s| s.contains("y: close"));
    insta::assert_snapshot!("tui_close_confirm_80x24", tui.masked(&confirm));
    // Anything but y keeps it.
    tui.keys(&["n"]);
    tui.wait_for_screen("kept", |s| s.contains(&format!("kept {reviewer}")));
    assert_eq!(cao.list().len(), 3);
    tui.keys(&["x", "y"]);
    let closed = tui.wait_for_screen("closed", |s| s.contains(&format!("closed {reviewer}")));
    assert!(
        !closed
            .lines()
            .any(|l| l.starts_with('│') && l.contains(&reviewer)),
        "no row of it is left:\n{closed}"
    );
    let list = cao.list();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|t| t["id"] != reviewer.as_str()));
}

#[test]
fn a_resize_redraws_the_tree_for_the_new_size() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    let narrow = tui.wait_for_screen("the supervisor's screen", |s| s.contains("fake> fan out"));
    assert!(
        !narrow.contains("TOKENS"),
        "80 columns leave tokens out:\n{narrow}"
    );
    tui.resize(200, 50);
    let wide = tui.wait_for_screen("the wide layout", |s| {
        s.contains("TOKENS") && s.contains("fake> fan out")
    });
    insta::assert_snapshot!("tui_resized_200x50", tui.masked(&wide));
    // Smaller than anyone should use it, then back: it keeps drawing.
    tui.resize(30, 8);
    tui.wait_for_screen("the tiny layout", |s| {
        s.lines().count() <= 8 && s.contains("cao")
    });
    tui.resize(80, 24);
    tui.wait_for_screen("the normal layout", |s| {
        s.contains("SUPERVIS") || s.contains(&sup)
    });
    assert!(tui.running());
}

#[test]
fn a_vanished_terminal_and_a_dead_tmux_server_do_not_stop_it() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    select_next(&tui, &developer);
    // The selected worker's window is killed behind the TUI's back.
    let window = format!("={}", cao.list()[0]["session"].as_str().unwrap());
    let windows = cao.tmux(&[
        "list-windows",
        "-t",
        &window,
        "-F",
        "#{window_id} #{window_name}",
    ]);
    let target = String::from_utf8_lossy(&windows.stdout)
        .lines()
        .find(|l| l.contains(&developer))
        .and_then(|l| l.split_whitespace().next())
        .expect("the developer's window")
        .to_string();
    assert!(cao.tmux(&["kill-window", "-t", &target]).status.success());
    tui.wait_for_screen("the row gone and the selection moved", |s| {
        !s.contains(&developer) && s.contains(&format!("{reviewer} in cao-"))
    });
    // The whole tmux server goes.
    assert!(cao.tmux(&["kill-server"]).status.success());
    let down = tui.wait_for_screen("the server reported down", |s| {
        s.contains("tmux server not running")
    });
    assert!(down.contains("0 terminals"), "{down}");
    tui.keys(&["Down", "s"]);
    tui.wait_for_screen("a key with nothing selected", |s| {
        s.contains("no terminal selected")
    });
    assert!(tui.running(), "the TUI keeps running");
    tui.keys(&["q"]);
    wait_for("the TUI to quit on q", SCREEN_TIMEOUT, || !tui.running());
}

#[test]
fn enter_outside_tmux_attaches_to_the_window_and_detaching_comes_back() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    select_next(&tui, &developer);
    tui.keys(&["Enter"]);
    // The pane now holds a tmux client showing the developer's own window, not the TUI.
    let attached = tui.wait_for_screen("the developer's window", |s| {
        s.contains("profile developer") && !s.contains("Enter go")
    });
    assert!(attached.contains("fake answer: first task"), "{attached}");
    tui.keys(&["C-b", "d"]);
    tui.wait_for_screen("the TUI back after detaching", |s| {
        s.contains("Enter go") && s.contains(&format!("{developer} in cao-"))
    });
    assert!(tui.running());
}

#[test]
fn tui_window_opens_in_the_supervisors_session() {
    let cao = Cao::new();
    let sup = cao.launch("code_supervisor");
    let out = cao.ok(&["tui", "--window"]);
    let session = format!("cao-{sup}");
    assert_eq!(
        out.trim(),
        format!("cao tui opened in a new window of {session}")
    );
    let target = format!("={session}:cao-tui");
    wait_for("the TUI in its window", SCREEN_TIMEOUT, || {
        let screen = cao.tmux(&["capture-pane", "-p", "-t", &target]);
        let screen = String::from_utf8_lossy(&screen.stdout);
        screen
            .lines()
            .next()
            .is_some_and(|l| l.trim_end() == "cao  1 terminal")
            && screen.contains(&sup)
    });
    // It is not a terminal of cao's: the list still holds the supervisor only.
    assert_eq!(cao.list().len(), 1);
    let err = cao.fails(&["tui", "--window", "--session", "nope"]);
    assert!(err.contains("no cao session named 'cao-nope'"), "{err}");
}

#[test]
fn the_filter_help_and_the_whole_answer() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    tui.keys(&["/"]);
    tui.type_text("review");
    let filtered = tui.wait_for_screen("the filtered tree", |s| {
        s.contains("/review_") && !row_shows(s, &developer, "completed")
    });
    let filtered = tui.masked(&filtered);
    // The match, and the supervisor above it in the tree.
    assert!(
        filtered.contains("└─ WORKER-2") && filtered.contains("SUPERVIS"),
        "{filtered}"
    );
    tui.keys(&["Escape"]);
    tui.wait_for_screen("the whole tree again", |s| {
        row_shows(s, &developer, "completed")
    });
    tui.keys(&["?"]);
    let help = tui.wait_for_screen("the help", |s| s.contains("keys (any key closes)"));
    assert!(help.contains("close a worker (asks first)"), "{help}");
    tui.keys(&["Escape", "o"]);
    let answer = tui.wait_for_screen("the supervisor's whole answer", |s| {
        s.contains(&format!("last answer of {sup}"))
    });
    // Both assign results, which the preview cuts, are in the scrollable view.
    assert!(
        answer.contains(&format!("\"terminal_id\":\"{reviewer}\"")),
        "{answer}"
    );
}

#[test]
fn enter_inside_tmux_switches_the_client_to_the_window() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    cao.ok(&["tui", "--window"]);
    let tui = Tui::attached(&cao, &format!("cao-{sup}"), 80, 24)
        .name(&sup, "SUPERVIS")
        .name(&developer, "WORKER-1")
        .name(&reviewer, "WORKER-2");
    select_next(&tui, &developer);
    tui.keys(&["Enter"]);
    // The same client now shows the developer's window; the TUI keeps running in its own.
    let switched = tui.wait_for_screen("the developer's window", |s| {
        s.contains("profile developer") && !s.contains("Enter go")
    });
    assert!(switched.contains("fake answer: first task"), "{switched}");
    let session = format!("={}", format_args!("cao-{sup}"));
    let windows = cao.tmux(&["list-windows", "-t", &session, "-F", "#{window_name}"]);
    assert!(
        String::from_utf8_lossy(&windows.stdout).contains("cao-tui"),
        "the TUI's window is still there"
    );
}

#[test]
fn a_waiting_worker_stands_out_and_is_answered_from_the_tui() {
    let (cao, sup, developer, reviewer) = supervisor_and_two_workers(Cao::new());
    let tui = viewer(&cao, &sup, &developer, &reviewer, 80, 24);
    select_next(&tui, &developer);
    select_next(&tui, &reviewer);
    cao.ok(&["send", &reviewer, "may I go on [[ask]]"]);
    let asking = tui.wait_for_screen("the question counted and shown", |s| {
        s.contains("1 waiting for an answer")
            && row_shows(s, &reviewer, "waiting_user_answer")
            && s.contains("asks: ")
    });
    let top: Vec<&str> = asking.lines().take(8).collect();
    insta::assert_snapshot!("tui_waiting_80x24", tui.masked(&top.join("\n")));
    // In colour: the status on a magenta background (SGR 45, or colour 5 of the palette as
    // tmux writes it), the others not.
    let styled = tui.styled_screen();
    let magenta = |line: &str| line.contains("[45m") || line.contains("48;5;5m");
    let row = |id: &str| {
        styled
            .lines()
            .find(|l| l.contains(id) && l.contains("fake"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(magenta(&row(&reviewer)), "{:?}", row(&reviewer));
    assert!(!magenta(&row(&developer)), "{:?}", row(&developer));
    tui.keys(&["a"]);
    tui.wait_for_screen("the answer prompt with the question", |s| {
        s.contains(&format!("answer {reviewer}")) && s.contains("Proceed with the change? (y/n)")
    });
    tui.type_text("y");
    tui.keys(&["Enter"]);
    tui.wait_for_screen("the answer typed", |s| {
        s.contains(&format!("answered y to {reviewer}"))
    });
    wait_for("the worker to take the answer", SCREEN_TIMEOUT, || {
        cao.ok(&["output", &reviewer]).trim() == "fake answer: you said y"
    });
    tui.wait_for_screen("nothing waiting any more", |s| {
        !s.contains("waiting for an answer") && row_shows(s, &reviewer, "completed")
    });
}
